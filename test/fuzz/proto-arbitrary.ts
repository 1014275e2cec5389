// Random protobuf messages of a given schema (EVE's info/metrics/flowlog...): every field may be
// set, with hostile values of its own type — unicode edge cases, huge strings, extreme integers,
// NaN/Infinity doubles, out-of-range enum numbers, long lists, nested messages to a bounded depth.
// Generated from a fast-check integer seed with a small PRNG, so a failing message is reproducible.

import fc from 'fast-check';
import { create, toBinary, ScalarType, type DescField, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { UNICODE_EDGES } from './arbitraries.ts';

/** mulberry32: tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  string(): string {
    switch (this.int(6)) {
      case 0:
        return '';
      case 1:
        return this.pick(UNICODE_EDGES).repeat(1 + this.int(4));
      case 2:
        return 'x'.repeat(this.pick([1, 255, 256, 4096, 70_000]));
      case 3:
        return String.fromCharCode(...Array.from({ length: 1 + this.int(20) }, () => this.int(0x10000)));
      case 4:
        return this.pick(['0.0.0.0', '::1', '-1', 'NaN', '1e400', '../../etc/passwd', 'IMGA', 'IMGB', '{"a":', 'a'.repeat(64)]);
      default:
        return String(this.r()).slice(2);
    }
  }
  int32(): number {
    return this.pick([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), this.int(1000)]);
  }
  uint32(): number {
    return this.pick([0, 1, 2 ** 32 - 1, this.int(1000)]);
  }
  int64(): bigint {
    return this.pick([0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, BigInt(this.int(1e6))]);
  }
  uint64(): bigint {
    return this.pick([0n, 1n, 2n ** 64n - 1n, 2n ** 53n + 1n, BigInt(this.int(1e6))]);
  }
  double(): number {
    return this.pick([0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 1e300, -1.5, this.r() * 1e6]);
  }
  bytes(): Uint8Array {
    return Uint8Array.from({ length: this.pick([0, 1, 16, 32, 300]) }, () => this.int(256));
  }
}

function scalar(g: Gen, t: ScalarType): unknown {
  switch (t) {
    case ScalarType.STRING:
      return g.string();
    case ScalarType.BYTES:
      return g.bytes();
    case ScalarType.BOOL:
      return g.chance(0.5);
    case ScalarType.DOUBLE:
      return g.double();
    case ScalarType.FLOAT:
      return Math.fround(g.double());
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return g.int32();
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return g.uint32();
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return g.int64();
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return g.uint64();
  }
  return undefined;
}

function enumValue(g: Gen, e: { values: readonly { number: number }[] }): number {
  // Mostly known values; sometimes a number the schema does not know (proto3 keeps it).
  return g.chance(0.8) && e.values.length ? g.pick(e.values).number : g.pick([-1, 999, 2 ** 31 - 1]);
}

function value(g: Gen, f: DescField, depth: number): unknown {
  switch (f.fieldKind) {
    case 'scalar':
      return scalar(g, f.scalar);
    case 'enum':
      return enumValue(g, f.enum);
    case 'message':
      return message(g, f.message, depth + 1);
    case 'list': {
      const n = g.pick([0, 1, 2, 3, 50]);
      return Array.from({ length: depth > 3 ? Math.min(n, 2) : n }, () =>
        f.listKind === 'scalar' ? scalar(g, f.scalar) : f.listKind === 'enum' ? enumValue(g, f.enum) : message(g, f.message, depth + 1),
      );
    }
    case 'map': {
      const out: Record<string, unknown> = {};
      for (let i = g.int(4); i > 0; i--) {
        const k = String(scalar(g, f.mapKey));
        out[f.mapKey === ScalarType.BOOL ? (g.chance(0.5) ? 'true' : 'false') : k] =
          f.mapKind === 'scalar' ? scalar(g, f.scalar) : f.mapKind === 'enum' ? enumValue(g, f.enum) : message(g, f.message, depth + 1);
      }
      return out;
    }
  }
}

function message<D extends DescMessage>(g: Gen, desc: D, depth: number): MessageShape<D> {
  const init: Record<string, unknown> = {};
  if (depth <= 5) {
    for (const f of desc.fields) {
      if (!g.chance(depth === 0 ? 0.6 : 0.35)) continue;
      const v = value(g, f, depth);
      if (f.oneof) init[f.oneof.localName] = { case: f.localName, value: v };
      else init[f.localName] = v;
    }
  }
  return create(desc, init as never);
}

/** A random message of the schema, marshalled. */
export function randomMessageBytes(desc: DescMessage, seed: number): Uint8Array {
  const g = new Gen(prng(seed));
  return toBinary(desc, message(g, desc, 0));
}

export const protoMessage = (desc: DescMessage): fc.Arbitrary<{ seed: number; bytes: Uint8Array }> =>
  fc.integer().map((seed) => ({ seed, bytes: randomMessageBytes(desc, seed) }));
