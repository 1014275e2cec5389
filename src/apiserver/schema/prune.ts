// Pruning of fields the structural schema does not specify, as apiextensions does on decoding a custom resource:
// ObjectMeta decoding drops unknown metadata fields (GetObjectMetaWithOptions), pruning.PruneWithOptions drops the
// rest, and the embedded resources' metadata is coerced the same way (objectmeta.CoerceWithOptions). The removed
// paths come back in that order (the last two groups sorted), ready for `unknown field "<path>"`.

import type { KObject } from '../resource.ts';
import { isObject, type Node } from './compile.ts';
import { child, index, key } from './field.ts';
import { META, META_SCHEMAS, OBJECT_META_FIELDS } from './meta.ts';

const TYPE_AND_OBJECT_META = new Set(['apiVersion', 'kind', 'metadata']);

// What ObjectMeta, OwnerReference and ManagedFieldsEntry decoding keeps.
const known = (kind: string) => new Set(Object.keys(META_SCHEMAS[`${META}.${kind}`].properties));
const OWNER_REFERENCE = known('OwnerReference');
const MANAGED_FIELDS_ENTRY = known('ManagedFieldsEntry');

/** Prunes obj in place against root (the resource root: apiVersion, kind and metadata are always kept). */
export function pruneObject(root: Node, obj: KObject): string[] {
  const meta: string[] = [];
  pruneObjectMeta(obj, '', meta);
  const pruned: string[] = [];
  prune(obj, root, '', pruned, true);
  const embedded: string[] = [];
  coerceEmbedded(obj, root, '', embedded);
  return [...meta, ...pruned.sort(), ...embedded.sort()];
}

/** pruning.Prune of any value against its node; returns the removed paths (unsorted). */
export function pruneValue(x: unknown, s: Node, path: string): string[] {
  const out: string[] = [];
  prune(x, s, path, out);
  return out;
}

/** The schema for a key of an object node: properties, else additionalProperties (none for a bare boolean). */
function apSchema(s: Node): Node | undefined {
  return typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
}

function prune(x: unknown, s: Node | undefined, path: string, out: string[], embedded = s?.embedded ?? false): void {
  if (s?.preserveUnknown) return skipPrune(x, s, path, out, embedded);
  if (Array.isArray(x)) {
    x.forEach((v, i) => prune(v, s?.items, index(path, i), out));
  } else if (isObject(x)) {
    for (const k of Object.keys(x)) {
      if (embedded && TYPE_AND_OBJECT_META.has(k)) continue;
      const p = s?.properties?.get(k);
      if (p) prune(x[k], p, child(path, k), out);
      else if (s && s.additionalProperties !== undefined) prune(x[k], apSchema(s), child(path, k), out);
      else {
        out.push(child(path, k));
        delete x[k];
      }
    }
  }
}

// x-kubernetes-preserve-unknown-fields: keep unknown keys, but still prune inside the specified ones.
function skipPrune(x: unknown, s: Node | undefined, path: string, out: string[], embedded: boolean): void {
  if (!s) return;
  if (Array.isArray(x)) {
    x.forEach((v, i) => skipPrune(v, s.items, index(path, i), out, s.items?.embedded ?? false));
  } else if (isObject(x)) {
    for (const k of Object.keys(x)) {
      if (embedded && TYPE_AND_OBJECT_META.has(k)) continue;
      const p = s.properties?.get(k);
      if (p) prune(x[k], p, child(path, k), out);
      else if (s.additionalProperties !== undefined) prune(x[k], apSchema(s), child(path, k), out);
    }
  }
}

/**
 * Drops what ObjectMeta decoding drops: unknown fields (reported) and nulls (silently, they decode to zero
 * values), also inside ownerReferences and managedFields entries.
 */
function pruneObjectMeta(obj: Record<string, unknown>, path: string, out: string[]): void {
  const meta = obj.metadata;
  if (!isObject(meta)) return;
  const prefix = child(path, 'metadata');
  pruneKnown(meta, OBJECT_META_FIELDS, prefix, out);
  for (const [list, fields] of [
    ['ownerReferences', OWNER_REFERENCE],
    ['managedFields', MANAGED_FIELDS_ENTRY],
  ] as const) {
    const items = meta[list];
    if (Array.isArray(items)) items.forEach((e, i) => isObject(e) && pruneKnown(e, fields, index(`${prefix}.${list}`, i), out));
  }
}

function pruneKnown(o: Record<string, unknown>, known: ReadonlySet<string>, prefix: string, out: string[]): void {
  for (const k of Object.keys(o)) {
    if (o[k] === null) delete o[k];
    else if (!known.has(k)) {
      out.push(`${prefix}.${k}`);
      delete o[k];
    }
  }
}

function coerceEmbedded(x: unknown, s: Node | undefined, path: string, out: string[]): void {
  if (!s?.hasEmbedded) return;
  if (Array.isArray(x)) {
    x.forEach((v, i) => coerceEmbedded(v, s.items, index(path, i), out));
  } else if (isObject(x)) {
    for (const k of Object.keys(x)) {
      const p = s.properties?.get(k);
      if (p) {
        if (p.embedded && isObject(x[k])) pruneObjectMeta(x[k] as Record<string, unknown>, child(path, k), out);
        coerceEmbedded(x[k], p, child(path, k), out);
      } else if (s.additionalProperties !== undefined) {
        const ap = apSchema(s);
        if (ap?.embedded && isObject(x[k])) pruneObjectMeta(x[k] as Record<string, unknown>, key(path, k), out);
        coerceEmbedded(x[k], ap, key(path, k), out);
      }
    }
  }
}
