// Object persistence on top of the key/value Storage: storage keys, JSON encoding, resourceVersion
// from the storage revision, filtered and paginated lists at a snapshot, and object-level watches.
// It knows nothing about validation or HTTP; rest.ts layers the API semantics on top.

import { CompactedError, type Storage, type StorageEvent, type Watcher } from './storage/types.ts';
import { StatusError, badRequest, expired } from './errors.ts';
import type { KObject, ResourceDefinition } from './resource.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  items: KObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ObjectEvent {
  type: WatchEventType;
  object: KObject;
}

/** Compiled list/watch filter. */
export interface ObjectFilter {
  matches(obj: KObject): boolean;
  empty: boolean;
}

export function keyPrefix(def: Pick<ResourceDefinition, 'group' | 'resource'>, namespace?: string): string {
  const base = `/registry/${def.group || 'core'}/${def.resource}/`;
  return namespace ? `${base}${namespace}/` : base;
}

export function objectKey(def: Pick<ResourceDefinition, 'group' | 'resource' | 'namespaced'>, namespace: string | undefined, name: string): string {
  return def.namespaced ? `${keyPrefix(def, namespace)}${name}` : `${keyPrefix(def)}${name}`;
}

export function decode(value: string, revision: number): KObject {
  const obj = JSON.parse(value) as KObject;
  obj.metadata ??= {};
  obj.metadata.resourceVersion = String(revision);
  return obj;
}

/** Encodes an object for storage; resourceVersion is not stored (it is the key's revision). */
export function encode(obj: KObject): string {
  const rv = obj.metadata?.resourceVersion;
  if (rv === undefined) return JSON.stringify(obj);
  delete obj.metadata.resourceVersion;
  try {
    return JSON.stringify(obj);
  } finally {
    obj.metadata.resourceVersion = rv;
  }
}

/** A resourceVersion from a client; anything but a uint64 is refused in the storage layer's words (APIObjectVersioner). */
export function parseRV(rv: string | undefined): number | undefined {
  if (rv === undefined || rv === '') return undefined;
  const why = !/^\d+$/.test(rv) ? 'invalid syntax' : BigInt(rv) > 0xffffffffffffffffn ? 'value out of range' : '';
  if (why)
    throw badRequest(
      `invalid resource version: resourceVersion: Invalid value: ${JSON.stringify(rv)}: strconv.ParseUint: parsing ${JSON.stringify(rv)}: ${why}`,
    );
  return Number(rv);
}

export function compileFilter(def: ResourceDefinition, labelSelector?: string, fieldSelector?: string): ObjectFilter {
  const labels = parseLabelSelector(labelSelector ?? '');
  const fields = parseFieldSelector(fieldSelector ?? '');
  const getters = def.fieldSelectors ?? {};
  for (const r of fields.requirements) {
    if (r.field !== 'metadata.name' && r.field !== 'metadata.namespace' && !getters[r.field]) {
      throw badRequest(`field label not supported: ${r.field}`);
    }
  }
  const fieldOf =
    (obj: KObject) =>
    (f: string): string | undefined => {
      if (f === 'metadata.name') return obj.metadata?.name ?? '';
      if (f === 'metadata.namespace') return obj.metadata?.namespace ?? '';
      return getters[f]!(obj) ?? '';
    };
  return {
    empty: labels.empty && fields.empty,
    matches: (obj) => labels.matches(obj.metadata?.labels ?? {}) && fields.matches(fieldOf(obj)),
  };
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start } satisfies ContinueToken)).toString('base64url');
}

function decodeContinue(token: string, prefix: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
    if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string' || !t.start.startsWith(prefix)) throw new Error();
    return t;
  } catch {
    throw badRequest(`continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)`);
  }
}

export class ObjectStore {
  constructor(public readonly storage: Storage) {}

  async get(def: ResourceDefinition, namespace: string | undefined, name: string): Promise<KObject | undefined> {
    const kv = await this.storage.get(objectKey(def, namespace, name));
    return kv ? decode(kv.value, kv.modRevision) : undefined;
  }

  async list(def: ResourceDefinition, namespace: string | undefined, q: ListQuery): Promise<ListResult> {
    const prefix = keyPrefix(def, def.namespaced ? namespace : undefined);
    const filter = compileFilter(def, q.labelSelector, q.fieldSelector);
    const limit = q.limit && q.limit > 0 ? q.limit : 0;
    let revision = 0;
    let startKey: string | undefined;
    const rv = parseRV(q.resourceVersion); // validated even where the list does not need it, as kube does
    if (q.continue) {
      const t = decodeContinue(q.continue, prefix);
      revision = t.rv;
      startKey = t.start;
    } else if (q.resourceVersionMatch === 'Exact') {
      revision = rv ?? 0;
    }
    const items: KObject[] = [];
    try {
      for (;;) {
        // Over-fetch when filtering, since some keys will not match.
        const want = limit ? (filter.empty ? limit - items.length : Math.max(100, (limit - items.length) * 2)) : 0;
        const page = await this.storage.list(prefix, { revision, startKey, limit: want });
        revision = page.revision;
        let lastKey: string | undefined;
        for (const kv of page.items) {
          lastKey = kv.key;
          const obj = decode(kv.value, kv.modRevision);
          if (!filter.matches(obj)) continue;
          items.push(obj);
          if (limit && items.length === limit) {
            const consumedAll = kv === page.items[page.items.length - 1] && !page.more;
            if (consumedAll) return { items, resourceVersion: String(revision) };
            const res: ListResult = { items, resourceVersion: String(revision), continue: encodeContinue(revision, kv.key + '\u0000') };
            if (filter.empty && page.remaining !== undefined) res.remainingItemCount = page.remaining + (page.items.length - page.items.indexOf(kv) - 1);
            return res;
          }
        }
        if (!page.more || !lastKey) break;
        startKey = lastKey + '\u0000';
      }
    } catch (e) {
      if (e instanceof CompactedError) {
        const err = expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
        throw err;
      }
      throw e;
    }
    return { items, resourceVersion: String(revision) };
  }

  /**
   * Watches objects of a resource, delivering events with revision > fromRevision. Events are
   * translated for the filter the way the watch cache does: an object that stops matching is
   * DELETED for this watcher, one that starts matching is ADDED.
   */
  watch(
    def: ResourceDefinition,
    namespace: string | undefined,
    fromRevision: number,
    filter: ObjectFilter,
    onEvent: (ev: ObjectEvent) => void,
    onError?: (err: Error) => void,
  ): Watcher {
    const prefix = keyPrefix(def, def.namespaced ? namespace : undefined);
    const tooOld = (e: CompactedError) => expired(`too old resource version: ${fromRevision} (${e.compacted + 1})`);
    try {
      return this.storage.watch(
        prefix,
        fromRevision,
        (ev) => {
          const out = translate(ev, filter);
          if (out) onEvent(out);
        },
        onError && ((e) => onError(e instanceof CompactedError ? tooOld(e) : e)),
      );
    } catch (e) {
      if (e instanceof CompactedError) throw tooOld(e);
      throw e;
    }
  }
}

/** Decoding is shared by every watcher of an event: parse once. */
const parsed = new WeakMap<StorageEvent, { obj: KObject; prev?: KObject }>();

function eventObjects(ev: StorageEvent): { obj: KObject; prev?: KObject } {
  let p = parsed.get(ev);
  if (!p) {
    p = { obj: decode(ev.value, ev.revision), prev: ev.prevValue !== undefined ? decode(ev.prevValue, ev.revision) : undefined };
    parsed.set(ev, p);
  }
  return p;
}

function translate(ev: StorageEvent, filter: ObjectFilter): ObjectEvent | undefined {
  const { obj, prev } = eventObjects(ev);
  if (ev.type === 'create') return filter.matches(obj) ? { type: 'ADDED', object: obj } : undefined;
  if (ev.type === 'delete') return filter.matches(obj) ? { type: 'DELETED', object: obj } : undefined;
  if (filter.empty) return { type: 'MODIFIED', object: obj };
  const now = filter.matches(obj);
  const before = prev ? filter.matches(prev) : false;
  if (now && before) return { type: 'MODIFIED', object: obj };
  if (now) return { type: 'ADDED', object: obj };
  if (before) return { type: 'DELETED', object: obj };
  return undefined;
}

export function isStatusError(e: unknown): e is StatusError {
  return e instanceof StatusError;
}
