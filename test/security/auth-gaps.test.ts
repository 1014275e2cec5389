// Three edges of authentication and authorization, against the real server over HTTPS and the real kubectl:
// impersonation headers without a user are a 400 Status that changes nothing; the bootstrap RBAC policy
// is reconciled at every start (repaired, recreated, or left alone when autoupdate=false); and the
// ServiceAccount token cache never lets a deleted account, a deleted bound object or an expired token in.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, api } from '../helpers/server.ts';
import { startApiServer } from '../../src/server/apiserver.ts';
import { ServiceAccountTokens } from '../../src/apiserver/auth/tokens.ts';
import { kubeconfig } from '../../src/apiserver/pki.ts';
import { TokenCache, type Verified } from '../../src/apiserver/auth/token-cache.ts';
import type { Storage, StorageEvent } from '../../src/apiserver/storage/types.ts';

const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
/** Several values of one header (node's http client sends each as its own line). */
const multi = (h: Record<string, string | string[]>) => h as Record<string, string>;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('impersonating groups, extras or a uid without a user is a 400 Status and changes nothing', async () => {
  const t = await startTestServer();
  try {
    const status = (message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'BadRequest', code: 400 });
    // Message texts of k8s.io/apiserver buildImpersonationRequests: Go's %v of the []ObjectReference asked for.
    const cases: Array<[Record<string, string>, string]> = [
      [{ 'Impersonate-Group': 'system:masters' }, 'requested [{Group  system:masters    }] without impersonating a user'],
      [multi({ 'Impersonate-Group': ['devs', 'ops'] }), 'requested [{Group  devs    } {Group  ops    }] without impersonating a user'],
      [{ 'Impersonate-Extra-Scopes': 'view' }, 'requested [{UserExtra  view  authentication.k8s.io/v1  scopes}] without impersonating a user'],
      [{ 'Impersonate-Uid': 'u-1' }, 'requested [{UID  u-1  authentication.k8s.io/v1  }] without impersonating a user'],
      [
        { 'Impersonate-Group': 'devs', 'Impersonate-Uid': 'u-1' },
        'requested [{Group  devs    } {UID  u-1  authentication.k8s.io/v1  }] without impersonating a user',
      ],
      // An empty Impersonate-User is no user at all.
      [{ 'Impersonate-User': '', 'Impersonate-Group': 'devs' }, 'requested [{Group  devs    }] without impersonating a user'],
    ];
    for (const [headers, message] of cases) {
      const rev = await t.server.storage.currentRevision();
      const r = await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'imp' }, data: { a: 'b' } }, headers);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(String(r.headers['content-type']), /^application\/json/);
      assert.deepEqual(r.body, status(message));
      assert.equal(await t.server.storage.currentRevision(), rev, 'the store did not change');
    }
    assert.equal((await t.kubectl(['get', 'configmap', 'imp'])).code, 1);
    // The refusal is audited with its code.
    const audit = readFileSync(join(t.dir, 'data', 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual([audit.at(-1).verb, audit.at(-1).resource, audit.at(-1).code], ['create', 'configmaps', 400]);

    // Impersonation headers apply to anonymous requests as well (where anonymous is admitted at all).
    const anonGroup = await api(t.server, 'GET', '/healthz', undefined, { 'Impersonate-Group': 'system:masters' }, null);
    assert.deepEqual(anonGroup.body, status('requested [{Group  system:masters    }] without impersonating a user'));
    const anonUser = await api(t.server, 'GET', '/healthz', undefined, { 'Impersonate-User': 'admin' }, null);
    assert.equal(anonUser.status, 403);
    assert.equal(
      anonUser.body.message,
      'users "admin" is forbidden: User "system:anonymous" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
    // With a user the same headers still work for someone allowed to impersonate.
    const ok = await api(
      t.server,
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      { 'Impersonate-User': 'jane', 'Impersonate-Group': 'devs', 'Impersonate-Uid': 'u-1' },
    );
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.deepEqual(
      [ok.body.status.userInfo.username, ok.body.status.userInfo.uid, ok.body.status.userInfo.groups],
      ['jane', 'u-1', ['devs', 'system:authenticated']],
    );
  } finally {
    await t.close();
  }
});

test('the bootstrap RBAC policy is reconciled at every start: repaired, recreated, or left alone with autoupdate=false', async () => {
  const t = await startTestServer();
  const dataDir = join(t.dir, 'data');
  const getJSON = async (...args: string[]) => JSON.parse(await t.ok(['get', ...args, '-o', 'json']));
  const canI = async (...args: string[]) => (await t.kubectl(['auth', 'can-i', ...args])).stdout.trim();
  let server = t.server;
  try {
    await t.ok(['create', 'clusterrolebinding', 'alice-edit', '--clusterrole=edit', '--user=alice']);
    assert.equal(await canI('create', 'configmaps', '--as=alice'), 'yes');

    // 1. A user narrows a bootstrap role (its rule writing configmaps goes) and adds a rule of their own.
    const toEdit = await getJSON('clusterrole', 'system:aggregate-to-edit');
    const cmRule = toEdit.rules.find((r: any) => r.resources.includes('configmaps') && r.verbs.includes('create'));
    assert.ok(cmRule);
    toEdit.rules = toEdit.rules.filter((r: any) => r !== cmRule);
    toEdit.rules.push({ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get'] });
    await t.ok(['replace', '-f', '-'], JSON.stringify(toEdit));
    // edit aggregates it: alice can no longer create configmaps.
    await until('edit to lose the configmaps rule', async () => (await canI('create', 'configmaps', '--as=alice')) === 'no');
    // An aggregated role with its selector replaced by another one.
    await t.ok([
      'patch',
      'clusterrole',
      'view',
      '--type=merge',
      '-p',
      JSON.stringify({ aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'example.com/aggregate-to-view': 'true' } }] } }),
    ]);

    // 2. Bootstrap objects deleted: a role and the binding that lets anonymous clients see /healthz.
    await t.ok(['delete', 'clusterrole', 'system:auth-delegator']);
    await t.ok(['delete', 'clusterrolebinding', 'system:public-info-viewer']);
    await until('anonymous /healthz to be refused', async () => (await api(server, 'GET', '/healthz', undefined, {}, null)).status === 401);

    // 3. Opted out: autoupdate=false, then changed as the user wants it.
    await t.ok(['annotate', 'clusterrole', 'system:service-account-issuer-discovery', 'rbac.authorization.kubernetes.io/autoupdate=false', '--overwrite']);
    await t.ok([
      'patch',
      'clusterrole',
      'system:service-account-issuer-discovery',
      '--type=merge',
      '-p',
      JSON.stringify({ rules: [{ nonResourceURLs: ['/openid/v1/jwks'], verbs: ['get'] }] }),
    ]);
    await t.ok([
      'annotate',
      'clusterrolebinding',
      'system:service-account-issuer-discovery',
      'rbac.authorization.kubernetes.io/autoupdate=false',
      '--overwrite',
    ]);
    await t.ok([
      'patch',
      'clusterrolebinding',
      'system:service-account-issuer-discovery',
      '--type=merge',
      '-p',
      JSON.stringify({ subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'nobody' }] }),
    ]);
    const protectedRole = await getJSON('clusterrole', 'system:service-account-issuer-discovery');
    const protectedBinding = await getJSON('clusterrolebinding', 'system:service-account-issuer-discovery');

    // Restart on the same data directory (kubectl follows: the kubeconfig is rewritten with the new port).
    await server.close();
    server = await startApiServer({ dataDir, port: 0 });

    // 1. Repaired: the missing rule is back, the user's own rule is kept (union), and edit has it again.
    const repaired = await getJSON('clusterrole', 'system:aggregate-to-edit');
    assert.ok(
      repaired.rules.some((r: any) => r.apiGroups.includes('') && r.resources.includes('configmaps') && r.verbs.includes('create')),
      JSON.stringify(repaired.rules),
    );
    assert.ok(repaired.rules.some((r: any) => r.apiGroups.includes('example.com') && r.resources.includes('widgets')));
    const stored = await api(server, 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-edit');
    assert.ok(
      stored.body.metadata.managedFields.some((m: any) => m.manager === 'kube-apiserver'),
      JSON.stringify(stored.body.metadata.managedFields),
    );
    await until('edit to aggregate the repaired rule', async () => (await canI('create', 'configmaps', '--as=alice')) === 'yes');
    const view = await getJSON('clusterrole', 'view');
    assert.deepEqual(view.aggregationRule.clusterRoleSelectors, [
      { matchLabels: { 'example.com/aggregate-to-view': 'true' } },
      { matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
    ]);

    // 2. Recreated, as bootstrap objects (label and autoupdate annotation), and in force.
    const delegator = await getJSON('clusterrole', 'system:auth-delegator');
    assert.equal(delegator.metadata.annotations['rbac.authorization.kubernetes.io/autoupdate'], 'true');
    assert.equal(delegator.metadata.labels['kubernetes.io/bootstrapping'], 'rbac-defaults');
    assert.ok(delegator.rules.some((r: any) => r.resources.includes('tokenreviews')));
    const viewer = await getJSON('clusterrolebinding', 'system:public-info-viewer');
    assert.deepEqual(
      viewer.subjects.map((s: any) => s.name),
      ['system:authenticated', 'system:unauthenticated'],
    );
    assert.equal((await api(server, 'GET', '/healthz', undefined, {}, null)).status, 200);

    // 3. Left exactly as the user made it.
    const role = await getJSON('clusterrole', 'system:service-account-issuer-discovery');
    assert.deepEqual(role.rules, [{ nonResourceURLs: ['/openid/v1/jwks'], verbs: ['get'] }]);
    assert.equal(role.metadata.resourceVersion, protectedRole.metadata.resourceVersion);
    const binding = await getJSON('clusterrolebinding', 'system:service-account-issuer-discovery');
    assert.deepEqual(binding.subjects, [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'nobody' }]);
    assert.equal(binding.metadata.resourceVersion, protectedBinding.metadata.resourceVersion);

    // A start with nothing to reconcile writes nothing.
    await until('aggregation to settle', async () => {
      const before = await server.storage.currentRevision();
      await sleep(300);
      return before === (await server.storage.currentRevision());
    });
    const rev = await server.storage.currentRevision();
    await server.close();
    server = await startApiServer({ dataDir, port: 0 });
    assert.equal(await server.storage.currentRevision(), rev);
  } finally {
    await server.close();
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test('cached ServiceAccount tokens stop working as soon as the account or bound object is deleted, and at expiry', async () => {
  // A success TTL far beyond the test: everything below must hold without waiting for it.
  const t = await startTestServer({ tokenCache: { successTtlMs: 600_000, failureTtlMs: 300 } });
  const dataDir = join(t.dir, 'data');
  try {
    await t.ok(['create', 'serviceaccount', 'robot']);
    await t.ok(['create', 'serviceaccount', 'bound']);
    await t.ok(['create', 'secret', 'generic', 'anchor', '--from-literal=k=v']);
    await t.ok(['create', 'rolebinding', 'robots-view', '--clusterrole=view', '--serviceaccount=default:robot', '--serviceaccount=default:bound']);
    const list = (token: string) => api(t.server, 'GET', '/api/v1/namespaces/default/configmaps', undefined, {}, token);

    // Deleting the account revokes its (cached) token for the very next request.
    const token = (await t.ok(['create', 'token', 'robot'])).trim();
    for (let i = 0; i < 3; i++) assert.equal((await list(token)).status, 200);
    await t.ok(['delete', 'serviceaccount', 'robot']);
    const gone = await list(token);
    assert.equal(gone.status, 401);
    assert.deepEqual(gone.body, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    // ...and a new account of the same name does not bring it back.
    await t.ok(['create', 'serviceaccount', 'robot']);
    assert.equal((await list(token)).status, 401);
    const review = await api(t.server, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { spec: { token } });
    assert.equal(review.body.status.authenticated, false);
    assert.match(review.body.status.error, /does not match claim/);

    // A token bound to a Secret dies with the Secret.
    const boundToken = (await t.ok(['create', 'token', 'bound', '--bound-object-kind=Secret', '--bound-object-name=anchor'])).trim();
    assert.equal((await list(boundToken)).status, 200);
    const kc = t.file('bound.kubeconfig', kubeconfig(t.server.url, t.server.caPem, { name: 'bound', token: boundToken }));
    assert.equal((await t.kubectl(['--kubeconfig', kc, 'get', 'configmaps'])).code, 0);
    await t.ok(['delete', 'secret', 'anchor']);
    const k = await t.kubectl(['--kubeconfig', kc, 'get', 'configmaps']);
    assert.equal(k.code, 1);
    assert.match(k.stderr, /You must be logged in to the server|Unauthorized/);

    // A cached token is refused once its exp passes, however long the cache would keep it.
    const signer = ServiceAccountTokens.open(dataDir);
    const bound = JSON.parse(await t.ok(['get', 'sa', 'bound', '-o', 'json']));
    const shortLived = signer.sign(signer.claims({ namespace: 'default', name: 'bound', uid: bound.metadata.uid }, [API_AUDIENCE], 2));
    const exp = JSON.parse(Buffer.from(shortLived.split('.')[1], 'base64url').toString()).exp * 1000;
    assert.equal((await list(shortLived)).status, 200);
    await sleep(Math.max(0, exp - Date.now()) + 50);
    assert.equal((await list(shortLived)).status, 401);

    // A refusal is reused only for the failure TTL: a token not yet valid (nbf beyond the 60 s skew)
    // works once it is.
    const early = signer.claims({ namespace: 'default', name: 'bound', uid: bound.metadata.uid }, [API_AUDIENCE], 600);
    early.nbf = Math.floor(Date.now() / 1000) + 62;
    const earlyToken = signer.sign(early);
    assert.equal((await list(earlyToken)).status, 401);
    await until('the not-yet-valid token to become valid', async () => (await list(earlyToken)).status === 200, 5_000);
  } finally {
    await t.close();
  }
});

test('TokenCache: one verification per token and TTL, bounded, concurrent callers share it, racing writes are not cached', async () => {
  const events: Array<(ev: StorageEvent) => void> = [];
  const storage = {
    currentRevision: async () => 1,
    watch: (_p: string, _r: number, cb: (ev: StorageEvent) => void) => (events.push(cb), { stop() {} }),
  } as unknown as Storage;
  const cache = new TokenCache({ successTtlMs: 100, failureTtlMs: 0, maxEntries: 2 }, ['/registry/core/serviceaccounts/']);
  await cache.start(storage);
  let calls = 0;
  const ok =
    (deps: string[] = []) =>
    async (): Promise<Verified> => {
      calls++;
      await sleep(5);
      return { result: { authenticated: true, user: { username: 'u', groups: [] } }, dependsOn: deps };
    };
  const write = (key: string) => events.forEach((cb) => cb({ type: 'delete', key, value: '{}', revision: 2, createRevision: 1 }));

  // Concurrent requests share one verification; later ones within the TTL reuse it.
  await Promise.all([cache.authenticate('a', ['x'], ok()), cache.authenticate('a', ['x'], ok())]);
  await cache.authenticate('a', ['x'], ok());
  assert.equal(calls, 1);
  // Other audiences are another entry.
  await cache.authenticate('a', ['y'], ok());
  assert.equal(calls, 2);
  // Past the TTL it is verified again.
  await sleep(120);
  await cache.authenticate('a', ['x'], ok());
  assert.equal(calls, 3);
  // Bounded: a third token evicts the least recently used one.
  await cache.authenticate('b', ['x'], ok());
  await cache.authenticate('c', ['x'], ok());
  assert.equal(cache.size, 2);
  calls = 0;
  await cache.authenticate('b', ['x'], ok());
  assert.equal(calls, 0, 'b is still cached');
  await cache.authenticate('a', ['x'], ok());
  assert.equal(calls, 1, 'a was evicted');
  // A write to an object a success relied on drops it.
  calls = 0;
  await cache.authenticate('d', ['x'], ok(['/registry/core/serviceaccounts/default/robot']));
  write('/registry/core/serviceaccounts/default/robot');
  await cache.authenticate('d', ['x'], ok());
  assert.equal(calls, 2);
  // A success whose verification raced a write to a watched object is not reused.
  calls = 0;
  const racing = cache.authenticate('e', ['x'], ok(['/registry/core/serviceaccounts/default/e']));
  write('/registry/core/serviceaccounts/default/other');
  await racing;
  await cache.authenticate('e', ['x'], ok());
  assert.equal(calls, 2);
  // Failures with a zero failure TTL are never reused; callers get copies, not the cached object.
  calls = 0;
  const fail = async (): Promise<Verified> => (calls++, { result: { authenticated: false, error: 'no' } });
  await cache.authenticate('f', ['x'], fail);
  const r = await cache.authenticate('f', ['x'], fail);
  assert.equal(calls, 2);
  const g1 = await cache.authenticate('g', ['x'], ok());
  g1.user!.groups.push('system:masters');
  assert.deepEqual((await cache.authenticate('g', ['x'], ok())).user!.groups, []);
  assert.equal(r.authenticated, false);
  cache.stop();
});
