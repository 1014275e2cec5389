// Leader election on a coordination.k8s.io/v1 Lease, two candidates on one real server (one over
// HTTP, one in-process): exactly one leads; the Lease carries client-go's fields; a clean stop
// hands over at once; a crashed leader (no release) is replaced once its lease runs out.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { HttpClient, InProcessClient, LEASES, LeaderElector, loadKubeconfig, type Client } from '../../src/controllers/runtime/index.ts';
import { until } from './link.ts';

let t: TestServer;
let http: HttpClient;
let inproc: Client;
before(async () => {
  t = await startTestServer();
  http = new HttpClient({ ...loadKubeconfig(t.server.kubeconfigPath), qps: 100, burst: 100 });
  inproc = new InProcessClient(t.server.service, t.server.registry);
});
after(async () => {
  http?.close();
  await t?.close();
});

const FAST = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 };

function candidate(client: Client, identity: string, name: string, timings: object = FAST) {
  const events: string[] = [];
  const e = new LeaderElector(client, {
    namespace: 'kube-system',
    name,
    identity,
    ...timings,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
  });
  running.push(e);
  return { e, events };
}

// A longer lease here, so that a handover well inside it can only come from the release.
const SLOW = { leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 200 };
const running: LeaderElector[] = [];
afterEach(async () => {
  // A failed assertion must not leave candidates campaigning against a closed server.
  await Promise.all(running.splice(0).map((e) => e.stop({ release: false })));
});

test('exactly one of two candidates leads; a clean stop hands the lease over at once', async () => {
  const a = candidate(http, 'a', 'handover', SLOW);
  const b = candidate(inproc, 'b', 'handover', SLOW);
  a.e.start();
  await until(() => a.e.isLeader(), 5000, 'a to lead');
  b.e.start();
  // Over several renewals, only ever one leader.
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(Number(a.e.isLeader()) + Number(b.e.isLeader()), 1);
  }
  assert.equal(b.e.leader(), 'a');
  const lease = await inproc.get(LEASES, 'kube-system', 'handover');
  assert.equal(lease.spec.holderIdentity, 'a');
  assert.equal(lease.spec.leaseDurationSeconds, 6);
  assert.equal(lease.spec.leaseTransitions, 0);
  assert.match(lease.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.ok(lease.spec.renewTime > lease.spec.acquireTime, 'renewed since acquired');

  await a.e.stop();
  const t0 = Date.now();
  assert.deepEqual(a.events, ['started', 'stopped']);
  await until(() => b.e.isLeader(), 5000, 'b to lead');
  assert.ok(Date.now() - t0 < 3000, `released lease taken long before it would expire (${Date.now() - t0} ms of 6000)`);
  const after = await inproc.get(LEASES, 'kube-system', 'handover');
  assert.equal(after.spec.holderIdentity, 'b');
  assert.equal(after.spec.leaseTransitions, 1);
  await b.e.stop();
  assert.equal((await inproc.get(LEASES, 'kube-system', 'handover')).spec.holderIdentity, '');
});

test('a leader that dies without releasing is replaced after the lease duration, not before', async () => {
  const a = candidate(inproc, 'a', 'crash');
  const b = candidate(http, 'b', 'crash');
  a.e.start();
  await until(() => a.e.isLeader(), 5000, 'a to lead');
  b.e.start();
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await a.e.stop({ release: false }); // as kill -9: the Lease still names a
  await until(() => b.e.isLeader(), 5000, 'b to take over');
  const took = Date.now() - t0;
  assert.ok(took >= 1000 && took <= 3000, `took over after ${took} ms (lease 1.5 s)`);
  assert.equal((await inproc.get(LEASES, 'kube-system', 'crash')).spec.leaseTransitions, 1);
  await b.e.stop();
});

test("client-go's default timings: a 15 s lease", async () => {
  const a = candidate(http, 'solo', 'defaults', {});
  a.e.start();
  await until(() => a.e.isLeader(), 5000, 'leading');
  const lease = await inproc.get(LEASES, 'kube-system', 'defaults');
  assert.equal(lease.spec.leaseDurationSeconds, 15);
  await a.e.stop();
  assert.throws(
    () => new LeaderElector(http, { namespace: 'x', name: 'y', identity: 'z', renewDeadlineMs: 20_000 }),
    /leaseDuration > renewDeadline > retryPeriod/,
  );
});
