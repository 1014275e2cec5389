// The informer loop without a cache, kept for the EVE controllers until they move onto informers.

import type { KObject } from '../../apiserver/resource.ts';
import type { Client, GVR, ObjectChange, WatchEvent, WatchHandle } from './client.ts';

export interface Reflector {
  /** Resolves once the initial list has been delivered. */
  readonly synced: Promise<void>;
  stop(): void;
}

/**
 * List, then watch from the list's resourceVersion, forever. `onEvent` sees every object once as
 * ADDED at start; after a watch ends (410, connection loss) the resource is listed again and
 * objects that vanished meanwhile are reported DELETED. Keeps only the set of object keys it has seen.
 */
export function reflect(client: Client, r: GVR, onEvent: (ev: ObjectChange) => void, o: { namespace?: string; retryMs?: number } = {}): Reflector {
  const seen = new Set<string>();
  const keyOf = (obj: KObject) => `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
  let stopped = false;
  let handle: WatchHandle | undefined;
  let timer: NodeJS.Timeout | undefined;
  let markSynced!: () => void;
  const synced = new Promise<void>((res) => (markSynced = res));
  const deliver = (ev: WatchEvent) => {
    if (ev.type === 'BOOKMARK') return;
    const change = ev as ObjectChange;
    const k = keyOf(ev.object);
    if (ev.type === 'DELETED') seen.delete(k);
    else seen.add(k);
    onEvent(change);
  };
  const run = async () => {
    if (stopped) return;
    try {
      const l = await client.list(r, o.namespace);
      const now = new Set(l.items.map(keyOf));
      for (const k of [...seen]) {
        if (now.has(k)) continue;
        const [ns, name] = k.split('/');
        deliver({ type: 'DELETED', object: { metadata: { name, ...(ns ? { namespace: ns } : {}) } } });
      }
      for (const obj of l.items) deliver({ type: seen.has(keyOf(obj)) ? 'MODIFIED' : 'ADDED', object: obj });
      markSynced();
      if (stopped) return;
      handle = client.watch(r, o.namespace, { resourceVersion: l.resourceVersion }, deliver, () => {
        if (!stopped) timer = setTimeout(() => void run(), 0);
      });
    } catch (e) {
      if (!stopped) {
        console.error(`kubeve: list ${r.resource} failed, retrying:`, e instanceof Error ? e.message : e);
        timer = setTimeout(() => void run(), o.retryMs ?? 1000);
      }
    }
  };
  void run();
  return {
    synced,
    stop() {
      stopped = true;
      clearTimeout(timer);
      handle?.stop();
    },
  };
}
