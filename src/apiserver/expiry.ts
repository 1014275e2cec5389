// Objects of a resource whose definition carries a TTL (`ttlMs`: Events, as kube-apiserver's --event-ttl)
// expire that long after their last write, so a fleet's Events cannot grow without bound.
// kube-apiserver attaches an etcd lease to every such write and etcd drops the key when it runs out.
// kubeve keeps the deadlines in memory, fed by the change feed, and a periodic sweep deletes expired
// objects from storage with a compare-and-swap on their revision: watchers and controllers see DELETED,
// and, as with the lease, finalizers are not waited for. Storage backends need no TTL support.

import type { ChangeEvent, ChangeFeed } from './change-feed.ts';
import type { Registry } from './registry.ts';
import type { KObject, ResourceDefinition } from './resource.ts';
import { objectKey, type ObjectStore } from './store.ts';
import { KeyNotFoundError, RevisionConflictError } from './storage/types.ts';
import { log } from '../observability/log.ts';

interface Deadline {
  def: ResourceDefinition;
  namespace?: string;
  name: string;
  /** The resourceVersion the deadline was computed for: a later write re-arms it instead. */
  resourceVersion: string;
  at: number;
}

/** Sweep often enough that an object outlives its TTL by at most a tenth of it (and never by more than a minute). */
export function sweepIntervalFor(ttlMs: number): number {
  return Math.min(60_000, Math.max(100, Math.floor(ttlMs / 10)));
}

/** When an object already stored was last written, from what it records: creation and every manager's write time. */
function lastWriteTime(obj: KObject, unknown: number): number {
  const times = [obj.metadata?.creationTimestamp, ...(obj.metadata?.managedFields ?? []).map((m: KObject) => m?.time)];
  const parsed = times.map((t) => (typeof t === 'string' ? Date.parse(t) : NaN)).filter((t) => Number.isFinite(t));
  return parsed.length ? Math.max(...parsed) : unknown;
}

const resourceKey = (def: ResourceDefinition) => `${def.group}/${def.resource}`;
const objectName = (obj: KObject) => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`;

export class ObjectExpiry {
  /**
   * Per resource, object → deadline. A Map keeps insertion order and every write re-inserts at the end
   * with now + TTL, so each map is in deadline order and a sweep stops at the first live entry.
   */
  private deadlines = new Map<string, Map<string, Deadline>>();
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<number>;

  constructor(
    private registry: Registry,
    private store: ObjectStore,
    feed: ChangeFeed,
    private now: () => number = Date.now,
  ) {
    feed.subscribe((ev) => this.onChange(ev));
  }

  /** The resources that expire (one definition per group/resource). */
  private expiring(): ResourceDefinition[] {
    const seen = new Map<string, ResourceDefinition>();
    for (const def of this.registry.all()) if (def.ttlMs !== undefined && !seen.has(resourceKey(def))) seen.set(resourceKey(def), def);
    return [...seen.values()];
  }

  /** Arms deadlines for the objects already stored (at start, before the feed runs). */
  async load(): Promise<void> {
    for (const def of this.expiring()) {
      const list = await this.store.list(def, undefined, {});
      const entries = list.items
        .map((o): [string, Deadline] => [objectName(o), this.deadline(def, o, lastWriteTime(o, this.now()))])
        .sort((a, b) => a[1].at - b[1].at);
      const map = this.mapFor(def);
      for (const [k, d] of entries) map.set(k, d);
    }
  }

  /** Sweeps periodically; the interval follows the shortest TTL served. */
  start(): void {
    const ttls = this.expiring().map((d) => d.ttlMs!);
    if (!ttls.length) return;
    this.timer = setInterval(() => void this.sweep(), sweepIntervalFor(Math.min(...ttls)));
    this.timer.unref();
  }

  /** Stops sweeping and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  /** Deletes every object whose deadline has passed; returns how many were deleted. One sweep at a time. */
  sweep(): Promise<number> {
    this.sweeping ??= this.deleteExpired().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async deleteExpired(): Promise<number> {
    const now = this.now();
    const due: Array<[Map<string, Deadline>, string, Deadline]> = [];
    for (const map of this.deadlines.values()) {
      for (const [k, d] of map) {
        if (d.at > now) break;
        due.push([map, k, d]);
      }
    }
    let deleted = 0;
    for (const [map, k, d] of due) {
      try {
        // Only at the revision the deadline was armed for: a write that raced the sweep wins and re-arms it.
        await this.store.storage.delete(objectKey(d.def, d.namespace, d.name), Number(d.resourceVersion));
        deleted++;
      } catch (e) {
        if (!(e instanceof KeyNotFoundError || e instanceof RevisionConflictError)) {
          log.error('expiring an object failed', e, { resource: d.def.resource, key: k });
          continue; // retried at the next sweep
        }
      }
      if (map.get(k) === d) map.delete(k);
    }
    return deleted;
  }

  private onChange(ev: ChangeEvent): void {
    if (ev.def.ttlMs === undefined) return;
    const map = this.mapFor(ev.def);
    const k = objectName(ev.object);
    map.delete(k);
    if (ev.type !== 'delete') map.set(k, this.deadline(ev.def, ev.object, this.now()));
  }

  private deadline(def: ResourceDefinition, obj: KObject, writtenAt: number): Deadline {
    return {
      def,
      namespace: obj.metadata?.namespace,
      name: obj.metadata?.name,
      resourceVersion: String(obj.metadata?.resourceVersion),
      at: writtenAt + def.ttlMs!,
    };
  }

  private mapFor(def: ResourceDefinition): Map<string, Deadline> {
    let map = this.deadlines.get(resourceKey(def));
    if (!map) this.deadlines.set(resourceKey(def), (map = new Map()));
    return map;
  }
}
