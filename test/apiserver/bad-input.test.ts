// Bad input gets the real server's answer (status code, reason, message naming the field) and
// changes nothing in storage.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';

let t: TestServer;
const CM = '/api/v1/namespaces/default/configmaps';
const GADGETS = '/apis/example.com/v1/namespaces/default/gadgets';

before(async () => {
  t = await startTestServer();
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gadgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  required: ['size'],
                  properties: { size: { type: 'integer', maximum: 10 }, mode: { type: 'string', enum: ['a', 'b'] } },
                },
              },
            },
          },
        },
      ],
    },
  };
  assert.equal((await api(t.server, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status, 201);
  await t.ok(['wait', '--for=condition=established', '--timeout=20s', 'crd/gadgets.example.com']);
  assert.equal((await api(t.server, 'POST', CM, { metadata: { name: 'existing' }, data: { a: '1' } })).status, 201);
});
after(async () => {
  await t?.close();
});

/** Runs a request and asserts that the store's revision did not move. */
async function unchanged<T>(fn: () => Promise<T>): Promise<T> {
  const before = await t.server.storage.currentRevision();
  const r = await fn();
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(await t.server.storage.currentRevision(), before, 'nothing was written');
  return r;
}

function isStatus(body: any, code: number, reason: string) {
  assert.equal(body.kind, 'Status');
  assert.equal(body.status, 'Failure');
  assert.equal(body.code, code);
  assert.equal(body.reason, reason);
}

test('malformed JSON is a 400', async () => {
  const r = await unchanged(() => api(t.server, 'POST', CM, '{"metadata": {"name": "x"'));
  assert.equal(r.status, 400);
  isStatus(r.body, 400, 'BadRequest');
});

test('malformed YAML is a 400', async () => {
  const r = await unchanged(() => api(t.server, 'POST', CM, 'metadata:\n  name: [x\n', { 'Content-Type': 'application/yaml' }));
  assert.equal(r.status, 400);
  isStatus(r.body, 400, 'BadRequest');
});

test('a body whose kind or namespace does not match the URL is a 400', async () => {
  const kind = await unchanged(() => api(t.server, 'POST', CM, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } }));
  assert.equal(kind.status, 400);
  assert.match(kind.body.message, /kind/);
  const ns = await unchanged(() => api(t.server, 'POST', CM, { metadata: { name: 'n', namespace: 'kube-system' } }));
  assert.equal(ns.status, 400);
  assert.match(ns.body.message, /the namespace of the provided object does not match the namespace sent on the request/);
});

test('a CR violating its schema is a 422 naming the field path', async () => {
  const r = await unchanged(() =>
    api(t.server, 'POST', GADGETS, { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g' }, spec: { size: 'big', mode: 'z' } }),
  );
  assert.equal(r.status, 422);
  isStatus(r.body, 422, 'Invalid');
  assert.match(r.body.message, /^Gadget.example.com "g" is invalid: /);
  const fields = r.body.details.causes.map((c: any) => c.field).sort();
  assert.deepEqual(fields, ['spec.mode', 'spec.size']);
  assert.match(r.body.message, /spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"/);
  const missing = await unchanged(() => api(t.server, 'POST', GADGETS, { metadata: { name: 'g' }, spec: {} }));
  assert.equal(missing.status, 422);
  assert.match(missing.body.message, /spec.size: Required value/);
});

test('an unknown field with fieldValidation=Strict is refused naming the field; Warn warns', async () => {
  const r = await unchanged(() => api(t.server, 'POST', `${GADGETS}?fieldValidation=Strict`, { metadata: { name: 'g' }, spec: { size: 1, bogus: true } }));
  assert.equal(r.status, 400);
  assert.match(r.body.message, /strict decoding error: unknown field "spec.bogus"/);
  const w = await api(t.server, 'POST', `${GADGETS}?fieldValidation=Warn`, { metadata: { name: 'g' }, spec: { size: 1, bogus: true } });
  assert.equal(w.status, 201);
  assert.match(String(w.headers.warning), /299 - "unknown field \\"spec.bogus\\""/);
  assert.equal(w.body.spec.bogus, undefined, 'the unknown field is pruned');
});

test('a stale resourceVersion is a 409 Conflict', async () => {
  const cur = await api(t.server, 'GET', `${CM}/existing`);
  const ok = await api(t.server, 'PUT', `${CM}/existing`, { ...cur.body, data: { a: '2' } });
  assert.equal(ok.status, 200);
  const r = await unchanged(() => api(t.server, 'PUT', `${CM}/existing`, { ...cur.body, data: { a: '3' } }));
  assert.equal(r.status, 409);
  isStatus(r.body, 409, 'Conflict');
  assert.match(
    r.body.message,
    /Operation cannot be fulfilled on configmaps "existing": the object has been modified; please apply your changes to the latest version and try again/,
  );
  const p = await unchanged(() =>
    api(
      t.server,
      'PATCH',
      `${CM}/existing`,
      { metadata: { resourceVersion: cur.body.metadata.resourceVersion }, data: { a: '4' } },
      { 'Content-Type': 'application/merge-patch+json' },
    ),
  );
  assert.equal(p.status, 409, 'a resourceVersion inside a patch is a precondition');
});

test('an oversized body is a 413', async () => {
  const big = { metadata: { name: 'big' }, data: { x: 'y'.repeat(4 * 1024 * 1024) } };
  const r = await unchanged(() => api(t.server, 'POST', CM, big));
  assert.equal(r.status, 413);
  isStatus(r.body, 413, 'RequestEntityTooLarge');
});

test('no token or a wrong token is a 401', async () => {
  const none = await unchanged(() => api(t.server, 'POST', CM, { metadata: { name: 'anon' } }, {}, null));
  assert.equal(none.status, 401);
  isStatus(none.body, 401, 'Unauthorized');
  const wrong = await unchanged(() => api(t.server, 'GET', CM, undefined, {}, 'not-a-token'));
  assert.equal(wrong.status, 401);
  assert.equal((await api(t.server, 'GET', '/healthz', undefined, {}, null)).body, 'ok');
});

test('not found, already exists and unsupported patch types', async () => {
  const nf = await api(t.server, 'GET', `${CM}/nope`);
  assert.equal(nf.status, 404);
  assert.equal(nf.body.message, 'configmaps "nope" not found');
  const nfc = await api(t.server, 'GET', `${GADGETS}/nope`);
  assert.equal(nfc.body.message, 'gadgets.example.com "nope" not found');
  const dup = await unchanged(() => api(t.server, 'POST', CM, { metadata: { name: 'existing' } }));
  assert.equal(dup.status, 409);
  isStatus(dup.body, 409, 'AlreadyExists');
  await api(t.server, 'POST', GADGETS, { metadata: { name: 'g2' }, spec: { size: 1 } });
  const smp = await unchanged(() =>
    api(t.server, 'PATCH', `${GADGETS}/g2`, { spec: { size: 2 } }, { 'Content-Type': 'application/strategic-merge-patch+json' }),
  );
  assert.equal(smp.status, 415);
  isStatus(smp.body, 415, 'UnsupportedMediaType');
});

test('dry-run validates and returns the object without storing it', async () => {
  const r = await unchanged(() => api(t.server, 'POST', `${CM}?dryRun=All`, { metadata: { generateName: 'dry-' } }));
  assert.equal(r.status, 201);
  assert.match(r.body.metadata.name, /^dry-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.ok(r.body.metadata.uid);
  assert.equal(r.body.metadata.resourceVersion, '');
  assert.equal((await api(t.server, 'GET', `${CM}/${r.body.metadata.name}`)).status, 404);
});
