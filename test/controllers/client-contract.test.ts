// One contract for the controller runtime's Client, run against both implementations on a real
// kubeve server: the in-process client (REST layer) and the HTTP client (HTTPS, kubeconfig). Both
// must answer the same way: objects, list pages and selectors, StatusErrors with the same code and
// reason, optimistic concurrency, status subresource, patch types, delete preconditions, watch
// resume and 410 Expired after compaction.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import {
  HttpClient,
  InProcessClient,
  loadKubeconfig,
  isGone,
  StatusError,
  type Client,
  type GVR,
  type WatchEvent,
} from '../../src/controllers/runtime/index.ts';
import { until } from './link.ts';

const CM: GVR = { group: '', version: 'v1', resource: 'configmaps' };
const NS: GVR = { group: '', version: 'v1', resource: 'namespaces' };
const NODES: GVR = { group: '', version: 'v1', resource: 'nodes' };

let t: TestServer;
let http: HttpClient;
before(async () => {
  // A small watch cache, so that compaction can push a resourceVersion out of reach (410).
  t = await startTestServer({ watchCacheEvents: 16 });
  http = new HttpClient({ ...loadKubeconfig(t.server.kubeconfigPath), qps: 1000, burst: 1000 });
});
after(async () => {
  http?.close();
  await t?.close();
});

const impls: Array<[string, () => Client]> = [
  ['in-process', () => new InProcessClient(t.server.service, t.server.registry)],
  ['http', () => http],
];

async function rejectsWith(p: Promise<unknown>, code: number, reason: string): Promise<StatusError> {
  let err: unknown;
  await assert.rejects(p, (e: unknown) => ((err = e), true));
  assert.ok(err instanceof StatusError, `a StatusError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.equal(err.reason, reason, err.message);
  return err;
}

for (const [kind, make] of impls) {
  describe(`Client contract: ${kind}`, () => {
    let c: Client;
    const ns = `contract-${kind}`;
    before(async () => {
      c = make();
      await c.create(NS, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    });

    it('creates, gets and reports NotFound / AlreadyExists as kube does', async () => {
      const made = await c.create(CM, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', labels: { app: 'x' } }, data: { k: 'v' } });
      assert.equal(made.metadata.namespace, ns);
      assert.match(made.metadata.uid, /^[0-9a-f-]{36}$/);
      assert.ok(Number(made.metadata.resourceVersion) > 0);
      const got = await c.get(CM, ns, 'a');
      assert.deepEqual(got.data, { k: 'v' });
      assert.equal(got.kind, 'ConfigMap');
      const nf = await rejectsWith(c.get(CM, ns, 'nope'), 404, 'NotFound');
      assert.equal(nf.message, 'configmaps "nope" not found');
      assert.equal(nf.details?.name, 'nope');
      await rejectsWith(c.create(CM, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }), 409, 'AlreadyExists');
    });

    it('POSTs create-only subresources: pods/binding once, pods/eviction', async () => {
      const PODS: GVR = { group: '', version: 'v1', resource: 'pods' };
      const pod = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'pause' }] } });
      await c.create(PODS, ns, pod('b'));
      const bind = (node: string) =>
        c.createSubresource(PODS, ns, 'b', 'binding', {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: 'b' },
          target: { apiVersion: 'v1', kind: 'Node', name: node },
        });
      assert.equal((await bind('n1')).status, 'Success');
      assert.equal((await c.get(PODS, ns, 'b')).spec.nodeName, 'n1');
      const e = await rejectsWith(bind('n2'), 409, 'Conflict');
      assert.match(e.message, /pod b is already assigned to node "n1"/);
      await c.create(PODS, ns, pod('e'));
      await c.createSubresource(PODS, ns, 'e', 'eviction', { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'e', namespace: ns } });
      await rejectsWith(c.get(PODS, ns, 'e'), 404, 'NotFound');
      await rejectsWith(c.createSubresource(PODS, ns, 'b', 'nonsense', {}), 404, 'NotFound');
    });

    it('rejects an invalid object with 422 Invalid and the field path', async () => {
      const e = await rejectsWith(c.create(CM, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Bad_Name' } }), 422, 'Invalid');
      assert.ok(
        e.details?.causes?.some((x) => x.field === 'metadata.name'),
        JSON.stringify(e.details),
      );
      await rejectsWith(c.get(CM, ns, 'Bad_Name'), 404, 'NotFound');
    });

    it('lists in pages with one resourceVersion, and filters by label and field selectors', async () => {
      for (const n of ['p1', 'p2', 'p3', 'p4'])
        await c.create(CM, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n, labels: { app: n === 'p2' ? 'x' : 'y' } } });
      const names: string[] = [];
      let cont: string | undefined;
      let pages = 0;
      let rv: string | undefined;
      do {
        const l = await c.list(CM, ns, { limit: 2, continue: cont });
        pages++;
        names.push(...l.items.map((o) => o.metadata.name));
        rv ??= l.resourceVersion;
        assert.equal(l.resourceVersion, rv, 'every page is of the same snapshot');
        cont = l.continue;
      } while (cont);
      assert.deepEqual(names, ['a', 'p1', 'p2', 'p3', 'p4']);
      assert.equal(pages, 3);
      const byLabel = await c.list(CM, ns, { labelSelector: 'app=x' });
      assert.deepEqual(
        byLabel.items.map((o) => o.metadata.name),
        ['a', 'p2'],
      );
      assert.ok(byLabel.items.every((o) => o.kind === 'ConfigMap' && o.apiVersion === 'v1'));
      const byField = await c.list(CM, ns, { fieldSelector: 'metadata.name=p3' });
      assert.deepEqual(
        byField.items.map((o) => o.metadata.name),
        ['p3'],
      );
      await rejectsWith(c.list(CM, ns, { labelSelector: 'app in (' }), 400, 'BadRequest');
    });

    it('updates conditionally on resourceVersion: a stale one is a 409 Conflict', async () => {
      const cur = await c.get(CM, ns, 'a');
      const next = await c.update(CM, { ...cur, data: { k: 'v2' } });
      assert.ok(Number(next.metadata.resourceVersion) > Number(cur.metadata.resourceVersion));
      const e = await rejectsWith(c.update(CM, { ...cur, data: { k: 'stale' } }), 409, 'Conflict');
      assert.match(e.message, /the object has been modified/);
      assert.deepEqual((await c.get(CM, ns, 'a')).data, { k: 'v2' });
      await rejectsWith(c.update(CM, { ...cur, metadata: { ...cur.metadata, name: 'absent', resourceVersion: undefined } }), 404, 'NotFound');
    });

    it('updateStatus changes only status; update leaves status alone', async () => {
      const name = `node-${kind}`;
      const n = await c.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR: '10.0.0.0/24' } });
      const st = await c.updateStatus(NODES, { ...n, spec: { podCIDR: '10.9.9.0/24' }, status: { capacity: { pods: '10' } } });
      assert.deepEqual(st.status.capacity, { pods: '10' });
      assert.equal(st.spec.podCIDR, '10.0.0.0/24', 'spec is not changed through /status');
      const up = await c.update(NODES, { ...st, spec: { ...st.spec, unschedulable: true }, status: { capacity: { pods: '99' } } });
      assert.equal(up.spec.unschedulable, true);
      assert.deepEqual(up.status.capacity, { pods: '10' }, 'status is not changed through the main resource');
      await rejectsWith(c.updateStatus(NODES, { ...n, status: {} }), 409, 'Conflict');
      const patched = await c.patch(
        NODES,
        undefined,
        name,
        'merge',
        { status: { capacity: { pods: '20' } }, spec: { unschedulable: false } },
        { subresource: 'status' },
      );
      assert.deepEqual(patched.status.capacity, { pods: '20' });
      assert.equal(patched.spec.unschedulable, true);
      await c.delete(NODES, undefined, name);
    });

    it('patches with merge, JSON and strategic merge patches; a failed JSON patch test is rejected', async () => {
      const m = await c.patch(CM, ns, 'a', 'merge', { data: { m: '1', k: null } });
      assert.deepEqual(m.data, { m: '1' });
      const j = await c.patch(CM, ns, 'a', 'json', [{ op: 'add', path: '/data/j', value: '2' }]);
      assert.deepEqual(j.data, { m: '1', j: '2' });
      const s = await c.patch(CM, ns, 'a', 'strategic', { metadata: { labels: { s: '3' } } });
      assert.equal(s.metadata.labels.s, '3');
      assert.equal(s.metadata.labels.app, 'x');
      const e = await assert.rejects(
        c.patch(CM, ns, 'a', 'json', [{ op: 'test', path: '/data/m', value: 'other' }]),
        (x: unknown) => x instanceof StatusError && x.code >= 400 && x.code < 500,
      );
      void e;
      const dry = await c.patch(CM, ns, 'a', 'merge', { data: { dry: 'run' } }, { dryRun: true });
      assert.equal(dry.data.dry, 'run');
      assert.equal((await c.get(CM, ns, 'a')).data.dry, undefined, 'a dry run changes nothing');
    });

    it('deletes with uid and resourceVersion preconditions', async () => {
      const o = await c.create(CM, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'd' } });
      await rejectsWith(c.delete(CM, ns, 'd', { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } }), 409, 'Conflict');
      await rejectsWith(c.delete(CM, ns, 'd', { preconditions: { resourceVersion: '1' } }), 409, 'Conflict');
      await c.delete(CM, ns, 'd', { preconditions: { uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion } });
      await rejectsWith(c.get(CM, ns, 'd'), 404, 'NotFound');
      await rejectsWith(c.delete(CM, ns, 'd'), 404, 'NotFound');
    });

    it('watches from a resourceVersion: exactly the later changes, in order', async () => {
      const start = await c.create(CM, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1' } });
      await c.create(CM, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w2' } });
      await c.patch(CM, ns, 'w1', 'merge', { data: { x: '1' } });
      const events: WatchEvent[] = [];
      let ended: Error | undefined | null = null;
      const h = c.watch(
        CM,
        ns,
        { resourceVersion: start.metadata.resourceVersion, labelSelector: '!skip' },
        (ev) => events.push(ev),
        (e) => (ended = e),
      );
      await until(() => events.length >= 2, 5000, 'replayed events');
      await c.create(CM, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'skipped', labels: { skip: 'y' } } });
      await c.delete(CM, ns, 'w2');
      await until(() => events.length >= 3, 5000, 'live events');
      await new Promise((r) => setTimeout(r, 100));
      h.stop();
      assert.deepEqual(
        events.map((e) => `${e.type} ${e.object.metadata.name}`),
        ['ADDED w2', 'MODIFIED w1', 'DELETED w2'],
      );
      assert.equal(events[1].object.data.x, '1');
      assert.ok(events.every((e, i) => i === 0 || Number(e.object.metadata.resourceVersion) > Number(events[i - 1].object.metadata.resourceVersion)));
      assert.equal(ended, null, 'stop() does not call onEnd');
    });

    it('ends a watch from a compacted resourceVersion with 410 Expired', async () => {
      const old = await c.create(CM, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'gone' } });
      for (let i = 0; i < 20; i++) await c.patch(CM, ns, 'gone', 'merge', { data: { i: String(i) } });
      await t.server.storage.compact(await t.server.storage.currentRevision());
      const events: WatchEvent[] = [];
      const err = await new Promise<Error | undefined>((resolve) =>
        c.watch(CM, ns, { resourceVersion: old.metadata.resourceVersion }, (ev) => events.push(ev), resolve),
      );
      assert.ok(isGone(err), `410, got ${String(err)}`);
      assert.equal((err as StatusError).reason, 'Expired');
      assert.match(err!.message, /^too old resource version: \d+ \(\d+\)$/);
      assert.equal(events.length, 0);
    });
  });
}
