// Values read through a structural schema the way structured-merge-diff reads typed values: which nodes are
// scalars, atomic or granular maps (structs have named fields), and atomic, set or associative lists.
// On that reading rest the field-set of a value, the comparison of two values, apply's merge and the removal
// of owned items. Where the schema says nothing (no schema, preserve-unknown-fields) the type is deduced from
// the value: objects are granular maps, lists are atomic, everything else is a scalar.

import type { JSONSchema, KObject } from '../resource.ts';
import { deepClone, deepEqual } from '../../common/json.ts';
import { FieldSet, fieldPE, indexPE, keyPE, valuePE, type Path } from './fieldset.ts';

type Json = unknown;
const isMap = (v: Json): v is Record<string, Json> => !!v && typeof v === 'object' && !Array.isArray(v);

/** metav1.ObjectMeta as the field manager sees it; object schemas only say "metadata is an object". */
const STRING: JSONSchema = { type: 'string' };
const STRING_MAP: JSONSchema = { type: 'object', additionalProperties: STRING };
export const OBJECT_META_SCHEMA: JSONSchema = {
  type: 'object',
  properties: {
    name: STRING,
    generateName: STRING,
    namespace: STRING,
    selfLink: STRING,
    uid: STRING,
    resourceVersion: STRING,
    generation: { type: 'integer' },
    creationTimestamp: STRING,
    deletionTimestamp: STRING,
    deletionGracePeriodSeconds: { type: 'integer' },
    labels: STRING_MAP,
    annotations: STRING_MAP,
    ownerReferences: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['uid'],
      items: {
        type: 'object',
        'x-kubernetes-map-type': 'atomic',
        properties: { apiVersion: STRING, kind: STRING, name: STRING, uid: STRING, controller: { type: 'boolean' }, blockOwnerDeletion: { type: 'boolean' } },
      },
    },
    finalizers: { type: 'array', 'x-kubernetes-list-type': 'set', items: STRING },
    managedFields: { type: 'array', 'x-kubernetes-list-type': 'atomic', items: { type: 'object' } },
  },
};

/** The schema of a whole object, with metadata read as ObjectMeta. */
export function objectSchema(schema: JSONSchema | undefined): JSONSchema {
  const root = unwrap(schema) ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  return { ...root, properties: { ...(root.properties ?? {}), metadata: OBJECT_META_SCHEMA } };
}

type Atom =
  | { kind: 'scalar' }
  | { kind: 'map'; atomic: boolean; fields?: Record<string, JSONSchema>; elem?: JSONSchema }
  | { kind: 'list'; rel: 'atomic' | 'set' | 'map'; keys: string[]; elem?: JSONSchema };

function unwrap(s: JSONSchema | undefined): JSONSchema | undefined {
  if (s && !s.type && !s.properties && !s.items && !s.additionalProperties && Array.isArray(s.allOf) && s.allOf.length === 1) return s.allOf[0];
  return s;
}

function deduce(v: Json): Atom {
  if (isMap(v)) return { kind: 'map', atomic: false };
  if (Array.isArray(v)) return { kind: 'list', rel: 'atomic', keys: [] };
  return { kind: 'scalar' };
}

function atomOf(schema: JSONSchema | undefined, v: Json): Atom {
  const s = unwrap(schema);
  if (!s) return deduce(v);
  if (s.type === 'array' || s.items) {
    const lt = s['x-kubernetes-list-type'];
    const item = unwrap(s.items);
    if (lt === 'map') return { kind: 'list', rel: 'map', keys: s['x-kubernetes-list-map-keys'] ?? [], elem: item };
    if (lt === 'set') return { kind: 'list', rel: 'set', keys: [], elem: item };
    if (lt === 'atomic') return { kind: 'list', rel: 'atomic', keys: [], elem: item };
    // Built-in lists without a list type: the strategic-merge-patch annotations decide, as for Go types.
    const strategy = String(s['x-kubernetes-patch-strategy'] ?? '');
    if (strategy.split(',').includes('merge')) {
      const mk = s['x-kubernetes-patch-merge-key'];
      return mk ? { kind: 'list', rel: 'map', keys: [mk], elem: item } : { kind: 'list', rel: 'set', keys: [], elem: item };
    }
    return { kind: 'list', rel: 'atomic', keys: [], elem: item };
  }
  if (s.type === 'object' || s.properties || s.additionalProperties) {
    const atomic = s['x-kubernetes-map-type'] === 'atomic';
    const elem = isMap(s.additionalProperties) ? s.additionalProperties : undefined;
    return { kind: 'map', atomic, fields: s.properties, elem };
  }
  if (s['x-kubernetes-int-or-string'] || s.type) return { kind: 'scalar' };
  return deduce(v); // preserve-unknown-fields without a type
}

/** The atom for a value; a value whose shape contradicts the schema is read as a scalar (a leaf). */
function atomFor(schema: JSONSchema | undefined, v: Json): Atom {
  const a = atomOf(schema, v);
  if (v === undefined || v === null) return a;
  if (a.kind === 'map' && !isMap(v)) return { kind: 'scalar' };
  if (a.kind === 'list' && !Array.isArray(v)) return { kind: 'scalar' };
  return a;
}

function fieldSchema(a: Extract<Atom, { kind: 'map' }>, k: string): JSONSchema | undefined {
  if (a.fields && Object.hasOwn(a.fields, k)) return a.fields[k];
  return a.elem;
}

const isNamed = (a: Extract<Atom, { kind: 'map' }>, k: string) => !!a.fields && Object.hasOwn(a.fields, k);

/** The path element of one list item. */
function itemPE(a: Extract<Atom, { kind: 'list' }>, item: Json, i: number): string {
  if (a.rel === 'set') return valuePE(item);
  if (a.rel === 'map' && isMap(item) && a.keys.length) {
    const key: Record<string, Json> = {};
    const props = unwrap(a.elem)?.properties ?? {};
    for (const k of a.keys) {
      const v = item[k] ?? unwrap(props[k])?.default;
      if (v !== undefined) key[k] = v;
    }
    if (Object.keys(key).length) return keyPE(key);
  }
  return indexPE(i);
}

/** Items by path element; later duplicates are dropped (they cannot be addressed). */
function indexItems(a: Extract<Atom, { kind: 'list' }>, list: Json[]): Map<string, Json> {
  const out = new Map<string, Json>();
  list.forEach((item, i) => {
    const pe = itemPE(a, item, i);
    if (!out.has(pe)) out.set(pe, item);
  });
  return out;
}

const emptyish = (v: Json) => v === null || v === undefined || (Array.isArray(v) && !v.length) || (isMap(v) && !Object.keys(v).length);

// ---- field set of a value ---------------------------------------------------------------------

/** Every field a value sets: the ownership an applier takes for this configuration. */
export function toFieldSet(value: Json, schema: JSONSchema | undefined): FieldSet {
  const set = new FieldSet();
  walkSet(value, schema, [], set);
  return set;
}

function walkSet(v: Json, schema: JSONSchema | undefined, path: Path, set: FieldSet): void {
  const a = atomFor(schema, v);
  if (a.kind === 'scalar' || (a.kind === 'map' && a.atomic) || (a.kind === 'list' && a.rel === 'atomic')) {
    set.insert(path);
    return;
  }
  if (a.kind === 'list') {
    if (!Array.isArray(v)) return;
    for (const [pe, item] of indexItems(a, v)) {
      walkSet(item, a.elem, [...path, pe], set);
      set.insert([...path, pe]);
    }
    return;
  }
  if (!isMap(v)) return;
  for (const [k, child] of Object.entries(v)) {
    const p = [...path, fieldPE(k)];
    walkSet(child, fieldSchema(a, k), p, set);
    if (child === null || (isMap(child) && !Object.keys(child).length) || !isNamed(a, k)) set.insert(p);
  }
}

// ---- comparison -------------------------------------------------------------------------------

export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** What changed from lhs to rhs, as structured-merge-diff's Compare reports it. */
export function compare(lhs: Json, rhs: Json, schema: JSONSchema | undefined): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  walkCompare(lhs, rhs, schema, [], c);
  return c;
}

function walkCompare(l: Json, r: Json, schema: JSONSchema | undefined, path: Path, c: Comparison): void {
  const al = atomFor(schema, l);
  const ar = atomFor(schema, r);
  const leaf = () => {
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
    else if (!deepEqual(l, r)) c.modified.insert(path);
  };
  const a = r === undefined ? al : ar;
  if (l !== undefined && r !== undefined && al.kind !== ar.kind) return leaf();
  if (a.kind === 'scalar') return leaf();
  if (a.kind === 'list') {
    if (a.rel === 'atomic' || (emptyish(l) && emptyish(r))) return leaf();
    const li = indexItems(a, Array.isArray(l) ? l : []);
    const ri = indexItems(a, Array.isArray(r) ? r : []);
    for (const pe of new Set([...li.keys(), ...ri.keys()])) walkCompare(li.get(pe), ri.get(pe), a.elem, [...path, pe], c);
  } else {
    if (a.atomic || (emptyish(l) && emptyish(r))) return leaf();
    const lm = isMap(l) ? l : {};
    const rm = isMap(r) ? r : {};
    for (const k of new Set([...Object.keys(lm), ...Object.keys(rm)])) walkCompare(lm[k], rm[k], fieldSchema(a, k), [...path, fieldPE(k)], c);
  }
  if (l === undefined) c.added.insert(path);
  else if (r === undefined) c.removed.insert(path);
}

// ---- merge ------------------------------------------------------------------------------------

/** Apply's merge: the configuration wins, granular maps and lists merge item by item. */
export function merge(lhs: Json, rhs: Json, schema: JSONSchema | undefined): Json {
  if (rhs === undefined) return lhs;
  if (lhs === undefined || lhs === null) return deepClone(rhs);
  const a = atomFor(schema, rhs);
  const al = atomFor(schema, lhs);
  if (a.kind !== al.kind || a.kind === 'scalar') return deepClone(rhs);
  if (a.kind === 'list') {
    if (a.rel === 'atomic' || !Array.isArray(lhs) || !Array.isArray(rhs)) return deepClone(rhs);
    const ri = indexItems(a, rhs);
    const seen = new Set<string>();
    const out: Json[] = [];
    lhs.forEach((item, i) => {
      const pe = itemPE(a, item, i);
      if (seen.has(pe)) return;
      seen.add(pe);
      out.push(ri.has(pe) ? merge(item, ri.get(pe), a.elem) : item);
    });
    for (const [pe, item] of ri) if (!seen.has(pe)) out.push(deepClone(item));
    return out;
  }
  if (a.atomic || !isMap(lhs) || !isMap(rhs)) return deepClone(rhs);
  const out: Record<string, Json> = { ...lhs };
  for (const [k, v] of Object.entries(rhs)) out[k] = merge(lhs[k], v, fieldSchema(a, k));
  return out;
}

// ---- removal ----------------------------------------------------------------------------------

/**
 * The value without the items in `set`. A member path takes its whole subtree with it; a map or list
 * left empty by the removal disappears too.
 */
export function removeItems(value: Json, set: FieldSet, schema: JSONSchema | undefined): Json {
  const out = removeWalk(value, set, schema);
  return out === undefined && isMap(value) ? {} : out;
}

function removeWalk(v: Json, set: FieldSet, schema: JSONSchema | undefined): Json {
  const a = atomFor(schema, v);
  if (a.kind === 'list' && a.rel !== 'atomic' && Array.isArray(v)) {
    const out: Json[] = [];
    const seen = new Set<string>();
    v.forEach((item, i) => {
      const pe = itemPE(a, item, i);
      if (seen.has(pe)) return;
      seen.add(pe);
      if (set.members.has(pe)) return;
      const sub = set.withPrefix(pe);
      const kept = sub ? removeWalk(item, sub, a.elem) : item;
      if (kept !== undefined) out.push(kept);
    });
    return out.length || !v.length ? out : undefined;
  }
  if (a.kind === 'map' && !a.atomic && isMap(v)) {
    const out: Record<string, Json> = {};
    for (const [k, child] of Object.entries(v)) {
      const pe = fieldPE(k);
      if (set.members.has(pe)) continue;
      const sub = set.withPrefix(pe);
      const kept = sub ? removeWalk(child, sub, fieldSchema(a, k)) : child;
      if (kept !== undefined) out[k] = kept;
    }
    return Object.keys(out).length || !Object.keys(v).length ? out : undefined;
  }
  return v;
}

/** The set plus every struct field that has members below it (fieldpath.Set.EnsureNamedFieldsAreMembers). */
export function ensureNamedFieldsAreMembers(set: FieldSet, schema: JSONSchema | undefined): FieldSet {
  const out = new FieldSet();
  for (const m of set.members) out.members.add(m);
  const a = atomOf(schema, undefined);
  for (const [pe, child] of set.children) {
    let childSchema: JSONSchema | undefined;
    if (a.kind === 'map') {
      const name = pe.startsWith('f:') ? pe.slice(2) : undefined;
      if (name !== undefined) {
        childSchema = fieldSchema(a, name);
        if (isNamed(a, name)) out.members.add(pe);
      }
    } else if (a.kind === 'list') {
      childSchema = a.elem;
    }
    out.children.set(pe, ensureNamedFieldsAreMembers(child, childSchema));
  }
  return out;
}

/** Removes managedFields (never part of any field set) from a copy of the object. */
export function withoutManagedFields(obj: KObject): KObject {
  const { metadata, ...rest } = obj;
  if (!isMap(metadata)) return { ...rest, ...(metadata !== undefined ? { metadata } : {}) };
  const { managedFields: _m, ...meta } = metadata;
  return { ...rest, metadata: meta };
}
