// Informers over the HTTP client through a TCP link that tests cut: the cache and handlers follow
// every change; a dropped connection resumes the watch from the last resourceVersion (no relist,
// no duplicate adds); a resourceVersion lost to compaction (410) relists and reports the objects
// deleted meanwhile as tombstones. Also: indexers, resync, one list+watch per resource in a factory.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import {
  CountingClient,
  HttpClient,
  InProcessClient,
  Informer,
  SharedInformerFactory,
  byField,
  loadKubeconfig,
  type GVR,
  type KObject,
} from '../../src/controllers/runtime/index.ts';
import { Link, until } from './link.ts';

const CM: GVR = { group: '', version: 'v1', resource: 'configmaps' };
const PODS: GVR = { group: '', version: 'v1', resource: 'pods' };
let t: TestServer;
let link: Link;
let http: HttpClient;

before(async () => {
  t = await startTestServer({ watchCacheEvents: 16, bookmarkIntervalMs: 100 });
  link = await new Link(t.server.port).listen();
  http = new HttpClient({ ...loadKubeconfig(t.server.kubeconfigPath), server: link.url, tlsServerName: '127.0.0.1', qps: 1000, burst: 1000 });
  for (const ns of ['inf', 'idx']) assert.equal((await api(t.server, 'POST', '/api/v1/namespaces', { metadata: { name: ns } })).status, 201);
});
after(async () => {
  link?.close();
  http?.close();
  await t?.close();
});

function recorder(inf: Informer) {
  const log: string[] = [];
  inf.addEventHandler({
    onAdd: (o) => log.push(`add ${o.metadata.name}`),
    onUpdate: (a, b) => log.push(a === b ? `resync ${b.metadata.name}` : `update ${b.metadata.name}`),
    onDelete: (o, unknown) => log.push(`${unknown ? 'tombstone' : 'delete'} ${o.metadata.name}`),
  });
  return log;
}

const cm = (name: string, data: Record<string, string> = {}) => api(t.server, 'POST', '/api/v1/namespaces/inf/configmaps', { metadata: { name }, data });

test('an informer survives a dropped connection, then a 410, without losing or repeating a change', async () => {
  assert.equal((await cm('a')).status, 201);
  const inf = new Informer(http, CM, { namespace: 'inf', backoffInitialMs: 50, backoffMaxMs: 200 });
  const log = recorder(inf);
  inf.start();
  await inf.waitForSync();
  assert.ok(inf.hasSynced());
  assert.deepEqual(log, ['add a']);
  assert.equal((await cm('b')).status, 201);
  await until(() => log.includes('add b'), 5000, 'add b');

  // 1. Drop the connection; write while it is down; the watch resumes from its resourceVersion.
  link.cut();
  await until(() => inf.stats.watchErrors > 0, 5000, 'the watch to notice');
  assert.equal((await cm('c')).status, 201);
  assert.equal(
    (await api(t.server, 'PATCH', '/api/v1/namespaces/inf/configmaps/a', { data: { x: '1' } }, { 'Content-Type': 'application/merge-patch+json' })).status,
    200,
  );
  link.restore();
  await until(() => log.includes('add c') && log.includes('update a'), 10_000, 'changes made while down');
  assert.equal(inf.stats.lists, 1, 'resumed without relisting');
  assert.equal(inf.stats.expired, 0);
  assert.deepEqual(log, ['add a', 'add b', 'add c', 'update a']);
  assert.equal(inf.store.getByName('inf', 'a')?.data?.x, '1');

  // 2. Drop it again, and compact history past the informer's resourceVersion meanwhile.
  link.cut();
  const errs = inf.stats.watchErrors;
  await until(() => inf.stats.watchErrors > errs, 5000, 'the watch to notice');
  assert.equal((await api(t.server, 'DELETE', '/api/v1/namespaces/inf/configmaps/b')).status, 200);
  assert.equal((await cm('d')).status, 201);
  for (let i = 0; i < 20; i++)
    assert.equal((await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: `churn-${i}` } })).status, 201);
  await t.server.storage.compact(await t.server.storage.currentRevision());
  link.restore();
  await until(() => inf.stats.expired > 0 && log.includes('add d'), 10_000, 'the relist after 410');
  assert.equal(inf.stats.lists, 2, 'one relist');
  assert.deepEqual(log.slice(4).sort(), ['add d', 'tombstone b'], 'b was deleted while disconnected: a tombstone');
  assert.deepEqual(
    inf.store
      .list()
      .map((o) => o.metadata.name)
      .sort(),
    ['a', 'c', 'd'],
  );

  // 3. Live again.
  assert.equal((await api(t.server, 'DELETE', '/api/v1/namespaces/inf/configmaps/c')).status, 200);
  await until(() => log.includes('delete c'), 5000, 'delete c');
  inf.stop();
});

test('indexers, late handlers and resync', async () => {
  const inproc = new InProcessClient(t.server.service, t.server.registry);
  const pod = (name: string, nodeName?: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'busybox' }] },
  });
  await inproc.create(PODS, 'idx', pod('p1', 'n1'));
  await inproc.create(PODS, 'idx', pod('p2', 'n2'));
  await inproc.create(PODS, 'idx', pod('p3'));
  const inf = new Informer(inproc, PODS, { resyncMs: 150, indexers: { nodeName: byField('spec.nodeName') } });
  inf.start();
  await inf.waitForSync();
  const names = (os: KObject[]) => os.map((o) => o.metadata.name).sort();
  assert.deepEqual(names(inf.store.byIndex('nodeName', 'n1')), ['p1']);
  assert.deepEqual(names(inf.store.byIndex('namespace', 'idx')), ['p1', 'p2', 'p3']);
  await inproc.create(PODS, 'idx', pod('p4', 'n1'));
  await until(() => inf.store.byIndex('nodeName', 'n1').length === 2, 5000, 'index update');
  await inproc.delete(PODS, 'idx', 'p1', { gracePeriodSeconds: 0 });
  await until(() => names(inf.store.byIndex('nodeName', 'n1')).join() === 'p4', 5000, 'index removal');
  // A handler that throws does not keep the others from their events.
  inf.addEventHandler({
    onAdd: () => {
      throw new Error('poisoned handler');
    },
    onUpdate: () => {
      throw new Error('poisoned handler');
    },
  });
  // A handler added after the start first sees the cache as adds, then periodic resyncs.
  const log = recorder(inf);
  assert.deepEqual(log.slice().sort(), ['add p2', 'add p3', 'add p4']);
  await until(() => log.filter((l) => l.startsWith('resync')).length >= 3, 5000, 'a resync');
  inf.stop();
});

test('a shared informer factory lists and watches each resource once for all its users', async () => {
  const counting = new CountingClient(new InProcessClient(t.server.service, t.server.registry));
  const f = new SharedInformerFactory(counting);
  const a = f.informerFor(CM, { namespace: 'inf' });
  const b = f.informerFor(CM, { namespace: 'inf', indexers: { x: byField('data.x') } });
  assert.equal(a, b);
  f.informerFor(PODS);
  f.start();
  await f.waitForCacheSync();
  assert.equal(counting.total('list', 'configmaps'), 1);
  assert.equal(counting.total('watch', 'configmaps'), 1);
  assert.equal(counting.total('list', 'pods'), 1);
  assert.deepEqual(
    a.store.byIndex('x', '1').map((o) => o.metadata.name),
    ['a'],
  );
  f.stop();
});
