// core/v1 ConfigMap and Secret: keyed data with the same key rules, size limit and `immutable` semantics.

import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { AGE_COLUMN, STANDARD_VERBS, countKeys, deepEqual, isObject } from './common.ts';
import { bool, bytes, kindSchema, str, strMap } from './dsl.ts';
import { configMapKey, forbidden, immutable, invalid, key, required, tooLong } from './validation.ts';

/** Total size limit of ConfigMap and Secret data (MaxSecretSize). */
const MAX_DATA_BYTES = 1024 * 1024;
const IMMUTABLE_MSG = 'field is immutable when `immutable` is set';

const byteMap = (description: string) => ({ type: 'object', additionalProperties: bytes(), description });

/** Byte length of a base64 value, or the Go error text when it is not valid standard base64. */
function decodedLength(v: unknown): number | string {
  if (typeof v !== 'string') return 'illegal base64 data at input byte 0';
  const s = v.replace(/[\r\n]/g, '');
  const bad = s.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return `illegal base64 data at input byte ${bad}`;
  const pad = s.indexOf('=');
  if (s.length % 4 !== 0 || (pad >= 0 && (pad < s.length - 2 || /[^=]/.test(s.slice(pad))))) {
    return `illegal base64 data at input byte ${pad >= 0 ? pad : s.length - (s.length % 4)}`;
  }
  return (s.length / 4) * 3 - (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0);
}

/** Key checks shared by data maps; returns the total decoded size. */
function validateKeys(m: unknown, path: string, errs: FieldError[], sizeOf: (v: unknown) => number | string): number {
  let total = 0;
  if (!isObject(m)) return total;
  for (const [k, v] of Object.entries(m)) {
    for (const msg of configMapKey(k)) errs.push(invalid(key(path, k), k, msg));
    const size = sizeOf(v);
    if (typeof size === 'string') errs.push(invalid(key(path, k), v, size));
    else total += size;
  }
  return total;
}

/** ValidateImmutableField-style checks for objects carrying `immutable: true`. */
function validateImmutable(obj: KObject, old: KObject, fields: string[]): FieldError[] {
  if (old.immutable !== true) return [];
  const errs: FieldError[] = [];
  if (obj.immutable !== true) errs.push(forbidden('immutable', IMMUTABLE_MSG));
  for (const f of fields) if (!deepEqual(obj[f] ?? {}, old[f] ?? {})) errs.push(forbidden(f, IMMUTABLE_MSG));
  return errs;
}

export const configmaps: ResourceDefinition = {
  group: '',
  version: 'v1',
  resource: 'configmaps',
  singular: 'configmap',
  kind: 'ConfigMap',
  listKind: 'ConfigMapList',
  namespaced: true,
  shortNames: ['cm'],
  verbs: STANDARD_VERBS,
  schema: kindSchema('Non-confidential configuration as key-value pairs, consumed as files, environment variables or arguments.', {
    immutable: bool('When true, data and binaryData can no longer change; the object can only be deleted.'),
    data: strMap('UTF-8 values by key. Keys consist of alphanumerics, "-", "_" and "."; a key may not also appear in binaryData.'),
    binaryData: byteMap('Binary values (base64 in JSON) by key; a key may not also appear in data.'),
  }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: [
    { name: 'Data', type: 'string', description: 'Number of keys in data and binaryData.', cell: (o) => countKeys(o.data) + countKeys(o.binaryData) },
    AGE_COLUMN,
  ],
  deleteReturnsObject: false,
  strategy: {
    validate(cm, old) {
      const errs: FieldError[] = [];
      let total = validateKeys(cm.data, 'data', errs, (v) => (typeof v === 'string' ? Buffer.byteLength(v) : 0));
      total += validateKeys(cm.binaryData, 'binaryData', errs, decodedLength);
      for (const k of Object.keys(isObject(cm.data) ? cm.data : {})) {
        if (isObject(cm.binaryData) && k in cm.binaryData) errs.push(invalid(key('data', k), k, 'duplicate of key present in binaryData'));
      }
      for (const k of Object.keys(isObject(cm.binaryData) ? cm.binaryData : {})) {
        if (isObject(cm.data) && k in cm.data) errs.push(invalid(key('binaryData', k), k, 'duplicate of key present in data'));
      }
      if (total > MAX_DATA_BYTES) errs.push(tooLong('', MAX_DATA_BYTES));
      if (old) errs.push(...validateImmutable(cm, old, ['data', 'binaryData']));
      return errs;
    },
  },
};

/** data keys each Secret type must carry. */
function validateSecretType(secret: KObject): FieldError[] {
  const data = isObject(secret.data) ? secret.data : {};
  const has = (k: string) => k in data;
  const need = (k: string) => (has(k) ? [] : [required(key('data', k))]);
  const json = (k: string): FieldError[] => {
    if (!has(k)) return [required(key('data', k))];
    try {
      const v = JSON.parse(Buffer.from(String(data[k]), 'base64').toString('utf8'));
      if (!isObject(v)) throw new Error('json: cannot unmarshal into Go value of type map[string]interface {}');
      return [];
    } catch (e) {
      return [invalid(key('data', k), '<secret contents redacted>', (e as Error).message)];
    }
  };
  switch (secret.type) {
    case 'kubernetes.io/service-account-token':
      return secret.metadata?.annotations?.['kubernetes.io/service-account.name']
        ? []
        : [required(key('metadata.annotations', 'kubernetes.io/service-account.name'))];
    case 'kubernetes.io/dockercfg':
      return json('.dockercfg');
    case 'kubernetes.io/dockerconfigjson':
      return json('.dockerconfigjson');
    case 'kubernetes.io/basic-auth':
      return has('username') || has('password') ? [] : [required(key('data', 'username')), required(key('data', 'password'))];
    case 'kubernetes.io/ssh-auth':
      return data['ssh-privatekey'] ? [] : [required(key('data', 'ssh-privatekey'))];
    case 'kubernetes.io/tls':
      return [...need('tls.crt'), ...need('tls.key')];
    default:
      return [];
  }
}

/** Defaults the type and folds the write-only stringData into data, as the v1 conversion does. */
function normalizeSecret(secret: KObject): void {
  if (!secret.type) secret.type = 'Opaque';
  if (isObject(secret.stringData)) {
    const data = isObject(secret.data) ? secret.data : (secret.data = {});
    for (const [k, v] of Object.entries(secret.stringData)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
  }
  delete secret.stringData;
}

export const secrets: ResourceDefinition = {
  group: '',
  version: 'v1',
  resource: 'secrets',
  singular: 'secret',
  kind: 'Secret',
  listKind: 'SecretList',
  namespaced: true,
  verbs: STANDARD_VERBS,
  schema: kindSchema('Sensitive data such as passwords, tokens or keys, at most 1 MiB in total.', {
    immutable: bool('When true, data can no longer change; the object can only be deleted.'),
    data: byteMap('Secret values (base64 in JSON) by key. Keys consist of alphanumerics, "-", "_" and ".".'),
    stringData: strMap('Write-only convenience: plain-text values merged into data on write (they win over data) and never returned.'),
    type: str('How the data is meant to be used, e.g. Opaque (the default), kubernetes.io/tls or kubernetes.io/dockerconfigjson.'),
  }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: [
    { name: 'Type', type: 'string', description: 'The type of the secret.', cell: (o) => o.type ?? '' },
    { name: 'Data', type: 'string', description: 'Number of keys in data.', cell: (o) => countKeys(o.data) },
    AGE_COLUMN,
  ],
  fieldSelectors: { type: (o) => o.type ?? '' },
  deleteReturnsObject: false,
  strategy: {
    prepareForCreate: normalizeSecret,
    prepareForUpdate: normalizeSecret,
    validate(secret, old) {
      const errs: FieldError[] = [];
      const total = validateKeys(secret.data, 'data', errs, decodedLength);
      errs.push(...validateSecretType(secret));
      if (total > MAX_DATA_BYTES) errs.push(tooLong('data', MAX_DATA_BYTES));
      if (old) {
        if ((secret.type ?? '') !== (old.type ?? '')) errs.push(immutable('type', secret.type ?? ''));
        errs.push(...validateImmutable(secret, old, ['data']));
      }
      return errs;
    },
  },
};
