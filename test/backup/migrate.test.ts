// `kubeve migrate --to-etcd` of a populated, stopped SQLite server: on etcd every object keeps its
// UID and creationTimestamp, resourceVersions keep their order above the old ones, clients with an
// old resourceVersion are told to relist, and the devices carry on without re-onboarding (304).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd } from '../helpers/etcd.ts';
import { api } from '../helpers/server.ts';
import { deviceState, identities, kubeve, startSite } from './helpers.ts';
import { assertDevicesCarryOn, assertSameIdentities, populate, RESOURCES } from './scenario.ts';

test('SQLite → etcd migration: objects, UIDs, resourceVersion order and device identities kept; devices reconnect without re-onboarding', async () => {
  const etcd = await startEtcd(1);
  const site = await startSite();
  try {
    const fleet = await populate(site, 'mg-');
    for (let i = 0; i < 30; i++) await site.createConfigMap('default', `more-${i}`);
    await site.ok(['label', 'configmap', 'before-3', 'touched=yes']); // an updated object: createRevision < modRevision
    const listed = await identities(site, RESOURCES);

    // The server must be stopped: a running one is refused.
    const refused = await kubeve(['migrate', '--to-etcd', etcd.endpoints[0], '--data-dir', site.dataDir]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /server is running .* stop it/);
    await site.stop();
    const devices = fleet.devices.map(deviceState);

    const r = await kubeve(['migrate', '--to-etcd', etcd.endpoints[0], '--data-dir', site.dataDir, '--etcd-prefix', '/migrated']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, /objects copied to etcd under \/migrated/);
    assert.match(r.stdout, /410 Expired and relist/);

    await site.start({ endpoints: etcd.endpoints, prefix: '/migrated' });
    const after = await identities(site, RESOURCES);
    assertSameIdentities(listed, after);
    assert.deepEqual(
      [...after.keys()].filter((k) => !k.startsWith('EdgeNode/')).sort(),
      [...listed.keys()].filter((k) => !k.startsWith('EdgeNode/')).sort(),
      'the same objects',
    );
    const byOld = [...listed.keys()].sort((x, y) => listed.get(x)!.resourceVersion - listed.get(y)!.resourceVersion);
    // EdgeNodes' status keeps being written by the controllers after the start; compare the rest.
    const stable = byOld.filter((k) => !k.startsWith('EdgeNode/') && !k.startsWith('AppInstance/'));
    const newRvs = stable.map((k) => after.get(k)!.resourceVersion);
    assert.deepEqual(
      newRvs,
      [...newRvs].sort((x, y) => x - y),
      'resourceVersion order kept',
    );
    const oldMax = Math.max(...[...listed.values()].map((i) => i.resourceVersion));
    assert.ok(newRvs[0] > oldMax, `new resourceVersions (${newRvs[0]}...) are above the old ones (max ${oldMax})`);
    const touched = JSON.parse(await site.ok(['get', 'configmap', 'before-3', '-o', 'json']));
    assert.equal(touched.metadata.labels.touched, 'yes');
    const stale = await api(site.k.api, 'GET', `/api/v1/namespaces/default/configmaps?resourceVersion=${oldMax}&resourceVersionMatch=Exact`);
    assert.equal(stale.status, 410, 'a client holding an old resourceVersion is told to relist');
    await assertDevicesCarryOn(fleet, devices);

    // A second migration into the now populated prefix is refused.
    await site.stop();
    const again = await kubeve(['migrate', '--to-etcd', etcd.endpoints[0], '--data-dir', site.dataDir, '--etcd-prefix', '/migrated']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /etcd holds \d+ keys under \/migrated: migrate into an empty prefix, or give --force/);
  } finally {
    await site.close();
    await etcd.stop();
  }
});
