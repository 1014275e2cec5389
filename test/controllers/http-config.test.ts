// How the HTTP client finds its server: a kubeconfig context (certificate files relative to the
// kubeconfig, a chosen context) or the in-cluster service account (env + mounted token and CA),
// whose token is read again when it rotates; a rejected token is a 401 StatusError.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { HttpClient, StatusError, inClusterConfig, loadKubeconfig, type GVR } from '../../src/controllers/runtime/index.ts';

const NS: GVR = { group: '', version: 'v1', resource: 'namespaces' };
let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(async () => {
  await t?.close();
});

test('a kubeconfig context: CA file relative to the kubeconfig, token, namespace', async () => {
  writeFileSync(join(t.dir, 'ca.crt'), t.server.caPem);
  const path = t.file(
    'kc.yaml',
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'wrong',
      clusters: [{ name: 'c', cluster: { server: t.server.url, 'certificate-authority': 'ca.crt' } }],
      users: [
        { name: 'u', user: { token: t.server.adminToken } },
        { name: 'nobody', user: { token: 'nope' } },
      ],
      contexts: [
        { name: 'right', context: { cluster: 'c', user: 'u', namespace: 'team' } },
        { name: 'wrong', context: { cluster: 'c', user: 'nobody' } },
      ],
    }),
  );
  const cfg = loadKubeconfig(path, 'right');
  assert.equal(cfg.namespace, 'team');
  const c = new HttpClient(cfg);
  assert.equal((await c.get(NS, undefined, 'default')).metadata.name, 'default');
  c.close();
  const anon = new HttpClient(loadKubeconfig(path));
  await assert.rejects(anon.get(NS, undefined, 'default'), (e: unknown) => e instanceof StatusError && e.code === 401 && e.reason === 'Unauthorized');
  anon.close();
  assert.throws(() => loadKubeconfig(path, 'absent'), /context "absent" not found/);
});

test('in-cluster: service host/port from the environment, token and CA from the mounted secret; a rotated token is picked up', async () => {
  const dir = join(t.dir, 'sa');
  mkdirSync(dir);
  writeFileSync(join(dir, 'ca.crt'), t.server.caPem);
  writeFileSync(join(dir, 'namespace'), 'kubeve-system\n');
  writeFileSync(join(dir, 'token'), 'expired-token\n');
  assert.throws(() => inClusterConfig({}, dir), /KUBERNETES_SERVICE_HOST/);
  const cfg = inClusterConfig({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(t.server.port) }, dir);
  assert.equal(cfg.server, `https://127.0.0.1:${t.server.port}`);
  assert.equal(cfg.namespace, 'kubeve-system');
  const c = new HttpClient(cfg);
  await assert.rejects(c.get(NS, undefined, 'default'), (e: unknown) => e instanceof StatusError && e.code === 401);
  // The kubelet rotates the token file: the next request that is refused reads it again.
  writeFileSync(join(dir, 'token'), `${t.server.adminToken}\n`);
  assert.equal((await c.get(NS, undefined, 'default')).metadata.name, 'default');
  c.close();
});

test('a server whose certificate does not chain to the CA is refused', async () => {
  const c = new HttpClient({ server: t.server.url, bearerToken: t.server.adminToken });
  await assert.rejects(c.get(NS, undefined, 'default'), /self[- ]signed|unable to (verify|get)/i);
  c.close();
});
