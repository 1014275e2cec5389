// The official Python client (Debian python3-kubernetes 22.6, the system interpreter) against kubeve:
// create and list, watch with resourceVersion resume, the three patch types, and CustomObjectsApi on the
// EVE resources (CRDs from deploy/crds applied with kubectl 1.33 server-side apply).
//
// What the client sends that a server must be ready for (recorded through the proxy below):
// - watches carry `watch=True` (Python's str(True)); kube-apiserver reads any value but "0"/"false" as true.
// - PATCH always declares application/json-patch+json, and the REST layer swaps it for
//   application/strategic-merge-patch+json when the body is not a list; a merge patch is only possible by
//   forcing the Content-Type as a default header. CustomObjectsApi patches are merge patches.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { layerBinaries, recordingProxy, run, SYSTEM_PYTHON, type RecordingProxy } from '../helpers/clients.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const CRDS = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));

let t: TestServer;
let proxy: RecordingProxy;

before(async () => {
  // A small watch cache, so that a test can push a resourceVersion out of the watch window (410).
  t = await startTestServer({ watchCacheEvents: 32 });
  proxy = await recordingProxy(t);
  const { kubectl133 } = layerBinaries();
  const env = { ...process.env, HOME: join(t.dir, 'home133'), KUBECONFIG: t.server.kubeconfigPath };
  const applied = await run(kubectl133, ['apply', '--server-side', '-f', CRDS], { env });
  assert.equal(applied.code, 0, applied.stderr);
  const waited = await run(kubectl133, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=30s'], { env });
  assert.equal(waited.code, 0, waited.stderr);
});
after(async () => {
  await proxy?.close();
  await t?.close();
});

/** Runs one scenario of fixtures/python_client.py in its own namespace and returns its JSON result. */
async function scenario(name: string, viaProxy = false, extra: string[] = []): Promise<any> {
  const ns = `py-${name}`;
  if ((await api(t.server, 'GET', `/api/v1/namespaces/${ns}`)).status === 404) {
    assert.equal((await api(t.server, 'POST', '/api/v1/namespaces', { metadata: { name: ns } })).status, 201);
  }
  const kubeconfig = viaProxy ? proxy.kubeconfigPath : t.server.kubeconfigPath;
  const r = await run(SYSTEM_PYTHON, [join(FIXTURES, 'python_client.py'), kubeconfig, name, ns, ...extra], {
    env: { ...process.env, HOME: join(t.dir, 'pyhome') },
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 0, `python ${name} failed:\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('create and list: typed models round-trip, a duplicate is 409 AlreadyExists', async () => {
  const r = await scenario('create-list');
  assert.equal(r.created.name, 'py-made');
  assert.deepEqual(r.created.data, { k: 'v' });
  assert.match(r.created.uid, /^[0-9a-f-]{36}$/);
  assert.deepEqual(r.listed, ['py-made']);
  assert.equal(r.listKind, 'ConfigMapList');
  assert.ok(Number(r.listRV) >= Number(r.created.rv));
  assert.deepEqual(r.duplicate, { status: 409, reason: 'AlreadyExists' });
});

test('watch from a resourceVersion replays ADDED/MODIFIED/DELETED in order, and resumes from the last event', async () => {
  proxy.seen.length = 0;
  const r = await scenario('watch-resume', true);
  assert.deepEqual(
    r.first.map((e: string[]) => `${e[0]}:${e[1]}`),
    ['ADDED:w1', 'MODIFIED:w1', 'DELETED:w1'],
  );
  const rvs = r.first.map((e: string[]) => Number(e[2]));
  assert.ok(rvs[0] > Number(r.startRV) && rvs[0] < rvs[1] && rvs[1] < rvs[2], `resourceVersions increase: ${rvs}`);
  assert.equal(r.resumeRV, r.first[2][2], 'the client resumes from the last event it saw');
  // The resumed watch sees the change made while no watch was open, then the live one; nothing replayed.
  assert.deepEqual(
    r.second.map((e: string[]) => `${e[0]}:${e[1]}`),
    ['ADDED:w2', 'MODIFIED:w2'],
  );
  assert.ok(Number(r.second[0][2]) > Number(r.resumeRV));

  const watches = proxy.seen.filter((s) => s.method === 'GET' && /[?&]watch=/.test(s.url)).map((s) => new URL(s.url, 'https://x').searchParams);
  assert.equal(watches.length, 2, 'two watch requests');
  assert.equal(watches[0].get('watch'), 'True', 'the Python client spells the boolean True');
  assert.equal(watches[0].get('resourceVersion'), r.startRV);
  assert.equal(watches[1].get('resourceVersion'), r.resumeRV);
});

test("a watch from a compacted resourceVersion raises 410 Expired, the client's cue to relist", async () => {
  const ns = 'py-watch-expired';
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces', { metadata: { name: ns } })).status, 201);
  const first = await api(t.server, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'old' } });
  // More writes than the watch cache holds, then compaction: the old revision is gone from both.
  for (let i = 0; i < 40; i++) await api(t.server, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: `n${i}` } });
  await t.server.storage.compact(await t.server.storage.currentRevision());
  const r = await scenario('watch-expired', false, [first.body.metadata.resourceVersion]);
  assert.equal(r.raised?.status, 410, JSON.stringify(r));
  assert.match(r.raised.reason, /^Expired: too old resource version: \d+ \(\d+\)$/);
});

test('the three patch types: strategic merge (dict body), JSON patch (list body), merge patch (forced header)', async () => {
  proxy.seen.length = 0;
  const r = await scenario('patches', true);
  assert.deepEqual(r.strategic, { labels: { a: '1', b: '2' }, data: { x: '1', z: '3' } }, 'null deletes a key, new keys merge');
  assert.deepEqual(r.json, { labels: { b: '2' }, data: { x: '10', z: '3' } });
  assert.deepEqual(r.merge, { labels: { b: '2' }, data: { z: '3', m: 'merged' } });
  assert.deepEqual(r.failedTest, { status: 422, reason: 'Invalid' }, 'a failed JSON patch test op is refused');
  assert.deepEqual(r.final, { z: '3', m: 'merged' }, 'the refused patch changed nothing');
  const types = proxy.seen.filter((s) => s.method === 'PATCH').map((s) => s.contentType);
  assert.deepEqual(types, [
    'application/strategic-merge-patch+json',
    'application/json-patch+json',
    'application/merge-patch+json',
    'application/json-patch+json',
  ]);
});

test('CustomObjectsApi on EdgeNode: create, get, list by label, merge patch, schema validation, watch, delete', async () => {
  const r = await scenario('custom-objects');
  assert.equal(r.created.name, 'py-edge-1');
  assert.equal(r.created.serial, 'PY-SERIAL-1');
  assert.equal(r.gotSerial, 'PY-SERIAL-1');
  assert.deepEqual(r.listed, ['py-edge-1']);
  assert.deepEqual(r.patchedLabels, { site: 'lab', rack: '7' });
  assert.deepEqual(r.invalid, { status: 422, reason: 'Invalid', fields: ['spec.serial'] }, 'the CRD schema refuses a numeric serial');
  assert.deepEqual(
    r.watched.map((e: string[]) => `${e[0]}:${e[1]}`),
    ['MODIFIED:py-edge-1'],
    'the watch from the create resumes at the patch',
  );
  assert.equal(r.deletedKind, 'EdgeNode');
  assert.equal(r.getAfterDelete, 404);
  assert.equal((await api(t.server, 'GET', '/apis/eve.kubeve.io/v1alpha1/edgenodes/py-bad')).status, 404, 'the invalid object was not stored');
});
