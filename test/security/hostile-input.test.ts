// Hostile input (issue 15): no request may crash, wedge or poison the server. Against the real server
// over HTTPS and the real kubectl:
// - the reproductions of the issue are refused with kube's 4xx, the server stays up, and the
//   namespace they were aimed at can be deleted;
// - metadata of the wrong JSON type is a 400 worded as kube-apiserver's decoder words it;
// - objects at the nesting bound (MAX_NESTING_DEPTH) work for every verb, every patch type and
//   server-side apply, and kubectl decodes them; one level more is refused;
// - a server started on a data directory that already holds poisoned objects (written straight
//   into SQLite, as an older version could have stored them) starts, serves and deletes them;
// - plain HTTP to a TLS port is answered like Go's net/http answers it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { SqliteStorage } from '../../src/apiserver/storage/sqlite.ts';
import { MAX_NESTING_DEPTH } from '../../src/apiserver/nesting.ts';
import { startDeviceApi } from '../../src/eve/index.ts';

let t: TestServer;
const DEEPS = (ns: string) => `/apis/example.com/v1/namespaces/${ns}/deeps`;
const CMS = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`;
const DEEP_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'deeps.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'deeps', singular: 'deep', kind: 'Deep' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
      },
    ],
  },
};

/** JSON text of `{"a":{"a":…leaf…}}`, `levels` objects deep. */
const nest = (levels: number, leaf = '1') => '{"a":'.repeat(levels) + leaf + '}'.repeat(levels);
/** Nesting depth of a decoded value, iteratively (a top-level object is 1), managedFields aside. */
function depth(v: any): number {
  const managed = v?.metadata?.managedFields;
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x && typeof x === 'object' && x !== managed) for (const c of Object.values(x)) stack.push([c, d + 1]);
    else max = Math.max(max, d);
  }
  return max;
}
/** A Deep object whose whole body nests exactly `total` levels (body 1 + spec chain). */
const deepBody = (name: string, total: number, leaf = '1') =>
  `{"apiVersion":"example.com/v1","kind":"Deep","metadata":{"name":"${name}"},"spec":${nest(total - 1, leaf)}}`;

async function alive(): Promise<void> {
  const r = await api(t.server, 'GET', '/api/v1/namespaces/default');
  assert.equal(r.status, 200, 'the server still serves');
}

async function createNamespace(s: TestServer, name: string): Promise<void> {
  await s.ok(['create', 'namespace', name]);
}

/** kubectl delete namespace waits until it is gone (the namespace controller emptied it). */
async function deleteNamespace(s: TestServer, name: string): Promise<void> {
  await s.ok(['delete', 'namespace', name, '--timeout=30s']);
  assert.equal((await s.kubectl(['get', 'namespace', name])).code, 1, `namespace ${name} is gone`);
}

function isBadRequest(r: { status: number; body: any }, message: RegExp): void {
  assert.equal(r.status, 400, JSON.stringify(r.body).slice(0, 300));
  assert.equal(r.body.kind, 'Status');
  assert.equal(r.body.reason, 'BadRequest');
  assert.match(r.body.message, message);
}

before(async () => {
  t = await startTestServer();
  assert.equal((await api(t.server, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', DEEP_CRD)).status, 201);
  await t.ok(['wait', '--for=condition=established', '--timeout=20s', 'crd/deeps.example.com']);
});
after(async () => {
  await t?.close();
});

test('issue repro 1: an annotation nested 3,500 deep is refused at decode; the namespace still deletes', async () => {
  await createNamespace(t, 'repro-ann');
  const rev = await t.server.storage.currentRevision();
  const body = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ann","annotations":{"a":${nest(3500)}}}}`;
  const r = await api(t.server, 'POST', CMS('repro-ann'), body);
  isBadRequest(
    r,
    /^the object provided is unrecognized \(must be of type ConfigMap\): couldn't get version\/kind; json parse error: invalid character '\{' exceeded max depth \(\{"apiVersion":"v1","kind":"Con \.\.\.\)$/,
  );
  const cr = await api(t.server, 'POST', DEEPS('repro-ann'), deepBody('deep', 3500));
  isBadRequest(cr, /must be of type Deep\): .*exceeded max depth/);
  assert.equal(await t.server.storage.currentRevision(), rev, 'nothing was written');
  await alive();
  await deleteNamespace(t, 'repro-ann');
});

test('issue repro 3: 10,000-deep bodies are a 400 for create, update, every patch type and apply', async () => {
  await api(t.server, 'POST', DEEPS('default'), deepBody('target', 3));
  const p = `${DEEPS('default')}/target`;
  const d = 10_000;
  isBadRequest(await api(t.server, 'POST', DEEPS('default'), deepBody('x', d)), /exceeded max depth/);
  isBadRequest(await api(t.server, 'PUT', p, deepBody('target', d)), /exceeded max depth/);
  isBadRequest(await api(t.server, 'PATCH', p, `{"spec":${nest(d)}}`, { 'Content-Type': 'application/merge-patch+json' }), /exceeded max depth/);
  isBadRequest(
    await api(t.server, 'PATCH', p, `[{"op":"add","path":"/spec/b","value":${nest(d)}}]`, { 'Content-Type': 'application/json-patch+json' }),
    /exceeded max depth/,
  );
  isBadRequest(
    await api(t.server, 'PATCH', `${p}?fieldManager=m`, deepBody('target', d), { 'Content-Type': 'application/apply-patch+yaml' }),
    /exceeded max depth/,
  );
  // YAML: flow style, block style, and an alias chain that nests through references.
  const flow = `apiVersion: example.com/v1\nkind: Deep\nmetadata: {name: target}\nspec: ${'{a: '.repeat(d)}1${'}'.repeat(d)}\n`;
  isBadRequest(await api(t.server, 'PATCH', `${p}?fieldManager=m`, flow, { 'Content-Type': 'application/apply-patch+yaml' }), /exceeded max depth/);
  let block = 'apiVersion: example.com/v1\nkind: Deep\nmetadata:\n  name: y\nspec:\n';
  for (let i = 1; i < 700; i++) block += `${' '.repeat(i)}a:\n`;
  block += `${' '.repeat(700)}a: 1\n`;
  isBadRequest(await api(t.server, 'POST', DEEPS('default'), block, { 'Content-Type': 'application/yaml' }), /exceeded max depth/);
  let chain = 'apiVersion: example.com/v1\nkind: Deep\nmetadata: {name: alias}\nspec:\n  l0: &l0 {a: 1}\n';
  for (let i = 1; i <= 6; i++) chain += `  l${i}: &l${i} ${'['.repeat(100)}*l${i - 1}${']'.repeat(100)}\n`;
  isBadRequest(await api(t.server, 'POST', DEEPS('default'), chain, { 'Content-Type': 'application/yaml' }), /exceeded max depth/);
  // A billion-laughs alias bomb is refused by the YAML parser's alias budget, not expanded.
  let bomb = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
  for (let i = 1; i < 10; i++)
    bomb += `x${i}: &x${i} [${Array(9)
      .fill(`*x${i - 1}`)
      .join(', ')}]\n`;
  isBadRequest(await api(t.server, 'POST', CMS('default'), bomb, { 'Content-Type': 'application/yaml' }), /^error converting YAML to JSON: /);
  // Deep managedFields, as a strategic merge patch on a built-in kind.
  await api(t.server, 'POST', CMS('default'), { metadata: { name: 'mf' }, data: { a: 'b' } });
  const mf = `{"metadata":{"managedFields":[{"manager":"x","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":${nest(d)}}]}}`;
  isBadRequest(await api(t.server, 'PATCH', `${CMS('default')}/mf`, mf, { 'Content-Type': 'application/strategic-merge-patch+json' }), /exceeded max depth/);
  const target = await api(t.server, 'GET', p);
  assert.deepEqual(target.body.spec, { a: { a: 1 } }, 'the object is unchanged');
  await alive();
});

test('issue repro 2: label and annotation values that are not strings are refused as kube decodes them', async () => {
  const rev = await t.server.storage.currentRevision();
  const cm = (meta: object) => api(t.server, 'POST', CMS('default'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'typed', ...meta } });
  const prefix = 'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal';
  isBadRequest(await cm({ labels: { a: ['x'] } }), new RegExp(`^${prefix} array into Go struct field ObjectMeta.metadata.labels of type string$`));
  isBadRequest(
    await cm({ annotations: { a: { b: 1 } } }),
    new RegExp(`^${prefix} object into Go struct field ObjectMeta.metadata.annotations of type string$`),
  );
  isBadRequest(await cm({ annotations: { a: 7 } }), new RegExp(`^${prefix} number 7 into Go struct field ObjectMeta.metadata.annotations of type string$`));
  isBadRequest(await cm({ labels: ['a'] }), new RegExp(`^${prefix} array into Go struct field ObjectMeta.metadata.labels of type map\\[string\\]string$`));
  isBadRequest(await cm({ finalizers: [{}] }), new RegExp(`^${prefix} object into Go struct field ObjectMeta.metadata.finalizers of type string$`));
  isBadRequest(await cm({ generation: 'one' }), new RegExp(`^${prefix} string into Go struct field ObjectMeta.metadata.generation of type int64$`));
  isBadRequest(
    await cm({ ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 1 }] }),
    new RegExp(`^${prefix} number 1 into Go struct field OwnerReference.metadata.ownerReferences.uid of type string$`),
  );
  // A custom resource's metadata is decoded on its own, so Go names the field from ObjectMeta.
  isBadRequest(
    await api(t.server, 'POST', DEEPS('default'), { apiVersion: 'example.com/v1', kind: 'Deep', metadata: { name: 'typed', labels: { a: { b: 'c' } } } }),
    /^Deep in version "v1" cannot be handled as a Deep: json: cannot unmarshal object into Go struct field ObjectMeta.labels of type string$/,
  );
  assert.equal(await t.server.storage.currentRevision(), rev, 'nothing was written');

  // Every write path: merge patch, strategic merge patch, apply, update.
  await api(t.server, 'POST', CMS('default'), { metadata: { name: 'typed' }, data: { a: 'b' } });
  const p = `${CMS('default')}/typed`;
  isBadRequest(
    await api(t.server, 'PATCH', p, { metadata: { labels: { a: ['x'] } } }, { 'Content-Type': 'application/merge-patch+json' }),
    /labels of type string$/,
  );
  isBadRequest(
    await api(t.server, 'PATCH', p, { metadata: { annotations: { a: ['x'] } } }, { 'Content-Type': 'application/strategic-merge-patch+json' }),
    /annotations of type string$/,
  );
  isBadRequest(
    await api(
      t.server,
      'PATCH',
      `${p}?fieldManager=m`,
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'typed', labels: { a: true } } }),
      { 'Content-Type': 'application/apply-patch+yaml' },
    ),
    /cannot unmarshal bool into .*labels of type string$/,
  );
  const live = (await api(t.server, 'GET', p)).body;
  isBadRequest(await api(t.server, 'PUT', p, { ...live, metadata: { ...live.metadata, annotations: { a: null, b: [1] } } }), /annotations of type string$/);
  // kubectl can read everything that was stored.
  const out = JSON.parse(await t.ok(['get', 'configmaps', '-n', 'default', '-o', 'json']));
  assert.ok(out.items.some((i: any) => i.metadata.name === 'typed'));
});

test('ObjectMeta values are validated like ValidateObjectMeta: a 422 naming each field', async () => {
  const cm = (meta: object) => api(t.server, 'POST', CMS('default'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'meta', ...meta } });
  const causes = (r: any) => r.body.details.causes.map((c: any) => `${c.field}: ${c.message}`);
  const long = 'x'.repeat(64);
  let r = await cm({ labels: { 'a/b/c': 'x', ok: long }, finalizers: ['not a name'] });
  assert.equal(r.status, 422);
  assert.equal(r.body.reason, 'Invalid');
  const got = causes(r);
  assert.ok(
    got.some((c: string) => c.startsWith('metadata.labels: Invalid value: "a/b/c": a qualified name must consist of')),
    got.join('\n'),
  );
  assert.ok(got.includes(`metadata.labels: Invalid value: "${long}": must be no more than 63 characters`), got.join('\n'));
  assert.ok(
    got.some((c: string) => c.startsWith('metadata.finalizers: Invalid value: "not a name": name part must consist of')),
    got.join('\n'),
  );
  r = await cm({ annotations: { big: 'x'.repeat(256 * 1024) } });
  assert.equal(r.status, 422);
  assert.deepEqual(causes(r), ['metadata.annotations: Too long: may not be more than 262144 bytes']);
  r = await cm({
    ownerReferences: [
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'a', uid: '1', controller: true },
      { apiVersion: 'v1', kind: 'Secret', name: 'b', uid: '2', controller: true },
      { kind: '', name: '', uid: '' },
    ],
  });
  assert.equal(r.status, 422);
  const refs = causes(r);
  for (const want of [
    'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
    'metadata.ownerReferences.kind: Invalid value: "": kind must not be empty',
    'metadata.ownerReferences.name: Invalid value: "": name must not be empty',
    'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
  ]) {
    assert.ok(refs.includes(want), `${want}\nin\n${refs.join('\n')}`);
  }
  assert.ok(
    refs.some((c: string) => /Only one reference can have Controller set to true\. Found "true" in references for ConfigMap\/a and Secret\/b$/.test(c)),
    refs.join('\n'),
  );
  r = await api(t.server, 'POST', CMS('default'), { metadata: { generateName: 'Bad_' } });
  assert.equal(r.status, 422);
  assert.ok(
    causes(r).some((c: string) => c.startsWith('metadata.generateName: Invalid value: "Bad_": a lowercase RFC 1123 subdomain')),
    causes(r).join('\n'),
  );
});

test(`an object nested exactly ${MAX_NESTING_DEPTH} deep can be created, read, listed, watched, patched, applied and deleted`, async () => {
  const L = MAX_NESTING_DEPTH;
  const ns = 'at-limit';
  await createNamespace(t, ns);
  const P = DEEPS(ns);
  const created = await api(t.server, 'POST', P, deepBody('edge', L));
  assert.equal(created.status, 201, JSON.stringify(created.body).slice(0, 300));
  assert.equal(depth(created.body), L);
  const rv0 = created.body.metadata.resourceVersion;

  const got = await api(t.server, 'GET', `${P}/edge`);
  assert.equal(got.status, 200);
  assert.equal(depth(got.body), L);
  const list = await api(t.server, 'GET', P);
  assert.equal(list.status, 200);
  assert.equal(list.body.items.length, 1);
  const table = await api(t.server, 'GET', P, undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
  assert.equal(table.status, 200);
  assert.equal(table.body.rows[0].cells[0], 'edge');
  // The real kubectl decodes it and prints it; its own writes (managedFields one level deeper
  // than the fields they track) and `kubectl replace` of what it read back work too.
  assert.match(await t.ok(['get', 'deeps', '-n', ns]), /^NAME\s+AGE\nedge\s+/);
  assert.equal(depth(JSON.parse(await t.ok(['get', 'deep', 'edge', '-n', ns, '-o', 'json']))), L);
  await t.ok(['create', '-f', t.file('kubectl.json', deepBody('by-kubectl', L).replace('"name":"by-kubectl"', `"name":"by-kubectl","namespace":"${ns}"`))]);
  const read = await t.ok(['get', 'deep', 'by-kubectl', '-n', ns, '-o', 'yaml', '--show-managed-fields']);
  assert.match(read, /managedFields:/);
  await t.ok(['replace', '-f', t.file('replace.yaml', read.replace(/^spec:$/m, 'spec:\n  b: 1'))]);
  const replaced = JSON.parse(await t.ok(['get', 'deep', 'by-kubectl', '-n', ns, '-o', 'json']));
  assert.equal(replaced.spec.b, 1);
  assert.equal(depth(replaced), L);
  // Client-side apply: kubectl computes the patch itself and keeps last-applied-configuration.
  const csa = (leaf: string) => t.file(`csa-${leaf}.json`, deepBody('csa', L, leaf).replace('"name":"csa"', `"name":"csa","namespace":"${ns}"`));
  await t.ok(['apply', '-f', csa('1')]);
  await t.ok(['apply', '-f', csa('8')]);
  const applied = JSON.parse(await t.ok(['get', 'deep', 'csa', '-n', ns, '-o', 'json']));
  assert.equal(depth(applied), L);
  assert.match(JSON.stringify(applied.spec), /:8\}/);
  await t.ok([
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    t.file('apply.json', deepBody('by-kubectl', L, '7').replace('"name":"by-kubectl"', `"name":"by-kubectl","namespace":"${ns}"`)),
  ]);

  // Merge patch, JSON patch (replacing the innermost value through a path 511 members long) and apply.
  const merge = await api(t.server, 'PATCH', `${P}/edge`, `{"spec":${nest(L - 1, '2')}}`, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(merge.status, 200, JSON.stringify(merge.body).slice(0, 300));
  const leafPath = `/spec${'/a'.repeat(L - 1)}`;
  const jp = await api(t.server, 'PATCH', `${P}/edge`, `[{"op":"test","path":"${leafPath}","value":2},{"op":"replace","path":"${leafPath}","value":3}]`, {
    'Content-Type': 'application/json-patch+json',
  });
  assert.equal(jp.status, 200, JSON.stringify(jp.body).slice(0, 300));
  const ssa = await api(t.server, 'PATCH', `${P}/edge?fieldManager=hostile&force=true`, deepBody('edge', L, '4'), {
    'Content-Type': 'application/apply-patch+yaml',
  });
  assert.equal(ssa.status, 200, JSON.stringify(ssa.body).slice(0, 300));
  assert.ok(ssa.body.metadata.managedFields.some((m: any) => m.manager === 'hostile' && m.operation === 'Apply'));
  // Apply as YAML in block style, one level per line, as deep as the bound.
  let yaml = 'apiVersion: example.com/v1\nkind: Deep\nmetadata:\n  name: edge\nspec:\n';
  for (let i = 1; i < L - 1; i++) yaml += `${' '.repeat(i)}a:\n`;
  yaml += `${' '.repeat(L - 1)}a: 5\n`;
  const ssaYaml = await api(t.server, 'PATCH', `${P}/edge?fieldManager=hostile&force=true`, yaml, { 'Content-Type': 'application/apply-patch+yaml' });
  assert.equal(ssaYaml.status, 200, JSON.stringify(ssaYaml.body).slice(0, 300));
  assert.equal(depth(ssaYaml.body), L);
  const put = await api(t.server, 'PUT', `${P}/edge`, { ...ssaYaml.body, metadata: { ...ssaYaml.body.metadata, labels: { put: 'yes' } } });
  assert.equal(put.status, 200, JSON.stringify(put.body).slice(0, 300));
  // kubectl's own patch and apply.
  await t.ok(['label', 'deep', 'edge', '-n', ns, 'by=kubectl']);
  await t.ok(['annotate', 'deep', 'edge', '-n', ns, 'note=deep']);
  // A patch may not deepen the object past the bound: 400, nothing changes.
  const before = await t.server.storage.currentRevision();
  const deeper = await api(t.server, 'PATCH', `${P}/edge`, `[{"op":"replace","path":"${leafPath}","value":{"b":1}}]`, {
    'Content-Type': 'application/json-patch+json',
  });
  isBadRequest(deeper, /must be of type Deep\): .*exceeded max depth/);
  assert.equal(await t.server.storage.currentRevision(), before);

  // A watch from the creation replays every change with the full object.
  const watch = await api(t.server, 'GET', `${P}?watch=true&resourceVersion=${Number(rv0) - 1}&timeoutSeconds=1`);
  assert.equal(watch.status, 200);
  const events = String(watch.body)
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(events.length >= 6, `${events.length} events`);
  for (const ev of events) assert.equal(depth(ev.object), L, ev.type);

  const del = await api(t.server, 'DELETE', `${P}/edge`);
  assert.equal(del.status, 200, JSON.stringify(del.body).slice(0, 300));
  assert.equal((await api(t.server, 'GET', `${P}/edge`)).status, 404);
  await api(t.server, 'POST', P, deepBody('left', L));
  await deleteNamespace(t, ns);
});

test('a namespace whose content fails to delete says so in a condition, is retried, and goes once the failure clears', async () => {
  await createNamespace(t, 'flaky');
  await t.ok(['create', 'configmap', 'c', '-n', 'flaky', '--from-literal=a=b']);
  // A storage failure on one resource of one namespace (injected), not a client's doing.
  const service = t.server.service;
  const original = service.deleteCollection;
  let failing = true;
  service.deleteCollection = async function (this: typeof service, ...args: Parameters<typeof original>) {
    if (failing && args[0].resource === 'configmaps' && args[1] === 'flaky') throw new Error('disk on fire');
    return original.apply(this, args);
  };
  try {
    await t.ok(['delete', 'namespace', 'flaky', '--wait=false']);
    const condition = async () =>
      (await api(t.server, 'GET', '/api/v1/namespaces/flaky')).body.status?.conditions?.find((c: any) => c.type === 'NamespaceDeletionContentFailure');
    const deadline = Date.now() + 10_000;
    while (!(await condition())) {
      assert.ok(Date.now() < deadline, 'the failure is recorded on the namespace');
      await sleep(50);
    }
    const c = await condition();
    assert.deepEqual([c.status, c.reason, c.message], ['True', 'ContentDeletionFailed', 'Failed to delete all resource types, 1 remaining: disk on fire']);
    assert.match(await t.ok(['get', 'namespace', 'flaky']), /Terminating/);
    await alive();
    failing = false;
    const gone = Date.now() + 30_000;
    while ((await api(t.server, 'GET', '/api/v1/namespaces/flaky')).status !== 404) {
      assert.ok(Date.now() < gone, 'the retry deletes the namespace once the failure clears');
      await sleep(100);
    }
  } finally {
    service.deleteCollection = original;
  }
});

test('a list with a malformed resourceVersion is a 400, as the watch is', async () => {
  const message = 'invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax';
  for (const q of [
    'resourceVersion=abc',
    'resourceVersion=abc&watch=true',
    'resourceVersion=abc&limit=1',
    'resourceVersion=-1',
    '/missing?resourceVersion=abc',
  ]) {
    const r = await api(t.server, 'GET', q.startsWith('/') ? `${CMS('default')}${q}` : `${CMS('default')}?${q}`);
    assert.equal(r.status, 400, q);
    assert.equal(r.body.reason, 'BadRequest');
    if (q.includes('abc')) assert.equal(r.body.message, message);
  }
  const kubectl = await t.kubectl(['get', 'configmaps', '--raw', '/api/v1/namespaces/default/configmaps?resourceVersion=abc']);
  assert.notEqual(kubectl.code, 0);
});

/** Sends bytes over plain TCP and returns everything the server writes back before closing. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(text));
    let got = '';
    c.on('data', (d) => (got += d.toString('latin1')));
    c.on('error', reject);
    c.on('close', () => resolve(got));
  });
}

const PLAIN_HTTP_REPLY = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';

test('plain HTTP to the API server TLS port is answered with a 400, and TLS keeps working', async () => {
  const port = Number(new URL(t.server.url).port);
  assert.equal(await rawExchange(port, 'GET /api HTTP/1.1\r\nHost: x\r\n\r\n'), PLAIN_HTTP_REPLY);
  assert.equal(await rawExchange(port, 'POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'), PLAIN_HTTP_REPLY);
  assert.equal(await rawExchange(port, '\x00\x01garbage\r\n\r\n'), '', 'other garbage is dropped');
  await alive();
});

test('plain HTTP to the device API TLS port is answered with a 400', async () => {
  const dir = join(t.dir, 'device-api');
  const dev = await startDeviceApi({ dataDir: dir, host: '127.0.0.1', port: 0, tlsHosts: ['127.0.0.1'], hooks: { admitOnboarding: () => 'deny' } });
  try {
    assert.equal(await rawExchange(dev.port, 'GET /api/v2/edgedevice/ping HTTP/1.1\r\nHost: x\r\n\r\n'), PLAIN_HTTP_REPLY);
    const ping = await new Promise<number>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: dev.port, path: '/api/v2/edgedevice/ping', rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    assert.ok(ping > 0 && ping < 500, `TLS still served (${ping})`);
  } finally {
    await dev.close();
  }
});

test('a server started on a data directory holding poisoned objects starts, serves and deletes them', async () => {
  const s1 = await startTestServer();
  const dataDir = join(s1.dir, 'data');
  let s2: TestServer | undefined;
  try {
    assert.equal((await api(s1.server, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', DEEP_CRD)).status, 201);
    await s1.ok(['wait', '--for=condition=established', '--timeout=20s', 'crd/deeps.example.com']);
    for (const ns of ['poisoned', 'terminating']) await createNamespace(s1, ns);
    await s1.server.close();

    // What an older version could have stored: nesting as deep as its encoder managed, and
    // metadata of the wrong types (kubectl cannot decode that ConfigMap).
    const storage = SqliteStorage.open(join(dataDir, 'kubeve.db'));
    const meta = (ns: string, name: string, extra = '') =>
      `{"name":"${name}","namespace":"${ns}","uid":"00000000-0000-0000-0000-${String(Math.floor(Math.random() * 1e12)).padStart(12, '0')}","creationTimestamp":"2026-01-01T00:00:00Z"${extra}}`;
    for (const ns of ['poisoned', 'terminating']) {
      await storage.create(
        `/registry/core/configmaps/${ns}/ann`,
        `{"apiVersion":"v1","kind":"ConfigMap","metadata":${meta(ns, 'ann', `,"annotations":{"a":${nest(3500)}}`)}}`,
      );
      await storage.create(
        `/registry/core/configmaps/${ns}/types`,
        `{"apiVersion":"v1","kind":"ConfigMap","metadata":${meta(ns, 'types', ',"labels":{"a":["x"]},"annotations":{"b":{"c":1}}')}}`,
      );
      await storage.create(
        `/registry/example.com/deeps/${ns}/deep`,
        `{"apiVersion":"example.com/v1","kind":"Deep","metadata":${meta(ns, 'deep')},"spec":${nest(3500)}}`,
      );
    }
    // RBAC objects of the wrong shape: a bootstrap role the policy reconciles, an aggregated role
    // and one that feeds an aggregation, and bindings the authorizer indexes.
    const rbac = '/registry/rbac.authorization.k8s.io';
    const viewKv = (await storage.get(`${rbac}/clusterroles/view`))!;
    const view = JSON.parse(viewKv.value);
    view.aggregationRule = { clusterRoleSelectors: 'everything' };
    view.rules = 5;
    await storage.update(`${rbac}/clusterroles/view`, JSON.stringify(view), viewKv.modRevision);
    await storage.create(
      `${rbac}/clusterroles/bad-feeder`,
      `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":${meta('', 'bad-feeder', ',"labels":{"rbac.authorization.k8s.io/aggregate-to-edit":"true"}').replace('"namespace":"","', '"')},"rules":"all"}`,
    );
    await storage.create(
      `${rbac}/clusterrolebindings/bad-binding`,
      `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":${meta('', 'bad-binding').replace('"namespace":"","', '"')},"roleRef":"cluster-admin","subjects":[null,5,{"kind":{"a":1}}]}`,
    );
    await storage.create(
      `${rbac}/rolebindings/poisoned/bad-rb`,
      `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":${meta('poisoned', 'bad-rb')},"roleRef":{"kind":"Role","name":7},"subjects":"everyone"}`,
    );
    // A CRD of the wrong shape, and owner references the garbage collector must not trip over.
    await storage.create(
      '/registry/apiextensions.k8s.io/customresourcedefinitions/bad.example.com',
      `{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":${meta('', 'bad.example.com').replace('"namespace":"","', '"')},"spec":"garbage"}`,
    );
    await storage.create(
      '/registry/core/configmaps/poisoned/owned',
      `{"apiVersion":"v1","kind":"ConfigMap","metadata":${meta('poisoned', 'owned', ',"ownerReferences":"nobody"')}}`,
    );
    await storage.create(
      '/registry/core/configmaps/poisoned/owned2',
      `{"apiVersion":"v1","kind":"ConfigMap","metadata":${meta('poisoned', 'owned2', ',"ownerReferences":[null,{"uid":5},{"apiVersion":7,"kind":"ConfigMap","name":"x","uid":"gone"}]')}}`,
    );
    // One namespace was already being deleted when the old server stopped: the controller resumes it at start.
    const nsKey = '/registry/core/namespaces/terminating';
    const nsKv = (await storage.get(nsKey))!;
    const nsObj = JSON.parse(nsKv.value);
    nsObj.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    nsObj.metadata.deletionGracePeriodSeconds = 0;
    nsObj.status = { phase: 'Terminating' };
    await storage.update(nsKey, JSON.stringify(nsObj), nsKv.modRevision);
    await storage.close();

    s2 = await startTestServer({ dataDir });
    assert.match(await s2.ok(['get', 'namespaces']), /poisoned/);
    // Authorization still works with the poisoned policy around it.
    assert.equal((await s2.kubectl(['auth', 'can-i', 'delete', 'configmaps', '-n', 'poisoned'])).stdout.trim(), 'yes');
    assert.equal((await s2.kubectl(['auth', 'can-i', 'get', 'pods', '--as', 'someone'])).stdout.trim(), 'no');
    for (const path of [
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/bad-feeder',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/bad-binding',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/bad.example.com',
    ]) {
      assert.equal((await api(s2.server, 'DELETE', path)).status, 200, path);
    }
    // Reads work (the kubectl table does not decode the objects themselves).
    const got = await api(s2.server, 'GET', `${CMS('poisoned')}/ann`);
    assert.equal(got.status, 200);
    assert.equal(depth(got.body.metadata.annotations), 3501);
    assert.match(await s2.ok(['get', 'configmaps', '-n', 'poisoned']), /ann[\s\S]*types/);
    assert.match(await s2.ok(['get', 'deeps', '-n', 'poisoned']), /deep/);
    // Writes that would keep the poison are refused with a 4xx, never a 5xx.
    const patch = await api(
      s2.server,
      'PATCH',
      `${DEEPS('poisoned')}/deep`,
      { metadata: { labels: { a: 'b' } } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    assert.equal(patch.status, 400, JSON.stringify(patch.body).slice(0, 300));
    // Each can be deleted, by kubectl and by the API; the namespace deletes whatever is left.
    await s2.ok(['delete', 'configmap', 'ann', '-n', 'poisoned']);
    assert.equal((await api(s2.server, 'DELETE', `${DEEPS('poisoned')}/deep`)).status, 200);
    await deleteNamespace(s2, 'poisoned');
    // The namespace that was terminating at start empties and goes away on its own.
    const deadline = Date.now() + 20_000;
    while ((await api(s2.server, 'GET', '/api/v1/namespaces/terminating')).status !== 404) {
      assert.ok(Date.now() < deadline, 'namespace "terminating" was deleted after the restart');
      await sleep(100);
    }
    assert.equal((await api(s2.server, 'GET', '/api/v1/namespaces/default')).status, 200);
  } finally {
    await s2?.close();
    rmSync(s1.dir, { recursive: true, force: true });
  }
});
