// Decoded Kubernetes protobuf message -> the JSON form Go's encoding/json gives the same Go object, which is
// what the REST layer receives from JSON clients. This is not proto3-JSON: ExtraValue is a bare array,
// Time is an RFC 3339 string, FieldsV1 is inline JSON, bytes are base64, int64 are numbers, and zero
// scalars are left out as `omitempty` would (see gotypes.ts for pointer and non-omitempty fields). Empty
// lists and maps are left out too, where a non-omitempty Go field writes null: both decode the same.

import { isFieldSet, ScalarType, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { badRequest } from '../errors.ts';
import type { KObject } from '../resource.ts';
import { GO_FIELDS } from './gotypes.ts';

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

// Go's time.RFC3339 marshalling only covers years 0000-9999.
const MIN_SECONDS = -62167219200n;
const MAX_SECONDS = 253402300799n;

type Custom = (msg: any, path: string) => unknown;

/** Messages whose Go type has its own JSON marshaller. undefined means "zero value". */
const CUSTOM: ReadonlyMap<string, Custom> = new Map<string, Custom>([
  [
    `${META}.Time`,
    (m, path) => {
      const seconds = BigInt(m.seconds ?? 0n);
      if (seconds === 0n && !m.nanos) return undefined;
      if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) throw badRequest(`${path}: time out of range: ${seconds} seconds`);
      // metav1.Time serialises with second precision.
      return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    },
  ],
  [
    `${META}.MicroTime`,
    (m, path) => {
      const seconds = BigInt(m.seconds ?? 0n);
      const nanos = Number(m.nanos ?? 0);
      if (seconds === 0n && !nanos) return undefined;
      if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) throw badRequest(`${path}: time out of range: ${seconds} seconds`);
      if (nanos < 0 || nanos > 999_999_999) throw badRequest(`${path}: nanos out of range: ${nanos}`);
      // metav1.MicroTime serialises as RFC 3339 with exactly six fractional digits.
      const micros = String(Math.floor(nanos / 1000)).padStart(6, '0');
      return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, `.${micros}Z`);
    },
  ],
  [
    `${META}.FieldsV1`,
    (m, path) => {
      const raw: Uint8Array = m.Raw;
      if (!raw.length) return undefined;
      try {
        return JSON.parse(Buffer.from(raw).toString('utf8'));
      } catch (e) {
        throw badRequest(`${path}: invalid JSON in FieldsV1: ${(e as Error).message}`);
      }
    },
  ],
  // resource.Quantity: its canonical string; intstr.IntOrString: an int (type 0) or a string (type 1).
  ['k8s.io.apimachinery.pkg.api.resource.Quantity', (m) => m.string || undefined],
  ['k8s.io.apimachinery.pkg.util.intstr.IntOrString', (m) => (Number(m.type ?? 0) === 1 ? m.strVal : m.intVal)],
  // runtime.RawExtension: the embedded object in its own (JSON) serialization.
  [
    'k8s.io.apimachinery.pkg.runtime.RawExtension',
    (m, path) => {
      const raw: Uint8Array = m.raw;
      if (!raw.length) return undefined;
      try {
        return JSON.parse(Buffer.from(raw).toString('utf8'));
      } catch (e) {
        throw badRequest(`${path}: invalid JSON in RawExtension: ${(e as Error).message}`);
      }
    },
  ],
  ['k8s.io.api.authentication.v1.ExtraValue', (m) => [...m.items]],
  ['k8s.io.api.authorization.v1.ExtraValue', (m) => [...m.items]],
]);

/** Converts one message to Kubernetes JSON; undefined when Go would leave it out as a zero value. */
export function messageToJSON(desc: DescMessage, msg: Message, path = ''): unknown {
  const custom = CUSTOM.get(desc.typeName);
  if (custom) return custom(msg, path);
  const go = GO_FIELDS.get(desc.typeName) ?? {};
  const out: KObject = {};
  for (const field of desc.fields) {
    const name = go.rename?.[field.name] ?? field.name;
    const fieldPath = path ? `${path}.${name}` : name;
    // Go always emits struct fields (and Go clients always send them), and emits pointer scalars when
    // non-nil: for both, present on the wire means emitted, even as {} / false / 0.
    const pointer = field.fieldKind === 'message' || go.pointer?.includes(field.name);
    if (pointer && !isFieldSet(msg as any, field)) continue;
    const value = fieldToJSON(field, (msg as any)[field.localName], fieldPath);
    if (value === undefined) continue;
    if (field.fieldKind === 'scalar' && !pointer && !go.always?.includes(field.name) && isZero(value)) continue;
    if (go.inline?.includes(field.name) && value && typeof value === 'object') Object.assign(out, value);
    else out[name] = value;
  }
  return out;
}

function fieldToJSON(field: DescField, value: any, path: string): unknown {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarToJSON(field.scalar, value, path);
    case 'enum':
      return value;
    case 'message':
      return messageToJSON(field.message, value, path);
    case 'list': {
      const items = value as unknown[];
      if (!items.length) return undefined;
      return items.map((v, i) => {
        const p = `${path}[${i}]`;
        if (field.listKind === 'message') return messageToJSON(field.message, v as Message, p) ?? null;
        return field.listKind === 'scalar' ? scalarToJSON(field.scalar, v, p) : v;
      });
    }
    case 'map': {
      const entries = Object.entries(value as Record<string, unknown>);
      if (!entries.length) return undefined;
      const out: KObject = {};
      for (const [k, v] of entries) {
        const p = `${path}[${k}]`;
        if (field.mapKind === 'message') out[k] = messageToJSON(field.message, v as Message, p) ?? null;
        else out[k] = field.mapKind === 'scalar' ? scalarToJSON(field.scalar, v, p) : v;
      }
      return out;
    }
  }
}

function scalarToJSON(type: ScalarType, value: unknown, path: string): unknown {
  if (type === ScalarType.BYTES) return Buffer.from(value as Uint8Array).toString('base64');
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw badRequest(`${path}: integer out of range: ${value}`);
    return Number(value);
  }
  return value;
}

/** Go's omitempty test for a scalar. */
function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false;
}
