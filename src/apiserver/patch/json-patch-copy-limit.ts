// RFC 6902 "copy" can double a document with every operation: 24 copies in a 1.4 KB patch build a
// 250 MB object (15 s, 1 GB of memory) and 40 exhaust the process. kube-apiserver caps the bytes
// that copies may add to a patched object (JSONPatchMaxCopyBytes, 3 MiB by default); so does this.

import jsonpatch from 'fast-json-patch';
import { patchRejected } from './strategic.ts';

/** kube-apiserver's default JSONPatchMaxCopyBytes. */
export const MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024;

/**
 * Applies the operations in order to `doc` (mutated), as fast-json-patch's applyPatch does, and
 * refuses the patch (422, like any patch that cannot be applied) once its copies have added more
 * than `limit` bytes of JSON.
 */
export function applyOperationsWithCopyLimit(doc: unknown, ops: jsonpatch.Operation[], limit = MAX_JSON_PATCH_COPY_BYTES): unknown {
  let copied = 0;
  let cur = doc;
  ops.forEach((op, i) => {
    if (op?.op === 'copy' && typeof op.from === 'string') {
      const v: unknown = jsonpatch.getValueByPointer(cur, op.from);
      copied += v === undefined ? 0 : JSON.stringify(v).length;
      if (copied > limit) throw patchRejected();
    }
    cur = jsonpatch.applyOperation(cur, op, true, true, true, i).newDocument;
  });
  return cur;
}
