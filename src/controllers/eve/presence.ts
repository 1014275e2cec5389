// Device presence: the Online condition of EdgeNodes.
//
// Every authenticated device request updates an in-memory timestamp (DeviceHooks.onContact, O(1)).
// Storage is written only on transitions: the first contact of a device not known to be online
// sets Online=True; a sweep marks devices silent for longer than the offline timeout Online=False.
// The timeout is 3 × the device's config poll interval (timer.config.interval from the EdgeNode's
// configItems, default 60 s → 180 s): EVE polls at a random point of [0.3, 1.0] × the interval and
// does not back off, so three missed polls mean the device (or its network) is down.
// Nothing else changes for a silent device: EVE keeps running its last config, so do we.

import type { NodeEntry, NodeIndex } from './nodes.ts';
import type { EventRecorder } from './recorder.ts';
import { EDGENODES, rfc3339, setCondition, type StatusWriter } from './status.ts';
import { log } from '../../observability/log.ts';

export const OFFLINE_POLL_INTERVALS = 3;

export interface PresenceOptions {
  /** Fixed offline timeout in ms (default: OFFLINE_POLL_INTERVALS × the device's poll interval). */
  offlineTimeoutMs?: number;
  /** How often silent devices are looked for (default: a quarter of the smallest timeout, 250 ms … 15 s). */
  sweepIntervalMs?: number;
}

export class Presence {
  private timer?: NodeJS.Timeout;
  /** Devices whose Online=True write is queued (one write per transition, however many requests). */
  private goingOnline = new Set<NodeEntry>();

  constructor(
    private readonly index: NodeIndex,
    private readonly status: StatusWriter,
    private readonly events: EventRecorder,
    private readonly opts: PresenceOptions = {},
  ) {}

  timeoutFor(e: NodeEntry): number {
    return this.opts.offlineTimeoutMs ?? OFFLINE_POLL_INTERVALS * e.pollIntervalMs;
  }

  start(): void {
    const every = this.opts.sweepIntervalMs ?? Math.min(15_000, Math.max(250, (this.opts.offlineTimeoutMs ?? 60_000) / 4));
    // A device seen online before a restart gets a full timeout from now to show up again.
    const now = Date.now();
    for (const e of this.index.byName.values()) if (e.lastContact > 0) e.lastContact = Math.max(e.lastContact, now);
    this.timer = setInterval(() => this.sweep(Date.now()), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** DeviceHooks.onContact: the hot path. */
  contact(uuid: string, nowMs: number): void {
    const e = this.index.byUuid.get(uuid);
    if (!e) return;
    e.lastContact = nowMs;
    if (e.online !== true && !this.goingOnline.has(e)) {
      this.goingOnline.add(e);
      queueMicrotask(() => void this.write(e, true).finally(() => this.goingOnline.delete(e)));
    }
  }

  sweep(nowMs: number): void {
    for (const e of this.index.byName.values()) {
      if (e.online === false || !e.uuid) continue;
      if (nowMs - e.lastContact > this.timeoutFor(e) && (e.online === true || e.lastContact > 0)) void this.write(e, false);
    }
  }

  private async write(e: NodeEntry, online: boolean): Promise<void> {
    const was = e.online;
    e.online = online;
    const timeoutS = Math.round(this.timeoutFor(e) / 1000);
    try {
      const r = await this.status.mutate(EDGENODES, undefined, e.name, (st) => {
        st.lastContact = rfc3339(e.lastContact || Date.now());
        if (online && (!st.phase || st.phase === 'Offline' || st.phase === 'Registered' || st.phase === 'Pending')) st.phase = 'Online';
        if (!online) st.phase = 'Offline';
        setCondition(
          st,
          online
            ? { type: 'Online', status: 'True', reason: 'DeviceContact', message: 'the device is in contact with the controller' }
            : {
                type: 'Online',
                status: 'False',
                reason: 'NoContact',
                message: `no request from the device for more than ${timeoutS}s (3 config poll intervals); it keeps running its last config`,
              },
        );
      });
      const before = r.before?.status?.conditions?.find((c: { type: string }) => c.type === 'Online')?.status;
      if (r.written && r.object && before !== (online ? 'True' : 'False') && (before !== undefined || online)) {
        void this.events.record(
          r.object,
          online ? 'Normal' : 'Warning',
          online ? 'Online' : 'Offline',
          online ? 'device is in contact again' : `no contact for more than ${timeoutS}s`,
        );
      }
    } catch (err) {
      e.online = was;
      log.error('writing the Online condition failed', err, { edgeNode: e.name, online });
    }
  }
}
