// The three non-apply PATCH bodies kube-apiserver accepts, applied to plain JSON values. Inputs are
// never mutated. Error codes and texts follow k8s.io/apiserver/pkg/endpoints/handlers/patch.go.

import type jsonpatch from 'fast-json-patch';
import { StatusError, badRequest, tooLarge } from '../errors.ts';
import { deepClone } from '../../common/json.ts';
import { patchRejected } from './strategic.ts';
import { applyOperationsWithCopyLimit } from './json-patch-copy-limit.ts';

export { applyStrategicMergePatch } from './strategic.ts';

/** kube-apiserver's cap on operations in one JSON patch (maxJSONPatchOperations). */
export const MAX_JSON_PATCH_OPERATIONS = 10000;

/** Go's name for the JSON type a value would be decoded from, for "cannot unmarshal X" texts. */
function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'object' ? 'object' : typeof v;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * RFC 6902. A body that is not a list of operation objects is 400 (the server fails to decode it);
 * more than 10,000 operations is 413; an operation that cannot be applied (missing path, failed
 * `test`, bad index, unknown op) is the bare 422 "the server rejected our request…" — the real
 * server drops json-patch's own explanation, so kubectl users see exactly that sentence.
 */
export function applyJsonPatch(doc: unknown, patch: unknown): unknown {
  if (patch === null || patch === undefined) return deepClone(doc); // decodes to an empty patch
  if (!Array.isArray(patch)) {
    throw badRequest(`error decoding patch: json: cannot unmarshal ${jsonKind(patch)} into Go value of type []handlers.jsonPatchOp`);
  }
  for (const op of patch) {
    if (op === null) continue; // decodes to an empty op, which then fails to apply
    if (!isMap(op)) {
      throw badRequest(`error decoding patch: json: cannot unmarshal ${jsonKind(op)} into Go value of type handlers.jsonPatchOp`);
    }
    for (const field of ['op', 'path', 'from']) {
      const v = op[field];
      if (v !== undefined && v !== null && typeof v !== 'string') {
        throw badRequest(`error decoding patch: json: cannot unmarshal ${jsonKind(v)} into Go struct field jsonPatchOp.${field} of type string`);
      }
    }
  }
  if (patch.length > MAX_JSON_PATCH_OPERATIONS) {
    throw tooLarge(`The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${patch.length}`);
  }
  try {
    return applyOperationsWithCopyLimit(deepClone(doc), patch as jsonpatch.Operation[]);
  } catch (err) {
    if (err instanceof StatusError) throw err;
    throw patchRejected();
  }
}

/** RFC 7386 member merge: null deletes, objects merge recursively, anything else replaces. */
function mergeInto(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete target[k];
      continue;
    }
    const cur = Object.hasOwn(target, k) ? target[k] : undefined;
    const value = isMap(v) ? mergeInto(isMap(cur) ? cur : {}, v) : deepClone(v);
    // defineProperty so a "__proto__" member stays data and never reaches a prototype.
    Object.defineProperty(target, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return target;
}

/**
 * RFC 7386 JSON merge patch. A list patch replaces the whole document (as the RFC says); null or a
 * scalar patch is 400 "Invalid JSON Patch", which is what kube-apiserver's json-patch library answers.
 */
export function applyMergePatch(doc: unknown, patch: unknown): unknown {
  if (Array.isArray(patch)) return deepClone(patch);
  if (!isMap(patch)) throw badRequest('Invalid JSON Patch');
  return mergeInto(isMap(doc) ? deepClone(doc) : {}, patch);
}
