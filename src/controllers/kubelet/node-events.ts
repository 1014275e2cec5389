// Events on EVE Nodes (what `kubectl describe node` lists), from transitions of the EdgeNode the Node
// stands for: registered, in/out of contact (kube's NodeReady/NodeNotReady), rebooted (with EVE's boot
// reason), base OS update started/committed/fell back. Each rule is data: a reason, a type and when it
// fires given the EdgeNode before and after. Only transitions fire (an informer resync or a restart
// replays no history); repeats are folded by the recorder and each node is held to a few events of one
// reason a minute, so a flapping device cannot flood the events store.

import type { KObject } from '../../apiserver/resource.ts';
import type { SharedInformerFactory } from '../runtime/index.ts';
import { EDGENODES, getCondition } from '../eve/status.ts';
import type { EventRecorder } from '../eve/recorder.ts';
import { NODES } from './resources.ts';
import { edgeNodeOnline } from './node-sync.ts';

interface NodeEventRule {
  reason: string;
  type: 'Normal' | 'Warning';
  /** The message when the rule fires for this transition, else undefined. */
  fires(before: KObject, after: KObject, node: string): string | undefined;
}

const baseOs = (en: KObject) => getCondition(en, 'BaseOSReady');
/** BaseOSReady's reason moved from one of `from` (any, when unset) to `to`: its message. */
const baseOsMoved = (to: string, from?: string[]) => (b: KObject, a: KObject) => {
  const was = baseOs(b);
  const now = baseOs(a);
  return was && now?.reason === to && was.reason !== to && (!from || from.includes(was.reason)) ? String(now.message ?? '') : undefined;
};

export const NODE_EVENT_RULES: NodeEventRule[] = [
  {
    reason: 'NodeReady',
    type: 'Normal',
    fires: (b, a, n) =>
      edgeNodeOnline(a) === true && edgeNodeOnline(b) !== true ? `Node ${n} status is now: NodeReady (the EVE device is in contact)` : undefined,
  },
  {
    reason: 'NodeNotReady',
    type: 'Normal', // as kube's node-lifecycle controller records it
    fires: (b, a, n) =>
      edgeNodeOnline(a) === false && edgeNodeOnline(b) === true
        ? `Node ${n} status is now: NodeNotReady (${getCondition(a, 'Online')?.message ?? 'EVE device out of contact'}; its apps keep running)`
        : undefined,
  },
  {
    reason: 'Rebooted',
    type: 'Warning',
    // A new lastRebootTime on a device that had reported before (its first report is no reboot).
    fires: (b, a, n) =>
      b.status?.hardware && a.status?.lastRebootTime && a.status.lastRebootTime !== b.status.lastRebootTime
        ? `Node ${n} has been rebooted at ${a.status.lastRebootTime}, boot reason: ${a.status.lastRebootReason || 'not reported'}`
        : undefined,
  },
  { reason: 'OSUpdateStarted', type: 'Normal', fires: baseOsMoved('Updating') },
  { reason: 'OSUpdateCommitted', type: 'Normal', fires: baseOsMoved('Updated', ['Updating']) },
  { reason: 'OSUpdateFellBack', type: 'Warning', fires: baseOsMoved('Fallback') },
  { reason: 'OSUpdateFailed', type: 'Warning', fires: baseOsMoved('UpdateFailed') },
];

export interface NodeEventOptions {
  /** Events of one reason per node per minute at most (default 2); more are dropped and counted. */
  perReasonPerMinute?: number;
}

export class NodeEvents {
  /** Times (ms) of the events recorded per node and reason in the last minute. */
  private readonly recent = new Map<string, number[]>();
  dropped = 0;

  constructor(
    private readonly informers: SharedInformerFactory,
    private readonly recorder: EventRecorder,
    private readonly o: NodeEventOptions = {},
  ) {
    informers.informerFor(EDGENODES).addEventHandler({
      onUpdate: (b, a) => {
        for (const r of NODE_EVENT_RULES) {
          const msg = r.fires(b, a, a.metadata.name);
          if (msg !== undefined) void this.record(a.metadata.name, r.type, r.reason, msg);
        }
      },
      onDelete: (en) => {
        for (const k of this.recent.keys()) if (k.startsWith(`${en.metadata.name}/`)) this.recent.delete(k);
      },
    });
  }

  /** The Node was created for its EdgeNode (called by NodeSync). */
  registered(node: KObject): Promise<void> {
    return this.record(
      node.metadata.name,
      'Normal',
      'RegisteredNode',
      `Node ${node.metadata.name} event: Registered Node ${node.metadata.name} in Controller (EVE device ${node.status?.nodeInfo?.systemUUID ?? ''})`,
      node,
    );
  }

  private async record(name: string, type: 'Normal' | 'Warning', reason: string, message: string, known?: KObject): Promise<void> {
    const node = known ?? this.informers.informerFor(NODES).store.getByName(undefined, name);
    if (!node) return; // not a Node yet: its registration event comes with it
    const now = Date.now();
    const key = `${name}/${reason}`;
    const times = (this.recent.get(key) ?? []).filter((t) => now - t < 60_000);
    if (times.length >= (this.o.perReasonPerMinute ?? 2)) {
      this.dropped++;
      return;
    }
    times.push(now);
    this.recent.set(key, times);
    await this.recorder.record({ apiVersion: 'v1', kind: 'Node', metadata: { name, uid: node.metadata.uid } }, type, reason, message);
  }
}
