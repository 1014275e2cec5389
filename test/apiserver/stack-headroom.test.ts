// The nesting bound (MAX_NESTING_DEPTH) is only safe if every algorithm that recurses over client
// data handles well more than it, with the stack a request already uses above it. This measures,
// for each one, the deepest value it still handles (binary search, under 200 extra frames standing
// in for the request's own), and requires twice the bound (1.5 times for the YAML composer, the
// weakest, whose input the decoder caps at the bound plus the 5 levels managedFields add).
// The numbers are reported as test diagnostics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { MAX_NESTING_DEPTH, nestingExceeds, yamlDepth } from '../../src/apiserver/nesting.ts';
import { deepClone, deepEqual } from '../../src/common/json.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../src/apiserver/patch/index.ts';
import { apply, decodeManagedFields, encodeManagedFields, updateManagedFields } from '../../src/apiserver/fieldmanager/index.ts';
import { compileObjectSchema, validateStructuralSchema } from '../../src/apiserver/schema/index.ts';
import type { JSONSchema, KObject } from '../../src/apiserver/resource.ts';

const L = MAX_NESTING_DEPTH;

/** Runs fn under `frames` extra stack frames, each with a few locals, like a request's call chain. */
function underFrames<T>(frames: number, fn: () => T): T {
  const a = frames * 2;
  const b = `${frames}`;
  if (frames === 0) return fn();
  const r = underFrames(frames - 1, fn);
  return a >= 0 && b ? r : r;
}

/** The deepest `depth` (up to `cap`) for which `run(depth)` completes without a stack overflow. */
function capacity(run: (depth: number) => void, cap = 6_000): number {
  const ok = (d: number) => {
    try {
      underFrames(200, () => run(d));
      return true;
    } catch (e) {
      if (e instanceof RangeError || /call stack/i.test(String((e as Error)?.message))) return false;
      throw e;
    }
  };
  if (ok(cap)) return cap;
  let lo = 1;
  let hi = cap;
  while (hi - lo > 8) {
    const mid = (lo + hi) >> 1;
    if (ok(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** {"a": {"a": … leaf}} with `levels` objects. */
function chain(levels: number, leaf: unknown = 1): any {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}
const cr = (levels: number, leaf: unknown = 1): KObject => ({
  apiVersion: 'example.com/v1',
  kind: 'Deep',
  metadata: { name: 'x', namespace: 'd' },
  spec: chain(levels - 1, leaf),
});

const preserveSchema: JSONSchema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  },
};
const scope = { schema: preserveSchema, apiVersion: 'example.com/v1', statusSubresource: false, now: '2026-01-01T00:00:00Z' };

/** A schema whose properties nest `levels` objects (a CRD's openAPIV3Schema nests 2 JSON levels per level). */
function deepSchema(levels: number): JSONSchema {
  let s: JSONSchema = { type: 'string' };
  for (let i = 0; i < levels; i++) s = { type: 'object', properties: { a: s } };
  return { type: 'object', properties: { spec: s } };
}

const algorithms: Array<[string, number, (d: number) => void]> = [
  ['YAML.parse (flow)', 1.5, (d) => YAML.parse(`${'{a: '.repeat(d)}1${'}'.repeat(d)}`, { version: '1.1' })],
  ['YAML.parse (flow sequences)', 1.5, (d) => YAML.parse(`${'['.repeat(d)}1${']'.repeat(d)}`, { version: '1.1' })],
  ['YAML.parse (block)', 1.5, (d) => YAML.parse(Array.from({ length: d }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1\n', { version: '1.1' })],
  ['JSON.stringify', 2, (d) => JSON.stringify(cr(d))],
  ['structuredClone', 2, (d) => structuredClone(cr(d))],
  [
    'deepClone / deepEqual / nestingExceeds / yamlDepth',
    2,
    (d) => {
      const o = cr(d);
      assert.ok(deepEqual(deepClone(o), o));
      nestingExceeds(o, Infinity);
      yamlDepth(`${'{a: '.repeat(d)}1${'}'.repeat(d)}`);
    },
  ],
  [
    'schema prune + defaults + validation (preserve-unknown-fields)',
    2,
    (d) => {
      const s = compileObjectSchema(preserveSchema, { kind: 'Deep' });
      const o = cr(d);
      s.prune(o);
      s.applyDefaults(o);
      s.validate(o);
    },
  ],
  [
    'schema prune + defaults + validation (typed)',
    2,
    (d) => {
      const s = compileObjectSchema(deepSchema(d), { kind: 'Deep' });
      const o = cr(d + 1, 'x');
      s.prune(o);
      s.applyDefaults(o);
      s.validate(o);
    },
  ],
  [
    'structural schema checks (CRD schema nesting, 2 JSON levels each)',
    2,
    (d) => validateStructuralSchema(deepSchema(Math.ceil(d / 2)), 'spec.validation.openAPIV3Schema'),
  ],
  ['merge patch', 2, (d) => applyMergePatch(cr(d), { spec: chain(d - 1, 2) })],
  ['JSON patch', 2, (d) => applyJsonPatch(cr(d), [{ op: 'replace', path: `/spec${'/a'.repeat(d - 1)}`, value: 2 }])],
  ['strategic merge patch', 2, (d) => applyStrategicMergePatch(cr(d), { spec: chain(d - 1, 2) }, preserveSchema)],
  [
    'server-side apply (create, then update)',
    2,
    (d) => {
      const created = apply(undefined, cr(d), 'a', false, scope);
      const obj = { ...created.object, metadata: { ...created.object.metadata, uid: 'u', managedFields: created.managedFields } };
      apply(obj, cr(d, 3), 'b', true, scope);
    },
  ],
  [
    'managedFields of an update',
    2,
    (d) => {
      const live = {
        ...cr(d),
        metadata: {
          name: 'x',
          namespace: 'd',
          uid: 'u',
          managedFields: [{ manager: 'm', operation: 'Update', apiVersion: 'example.com/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': {} } }],
        },
      };
      updateManagedFields(live, cr(d, 2), 'n', scope);
    },
  ],
  [
    'managedFields sent by a client (decode, encode)',
    2,
    (d) => {
      let fields: any = {};
      for (let i = 0; i < d; i++) fields = { 'f:a': fields };
      encodeManagedFields(
        decodeManagedFields([{ manager: 'm', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': fields } }]),
      );
    },
  ],
];

for (const [name, factor, run] of algorithms) {
  test(`${name} handles ${factor}× the nesting bound under a request's frames`, (t) => {
    const need = Math.ceil(factor * (L + 5));
    const got = capacity(run);
    t.diagnostic(`${name}: handles ${got >= 6_000 ? '≥6000' : got} levels (bound ${L}, needed ${need})`);
    assert.ok(got >= need, `${name} overflows at ${got} levels; the bound ${L} needs ${need}`);
  });
}

test('deepClone and deepEqual treat JSON values as JSON does (clone like structuredClone; undefined members are absent)', () => {
  const v = JSON.parse('{"__proto__":{"polluted":true},"a":[1,{"b":null}],"c":"x","d":{"e":[[]]}}');
  const c = deepClone(v);
  assert.notEqual(c, v);
  assert.notEqual(c.a, v.a);
  assert.equal(Object.getPrototypeOf(c), Object.prototype, 'a "__proto__" member stays data');
  assert.deepEqual(Object.keys(c), ['__proto__', 'a', 'c', 'd']);
  assert.equal(({} as any).polluted, undefined);
  assert.ok(deepEqual(c, v));
  assert.ok(!deepEqual(c, { ...c, c: 'y' }));
  assert.ok(!deepEqual({ a: [1, 2] }, { a: { 0: 1, 1: 2 } }));
  assert.ok(deepEqual({ a: undefined }, {}), 'a member whose value is undefined is not serialised, so it is absent');
  assert.ok(!deepEqual({ a: undefined, b: 1 }, { a: 1 }));
  assert.ok(deepEqual(NaN, NaN));
});
