// Shared pieces of the fuzz suite: how long and with which seed properties run, and generators of
// hostile input (deep nesting, huge strings, unicode edge cases, wrong types, odd numerals, YAML
// alias bombs, raw JSON with duplicate keys).
//
// `npm test` runs every property with a fixed seed and a small number of runs (reproducible in CI);
// `npm run fuzz` sets KUBEVE_FUZZ=1: many more runs (KUBEVE_FUZZ_RUNS, default 20× the CI count)
// with a random seed (or KUBEVE_FUZZ_SEED) that is printed, so a failure can be replayed with
// KUBEVE_FUZZ_SEED=<seed>.

import fc from 'fast-check';

const LONG = process.env.KUBEVE_FUZZ === '1';
const SEED_ENV = process.env.KUBEVE_FUZZ_SEED;
const RUNS_ENV = process.env.KUBEVE_FUZZ_RUNS;
/** The CI seed: fixed so `npm test` explores the same inputs every time. */
export const CI_SEED = 20261203;

/** fast-check parameters for one property; `ciRuns` is its budget inside `npm test`. */
export function fuzzParams(name: string, ciRuns: number): { numRuns: number; seed: number; endOnFailure: boolean } {
  const seed = SEED_ENV !== undefined ? Number(SEED_ENV) : LONG ? (Math.random() * 2 ** 31) | 0 : CI_SEED;
  const numRuns = RUNS_ENV !== undefined ? Number(RUNS_ENV) : LONG ? ciRuns * 20 : ciRuns;
  if (LONG || SEED_ENV !== undefined) console.log(`# fuzz ${name}: seed=${seed} runs=${numRuns} (replay: KUBEVE_FUZZ_SEED=${seed})`);
  // Shrinking a request sequence against a live server costs minutes; the first counterexample is
  // reported as found (fast-check still prints its seed and path).
  return { numRuns, seed, endOnFailure: !LONG };
}

/** A value that fast-check prints as a short label (huge inputs would flood the report). */
export interface Labelled<T> {
  label: string;
  value: T;
}
export function labelled<T>(label: string, value: T): Labelled<T> {
  return { label, value, [fc.toStringMethod]: () => JSON.stringify(label.length > 200 ? label.slice(0, 200) + '…' : label) } as Labelled<T>;
}

/** fc.assert that also reports the failing assertion's own message (node:test prints no cause). */
export async function check<Ts extends [unknown, ...unknown[]]>(prop: fc.IAsyncProperty<Ts> | fc.IProperty<Ts>, params: fc.Parameters<Ts>): Promise<void> {
  try {
    await fc.assert(prop as fc.IAsyncProperty<Ts>, params);
  } catch (e) {
    const cause = (e as Error).cause;
    if (cause instanceof Error) (e as Error).message += `\nFailure: ${cause.message.slice(0, 2000)}`;
    throw e;
  }
}

// ---- strings ----------------------------------------------------------------------------------

/** Code units and sequences that trip encoders: lone surrogates, NUL, BOM, RTL override, combining marks. */
export const UNICODE_EDGES = [
  '\uD800', // lone high surrogate
  '\uDFFF', // lone low surrogate
  '\uDC00\uD800', // reversed pair
  '\u0000', // NUL
  '\uFEFF', // BOM
  '\u202E', // RTL override
  '\u200F', // RTL mark
  'e\u0301\u0301\u0301', // stacked combining marks
  '\u0301', // combining mark with no base
  '\uFFFF', // non-character
  '\uFFFD', // replacement character
  '\u{1F984}', // astral (surrogate pair)
  '\u2028\u2029', // JS line/paragraph separators
  '\u001b[31m', // terminal escape
  '\r\n',
  '"\\',
  '<script>',
  '${x}',
];

export const unicodeEdge = (): fc.Arbitrary<string> =>
  fc.array(fc.oneof(fc.constantFrom(...UNICODE_EDGES), fc.string({ unit: 'binary', maxLength: 8 })), { minLength: 1, maxLength: 6 }).map((a) => a.join(''));

/** A string of n repetitions of a unit (huge strings without generating them char by char). */
export const hugeString = (min = 64 << 10, max = 1536 << 10): fc.Arbitrary<string> =>
  fc
    .tuple(fc.integer({ min, max }), fc.constantFrom('a', 'é', '\u{1F984}', '\u0000', '\uD800'))
    .map(([n, u]) => u.repeat(Math.max(1, Math.floor(n / u.length))));

/** Any string a hostile client might send. */
export const hostileString = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: unicodeEdge() },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
    { weight: 1, arbitrary: hugeString() },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '-', '.', '..', 'a'.repeat(254), 'A', 'a/b', 'kube-system') },
  );

// ---- values -------------------------------------------------------------------------------------

/** A JSON value nested `depth` levels (built with a loop, so generating it never overflows). */
export function nested(depth: number, shape: 'object' | 'array' = 'object', leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = shape === 'object' ? { a: v } : [v];
  return v;
}

/** The JSON text of a value nested `depth` levels (for depths JSON.stringify cannot reach). */
export function nestedText(depth: number, shape: 'object' | 'array' = 'object'): string {
  return shape === 'object' ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + '1' + ']'.repeat(depth);
}

export const deepValue = (): fc.Arbitrary<unknown> =>
  fc.tuple(fc.constantFrom(40, 200, 1000, 3500, 12_000), fc.constantFrom<'object' | 'array'>('object', 'array')).map(([d, s]) => nested(d, s));

/** A value of a type other than the one expected: for a field that wants a string, a map, a list... */
export const wrongTypeValue = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer()), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer()), { maxKeys: 3 }),
    fc.constant({}),
    fc.constant([]),
  );

/** Anything hostile for one field. */
export const hostileValue = (): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 3, arbitrary: wrongTypeValue() }, { weight: 3, arbitrary: hostileString() }, { weight: 1, arbitrary: deepValue() });

/** Numerals JSON allows but JavaScript numbers cannot hold, and ones JSON does not allow. */
export const ODD_NUMERALS = [
  '9007199254740993', // 2^53 + 1
  '-9007199254740993',
  '18446744073709551616', // 2^64
  '1e400', // beyond float64
  '-1e400',
  '1E+999',
  '4.9e-325', // below the smallest subnormal
  '-0',
  '0.1000000000000000055511151231257827',
  '123456789012345678901234567890',
  '1.0',
  '1e2',
];
export const INVALID_NUMERALS = ['NaN', 'Infinity', '-Infinity', '+1', '01', '.5', '0x10', '1.', '1e'];

// ---- raw bodies -----------------------------------------------------------------------------------

/** Replaces the JSON string `"@@HOLE@@"` in a serialized object with raw text (numerals, duplicate keys...). */
export const HOLE = '@@HOLE@@';
export function withHole(obj: unknown, raw: string): string {
  return JSON.stringify(obj).replace(JSON.stringify(HOLE), raw);
}

/** YAML that expands exponentially through anchors and aliases ("billion laughs"). */
export function yamlAliasBomb(levels: number, fanout = 9): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: fanout }, () => `*a${i - 1}`).join(',')}]`);
  return lines.join('\n');
}

/** Malformed JSON texts. */
export const MALFORMED_JSON = [
  '',
  '{',
  '{"metadata":',
  '[]',
  'null',
  '"x"',
  '1',
  '{"a":1,}',
  "{'a':1}",
  '{"a":"\\uD8"}',
  '{"a":"\u0000"}',
  '\uFEFF{}',
  '{"metadata":{"name":"x"}}garbage',
  '{"apiVersion":1,"kind":[],"metadata":"x"}',
  nestedText(20_000),
  nestedText(20_000, 'array'),
];

function copyDoubling(n: number): string {
  return JSON.stringify(Array.from({ length: n }, (_, i) => ({ op: 'copy', from: '/data', path: `/data/c${i}` })));
}

/** JSON patches meant to hurt: copy-doubling bombs, moves into oneself, absurd pointers, bad ops. */
export const HOSTILE_JSON_PATCHES: [string, string][] = [
  // 2^20 and 2^40 copies of a small map from a 1-2 KB patch (kube caps copies at 3 MiB: 422).
  ['copy doubling 20 times', copyDoubling(20)],
  ['copy doubling 40 times', copyDoubling(40)],
  [
    'copy doubling of metadata into annotations',
    JSON.stringify([
      { op: 'add', path: '/metadata/annotations', value: {} },
      ...Array.from({ length: 20 }, (_, i) => ({ op: 'copy', from: '/metadata', path: `/metadata/annotations/c${i}` })),
    ]),
  ],
  ['move a parent into its child', '[{"op":"move","from":"/metadata","path":"/metadata/labels/x"}]'],
  ['move the root', '[{"op":"move","from":"","path":"/data/x"}]'],
  ['replace the root with a string', '[{"op":"replace","path":"","value":"x"}]'],
  ['pointer of 10,000 segments', JSON.stringify([{ op: 'add', path: '/data' + '/a'.repeat(10_000), value: 1 }])],
  ['pointer with bad escapes', '[{"op":"add","path":"/metadata/labels/a~2b","value":"x"}]'],
  ['array index beyond the end', '[{"op":"add","path":"/metadata/finalizers/99999999999","value":"x"}]'],
  [
    'negative and huge array index',
    '[{"op":"add","path":"/metadata/finalizers","value":[]},{"op":"add","path":"/metadata/finalizers/-1","value":"x"},{"op":"remove","path":"/metadata/finalizers/9007199254740993"}]',
  ],
  ['unknown op', '[{"op":"explode","path":"/data"}]'],
  ['op missing', '[{"path":"/data"}]'],
  ['value missing', '[{"op":"add","path":"/data/x"}]'],
  ['test that fails', '[{"op":"test","path":"/data","value":{"nope":1}}]'],
  ['not an array', '{"op":"add","path":"/data/x","value":"y"}'],
  ['100,000 operations', JSON.stringify(Array.from({ length: 100_000 }, () => ({ op: 'add', path: '/metadata/labels/a', value: 'b' })))],
  ['deep value', `[{"op":"add","path":"/data/x","value":${nestedText(20_000)}}]`],
];

/** Malformed YAML texts. */
export const MALFORMED_YAML = [
  'metadata:\n  name: [x\n',
  'a: *undefined_alias\n',
  '- a\nb: c\n',
  '!!binary ZZZ',
  '? [a, b]\n: c\n',
  'metadata: {name: x}\nmetadata: {name: y}\n',
  '%YAML 9.9\n---\na: 1\n',
  '!!python/object:os.system ["ls"]\n',
  '\t- tab\n',
  'a: !!int "x"\n',
  '['.repeat(5000),
  yamlAliasBomb(9),
  `x: &a [${'{b: *a},'.repeat(3)}]\n`,
];

/** Bytes that are not a valid protobuf message (truncated varints, lengths past the end, bad wire types). */
export const MALFORMED_PROTOBUF: Uint8Array[] = [
  Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // length 2^32-1, nothing follows
  Uint8Array.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 11-byte varint
  Uint8Array.from([0x0f]), // wire type 7
  Uint8Array.from([0x0b, 0x0b, 0x0b]), // unterminated groups
  Uint8Array.from([0x0c]), // end group without start
  Uint8Array.from([0x00]), // field number 0
  Uint8Array.from([0x0a, 0x05, 0x01]), // length past the end
  Uint8Array.from([0x0d, 0x01, 0x02]), // truncated fixed32
  new Uint8Array(Array.from({ length: 60_000 }, () => 0x0b)), // 60,000 nested start-group tags
  Uint8Array.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), // length varint > 10 bytes
];

/** Random bytes, sometimes with a protobuf-looking start. */
export const garbageBytes = (maxLength = 4096): fc.Arbitrary<Uint8Array> =>
  fc
    .oneof(
      fc.uint8Array({ maxLength }),
      fc.constantFrom(...MALFORMED_PROTOBUF),
      fc.tuple(fc.constantFrom(0x0a, 0x12, 0x1a, 0x22, 0x2a), fc.uint8Array({ maxLength: 64 })).map(([t, b]) => Uint8Array.from([t, ...b])),
    )
    .map(shortBytes);

/** Bytes that fast-check reports as a hex prefix and a length. */
export function shortBytes(b: Uint8Array): Uint8Array {
  const c = Uint8Array.from(b);
  Object.defineProperty(c, fc.toStringMethod, {
    value: () => `hex(${Buffer.from(c.subarray(0, 32)).toString('hex')}${c.length > 32 ? '…' : ''}, ${c.length} bytes)`,
  });
  return c;
}
