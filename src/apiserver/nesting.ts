// One bound on how deeply client data may nest, enforced when a body is decoded, and the few
// structural helpers (depth, clone, equality) that must work on any stored value without recursion.
//
// kube-apiserver refuses JSON nested deeper than 10,000 levels while decoding. Here many algorithms
// on objects recurse (pruning, defaulting, schema validation, merge/strategic patch, field sets,
// the YAML parser, JSON.stringify), so the bound is lower. Measured on Node 20 in a fresh process,
// the YAML composer is the weakest (~820 levels of flow sequences), then typed schema validation
// (~1,800) and strategic merge / apply (~2,900); test/apiserver/stack-headroom.test.ts keeps every
// one at 2x the bound (the YAML composer at 1.5x) under 200 extra frames. Anything the decoder
// accepts can then be stored, read, listed, watched, patched (every patch type and apply), deleted.
// Objects already stored deeper than this (written by an older version) can still be cloned,
// compared and deleted: the helpers below are iterative.

import { Parser } from 'yaml';
import { badRequest, type StatusError } from './errors.ts';

export const MAX_NESTING_DEPTH = 512;

type Json = unknown;

const isContainer = (v: unknown): v is object => typeof v === 'object' && v !== null;

/**
 * Whether a decoded value nests objects/arrays more than `limit` levels (a top-level object is
 * level 1). An object's metadata.managedFields is measured on its own terms: each entry's fieldsV1
 * mirrors the object's fields one level deeper than their values (a leaf field is `"f:x": {}`),
 * from 4 levels down, so an entry may nest `limit + 2` levels. That way an object at the bound can
 * be written back with the managedFields the server gave it.
 */
export function nestingExceeds(value: Json, limit = MAX_NESTING_DEPTH): boolean {
  if (!isContainer(value)) return false;
  const managed = (value as { metadata?: { managedFields?: unknown } }).metadata?.managedFields;
  const skip = Array.isArray(managed) ? managed : undefined;
  if (skip && skip.some((entry) => exceeds(entry, limit + 2))) return true;
  return exceeds(value, limit, skip);
}

function exceeds(value: Json, limit: number, skip?: object): boolean {
  if (!isContainer(value)) return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (d > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (isContainer(child) && child !== skip) stack.push([child, d + 1]);
  }
  return false;
}

/**
 * How deeply a YAML text nests its collections, from the YAML library's concrete syntax tree: its
 * lexer and parser are iterative, while composing the document recurses and must only see texts
 * it can handle. Aliases are not followed here; the decoded value is measured afterwards.
 */
export function yamlDepth(text: string): number {
  let max = 0;
  for (const token of new Parser().parse(text)) {
    const stack: [CstNode | undefined, number][] = [[token as CstNode, 0]];
    while (stack.length) {
      const [t, d] = stack.pop()!;
      if (!t) continue;
      const here = COLLECTIONS.has(t.type) ? d + 1 : d;
      if (here > max) max = here;
      if (t.type === 'document') stack.push([t.value, here]);
      for (const item of t.items ?? []) stack.push([item.key, here], [item.value, here]);
    }
  }
  return max;
}

type CstNode = { type: string; value?: CstNode; items?: { key?: CstNode; value?: CstNode }[] };
const COLLECTIONS = new Set(['block-map', 'block-seq', 'flow-collection']);

/** The first 30 bytes of a body as kube-apiserver quotes it in decode errors (summarizeData): JSON as text, anything else in hex. */
function summarize(raw: string): string {
  if (!raw.length) return '<empty>';
  const head = Buffer.from(raw, 'utf8').subarray(0, 30);
  const more = Buffer.byteLength(raw, 'utf8') > 30 ? ' ...' : '';
  return raw.startsWith('{') ? `${head.toString('utf8')}${more}` : `${head.toString('hex')}${more}`;
}

/**
 * 400 for a body nested deeper than MAX_NESTING_DEPTH, worded as kube-apiserver words its decode
 * failure for JSON nested beyond Go's limit (encoding/json: "exceeded max depth").
 */
export function tooDeep(raw: string, kind?: string): StatusError {
  const cause = "couldn't get version/kind; json parse error: invalid character '{' exceeded max depth";
  if (!kind) return badRequest(`the object provided is unrecognized: ${cause} (${summarize(raw)})`);
  return badRequest(`the object provided is unrecognized (must be of type ${kind}): ${cause} (${summarize(raw)})`);
}

/** A deep copy of a JSON value (what structuredClone does for them), at any depth. */
export function deepClone<T>(value: T): T {
  if (!isContainer(value)) return value;
  const root: any = Array.isArray(value) ? new Array(value.length) : {};
  const stack: [any, any][] = [[value, root]];
  while (stack.length) {
    const [src, dst] = stack.pop()!;
    if (Array.isArray(src)) {
      for (let i = 0; i < src.length; i++) dst[i] = copyInto(src[i], stack);
    } else {
      for (const k of Object.keys(src)) {
        const v = copyInto(src[k], stack);
        // defineProperty keeps a "__proto__" member as data, as structuredClone does.
        if (k === '__proto__') Object.defineProperty(dst, k, { value: v, enumerable: true, writable: true, configurable: true });
        else dst[k] = v;
      }
    }
  }
  return root;
}

function copyInto(v: unknown, stack: [any, any][]): unknown {
  if (!isContainer(v)) return v;
  const out = Array.isArray(v) ? new Array(v.length) : {};
  stack.push([v, out]);
  return out;
}

/** Structural equality of two JSON values (util.isDeepStrictEqual for them), at any depth. */
export function deepEqual(a: unknown, b: unknown): boolean {
  const stack: [unknown, unknown][] = [[a, b]];
  while (stack.length) {
    const [x, y] = stack.pop()!;
    if (x === y) continue;
    if (!isContainer(x) || !isContainer(y)) {
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      return false;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    if (Array.isArray(x)) {
      const ya = y as unknown[];
      if (x.length !== ya.length) return false;
      for (let i = 0; i < x.length; i++) stack.push([x[i], ya[i]]);
      continue;
    }
    const xk = Object.keys(x);
    const yo = y as Record<string, unknown>;
    if (xk.length !== Object.keys(yo).length) return false;
    for (const k of xk) {
      if (!Object.prototype.hasOwnProperty.call(yo, k)) return false;
      stack.push([(x as Record<string, unknown>)[k], yo[k]]);
    }
  }
  return true;
}
