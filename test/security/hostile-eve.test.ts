// The EVE controllers against poisoned stored objects (issue 15): `kubeve server` started on a data
// directory holding EVE resources of the wrong shape (as an older version or a bad migration could
// have left them) starts, syncs, serves, and the objects can be deleted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeve, type Kubeve } from '../../src/server/kubeve.ts';
import { SqliteStorage } from '../../src/apiserver/storage/sqlite.ts';
import { api, startTestServer } from '../helpers/server.ts';
import { buildNewlogs, parseNewlogs } from '../../src/eve/newlogs.ts';
import { InProcessClient, Informer, type KObject } from '../../src/controllers/runtime/index.ts';

const nest = (levels: number, leaf = '1') => '{"a":'.repeat(levels) + leaf + '}'.repeat(levels);
const meta = (name: string, ns?: string) =>
  JSON.stringify({ name, ...(ns ? { namespace: ns } : {}), uid: `uid-${name}`, creationTimestamp: '2026-01-01T00:00:00Z' });
const EVE = '/apis/eve.kubeve.io/v1alpha1';

test('kubeve starts on a data directory holding poisoned EVE objects, serves, and deletes them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-hostile-eve-'));
  const dataDir = join(dir, 'data');
  const opts = { dataDir, port: 0, devicePort: 0, deviceHost: '127.0.0.1', eve: { offlineTimeoutMs: 3000, debounceMs: 20 } };
  let k: Kubeve | undefined = await startKubeve(opts);
  try {
    await k.close();
    k = undefined;
    const storage = SqliteStorage.open(join(dataDir, 'kubeve.db'));
    const put = (key: string, obj: string) => storage.create(key, obj);
    // Wrong types everywhere the controllers look, and nesting as deep as an old encoder managed.
    await put(
      '/registry/eve.kubeve.io/edgenodes/bad-types',
      `{"apiVersion":"eve.kubeve.io/v1alpha1","kind":"EdgeNode","metadata":${meta('bad-types')},"spec":{"serial":["x"],"configItems":[1,2],"baseOS":"latest","reboot":"often","deviceCertificate":7,"onboardingKeyRef":{"a":1}},"status":{"uuid":42,"conditions":"none"}}`,
    );
    await put(
      '/registry/eve.kubeve.io/edgenodes/deep',
      `{"apiVersion":"eve.kubeve.io/v1alpha1","kind":"EdgeNode","metadata":${meta('deep')},"spec":{"serial":"deep-1","configItems":${nest(3500, '"x"')}}}`,
    );
    await put(
      '/registry/eve.kubeve.io/onboardingkeys/bad-key',
      `{"apiVersion":"eve.kubeve.io/v1alpha1","kind":"OnboardingKey","metadata":${meta('bad-key')},"spec":{"certificate":{"pem":1},"autoEnroll":"yes","template":[1]}}`,
    );
    await put(
      '/registry/eve.kubeve.io/appinstances/default/bad-app',
      `{"apiVersion":"eve.kubeve.io/v1alpha1","kind":"AppInstance","metadata":${meta('bad-app', 'default')},"spec":{"nodeName":"bad-types","networks":"all","volumes":${nest(3500)},"image":7}}`,
    );
    await put(
      '/registry/eve.kubeve.io/networkinstances/default/bad-net',
      `{"apiVersion":"eve.kubeve.io/v1alpha1","kind":"NetworkInstance","metadata":${meta('bad-net', 'default')},"spec":${nest(3500)}}`,
    );
    await storage.close();

    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    process.on('unhandledRejection', onError);
    try {
      k = await startKubeve(opts);
      await k.eve.idle();
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    }
    assert.deepEqual(errors, [], 'nothing escaped to the process');
    const list = await api(k.api, 'GET', `${EVE}/edgenodes`);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((i: any) => i.metadata.name).sort(), ['bad-types', 'deep']);
    for (const path of [
      `${EVE}/edgenodes/bad-types`,
      `${EVE}/edgenodes/deep`,
      `${EVE}/onboardingkeys/bad-key`,
      `${EVE}/namespaces/default/appinstances/bad-app`,
      `${EVE}/namespaces/default/networkinstances/bad-net`,
    ]) {
      const r = await api(k.api, 'DELETE', path);
      assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body).slice(0, 200)}`);
    }
    await k.eve.idle();
    assert.equal((await api(k.api, 'GET', `${EVE}/edgenodes`)).body.items.length, 0);
  } finally {
    await k?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a controller handler that throws on one object neither blocks the initial sync nor stops later events', async () => {
  const t = await startTestServer();
  try {
    for (const name of ['a', 'b', 'c']) await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name }, data: { x: '1' } });
    const client = new InProcessClient(t.server.service, t.server.registry);
    const seen: string[] = [];
    const r = new Informer(client, { group: '', version: 'v1', resource: 'configmaps' }, { namespace: 'default' });
    const handle = (type: string) => (o: KObject) => {
      if (o.metadata.name === 'b') throw new TypeError('cannot handle b');
      seen.push(`${type} ${o.metadata.name}`);
    };
    r.addEventHandler({ onAdd: handle('ADDED'), onUpdate: (_, o) => handle('MODIFIED')(o), onDelete: handle('DELETED') });
    r.start();
    try {
      await Promise.race([r.waitForSync(), new Promise((_, reject) => setTimeout(() => reject(new Error('initial sync blocked')), 5000))]);
      assert.deepEqual(seen.sort(), ['ADDED a', 'ADDED c']);
      await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'd' } });
      await api(t.server, 'DELETE', '/api/v1/namespaces/default/configmaps/b');
      const deadline = Date.now() + 5000;
      while (!seen.includes('ADDED d')) {
        assert.ok(Date.now() < deadline, 'later events still arrive');
        await new Promise((res) => setTimeout(res, 20));
      }
    } finally {
      r.stop();
    }
  } finally {
    await t.close();
  }
});

test('device logs (newlogs): a JSON line nested past the bound is a bad line, not an entry to store', () => {
  let deep: any = 'x';
  for (let i = 0; i < 2000; i++) deep = { a: deep };
  const body = buildNewlogs([{ content: 'fine', severity: 'info' } as any, { content: deep } as any], {
    comment: JSON.stringify({ devID: 'd', nested: deep }),
  });
  const parsed = parseNewlogs(body);
  assert.equal(parsed.entries.length, 1);
  assert.equal(parsed.entries[0].content, 'fine');
  assert.equal(parsed.badLines, 1);
  assert.equal(parsed.bundle, undefined, 'a header comment nested past the bound is ignored');
});
