// Restarting the EVE controllers (a new leader, a restarted server or operator) changes no device's
// config when nothing changed, even when the informers sync in an unlucky order: here the
// AppInstance list is slow, so the EdgeNode informer is synced well before it. A render from those
// partial caches would push a config without the node's app (on a device, EVE deletes the app)
// and the next render would put it back: two version bumps for nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startDeviceApi, type DeviceApi } from '../../src/eve/device-api.ts';
import { installCrds } from '../../src/controllers/eve/install.ts';
import { EveControllers } from '../../src/controllers/eve/index.ts';
import { APPINSTANCES, DATASTORES, EDGENODES, NETWORKINSTANCES } from '../../src/controllers/eve/status.ts';
import { CountingClient, InProcessClient, type Client, type GVR, type ListOptions } from '../../src/controllers/runtime/index.ts';

/** The real client, with one resource's lists answered late (a slow or busy API server). */
class SlowListClient extends CountingClient {
  constructor(
    inner: Client,
    private readonly slow: GVR,
    private readonly delayMs: number,
  ) {
    super(inner);
  }
  override async list(r: GVR, ns: string | undefined, o?: ListOptions) {
    if (r.resource === this.slow.resource) await new Promise((res) => setTimeout(res, this.delayMs));
    return super.list(r, ns, o);
  }
}

let t: TestServer;
let admin: Client;
const uuid = crypto.randomUUID();

before(async () => {
  t = await startTestServer();
  admin = new InProcessClient(t.server.service, t.server.registry);
  await installCrds(admin);
  await admin.create(NETWORKINSTANCES, 'default', { metadata: { name: 'lan' }, spec: { type: 'local', subnet: '10.1.0.0/16' } });
  await admin.create(DATASTORES, 'default', { metadata: { name: 'hub' }, spec: { type: 'container-registry', url: 'docker://docker.io' } });
  await admin.create(EDGENODES, undefined, { metadata: { name: 'node-0' }, spec: { serial: 'SN0', uuid } });
  await admin.create(APPINSTANCES, 'default', {
    apiVersion: 'eve.kubeve.io/v1alpha1',
    kind: 'AppInstance',
    metadata: { name: 'web' },
    spec: { nodeName: 'node-0', image: 'library/nginx:1.27', datastoreRef: { name: 'hub' }, networks: [{ networkInstanceRef: { name: 'lan' } }] },
  });
});
after(async () => {
  await t?.close();
});

/** Starts the controllers on the data dir's device API; returns every config they pushed to it. */
async function run(client: Client): Promise<{ pushed: { version: string; apps: number }[]; served: { hash: string; version: string } }> {
  const device: DeviceApi = await startDeviceApi({
    dataDir: join(t.dir, 'data'),
    port: 0,
    host: '127.0.0.1',
    hooks: { admitOnboarding: () => ({ deny: 'no' }) },
  });
  const pushed: { version: string; apps: number }[] = [];
  const recording = Object.assign(Object.create(device) as DeviceApi, {
    setConfig: (u: string, cfg: Parameters<DeviceApi['setConfig']>[1]) => {
      const r = device.setConfig(u, cfg);
      const c = device.getConfig(u)!.config;
      pushed.push({ version: c.id?.version ?? '', apps: c.apps.length });
      return r;
    },
  });
  const eve = new EveControllers(client, { debounceMs: 5 });
  try {
    await eve.start(recording);
    await eve.idle();
    const c = device.getConfig(uuid)!;
    return { pushed, served: { hash: c.hash, version: c.config.id?.version ?? '' } };
  } finally {
    eve.stop();
    await eve.status.idle().catch(() => undefined);
    await device.close();
  }
}

test('a restart whose AppInstance informer syncs last renders no config without the app and bumps no version', async () => {
  const first = await run(admin);
  assert.deepEqual(first.pushed.at(-1), { version: first.served.version, apps: 1 }, 'first start: the app is in the config');

  const again = await run(new SlowListClient(admin, APPINSTANCES, 400));
  assert.deepEqual(
    again.pushed.filter((p) => p.apps !== 1),
    [],
    `every config pushed after the restart has the app: ${JSON.stringify(again.pushed)}`,
  );
  assert.equal(again.served.version, first.served.version, 'config version unchanged');
  assert.equal(again.served.hash, first.served.hash, 'config hash unchanged');
});
