// The EVE controllers on the runtime read informer caches, not the server: in steady state a
// reconcile (an AppInstance applied → its node re-rendered and status written) makes no GET. The
// same controllers run over the in-process client and over HTTPS (operator mode's client).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startDeviceApi, type DeviceApi } from '../../src/eve/device-api.ts';
import { installCrds } from '../../src/controllers/eve/install.ts';
import { EveControllers } from '../../src/controllers/eve/index.ts';
import { APPINSTANCES, DATASTORES, EDGENODES, NETWORKINSTANCES } from '../../src/controllers/eve/status.ts';
import { CountingClient, HttpClient, InProcessClient, loadKubeconfig, type Client } from '../../src/controllers/runtime/index.ts';
import { until } from './link.ts';

const NODES = 20;

for (const kind of ['in-process', 'http'] as const) {
  describe(`EVE controllers over the ${kind} client`, () => {
    let t: TestServer;
    let admin: Client;
    let http: HttpClient | undefined;
    let counted: CountingClient;
    let eve: EveControllers;
    let device: DeviceApi;
    const uuids: string[] = [];

    before(async () => {
      t = await startTestServer();
      admin = new InProcessClient(t.server.service, t.server.registry);
      await installCrds(admin);
      await admin.create(NETWORKINSTANCES, 'default', { metadata: { name: 'lan' }, spec: { type: 'local', subnet: '10.1.0.0/16' } });
      await admin.create(DATASTORES, 'default', { metadata: { name: 'hub' }, spec: { type: 'container-registry', url: 'docker://docker.io' } });
      for (let i = 0; i < NODES; i++) {
        const uuid = crypto.randomUUID();
        uuids.push(uuid);
        await admin.create(EDGENODES, undefined, { metadata: { name: `node-${i}` }, spec: { serial: `SN${i}`, uuid } });
      }
      if (kind === 'http') http = new HttpClient({ ...loadKubeconfig(t.server.kubeconfigPath), qps: 200, burst: 400 });
      counted = new CountingClient(http ?? admin);
      eve = new EveControllers(counted, { debounceMs: 5 });
      device = await startDeviceApi({ dataDir: join(t.dir, 'data'), port: 0, host: '127.0.0.1', hooks: eve.hooks });
      await eve.start(device);
      await eve.idle();
    });
    after(async () => {
      eve?.stop();
      await device?.close();
      await eve?.status.idle().catch(() => undefined);
      http?.close();
      await t?.close();
    });

    it('renders every node at start without a GET per node', async () => {
      assert.equal(uuids.filter((u) => device.getConfig(u)).length, NODES);
      assert.equal(counted.total('get'), 0, JSON.stringify([...counted.counts]));
    });

    it('applying AppInstances re-renders their nodes with no GET', async () => {
      counted.reset();
      for (let i = 0; i < 10; i++) {
        const before = device.getConfig(uuids[i]!)!.hash;
        await admin.create(APPINSTANCES, 'default', {
          apiVersion: 'eve.kubeve.io/v1alpha1',
          kind: 'AppInstance',
          metadata: { name: `app-${i}` },
          spec: { nodeName: `node-${i}`, image: 'library/nginx:1.27', datastoreRef: { name: 'hub' }, networks: [{ networkInstanceRef: { name: 'lan' } }] },
        });
        await until(() => device.getConfig(uuids[i]!)!.hash !== before, 10_000, `node-${i} re-rendered`);
        assert.ok(device.getConfig(uuids[i]!)!.config.apps.some((a) => a.displayname.includes(`app-${i}`)));
      }
      await eve.idle();
      const reconciles = 10;
      assert.equal(counted.total('get') / reconciles, 0, `GETs per reconcile: ${JSON.stringify([...counted.counts])}`);
      assert.ok(counted.total('updateStatus') >= reconciles, 'status was written through the client');
    });
  });
}
