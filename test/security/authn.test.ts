// Refused credentials and impersonation: expired and tampered ServiceAccount tokens, certificates from
// another CA, anonymous requests and impersonation without the verb get 401/403, change nothing in
// the store, and show up in the audit log as refusals.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { createPublicKey, verify } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { userKubeconfig } from '../../src/cli/kubeconfig.ts';
import { ServiceAccountTokens } from '../../src/apiserver/auth/tokens.ts';
import { createCA, issueCert, kubeconfig } from '../../src/apiserver/pki.ts';
import { AuditLog } from '../../src/apiserver/audit.ts';

let t: TestServer;
let dataDir: string;
let saUid: string;

before(async () => {
  t = await startTestServer();
  dataDir = join(t.dir, 'data');
  await t.ok(['create', 'serviceaccount', 'robot']);
  await t.ok(['create', 'rolebinding', 'robot-edit', '--clusterrole=edit', '--serviceaccount=default:robot']);
  saUid = JSON.parse(await t.ok(['get', 'sa', 'robot', '-o', 'json'])).metadata.uid;
});
after(() => t.close());

const revision = () => t.server.storage.currentRevision();
const auditLines = () =>
  readFileSync(join(dataDir, 'audit.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const createCM = (name: string, token: string | null, headers: Record<string, string> = {}) =>
  api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name }, data: { a: 'b' } }, headers, token);

/** Asserts a refused write left the store untouched and was audited with its code. */
async function refusedWithoutTrace(name: string, code: number, send: () => Promise<{ status: number; body: any }>) {
  const rev = await revision();
  const r = await send();
  assert.equal(r.status, code, JSON.stringify(r.body));
  assert.equal(await revision(), rev, 'the store did not change');
  assert.equal((await t.kubectl(['get', 'cm', name])).code, 1);
  const last = auditLines().at(-1);
  assert.equal(last.verb, 'create');
  assert.equal(last.resource, 'configmaps');
  assert.equal(last.code, code);
  return r;
}

test('a valid ServiceAccount token works; the same token expired or tampered is refused with 401', async () => {
  const signer = ServiceAccountTokens.open(dataDir);
  const good = signer.sign(signer.claims({ namespace: 'default', name: 'robot', uid: saUid }, ['https://kubernetes.default.svc.cluster.local'], 600));
  const ok = await createCM('by-robot', good);
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  const line = auditLines().at(-1);
  assert.deepEqual(
    [line.user, line.verb, line.resource, line.namespace, line.name, line.code],
    ['system:serviceaccount:default:robot', 'create', 'configmaps', 'default', undefined, 201],
  );

  const expiredClaims = signer.claims({ namespace: 'default', name: 'robot', uid: saUid }, ['https://kubernetes.default.svc.cluster.local'], 600);
  expiredClaims.iat -= 7200;
  expiredClaims.nbf -= 7200;
  expiredClaims.exp = Math.floor(Date.now() / 1000) - 5;
  const expired = signer.sign(expiredClaims);
  const r = await refusedWithoutTrace('expired', 401, () => createCM('expired', expired));
  assert.deepEqual(r.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });

  // Tampering: claim to be another account, keep the signature.
  const [h, p, s] = good.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  claims.sub = 'system:serviceaccount:kube-system:admin';
  claims['kubernetes.io'].namespace = 'kube-system';
  const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
  await refusedWithoutTrace('tampered', 401, () => createCM('tampered', tampered));
  // A token signed by another key with our issuer.
  const foreign = ServiceAccountTokens.open(mkdtempSync(join(tmpdir(), 'kubeve-foreign-')));
  const forged = foreign.sign(foreign.claims({ namespace: 'default', name: 'robot', uid: saUid }, ['https://kubernetes.default.svc.cluster.local'], 600));
  await refusedWithoutTrace('forged', 401, () => createCM('forged', forged));
  await refusedWithoutTrace('garbage', 401, () => createCM('garbage', 'not-a-token'));

  // kubectl with the expired token says it is not logged in.
  const kc = t.file('expired.kubeconfig', kubeconfig(t.server.url, t.server.caPem, { name: 'robot', token: expired }));
  const k = await t.kubectl(['--kubeconfig', kc, 'get', 'configmaps']);
  assert.equal(k.code, 1);
  assert.match(k.stderr, /error: You must be logged in to the server \(Unauthorized\)|the server has asked for the client to provide credentials/);

  // TokenReview reports why.
  const review = await api(t.server, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { spec: { token: expired } });
  assert.equal(review.body.status.authenticated, false);
  assert.match(review.body.status.error, /expired/);
});

test('tokens verify against the published JWKS; OIDC discovery is served', async () => {
  const token = (await t.ok(['create', 'token', 'robot'])).trim();
  const jwks = await api(t.server, 'GET', '/openid/v1/jwks');
  assert.equal(jwks.status, 200);
  const [h, p, s] = token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const key = jwks.body.keys.find((k: any) => k.kid === header.kid);
  assert.ok(key, 'the token names a published key');
  const pub = createPublicKey({ key, format: 'jwk' });
  assert.ok(verify('sha256', Buffer.from(`${h}.${p}`), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url')));
  const oidc = await api(t.server, 'GET', '/.well-known/openid-configuration');
  assert.equal(oidc.body.issuer, 'https://kubernetes.default.svc.cluster.local');
  assert.match(oidc.body.jwks_uri, /\/openid\/v1\/jwks$/);
  // The service account may read them (system:service-account-issuer-discovery).
  assert.equal((await api(t.server, 'GET', '/openid/v1/jwks', undefined, {}, token)).status, 200);
});

test('client certificates: CN/O from the server CA work, another CA is refused', async () => {
  const kc = t.file('cert-admin.kubeconfig', await userKubeconfig({ dataDir, name: 'root', groups: ['system:masters'] }));
  assert.equal((await t.kubectl(['--kubeconfig', kc, 'create', 'configmap', 'by-cert', '--from-literal=a=b'])).code, 0);
  assert.equal(auditLines().at(-1).user, 'root');

  const otherCA = await createCA('evil-ca');
  const cert = await issueCert(otherCA, { subject: 'CN=root, O=system:masters', usage: 'client' });
  const bad = t.file('evil.kubeconfig', kubeconfig(t.server.url, t.server.caPem, { name: 'root', certPem: cert.certPem, keyPem: cert.keyPem }));
  const rev = await revision();
  const r = await t.kubectl(['--kubeconfig', bad, 'create', 'configmap', 'by-evil', '--from-literal=a=b']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Unauthorized|provide credentials/);
  assert.equal(await revision(), rev);
  assert.equal((await t.kubectl(['get', 'cm', 'by-evil'])).code, 1);
});

test('anonymous requests reach only the health and version endpoints', async () => {
  for (const path of ['/healthz', '/livez', '/readyz', '/version']) assert.equal((await api(t.server, 'GET', path, undefined, {}, null)).status, 200, path);
  for (const path of ['/api', '/apis', '/openapi/v3', '/api/v1/namespaces', '/openid/v1/jwks'])
    assert.equal((await api(t.server, 'GET', path, undefined, {}, null)).status, 401, path);
  await refusedWithoutTrace('anon', 401, () => createCM('anon', null));
  // A bad credential is refused even on the health endpoints.
  assert.equal((await api(t.server, 'GET', '/healthz', undefined, {}, 'wrong')).status, 401);
});

test('impersonation needs the impersonate verb; with it --as/--as-group act as that user', async () => {
  const kc = t.file('imp.kubeconfig', await userKubeconfig({ dataDir, name: 'support', groups: [] }));
  await t.ok(['create', 'rolebinding', 'support-view', '--clusterrole=view', '--user=support']);
  const rev = await revision();
  const r = await t.kubectl(['--kubeconfig', kc, 'create', 'configmap', 'imp', '--from-literal=a=b', '--as=boss']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /users "boss" is forbidden: User "support" cannot impersonate resource "users" in API group "" at the cluster scope/);
  // Acting as oneself with extra groups still needs the verb.
  const g = await t.kubectl(['--kubeconfig', kc, 'get', 'configmaps', '--as=support', '--as-group=system:masters']);
  assert.match(g.stderr, /users "support" is forbidden: User "support" cannot impersonate resource "users" in API group "" at the cluster scope/);
  assert.equal(await revision(), rev);
  const line = auditLines().at(-1);
  assert.deepEqual([line.user, line.verb, line.code], ['support', 'create', 403]);

  // Allowed to impersonate "boss" only: acts as boss (who may edit), audit names both.
  await t.ok(['create', 'clusterrole', 'impersonate-boss', '--verb=impersonate', '--resource=users', '--resource-name=boss']);
  await t.ok(['create', 'clusterrolebinding', 'support-imp', '--clusterrole=impersonate-boss', '--user=support']);
  await t.ok(['create', 'rolebinding', 'boss-edit', '--clusterrole=edit', '--user=boss']);
  const who = JSON.parse(await t.ok(['--kubeconfig', kc, 'auth', 'whoami', '--as=boss', '-o', 'json'])).status.userInfo;
  assert.equal(who.username, 'boss');
  assert.deepEqual(who.groups, ['system:authenticated']);
  assert.equal((await t.kubectl(['--kubeconfig', kc, 'create', 'configmap', 'imp', '--from-literal=a=b', '--as=boss'])).code, 0);
  const ok = auditLines().at(-1);
  assert.deepEqual([ok.user, ok.impersonatedBy, ok.code], ['boss', 'support', 201]);
  assert.equal((await t.kubectl(['--kubeconfig', kc, 'auth', 'can-i', 'create', 'configmaps', '--as=other'])).code, 1);
  // A user may not pick its own groups either.
  const rev2 = await revision();
  const grp = await t.kubectl(['--kubeconfig', kc, 'delete', 'configmap', 'imp', '--as=boss', '--as-group=system:masters']);
  assert.notEqual(grp.code, 0);
  assert.match(grp.stderr, /groups "system:masters" is forbidden: User "support" cannot impersonate resource "groups" in API group "" at the cluster scope/);
  assert.equal(await revision(), rev2);
});

test('the audit log rotates by size and keeps a bounded number of files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-audit-'));
  try {
    const log = new AuditLog(dir, { maxBytes: 2000, keep: 2 });
    for (let i = 0; i < 100; i++)
      log.record({ timestamp: new Date().toISOString(), user: 'u', groups: [], verb: 'create', resource: 'configmaps', name: `cm-${i}`, code: 201 });
    log.close();
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ['audit.log', 'audit.log.1', 'audit.log.2']);
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.ok(text.length <= 2000, `${f} is within the size limit`);
      for (const l of text.trim().split('\n')) JSON.parse(l);
    }
    const newest = readFileSync(join(dir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(newest.at(-1).name, 'cm-99');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kubeve kubeconfig user writes a working kubeconfig from the CLI', async () => {
  const out = join(t.dir, 'cli-user.kubeconfig');
  // Async: the server under test runs in this process and must keep serving while the CLI talks to it.
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: join(import.meta.dirname, '..', '..') });
  await run(['kubeconfig', 'user', 'erin', '--group', 'ops', '--group', 'qa', '--data-dir', dataDir, '--out', out]);
  const cfg = YAML.parse(readFileSync(out, 'utf8'));
  assert.equal(cfg.clusters[0].cluster.server, t.server.url);
  const who = JSON.parse(await t.ok(['--kubeconfig', out, 'auth', 'whoami', '-o', 'json'])).status.userInfo;
  assert.deepEqual([who.username, who.groups], ['erin', ['ops', 'qa', 'system:authenticated']]);
  const sa = join(t.dir, 'cli-sa.kubeconfig');
  await run(['kubeconfig', 'serviceaccount', 'default/robot', '--duration', '20m', '--data-dir', dataDir, '--out', sa]);
  const r = await t.kubectl(['--kubeconfig', sa, 'create', 'configmap', 'by-cli-sa', '--from-literal=a=b']);
  assert.equal(r.code, 0, r.stderr);
});
