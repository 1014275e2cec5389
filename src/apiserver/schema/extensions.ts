// Validation of the Kubernetes schema extensions that kube-openapi does not know: x-kubernetes-list-type set/map
// uniqueness (listtype.ValidateListSetsAndMaps) and the TypeMeta of x-kubernetes-embedded-resource objects
// (objectmeta.Validate). Both walk the structural part of the schema only.

import type { FieldError } from '../errors.ts';
import { isObject, type Node } from './compile.ts';
import { child, duplicate, goJSON, index, invalid, key, required } from './field.ts';
import { dns1035Label } from './names.ts';

export function validateListTypes(s: Node, obj: Record<string, unknown>, path = ''): FieldError[] {
  const errs: FieldError[] = [];
  if (!s.hasListType) return errs;
  const ap = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
  if (ap) for (const k of Object.keys(obj)) errs.push(...listsIn(key(path, k), ap, obj[k]));
  if (s.properties) {
    for (const k of Object.keys(obj)) {
      const p = s.properties.get(k);
      if (p) errs.push(...listsIn(child(path, k), p, obj[k]));
    }
  }
  return errs;
}

function listsIn(path: string, s: Node, v: unknown): FieldError[] {
  if (Array.isArray(v)) return listsInArray(path, s, v);
  if (isObject(v)) return validateListTypes(s, v, path);
  return [];
}

function listsInArray(path: string, s: Node, arr: unknown[]): FieldError[] {
  const errs: FieldError[] = [];
  if (s.listType === 'set') for (const i of duplicates(arr)) errs.push(duplicate(index(path, i), arr[i]));
  else if (s.listType === 'map') errs.push(...listMapDuplicates(path, s, arr));
  if (s.items) arr.forEach((v, i) => errs.push(...listsIn(index(path, i), s.items!, v)));
  return errs;
}

const UNSPECIFIED = Symbol('unspecified key');

/** Indices of the second occurrence of each repeated element (later repeats are not reported again). */
function duplicates(list: unknown[]): number[] {
  const scalars = new Map<unknown, number>();
  const compounds = new Map<string, number>(); // objects and arrays compare by their JSON encoding
  const out: number[] = [];
  list.forEach((x, i) => {
    const compound = x !== null && typeof x === 'object';
    const id = compound ? goJSON(x) : x;
    const seen: Map<unknown, number> = compound ? compounds : scalars;
    const times = seen.get(id) ?? 0;
    if (times === 1) out.push(i);
    seen.set(id, times + 1);
  });
  return out;
}

function listMapDuplicates(path: string, s: Node, arr: unknown[]): FieldError[] {
  const bad = arr.findIndex((x) => x !== null && !isObject(x));
  if (bad >= 0) return [invalid(index(path, bad), arr[bad], 'must be an object for an array of list-type map')];
  if (arr.length <= 1) return [];
  if (s.listMapKeys.length === 1) {
    const k = s.listMapKeys[0];
    const keys = arr.map((x) => (isObject(x) && Object.hasOwn(x, k) ? x[k] : UNSPECIFIED));
    return duplicates(keys).map((i) => duplicate(index(path, i), keys[i] === UNSPECIFIED ? {} : { [k]: keys[i] }));
  }
  const keys = arr.map((x) => {
    const entry: Record<string, unknown> = {};
    if (isObject(x)) for (const k of s.listMapKeys) if (Object.hasOwn(x, k)) entry[k] = x[k];
    return entry;
  });
  return duplicates(keys).map((i) => duplicate(index(path, i), keys[i]));
}

/** apiVersion and kind of embedded resources; their metadata is not validated here. */
export function validateEmbedded(x: unknown, s: Node | undefined, path = ''): FieldError[] {
  if (!s?.hasEmbedded) return [];
  const errs: FieldError[] = [];
  if (Array.isArray(x)) {
    x.forEach((v, i) => errs.push(...validateEmbedded(v, s.items, index(path, i))));
  } else if (isObject(x)) {
    if (s.embedded) errs.push(...typeMeta(x, path));
    const ap = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
    for (const k of Object.keys(x)) {
      const p = s.properties?.get(k);
      if (p) errs.push(...validateEmbedded(x[k], p, child(path, k)));
      else if (s.additionalProperties !== undefined) errs.push(...validateEmbedded(x[k], ap, key(path, k)));
    }
  }
  return errs;
}

function typeMeta(x: Record<string, unknown>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!Object.hasOwn(x, 'apiVersion')) errs.push(required(child(path, 'apiVersion'), 'must not be empty'));
  if (!Object.hasOwn(x, 'kind')) errs.push(required(child(path, 'kind'), 'must not be empty'));
  for (const k of Object.keys(x)) {
    const v = x[k];
    const p = child(path, k);
    if (k === 'apiVersion') {
      if (typeof v !== 'string') errs.push(invalid(p, v, 'must be a string'));
      else if (!v) errs.push(invalid(p, v, 'must not be empty'));
      else if (v.split('/').length > 2) errs.push(invalid(p, v, `unexpected GroupVersion string: ${v}`));
    } else if (k === 'kind') {
      if (typeof v !== 'string') errs.push(invalid(p, v, 'must be a string'));
      else if (!v) errs.push(invalid(p, v, 'must not be empty'));
      else {
        const msgs = dns1035Label(v.toLowerCase());
        if (msgs.length) errs.push(invalid(p, v, `may have mixed case, but should otherwise match: ${msgs.join(',')}`));
      }
    }
  }
  return errs;
}
