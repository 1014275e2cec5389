// Deploying apps with kubectl: NetworkInstance + DataStore (+ Secret) + AppInstance → the simulated
// device runs it; changes reach exactly the device they concern, once; deletion removes the app;
// a restart of kubeve changes no device's config; broken references show as conditions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import type { SimDevice } from '../../src/sim/device.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from './helpers.ts';

let env: EveTestEnv;
let fleet: SimFleet;
const nodes = ['apps-0000', 'apps-0001', 'apps-0002'];

const node = async (name: string) => JSON.parse(await env.ok(['get', 'edgenode', name, '-o', 'json']));
const app = async (name: string) => JSON.parse(await env.ok(['get', 'appinstance', name, '-n', 'default', '-o', 'json']));
const cond = (o: any, t: string) => (o.status?.conditions ?? []).find((c: any) => c.type === t);
const deviceOf = (name: string): SimDevice => fleet.devices.find((d) => d.serial === name)!;

/** Configs each device applied (hash list), counted from the simulator's own 'config' events. */
const applied = new Map<string, string[]>();

before(async () => {
  env = await startEveEnv();
  await env.apply(onboardingKeyYaml('apps-key', env.onboard.certPem));
  fleet = await env.fleet({ count: 3, serialPrefix: 'apps-' });
  for (const d of fleet.devices) {
    applied.set(d.serial, []);
    d.on('config', (hash: string) => applied.get(d.serial)!.push(hash));
  }
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 3, 60_000, '3 configured devices');
  await eventually(async () => (await Promise.all(nodes.map(node))).every((n) => cond(n, 'ConfigDelivered')?.status === 'True'), 30_000, 'delivered');
});
after(async () => {
  await env?.close();
});

const stack = `apiVersion: v1
kind: Secret
metadata:
  name: registry-creds
  namespace: default
stringData:
  username: robot
  password: s3cret
---
apiVersion: eve.kubeve.io/v1alpha1
kind: DataStore
metadata:
  name: registry
  namespace: default
spec:
  type: container-registry
  url: docker://registry.example.com
  credentialsSecretRef:
    name: registry-creds
---
apiVersion: eve.kubeve.io/v1alpha1
kind: NetworkInstance
metadata:
  name: lan
  namespace: default
spec:
  type: local
  subnet: 10.60.0.0/24
---
apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata:
  name: web
  namespace: default
spec:
  nodeName: apps-0000
  image: library/nginx:1.27
  datastoreRef:
    name: registry
  resources:
    cpus: 1
    memory: 256Mi
  networks:
    - networkInstanceRef:
        name: lan
      portMaps:
        - port: 8080
          targetPort: 80
`;

test('NetworkInstance + DataStore + AppInstance: the device runs it, kubectl wait Ready succeeds, the IP shows', async () => {
  await env.apply(stack);
  await env.ok(['wait', '--for=condition=Ready', 'appinstance/web', '-n', 'default', '--timeout=60s']);
  const a = await app('web');
  assert.equal(a.status.state, 'RUNNING');
  assert.equal(a.status.uuid, a.metadata.uid, 'the app UUID is its metadata.uid');
  assert.match(a.status.ipAddresses[0], /^10\.60\.0\.\d+$/, 'an address from the NetworkInstance subnet');
  const table = await env.ok(['get', 'appinstances', '-n', 'default']);
  assert.match(table, /^NAME\s+NODE\s+IMAGE\s+STATE\s+READY\s+IP\s+AGE/);
  assert.match(table, /web\s+apps-0000\s+library\/nginx:1\.27\s+RUNNING\s+True\s+.*10\.60\.0\.\d+/);

  const d = deviceOf('apps-0000');
  assert.equal(d.model.appStates().web, 'RUNNING');
  const cfg = JSON.parse(await env.ok(['get', '--raw', '/apis/eve.kubeve.io/v1alpha1/edgenodes/apps-0000/config']));
  assert.equal(cfg.apps.length, 1);
  assert.equal(cfg.apps[0].uuidandversion.uuid, a.metadata.uid);
  const ds = cfg.datastores.find((x: any) => x.fqdn === 'docker://registry.example.com');
  assert.ok(ds, 'the DataStore is in the config');
  assert.equal(ds.apiKey, 'robot', 'credentials come from the Secret');
  assert.equal(ds.password, 's3cret');
  assert.equal(cfg.networkInstances.length, 1);
  assert.equal(cfg.networkInstances[0].ip.subnet, '10.60.0.0/24');
  const n = await node('apps-0000');
  assert.equal(n.status.appCount, 1);
  const ni = JSON.parse(await env.ok(['get', 'networkinstance', 'lan', '-n', 'default', '-o', 'json']));
  await eventually(
    async () => {
      const x = JSON.parse(await env.ok(['get', 'networkinstance', 'lan', '-n', 'default', '-o', 'json']));
      return x.status?.devices?.[0]?.state === 'ONLINE' && cond(x, 'Ready')?.status === 'True';
    },
    20_000,
    'NetworkInstance status from the device',
  );
  assert.ok(ni);
});

test("changing an AppInstance changes that device's config hash exactly once and no other device's", async () => {
  const before = await Promise.all(nodes.map(node));
  const appliedBefore = nodes.map((s) => applied.get(s)!.length);
  await env.ok(['patch', 'appinstance', 'web', '-n', 'default', '--type=merge', '-p', '{"spec":{"resources":{"memory":"384Mi"}}}']);
  await eventually(
    async () => {
      const n = await node('apps-0000');
      return n.status.renderedConfigHash !== before[0].status.renderedConfigHash && n.status.deliveredConfigHash === n.status.renderedConfigHash;
    },
    30_000,
    'new config delivered to apps-0000',
  );
  await env.k.eve.idle();
  // Let the other devices poll a few more times: they must see nothing new.
  await new Promise((r) => setTimeout(r, 2500));
  const after = await Promise.all(nodes.map(node));
  assert.equal(after[0].status.configVersion, before[0].status.configVersion + 1, 'apps-0000: one new config version');
  const newOnDevice = applied.get('apps-0000')!.slice(appliedBefore[0]);
  assert.equal(new Set(newOnDevice).size, newOnDevice.length, 'no config applied twice');
  assert.equal(newOnDevice.length, 1, 'apps-0000 applied exactly one new config');
  assert.equal(newOnDevice.at(-1), after[0].status.renderedConfigHash);
  for (const i of [1, 2]) {
    assert.equal(after[i].status.renderedConfigHash, before[i].status.renderedConfigHash, `${nodes[i]} hash unchanged`);
    assert.equal(after[i].status.configVersion, before[i].status.configVersion);
    assert.equal(applied.get(nodes[i]!)!.length, appliedBefore[i], `${nodes[i]} fetched no new config`);
  }
});

test('a burst of changes within the debounce window is one render: one new version', async () => {
  const before = await node('apps-0000');
  const { InProcessClient } = await import('../../src/controllers/runtime/index.ts');
  const c = new InProcessClient(env.k.api.service, env.k.api.registry);
  const gvr = { group: 'eve.kubeve.io', version: 'v1alpha1', resource: 'appinstances' };
  for (let i = 0; i < 5; i++) await c.patch(gvr, 'default', 'web', 'merge', { spec: { env: [{ name: 'BURST', value: String(i) }] } });
  await env.k.eve.idle();
  const after = await node('apps-0000');
  assert.equal(after.status.configVersion, before.status.configVersion + 1);
  const cfg = JSON.parse(await env.ok(['get', '--raw', '/apis/eve.kubeve.io/v1alpha1/edgenodes/apps-0000/config']));
  assert.match(Buffer.from(cfg.apps[0].userData, 'base64').toString(), /BURST=4/);
});

test("restarting kubeve does not change any device's config hash", async () => {
  await eventually(
    async () => (await Promise.all(nodes.map(node))).every((n) => n.status.deliveredConfigHash === n.status.renderedConfigHash),
    30_000,
    'all delivered',
  );
  const before = await Promise.all(nodes.map(node));
  const appliedBefore = nodes.map((s) => applied.get(s)!.length);
  await env.restart();
  await env.k.eve.idle();
  // Devices keep polling through the restart; give them several polls against the new process.
  await fleet.waitFor(() => fleet.devices.every((d) => d.counters.configUnchanged > 0), 10_000, 'polls');
  const polls = fleet.devices.map((d) => d.counters.configRequests);
  await fleet.waitFor(() => fleet.devices.every((d, i) => d.counters.configRequests >= polls[i]! + 3), 30_000, 'three polls each after the restart');
  await env.k.eve.idle();
  const after = await Promise.all(nodes.map(node));
  for (let i = 0; i < nodes.length; i++) {
    assert.equal(after[i].status.renderedConfigHash, before[i].status.renderedConfigHash, `${nodes[i]} hash unchanged`);
    assert.equal(after[i].status.configVersion, before[i].status.configVersion);
    assert.equal(env.k.device.getConfig(after[i].status.uuid)!.hash, before[i].status.renderedConfigHash, 'served hash unchanged');
    assert.equal(applied.get(nodes[i]!)!.length, appliedBefore[i], `${nodes[i]} got no new config`);
  }
});

test('a missing NetworkInstance or Secret is a condition with a reason; nothing half-rendered', async () => {
  const hashBefore = (await node('apps-0001')).status.renderedConfigHash;
  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata:
  name: orphan
  namespace: default
spec:
  nodeName: apps-0001
  image: library/redis:7
  networks:
    - networkInstanceRef:
        name: does-not-exist
`);
  const a = await eventually(
    async () => {
      const x = await app('orphan');
      return cond(x, 'Ready')?.reason === 'NetworkInstanceNotFound' ? x : undefined;
    },
    20_000,
    'orphan condition',
  );
  assert.equal(cond(a, 'Ready').status, 'False');
  assert.match(cond(a, 'Ready').message, /NetworkInstance default\/does-not-exist not found/);
  assert.equal(a.status.state, 'NotDeployed');
  await env.k.eve.idle();
  const cfg = JSON.parse(await env.ok(['get', '--raw', '/apis/eve.kubeve.io/v1alpha1/edgenodes/apps-0001/config']));
  assert.equal((cfg.apps ?? []).length, 0, 'the app is left out entirely');
  assert.equal((cfg.networkInstances ?? []).length, 0);
  assert.equal((await node('apps-0001')).status.renderedConfigHash, hashBefore, 'the device config did not change');

  // Creating the missing NetworkInstance deploys it.
  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: NetworkInstance
metadata:
  name: does-not-exist
  namespace: default
spec:
  type: local
  subnet: 10.61.0.0/24
`);
  await env.ok(['wait', '--for=condition=Ready', 'appinstance/orphan', '-n', 'default', '--timeout=60s']);

  // A DataStore whose Secret is missing: the app using it is not deployed and says why.
  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: DataStore
metadata:
  name: private
  namespace: default
spec:
  type: container-registry
  url: docker://private.example.com
  credentialsSecretRef:
    name: nope
---
apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata:
  name: private-app
  namespace: default
spec:
  nodeName: apps-0002
  image: team/app:1
  datastoreRef:
    name: private
`);
  const p = await eventually(
    async () => {
      const x = await app('private-app');
      return cond(x, 'Ready')?.reason === 'SecretNotFound' ? x : undefined;
    },
    20_000,
    'SecretNotFound condition',
  );
  assert.match(cond(p, 'Ready').message, /Secret default\/nope/);
  const ev = await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=private-app']);
  assert.match(ev, /SecretNotFound/);
  await env.ok(['create', 'secret', 'generic', 'nope', '-n', 'default', '--from-literal=username=u', '--from-literal=password=p']);
  await env.ok(['wait', '--for=condition=Ready', 'appinstance/private-app', '-n', 'default', '--timeout=60s']);
});

test("deleting an AppInstance removes it from that device's config and the device stops reporting it", async () => {
  const d = deviceOf('apps-0000');
  const uid = (await app('web')).metadata.uid;
  await env.ok(['delete', 'appinstance', 'web', '-n', 'default']);
  await d.waitFor((x) => x.model.apps.size === 0, 30_000, 'app removed on the device');
  await env.k.eve.idle();
  const cfg = JSON.parse(await env.ok(['get', '--raw', '/apis/eve.kubeve.io/v1alpha1/edgenodes/apps-0000/config']));
  assert.ok(!(cfg.apps ?? []).some((x: any) => x.uuidandversion.uuid === uid));
  assert.equal((await node('apps-0000')).status.appCount, 0);
  assert.equal((await env.kubectl(['get', 'appinstance', 'web', '-n', 'default'])).code, 1);
  // What the device reports about it now is the deletion signal; no AppInstance reappears.
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(!d.model.appStates().web);
  assert.equal((await env.kubectl(['get', 'appinstance', 'web', '-n', 'default'])).code, 1);
});

test('invalid specs are refused with field paths and change nothing', async () => {
  const r = await env.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata:
  name: bad
  namespace: default
spec:
  nodeName: apps-0000
  image: library/nginx:1.27
  resources:
    cpus: 0
  networks:
    - networkInstanceRef:
        name: lan
      portMaps:
        - port: 70000
          targetPort: 80
`,
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /spec\.resources\.cpus/);
  assert.match(r.stderr, /spec\.networks\[0\]\.portMaps\[0\]\.port/);
  assert.equal((await env.kubectl(['get', 'appinstance', 'bad', '-n', 'default'])).code, 1, 'nothing was created');
  const e = await env.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: eve.kubeve.io/v1alpha1
kind: EdgeNode
metadata:
  name: bad-node
spec:
  serial: "has spaces"
  reboot: -1
`,
  );
  assert.notEqual(e.code, 0);
  assert.match(e.stderr, /spec\.serial/);
  assert.match(e.stderr, /spec\.reboot/);
});
