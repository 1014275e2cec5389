// The Helm chart deploy/helm/kubeve with the real helm v4: lint and template are clean, the plain
// RBAC manifests of deploy/rbac are what the chart renders, and `helm install` into a kubeve API
// server (server-side dry run, then for real) creates every object it renders.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { CHART, NAMESPACE, ROOT, helm } from './helpers.ts';

let t: TestServer;
let home: string;
before(async () => {
  t = await startTestServer();
  home = path.join(t.dir, 'helm-home');
});
after(async () => {
  await t?.close();
});

const docs = (text: string) =>
  YAML.parseAllDocuments(text)
    .map((d) => d.toJS())
    .filter(Boolean);

test('helm lint --strict is clean, with default values and with every option on', async () => {
  for (const extra of [
    [],
    [
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'deviceApi.service.type=NodePort',
      '--set',
      'deviceApi.service.nodePort=30443',
      '--set',
      'crds.applyAtStart=true',
      '--set',
      'pki.existingSecret=mine',
    ],
  ]) {
    const r = await helm(['lint', '--strict', CHART, ...extra], home);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/, r.stdout);
  }
});

test('helm template: the objects, 2 replicas with leader election args, the Service type choice, CRDs from deploy/crds', async () => {
  const r = await helm(['template', 'kubeve', CHART, '-n', NAMESPACE, '--include-crds'], home);
  assert.equal(r.code, 0, r.stderr);
  const objs = docs(r.stdout);
  const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  for (const k of [
    'Deployment/kubeve',
    'ServiceAccount/kubeve',
    'ClusterRole/kubeve-operator',
    'ClusterRoleBinding/kubeve-operator',
    'Role/kubeve-operator',
    'RoleBinding/kubeve-operator',
    'ClusterRole/kubeve-view',
    'ClusterRole/kubeve-edit',
    'Service/kubeve-device-api',
    'Secret/kubeve-pki',
  ])
    assert.ok(kinds.includes(k), `${k} in ${kinds}`);
  const crdFiles = fs.readdirSync(path.join(ROOT, 'deploy/crds'));
  assert.equal(objs.filter((o) => o.kind === 'CustomResourceDefinition').length, crdFiles.length, 'every CRD of deploy/crds');
  const dep = objs.find((o) => o.kind === 'Deployment');
  assert.equal(dep.spec.replicas, 2);
  const c = dep.spec.template.spec.containers[0];
  assert.equal(c.args[0], 'operator');
  assert.ok(c.args.includes('--no-install-crds'), 'the chart installs the CRDs');
  assert.ok(
    c.env.some((e: any) => e.name === 'POD_NAME' && e.valueFrom.fieldRef.fieldPath === 'metadata.name'),
    'the pod name is the Lease identity',
  );
  assert.equal(dep.spec.template.spec.securityContext.runAsNonRoot, true);
  const view = objs.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'kubeve-view');
  assert.equal(view.metadata.labels['rbac.authorization.k8s.io/aggregate-to-view'], 'true');
  assert.equal(objs.find((o) => o.kind === 'Service' && o.metadata.name === 'kubeve-device-api').spec.type, 'LoadBalancer');
  assert.ok(!objs.some((o) => o.kind === 'ServiceMonitor'));
  const crdRule = objs
    .find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'kubeve-operator')
    .rules.some((x: any) => x.apiGroups.includes('apiextensions.k8s.io'));
  assert.equal(crdRule, false, 'no CRD write access when the chart installs them');

  const np = docs(
    (
      await helm(
        [
          'template',
          'kubeve',
          CHART,
          '-n',
          NAMESPACE,
          '--set',
          'deviceApi.service.type=NodePort',
          '--set',
          'deviceApi.service.nodePort=30443',
          '--set',
          'metrics.serviceMonitor.enabled=true',
        ],
        home,
      )
    ).stdout,
  );
  const svc = np.find((o) => o.kind === 'Service' && o.metadata.name === 'kubeve-device-api');
  assert.equal(svc.spec.type, 'NodePort');
  assert.equal(svc.spec.ports[0].nodePort, 30443);
  assert.ok(np.some((o) => o.kind === 'ServiceMonitor'));
});

test('deploy/rbac holds exactly what the chart renders', async () => {
  for (const f of ['rbac.yaml', 'aggregate-roles.yaml', 'serviceaccount.yaml']) {
    const r = await helm(['template', 'kubeve', CHART, '-n', NAMESPACE, '--set', 'crds.applyAtStart=true', '--show-only', `templates/${f}`], home);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(docs(fs.readFileSync(path.join(ROOT, 'deploy/rbac', f), 'utf8')), docs(r.stdout), `deploy/rbac/${f} is stale: re-render it`);
  }
});

// Both installs run side by side (own release and namespace): without the Services, and the full chart,
// whose Services need kubeve's core/v1 Service (helm validates against /openapi/v3/api/v1).
for (const [what, extra, full] of [
  ['without the Services', ['--set', 'deviceApi.service.enabled=false', '--set', 'metrics.service.enabled=false'], false],
  ['with the Services', [], true],
] as const)
  test(`helm install ${what} into a kubeve API server: server-side dry run, then for real; every rendered object exists`, async () => {
    const kc = t.server.kubeconfigPath;
    const release = full ? 'kubeve-full' : 'kubeve';
    const ns = full ? `${NAMESPACE}-full` : NAMESPACE;
    const dry = await helm(['install', release, CHART, '-n', ns, '--create-namespace', '--dry-run=server', ...extra], home, kc);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /STATUS: pending-install/);
    assert.equal((await t.kubectl(['get', 'deployment', release, '-n', ns])).code, 1, 'the dry run created nothing');

    const r = await helm(['install', release, CHART, '-n', ns, '--create-namespace', '--set', 'deviceApi.tlsHosts={eve.example.com}', ...extra], home, kc);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /STATUS: deployed/);
    assert.match(r.stdout, new RegExp(`kubectl -n ${ns} get lease kubeve-operator`), 'NOTES.txt is shown');
    const manifest = docs((await helm(['get', 'manifest', release, '-n', ns], home, kc)).stdout);
    assert.ok(manifest.length >= 9, `${manifest.length} objects`);
    for (const o of manifest) {
      const ns = o.metadata.namespace ? ['-n', o.metadata.namespace] : [];
      const got = JSON.parse(
        await t.ok([
          'get',
          `${o.kind.toLowerCase()}.${o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''}`.replace(/\.$/, ''),
          o.metadata.name,
          ...ns,
          '-o',
          'json',
        ]),
      );
      assert.equal(got.metadata.labels['app.kubernetes.io/managed-by'], 'Helm', `${o.kind}/${o.metadata.name}`);
    }
    for (const crd of fs.readdirSync(path.join(ROOT, 'deploy/crds'))) {
      await t.ok(['get', 'crd', crd.replace(/\.yaml$/, '')]);
    }
    // The aggregated roles reached the built-in view role.
    const view = JSON.parse(await t.ok(['get', 'clusterrole', 'view', '-o', 'json']));
    assert.ok(
      view.rules.some((x: any) => x.apiGroups?.includes('eve.kubeve.io')),
      'view aggregates the EVE resources',
    );
  });
