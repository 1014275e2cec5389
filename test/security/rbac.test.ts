// RBAC with the real kubectl: users from client certificates made by `kubeve kubeconfig user`, service
// accounts with TokenRequest tokens, the bootstrap roles, access reviews and escalation prevention.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { userKubeconfig, serviceAccountKubeconfig } from '../../src/cli/kubeconfig.ts';

let t: TestServer;
let dataDir: string;

before(async () => {
  t = await startTestServer();
  dataDir = join(t.dir, 'data');
});
after(() => t.close());

/** kubectl as another identity. */
async function as(kubeconfigPath: string, args: string[]) {
  return t.kubectl(['--kubeconfig', kubeconfigPath, ...args]);
}

async function userConfig(name: string, groups: string[] = []): Promise<string> {
  return t.file(`${name}.kubeconfig`, await userKubeconfig({ dataDir, name, groups }));
}

test('a view user can list but not create or delete; can-i and whoami answer for it', async () => {
  const kc = await userConfig('viewer', ['qa']);
  await t.ok(['create', 'configmap', 'present', '--from-literal=a=b']);
  await t.ok(['create', 'rolebinding', 'viewer-view', '--clusterrole=view', '--user=viewer']);

  const list = await as(kc, ['get', 'configmaps', '-o', 'name']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /configmap\/present/);

  const create = await as(kc, ['create', 'configmap', 'nope', '--from-literal=a=b']);
  assert.notEqual(create.code, 0);
  assert.match(create.stderr, /configmaps is forbidden: User "viewer" cannot create resource "configmaps" in API group "" in the namespace "default"/);

  const del = await as(kc, ['delete', 'configmap', 'present']);
  assert.notEqual(del.code, 0);
  assert.match(
    del.stderr,
    /Error from server \(Forbidden\): configmaps "present" is forbidden: User "viewer" cannot delete resource "configmaps" in API group "" in the namespace "default"/,
  );
  assert.equal(JSON.parse(await t.ok(['get', 'cm', 'present', '-o', 'json'])).data.a, 'b');

  // Secrets are not in view.
  const secrets = await as(kc, ['get', 'secrets']);
  assert.notEqual(secrets.code, 0);
  assert.match(secrets.stderr, /secrets is forbidden: User "viewer" cannot list resource "secrets"/);

  const canList = await as(kc, ['auth', 'can-i', 'list', 'configmaps']);
  assert.equal(canList.code, 0);
  assert.equal(canList.stdout.trim(), 'yes');
  const canCreate = await as(kc, ['auth', 'can-i', 'create', 'configmaps']);
  assert.equal(canCreate.code, 1);
  assert.equal(canCreate.stdout.trim(), 'no');
  // The binding is namespaced: nothing in kube-system.
  assert.equal((await as(kc, ['auth', 'can-i', 'list', 'configmaps', '-n', 'kube-system'])).stdout.trim(), 'no');
  assert.equal((await as(kc, ['auth', 'can-i', 'get', '/healthz'])).stdout.trim(), 'yes');

  const who = await as(kc, ['auth', 'whoami', '-o', 'json']);
  assert.equal(who.code, 0, who.stderr);
  const info = JSON.parse(who.stdout).status.userInfo;
  assert.equal(info.username, 'viewer');
  assert.deepEqual(info.groups, ['qa', 'system:authenticated']);

  const rules = await as(kc, ['auth', 'can-i', '--list']);
  assert.equal(rules.code, 0, rules.stderr);
  assert.match(rules.stdout, /^configmaps\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
  // The EVE resources join view only where they are served (kubeve server): test/security/eve-rbac.test.ts.
});

test('subjects as kube writes them: a ServiceAccount has no apiGroup, Users and Groups get rbac.authorization.k8s.io', async () => {
  await t.ok(['create', 'namespace', 'subjects']);
  await t.ok(['create', 'rolebinding', 'sa-view', '--clusterrole=view', '--serviceaccount=subjects:bot', '--user=erin', '--group=ops', '-n', 'subjects']);
  const made = JSON.parse(await t.ok(['get', 'rolebinding', 'sa-view', '-n', 'subjects', '-o', 'json']));
  assert.equal(made.subjects.length, 3);
  for (const s of made.subjects)
    assert.deepEqual(
      s,
      [
        { kind: 'ServiceAccount', name: 'bot', namespace: 'subjects' },
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'erin' },
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'ops' },
      ].find((x) => x.kind === s.kind),
    );
  // An explicit "" is dropped too, on create and on update, and the binding still grants.
  const explicit = await api(t.server, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: 'sa-explicit' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ apiGroup: '', kind: 'ServiceAccount', name: 'bot', namespace: 'subjects' }],
  });
  assert.equal(explicit.status, 201, JSON.stringify(explicit.body));
  assert.deepEqual(explicit.body.subjects, [{ kind: 'ServiceAccount', name: 'bot', namespace: 'subjects' }]);
  const put = await api(t.server, 'PUT', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/sa-explicit', {
    ...explicit.body,
    subjects: [{ apiGroup: '', kind: 'ServiceAccount', name: 'bot2', namespace: 'subjects' }],
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal('apiGroup' in put.body.subjects[0], false);
  assert.equal((await t.kubectl(['auth', 'can-i', 'list', 'pods', '-A', '--as=system:serviceaccount:subjects:bot2'])).stdout.trim(), 'yes');
});

test('a user without any binding gets 403 with the standard message, also on cluster-scoped and named requests', async () => {
  const kc = await userConfig('nobody');
  const r = await as(kc, ['get', 'pods']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /Error from server \(Forbidden\): pods is forbidden: User "nobody" cannot list resource "pods" in API group "" in the namespace "default"/,
  );
  const ns = await as(kc, ['get', 'namespaces']);
  assert.match(ns.stderr, /namespaces is forbidden: User "nobody" cannot list resource "namespaces" in API group "" at the cluster scope/);
  const cr = await as(kc, ['get', 'clusterrole', 'view']);
  assert.match(
    cr.stderr,
    /clusterroles\.rbac\.authorization\.k8s\.io "view" is forbidden: User "nobody" cannot get resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope/,
  );
  // Discovery and self-reviews are open to every authenticated user.
  assert.equal((await as(kc, ['auth', 'can-i', 'get', 'pods'])).stdout.trim(), 'no');
  assert.equal((await as(kc, ['api-versions'])).code, 0);
});

test('a service account in team-a bound to edit there cannot touch team-b', async () => {
  await t.ok(['create', 'namespace', 'team-a']);
  await t.ok(['create', 'namespace', 'team-b']);
  await t.ok(['create', 'serviceaccount', 'deployer', '-n', 'team-a']);
  await t.ok(['create', 'rolebinding', 'deployer-edit', '--clusterrole=edit', '--serviceaccount=team-a:deployer', '-n', 'team-a']);
  await t.ok(['create', 'configmap', 'b-conf', '--from-literal=x=y', '-n', 'team-b']);
  const kc = t.file('deployer.kubeconfig', await serviceAccountKubeconfig({ dataDir, namespace: 'team-a', name: 'deployer' }));

  const mine = await as(kc, ['create', 'configmap', 'a-conf', '--from-literal=x=y', '-n', 'team-a']);
  assert.equal(mine.code, 0, mine.stderr);
  assert.equal((await as(kc, ['create', 'secret', 'generic', 's', '--from-literal=k=v', '-n', 'team-a'])).code, 0);

  const other = await as(kc, ['get', 'configmaps', '-n', 'team-b']);
  assert.notEqual(other.code, 0);
  assert.match(
    other.stderr,
    /configmaps is forbidden: User "system:serviceaccount:team-a:deployer" cannot list resource "configmaps" in API group "" in the namespace "team-b"/,
  );
  const del = await as(kc, ['delete', 'configmap', 'b-conf', '-n', 'team-b']);
  assert.match(
    del.stderr,
    /configmaps "b-conf" is forbidden: User "system:serviceaccount:team-a:deployer" cannot delete resource "configmaps" in API group "" in the namespace "team-b"/,
  );
  assert.equal((await t.kubectl(['get', 'cm', 'b-conf', '-n', 'team-b'])).code, 0);
  // edit does not include RBAC: the account cannot widen its own rights.
  assert.equal((await as(kc, ['auth', 'can-i', 'create', 'rolebindings', '-n', 'team-a'])).stdout.trim(), 'no');

  const who = JSON.parse((await as(kc, ['auth', 'whoami', '-o', 'json'])).stdout).status.userInfo;
  assert.equal(who.username, 'system:serviceaccount:team-a:deployer');
  assert.deepEqual(who.groups, ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated']);
  assert.equal(who.uid, JSON.parse(await t.ok(['get', 'sa', 'deployer', '-n', 'team-a', '-o', 'json'])).metadata.uid);

  // The token dies with the account, even if one of the same name comes back.
  await t.ok(['delete', 'serviceaccount', 'deployer', '-n', 'team-a']);
  await t.ok(['create', 'serviceaccount', 'deployer', '-n', 'team-a']);
  const after = await as(kc, ['get', 'configmaps', '-n', 'team-a']);
  assert.notEqual(after.code, 0);
  assert.match(after.stderr, /You must be logged in to the server \(the server has asked for the client to provide credentials\)|Unauthorized/);
});

test('a user who may create RoleBindings but lacks a permission cannot grant it', async () => {
  await t.ok(['create', 'namespace', 'esc']);
  await t.ok(['create', 'role', 'binder', '--verb=create,get,list', '--resource=rolebindings,roles', '--verb=get', '-n', 'esc']);
  await t.ok(['create', 'role', 'cm-reader', '--verb=get,list', '--resource=configmaps', '-n', 'esc']);
  await t.ok(['create', 'role', 'secret-reader', '--verb=get', '--resource=secrets', '-n', 'esc']);
  await t.ok(['create', 'rolebinding', 'mallory-binder', '--role=binder', '--user=mallory', '-n', 'esc']);
  await t.ok(['create', 'rolebinding', 'mallory-cm', '--role=cm-reader', '--user=mallory', '-n', 'esc']);
  const kc = await userConfig('mallory');

  // Granting what she lacks (secrets) is refused, with the missing permission spelled out.
  const grant = await as(kc, ['create', 'rolebinding', 'steal', '--role=secret-reader', '--user=mallory', '-n', 'esc']);
  assert.notEqual(grant.code, 0);
  assert.match(
    grant.stderr,
    /rolebindings\.rbac\.authorization\.k8s\.io "steal" is forbidden: user "mallory" \(groups=\["system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:\n\{APIGroups:\[""\], Resources:\["secrets"\], Verbs:\["get"\]\}/,
  );
  const edit = await as(kc, ['create', 'rolebinding', 'steal2', '--clusterrole=edit', '--user=mallory', '-n', 'esc']);
  assert.match(edit.stderr, /is attempting to grant RBAC permissions not currently held/);
  // A role with more than she holds is refused too; one within her rights is fine.
  const role = await as(kc, ['create', 'role', 'wide', '--verb=*', '--resource=configmaps', '-n', 'esc']);
  assert.match(
    role.stderr,
    /roles\.rbac\.authorization\.k8s\.io "wide" is forbidden: user "mallory" .* not currently held:\n\{APIGroups:\[""\], Resources:\["configmaps"\], Verbs:\["\*"\]\}/,
  );
  assert.equal((await t.kubectl(['get', 'rolebinding', 'steal', '-n', 'esc'])).code, 1);
  assert.equal((await t.kubectl(['get', 'role', 'wide', '-n', 'esc'])).code, 1);

  // Passing on what she holds is allowed.
  const ok = await as(kc, ['create', 'rolebinding', 'share', '--role=cm-reader', '--user=bob', '-n', 'esc']);
  assert.equal(ok.code, 0, ok.stderr);
  const narrow = await as(kc, ['create', 'role', 'narrow', '--verb=get', '--resource=configmaps', '-n', 'esc']);
  assert.equal(narrow.code, 0, narrow.stderr);

  // With `bind` on the role she may bind it without holding its permissions.
  await t.ok(['create', 'role', 'bind-secret-reader', '--verb=bind', '--resource=roles', '--resource-name=secret-reader', '-n', 'esc']);
  await t.ok(['create', 'rolebinding', 'mallory-bind', '--role=bind-secret-reader', '--user=mallory', '-n', 'esc']);
  const bound = await as(kc, ['create', 'rolebinding', 'delegated', '--role=secret-reader', '--user=carol', '-n', 'esc']);
  assert.equal(bound.code, 0, bound.stderr);
});

test('roleRef is immutable and RBAC objects are validated', async () => {
  await t.ok(['create', 'rolebinding', 'fixed', '--clusterrole=view', '--user=dave']);
  const r = await t.kubectl(['patch', 'rolebinding', 'fixed', '--type=merge', '-p', '{"roleRef":{"name":"edit"}}']);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /The RoleBinding "fixed" is invalid: roleRef: Invalid value: rbac\.RoleRef\{APIGroup:"rbac\.authorization\.k8s\.io", Kind:"ClusterRole", Name:"edit"\}: cannot change roleRef/,
  );
  const bad = await api(t.server, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', {
    metadata: { name: 'bad' },
    rules: [
      { verbs: [], resources: ['pods'] },
      { verbs: ['get'], nonResourceURLs: ['/x'] },
    ],
  });
  assert.equal(bad.status, 422);
  assert.deepEqual(
    bad.body.details.causes.map((c: any) => c.field),
    ['rules[0].verbs', 'rules[0].apiGroups', 'rules[1].nonResourceURLs'],
  );
  const crb = await api(t.server, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: 'x' },
    roleRef: { kind: 'Role', name: 'r' },
    subjects: [
      { kind: 'ServiceAccount', name: 'sa' },
      { kind: 'Robot', name: 'r2' },
    ],
  });
  assert.equal(crb.status, 422);
  assert.match(crb.body.message, /roleRef\.kind: Unsupported value: "Role": supported values: "ClusterRole"/);
  assert.match(crb.body.message, /subjects\[0\]\.namespace: Required value/);
  assert.match(crb.body.message, /subjects\[1\]\.kind: Unsupported value: "Robot"/);
  // Names may contain colons, as the bootstrap roles do.
  await t.ok(['create', 'clusterrole', 'team:reader', '--verb=get', '--resource=pods']);
  const wide = await t.ok(['get', 'rolebinding', 'fixed', '-o', 'wide']);
  assert.match(wide, /^fixed\s+ClusterRole\/view\s+\S+\s+dave\s*$/m);
});

test('admin/edit/view aggregate labelled ClusterRoles', async () => {
  await t.ok(
    ['apply', '-f', '-'],
    `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-view
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- apiGroups: ["example.com"]
  resources: ["widgets"]
  verbs: ["get", "list"]
`,
  );
  const has = async (role: string) => {
    for (let i = 0; i < 50; i++) {
      const r = JSON.parse(await t.ok(['get', 'clusterrole', role, '-o', 'json']));
      if (r.rules.some((x: any) => x.resources?.includes('widgets'))) return true;
      await new Promise((res) => setTimeout(res, 50));
    }
    return false;
  };
  assert.ok(await has('view'));
  assert.ok(await has('edit'), 'view is aggregated into edit');
  assert.ok(await has('admin'), 'edit is aggregated into admin');
  await t.ok(['delete', 'clusterrole', 'widgets-view']);
  for (let i = 0; i < 50 && (await has('admin')); i++) await new Promise((res) => setTimeout(res, 50));
  const admin = JSON.parse(await t.ok(['get', 'clusterrole', 'admin', '-o', 'json']));
  assert.ok(!admin.rules.some((x: any) => x.resources?.includes('widgets')));
  assert.ok(admin.rules.some((x: any) => x.resources?.includes('rolebindings')));
});

test('kubectl creates roles, bindings, service accounts and tokens; bootstrap objects exist', async () => {
  await t.ok(['create', 'namespace', 'kinds']);
  await t.ok(['create', 'role', 'r1', '--verb=get', '--resource=pods', '-n', 'kinds']);
  await t.ok(['create', 'clusterrole', 'c1', '--verb=get', '--resource=nodes']);
  await t.ok(['create', 'rolebinding', 'rb1', '--role=r1', '--group=g1', '-n', 'kinds']);
  await t.ok(['create', 'clusterrolebinding', 'crb1', '--clusterrole=c1', '--serviceaccount=kinds:bot']);
  await t.ok(['create', 'serviceaccount', 'bot', '-n', 'kinds']);
  const token = (await t.ok(['create', 'token', 'bot', '-n', 'kinds', '--duration=15m'])).trim();
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  assert.equal(claims.sub, 'system:serviceaccount:kinds:bot');
  assert.equal(claims.exp - claims.iat, 900);
  assert.equal(claims['kubernetes.io'].serviceaccount.uid, JSON.parse(await t.ok(['get', 'sa', 'bot', '-n', 'kinds', '-o', 'json'])).metadata.uid);
  const missing = await t.kubectl(['create', 'token', 'ghost', '-n', 'kinds']);
  assert.match(missing.stderr, /serviceaccounts "ghost" not found/);
  const short = await t.kubectl(['create', 'token', 'bot', '-n', 'kinds', '--duration=5m']);
  assert.match(short.stderr, /may not specify a duration less than 10 minutes/);
  assert.match(await t.ok(['get', 'clusterrolebinding', 'crb1', '-o', 'wide']), /ClusterRole\/c1\s+\S+\s+kinds\/bot/);
  await t.ok(['get', 'clusterroles/cluster-admin', 'clusterrolebindings/cluster-admin']);
  // The token authenticates through TokenReview; a token for another audience does not.
  const review = await api(t.server, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { spec: { token } });
  assert.equal(review.status, 201);
  assert.equal(review.body.status.authenticated, true);
  assert.equal(review.body.status.user.username, 'system:serviceaccount:kinds:bot');
  const other = JSON.parse(await t.ok(['create', 'token', 'bot', '-n', 'kinds', '--audience=vault', '-o', 'json'])).status.token;
  const r2 = await api(t.server, 'GET', '/api/v1/namespaces/kinds/configmaps', undefined, {}, other);
  assert.equal(r2.status, 401);
});
