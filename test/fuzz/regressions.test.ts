// Defects the fuzz suite found on the Kubernetes side, pinned as plain tests (fixed in this branch).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => {
  t = await startTestServer();
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'things.fuzz.kubeve.io' },
    spec: {
      group: 'fuzz.kubeve.io',
      scope: 'Namespaced',
      names: { plural: 'things', singular: 'thing', kind: 'Thing' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } },
        },
      ],
    },
  };
  assert.equal((await api(t.server, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status, 201);
  await t.ok(['wait', '--for=condition=established', '--timeout=20s', 'crd/things.fuzz.kubeve.io']);
});
after(async () => {
  await t?.close();
});

test('a Node created without status can be patched, applied and updated', async () => {
  assert.equal((await api(t.server, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bare' } })).status, 201);
  const merge = await api(t.server, 'PATCH', '/api/v1/nodes/bare', '{"metadata":{"labels":{"a":"b"}}}', { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(merge.status, 200, JSON.stringify(merge.body));
  assert.equal(merge.body.status, undefined);
  const apply = await api(
    t.server,
    'PATCH',
    '/api/v1/nodes/bare?fieldManager=me',
    '{"apiVersion":"v1","kind":"Node","metadata":{"name":"bare","labels":{"c":"d"}}}',
    { 'Content-Type': 'application/apply-patch+yaml' },
  );
  assert.equal(apply.status, 200, JSON.stringify(apply.body));
  const out = await t.ok(['label', 'node', 'bare', 'e=f']);
  assert.match(out, /labeled/);
});

test('a warning quoting a hostile field name is sent escaped; kubectl prints it and the write succeeds', async () => {
  const name = 'sp\u00e9c\u202e\ud800\u{1F984}\u0007';
  const body = JSON.stringify({ apiVersion: 'fuzz.kubeve.io/v1', kind: 'Thing', metadata: { name: 'w1' }, spec: { size: 1, [name]: 1 } });
  const r = await api(t.server, 'POST', '/apis/fuzz.kubeve.io/v1/namespaces/default/things', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  // UTF-8 on the wire, as kube-apiserver sends it; the bell and the lone surrogate become U+FFFD.
  const warning = Buffer.from(String(r.headers.warning), 'latin1').toString('utf8');
  assert.equal(warning, '299 - "unknown field \\"spec.sp\u00e9c\u202e\uFFFD\u{1F984}\uFFFD\\""');
  // kubectl (Go) unquotes the header and shows the warning.
  const file = t.file('w2.json', body.replace('"w1"', '"w2"'));
  const k = await t.kubectl(['create', '--validate=warn', '-f', file]);
  assert.equal(k.code, 0, k.stderr);
  assert.ok(k.stderr.includes('Warning: unknown field "spec.sp\u00e9c\u202e\uFFFD\u{1F984}\uFFFD"'), k.stderr);
});

test('apiVersion or kind of the wrong JSON type is a 400 on create and update (was a 500); null counts as absent', async () => {
  const cms = '/api/v1/namespaces/default/configmaps';
  for (const [field, value] of [
    ['apiVersion', 1],
    ['apiVersion', ['v1']],
    ['kind', { k: 1 }],
    ['kind', true],
  ] as const) {
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'typed' }, [field]: value };
    const c = await api(t.server, 'POST', cms, body);
    assert.equal(c.status, 400, `${field}=${JSON.stringify(value)}: ${JSON.stringify(c.body)}`);
    assert.match(c.body.message, new RegExp(`cannot unmarshal .* into Go struct field \\.${field} of type string`));
  }
  const ok = await api(t.server, 'POST', cms, { apiVersion: null, kind: null, metadata: { name: 'typed' } });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  const put = await api(t.server, 'PUT', `${cms}/typed`, '{"apiVersion":1,"kind":[],"metadata":{"name":"typed"}}');
  assert.equal(put.status, 400, JSON.stringify(put.body));
});

test('a JSON patch whose copies would add more than 3 MiB is refused at once (was: minutes and gigabytes for 1.4 KB of patch)', async () => {
  const cm = '/api/v1/namespaces/default/configmaps/doubling';
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'doubling' }, data: { a: '1' } })).status, 201);
  const bomb = JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ op: 'copy', from: '/data', path: `/data/c${i}` })));
  const started = Date.now();
  const r = await api(t.server, 'PATCH', cm, bomb, { 'Content-Type': 'application/json-patch+json' });
  assert.equal(r.status, 422, JSON.stringify(r.body).slice(0, 300));
  assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
  // Copies within the budget still work.
  const ok = await api(t.server, 'PATCH', cm, '[{"op":"copy","from":"/data/a","path":"/data/b"}]', { 'Content-Type': 'application/json-patch+json' });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(ok.body.data, { a: '1', b: '1' });
});

test('an object with a 90,000-character name (RBAC names have no length limit) can be read and deleted by its URL', async () => {
  const name = 'r'.repeat(90_000);
  const roles = '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles';
  const c = await api(t.server, 'POST', roles, { metadata: { name }, rules: [] });
  assert.equal(c.status, 201, JSON.stringify(c.body).slice(0, 300));
  assert.equal((await api(t.server, 'GET', `${roles}/${name}`)).status, 200);
  assert.equal((await api(t.server, 'DELETE', `${roles}/${name}`)).status, 200);
  assert.equal((await api(t.server, 'GET', `${roles}/${name}`)).status, 404);
});

test('a CRD whose spec, names or conversion has the wrong JSON type is refused with a 4xx (was a 500 from defaulting)', async () => {
  const valid = () => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'odds.fuzz.kubeve.io' },
    spec: {
      group: 'fuzz.kubeve.io',
      scope: 'Namespaced',
      names: { plural: 'odds', kind: 'Odd' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }],
    },
  });
  const cases: [string, (o: any) => void][] = [
    ['spec', (o) => (o.spec = -2e-232)],
    ['spec.names', (o) => (o.spec.names = 'odd')],
    ['spec.conversion', (o) => (o.spec.conversion = 7)],
  ];
  for (const [what, mutate] of cases) {
    const o = valid();
    mutate(o);
    const r = await api(t.server, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', o);
    assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  }
});

test('lone surrogates in a JSON body become U+FFFD as Go decodes them: a Role named with one is created, read and deleted', async () => {
  const body =
    '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"r\\ud800","labels":{"a":"b"},"annotations":{"k":"v\\udc00\\ud83d"}},"rules":[]}';
  const r = await api(t.server, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.metadata.name, 'r\ufffd');
  assert.deepEqual(r.body.metadata.annotations, { k: 'v\ufffd\ufffd' });
  const path = `/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/${encodeURIComponent('r\ufffd')}`;
  assert.equal((await api(t.server, 'GET', path)).status, 200);
  assert.equal((await api(t.server, 'DELETE', path)).status, 200);
  // A well-formed pair is left alone.
  const ok = await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', '{"metadata":{"name":"pair"},"data":{"x":"\\ud83e\\udd84"}}');
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.data.x, '\u{1F984}');
});

test('an empty Secret value is zero bytes, as in kube; broken base64 is still refused', async () => {
  const ok = await api(t.server, 'POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'empty' }, data: { a: '', b: 'eA==' } });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.deepEqual(ok.body.data, { a: '', b: 'eA==' });
  const bad = await api(t.server, 'POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'bad' }, data: { a: 'eA=' } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /data\.a in body must be of type byte/);
});
