// core/v1 Events for notable transitions (what `kubectl describe` and `kubectl get events` show).
// Repeats of the same (object, type, reason, message) within a small window bump count and
// lastTimestamp on the existing Event instead of creating new ones, as client-go's correlator does.

import type { KObject } from '../../apiserver/resource.ts';
import { isNotFound, type Client, type GVR } from '../runtime/index.ts';
import { log } from '../../observability/log.ts';

export const EVENT_GVR: GVR = { group: '', version: 'v1', resource: 'events' };
export const COMPONENT = 'kubeve-eve-controller';

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export class EventRecorder {
  /** Recent events by correlation key → event name and count (bounded; oldest dropped first). */
  private recent = new Map<string, { name: string; ns: string; count: number }>();

  constructor(
    private readonly client: Client,
    private readonly maxRecent = 1024,
  ) {}

  /** Records an event about `obj` (cluster-scoped objects get their events in "default"). Never throws. */
  async record(obj: KObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const m = obj.metadata;
    const ns = m.namespace || 'default';
    const key = `${obj.kind}/${m.namespace ?? ''}/${m.name}/${m.uid}/${type}/${reason}/${message}`;
    try {
      const seen = this.recent.get(key);
      if (seen) {
        this.recent.delete(key);
        this.recent.set(key, seen);
        seen.count++;
        try {
          await this.client.patch(EVENT_GVR, seen.ns, seen.name, 'merge', { count: seen.count, lastTimestamp: now() });
          return;
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
      const ts = now();
      const name = `${m.name}.${(Date.now() * 1000 + Math.floor(Math.random() * 1000)).toString(16)}`;
      await this.client.create(EVENT_GVR, ns, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: ns },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: m.name,
          uid: m.uid,
          ...(m.namespace ? { namespace: m.namespace } : {}),
        },
        reason,
        message,
        type,
        source: { component: COMPONENT },
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
        reportingComponent: COMPONENT,
        reportingInstance: COMPONENT,
      });
      this.recent.set(key, { name, ns, count: 1 });
      if (this.recent.size > this.maxRecent) this.recent.delete(this.recent.keys().next().value!);
    } catch (e) {
      log.error('recording an event failed', e, { reason, kind: obj.kind, name: m.name, namespace: m.namespace });
    }
  }
}
