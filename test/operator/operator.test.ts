// `kubeve operator` against a separate API server with its controllers off (standing in for a
// cluster), authenticated as the chart's ServiceAccount only: devices onboard, an app runs, status
// flows; kill -9 and restart on an empty data dir changes no device's config; two replicas: one
// leader, the other takes over within 20 s of a kill -9, the device API answers on both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { eventually, onboardingKeyYaml } from '../eve-e2e/helpers.ts';
import { issueOnboardingCert, loadOrCreatePki } from '../../src/eve/pki.ts';
import { SimFleet } from '../../src/sim/fleet.ts';
import { NAMESPACE, startCluster, deviceApiStatus, freePort, type Cluster, operatorKubeconfig, startOperatorProcess, type OperatorProcess } from './helpers.ts';

let t: Cluster;
let kubeconfig: string;
let fleet: SimFleet | undefined;
const procs: OperatorProcess[] = [];
const nodes = ['op-0000', 'op-0001'];
const applied = new Map<string, string[]>();
/** Apps in every config each device received. */
const appsSeen = new Map<string, number[]>();

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));
const node = (name: string) => json(['get', 'edgenode', name]);
const cond = (o: any, type: string) => (o.status?.conditions ?? []).find((c: any) => c.type === type);
const holder = async () => (await json(['get', 'lease', 'kubeve-operator', '-n', NAMESPACE])).spec?.holderIdentity as string | undefined;
const start = (identity: string, port: number, env?: NodeJS.ProcessEnv) => {
  const p = startOperatorProcess({ kubeconfig, identity, port, env, dataDir: fs.mkdtempSync(path.join(t.dir, `${identity}-`)) });
  procs.push(p);
  return p;
};

before(async () => {
  t = await startCluster();
  assert.equal((await t.kubectl(['get', 'crd', 'edgenodes.eve.kubeve.io'])).code, 1, 'the cluster has no EVE CRDs of its own');
  kubeconfig = await operatorKubeconfig(t, { applyCrdsAtStart: true });
  // The token carries only the chart's roles: least privilege is enforced, not just declared.
  const sa = 'system:serviceaccount:kubeve-system:kubeve';
  for (const [verb, res, ns, allowed] of [
    ['list', 'secrets', 'default', 'yes'],
    ['delete', 'secrets', 'default', 'no'],
    ['create', 'secrets', NAMESPACE, 'yes'],
    ['delete', 'edgenodes.eve.kubeve.io', '', 'no'],
    ['list', 'pods', 'default', 'no'],
    ['update', 'leases', 'default', 'no'],
    ['update', 'leases', NAMESPACE, 'yes'],
  ] as const) {
    const r = await t.kubectl(['auth', 'can-i', verb, res, '--as', sa, ...(ns ? ['-n', ns] : [])]);
    assert.equal(r.stdout.trim(), allowed, `${verb} ${res} in ${ns || 'the cluster'}: ${r.stdout}${r.stderr}`);
  }
});
after(async () => {
  await fleet?.stop();
  if (process.env.OPERATOR_DEBUG) for (const p of procs) console.error(`--- ${p.identity}\n${p.output()}`);
  for (const p of procs) await p.stop();
  await t?.close();
});

const app = `apiVersion: eve.kubeve.io/v1alpha1
kind: NetworkInstance
metadata: {name: lan, namespace: default}
spec: {type: local, subnet: 10.61.0.0/24}
---
apiVersion: eve.kubeve.io/v1alpha1
kind: DataStore
metadata: {name: hub, namespace: default}
spec: {type: container-registry, url: docker://docker.io}
---
apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: web, namespace: default}
spec:
  nodeName: op-0000
  image: library/nginx:1.27
  datastoreRef: {name: hub}
  resources: {cpus: 1, memory: 256Mi}
  networks:
    - networkInstanceRef: {name: lan}
`;

let port1 = 0;

test('kubeve operator as the ServiceAccount: CRDs applied, devices onboard, an app runs, EdgeNode status flows, config readable from the device Secret', async () => {
  port1 = await freePort();
  const a = start('op-a', port1);
  await a.waitFor('leading, EVE controllers started');
  assert.match(await t.ok(['get', 'crd', 'edgenodes.eve.kubeve.io', '-o', 'name']), /edgenodes\.eve\.kubeve\.io/);
  // The PKI is in the Secret: an install medium is made from it alone.
  const pkiSecret = await json(['get', 'secret', 'kubeve-pki', '-n', NAMESPACE]);
  const pkiDir = fs.mkdtempSync(path.join(t.dir, 'pki-'));
  for (const [k, v] of Object.entries(pkiSecret.data as Record<string, string>)) fs.writeFileSync(path.join(pkiDir, k), Buffer.from(v, 'base64'));
  const pki = await loadOrCreatePki({ dir: pkiDir });
  const onboard = await issueOnboardingCert(pki);
  await t.ok(['apply', '-f', '-'], onboardingKeyYaml('op-key', onboard.certPem));

  fleet = await SimFleet.create({
    server: `localhost:${port1}`,
    rootCertPem: pki.root.certPem,
    onboard: { certPem: onboard.certPem, keyPem: onboard.keyPem },
    count: 2,
    serialPrefix: 'op-',
    timeScale: 60,
    startSpreadMs: 300,
    stepMs: 1000,
    rebootMs: 2000,
    logs: false,
    metrics: false,
  });
  for (const d of fleet.devices) {
    applied.set(d.serial, []);
    appsSeen.set(d.serial, []);
    d.on('config', (hash: string, config: { apps?: unknown[] }) => {
      applied.get(d.serial)!.push(hash);
      appsSeen.get(d.serial)!.push(config?.apps?.length ?? 0);
    });
  }
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 2, 60_000, '2 configured devices');
  await eventually(
    async () => (await Promise.all(nodes.map(node))).every((n) => cond(n, 'ConfigDelivered')?.status === 'True' && cond(n, 'Online')?.status === 'True'),
    30_000,
    'EdgeNodes delivered and online',
  );

  await t.ok(['apply', '-f', '-'], app);
  await t.ok(['wait', '--for=condition=Ready', 'appinstance/web', '-n', 'default', '--timeout=60s']);
  const web = await json(['get', 'appinstance', 'web', '-n', 'default']);
  assert.equal(web.status.state, 'RUNNING');
  assert.equal(fleet.devices.find((d) => d.serial === 'op-0000')!.model.appStates().web, 'RUNNING');
  const n0 = await node('op-0000');
  assert.equal(n0.status.appCount, 1);

  // The rendered config, where a replica and a user can read it.
  const secret = await eventually(
    async () => {
      const l = await json(['get', 'secret', '-n', NAMESPACE, '-l', 'eve.kubeve.io/edgenode=op-0000']);
      const s = l.items[0];
      return s && Buffer.from(s.data.configHash, 'base64').toString() === n0.status.renderedConfigHash ? s : undefined;
    },
    20_000,
    'device state Secret with the current config',
  );
  const cfg = JSON.parse(Buffer.from(secret.data['config.json'], 'base64').toString());
  assert.equal(cfg.apps.length, 1);
  assert.equal(cfg.apps[0].uuidandversion.uuid, web.metadata.uid);
  assert.equal(cfg.id.version, String(n0.status.configVersion));
});

test('kill -9 the operator and start it on an empty data dir: no device config version or hash changes', async () => {
  const before = await Promise.all(nodes.map(node));
  const appliedBefore = nodes.map((s) => applied.get(s)!.length);
  const appsBefore = appsSeen.get('op-0000')!.length;
  assert.equal(appsSeen.get('op-0000')!.at(-1), 1, 'op-0000 runs a config with its app');
  await procs[0]!.kill9();
  const a2 = start('op-a2', port1);
  await a2.waitFor('leading, EVE controllers started', 40_000); // the old lease must expire first
  // Devices poll every second (time scale 60); give them several polls against the new process.
  await eventually(async () => (await Promise.all(nodes.map(node))).every((n) => cond(n, 'Online')?.status === 'True'), 20_000, 'online');
  await new Promise((r) => setTimeout(r, 4000));
  const after = await Promise.all(nodes.map(node));
  for (let i = 0; i < nodes.length; i++) {
    assert.equal(after[i].status.configVersion, before[i].status.configVersion, `${nodes[i]}: config version unchanged`);
    assert.equal(after[i].status.renderedConfigHash, before[i].status.renderedConfigHash, `${nodes[i]}: config hash unchanged`);
    assert.equal(applied.get(nodes[i]!)!.length, appliedBefore[i], `${nodes[i]}: the device fetched no new config`);
  }
  assert.equal(fleet!.counts().configured, 2);
  // A config without the app, even one replaced a moment later, would make EVE delete the app.
  assert.deepEqual(appsSeen.get('op-0000')!.slice(appsBefore), [], 'op-0000 received no config after the restart (none without its app)');
});

test("two replicas: exactly one holds the Lease; kill -9 it and the other leads within 20 s; both serve the device API; a follower serves devices the leader's configs", async (ctx) => {
  const port2 = await freePort();
  const b = start('op-b', port2);
  await b.waitFor('leader is op-a2', 30_000);
  const a = procs.find((p) => p.identity === 'op-a2')!;
  assert.equal(await holder(), 'op-a2');
  assert.doesNotMatch(b.output(), /leading, EVE controllers started/, 'the follower runs no controllers');
  assert.equal(await deviceApiStatus(a.port), 200);
  assert.equal(await deviceApiStatus(port2), 200, 'the follower serves the device API');

  // The follower serves a registered device's config from the shared state: same signed config.
  const cfgSecrets = await json(['get', 'secret', '-n', NAMESPACE, '-l', 'eve.kubeve.io/device-state=true']);
  assert.equal(cfgSecrets.items.length, 2);

  const killedAt = Date.now();
  await a.kill9();
  const answers: number[] = [];
  let took = 0;
  for (;;) {
    answers.push(await deviceApiStatus(port2));
    if ((await holder()) === 'op-b' && b.output().includes('leading, EVE controllers started')) {
      took = Date.now() - killedAt;
      break;
    }
    if (Date.now() - killedAt > 25_000) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  ctx.diagnostic(`failover took ${took} ms`);
  assert.ok(took > 0 && took < 20_000, `op-b leads ${took} ms after the kill (must be < 20 s)`);
  assert.ok(
    answers.every((s) => s === 200),
    `the follower answered throughout: ${answers.join(',')}`,
  );
  const lease = await json(['get', 'lease', 'kubeve-operator', '-n', NAMESPACE]);
  assert.equal(lease.spec.holderIdentity, 'op-b');
  assert.ok(lease.spec.leaseTransitions >= 2);

  // A new replica on the devices' address is a follower: it serves them from the shared state, and
  // a change rendered by the leader (op-b) reaches the device through it.
  // Run as "Pod op-c" (the chart passes POD_NAME/POD_UID): its relay ConfigMap is owned by the Pod.
  await t.ok(['run', 'op-c', '-n', NAMESPACE, '--image=ghcr.io/kubeve/kubeve:0.1.0', '--restart=Never']);
  const podUid = (await json(['get', 'pod', 'op-c', '-n', NAMESPACE])).metadata.uid;
  const c = start('op-c', port1, { POD_NAME: 'op-c', POD_UID: podUid });
  await c.waitFor('leader is op-b', 30_000);
  const before = await node('op-0000');
  const appliedBefore = applied.get('op-0000')!.length;
  await t.ok(['patch', 'appinstance', 'web', '-n', 'default', '--type=merge', '-p', '{"spec":{"resources":{"memory":"384Mi"}}}']);
  const after = await eventually(
    async () => {
      const n = await node('op-0000');
      return n.status.configVersion === before.status.configVersion + 1 ? n : undefined;
    },
    20_000,
    'the new leader renders the change',
  );
  await eventually(() => applied.get('op-0000')!.at(-1) === after.status.renderedConfigHash, 20_000, 'the device applies it, served by the follower');
  assert.equal(applied.get('op-0000')!.length, appliedBefore + 1, 'exactly one new config');
  assert.doesNotMatch(c.output(), /leading, EVE controllers started/, 'op-c stayed a follower');
  // What the follower saw reaches the leader: the delivery, and contacts (the devices talk only to
  // op-c; without the relay the leader would mark them Offline after the 5 s offline timeout).
  await eventually(
    async () => {
      const n = await node('op-0000');
      return n.status.deliveredConfigHash === after.status.renderedConfigHash && cond(n, 'ConfigDelivered')?.status === 'True';
    },
    20_000,
    'ConfigDelivered relayed from the follower',
  );
  await new Promise((r) => setTimeout(r, 7000));
  for (const n of await Promise.all(nodes.map(node))) assert.equal(cond(n, 'Online')?.status, 'True', `${n.metadata.name} stays Online`);

  // After a crash, the follower's relay ConfigMap goes with its Pod (garbage collector).
  const relay = await json(['get', 'configmap', 'kubeve-relay-op-c', '-n', NAMESPACE]);
  assert.equal(relay.metadata.ownerReferences?.[0]?.uid, podUid);
  await c.kill9();
  await t.ok(['delete', 'pod', 'op-c', '-n', NAMESPACE, '--wait=false']);
  await eventually(async () => (await t.kubectl(['get', 'configmap', 'kubeve-relay-op-c', '-n', NAMESPACE])).code === 1, 30_000, 'relay ConfigMap collected');
  assert.equal(fleet!.counts().configured, 2);
});
