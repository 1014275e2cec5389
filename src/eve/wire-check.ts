// Strict protobuf wire-format check before decoding a device message. @bufbuild/protobuf is
// lenient where Go's proto.Unmarshal (what EVE and Adam use) is not: a length-delimited value
// on a varint field may run past the end, and stray start-group tags are skipped silently, so
// garbage would be accepted as an empty message. This walks the bytes against the schema with
// an explicit stack (no recursion), bounded in nesting depth, and names the first defect.
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';

export class WireFormatError extends Error {}

/** Nesting bound for device messages; EVE's deepest real message is < 10 levels. */
export const MAX_PROTO_DEPTH = 100;

enum Wire {
  Varint = 0,
  Bit64 = 1,
  Len = 2,
  StartGroup = 3,
  EndGroup = 4,
  Bit32 = 5,
}

function scalarWire(t: ScalarType): Wire {
  switch (t) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return Wire.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return Wire.Bit32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return Wire.Len;
    default:
      return Wire.Varint;
  }
}

/** Wire types a field may arrive with (repeated scalars: packed or not). */
function wireTypes(f: DescField): Wire[] {
  switch (f.fieldKind) {
    case 'scalar':
      return [scalarWire(f.scalar)];
    case 'enum':
      return [Wire.Varint];
    case 'message':
      return [f.delimitedEncoding ? Wire.StartGroup : Wire.Len];
    case 'map':
      return [Wire.Len];
    case 'list':
      if (f.listKind === 'message') return [f.delimitedEncoding ? Wire.StartGroup : Wire.Len];
      if (f.listKind === 'enum') return [Wire.Varint, Wire.Len];
      return scalarWire(f.scalar) === Wire.Len ? [Wire.Len] : [scalarWire(f.scalar), Wire.Len];
  }
}

// Per-schema lookups, built once per message type (the check runs on every device request).
const FIELDS = new WeakMap<DescMessage, Map<number, DescField>>();
const WIRE = new WeakMap<DescField, Wire[]>();
function field(d: DescMessage, no: number): DescField | undefined {
  let m = FIELDS.get(d);
  if (!m) FIELDS.set(d, (m = new Map(d.fields.map((f) => [f.number, f]))));
  return m.get(no);
}
function allowed(f: DescField): Wire[] {
  let w = WIRE.get(f);
  if (!w) WIRE.set(f, (w = wireTypes(f)));
  return w;
}

interface Frame {
  desc: DescMessage | undefined; // undefined: inside an unknown group
  end: number;
  group?: number; // field number of the open group
}

/**
 * Throws WireFormatError unless `buf` is a well-formed encoding of `schema`: every tag valid,
 * varints at most 10 bytes, every length and fixed value inside its enclosing message, known
 * fields with their wire type, groups balanced, nesting at most `maxDepth`.
 */
export function checkWireFormat(schema: DescMessage, buf: Uint8Array, maxDepth = MAX_PROTO_DEPTH): void {
  let pos = 0;
  const fail = (why: string): never => {
    throw new WireFormatError(`${why} at byte ${pos}`);
  };
  const varint = (end: number): number => {
    let v = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) fail('truncated varint');
      const b = buf[pos++]!;
      if (i < 7)
        v += (b & 0x7f) * 2 ** (7 * i); // exact up to 2^49; enough for lengths and tags
      else v = Number.MAX_SAFE_INTEGER;
      if (!(b & 0x80)) return v;
    }
    return fail('varint longer than 10 bytes');
  };
  const stack: Frame[] = [{ desc: schema, end: buf.length }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (pos === top.end) {
      if (top.group !== undefined) fail('unterminated group');
      stack.pop();
      continue;
    }
    const tag = varint(top.end);
    const no = Math.floor(tag / 8);
    const wt = tag % 8;
    if (no < 1 || no > 0x1fffffff) fail(`invalid field number ${no}`);
    const f = top.desc && field(top.desc, no);
    if (f && wt !== Wire.EndGroup && !allowed(f).includes(wt)) fail(`field ${f.name} with wire type ${wt}`);
    switch (wt) {
      case Wire.Varint:
        varint(top.end);
        break;
      case Wire.Bit64:
      case Wire.Bit32:
        pos += wt === Wire.Bit64 ? 8 : 4;
        if (pos > top.end) fail('truncated fixed-size value');
        break;
      case Wire.Len: {
        const len = varint(top.end);
        if (len > top.end - pos) fail(`length ${len} past the end`);
        const sub = f?.fieldKind === 'message' || (f?.fieldKind === 'list' && f.listKind === 'message') ? f.message : undefined;
        if (sub) {
          if (stack.length >= maxDepth) fail(`nested deeper than ${maxDepth}`);
          stack.push({ desc: sub, end: pos + len });
        } else pos += len; // scalars, strings, bytes, packed lists, map entries: bounded bytes
        break;
      }
      case Wire.StartGroup:
        if (stack.length >= maxDepth) fail(`nested deeper than ${maxDepth}`);
        stack.push({ desc: f?.fieldKind === 'message' ? f.message : undefined, end: top.end, group: no });
        break;
      case Wire.EndGroup:
        if (top.group !== no) fail('end-group tag without its start');
        stack.pop();
        break;
      default:
        fail(`invalid wire type ${wt}`);
    }
  }
}
