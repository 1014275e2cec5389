// The EVE resources in kube's user-facing roles: `kubeve server` applies deploy/rbac's labelled
// ClusterRoles at start (as it applies deploy/crds), and ClusterRole aggregation gives view/edit/admin
// their EVE rules, with no API group written into the bootstrap policy. Real kubectl, users from client
// certificates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEveEnv, eventually, writeFile, type EveTestEnv } from '../eve-e2e/helpers.ts';
import { userKubeconfig } from '../../src/cli/kubeconfig.ts';
import { bootstrapPolicy } from '../../src/apiserver/auth/bootstrap-policy.ts';

let env: EveTestEnv;
before(async () => {
  env = await startEveEnv();
});
after(() => env?.close());

/** kubectl as `user` (a client certificate signed by the server's CA). */
const as = async (user: string, args: string[], input?: string) =>
  env.kubectl(['--kubeconfig', writeFile(env.dir, `${user}.kubeconfig`, await userKubeconfig({ dataDir: env.dataDir, name: user })), ...args], input);

const app = (name: string) => `apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata:
  name: ${name}
  namespace: default
spec:
  nodeName: edge-0
  image: library/nginx:1.27
`;

test('the bootstrap policy names no EVE group: view/edit/admin get it by aggregation of the applied roles', async () => {
  assert.ok(!JSON.stringify(bootstrapPolicy()).includes('eve.kubeve.io'));
  for (const name of ['kubeve-view', 'kubeve-edit']) {
    const role = JSON.parse(await env.ok(['get', 'clusterrole', name, '-o', 'json']));
    assert.equal(role.metadata.labels['rbac.authorization.k8s.io/aggregate-to-edit'], 'true', name);
    assert.equal(role.metadata.labels['app.kubernetes.io/managed-by'], undefined, `${name}: Helm does not manage it here`);
  }
  for (const name of ['view', 'edit', 'admin']) {
    const role = JSON.parse(await env.ok(['get', 'clusterrole', name, '-o', 'json']));
    assert.ok(
      role.rules.some((r: any) => r.apiGroups?.includes('eve.kubeve.io')),
      `${name} aggregates the EVE resources`,
    );
  }
});

test('a user bound to view reads AppInstances but cannot create one; a user bound to edit can', async () => {
  await env.ok(['create', 'rolebinding', 'viewer-view', '--clusterrole=view', '--user=viewer']);
  await env.ok(['create', 'rolebinding', 'editor-edit', '--clusterrole=edit', '--user=editor']);

  const rules = await as('viewer', ['auth', 'can-i', '--list']);
  assert.equal(rules.code, 0, rules.stderr);
  assert.match(rules.stdout, /^\*\.eve\.kubeve\.io\s+\[\]\s+\[\]\s+\[get list watch\]$/m);

  const create = await as('viewer', ['create', '-f', '-'], app('from-viewer'));
  assert.notEqual(create.code, 0);
  assert.match(
    create.stderr,
    /appinstances\.eve\.kubeve\.io is forbidden: User "viewer" cannot create resource "appinstances" in API group "eve\.kubeve\.io" in the namespace "default"/,
  );
  assert.equal((await env.kubectl(['get', 'appinstance', 'from-viewer'])).code, 1, 'nothing was created');
  const list = await as('viewer', ['get', 'appinstances']);
  assert.equal(list.code, 0, list.stderr);

  const made = await as('editor', ['create', '-f', '-'], app('from-editor'));
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /appinstance\.eve\.kubeve\.io\/from-editor created/);
  assert.equal(JSON.parse(await env.ok(['get', 'appinstance', 'from-editor', '-o', 'json'])).spec.image, 'library/nginx:1.27');
});

test('a restart puts back an aggregated role that was deleted', async () => {
  await env.ok(['delete', 'clusterrole', 'kubeve-edit']);
  await eventually(
    async () => (await env.kubectl(['auth', 'can-i', 'create', 'appinstances', '--as=editor'])).stdout.trim() === 'no',
    10_000,
    'edit to lose the EVE writes',
  );
  await env.restart();
  await eventually(
    async () => (await env.kubectl(['auth', 'can-i', 'create', 'appinstances', '--as=editor'])).stdout.trim() === 'yes',
    10_000,
    'edit to get the EVE writes back',
  );
});
