// metadata.managedFields on the wire <-> field sets per manager (apimachinery managedfields/internal/managedfields.go).
// A manager is identified by {manager, operation, apiVersion (Update only), subresource}: one Apply entry per
// applier whatever version it applied, one Update entry per updater and version.

import type { KObject } from '../resource.ts';
import { FieldSet } from './fieldset.ts';

export interface ManagerId {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion?: string;
  subresource?: string;
}

export interface VersionedSet {
  set: FieldSet;
  apiVersion: string;
  applied: boolean;
}

/** Field sets and times keyed by the manager identifier (JSON of ManagerId). */
export interface Managed {
  fields: Map<string, VersionedSet>;
  times: Map<string, string | undefined>;
}

export const emptyManaged = (): Managed => ({ fields: new Map(), times: new Map() });

export function managerKey(id: ManagerId): string {
  const o: Record<string, string> = { manager: id.manager, operation: id.operation };
  if (id.operation === 'Update' && id.apiVersion) o.apiVersion = id.apiVersion;
  if (id.subresource) o.subresource = id.subresource;
  return JSON.stringify(o);
}

export function parseManagerKey(key: string): ManagerId {
  return JSON.parse(key) as ManagerId;
}

/** Decodes wire entries; throws when an entry is not a valid managed fields entry. */
export function decodeManagedFields(entries: unknown): Managed {
  const m = emptyManaged();
  if (entries === undefined || entries === null) return m;
  if (!Array.isArray(entries)) throw new Error('managedFields must be a list');
  entries.forEach((e: KObject, i) => {
    if (!e || typeof e !== 'object') throw new Error(`managed fields entry ${i} is not an object`);
    if (e.operation !== 'Apply' && e.operation !== 'Update') throw new Error('operation must be `Apply` or `Update`');
    if (typeof e.apiVersion !== 'string' || !e.apiVersion) throw new Error('apiVersion must not be empty');
    if (e.fieldsType !== 'FieldsV1')
      throw new Error(e.fieldsType ? `invalid fieldsType "${e.fieldsType}" in managed fields entry ${i}` : `missing fieldsType in managed fields entry ${i}`);
    const key = managerKey({ manager: String(e.manager ?? ''), operation: e.operation, apiVersion: e.apiVersion, subresource: e.subresource || undefined });
    m.fields.set(key, { set: FieldSet.fromFieldsV1(e.fieldsV1 ?? {}), apiVersion: e.apiVersion, applied: e.operation === 'Apply' });
    m.times.set(key, typeof e.time === 'string' ? e.time : undefined);
  });
  return m;
}

/** `[]` and `[{}]` written by a client reset ownership (fieldmanager.go isResetManagedFields). */
export function isResetManagedFields(entries: unknown): boolean {
  if (!Array.isArray(entries)) return false;
  if (entries.length === 0) return true;
  return entries.length === 1 && !!entries[0] && typeof entries[0] === 'object' && Object.keys(entries[0]).length === 0;
}

const seconds = (t: string | undefined) => (t ? Math.floor(Date.parse(t) / 1000) : 0);

/** Wire entries, sorted by operation, time, manager, apiVersion and subresource; undefined when none. */
export function encodeManagedFields(m: Managed): KObject[] | undefined {
  const out: KObject[] = [];
  for (const [key, vs] of m.fields) {
    if (vs.set.empty()) continue;
    const id = parseManagerKey(key);
    const e: KObject = { manager: id.manager, operation: vs.applied ? 'Apply' : 'Update', apiVersion: vs.apiVersion };
    const t = m.times.get(key);
    if (t) e.time = t;
    e.fieldsType = 'FieldsV1';
    e.fieldsV1 = vs.set.toFieldsV1();
    if (id.subresource) e.subresource = id.subresource;
    out.push(e);
  }
  if (!out.length) return undefined;
  const cmp = (a: string | undefined, b: string | undefined) => ((a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0);
  return out.sort(
    (p, q) =>
      cmp(p.operation, q.operation) ||
      seconds(p.time) - seconds(q.time) ||
      cmp(p.manager, q.manager) ||
      cmp(p.apiVersion, q.apiVersion) ||
      cmp(p.subresource, q.subresource),
  );
}

const MAX_UPDATE_MANAGERS = 10;
const ANCIENT = 'ancient-changes';

/** Beyond ten Update managers the oldest are merged, per apiVersion, into "ancient-changes" (capmanagers.go). */
export function capUpdateManagers(m: Managed): void {
  const updaters = [...m.fields.entries()].filter(([, vs]) => !vs.applied).map(([k]) => k);
  if (updaters.length <= MAX_UPDATE_MANAGERS) return;
  updaters.sort((a, b) => seconds(m.times.get(a)) - seconds(m.times.get(b)) || (a < b ? -1 : a > b ? 1 : 0));
  const firstOfVersion = new Map<string, string>();
  let length = updaters.length;
  for (const key of updaters) {
    if (length <= MAX_UPDATE_MANAGERS) break;
    const vs = m.fields.get(key)!;
    const bucket = managerKey({ manager: ANCIENT, operation: 'Update', apiVersion: vs.apiVersion });
    const first = firstOfVersion.get(vs.apiVersion);
    if (first === undefined) {
      firstOfVersion.set(vs.apiVersion, key);
      continue;
    }
    if (!m.fields.has(bucket)) {
      m.fields.set(bucket, m.fields.get(first)!);
      m.fields.delete(first);
      m.times.delete(first);
    }
    const b = m.fields.get(bucket)!;
    m.fields.set(bucket, { set: b.set.union(vs.set), apiVersion: vs.apiVersion, applied: false });
    m.fields.delete(key);
    m.times.set(bucket, m.times.get(key));
    m.times.delete(key);
    length--;
  }
}
