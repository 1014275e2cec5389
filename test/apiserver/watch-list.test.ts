// Watch and list semantics through the HTTP API: exact resume, selector transitions, bookmarks,
// Table watch, consistent pagination, field selectors for pods and events, binding, deletecollection.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';

let t: TestServer;
const CM = '/api/v1/namespaces/default/configmaps';

before(async () => {
  t = await startTestServer({ bookmarkIntervalMs: 200 });
});
after(async () => {
  await t?.close();
});

/** Opens a watch and collects its events until stopped. */
function watch(path: string, accept = 'application/json') {
  const events: any[] = [];
  let status = 0;
  const req = https.request(t.server.url + path, { headers: { Authorization: `Bearer ${t.server.adminToken}`, Accept: accept }, ca: t.server.caPem }, (res) => {
    status = res.statusCode!;
    let buf = '';
    res.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
  });
  req.end();
  return {
    events,
    status: () => status,
    async until(pred: (evs: any[]) => boolean, ms = 5000) {
      const start = Date.now();
      while (!pred(events)) {
        if (Date.now() - start > ms) throw new Error(`watch ${path}: timed out with ${JSON.stringify(events.map((e) => [e.type, e.object?.metadata?.name]))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: () => req.destroy(),
  };
}

const names = (evs: any[]) => evs.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type}:${e.object.metadata.name}`);

test('a watch resumes exactly after the resourceVersion it was given', async () => {
  const a = await api(t.server, 'POST', CM, { metadata: { name: 'r1' } });
  const rv = a.body.metadata.resourceVersion;
  await api(t.server, 'POST', CM, { metadata: { name: 'r2' } });
  await api(t.server, 'PUT', `${CM}/r1`, { metadata: { name: 'r1' }, data: { x: 'y' } });
  const w = watch(`${CM}?watch=true&resourceVersion=${rv}`);
  await w.until((e) => e.length >= 2);
  await api(t.server, 'DELETE', `${CM}/r2`);
  await w.until((e) => e.length >= 3);
  w.stop();
  assert.deepEqual(names(w.events), ['ADDED:r2', 'MODIFIED:r1', 'DELETED:r2']);
  const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
  assert.ok(
    rvs.every((v, i) => i === 0 || v > rvs[i - 1]),
    'resourceVersions increase',
  );
  assert.ok(rvs[0] > Number(rv));
});

test('without a resourceVersion a watch starts with the current state', async () => {
  const w = watch(`${CM}?watch=true&fieldSelector=metadata.name%3Dr1`);
  await w.until((e) => e.length >= 1);
  w.stop();
  assert.deepEqual(names(w.events), ['ADDED:r1']);
});

test('label selector watches see objects enter (ADDED) and leave (DELETED) the selection', async () => {
  const base = await api(t.server, 'POST', CM, { metadata: { name: 'sel', labels: { tier: 'a' } } });
  const w = watch(`${CM}?watch=true&labelSelector=tier%3Db&resourceVersion=${base.body.metadata.resourceVersion}`);
  await new Promise((r) => setTimeout(r, 100));
  await api(t.server, 'PATCH', `${CM}/sel`, { metadata: { labels: { tier: 'b' } } }, { 'Content-Type': 'application/merge-patch+json' });
  await api(t.server, 'PATCH', `${CM}/sel`, { data: { v: '1' } }, { 'Content-Type': 'application/merge-patch+json' });
  await api(t.server, 'PATCH', `${CM}/sel`, { metadata: { labels: { tier: 'c' } } }, { 'Content-Type': 'application/merge-patch+json' });
  await w.until((e) => e.length >= 3);
  w.stop();
  assert.deepEqual(names(w.events), ['ADDED:sel', 'MODIFIED:sel', 'DELETED:sel']);
});

test('bookmarks come only when asked for and carry a resourceVersion', async () => {
  const plain = watch(`${CM}?watch=true&resourceVersion=1&fieldSelector=metadata.name%3Dnone`);
  const withBm = watch(`${CM}?watch=true&resourceVersion=1&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dnone`);
  await withBm.until((e) => e.some((x) => x.type === 'BOOKMARK'));
  await new Promise((r) => setTimeout(r, 300));
  plain.stop();
  withBm.stop();
  assert.equal(plain.events.length, 0);
  const bm = withBm.events.find((x) => x.type === 'BOOKMARK');
  assert.equal(bm.object.kind, 'ConfigMap');
  assert.ok(Number(bm.object.metadata.resourceVersion) >= 1);
});

test('a Table watch sends column definitions in the first event only', async () => {
  const w = watch(`${CM}?watch=true&labelSelector=tbl%3D1`, 'application/json;as=Table;v=v1;g=meta.k8s.io');
  await new Promise((r) => setTimeout(r, 100));
  await api(t.server, 'POST', CM, { metadata: { name: 't1', labels: { tbl: '1' } }, data: { a: 'b' } });
  await api(t.server, 'POST', CM, { metadata: { name: 't2', labels: { tbl: '1' } } });
  await w.until((e) => e.length >= 2);
  w.stop();
  assert.equal(w.events[0].object.kind, 'Table');
  assert.deepEqual(
    w.events[0].object.columnDefinitions.map((c: any) => c.name),
    ['Name', 'Data', 'Age'],
  );
  assert.deepEqual(w.events[0].object.rows[0].cells.slice(0, 2), ['t1', 1]);
  assert.deepEqual(w.events[1].object.columnDefinitions, []);
  assert.equal(w.events[1].object.rows[0].cells[0], 't2');
});

test('a resourceVersion from the future is answered 504 after a short wait', async () => {
  const cur = await t.server.storage.currentRevision();
  const r = await api(t.server, 'GET', `${CM}?watch=true&resourceVersion=${cur + 1000}`);
  assert.equal(r.status, 504);
  assert.equal(r.body.reason, 'Timeout');
  assert.equal(r.body.details.causes[0].reason, 'ResourceVersionTooLarge');
});

test('paginated lists read one snapshot even while writes continue', async () => {
  await api(t.server, 'POST', '/api/v1/namespaces', { metadata: { name: 'pages' } });
  for (let i = 0; i < 7; i++) await api(t.server, 'POST', '/api/v1/namespaces/pages/configmaps', { metadata: { name: `p${i}` } });
  const first = await api(t.server, 'GET', '/api/v1/namespaces/pages/configmaps?limit=3');
  assert.deepEqual(
    first.body.items.map((o: any) => o.metadata.name),
    ['p0', 'p1', 'p2'],
  );
  assert.equal(first.body.metadata.remainingItemCount, 4);
  // Changes after the first page are not seen by the rest of the pages.
  await api(t.server, 'POST', '/api/v1/namespaces/pages/configmaps', { metadata: { name: 'p3a' } });
  await api(t.server, 'DELETE', '/api/v1/namespaces/pages/configmaps/p5');
  const seen = [...first.body.items];
  let cont = first.body.metadata.continue;
  while (cont) {
    const page = await api(t.server, 'GET', `/api/v1/namespaces/pages/configmaps?limit=3&continue=${encodeURIComponent(cont)}`);
    assert.equal(page.body.metadata.resourceVersion, first.body.metadata.resourceVersion);
    seen.push(...page.body.items);
    cont = page.body.metadata.continue;
  }
  assert.deepEqual(
    seen.map((o: any) => o.metadata.name),
    ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'],
  );
  const bad = await api(t.server, 'GET', '/api/v1/namespaces/pages/configmaps?limit=3&continue=garbage');
  assert.equal(bad.status, 400);
});

test('field selectors: pods by spec.nodeName after binding, events by involvedObject, unsupported fields refused', async () => {
  const pod = (name: string) => ({ metadata: { name }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces/default/pods', pod('p1'))).status, 201);
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces/default/pods', pod('p2'))).status, 201);
  const bind = await api(t.server, 'POST', '/api/v1/namespaces/default/pods/p1/binding', {
    apiVersion: 'v1',
    kind: 'Binding',
    metadata: { name: 'p1' },
    target: { apiVersion: 'v1', kind: 'Node', name: 'edge-1' },
  });
  assert.equal(bind.status, 201, JSON.stringify(bind.body));
  const again = await api(t.server, 'POST', '/api/v1/namespaces/default/pods/p1/binding', { target: { name: 'edge-2' } });
  assert.equal(again.status, 409);
  const onNode = await api(t.server, 'GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dedge-1');
  assert.deepEqual(
    onNode.body.items.map((p: any) => p.metadata.name),
    ['p1'],
  );
  const unscheduled = await api(t.server, 'GET', '/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D');
  assert.deepEqual(
    unscheduled.body.items.map((p: any) => p.metadata.name),
    ['p2'],
  );
  const bad = await api(t.server, 'GET', '/api/v1/namespaces/default/configmaps?fieldSelector=data.a%3Db');
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /field label not supported: data.a/);

  await api(t.server, 'POST', '/api/v1/namespaces/default/events', {
    metadata: { name: 'e1' },
    involvedObject: { kind: 'Pod', name: 'p1', namespace: 'default' },
    reason: 'Scheduled',
    message: 'x',
    type: 'Normal',
  });
  await api(t.server, 'POST', '/api/v1/namespaces/default/events', {
    metadata: { name: 'e2' },
    involvedObject: { kind: 'Pod', name: 'p2', namespace: 'default' },
    reason: 'Other',
    message: 'y',
    type: 'Normal',
  });
  const evs = await api(t.server, 'GET', '/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dp1%2CinvolvedObject.kind%3DPod');
  assert.deepEqual(
    evs.body.items.map((e: any) => e.metadata.name),
    ['e1'],
  );
});

test('deletecollection deletes what the selector matches and nothing else', async () => {
  for (const [n, l] of [
    ['dc1', 'x'],
    ['dc2', 'x'],
    ['dc3', 'y'],
  ])
    await api(t.server, 'POST', CM, { metadata: { name: n, labels: { grp: l } } });
  const r = await api(t.server, 'DELETE', `${CM}?labelSelector=grp%3Dx`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.items.map((o: any) => o.metadata.name).sort(), ['dc1', 'dc2']);
  const left = await api(t.server, 'GET', `${CM}?labelSelector=grp`);
  assert.deepEqual(
    left.body.items.map((o: any) => o.metadata.name),
    ['dc3'],
  );
});

test('status subresource: the main resource ignores status, /status ignores the rest', async () => {
  const ns = await api(t.server, 'GET', '/api/v1/namespaces/default');
  const put = await api(t.server, 'PUT', '/api/v1/namespaces/default', {
    ...ns.body,
    status: { phase: 'Terminating' },
    metadata: { ...ns.body.metadata, labels: { a: 'b' } },
  });
  assert.equal(put.status, 200);
  assert.equal(put.body.status.phase, 'Active');
  assert.equal(put.body.metadata.labels.a, 'b');
  const node = await api(t.server, 'POST', '/api/v1/nodes', {
    metadata: { name: 'n1' },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'ok',
          lastHeartbeatTime: new Date().toISOString(),
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    },
  });
  assert.equal(node.status, 201, JSON.stringify(node.body));
  const st = await api(
    t.server,
    'PATCH',
    '/api/v1/nodes/n1/status',
    { status: { conditions: [{ type: 'Ready', status: 'False', reason: 'Silent', message: 'no contact' }] }, spec: { unschedulable: true } },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  assert.equal(st.status, 200, JSON.stringify(st.body));
  assert.equal(st.body.status.conditions[0].status, 'False');
  assert.equal(st.body.spec?.unschedulable, undefined, 'spec is not changed through /status');
  const out = await t.ok(['get', 'nodes']);
  assert.match(out, /\nn1\s+NotReady\s+<none>\s+\d+s\s+/);
});
