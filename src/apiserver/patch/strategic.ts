// Strategic merge patch, applied the way kube-apiserver applies it to built-in kinds
// (k8s.io/apimachinery/pkg/util/strategicpatch, mergeMap with MergeParallelList and IgnoreUnmatchedNulls).
//
// Merge metadata comes from the object's structural schema: `x-kubernetes-patch-strategy` and
// `x-kubernetes-patch-merge-key` on the property schema, descending through `properties`, `items`
// and `additionalProperties`. Paths the schema does not describe merge maps and replace lists.
//
// Error classes follow the apiserver's interpretStrategicMergePatchError: malformed directives are
// 400 BadRequest, lists of lists are a bare 422, and everything else surfaces as a 500 carrying the
// library's own text (that is what the real server answers, e.g. for a missing merge key).

import { StatusError, badRequest } from '../errors.ts';
import { deepClone } from '../../common/json.ts';
import type { JSONSchema } from '../resource.ts';

type JMap = Record<string, unknown>;

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';
const SET_ELEMENT_ORDER = '$setElementOrder';

// ---- errors ----------------------------------------------------------------------------------

const ErrBadPatchFormatForPrimitiveList = () => badRequest('invalid patch format of primitive list');
const ErrBadPatchFormatForRetainKeys = () => badRequest('invalid patch format of retainKeys');
const ErrBadPatchFormatForSetElementOrderList = () => badRequest('invalid patch format of setElementOrder list');
// NewGenericServerResponse(422) drops the library text and keeps only this sentence.
export function patchRejected(): StatusError {
  return new StatusError(422, 'Invalid', 'the server rejected our request due to an error in our request', {});
}
const ErrNoListOfLists = patchRejected;
// Plain Go errors reach the client as a 500 with an empty (Unknown) reason and the raw text.
const plainError = (message: string) => new StatusError(500, '', message);
const ErrNoMergeKey = (m: JMap, key: string) => plainError(`map: ${goV(m)} does not contain declared merge key: ${key}`);
const ErrBadArgType = (expected: string, actual: unknown) => plainError(`expected a ${expected}, but received a ${goType(actual)}`);
const ErrBadPatchType = (t: unknown, m: JMap) => plainError(`unknown patch type: ${goV(t)} in map: ${goV(m)}`);

const MAP_T = 'map[string]interface {}';
const SLICE_T = '[]interface {}';

/** Go's %v rendering of decoded JSON, used in error texts so they read like the real server's. */
function goV(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goV).join(' ')}]`;
  if (typeof v === 'object') {
    const m = v as JMap;
    return `map[${Object.keys(m)
      .sort()
      .map((k) => `${k}:${goV(m[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

function goType(v: unknown): string {
  if (v === null || v === undefined) return '%!s(<nil>)';
  if (Array.isArray(v)) return SLICE_T;
  if (typeof v === 'object') return MAP_T;
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  return typeof v === 'boolean' ? 'bool' : 'string';
}

// ---- small helpers ---------------------------------------------------------------------------

function isMap(v: unknown): v is JMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const has = (m: JMap, k: string) => Object.hasOwn(m, k);

/** Assign without ever touching a prototype (a patch may carry a "__proto__" key). */
function put(m: JMap, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(m, k, { value: v, enumerable: true, writable: true, configurable: true });
  else m[k] = v;
}

type Kind = 'map' | 'slice' | 'scalar';
function kindOf(v: unknown): Kind {
  return Array.isArray(v) ? 'slice' : isMap(v) ? 'map' : 'scalar';
}

/** Types as reflect.TypeOf sees them for "same type?" checks; numbers are one type here. */
function typeKey(v: unknown): string {
  return v === null ? 'nil' : Array.isArray(v) ? 'slice' : typeof v === 'object' ? 'map' : typeof v;
}

function isDirectiveKey(k: string): boolean {
  return k === DIRECTIVE || k === RETAIN_KEYS || k.startsWith(`${SET_ELEMENT_ORDER}/`) || k.startsWith(`${DELETE_FROM_PRIMITIVE_LIST}/`);
}

/**
 * A patch value taken wholesale: maps carrying `$patch` vanish (removeDirectives), null members are
 * dropped (discardNullValuesFromPatch) and leftover directive keys are removed, which is what decoding
 * into the typed object does on the real server.
 */
function clean(v: unknown): { keep: boolean; value: unknown } {
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const item of v) {
      const r = clean(item);
      if (r.keep) out.push(r.value);
    }
    return { keep: true, value: out };
  }
  if (isMap(v)) {
    if (has(v, DIRECTIVE)) return { keep: false, value: undefined };
    const out: JMap = {};
    for (const [k, child] of Object.entries(v)) {
      if (child === null || isDirectiveKey(k)) continue;
      const r = clean(child);
      if (r.keep) put(out, k, r.value);
    }
    return { keep: true, value: out };
  }
  return { keep: true, value: v };
}

function setCleaned(original: JMap, key: string, patchV: unknown): void {
  const r = clean(patchV);
  if (r.keep) put(original, key, r.value);
  else delete original[key];
}

/** "$setElementOrder/containers" -> "containers" */
function extractKey(s: string, prefix: string): string {
  const slash = s.indexOf('/');
  if (slash < 0 || s.slice(0, slash) !== prefix) {
    throw prefix === DELETE_FROM_PRIMITIVE_LIST ? ErrBadPatchFormatForPrimitiveList() : ErrBadPatchFormatForSetElementOrderList();
  }
  return s.slice(slash + 1);
}

// ---- schema lookup ---------------------------------------------------------------------------

interface PatchMeta {
  strategies: string[];
  mergeKey: string;
}

function unwrap(s: JSONSchema | undefined): JSONSchema | undefined {
  // Generated OpenAPI wraps referenced types as allOf:[{...}] so siblings like `default` can sit beside them.
  if (s && !s.properties && !s.items && !s.additionalProperties && Array.isArray(s.allOf) && s.allOf.length === 1) return s.allOf[0];
  return s;
}

function propertySchema(schema: JSONSchema | undefined, key: string): JSONSchema | undefined {
  const s = unwrap(schema);
  if (!s) return undefined;
  if (isMap(s.properties) && has(s.properties, key)) return s.properties[key] as JSONSchema;
  if (isMap(s.additionalProperties)) return s.additionalProperties;
  return undefined;
}

function patchMetaOf(s: JSONSchema | undefined): PatchMeta {
  const strategy = s?.['x-kubernetes-patch-strategy'];
  const mergeKey = s?.['x-kubernetes-patch-merge-key'];
  return {
    strategies: typeof strategy === 'string' && strategy !== '' ? strategy.split(',') : [],
    mergeKey: typeof mergeKey === 'string' ? mergeKey : '',
  };
}

function lookupForStruct(schema: JSONSchema | undefined, key: string): [JSONSchema | undefined, PatchMeta] {
  const sub = propertySchema(schema, key);
  return [sub, patchMetaOf(sub)];
}

function lookupForSlice(schema: JSONSchema | undefined, key: string): [JSONSchema | undefined, PatchMeta] {
  const sub = propertySchema(schema, key);
  return [unwrap(sub)?.items as JSONSchema | undefined, patchMetaOf(sub)];
}

/** Go reports a missing merge key with the element's reflect kind; approximate it from the schema. */
function schemaName(s: JSONSchema | undefined): string {
  const u = unwrap(s);
  return u?.properties ? 'struct' : u?.additionalProperties ? 'map' : 'interface';
}

/** "merge,retainKeys" -> "merge": retainKeys only matters when computing patches, not applying them. */
function nonRetainKeysStrategy(strategies: string[]): string {
  if (strategies.length === 0) return '';
  if (strategies.length === 1) return strategies[0] === 'retainKeys' ? '' : strategies[0];
  if (strategies.length === 2) {
    if (strategies[0] === 'retainKeys') return strategies[1];
    if (strategies[1] === 'retainKeys') return strategies[0];
  }
  throw plainError(`unexpected patch strategy: [${strategies.join(' ')}]`);
}

// ---- maps ------------------------------------------------------------------------------------

function mergeMap(original: JMap, patch: JMap, schema: JSONSchema | undefined): JMap {
  if (has(patch, DIRECTIVE)) {
    const directive = patch[DIRECTIVE];
    if (directive === 'replace') {
      delete patch[DIRECTIVE];
      return clean(patch).value as JMap;
    }
    if (directive === 'delete') return {};
    // `$patch: merge` is the default behaviour but the real server rejects it on maps all the same.
    throw ErrBadPatchType(directive, patch);
  }

  applyRetainKeysDirective(original, patch);
  mergeSetElementOrderLists(original, patch, schema);

  for (const k of Object.keys(patch)) {
    const patchV = patch[k];
    let key = k;
    let isDeleteList = false;
    if (k.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      key = extractKey(k, DELETE_FROM_PRIMITIVE_LIST);
      isDeleteList = true;
    }

    if (patchV === null) {
      delete original[key];
      continue;
    }
    // A value the original lacks (or holds in another shape) is taken from the patch, minus nulls
    // and directives; a deletion list for a missing list is a no-op.
    if (!has(original, key) || typeKey(original[key]) !== typeKey(patchV)) {
      if (!isDeleteList) setCleaned(original, key, patchV);
      continue;
    }

    const origV = original[key];
    switch (kindOf(origV)) {
      case 'map': {
        const [sub, meta] = lookupForStruct(schema, key);
        const strategy = nonRetainKeysStrategy(meta.strategies);
        if (strategy === 'replace') setCleaned(original, key, patchV);
        else put(original, key, mergeMap(origV as JMap, patchV as JMap, sub));
        break;
      }
      case 'slice': {
        const [sub, meta] = lookupForSlice(schema, key);
        const strategy = nonRetainKeysStrategy(meta.strategies);
        put(original, key, mergeSliceHandler(origV as unknown[], patchV as unknown[], sub, strategy, meta.mergeKey, isDeleteList));
        break;
      }
      default:
        put(original, key, patchV);
    }
  }
  return original;
}

/** `$retainKeys: [a, b]` clears every other key of the original map; the patch may only set listed keys. */
function applyRetainKeysDirective(original: JMap, patch: JMap): void {
  if (!has(patch, RETAIN_KEYS)) return;
  const list = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(list)) throw ErrBadPatchFormatForRetainKeys();
  const retained = new Set(list.filter((v): v is string => typeof v === 'string'));
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_FROM_PRIMITIVE_LIST) || k.startsWith(SET_ELEMENT_ORDER)) continue;
    if (!retained.has(k)) throw ErrBadPatchFormatForRetainKeys();
  }
  for (const k of Object.keys(original)) if (!retained.has(k)) delete original[k];
}

/**
 * `$setElementOrder/<list>` fixes the order of the patched list: items named in the directive come in
 * its order, server-only items keep their relative live order and are interleaved where they were.
 * The list itself is merged here too and removed from the patch.
 */
function mergeSetElementOrderLists(original: JMap, patch: JMap, schema: JSONSchema | undefined): void {
  for (const key of Object.keys(patch).filter((k) => k.startsWith(SET_ELEMENT_ORDER))) {
    const order = patch[key];
    delete patch[key];
    if (!Array.isArray(order)) throw ErrBadArgType(SLICE_T, order);
    const listKey = extractKey(key, SET_ELEMENT_ORDER);

    const foundOriginal = has(original, listKey);
    const foundPatch = has(patch, listKey);
    const origList = original[listKey];
    const patchList = patch[listKey];
    if (foundOriginal && !Array.isArray(origList)) throw ErrBadArgType(SLICE_T, origList);
    if (foundPatch && !Array.isArray(patchList)) throw ErrBadArgType(SLICE_T, patchList);
    const origItems = (foundOriginal ? origList : []) as unknown[];
    const patchItems = (foundPatch ? patchList : []) as unknown[];

    const [sub, meta] = lookupForSlice(schema, listKey);
    const strategy = nonRetainKeysStrategy(meta.strategies);
    validatePatchWithSetOrderList(patchItems, order, meta.mergeKey);

    let merged: unknown[];
    if (foundOriginal && !foundPatch) merged = origItems;
    else if (!foundOriginal && foundPatch) merged = clean(patchItems).value as unknown[];
    else if (foundOriginal && foundPatch) merged = mergeSliceHandler(origItems, patchItems, sub, strategy, meta.mergeKey, false);
    else continue;

    const [inOrder, serverOnly] = partition(merged, order, meta.mergeKey);
    const kind = sliceElementKind(origItems, patchItems);
    const mergedByKey = foundOriginal && foundPatch && strategy === 'merge' && kind === 'map';
    const serverOrder = mergedByKey ? aliasedLiveList(origItems, patchItems as JMap[], meta.mergeKey) : origItems;
    put(original, listKey, normalizeElementOrder(inOrder, serverOnly, order, serverOrder, meta.mergeKey, kind));
    delete patch[listKey];
  }
}

/**
 * The live list as upstream sees it after merging: its merge deletes items by shifting them left in
 * place and appends new items into the freed slots, all visible through the original slice header.
 * Upstream orders server-only items by that view, so reproducing it reproduces its result order
 * (e.g. delete "1" and add "3" to live [1,2,4] with order [2,3] gives [2,4,3]).
 */
function aliasedLiveList(original: unknown[], patch: JMap[], mergeKey: string): unknown[] {
  const backing = original.slice();
  let len = backing.length;
  let replace = false;
  const keyOf = (v: unknown) => (isMap(v) && has(v, mergeKey) ? v[mergeKey] : undefined);
  for (const item of patch) {
    if (!has(item, DIRECTIVE)) continue;
    if (item[DIRECTIVE] === 'replace') replace = true;
    if (item[DIRECTIVE] !== 'delete') continue;
    const find = () => backing.slice(0, len).findIndex((v) => keyOf(v) === item[mergeKey]);
    for (let k = find(); k >= 0; k = find()) {
      backing.copyWithin(k, k + 1, len);
      len--;
    }
  }
  if (replace) return backing;
  const current = backing.slice(0, len);
  for (const item of patch) {
    if (has(item, DIRECTIVE) || current.some((v) => keyOf(v) === item[mergeKey])) continue;
    if (current.length < backing.length) backing[current.length] = item;
    current.push(item);
  }
  return backing;
}

/** The non-deleted patch items must appear in the directive, in the same relative order. */
function validatePatchWithSetOrderList(patchList: unknown[], order: unknown[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  const nonDelete = mergeKey ? splitDeleteItems(patchList)[0] : patchList;
  let p = 0;
  let o = 0;
  while (p < nonDelete.length && o < order.length) {
    const item = nonDelete[p];
    if (isMap(item) && has(item, DIRECTIVE)) {
      p++;
      continue;
    }
    if (mergeKeyValueEqual(item, order[o], mergeKey)) p++;
    o++;
  }
  if (p < nonDelete.length && o >= order.length) {
    throw plainError(`The order in patch list:\n${goV(patchList)}\n doesn't match ${SET_ELEMENT_ORDER} list:\n${goV(order)}\n`);
  }
}

function mergeKeyValueEqual(left: unknown, right: unknown, mergeKey: string): boolean {
  if (!mergeKey) return left === right;
  if (!isMap(left)) throw ErrBadArgType(MAP_T, left);
  if (!isMap(right)) throw ErrBadArgType(MAP_T, right);
  if (!has(left, mergeKey)) throw ErrNoMergeKey(left, mergeKey);
  if (!has(right, mergeKey)) throw ErrNoMergeKey(right, mergeKey);
  return left[mergeKey] === right[mergeKey];
}

// ---- lists -----------------------------------------------------------------------------------

function mergeSliceHandler(
  original: unknown[],
  patch: unknown[],
  schema: JSONSchema | undefined,
  strategy: string,
  mergeKey: string,
  isDeleteList: boolean,
): unknown[] {
  // Deletion lists apply whatever the field's strategy; otherwise only "merge" lists merge.
  if (strategy === 'merge' || isDeleteList) return mergeSlice(original, patch, schema, mergeKey, isDeleteList);
  return clean(patch).value as unknown[];
}

function mergeSlice(original: unknown[], patch: unknown[], schema: JSONSchema | undefined, mergeKey: string, isDeleteList: boolean): unknown[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = sliceElementKind(original, patch);

  let merged: unknown[];
  let patchOrder: unknown[];
  let serverOrder: unknown[];
  if (kind !== 'map') {
    if (isDeleteList) return original.filter((v) => !patch.includes(v));
    // Primitive lists with strategy merge are sets.
    merged = [...new Set([...original, ...patch])];
    patchOrder = patch;
    serverOrder = original;
  } else {
    if (!mergeKey) throw plainError(`cannot merge lists without merge key for ${schemaName(schema)}`);
    const [base, items] = applySpecialElements(original, patch as JMap[], mergeKey);
    merged = mergeByKey(base, items, mergeKey, schema);
    patchOrder = items;
    serverOrder = base;
  }
  const [inPatch, serverOnly] = partition(merged, patchOrder, mergeKey);
  return normalizeElementOrder(inPatch, serverOnly, patchOrder, serverOrder, mergeKey, kind);
}

/**
 * Handles list items carrying `$patch`: delete removes every live item with that merge key, replace
 * makes the remaining patch items the whole list. Returns the base list and the plain patch items.
 */
function applySpecialElements(original: unknown[], patch: JMap[], mergeKey: string): [unknown[], JMap[]] {
  const plain: JMap[] = [];
  let replace = false;
  let base = original;
  for (const item of patch) {
    if (!has(item, DIRECTIVE)) {
      plain.push(item);
      continue;
    }
    switch (item[DIRECTIVE]) {
      case 'delete':
        if (!has(item, mergeKey)) throw ErrNoMergeKey(item, mergeKey);
        base = deleteMatching(base, mergeKey, item[mergeKey]);
        break;
      case 'replace':
        replace = true;
        break;
      case 'merge':
        throw plainError('merging lists cannot yet be specified in the patch');
      default:
        throw ErrBadPatchType(item[DIRECTIVE], item);
    }
  }
  if (replace) return [plain.map((p) => clean(p).value), []];
  return [base, plain];
}

function findByKey(list: unknown[], mergeKey: string, value: unknown): number {
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (!isMap(item)) throw plainError(`value for key ${i} is not a map`);
    if (has(item, mergeKey) && item[mergeKey] === value) return i;
  }
  return -1;
}

function deleteMatching(list: unknown[], mergeKey: string, value: unknown): unknown[] {
  return list.filter((item) => !(has(item as JMap, mergeKey) && (item as JMap)[mergeKey] === value));
}

/** Items with a live counterpart (same merge key value) are merged into it, the rest are appended. */
function mergeByKey(base: unknown[], items: JMap[], mergeKey: string, schema: JSONSchema | undefined): unknown[] {
  const result = base.slice();
  for (const item of items) {
    if (!has(item, mergeKey)) throw ErrNoMergeKey(item, mergeKey);
    const i = findByKey(result, mergeKey, item[mergeKey]);
    if (i >= 0) result[i] = mergeMap(result[i] as JMap, item, schema);
    else result.push(clean(item).value);
  }
  return result;
}

/** All elements of both lists must share one type, and lists of lists are refused. */
function sliceElementKind(...lists: unknown[][]): Kind {
  let first: string | undefined;
  let kind: Kind = 'scalar';
  for (const list of lists) {
    for (const v of list) {
      const t = typeKey(v);
      if (first === undefined) {
        if (t === 'slice') throw ErrNoListOfLists();
        first = t;
        kind = kindOf(v);
      } else if (t !== first) {
        throw plainError(`list element types are not identical: ${goV(lists)}`);
      }
    }
  }
  if (first === undefined) throw plainError('no elements in any of the given slices');
  return kind;
}

/** Splits `merged` into items present in `by` (by merge key for maps) and server-only items. */
function partition(merged: unknown[], by: unknown[], mergeKey: string): [unknown[], unknown[]] {
  const inBy: unknown[] = [];
  const serverOnly: unknown[] = [];
  if (!mergeKey) {
    const set = new Set(by);
    for (const v of merged) (set.has(v) ? inBy : serverOnly).push(v);
    return [inBy, serverOnly];
  }
  for (const v of merged) {
    if (!isMap(v)) throw ErrBadArgType(MAP_T, v);
    if (!has(v, mergeKey)) throw ErrNoMergeKey(v, mergeKey);
    (findByKey(by, mergeKey, v[mergeKey]) >= 0 ? inBy : serverOnly).push(v);
  }
  return [inBy, serverOnly];
}

function splitDeleteItems(list: unknown[]): [unknown[], unknown[]] {
  const keep: unknown[] = [];
  const del: unknown[] = [];
  for (const v of list) {
    if (!isMap(v)) throw ErrBadArgType(MAP_T, v);
    (v[DIRECTIVE] === 'delete' ? del : keep).push(v);
  }
  return [keep, del];
}

function identity(kind: Kind, mergeKey: string): (v: unknown) => unknown {
  return kind === 'map' ? (v) => (isMap(v) ? v[mergeKey] : undefined) : (v) => v;
}

/** Position of each identity in `order` (first occurrence wins, as a linear scan would). */
function indexer(order: unknown[], id: (v: unknown) => unknown): (v: unknown) => number {
  const pos = new Map<unknown, number>();
  order.forEach((v, i) => {
    const k = id(v);
    if (!pos.has(k)) pos.set(k, i);
  });
  return (v) => pos.get(id(v)) ?? -1;
}

/** Sort `patch` by `patchOrder`, `serverOnly` by `serverOrder`, then interleave them. */
function normalizeElementOrder(
  patch: unknown[],
  serverOnly: unknown[],
  patchOrder: unknown[],
  serverOrder: unknown[],
  mergeKey: string,
  kind: Kind,
): unknown[] {
  const p = normalizeSliceOrder(patch, patchOrder, mergeKey, kind);
  const s = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSortedSlice(s, p, serverOrder, mergeKey, kind);
}

function normalizeSliceOrder(toSort: unknown[], order: unknown[], mergeKey: string, kind: Kind): unknown[] {
  let items = toSort;
  let toDelete: unknown[] = [];
  if (kind === 'map') {
    for (const v of [...toSort, ...order]) {
      if (!isMap(v)) throw ErrBadArgType(MAP_T, v);
      if (!has(v, mergeKey)) throw ErrNoMergeKey(v, mergeKey);
    }
    [items, toDelete] = splitDeleteItems(toSort);
  }
  const index = indexer(order, identity(kind, mergeKey));
  const idx = items.map(index);
  let sorted: unknown[];
  if (idx.every((i) => i >= 0)) {
    sorted = items
      .map((v, i) => [v, idx[i]] as const)
      .sort((a, b) => a[1] - b[1])
      .map(([v]) => v);
  } else {
    // The upstream comparator says "less" whenever either side is unknown; replay its insertion sort
    // (exact for the short lists sort.SliceStable sorts by insertion) so such lists come out the same.
    const a = items.map((v, i) => [v, idx[i]] as [unknown, number]);
    for (let i = 1; i < a.length; i++) {
      for (let j = i; j > 0 && !(a[j][1] >= 0 && a[j - 1][1] >= 0 && a[j][1] >= a[j - 1][1]); j--) {
        [a[j], a[j - 1]] = [a[j - 1], a[j]];
      }
    }
    sorted = a.map(([v]) => v);
  }
  return [...sorted, ...toDelete];
}

/**
 * Inserts server-only items (left) among patch items (right), keeping both relative orders. A
 * server-only item goes first only when both it and the next patch item are live and it was ahead;
 * so items new to the list land before the server-only ones, as with the real server.
 */
function mergeSortedSlice(left: unknown[], right: unknown[], serverOrder: unknown[], mergeKey: string, kind: Kind): unknown[] {
  const index = indexer(serverOrder, identity(kind, mergeKey));
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = index(left[i]);
      const ri = index(right[j]);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

// ---- entry point -----------------------------------------------------------------------------

/**
 * Applies a strategic merge patch to a copy of `doc`. `schema` is the object's structural schema
 * (undefined: merge maps, replace lists). A JSON null patch is a no-op, as on the real server.
 */
export function applyStrategicMergePatch(doc: unknown, patch: unknown, schema: JSONSchema | undefined): unknown {
  const original = isMap(doc) ? (deepClone(doc) as JMap) : {};
  if (patch === null || patch === undefined) return original;
  if (!isMap(patch)) {
    const what = Array.isArray(patch) ? 'array' : typeof patch === 'boolean' ? 'bool' : typeof patch;
    throw badRequest(`json: cannot unmarshal ${what} into Go value of type map[string]interface {}`);
  }
  return mergeMap(original, deepClone(patch) as JMap, schema);
}
