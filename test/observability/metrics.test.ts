// /metrics as a Prometheus scraper sees it: curl with a ServiceAccount token is refused (403) until
// the account is bound to system:monitoring, then gets a valid exposition whose kube-named request
// counters, latency histograms, long-running (watch) gauge and storage object counts follow the
// requests made.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import https from 'node:https';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { parseExposition } from '../helpers/prometheus.ts';

let t: TestServer;
let caFile: string;

before(async () => {
  t = await startTestServer();
  caFile = t.file('ca.crt', t.server.caPem);
});
after(() => t.close());

function curl(path: string, token?: string): Promise<{ code: number; body: string }> {
  const args = ['-sS', '--cacert', caFile, '-w', '\n%{http_code}', ...(token ? ['-H', `Authorization: Bearer ${token}`] : []), t.server.url + path];
  return new Promise((resolve, reject) => {
    execFile('curl', args, { maxBuffer: 16 << 20 }, (err, stdout) => {
      if (err) return reject(err);
      const i = stdout.lastIndexOf('\n');
      resolve({ code: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) });
    });
  });
}

async function scrape(token: string) {
  const r = await curl('/metrics', token);
  assert.equal(r.code, 200, r.body);
  return parseExposition(r.body);
}

test('/metrics is RBAC-gated as kube-apiserver gates it, and its counters move with requests', async () => {
  await t.ok(['create', 'serviceaccount', 'scraper', '-n', 'default']);
  const token = (await t.ok(['create', 'token', 'scraper', '-n', 'default'])).trim();

  // Authenticated without the permission: 403 with kube's message; no credential at all: 401.
  const denied = await curl('/metrics', token);
  assert.equal(denied.code, 403);
  const status = JSON.parse(denied.body);
  assert.equal(status.reason, 'Forbidden');
  assert.match(status.message, /User "system:serviceaccount:default:scraper" cannot get path "\/metrics"/);
  assert.equal((await curl('/metrics')).code, 401);

  // The bootstrap role kube ships for scrapers grants it.
  await t.ok(['create', 'clusterrolebinding', 'scraper-monitoring', '--clusterrole=system:monitoring', '--serviceaccount=default:scraper']);
  let first = await curl('/metrics', token);
  for (let i = 0; first.code !== 200 && i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    first = await curl('/metrics', token);
  }
  assert.equal(first.code, 200, first.body);
  const before = parseExposition(first.body);
  for (const [name, type] of [
    ['apiserver_request_total', 'counter'],
    ['apiserver_request_duration_seconds', 'histogram'],
    ['apiserver_longrunning_requests', 'gauge'],
    ['apiserver_storage_objects', 'gauge'],
  ]) {
    assert.equal(before.types.get(name), type, name);
  }
  // The refused scrape is counted as what it was: a GET of a non-resource path answered 403.
  assert.ok((before.value('apiserver_request_total', { verb: 'GET', resource: '', code: '403' }) ?? 0) >= 1);

  const posts = { verb: 'POST', group: '', version: 'v1', resource: 'configmaps', scope: 'namespace', code: '201' };
  const p0 = before.value('apiserver_request_total', posts) ?? 0;
  const l0 = before.value('apiserver_request_total', { verb: 'LIST', resource: 'configmaps', scope: 'namespace', code: '200' }) ?? 0;
  const h0 = before.value('apiserver_request_duration_seconds_count', { verb: 'POST', resource: 'configmaps', scope: 'namespace' }) ?? 0;
  const o0 = before.value('apiserver_storage_objects', { resource: 'configmaps' });
  assert.equal(typeof o0, 'number');
  for (let i = 0; i < 3; i++) {
    const r = await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `m-${i}` } });
    assert.equal(r.status, 201);
  }
  assert.equal(
    (await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'm-0' } })).status,
    409,
  );
  await t.ok(['get', 'configmaps', '-n', 'default']);
  // A resource nobody serves does not become a label value.
  assert.equal((await api(t.server, 'GET', '/api/v1/namespaces/default/no-such-things')).status, 404);

  const now = await scrape(token);
  assert.equal(now.value('apiserver_request_total', posts), p0 + 3);
  assert.equal(now.value('apiserver_request_total', { ...posts, code: '409' }), 1);
  assert.equal(now.value('apiserver_request_total', { verb: 'LIST', resource: 'configmaps', scope: 'namespace', code: '200' }), l0 + 1);
  assert.equal(now.value('apiserver_request_duration_seconds_count', { verb: 'POST', resource: 'configmaps', scope: 'namespace' }), h0 + 4);
  assert.equal(now.value('apiserver_storage_objects', { resource: 'configmaps' }), o0! + 3);
  assert.ok(!now.samples.some((s) => s.labels.resource === 'no-such-things'));
  const buckets = now.samples.filter(
    (s) => s.name === 'apiserver_request_duration_seconds_bucket' && s.labels.verb === 'POST' && s.labels.resource === 'configmaps',
  );
  assert.equal(buckets.at(-1)?.labels.le, '+Inf');
  assert.equal(buckets.at(-1)?.value, h0 + 4);
});

test('a watch is a long-running request while it lasts, and is counted when it ends', async () => {
  const token = (await t.ok(['create', 'token', 'scraper', '-n', 'default'])).trim();
  const watching = { verb: 'WATCH', resource: 'configmaps', scope: 'namespace' };
  const req = https.request(`${t.server.url}/api/v1/namespaces/default/configmaps?watch=1`, {
    headers: { Authorization: `Bearer ${t.server.adminToken}` },
    ca: t.server.caPem,
  });
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    req.on('response', resolve).on('error', reject).end();
  });
  assert.equal(res.statusCode, 200);
  res.resume();
  assert.equal((await scrape(token)).value('apiserver_longrunning_requests', watching), 1);
  const ended = new Promise((r) => res.on('close', r));
  req.destroy();
  await ended;
  let after = await scrape(token);
  for (let i = 0; after.value('apiserver_longrunning_requests', watching) !== 0 && i < 50; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = await scrape(token);
  }
  assert.equal(after.value('apiserver_longrunning_requests', watching), 0);
  assert.equal(after.value('apiserver_request_total', { ...watching, code: '200' }), 1);
  // Watches are kept out of the latency histogram (they last as long as the client wants).
  assert.equal(after.value('apiserver_request_duration_seconds_count', watching), undefined);
});
