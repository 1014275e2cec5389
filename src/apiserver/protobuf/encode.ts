// Response bodies in `application/vnd.kubernetes.protobuf` for clients that ask for protobuf first
// (client-go's default Accept for built-in kinds): "k8s\0" + runtime.Unknown{typeMeta, raw}. The inverse of
// json.ts, and deliberately strict: an object whose JSON form the message cannot carry exactly (a field
// the subset in proto/k8s lacks, a timestamp with more precision than its Go type, a kind without a
// message) is not encoded, and the caller answers in JSON, which every client also accepts.

import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { KObject } from '../resource.ts';
import { KINDS } from './decode.ts';
import { GO_FIELDS } from './gotypes.ts';
import { ConfigMapListSchema, EventListSchema, NamespaceListSchema, SecretListSchema, ServiceAccountListSchema } from './gen/k8s/core_v1_pb.ts';
import { ClusterRoleBindingListSchema, ClusterRoleListSchema, RoleBindingListSchema, RoleListSchema } from './gen/k8s/rbac_v1_pb.ts';
import { LeaseListSchema } from './gen/k8s/coordination_v1_pb.ts';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

const LIST_KINDS: ReadonlyMap<string, DescMessage> = new Map(
  (
    [
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
    ] as const
  ).map(([apiVersion, kind, schema]) => [`${apiVersion}/${kind}`, schema]),
);

/** Thrown inside the encoder when the message cannot carry the JSON exactly; never escapes encodeKubeProtobuf. */
class Unencodable extends Error {}

const fail = (path: string, why: string): never => {
  throw new Unencodable(`${path}: ${why}`);
};

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{6}))?Z$/;

/** Seconds of a timestamp in Go's form, or undefined when it is not exactly that form. Memoised: lists repeat them. */
const seconds = new Map<string, number | undefined>();
function timeSeconds(v: string): number | undefined {
  if (seconds.has(v)) return seconds.get(v);
  const m = RFC3339.exec(v);
  let out: number | undefined;
  if (m) {
    const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number);
    const ms = Date.UTC(y, mo - 1, d, h, mi, se);
    const back = new Date(ms);
    // Date.UTC normalises 31 Feb into March: only a date that survives the round trip is a date.
    if (back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && h < 24 && mi < 60 && se < 60) out = ms / 1000;
  }
  if (seconds.size > 10_000) seconds.clear();
  seconds.set(v, out);
  return out;
}

function writeTime(w: BinaryWriter, v: unknown, path: string, micro: boolean): void {
  if (typeof v !== 'string') return fail(path, 'time is not a string');
  const s = timeSeconds(v);
  const fraction = v.length === 27 ? v.slice(20, 26) : undefined;
  if (s === undefined || (micro ? fraction === undefined : fraction !== undefined)) return fail(path, `time ${JSON.stringify(v)} is not in the Go form`);
  if (s !== 0) w.tag(1, WireType.Varint).int64(s);
  if (fraction !== undefined && fraction !== '000000') w.tag(2, WireType.Varint).int32(Number(fraction) * 1000);
}

/** Inverses of json.ts's CUSTOM conversions, writing the message's fields; other custom JSON forms are not encoded. */
const CUSTOM: ReadonlyMap<string, (w: BinaryWriter, v: unknown, path: string) => void> = new Map<string, (w: BinaryWriter, v: unknown, path: string) => void>([
  [`${META}.Time`, (w, v, path) => writeTime(w, v, path, false)],
  [`${META}.MicroTime`, (w, v, path) => writeTime(w, v, path, true)],
  [`${META}.FieldsV1`, (w, v) => void w.tag(1, WireType.LengthDelimited).bytes(Buffer.from(JSON.stringify(v)))],
  ['k8s.io.api.authentication.v1.ExtraValue', (w, v, path) => writeStrings(w, v, path)],
  ['k8s.io.api.authorization.v1.ExtraValue', (w, v, path) => writeStrings(w, v, path)],
]);

function writeStrings(w: BinaryWriter, v: unknown, path: string): void {
  if (!Array.isArray(v)) return fail(path, 'not a list of strings');
  for (const s of v) w.tag(1, WireType.LengthDelimited).string(typeof s === 'string' ? s : fail(path, 'not a list of strings'));
}

function writeMessage(w: BinaryWriter, desc: DescMessage, v: unknown, path: string): void {
  const custom = CUSTOM.get(desc.typeName);
  if (custom) return custom(w, v, path);
  if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(path, 'not an object');
  const json = v as Record<string, unknown>;
  const go = GO_FIELDS.get(desc.typeName);
  let consumed = 0;
  for (const field of desc.fields) {
    const name = go?.rename?.[field.name] ?? field.name;
    const value = json[name];
    if (value === undefined) continue;
    consumed++;
    // The field name alone is path enough: the reason never leaves the encoder, and building full paths
    // for every field of a 10,000-item list costs more than the encoding.
    if (value !== null) writeField(w, field, value, name);
  }
  let present = 0;
  for (const k in json) if (json[k] !== undefined) present++;
  if (consumed !== present) {
    const known = new Set(desc.fields.map((f) => go?.rename?.[f.name] ?? f.name));
    return fail(
      path,
      `fields without a protobuf number here: ${Object.keys(json)
        .filter((k) => !known.has(k))
        .join(', ')}`,
    );
  }
}

function writeNested(w: BinaryWriter, no: number, desc: DescMessage, v: unknown, path: string): void {
  w.tag(no, WireType.LengthDelimited).fork();
  writeMessage(w, desc, v, path);
  w.join();
}

function writeField(w: BinaryWriter, field: DescField, v: unknown, path: string): void {
  switch (field.fieldKind) {
    case 'scalar':
      return writeScalar(w, field.number, field.scalar, v, path);
    case 'message':
      return writeNested(w, field.number, field.message, v, path);
    case 'list':
      if (!Array.isArray(v)) return fail(path, 'not a list');
      // proto2 without [packed]: one tag per element, as Go's generated marshallers write.
      for (let i = 0; i < v.length; i++) {
        if (field.listKind === 'message') writeNested(w, field.number, field.message, v[i], path);
        else if (field.listKind === 'scalar') writeScalar(w, field.number, field.scalar, v[i], path);
        else fail(path, 'enum values are not encoded');
      }
      return;
    case 'map': {
      if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(path, 'not an object');
      if (field.mapKey !== ScalarType.STRING) return fail(path, 'only string map keys are encoded');
      for (const [k, item] of Object.entries(v)) {
        const p = path;
        w.tag(field.number, WireType.LengthDelimited).fork();
        w.tag(1, WireType.LengthDelimited).string(k);
        if (field.mapKind === 'message') writeNested(w, 2, field.message, item, p);
        else if (field.mapKind === 'scalar') writeScalar(w, 2, field.scalar, item, p);
        else fail(p, 'enum values are not encoded');
        w.join();
      }
      return;
    }
    default:
      return fail(path, 'enum values are not encoded');
  }
}

function writeScalar(w: BinaryWriter, no: number, type: ScalarType, v: unknown, path: string): void {
  switch (type) {
    case ScalarType.STRING:
      if (typeof v !== 'string') return fail(path, 'not a string');
      w.tag(no, WireType.LengthDelimited).string(v);
      return;
    case ScalarType.BOOL:
      if (typeof v !== 'boolean') return fail(path, 'not a boolean');
      w.tag(no, WireType.Varint).bool(v);
      return;
    case ScalarType.INT32:
      if (!Number.isInteger(v) || (v as number) < -(2 ** 31) || (v as number) >= 2 ** 31) return fail(path, 'not an int32');
      w.tag(no, WireType.Varint).int32(v as number);
      return;
    case ScalarType.INT64:
      if (!Number.isSafeInteger(v)) return fail(path, 'not an int64');
      w.tag(no, WireType.Varint).int64(v as number);
      return;
    case ScalarType.BYTES: {
      if (typeof v !== 'string') return fail(path, 'bytes are not a base64 string');
      const b = Buffer.from(v, 'base64');
      if (b.toString('base64') !== v) return fail(path, 'bytes are not canonical base64');
      w.tag(no, WireType.LengthDelimited).bytes(b);
      return;
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
  // runtime.Unknown{typeMeta: 1, raw: 2}, with the object's message written straight into field 2.
  const w = new BinaryWriter();
  w.raw(MAGIC);
  w.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(apiVersion).tag(2, WireType.LengthDelimited).string(kind).join();
  try {
    writeNested(w, 2, schema, rest, '');
  } catch (e) {
    if (e instanceof Unencodable) return undefined;
    throw e;
  }
  return Buffer.from(w.finish());
}

/** Whether protobuf responses exist for this apiVersion and kind at all (decides nothing about one object). */
export function servesProtobuf(apiVersion: string, kind: string): boolean {
  return schemaFor(apiVersion, kind) !== undefined;
}
