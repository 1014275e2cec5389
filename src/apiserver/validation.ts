// Name and ObjectMeta validation with apimachinery's rules and wording (v0.32: the server reports 1.32):
// k8s.io/apimachinery/pkg/util/validation, pkg/api/validation (objectmeta.go, generic.go, path/name.go),
// pkg/apis/meta/v1/validation. Errors are FieldError values whose `detail` is field.Error.ErrorBody().

import type { FieldError } from './errors.ts';
import { GoText, goQuote, goStrings } from './schema/field.ts';

export { goQuote };

// ---- rendering like field.Error.ErrorBody ----------------------------------------------------

function renderValue(v: unknown): string {
  if (v instanceof GoText) return v.text;
  if (v === null || v === undefined) return '"null"'; // nil values print as the string "null"
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return goStrings(v).text;
  return JSON.stringify(v);
}

export function fieldInvalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, detail: `Invalid value: ${renderValue(value)}${detail ? `: ${detail}` : ''}` };
}

export function fieldRequired(field: string, detail = ''): FieldError {
  return { type: 'FieldValueRequired', field, detail: `Required value${detail ? `: ${detail}` : ''}` };
}

export function fieldForbidden(field: string, detail: string): FieldError {
  return { type: 'FieldValueForbidden', field, detail: `Forbidden: ${detail}` };
}

export function fieldTooLong(field: string, maxLength: number): FieldError {
  return { type: 'FieldValueTooLong', field, detail: `Too long: may not be more than ${maxLength} bytes` };
}

export function fieldNotSupported(field: string, value: unknown, valid: string[]): FieldError {
  const supported = valid.length ? `: supported values: ${valid.map(goQuote).join(', ')}` : '';
  return { type: 'FieldValueNotSupported', field, detail: `Unsupported value: ${renderValue(value)}${supported}` };
}

export function fieldDuplicate(field: string, value: unknown): FieldError {
  return { type: 'FieldValueDuplicate', field, detail: `Duplicate value: ${renderValue(value)}` };
}

// ---- string formats (pkg/util/validation) ----------------------------------------------------

const byteLen = (s: string) => Buffer.byteLength(s, 'utf8');

export function maxLenError(length: number): string {
  return `must be no more than ${length} characters`;
}

export function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  // Upstream joins "'a', " pieces with " or ", hence the double space before "or".
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1123LabelRe = new RegExp(`^${dns1123LabelFmt}$`);
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`);
const qualifiedNameFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const qualifiedNameRe = new RegExp(`^${qualifiedNameFmt}$`);
const labelValueFmt = `(${qualifiedNameFmt})?`;
const labelValueRe = new RegExp(`^${labelValueFmt}$`);
const qualifiedNameErrMsg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** DNS-1123 subdomain: object names of most kinds, ≤253 characters. */
export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLen(value) > 253) errs.push(maxLenError(253));
  if (!dns1123SubdomainRe.test(value)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        dns1123SubdomainFmt,
        'example.com',
      ),
    );
  }
  return errs;
}

/** DNS-1123 label: namespace names and other single path-safe names, ≤63 characters. */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLen(value) > 63) errs.push(maxLenError(63));
  if (!dns1123LabelRe.test(value)) {
    // A valid subdomain that is not a valid label can only be failing on its dots.
    if (dns1123SubdomainRe.test(value)) errs.push('must not contain dots');
    else
      errs.push(
        regexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
          dns1123LabelFmt,
          'my-name',
          '123-abc',
        ),
      );
  }
  return errs;
}

/** `[prefix/]name`: label keys, annotation keys (lower-cased first) and finalizers. */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0];
  } else if (parts.length === 2) {
    const prefix = parts[0];
    name = parts[1];
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...isDNS1123Subdomain(prefix).map((m) => `prefix part ${m}`));
  } else {
    return [
      `a qualified name ${regexError(qualifiedNameErrMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (byteLen(name) > 63) errs.push(`name part ${maxLenError(63)}`);
  if (!qualifiedNameRe.test(name)) errs.push(`name part ${regexError(qualifiedNameErrMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc')}`);
  return errs;
}

export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLen(value) > 63) errs.push(maxLenError(63));
  if (!labelValueRe.test(value)) {
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        labelValueFmt,
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  }
  return errs;
}

/** Names that only need to be safe as one URL path segment (e.g. RBAC objects). */
export function isValidPathSegmentName(name: string, prefix = false): string[] {
  if (!prefix && (name === '.' || name === '..')) return [`may not be '${name}'`];
  return ['/', '%'].filter((c) => name.includes(c)).map((c) => `may not contain '${c}'`);
}

export type NameRule = 'subdomain' | 'label' | 'path';

/**
 * A generateName prefix gets random characters appended, so a trailing '-' is fine there; it is
 * masked before checking (maskTrailingDash).
 */
export function validateName(rule: NameRule, name: string, prefix: boolean): string[] {
  if (rule === 'path') return isValidPathSegmentName(name, prefix);
  const n = prefix && name.length > 1 && name.endsWith('-') ? `${name.slice(0, -2)}a` : name;
  return rule === 'label' ? isDNS1123Label(n) : isDNS1123Subdomain(n);
}

// ---- ObjectMeta --------------------------------------------------------------------------------

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;
const FIELD_MANAGER_MAX_LENGTH = 128;
const MAX_SUBRESOURCE_NAME_LENGTH = 256;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const entries = (m: unknown): [string, unknown][] => (m && typeof m === 'object' && !Array.isArray(m) ? Object.entries(m) : []);
const list = (v: unknown): any[] => (Array.isArray(v) ? v : []);

export function validateLabels(labels: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of entries(labels)) {
    for (const msg of isQualifiedName(k)) errs.push(fieldInvalid(path, k, msg));
    // The value error names the map, not the key, exactly like the real server.
    for (const msg of isValidLabelValue(str(v))) errs.push(fieldInvalid(path, str(v), msg));
  }
  return errs;
}

export function validateAnnotations(annotations: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, v] of entries(annotations)) {
    // Annotation keys are qualified names, case-insensitively.
    for (const msg of isQualifiedName(k.toLowerCase())) errs.push(fieldInvalid(path, k, msg));
    size += byteLen(k) + byteLen(str(v));
  }
  if (size > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(fieldTooLong(path, TOTAL_ANNOTATION_SIZE_LIMIT));
  return errs;
}

/** schema.ParseGroupVersion: "" -> none, "v1" -> core, "g/v", anything with more slashes is invalid. */
function parseGroupVersion(gv: string): { group: string; version: string } | undefined {
  if (gv === '' || gv === '/') return { group: '', version: '' };
  const slashes = gv.split('/').length - 1;
  if (slashes === 0) return { group: '', version: gv };
  if (slashes === 1) {
    const i = gv.indexOf('/');
    return { group: gv.slice(0, i), version: gv.slice(i + 1) };
  }
  return undefined;
}

function goOwnerRef(ref: any): string {
  const ptr = (v: unknown) => (typeof v === 'boolean' ? `(*bool)(${v})` : '(*bool)(nil)');
  return `v1.OwnerReference{APIVersion:${goQuote(str(ref?.apiVersion))}, Kind:${goQuote(str(ref?.kind))}, Name:${goQuote(str(ref?.name))}, UID:${goQuote(str(ref?.uid))}, Controller:${ptr(ref?.controller)}, BlockOwnerDeletion:${ptr(ref?.blockOwnerDeletion)}}`;
}

export function validateOwnerReferences(refs: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const all = list(refs);
  let firstController = '';
  for (const ref of all) {
    const apiVersion = str(ref?.apiVersion);
    const kind = str(ref?.kind);
    const gv = parseGroupVersion(apiVersion);
    // 1.32 reports these per list, not per index, and as Invalid rather than Required.
    if (!gv?.version) errs.push(fieldInvalid(`${path}.apiVersion`, apiVersion, 'version must not be empty'));
    if (!kind) errs.push(fieldInvalid(`${path}.kind`, kind, 'kind must not be empty'));
    if (!str(ref?.name)) errs.push(fieldInvalid(`${path}.name`, str(ref?.name), 'name must not be empty'));
    if (!str(ref?.uid)) errs.push(fieldInvalid(`${path}.uid`, str(ref?.uid), 'uid must not be empty'));
    if (gv && gv.group === '' && gv.version === 'v1' && kind === 'Event') {
      errs.push(fieldInvalid(path, new GoText(goOwnerRef(ref)), '/v1, Kind=Event is disallowed from being an owner'));
    }
    if (ref?.controller === true) {
      const cur = `${kind}/${str(ref?.name)}`;
      if (firstController) {
        errs.push(
          fieldInvalid(
            path,
            new GoText(`[]v1.OwnerReference{${all.map(goOwnerRef).join(', ')}}`),
            `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${cur}`,
          ),
        );
      } else {
        firstController = cur;
      }
    }
  }
  return errs;
}

export function validateFinalizers(finalizers: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const all = list(finalizers).map(str);
  for (const f of all) for (const msg of isQualifiedName(f)) errs.push(fieldInvalid(path, f, msg));
  if (all.includes('orphan') && all.includes('foregroundDeletion')) {
    errs.push(fieldInvalid(path, goStrings(all), 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  return errs;
}

function validateManagedFields(managedFields: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  list(managedFields).forEach((entry, i) => {
    const p = `${path}[${i}]`;
    const operation = str(entry?.operation);
    if (operation !== 'Apply' && operation !== 'Update') errs.push(fieldInvalid(`${p}.operation`, operation, 'must be `Apply` or `Update`'));
    const fieldsType = str(entry?.fieldsType);
    if (fieldsType && fieldsType !== 'FieldsV1') errs.push(fieldInvalid(`${p}.fieldsType`, fieldsType, 'must be `FieldsV1`'));
    const manager = str(entry?.manager);
    if (byteLen(manager) > FIELD_MANAGER_MAX_LENGTH) errs.push(fieldTooLong(`${p}.manager`, FIELD_MANAGER_MAX_LENGTH));
    let pos = 0;
    for (const ch of manager) {
      const c = ch.codePointAt(0)!;
      if (c < 0x20 || (c >= 0x7f && c < 0xa0)) {
        errs.push(fieldInvalid(`${p}.manager`, manager, `invalid character U+${c.toString(16).toUpperCase().padStart(4, '0')} (at position ${pos})`));
      }
      pos += byteLen(ch);
    }
    if (byteLen(str(entry?.subresource)) > MAX_SUBRESOURCE_NAME_LENGTH) errs.push(fieldTooLong(`${p}.subresource`, MAX_SUBRESOURCE_NAME_LENGTH));
  });
  return errs;
}

export interface ObjectMetaOptions {
  namespaced: boolean;
  /** How metadata.name is checked: DNS-1123 subdomain (most kinds), label (e.g. namespaces) or path segment. */
  nameRule: NameRule;
}

/**
 * ValidateObjectMeta for create. Expects name generation to have happened already (the real
 * registry appends the random suffix first, then validates both generateName and name). The real
 * registry silently clears metadata.namespace on cluster-scoped kinds before this runs; if it is
 * still set here it is reported as forbidden.
 */
export function validateObjectMeta(meta: any, opts: ObjectMetaOptions, fieldPrefix = 'metadata'): FieldError[] {
  const errs: FieldError[] = [];
  const p = (f: string) => `${fieldPrefix}.${f}`;
  const generateName = str(meta?.generateName);
  const name = str(meta?.name);
  const namespace = str(meta?.namespace);

  if (generateName) for (const msg of validateName(opts.nameRule, generateName, true)) errs.push(fieldInvalid(p('generateName'), generateName, msg));
  if (!name) errs.push(fieldRequired(p('name'), 'name or generateName is required'));
  else for (const msg of validateName(opts.nameRule, name, false)) errs.push(fieldInvalid(p('name'), name, msg));

  if (opts.namespaced) {
    if (!namespace) errs.push(fieldRequired(p('namespace')));
    else for (const msg of isDNS1123Label(namespace)) errs.push(fieldInvalid(p('namespace'), namespace, msg));
  } else if (namespace) {
    errs.push(fieldForbidden(p('namespace'), 'not allowed on this type'));
  }

  if (typeof meta?.generation === 'number' && meta.generation < 0) {
    errs.push(fieldInvalid(p('generation'), meta.generation, 'must be greater than or equal to 0'));
  }
  errs.push(...validateLabels(meta?.labels, p('labels')));
  errs.push(...validateAnnotations(meta?.annotations, p('annotations')));
  errs.push(...validateOwnerReferences(meta?.ownerReferences, p('ownerReferences')));
  errs.push(...validateFinalizers(meta?.finalizers, p('finalizers')));
  errs.push(...validateManagedFields(meta?.managedFields, p('managedFields')));
  return errs;
}

/** metav1.Time's String(): "2006-01-02 15:04:05 +0000 UTC" (zero time when unset). */
function goTime(v: unknown): GoText {
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) return new GoText(typeof v === 'string' && v ? v : '0001-01-01 00:00:00 +0000 UTC');
  return new GoText(`${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`);
}

/** Timestamps compare as instants (apiequality.Semantic), strings as strings. */
function sameTime(a: unknown, b: unknown): boolean {
  if (a === b || (!a && !b)) return true;
  const x = typeof a === 'string' ? Date.parse(a) : NaN;
  const y = typeof b === 'string' ? Date.parse(b) : NaN;
  return !Number.isNaN(x) && x === y;
}

/**
 * ValidateObjectMetaUpdate: identity and lifecycle fields are immutable, generation never goes
 * down, and an object being deleted accepts no new finalizers. Like the real registry, callers
 * copy the live resourceVersion into an unconditional update before validating.
 */
export function validateMetadataUpdate(meta: any, old: any, fieldPrefix = 'metadata'): FieldError[] {
  const errs: FieldError[] = [];
  const p = (f: string) => `${fieldPrefix}.${f}`;

  if (old?.deletionTimestamp) {
    const before = new Set(list(old?.finalizers).map(str));
    const added = [...new Set(list(meta?.finalizers).map(str))].filter((f) => !before.has(f)).sort();
    if (added.length) {
      errs.push(
        fieldForbidden(p('finalizers'), `no new finalizers can be added if the object is being deleted, found new finalizers ${goStrings(added).text}`),
      );
    }
  }
  if (!str(meta?.resourceVersion)) errs.push(fieldInvalid(p('resourceVersion'), str(meta?.resourceVersion), 'must be specified for an update'));
  const generation = typeof meta?.generation === 'number' ? meta.generation : 0;
  if (generation < (typeof old?.generation === 'number' ? old.generation : 0)) {
    errs.push(fieldInvalid(p('generation'), generation, 'must not be decremented'));
  }

  const immutable = 'field is immutable';
  for (const f of ['name', 'namespace', 'uid'] as const) {
    if (str(meta?.[f]) !== str(old?.[f])) errs.push(fieldInvalid(p(f), str(meta?.[f]), immutable));
  }
  if (!sameTime(meta?.creationTimestamp, old?.creationTimestamp)) {
    errs.push(fieldInvalid(p('creationTimestamp'), goTime(meta?.creationTimestamp), immutable));
  }
  if (!sameTime(meta?.deletionTimestamp, old?.deletionTimestamp)) {
    errs.push(fieldInvalid(p('deletionTimestamp'), meta?.deletionTimestamp ? goTime(meta.deletionTimestamp) : null, immutable));
  }
  if ((meta?.deletionGracePeriodSeconds ?? null) !== (old?.deletionGracePeriodSeconds ?? null)) {
    errs.push(fieldInvalid(p('deletionGracePeriodSeconds'), meta?.deletionGracePeriodSeconds ?? null, immutable));
  }

  errs.push(...validateLabels(meta?.labels, p('labels')));
  errs.push(...validateAnnotations(meta?.annotations, p('annotations')));
  errs.push(...validateOwnerReferences(meta?.ownerReferences, p('ownerReferences')));
  errs.push(...validateManagedFields(meta?.managedFields, p('managedFields')));
  return errs;
}

// ---- ObjectMeta value types ------------------------------------------------------------------

/** Go's name for the JSON type of a value, as encoding/json's UnmarshalTypeError prints it. */
export function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return `number ${v}`;
  return typeof v === 'object' ? 'object' : typeof v;
}

type GoType = 'string' | 'int64' | 'bool' | 'map[string]string' | '[]string' | 'object' | 'array';

/** The JSON types of ObjectMeta's fields (k8s.io/apimachinery/pkg/apis/meta/v1 types.go). */
const META_TYPES: Record<string, GoType> = {
  name: 'string',
  generateName: 'string',
  namespace: 'string',
  selfLink: 'string',
  uid: 'string',
  resourceVersion: 'string',
  creationTimestamp: 'string',
  deletionTimestamp: 'string',
  generation: 'int64',
  deletionGracePeriodSeconds: 'int64',
  labels: 'map[string]string',
  annotations: 'map[string]string',
  finalizers: '[]string',
  ownerReferences: 'array',
  managedFields: 'array',
};
const OWNER_REF_TYPES: Record<string, GoType> = {
  apiVersion: 'string',
  kind: 'string',
  name: 'string',
  uid: 'string',
  controller: 'bool',
  blockOwnerDeletion: 'bool',
};
const MANAGED_FIELDS_TYPES: Record<string, GoType> = {
  manager: 'string',
  operation: 'string',
  apiVersion: 'string',
  time: 'string',
  fieldsType: 'string',
  subresource: 'string',
  fieldsV1: 'object',
};

function typeMismatch(v: unknown, t: GoType): boolean {
  if (v === null || v === undefined) return false; // JSON null leaves a Go field at its zero value
  switch (t) {
    case 'string':
      return typeof v !== 'string';
    case 'bool':
      return typeof v !== 'boolean';
    case 'int64':
      return typeof v !== 'number' || !Number.isInteger(v);
    case 'array':
    case '[]string':
      return !Array.isArray(v);
    case 'object':
    case 'map[string]string':
      return typeof v !== 'object' || Array.isArray(v);
  }
}

/**
 * The decode error a Go client's object would give for metadata of the wrong JSON type (a label
 * value that is a list, a generation that is a string, ...): kube-apiserver never gets past decoding
 * such a body, so it is a 400, not a validation error. `root` is the Go struct the body decodes
 * into as encoding/json names it ("ObjectMeta.metadata" for built-in kinds, "ObjectMeta" for
 * custom resources, whose metadata is decoded on its own).
 */
export function objectMetaTypeError(meta: unknown, root: string): string | undefined {
  const bad = (v: unknown, struct: string, field: string, t: string) =>
    `json: cannot unmarshal ${jsonType(v)} into Go struct field ${struct}.${field} of type ${t}`;
  const fieldPath = (f: string) => (root.includes('.') ? `${root.slice(root.indexOf('.') + 1)}.${f}` : f);
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) return undefined;
  const m = meta as Record<string, unknown>;
  for (const [f, t] of Object.entries(META_TYPES)) {
    const v = m[f];
    if (typeMismatch(v, t))
      return bad(v, 'ObjectMeta', fieldPath(f), t === 'array' ? (f === 'ownerReferences' ? '[]v1.OwnerReference' : '[]v1.ManagedFieldsEntry') : t);
    if (t === 'map[string]string' && v) {
      for (const x of Object.values(v)) if (typeMismatch(x, 'string')) return bad(x, 'ObjectMeta', fieldPath(f), 'string');
    }
    if (t === '[]string' && v) for (const x of v as unknown[]) if (typeMismatch(x, 'string')) return bad(x, 'ObjectMeta', fieldPath(f), 'string');
  }
  const nested = (f: string, struct: string, types: Record<string, GoType>, goType: string) => {
    for (const item of list(m[f])) {
      if (item === null) continue;
      if (typeof item !== 'object' || Array.isArray(item)) return bad(item, 'ObjectMeta', fieldPath(f), goType);
      for (const [k, t] of Object.entries(types))
        if (typeMismatch(item[k], t)) return bad(item[k], struct, `${fieldPath(f)}.${k}`, t === 'object' ? 'v1.FieldsV1' : t);
    }
    return undefined;
  };
  return (
    nested('ownerReferences', 'OwnerReference', OWNER_REF_TYPES, 'v1.OwnerReference') ??
    nested('managedFields', 'ManagedFieldsEntry', MANAGED_FIELDS_TYPES, 'v1.ManagedFieldsEntry')
  );
}
