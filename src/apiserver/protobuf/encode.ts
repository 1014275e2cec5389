// Response bodies in `application/vnd.kubernetes.protobuf` for clients that ask for protobuf first
// (client-go's default Accept for built-in kinds): "k8s\0" + runtime.Unknown{typeMeta, raw}. The inverse of
// json.ts, and deliberately strict: an object whose JSON form the message cannot carry exactly (a field
// the subset in proto/k8s lacks, a timestamp with more precision than its Go type, a kind without a
// message) is not encoded, and the caller answers in JSON, which every client also accepts.

import { create, toBinary, type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import type { KObject } from '../resource.ts';
import { KINDS } from './decode.ts';
import { GO_FIELDS } from './gotypes.ts';
import { UnknownSchema } from './gen/k8s/runtime_pb.ts';
import { ConfigMapListSchema, EventListSchema, NamespaceListSchema, SecretListSchema, ServiceAccountListSchema } from './gen/k8s/core_v1_pb.ts';
import { ClusterRoleBindingListSchema, ClusterRoleListSchema, RoleBindingListSchema, RoleListSchema } from './gen/k8s/rbac_v1_pb.ts';
import { LeaseListSchema } from './gen/k8s/coordination_v1_pb.ts';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

const LIST_KINDS: ReadonlyMap<string, DescMessage> = new Map(
  ([
    ['v1', 'NamespaceList', NamespaceListSchema],
    ['v1', 'SecretList', SecretListSchema],
    ['v1', 'ConfigMapList', ConfigMapListSchema],
    ['v1', 'ServiceAccountList', ServiceAccountListSchema],
    ['v1', 'EventList', EventListSchema],
    ['coordination.k8s.io/v1', 'LeaseList', LeaseListSchema],
    ['rbac.authorization.k8s.io/v1', 'RoleList', RoleListSchema],
    ['rbac.authorization.k8s.io/v1', 'ClusterRoleList', ClusterRoleListSchema],
    ['rbac.authorization.k8s.io/v1', 'RoleBindingList', RoleBindingListSchema],
    ['rbac.authorization.k8s.io/v1', 'ClusterRoleBindingList', ClusterRoleBindingListSchema],
  ] as const).map(([apiVersion, kind, schema]) => [`${apiVersion}/${kind}`, schema]),
);

/** Thrown inside the encoder when the message cannot carry the JSON exactly; never escapes encodeKubeProtobuf. */
class Unencodable extends Error {}

const fail = (path: string, why: string): never => {
  throw new Unencodable(`${path}: ${why}`);
};

/** Go's metav1.Time / MicroTime text, from seconds and microseconds. */
function formatTime(seconds: number, micros: number | undefined): string {
  const base = new Date(seconds * 1000).toISOString();
  return micros === undefined ? base.replace(/\.\d{3}Z$/, 'Z') : base.replace(/\.\d{3}Z$/, `.${String(micros).padStart(6, '0')}Z`);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.(\d{6}))?Z$/;

function timeToMessage(v: unknown, path: string, micro: boolean): object {
  if (typeof v !== 'string') return fail(path, 'time is not a string');
  const m = RFC3339.exec(v);
  if (!m || (micro ? !m[2] : !!m[1])) return fail(path, `time ${JSON.stringify(v)} is not in the Go form`);
  const ms = Date.parse(v.replace(/\.\d{6}Z$/, 'Z'));
  const seconds = Math.floor(ms / 1000);
  const micros = micro ? Number(m[2]) : undefined;
  if (!Number.isFinite(ms) || formatTime(seconds, micros) !== v) return fail(path, `time ${JSON.stringify(v)} does not round-trip`);
  return { seconds: BigInt(seconds), nanos: micro ? micros! * 1000 : 0 };
}

/** Inverses of json.ts's CUSTOM conversions; a message with a custom JSON form not listed here is not encoded. */
const CUSTOM: ReadonlyMap<string, (v: unknown, path: string) => object> = new Map<string, (v: unknown, path: string) => object>([
  [`${META}.Time`, (v, path) => timeToMessage(v, path, false)],
  [`${META}.MicroTime`, (v, path) => timeToMessage(v, path, true)],
  [`${META}.FieldsV1`, (v) => ({ Raw: Buffer.from(JSON.stringify(v)) })],
  ['k8s.io.api.authentication.v1.ExtraValue', (v, path) => ({ items: stringArray(v, path) })],
  ['k8s.io.api.authorization.v1.ExtraValue', (v, path) => ({ items: stringArray(v, path) })],
]);

function stringArray(v: unknown, path: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return fail(path, 'not a list of strings');
  return v;
}

function messageInit(desc: DescMessage, v: unknown, path: string): object {
  const custom = CUSTOM.get(desc.typeName);
  if (custom) return custom(v, path);
  if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(path, 'not an object');
  const json = v as Record<string, unknown>;
  const go = GO_FIELDS.get(desc.typeName) ?? {};
  const init: Record<string, unknown> = {};
  let consumed = 0;
  for (const field of desc.fields) {
    const name = go.rename?.[field.name] ?? field.name;
    const value = json[name];
    if (value === undefined) continue;
    consumed++;
    if (value === null) continue;
    init[field.localName] = fieldInit(field, value, path ? `${path}.${name}` : name);
  }
  const present = Object.keys(json).filter((k) => json[k] !== undefined);
  if (consumed !== present.length) {
    const known = new Set(desc.fields.map((f) => go.rename?.[f.name] ?? f.name));
    return fail(path, `fields without a protobuf number here: ${present.filter((k) => !known.has(k)).join(', ')}`);
  }
  return init;
}

function fieldInit(field: DescField, v: unknown, path: string): unknown {
  switch (field.fieldKind) {
    case 'scalar':
      return scalar(field.scalar, v, path);
    case 'message':
      return messageInit(field.message, v, path);
    case 'list':
      if (!Array.isArray(v)) return fail(path, 'not a list');
      return v.map((item, i) => {
        const p = `${path}[${i}]`;
        if (field.listKind === 'message') return messageInit(field.message, item, p);
        if (field.listKind === 'scalar') return scalar(field.scalar, item, p);
        return fail(p, 'enum values are not encoded');
      });
    case 'map': {
      if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(path, 'not an object');
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) {
        const p = `${path}[${k}]`;
        if (field.mapKind === 'message') out[k] = messageInit(field.message, item, p);
        else if (field.mapKind === 'scalar') out[k] = scalar(field.scalar, item, p);
        else fail(p, 'enum values are not encoded');
      }
      return out;
    }
    default:
      return fail(path, 'enum values are not encoded');
  }
}

function scalar(type: ScalarType, v: unknown, path: string): unknown {
  switch (type) {
    case ScalarType.STRING:
      return typeof v === 'string' ? v : fail(path, 'not a string');
    case ScalarType.BOOL:
      return typeof v === 'boolean' ? v : fail(path, 'not a boolean');
    case ScalarType.INT32:
      return Number.isInteger(v) && (v as number) >= -(2 ** 31) && (v as number) < 2 ** 31 ? v : fail(path, 'not an int32');
    case ScalarType.INT64:
      return Number.isSafeInteger(v) ? BigInt(v as number) : fail(path, 'not an int64');
    case ScalarType.BYTES: {
      if (typeof v !== 'string') return fail(path, 'bytes are not a base64 string');
      const b = Buffer.from(v, 'base64');
      return b.toString('base64') === v ? b : fail(path, 'bytes are not canonical base64');
    }
    default:
      return fail(path, `scalar type ${type} is not encoded`);
  }
}

/** The message of an object's or list's apiVersion and kind, if protobuf responses are served for it. */
function schemaFor(apiVersion: string, kind: string): DescMessage | undefined {
  const key = `${apiVersion}/${kind}`;
  return LIST_KINDS.get(key) ?? KINDS.get(key);
}

/**
 * The protobuf response body for an object or list, or undefined when it cannot be carried exactly
 * (then the caller sends JSON).
 */
export function encodeKubeProtobuf(obj: KObject): Buffer | undefined {
  const { apiVersion, kind, ...rest } = obj;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return undefined;
  const schema = schemaFor(apiVersion, kind);
  if (!schema) return undefined;
  if (LIST_KINDS.has(`${apiVersion}/${kind}`) && Array.isArray(rest.items)) {
    // Items of a typed list carry no type of their own on the wire: it is the list's.
    const itemKind = kind.slice(0, -'List'.length);
    const items: KObject[] = [];
    for (const { apiVersion: v, kind: k, ...item } of rest.items as KObject[]) {
      if ((v !== undefined && v !== apiVersion) || (k !== undefined && k !== itemKind)) return undefined;
      items.push(item);
    }
    rest.items = items;
  }
  let raw: Uint8Array;
  try {
    raw = toBinary(schema, create(schema, messageInit(schema, rest, '') as never));
  } catch (e) {
    if (e instanceof Unencodable) return undefined;
    throw e;
  }
  const envelope = toBinary(UnknownSchema, create(UnknownSchema, { typeMeta: { apiVersion, kind }, raw }));
  return Buffer.concat([MAGIC, envelope]);
}

/** Whether protobuf responses exist for this apiVersion and kind at all (decides nothing about one object). */
export function servesProtobuf(apiVersion: string, kind: string): boolean {
  return schemaFor(apiVersion, kind) !== undefined;
}
