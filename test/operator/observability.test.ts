// `kubeve operator`'s probe and scrape port: /metrics, /livez, /readyz, /healthz (?verbose, single
// checks) with checks for the device API, the device state and EVE informers and the Lease; readiness
// does not depend on leadership; the chart probes and scrapes that port. Two replicas in-process against
// a `kubeve server --controllers=false` process, as the chart's ServiceAccount.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { eventually } from '../eve-e2e/helpers.ts';
import { parseExposition } from '../helpers/prometheus.ts';
import { startOperator, type Operator } from '../../src/operator/operator.ts';
import { CHART, NAMESPACE, helm, startCluster, startOperatorProcess, operatorKubeconfig, type Cluster } from './helpers.ts';

let t: Cluster;
let kubeconfig: string;
const ops: Operator[] = [];

const start = async (identity: string) => {
  const op = await startOperator({
    kubeconfig,
    namespace: NAMESPACE,
    identity,
    dataDir: fs.mkdtempSync(path.join(t.dir, `${identity}-`)),
    deviceHost: '127.0.0.1',
    devicePort: 0,
    observability: { host: '127.0.0.1', port: 0 },
    leaseDurationMs: 4000,
    renewDeadlineMs: 3000,
    retryPeriodMs: 500,
  });
  ops.push(op);
  return op;
};
const get = async (op: Operator, p: string, init?: RequestInit) => {
  const r = await fetch(`${op.observability!.url}${p}`, init);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
};

before(async () => {
  t = await startCluster();
  kubeconfig = await operatorKubeconfig(t, { applyCrdsAtStart: true });
});
after(async () => {
  for (const op of ops) await op.close().catch(() => undefined);
  await t?.close();
});

test('the leader: /readyz and /livez list their checks, /metrics says it holds the Lease, bad paths and methods are refused', async () => {
  const a = await start('obs-a');
  await eventually(() => a.elector.isLeader() && a.controllers(), 20_000, 'obs-a to lead');
  const ready = await eventually(
    async () => {
      const r = await get(a, '/readyz?verbose');
      return r.status === 200 ? r : undefined;
    },
    20_000,
    '/readyz to pass',
  );
  assert.match(ready.type, /^text\/plain/);
  for (const c of ['ping', 'shutdown', 'device-api', 'device-state-sync', 'eve-informer-sync']) assert.match(ready.body, new RegExp(`^\\[\\+\\]${c} ok$`, 'm'));
  assert.match(ready.body, /readyz check passed\n$/);
  assert.deepEqual(await get(a, '/readyz'), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok' });
  const live = await get(a, '/livez?verbose');
  assert.equal(live.status, 200);
  assert.match(live.body, /^\[\+\]leader-election ok$/m);
  assert.doesNotMatch(live.body, /device-api/, 'liveness does not hang on the device API');
  assert.equal((await get(a, '/healthz')).body, 'ok');
  assert.equal((await get(a, '/readyz/device-api')).body, 'ok');
  assert.match((await get(a, '/readyz?verbose&exclude=device-api')).body, /^\[\+\]device-api excluded: ok$/m);
  assert.equal((await get(a, '/readyz/no-such-check')).status, 404);
  assert.equal((await get(a, '/apis')).status, 404, 'no API here');
  assert.equal((await get(a, '/readyz', { method: 'POST' })).status, 405);

  const m = await get(a, '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.type, /^text\/plain; version=0\.0\.4/);
  const exp = parseExposition(m.body);
  assert.equal(exp.value('leader_election_master_status', { name: 'kubeve-operator' }), 1);
  assert.ok(exp.types.has('kubeve_device_api_requests_total') && exp.types.has('process_cpu_user_seconds_total'));
});

test('a follower is ready (it serves devices) and reports it does not lead; with its device API gone it is unready but alive', async () => {
  const b = await start('obs-b');
  await eventually(() => b.elector.leader() === 'obs-a', 20_000, 'obs-b to see the leader');
  assert.equal(b.elector.isLeader(), false);
  const ready = await eventually(
    async () => {
      const r = await get(b, '/readyz?verbose');
      return r.status === 200 ? r : undefined;
    },
    20_000,
    'the follower to be ready',
  );
  assert.match(ready.body, /^\[\+\]eve-informer-sync ok$/m);
  assert.equal(parseExposition((await get(b, '/metrics')).body).value('leader_election_master_status', { name: 'kubeve-operator' }), 0);

  await new Promise<void>((r) => b.device.httpsServer.close(() => r()));
  const down = await get(b, '/readyz?verbose');
  assert.equal(down.status, 500);
  assert.match(down.body, /^\[-\]device-api failed: reason withheld$/m);
  assert.match(down.body, /readyz check failed\n$/);
  assert.equal((await get(b, '/readyz/device-api')).status, 500);
  assert.equal((await get(b, '/livez')).status, 200, 'alive: a restart is not what fixes a probe of readiness');
});

test('on close a replica turns unready first, then its port goes away', async () => {
  const b = ops.find((o) => o.identity === 'obs-b')!;
  const url = b.observability!.url;
  b.health.shutdown();
  assert.match((await get(b, '/readyz?verbose')).body, /^\[-\]shutdown failed: reason withheld$/m);
  await b.close();
  ops.splice(ops.indexOf(b), 1);
  await assert.rejects(fetch(`${url}/livez`));
});

test('the CLI serves it on --metrics-port and says where', async () => {
  const p = startOperatorProcess({ kubeconfig, identity: 'obs-cli', port: 0, dataDir: fs.mkdtempSync(path.join(t.dir, 'obs-cli-')) });
  try {
    await p.waitFor(/metrics and health on http:\/\/127\.0\.0\.1:\d+\/metrics/, 60_000);
    const r = await fetch(`${p.observabilityUrl()}/readyz`);
    assert.equal(r.status, 200, await r.text());
  } finally {
    await p.stop();
  }
});

test("the chart probes /livez and /readyz and scrapes /metrics on the operator's metrics port", async () => {
  const r = await helm(
    ['template', 'kubeve', CHART, '-n', NAMESPACE, '--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.port=9191'],
    path.join(t.dir, 'helm-home'),
  );
  assert.equal(r.code, 0, r.stderr);
  const objs = YAML.parseAllDocuments(r.stdout)
    .map((d) => d.toJS())
    .filter(Boolean);
  const c = objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0];
  assert.ok(c.args.includes('--metrics-port=9191'), c.args.join(' '));
  assert.deepEqual(
    c.ports.find((p: any) => p.name === 'metrics'),
    { name: 'metrics', containerPort: 9191, protocol: 'TCP' },
  );
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/livez', port: 'metrics' });
  const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'kubeve-metrics');
  assert.deepEqual(svc.spec.ports[0], { name: 'metrics', port: 9191, targetPort: 'metrics', protocol: 'TCP' });
  const sm = objs.find((o) => o.kind === 'ServiceMonitor');
  assert.deepEqual(sm.spec.endpoints[0], { port: 'metrics', path: '/metrics', interval: '30s' });
  assert.equal(sm.spec.selector.matchLabels['app.kubernetes.io/component'], 'metrics');
  assert.equal(svc.metadata.labels['app.kubernetes.io/component'], 'metrics');
});
