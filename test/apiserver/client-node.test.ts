// @kubernetes/client-node against kubeve: an informer survives a dropped link and resumes from its
// resourceVersion without duplicate ADDED events; a resourceVersion lost to compaction (410) makes
// it relist. The link is cut with a real TCP proxy between the client and the server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';

/** A TCP proxy whose link can be cut (open sockets destroyed, new ones refused) and restored. */
class Link {
  private server: net.Server;
  private sockets = new Set<net.Socket>();
  up = true;
  port = 0;
  constructor(private target: number) {
    this.server = net.createServer((c) => {
      if (!this.up) return c.destroy();
      const s = net.connect(this.target, '127.0.0.1');
      this.sockets.add(c).add(s);
      c.pipe(s).pipe(c);
      const drop = () => {
        c.destroy();
        s.destroy();
        this.sockets.delete(c);
        this.sockets.delete(s);
      };
      c.on('error', drop).on('close', drop);
      s.on('error', drop).on('close', drop);
    });
  }
  async listen() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  cut() {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }
  restore() {
    this.up = true;
  }
  close() {
    this.cut();
    this.server.close();
  }
}

let t: TestServer;
let link: Link;
let finished = false;
let kc: k8s.KubeConfig;
before(async () => {
  // A small watch cache, so that compaction can push a resourceVersion out of reach (410).
  t = await startTestServer({ watchCacheEvents: 16 });
  link = new Link(t.server.port);
  await link.listen();
  kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${link.port}`, caData: Buffer.from(t.server.caPem).toString('base64') }],
    users: [{ name: 'u', token: t.server.adminToken }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'inf' } } });
});
after(async () => {
  finished = true;
  link?.close();
  await t?.close();
});

function until(cond: () => boolean, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => (cond() ? resolve() : Date.now() - start > ms ? reject(new Error('timed out')) : setTimeout(tick, 20));
    tick();
  });
}

async function makeInformer() {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer(kc, '/api/v1/namespaces/inf/configmaps', () => core.listNamespacedConfigMap({ namespace: 'inf' }));
  const adds: string[] = [];
  let errors = 0;
  informer.on('add', (o) => adds.push(o.metadata!.name!));
  informer.on('error', () => {
    errors++;
    if (finished) return;
    // The documented client-node pattern: restart after an error; the informer keeps its resourceVersion.
    setTimeout(() => void informer.start().catch(() => undefined), 200);
  });
  await informer.start();
  return { informer, adds, errors: () => errors };
}

const core = () => kc.makeApiClient(k8s.CoreV1Api);

test('informer resumes after a dropped link without duplicate ADDED events', async () => {
  const { informer, adds, errors } = await makeInformer();
  await core().createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'a' }, data: { k: 'v' } } });
  await until(() => adds.includes('a'));

  link.cut();
  await until(() => errors() > 0);
  // Written through a path the informer cannot see while its link is down.
  const created = await api(t.server, 'POST', '/api/v1/namespaces/inf/configmaps', { metadata: { name: 'b' } });
  assert.equal(created.status, 201);
  link.restore();

  await until(() => adds.includes('b'));
  await core().createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'c' } } });
  await until(() => adds.includes('c'));
  assert.deepEqual(adds, ['a', 'b', 'c'], 'each object added exactly once');
  assert.deepEqual(
    informer
      .list()
      .map((o) => o.metadata!.name)
      .sort(),
    ['a', 'b', 'c'],
  );
  await informer.stop();
});

test('a resourceVersion lost to compaction gets 410 and the informer relists', async () => {
  const { informer, adds, errors } = await makeInformer();
  await until(() => informer.list().length === 3);
  link.cut();
  await until(() => errors() > 0);
  // While the link is down: delete one object, add another, then compact history past the
  // informer's resourceVersion so it cannot resume.
  assert.equal((await api(t.server, 'DELETE', '/api/v1/namespaces/inf/configmaps/a')).status, 200);
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces/inf/configmaps', { metadata: { name: 'd' } })).status, 201);
  for (let i = 0; i < 20; i++)
    assert.equal((await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: `churn-${i}` } })).status, 201);
  const rev = await t.server.storage.currentRevision();
  await t.server.storage.compact(rev);

  // The watch from the old resourceVersion answers 410 Expired.
  const stale = await api(t.server, 'GET', `/api/v1/namespaces/inf/configmaps?watch=true&resourceVersion=${rev - 22}&timeoutSeconds=1`);
  assert.equal(stale.status, 200);
  assert.equal(stale.body.type, 'ERROR');
  assert.equal(stale.body.object.code, 410);
  assert.equal(stale.body.object.reason, 'Expired');
  assert.match(stale.body.object.message, /^too old resource version: \d+ \(\d+\)$/);

  link.restore();
  await until(
    () =>
      informer
        .list()
        .map((o) => o.metadata!.name)
        .sort()
        .join() === 'b,c,d',
  );
  assert.ok(adds.includes('d'), 'relist delivered the object created while disconnected');
  await informer.stop();
});
