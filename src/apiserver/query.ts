// Query parameters read the way kube-apiserver's parameter codec converts url.Values into its option
// structs (k8s.io/apimachinery runtime conversion): the first value of a repeated scalar wins, booleans are
// false only for "0" or "false" in any letter case (any other value, even empty, is true), integers are
// base-10 int64 (a malformed one is a 400), and list-valued options take every value. Every handler reads
// its options through here, so `watch=True` (the Python client) means the same as `watch=true`.

import { badRequest, invalid, type FieldError } from './errors.ts';
import type { ListQuery } from './store.ts';

const INT64 = /^[+-]?\d+$/;

export class QueryParams {
  constructor(readonly raw: URLSearchParams) {}

  has(name: string): boolean {
    return this.raw.has(name);
  }

  /** The first value, as Go's conversion of a string field takes it. */
  string(name: string): string | undefined {
    return this.raw.get(name) ?? undefined;
  }

  /** Every value of a repeated parameter (dryRun=All&dryRun=All). */
  strings(name: string): string[] {
    return this.raw.getAll(name);
  }

  /** A plain bool field: absent is false. */
  bool(name: string): boolean {
    return this.optionalBool(name) ?? false;
  }

  /** A *bool field: absent is undefined (nil), which some validations tell apart from false. */
  optionalBool(name: string): boolean | undefined {
    const v = this.raw.get(name);
    if (v === null) return undefined;
    return !(v === '0' || v.toLowerCase() === 'false');
  }

  /** An int64 field; a value strconv.ParseInt refuses is a 400 naming the parameter. */
  int(name: string): number | undefined {
    const v = this.raw.get(name);
    if (v === null) return undefined;
    const n = INT64.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) {
      const why = INT64.test(v) ? 'value out of range' : 'invalid syntax';
      throw badRequest(`${name}: strconv.ParseInt: parsing ${JSON.stringify(v)}: ${why}`);
    }
    return n;
  }
}

/** metav1.ListOptions as list and watch handlers read it. */
export interface ListOptions extends ListQuery {
  watch: boolean;
  allowWatchBookmarks: boolean;
  /** undefined when not sent: kube-apiserver's validation tells nil from false. */
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
}

export const RESOURCE_VERSION_MATCH = { exact: 'Exact', notOlderThan: 'NotOlderThan' } as const;

/** Reads and validates ListOptions as ValidateListOptions does; refusals are 422 ListOptions.meta.k8s.io. */
export function parseListOptions(q: QueryParams): ListOptions {
  const limit = q.int('limit');
  const o: ListOptions = {
    watch: q.bool('watch'),
    labelSelector: q.string('labelSelector'),
    fieldSelector: q.string('fieldSelector'),
    limit,
    continue: q.string('continue') || undefined,
    resourceVersion: q.string('resourceVersion'),
    resourceVersionMatch: q.string('resourceVersionMatch') || undefined,
    allowWatchBookmarks: q.bool('allowWatchBookmarks'),
    sendInitialEvents: q.optionalBool('sendInitialEvents'),
    timeoutSeconds: q.int('timeoutSeconds'),
  };
  const errs = o.watch ? watchOptionErrors(o) : listOptionErrors(o);
  if (errs.length) throw invalid('ListOptions', 'meta.k8s.io', '', errs);
  return o;
}

const forbidden = (field: string, why: string): FieldError => ({ type: 'FieldValueForbidden', field, detail: `Forbidden: ${why}` });
const notSupported = (field: string, value: string, supported: string[]): FieldError => ({
  type: 'FieldValueNotSupported',
  field,
  detail: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
});

function listOptionErrors(o: ListOptions): FieldError[] {
  const errs: FieldError[] = [];
  const match = o.resourceVersionMatch;
  if (match) {
    if (!o.resourceVersion) errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided'));
    if (o.continue) errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided'));
    if (match !== RESOURCE_VERSION_MATCH.exact && match !== RESOURCE_VERSION_MATCH.notOlderThan) {
      errs.push(notSupported('resourceVersionMatch', match, [RESOURCE_VERSION_MATCH.exact, RESOURCE_VERSION_MATCH.notOlderThan, '']));
    }
    if (match === RESOURCE_VERSION_MATCH.exact && o.resourceVersion === '0') {
      errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'));
    }
  }
  if (o.sendInitialEvents !== undefined) errs.push(forbidden('sendInitialEvents', 'sendInitialEvents is forbidden for list'));
  return errs;
}

function watchOptionErrors(o: ListOptions): FieldError[] {
  const errs: FieldError[] = [];
  const match = o.resourceVersionMatch;
  if (o.sendInitialEvents !== undefined && match !== RESOURCE_VERSION_MATCH.notOlderThan) {
    errs.push(forbidden('resourceVersionMatch', `sendInitialEvents requires setting resourceVersionMatch to ${RESOURCE_VERSION_MATCH.notOlderThan}`));
  }
  if (match) {
    if (o.sendInitialEvents === undefined)
      errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided'));
    if (match !== RESOURCE_VERSION_MATCH.notOlderThan) errs.push(notSupported('resourceVersionMatch', match, [RESOURCE_VERSION_MATCH.notOlderThan]));
    if (o.continue) errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided'));
  }
  return errs;
}
