// client-go ≥ 1.35 parity on the wire: streaming lists (WatchList), query parameters read as kube-apiserver
// reads them, and a @kubernetes/client-node informer (on a built-in kind and on an EVE custom resource).
// helm.test.ts drives a real client-go 1.35 informer through the same streaming list.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { installCrds } from '../../src/controllers/eve/install.ts';
import { InProcessClient } from '../../src/controllers/runtime/index.ts';

let t: TestServer;

before(async () => {
  t = await startTestServer({ bookmarkIntervalMs: 200 });
});
after(async () => {
  await t?.close();
});

interface WatchEvent {
  type: string;
  object: any;
}

/** A raw watch request that collects its events (newline-delimited JSON) until stopped. */
function openWatch(path: string) {
  const events: WatchEvent[] = [];
  let status = 0;
  let ended = false;
  const req = https.request(
    t.server.url + path,
    { headers: { Authorization: `Bearer ${t.server.adminToken}`, Accept: 'application/json' }, ca: t.server.caPem },
    (res) => {
      status = res.statusCode!;
      let buf = '';
      res.on('data', (d) => {
        buf += d;
        for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) events.push(JSON.parse(buf.slice(0, i)));
      });
      res.on('end', () => {
        ended = true;
      });
    },
  );
  req.end();
  return {
    events,
    status: () => status,
    ended: () => ended,
    async until(pred: (evs: WatchEvent[]) => boolean, ms = 5000) {
      const start = Date.now();
      while (!pred(events)) {
        if (Date.now() - start > ms) throw new Error(`watch ${path}: timed out with ${JSON.stringify(events.map((e) => [e.type, e.object?.metadata?.name]))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: () => req.destroy(),
  };
}

const WATCH_LIST = 'watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true';
const isEnd = (e: WatchEvent) => e.type === 'BOOKMARK' && e.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true';

describe('streaming lists (sendInitialEvents), as client-go 1.35 informers start', () => {
  const NS = 'stream';
  const CM = `/api/v1/namespaces/${NS}/configmaps`;

  before(async () => {
    assert.equal((await api(t.server, 'POST', '/api/v1/namespaces', { metadata: { name: NS } })).status, 201);
    for (let i = 0; i < 30; i++) {
      assert.equal((await api(t.server, 'POST', CM, { metadata: { name: `c${String(i).padStart(2, '0')}`, labels: { half: String(i % 2) } } })).status, 201);
    }
  });

  test('every object as ADDED, then one BOOKMARK annotated k8s.io/initial-events-end, then live events', async () => {
    const listed = await api(t.server, 'GET', CM);
    const w = openWatch(`${CM}?${WATCH_LIST}`);
    await w.until((evs) => evs.some(isEnd));
    const end = w.events.findIndex(isEnd);
    const initial = w.events.slice(0, end);
    assert.ok(
      initial.every((e) => e.type === 'ADDED'),
      'only ADDED before the bookmark',
    );
    assert.deepEqual(initial.map((e) => e.object.metadata.name).sort(), listed.body.items.map((o: any) => o.metadata.name).sort(), 'every object, once');
    assert.equal(initial.length, 30);
    for (const e of initial) assert.equal(e.object.kind, 'ConfigMap');

    const bm = w.events[end].object;
    assert.deepEqual(Object.keys(bm.metadata).sort(), ['annotations', 'resourceVersion'], 'the bookmark carries only a resourceVersion and the annotation');
    assert.equal(bm.kind, 'ConfigMap');
    assert.equal(bm.apiVersion, 'v1');
    const bookmarkRV = Number(bm.metadata.resourceVersion);
    assert.ok(
      initial.every((e) => Number(e.object.metadata.resourceVersion) <= bookmarkRV),
      'the bookmark is at or after every initial object',
    );
    assert.ok(bookmarkRV >= Number(listed.body.metadata.resourceVersion), 'not older than a list taken before');

    const changed = await api(t.server, 'PUT', `${CM}/c00`, { metadata: { name: 'c00' }, data: { x: 'y' } });
    await w.until((evs) => evs.some((e) => e.type === 'MODIFIED'));
    const modified = w.events.find((e) => e.type === 'MODIFIED')!;
    assert.equal(modified.object.metadata.resourceVersion, changed.body.metadata.resourceVersion);
    // Periodic bookmarks later on carry no annotation.
    await w.until((evs) => evs.filter((e) => e.type === 'BOOKMARK').length >= 2);
    assert.equal(w.events.filter(isEnd).length, 1, 'exactly one initial-events-end bookmark');
    w.stop();
  });

  test('a label-selected streaming list sends only the matching objects', async () => {
    const w = openWatch(`${CM}?${WATCH_LIST}&labelSelector=half%3D1`);
    await w.until((evs) => evs.some(isEnd));
    w.stop();
    const names = w.events.filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name);
    assert.equal(names.length, 15);
    assert.ok(
      names.every((n) => Number(n.slice(1)) % 2 === 1),
      names.join(),
    );
  });

  test('with a resourceVersion the initial state is not older than it; sendInitialEvents=false skips it', async () => {
    const rv = (await api(t.server, 'GET', CM)).body.metadata.resourceVersion;
    const w = openWatch(`${CM}?${WATCH_LIST}&resourceVersion=${rv}`);
    await w.until((evs) => evs.some(isEnd));
    w.stop();
    assert.equal(w.events.filter((e) => e.type === 'ADDED').length, 30);
    assert.ok(Number(w.events.find(isEnd)!.object.metadata.resourceVersion) >= Number(rv));

    const quiet = openWatch(`${CM}?watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`);
    await new Promise((r) => setTimeout(r, 300));
    await api(t.server, 'POST', CM, { metadata: { name: 'late' } });
    await quiet.until((evs) => evs.some((e) => e.type === 'ADDED'));
    quiet.stop();
    assert.deepEqual(
      quiet.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type}:${e.object.metadata.name}`),
      ['ADDED:late'],
    );
    assert.ok(!quiet.events.some(isEnd), 'no initial-events-end bookmark without initial events');
  });

  test('a streaming-list informer (client-go reflector protocol) syncs and then follows changes', async () => {
    // The reflector's watch-list path, step by step: a streaming list fills a fresh store; the informer
    // counts as synced at the annotated bookmark; later events apply to the store; a closed stream is
    // resumed with an ordinary watch from the last resourceVersion seen.
    const store = new Map<string, any>();
    let synced = false;
    let lastRV = '';
    const apply = (e: WatchEvent) => {
      lastRV = e.object.metadata.resourceVersion;
      if (e.type === 'BOOKMARK') {
        if (isEnd(e)) synced = true;
      } else if (e.type === 'DELETED') store.delete(e.object.metadata.name);
      else store.set(e.object.metadata.name, e.object);
    };
    const first = openWatch(`${CM}?${WATCH_LIST}&timeoutSeconds=1`);
    let applied = 0;
    const pump = (w: ReturnType<typeof openWatch>) => {
      while (applied < w.events.length) apply(w.events[applied++]);
    };
    await first.until((evs) => {
      pump(first);
      return synced;
    });
    const server = (await api(t.server, 'GET', CM)).body.items;
    assert.deepEqual([...store.keys()].sort(), server.map((o: any) => o.metadata.name).sort(), 'synced store equals the server state');

    await api(t.server, 'DELETE', `${CM}/c01`);
    await first.until(() => {
      pump(first);
      return !store.has('c01');
    });
    await first.until(() => first.ended(), 5000); // timeoutSeconds=1 ends the stream
    pump(first);

    await api(t.server, 'POST', CM, { metadata: { name: 'after-resume' } });
    const resumed = openWatch(`${CM}?watch=true&allowWatchBookmarks=true&resourceVersion=${lastRV}`);
    applied = 0;
    await resumed.until(() => {
      pump(resumed);
      return store.has('after-resume');
    });
    resumed.stop();
    const now = (await api(t.server, 'GET', CM)).body.items;
    assert.deepEqual([...store.keys()].sort(), now.map((o: any) => o.metadata.name).sort());
  });

  test("kube-apiserver's ListOptions validation: 422 naming the field, nothing streamed", async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['watch=true&sendInitialEvents=true', 'resourceVersionMatch', /sendInitialEvents requires setting resourceVersionMatch to NotOlderThan/],
      [
        'watch=true&resourceVersionMatch=NotOlderThan',
        'resourceVersionMatch',
        /resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided/,
      ],
      ['watch=true&sendInitialEvents=true&resourceVersionMatch=Exact', 'resourceVersionMatch', /Unsupported value: "Exact": supported values: "NotOlderThan"/],
      ['sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=1', 'sendInitialEvents', /sendInitialEvents is forbidden for list/],
      ['resourceVersionMatch=Exact', 'resourceVersionMatch', /resourceVersionMatch is forbidden unless resourceVersion is provided/],
      ['resourceVersionMatch=Sometimes&resourceVersion=1', 'resourceVersionMatch', /Unsupported value: "Sometimes"/],
    ];
    for (const [query, field, message] of cases) {
      const r = await api(t.server, 'GET', `${CM}?${query}`);
      assert.equal(r.status, 422, `${query}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.reason, 'Invalid');
      assert.equal(r.body.details.kind, 'ListOptions');
      assert.equal(r.body.details.group, 'meta.k8s.io');
      assert.ok(
        r.body.details.causes.some((c: any) => c.field === field),
        `${query}: cause on ${field}`,
      );
      assert.match(r.body.message, message);
    }
  });
});

describe('query parameters are read as kube-apiserver reads them', () => {
  const CM = '/api/v1/namespaces/default/configmaps';

  test('booleans: false only for "0" and "false" in any case; the first of repeated values wins', async () => {
    await api(t.server, 'POST', CM, { metadata: { name: 'q1' } });
    const isWatch = async (q: string) => {
      const w = openWatch(`${CM}?${q}&fieldSelector=metadata.name%3Dq1&timeoutSeconds=1`);
      await w.until(() => w.ended(), 5000);
      // A list answers one ConfigMapList document; a watch streams events.
      return w.events.length > 0 && w.events[0].type !== undefined;
    };
    for (const v of ['true', 'True', 'TRUE', '1', 't', 'yes', '']) assert.equal(await isWatch(`watch=${v}`), true, `watch=${v}`);
    for (const v of ['false', 'False', 'FALSE', 'fAlSe', '0']) assert.equal(await isWatch(`watch=${v}`), false, `watch=${v}`);
    assert.equal(await isWatch('watch=false&watch=true'), false, 'first value wins');
    assert.equal(await isWatch('watch=1&watch=0'), true, 'first value wins');
  });

  test('authorization reads ?watch the same way: watch=True needs the watch verb', async () => {
    const RBAC = '/apis/rbac.authorization.k8s.io/v1/namespaces/default';
    assert.equal(
      (
        await api(t.server, 'POST', `${RBAC}/roles`, {
          metadata: { name: 'list-only' },
          rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await api(t.server, 'POST', `${RBAC}/rolebindings`, {
          metadata: { name: 'list-only' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'list-only' },
          subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'lister' }],
        })
      ).status,
      201,
    );
    const as = { 'Impersonate-User': 'lister' };
    assert.equal((await api(t.server, 'GET', `${CM}?watch=false`, undefined, as)).status, 200);
    for (const v of ['True', 't', '1', 'yes']) {
      const r = await api(t.server, 'GET', `${CM}?watch=${v}&timeoutSeconds=1`, undefined, as);
      assert.equal(r.status, 403, `watch=${v} is a watch for the authorizer too`);
      assert.match(r.body.message, /cannot watch resource "configmaps"/);
    }
  });

  test("allowWatchBookmarks=True (Python's spelling) gets bookmarks", async () => {
    const w = openWatch(`${CM}?watch=True&allowWatchBookmarks=True&fieldSelector=metadata.name%3Dnone&resourceVersion=1`);
    await w.until((evs) => evs.some((e) => e.type === 'BOOKMARK'));
    w.stop();
  });

  test('integers: malformed limit, timeoutSeconds or gracePeriodSeconds is a 400 naming the parameter, and changes nothing', async () => {
    for (const q of ['limit=ten', 'limit=1.5', 'limit=99999999999999999999', 'watch=1&timeoutSeconds=soon']) {
      const r = await api(t.server, 'GET', `${CM}?${q}`);
      assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.reason, 'BadRequest');
      assert.match(r.body.message, new RegExp(`^${q.split('=').slice(-2)[0].split('&').pop()}: strconv.ParseInt: parsing "`));
    }
    const bad = await api(t.server, 'DELETE', `${CM}/q1?gracePeriodSeconds=now`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /^gracePeriodSeconds: strconv\.ParseInt: parsing "now": invalid syntax$/);
    assert.equal((await api(t.server, 'GET', `${CM}/q1`)).status, 200, 'not deleted');
    const signed = await api(t.server, 'GET', `${CM}?limit=%2B1`);
    assert.equal(signed.status, 200, 'ParseInt accepts a sign');
    assert.equal(signed.body.items.length, 1);
  });

  test('dryRun is repeated; every value must be All', async () => {
    const ok = await api(t.server, 'POST', `${CM}?dryRun=All&dryRun=All`, { metadata: { name: 'dry' } });
    assert.equal(ok.status, 201);
    assert.equal((await api(t.server, 'GET', `${CM}/dry`)).status, 404, 'dry run stores nothing');
    const bad = await api(t.server, 'POST', `${CM}?dryRun=All&dryRun=Some`, { metadata: { name: 'dry' } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /Invalid dry run value: "Some"/);
  });
});

describe('@kubernetes/client-node informers sync', () => {
  let kc: k8s.KubeConfig;
  before(() => {
    kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: t.server.url, caData: Buffer.from(t.server.caPem).toString('base64') }],
      users: [{ name: 'u', token: t.server.adminToken }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });

  const until = async (cond: () => boolean, what: string, ms = 10_000) => {
    const start = Date.now();
    while (!cond()) {
      if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('an informer on EdgeNodes (an EVE custom resource) lists, then follows add, update and delete', async () => {
    await installCrds(new InProcessClient(t.server.service, t.server.registry));
    const co = kc.makeApiClient(k8s.CustomObjectsApi);
    const G = { group: 'eve.kubeve.io', version: 'v1alpha1', plural: 'edgenodes' };
    await co.createClusterCustomObject({
      ...G,
      body: { apiVersion: 'eve.kubeve.io/v1alpha1', kind: 'EdgeNode', metadata: { name: 'pre' }, spec: { serial: 'S-PRE' } },
    });
    const informer = k8s.makeInformer(kc, '/apis/eve.kubeve.io/v1alpha1/edgenodes', () => co.listClusterCustomObject(G) as any);
    const seen: string[] = [];
    informer.on('add', (o: any) => seen.push(`add:${o.metadata.name}`));
    informer.on('update', (o: any) => seen.push(`update:${o.metadata.name}:${o.metadata.labels?.tier ?? ''}`));
    informer.on('delete', (o: any) => seen.push(`delete:${o.metadata.name}`));
    await informer.start();
    try {
      await until(() => informer.list().length === 1, 'the initial list');
      await co.createClusterCustomObject({
        ...G,
        body: { apiVersion: 'eve.kubeve.io/v1alpha1', kind: 'EdgeNode', metadata: { name: 'live' }, spec: { serial: 'S-LIVE' } },
      });
      await co.patchClusterCustomObject(
        { ...G, name: 'live', body: { metadata: { labels: { tier: 'edge' } } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await co.deleteClusterCustomObject({ ...G, name: 'pre' });
      await until(() => seen.includes('delete:pre'), 'the delete');
      assert.deepEqual(seen, ['add:pre', 'add:live', 'update:live:edge', 'delete:pre']);
      assert.deepEqual(
        informer.list().map((o: any) => o.metadata.name),
        ['live'],
      );
      assert.equal((informer.get('live') as any)?.metadata.labels.tier, 'edge');
    } finally {
      await informer.stop();
    }
  });
});
