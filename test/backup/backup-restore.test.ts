// `kubeve backup` of a running server under writes, the data wiped, `kubeve restore`: every object
// comes back with its UID (and, on SQLite, its resourceVersion), devices keep their identities and
// are answered 304 for the same config hash. On SQLite and on etcd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startEtcd } from '../helpers/etcd.ts';
import { api } from '../helpers/server.ts';
import { deviceState, identities, startSite } from './helpers.ts';
import { assertDevicesCarryOn, assertLoadPrefix, assertSameIdentities, backupUnderLoad, populate, RESOURCES, wipeAndRestore } from './scenario.ts';

test('SQLite: backup of a running server under writes, wipe, restore: objects, UIDs, resourceVersions and devices back; devices get 304', async () => {
  const site = await startSite();
  try {
    const fleet = await populate(site, 'bk-');
    const archive = join(site.dir, 'backup.kbk');
    const b = await backupUnderLoad(site, archive, []);
    assert.match(b.stdout, /read from the running server/);
    assert.match(b.stdout, /3 devices/);
    const devices = fleet.devices.map(deviceState);

    const out = await wipeAndRestore(site, archive, []);
    assert.match(out, /3 devices/);
    const after = await identities(site, RESOURCES);
    assertSameIdentities(b.before, after);
    const restoredLoad = assertLoadPrefix(after, b);
    // On SQLite every object keeps its exact resourceVersion (ConfigMaps are never written again).
    for (const [key, id] of b.before)
      if (key.startsWith('ConfigMap/')) assert.equal(after.get(key)!.resourceVersion, id.resourceVersion, `${key}: same resourceVersion`);
    // History before the backup is gone: a client resuming from an old revision is told to relist.
    const oldRv = b.before.get('ConfigMap/default/before-0')!.resourceVersion;
    const stale = await api(site.k.api, 'GET', `/api/v1/namespaces/default/configmaps?resourceVersion=${oldRv}&resourceVersionMatch=Exact`);
    assert.equal(stale.status, 410, JSON.stringify(stale.body));
    await assertDevicesCarryOn(fleet, devices);
    // The restored server takes writes at revisions above the restored ones.
    await site.createConfigMap('default', 'after-restore');
    const fresh = (await identities(site, 'configmaps')).get('ConfigMap/default/after-restore')!;
    assert.ok(fresh.resourceVersion > Math.max(...[...after.values()].map((i) => i.resourceVersion)));
    console.log(
      `# sqlite: ${b.before.size} objects listed before, ${restoredLoad} of ${b.ackedTotal} load writes restored (${b.ackedBefore} acknowledged before the backup)`,
    );
  } finally {
    await site.close();
  }
});

test('etcd: backup of a running server under writes, wipe, restore: objects, UIDs, resourceVersion order and devices back; devices get 304', async () => {
  const etcd = await startEtcd(1);
  const target = { endpoints: etcd.endpoints, prefix: '/kubeve-bk' };
  const site = await startSite(target);
  try {
    const fleet = await populate(site, 'be-');
    const archive = join(site.dir, 'backup.kbk');
    const etcdArgs = ['--etcd', etcd.endpoints.join(','), '--etcd-prefix', target.prefix];
    const b = await backupUnderLoad(site, archive, etcdArgs);
    assert.match(b.stdout, /\(etcd\)/);
    const devices = fleet.devices.map(deviceState);

    const wipe = async () => {
      const client = new Etcd3({ hosts: etcd.endpoints });
      await client.delete().prefix(target.prefix);
      assert.equal(await client.getAll().prefix(target.prefix).count(), 0);
      client.close();
    };
    const out = await wipeAndRestore(site, archive, etcdArgs, wipe);
    assert.match(out, /410 Expired and relist/);
    const after = await identities(site, RESOURCES);
    assertSameIdentities(b.before, after);
    assertLoadPrefix(after, b);
    // etcd gives new revisions, in the old order, and above every old one.
    const cms = [...b.before.keys()]
      .filter((k) => k.startsWith('ConfigMap/'))
      .sort((x, y) => b.before.get(x)!.resourceVersion - b.before.get(y)!.resourceVersion);
    const newRvs = cms.map((k) => after.get(k)!.resourceVersion);
    assert.deepEqual(
      newRvs,
      [...newRvs].sort((x, y) => x - y),
      'resourceVersion order kept',
    );
    assert.ok(newRvs[0] > Math.max(...[...b.before.values()].map((i) => i.resourceVersion)), 'new resourceVersions are above the old ones');
    const oldRv = b.before.get('ConfigMap/default/before-0')!.resourceVersion;
    const stale = await api(site.k.api, 'GET', `/api/v1/namespaces/default/configmaps?resourceVersion=${oldRv}&resourceVersionMatch=Exact`);
    assert.equal(stale.status, 410, JSON.stringify(stale.body));
    await assertDevicesCarryOn(fleet, devices);
  } finally {
    await site.close();
    await etcd.stop();
  }
});
