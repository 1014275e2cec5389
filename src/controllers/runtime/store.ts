// The informer's cache: objects by key ("namespace/name" or "name") with indexes kept up to date on
// every change, as client-go's thread-safe store with indexers. Readers get the cached objects
// themselves: treat them as read-only (clone before changing one to write it back).

import { objectKey, type KObject } from './client.ts';

/** Index values of an object (e.g. its namespace, its spec.nodeName); none = not indexed. */
export type IndexFunc = (obj: KObject) => string[];

export const NAMESPACE_INDEX = 'namespace';
export const byNamespace: IndexFunc = (o) => (o.metadata?.namespace ? [o.metadata.namespace] : []);

/** An index over a dotted field path, e.g. byField('spec.nodeName'). */
export function byField(path: string): IndexFunc {
  const parts = path.split('.');
  return (o) => {
    let v: unknown = o;
    for (const p of parts) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
    return v === undefined || v === null || v === '' ? [] : [String(v)];
  };
}

export class CacheStore {
  private readonly items = new Map<string, KObject>();
  private readonly indexers = new Map<string, IndexFunc>();
  private readonly indices = new Map<string, Map<string, Set<string>>>(); // index → value → keys

  constructor(indexers: Record<string, IndexFunc> = { [NAMESPACE_INDEX]: byNamespace }) {
    this.addIndexers(indexers);
  }

  /** Adds indexes; existing objects are indexed at once. */
  addIndexers(indexers: Record<string, IndexFunc>): void {
    for (const [name, fn] of Object.entries(indexers)) {
      if (this.indexers.has(name)) {
        if (this.indexers.get(name) === fn) continue;
        throw new Error(`indexer ${name} already exists`);
      }
      this.indexers.set(name, fn);
      this.indices.set(name, new Map());
      for (const [key, obj] of this.items) this.indexOne(name, fn, key, obj);
    }
  }

  get size(): number {
    return this.items.size;
  }
  get(key: string): KObject | undefined {
    return this.items.get(key);
  }
  getByName(namespace: string | undefined, name: string): KObject | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }
  keys(): string[] {
    return [...this.items.keys()];
  }
  list(): KObject[] {
    return [...this.items.values()];
  }
  /** Objects whose index `index` has value `value` (e.g. byIndex('namespace', 'default')). */
  byIndex(index: string, value: string): KObject[] {
    const idx = this.indices.get(index);
    if (!idx) throw new Error(`no index named ${index}`);
    return [...(idx.get(value) ?? [])].map((k) => this.items.get(k)!);
  }
  indexKeys(index: string, value: string): string[] {
    const idx = this.indices.get(index);
    if (!idx) throw new Error(`no index named ${index}`);
    return [...(idx.get(value) ?? [])];
  }

  /** Stores an object; returns the one it replaced. */
  upsert(obj: KObject): KObject | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    if (old) this.unindex(key, old);
    this.items.set(key, obj);
    for (const [name, fn] of this.indexers) this.indexOne(name, fn, key, obj);
    return old;
  }

  /** Removes an object by key; returns it. */
  remove(key: string): KObject | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  private indexOne(name: string, fn: IndexFunc, key: string, obj: KObject): void {
    const idx = this.indices.get(name)!;
    for (const v of fn(obj)) {
      let set = idx.get(v);
      if (!set) idx.set(v, (set = new Set()));
      set.add(key);
    }
  }

  private unindex(key: string, obj: KObject): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) {
        const set = idx.get(v);
        set?.delete(key);
        if (set && !set.size) idx.delete(v);
      }
    }
  }
}
