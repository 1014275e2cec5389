// Field management for server-side apply (k8s.io/apimachinery managedfields + structured-merge-diff merge.Updater):
// who owns which field of an object, Update operations taking ownership of what they change, and Apply
// merging a configuration into the live object with conflicts, forced takeover and removal of fields an
// applier stopped applying.

import { StatusError } from '../errors.ts';
import { deepClone } from '../../common/json.ts';
import type { JSONSchema, KObject } from '../resource.ts';
import { FieldSet, pathString, type Path } from './fieldset.ts';
import {
  capUpdateManagers,
  decodeManagedFields,
  emptyManaged,
  encodeManagedFields,
  isResetManagedFields,
  managerKey,
  parseManagerKey,
  type Managed,
} from './managed.ts';
import { compare, ensureNamedFieldsAreMembers, merge, objectSchema, removeItems, toFieldSet, withoutManagedFields, type Comparison } from './typed.ts';

export { FieldSet, pathString } from './fieldset.ts';
export { decodeManagedFields, encodeManagedFields } from './managed.ts';

export interface FieldManagerScope {
  /** The kind's structural schema (ResourceDefinition.schema). */
  schema?: JSONSchema;
  /** group/version the request is served in. */
  apiVersion: string;
  /** The subresource written ("status", "scale"), empty for the main resource. */
  subresource?: string;
  /** The kind has a status subresource: the main resource does not own .status and /status owns only .status. */
  statusSubresource?: boolean;
  /** RFC 3339 time of the operation. */
  now: string;
}

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const BEFORE_FIRST_APPLY = 'before-first-apply';

// Never owned by anyone (stripmeta.go).
const STRIPPED = FieldSet.of(
  ['f:apiVersion'],
  ['f:kind'],
  ['f:metadata'],
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion'].map((f) => [
    'f:metadata',
    `f:${f}`,
  ]),
);

/** Restricts sets to what the operation can own, given the status subresource's reset fields. */
function filterFor(scope: FieldManagerScope): (s: FieldSet) => FieldSet {
  if (!scope.statusSubresource) return (s) => s;
  if (scope.subresource === 'status') {
    return (s) => {
      const out = new FieldSet();
      if (s.members.has('f:status')) out.members.add('f:status');
      const c = s.children.get('f:status');
      if (c) out.children.set('f:status', c.clone());
      return out;
    };
  }
  if (scope.subresource) return (s) => s;
  return (s) => {
    const out = s.clone();
    out.members.delete('f:status');
    out.children.delete('f:status');
    return out;
  };
}

function filterComparison(c: Comparison, f: (s: FieldSet) => FieldSet): Comparison {
  return { added: f(c.added), modified: f(c.modified), removed: f(c.removed) };
}

interface Conflict {
  manager: string;
  path: Path;
}

/**
 * merge.Updater.update: compares live and next and takes changed fields away from every other manager.
 * Without force, fields another manager owns that changed are conflicts.
 */
function takeOver(live: KObject, next: KObject, managed: Managed, self: string, force: boolean, scope: FieldManagerScope): Comparison {
  const schema = objectSchema(scope.schema);
  const cmp = filterComparison(compare(live, next, schema), filterFor(scope));
  const changed = cmp.modified.union(cmp.added);
  const conflicts: Conflict[] = [];
  const taken = new Map<string, FieldSet>();
  for (const [key, vs] of managed.fields) {
    if (key === self) continue;
    const clash = vs.set.intersection(changed);
    if (!clash.empty()) {
      taken.set(key, clash);
      for (const path of clash.paths()) conflicts.push({ manager: key, path });
    }
  }
  if (!force && conflicts.length) throw conflictError(conflicts);
  for (const [key, vs] of managed.fields) {
    if (key === self) continue;
    let set = vs.set;
    const clash = taken.get(key);
    if (clash) set = set.difference(clash);
    if (!cmp.removed.empty()) set = set.difference(cmp.removed);
    if (set.empty()) managed.fields.delete(key);
    else managed.fields.set(key, { ...vs, set });
  }
  return cmp;
}

/** How a manager is named in conflict messages (conflict.go printManager). */
function printManager(key: string): string {
  const id = parseManagerKey(key);
  let s = JSON.stringify(id.manager);
  if (id.subresource) s += ` with subresource ${JSON.stringify(id.subresource)}`;
  if (id.operation === 'Update') s += ` using ${id.apiVersion}`;
  return s;
}

function conflictError(conflicts: Conflict[]): StatusError {
  conflicts.sort((a, b) => (a.manager < b.manager ? -1 : a.manager > b.manager ? 1 : 0));
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${printManager(c.manager)}`, field: pathString(c.path) }));
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${printManager(conflicts[0].manager)}: ${pathString(conflicts[0].path)}`;
  } else {
    const lines: string[] = [];
    let last: string | undefined;
    for (const c of conflicts) {
      if (c.manager !== last) lines.push(`conflicts with ${printManager(c.manager)}:`);
      last = c.manager;
      lines.push(`- ${pathString(c.path)}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  const err = new StatusError(409, 'Conflict', message, { causes });
  (err as StatusError & { conflicts?: Conflict[] }).conflicts = conflicts;
  return err;
}

/** An Update (create, update, patch) by `manager`: it takes the fields it changed, from live to next. */
function recordUpdate(live: KObject, next: KObject, managed: Managed, manager: string, scope: FieldManagerScope): void {
  const key = managerKey({ manager, operation: 'Update', apiVersion: scope.apiVersion, subresource: scope.subresource });
  const self = '{"manager":"current-operation"}';
  const cmp = takeOver(live, next, managed, self, true, scope);
  const filter = filterFor(scope);
  const took = filter(cmp.modified.union(cmp.added)).difference(STRIPPED);
  if (took.empty()) return;
  const previous = managed.fields.get(key);
  managed.fields.set(key, { set: previous ? took.union(previous.set) : took, apiVersion: scope.apiVersion, applied: false });
  managed.times.set(key, scope.now);
}

function emptyObject(obj: KObject): KObject {
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata: {} };
}

/**
 * The managedFields after an Update operation turned `live` (undefined on create) into `next`.
 * Entries the client wrote itself replace the live ones (kubectl's client-side-apply upgrade), `[]` or
 * `[{}]` resets them, and invalid entries fall back to the live ones. Objects without any managedFields
 * stay untracked until something applies to them.
 */
export function updateManagedFields(live: KObject | undefined, next: KObject, manager: string, scope: FieldManagerScope): KObject[] | undefined {
  const decode = (entries: unknown) => {
    try {
      return decodeManagedFields(entries);
    } catch {
      return emptyManaged();
    }
  };
  const sent = next.metadata?.managedFields;
  let managed: Managed;
  if (scope.subresource) managed = decode(live?.metadata?.managedFields);
  else if (isResetManagedFields(sent)) managed = emptyManaged();
  else {
    managed = decode(sent);
    if (!managed.fields.size) managed = decode(live?.metadata?.managedFields);
  }
  if (!managed.fields.size && live?.metadata?.uid) return undefined;
  recordUpdate(withoutManagedFields(live ?? emptyObject(next)), withoutManagedFields(next), managed, manager, scope);
  capUpdateManagers(managed);
  return encodeManagedFields(managed);
}

export interface ApplyResult {
  /** The merged object (managedFields set), or the live object with new managedFields when nothing changed. */
  object: KObject;
  managedFields: KObject[] | undefined;
  /** Whether the object's fields (managedFields aside) changed. */
  changed: boolean;
}

/**
 * Server-side apply of `config` by `manager` onto `live` (undefined when the object does not exist yet).
 * Throws a 409 Conflict listing the fields other managers own with other values, unless `force`.
 */
export function apply(live: KObject | undefined, config: KObject, manager: string, force: boolean, scope: FieldManagerScope): ApplyResult {
  const base = withoutManagedFields(live ?? emptyObject(config));
  let managed = decodeManagedFields(live?.metadata?.managedFields);
  // Fields that existed before anyone tracked ownership belong to a placeholder updater (skipnonapplied.go).
  if (!managed.fields.size && live) recordUpdate(emptyObject(base), base, managed, BEFORE_FIRST_APPLY, scope);

  let result: { object: KObject; managed: Managed };
  try {
    result = applyOnce(base, config, cloneManaged(managed), manager, force, scope);
  } catch (e) {
    // kubectl may take over fields it set with client-side apply and left unchanged since (lastappliedmanager.go).
    const conflicts = (e as { conflicts?: Conflict[] }).conflicts;
    if (manager !== 'kubectl' || !conflicts) throw e;
    const allowed = allowedFromLastApplied(base, scope);
    if (!allowed) throw e;
    const remaining = conflicts.filter((c) => !allowed.has(c.path));
    if (remaining.length) throw conflictError(remaining);
    result = applyOnce(base, config, cloneManaged(managed), manager, true, scope);
  }
  managed = result.managed;
  capUpdateManagers(managed);
  const changed = !isSame(base, result.object, scope);
  const object = changed ? result.object : deepClone(base);
  const key = managerKey({ manager, operation: 'Apply', subresource: scope.subresource });
  if (changed || !managed.times.get(key)) managed.times.set(key, scope.now);
  // kubectl's apply keeps the last-applied annotation current when it exists (lastappliedupdater.go).
  if (manager === 'kubectl' && object.metadata?.annotations?.[LAST_APPLIED]) {
    object.metadata.annotations[LAST_APPLIED] = lastApplied(config);
  }
  const managedFields = encodeManagedFields(managed);
  object.metadata ??= {};
  if (managedFields) object.metadata.managedFields = managedFields;
  else delete object.metadata.managedFields;
  return { object, managedFields, changed };
}

function isSame(a: KObject, b: KObject, scope: FieldManagerScope): boolean {
  const c = compare(a, b, objectSchema(scope.schema));
  return c.added.empty() && c.modified.empty() && c.removed.empty();
}

function cloneManaged(m: Managed): Managed {
  return { fields: new Map([...m.fields].map(([k, v]) => [k, { ...v, set: v.set.clone() }])), times: new Map(m.times) };
}

function applyOnce(
  live: KObject,
  config: KObject,
  managed: Managed,
  manager: string,
  force: boolean,
  scope: FieldManagerScope,
): { object: KObject; managed: Managed } {
  const schema = objectSchema(scope.schema);
  const key = managerKey({ manager, operation: 'Apply', subresource: scope.subresource });
  let merged = merge(live, config, schema) as KObject;
  const lastSet = managed.fields.get(key)?.set;
  const set = filterFor(scope)(toFieldSet(config, schema));
  managed.fields.set(key, { set, apiVersion: scope.apiVersion, applied: true });
  if (lastSet && !lastSet.empty()) merged = prune(merged, managed, lastSet, schema);
  takeOver(live, merged, managed, key, force, scope);
  const own = set.difference(STRIPPED);
  if (own.empty()) managed.fields.delete(key);
  else managed.fields.set(key, { set: own, apiVersion: scope.apiVersion, applied: true });
  return { object: merged, managed };
}

/**
 * Removes what the applier applied last time and no longer applies, unless some manager (the applier's
 * new configuration included) still owns it (merge/update.go prune, addBackOwnedItems, addBackDanglingItems).
 */
function prune(merged: KObject, managed: Managed, lastSet: FieldSet, schema: JSONSchema): KObject {
  let owned = new FieldSet();
  for (const vs of managed.fields.values()) owned = owned.union(vs.set);
  const present = ensureNamedFieldsAreMembers(toFieldSet(merged, schema), schema);
  const last = ensureNamedFieldsAreMembers(lastSet, schema);
  const gone = present.intersection(last).difference(ensureNamedFieldsAreMembers(owned, schema));
  return gone.empty() ? merged : (removeItems(merged, gone, schema) as KObject);
}

/** Fields kubectl set with client-side apply whose live values still match the annotation. */
function allowedFromLastApplied(live: KObject, scope: FieldManagerScope): FieldSet | undefined {
  const raw = live.metadata?.annotations?.[LAST_APPLIED];
  if (typeof raw !== 'string' || !raw) return undefined;
  let last: KObject;
  try {
    last = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!last || typeof last !== 'object' || last.apiVersion !== scope.apiVersion) return undefined;
  const schema = objectSchema(scope.schema);
  const c = compare(last, live, schema);
  return toFieldSet(last, schema).difference(c.modified).difference(c.added).difference(c.removed);
}

/** The annotation value: the applied configuration without the annotation, as compact JSON with sorted keys. */
function lastApplied(config: KObject): string {
  const copy = deepClone(config);
  if (copy.metadata?.annotations) {
    delete copy.metadata.annotations[LAST_APPLIED];
    if (!Object.keys(copy.metadata.annotations).length) delete copy.metadata.annotations;
  }
  return `${JSON.stringify(sortKeys(copy))}\n`;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}
