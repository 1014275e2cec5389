// Unit tests of the field manager: field sets, FieldsV1, list semantics from the schema, Update ownership,
// Apply merge/prune/conflicts and the cap on Update managers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldSet, apply, pathString, updateManagedFields, type FieldManagerScope } from '../../src/apiserver/fieldmanager/index.ts';
import { compare, toFieldSet, objectSchema } from '../../src/apiserver/fieldmanager/typed.ts';
import { StatusError } from '../../src/apiserver/errors.ts';
import type { JSONSchema, KObject } from '../../src/apiserver/resource.ts';

const SCHEMA: JSONSchema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      properties: {
        replicas: { type: 'integer' },
        tags: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
        args: { type: 'array', items: { type: 'string' } },
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['port', 'protocol'],
          items: { type: 'object', properties: { port: { type: 'integer' }, protocol: { type: 'string', default: 'TCP' }, name: { type: 'string' } } },
        },
        env: {
          type: 'array',
          'x-kubernetes-patch-merge-key': 'name',
          'x-kubernetes-patch-strategy': 'merge',
          items: { type: 'object', properties: { name: { type: 'string' }, value: { type: 'string' } } },
        },
        selector: { type: 'object', 'x-kubernetes-map-type': 'atomic', properties: { a: { type: 'string' } } },
        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    },
    status: { type: 'object', properties: { phase: { type: 'string' } } },
  },
};

const scope = (o: Partial<FieldManagerScope> = {}): FieldManagerScope => ({ schema: SCHEMA, apiVersion: 'ex.com/v1', now: '2025-01-01T00:00:00Z', ...o });
const obj = (spec: object, extra: KObject = {}): KObject => ({
  apiVersion: 'ex.com/v1',
  kind: 'Thing',
  metadata: { name: 't', namespace: 'd', uid: 'u1', ...extra },
  spec,
});
const fields = (o: KObject) => Object.fromEntries((o.metadata.managedFields ?? []).map((e: KObject) => [`${e.manager}/${e.operation}`, e.fieldsV1]));

test('FieldsV1 round-trips members, "." and every path element kind', () => {
  const v1 = {
    'f:spec': { '.': {}, 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {} } }, 'f:tags': { 'v:"a"': {} }, 'f:args': { 'i:0': {} } },
  };
  const s = FieldSet.fromFieldsV1(v1);
  assert.ok(s.has(['f:spec']));
  assert.ok(s.has(['f:spec', 'f:ports', 'k:{"port":80,"protocol":"TCP"}', 'f:port']));
  assert.ok(!s.has(['f:spec', 'f:ports']));
  assert.deepEqual(s.toFieldsV1(), v1);
  assert.throws(() => FieldSet.fromFieldsV1({ 'x:bad': {} }), /unknown path element/);
  assert.equal(pathString(['f:spec', 'f:ports', 'k:{"port":80,"protocol":"TCP"}', 'f:port']), '.spec.ports[port=80,protocol="TCP"].port');
  assert.equal(pathString(['f:spec', 'f:tags', 'v:"a"']), '.spec.tags[="a"]');
  assert.equal(pathString(['f:spec', 'f:args', 'i:3']), '.spec.args[3]');
});

test('set algebra: difference keeps descendants of removed members', () => {
  const a = FieldSet.of(['f:a'], ['f:a', 'f:b'], ['f:c']);
  const b = FieldSet.of(['f:a']);
  assert.deepEqual(a.difference(b).toFieldsV1(), { 'f:a': { 'f:b': {} }, 'f:c': {} });
  assert.deepEqual(a.intersection(FieldSet.of(['f:a', 'f:b'], ['f:x'])).toFieldsV1(), { 'f:a': { 'f:b': {} } });
  assert.ok(a.union(FieldSet.of(['f:z'])).has(['f:z']));
});

test('field sets follow the schema: sets by value, maps by key (with defaulted keys), merge-key lists, atomic nodes', () => {
  const s = toFieldSet(
    { spec: { tags: ['x'], args: ['a', 'b'], ports: [{ port: 80 }], env: [{ name: 'E', value: '1' }], selector: { a: '1' }, extra: { deep: { n: 1 } } } },
    objectSchema(SCHEMA),
  );
  assert.deepEqual(s.toFieldsV1(), {
    'f:spec': {
      'f:args': {},
      'f:env': { 'k:{"name":"E"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
      'f:extra': { 'f:deep': { '.': {}, 'f:n': {} } },
      'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {} } },
      'f:selector': {},
      'f:tags': { 'v:"x"': {} },
    },
  });
});

test('compare marks added containers with "." and atomic changes as one leaf', () => {
  const c = compare({ spec: { selector: { a: '1' } } }, { spec: { selector: { a: '2' }, tags: ['t'] }, status: { phase: 'X' } }, objectSchema(SCHEMA));
  assert.deepEqual(c.modified.toFieldsV1(), { 'f:spec': { 'f:selector': {} } });
  assert.deepEqual(c.added.toFieldsV1(), { 'f:spec': { 'f:tags': { '.': {}, 'v:"t"': {} } }, 'f:status': { '.': {}, 'f:phase': {} } });
});

test('Update: the writer takes the fields it changed; untracked objects stay untracked', () => {
  const created = obj({ replicas: 1 });
  created.metadata.managedFields = updateManagedFields(undefined, created, 'creator', scope());
  assert.deepEqual(fields(created), { 'creator/Update': { 'f:spec': { '.': {}, 'f:replicas': {} } } });
  const next = structuredClone(created);
  next.spec.replicas = 2;
  next.spec.tags = ['a'];
  next.metadata.managedFields = updateManagedFields(created, next, 'scaler', scope());
  assert.deepEqual(fields(next), {
    'creator/Update': { 'f:spec': {} },
    'scaler/Update': { 'f:spec': { 'f:replicas': {}, 'f:tags': { '.': {}, 'v:"a"': {} } } },
  });
  const untracked = obj({ replicas: 1 });
  assert.equal(updateManagedFields(untracked, obj({ replicas: 3 }), 'x', scope()), undefined);
  // A client's own list replaces the live one; [{}] resets.
  const sent = obj(
    { replicas: 1 },
    { managedFields: [{ manager: 'mine', operation: 'Apply', apiVersion: 'ex.com/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }] },
  );
  assert.deepEqual(
    updateManagedFields(created, sent, 'w', scope())?.map((e) => e.manager),
    ['mine'],
  );
  assert.equal(updateManagedFields(created, obj({ replicas: 1 }, { managedFields: [{}] }), 'w', scope()), undefined);
});

test('Update managers beyond ten are merged into ancient-changes', () => {
  let cur = obj({ replicas: 0 });
  cur.metadata.managedFields = updateManagedFields(undefined, cur, 'm0', scope({ now: '2025-01-01T00:00:00Z' }));
  for (let i = 1; i <= 11; i++) {
    const next = structuredClone(cur);
    next.spec[`f${i}`] = i;
    next.metadata.managedFields = updateManagedFields(cur, next, `m${i}`, scope({ now: `2025-01-01T00:00:${String(i).padStart(2, '0')}Z` }));
    cur = next;
  }
  const names = cur.metadata.managedFields.map((e: KObject) => e.manager);
  assert.equal(names.length, 10);
  assert.ok(names.includes('ancient-changes'));
  assert.ok(!names.includes('m0') && !names.includes('m1') && !names.includes('m2'));
});

test('Apply: merge by list keys, conflicts with the exact message, force takes over, prune removes what is no longer applied', () => {
  const a = apply(undefined, obj({ replicas: 1, ports: [{ port: 80, name: 'http' }] }), 'a', false, scope());
  assert.deepEqual(fields(a.object), {
    'a/Apply': { 'f:spec': { 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:name': {}, 'f:port': {} } }, 'f:replicas': {} } },
  });
  const live = { ...a.object, metadata: { ...a.object.metadata, uid: 'u1' } };

  const b = apply(live, obj({ ports: [{ port: 443 }] }), 'b', false, scope());
  assert.deepEqual(b.object.spec.ports, [{ port: 80, name: 'http' }, { port: 443 }]);

  let err: unknown;
  try {
    apply(b.object, obj({ replicas: 2, ports: [{ port: 80, name: 'web' }] }), 'b', false, scope());
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof StatusError);
  assert.equal(err.code, 409);
  assert.equal(err.reason, 'Conflict');
  assert.equal(err.message, 'Apply failed with 2 conflicts: conflicts with "a":\n- .spec.ports[port=80,protocol="TCP"].name\n- .spec.replicas');
  assert.deepEqual(err.details?.causes?.[1], { reason: 'FieldManagerConflict', message: 'conflict with "a"', field: '.spec.replicas' });

  const forced = apply(b.object, obj({ replicas: 2, ports: [{ port: 443 }] }), 'b', true, scope());
  assert.equal(forced.object.spec.replicas, 2);
  assert.deepEqual((fields(forced.object) as any)['a/Apply'], {
    'f:spec': { 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:name': {}, 'f:port': {} } } },
  });

  // b stops applying its port: the item goes, a's item stays.
  const pruned = apply(forced.object, obj({ replicas: 2 }), 'b', false, scope());
  assert.deepEqual(pruned.object.spec.ports, [{ port: 80, name: 'http' }]);

  // A no-op apply reports no change.
  assert.equal(apply(pruned.object, obj({ replicas: 2 }), 'b', false, scope()).changed, false);
});

test('Apply to an object nobody tracked gives existing fields to before-first-apply', () => {
  const r = apply(obj({ replicas: 1, tags: ['x'] }), obj({ tags: ['y'] }), 'ssa', false, scope());
  assert.deepEqual(r.object.spec.tags, ['x', 'y']);
  assert.deepEqual(fields(r.object), {
    'ssa/Apply': { 'f:spec': { 'f:tags': { 'v:"y"': {} } } },
    'before-first-apply/Update': { 'f:spec': { '.': {}, 'f:replicas': {}, 'f:tags': { '.': {}, 'v:"x"': {} } } },
  });
});

test('with a status subresource, the main resource does not own status and /status owns only status', () => {
  const main = apply(undefined, { ...obj({ replicas: 1 }), status: { phase: 'A' } }, 'a', false, scope({ statusSubresource: true }));
  assert.deepEqual(fields(main.object), { 'a/Apply': { 'f:spec': { 'f:replicas': {} } } });
  const st = apply(main.object, { ...obj({ replicas: 5 }), status: { phase: 'B' } }, 'c', false, scope({ statusSubresource: true, subresource: 'status' }));
  assert.deepEqual(
    st.managedFields?.find((e) => e.manager === 'c'),
    {
      manager: 'c',
      operation: 'Apply',
      apiVersion: 'ex.com/v1',
      time: '2025-01-01T00:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:status': { 'f:phase': {} } },
      subresource: 'status',
    },
  );
});
