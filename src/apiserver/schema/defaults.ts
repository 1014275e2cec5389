// Structural defaulting as apiextensions does it (schema/defaulting): nulls that are neither nullable nor
// defaulted are dropped first (PruneNonNullableNullsWithoutDefaults), then defaults fill missing fields and
// non-nullable nulls. Defaults apply only where the parent object exists, and recurse into what they add.

import { fieldSchema, isObject, type Node } from './compile.ts';

const nonNullableNull = (x: unknown, s: Node | undefined): s is Node => x === null && !!s && !s.nullable;

export function pruneNulls(x: unknown, s: Node | undefined): void {
  if (Array.isArray(x)) {
    for (const v of x) pruneNulls(v, s?.items);
  } else if (isObject(x)) {
    for (const k of Object.keys(x)) {
      const sub = fieldSchema(s, k);
      if (nonNullableNull(x[k], sub) && !sub.hasDefault) delete x[k];
      else pruneNulls(x[k], sub);
    }
  }
}

export function applyDefaults(x: unknown, s: Node | undefined): void {
  if (!s) return;
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) {
      if (nonNullableNull(x[i], s.items) && s.items.hasDefault) x[i] = structuredClone(s.items.default);
      applyDefaults(x[i], s.items);
    }
  } else if (isObject(x)) {
    if (s.properties) {
      for (const [k, p] of s.properties) {
        if (p.hasDefault && (!Object.hasOwn(x, k) || nonNullableNull(x[k], p))) x[k] = structuredClone(p.default);
      }
    }
    const ap = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
    for (const k of Object.keys(x)) {
      const p = s.properties?.get(k);
      if (p) applyDefaults(x[k], p);
      else if (ap) {
        if (nonNullableNull(x[k], ap) && ap.hasDefault) x[k] = structuredClone(ap.default);
        applyDefaults(x[k], ap);
      }
    }
  }
}
