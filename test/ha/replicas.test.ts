// Two `kubeve server --etcd` replicas on one etcd (issue 13, parts 2 and 3), as child processes:
// every replica serves the Kubernetes API and the device API; the controllers run on the Lease
// holder only; device state (PKI, registrations, served configs) lives in the shared store. The
// simulator's devices reach both replicas through a round-robin TCP proxy. kill -9 the leader under
// write load and device load: no acknowledged write is lost, devices keep getting 304s and no new
// config, the other replica's controllers resume within 15 s, and a device onboarded through the
// leader just before it died is known to the survivor.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.ts';
import { apiRequest, controllerLeader, readKubeconfig, roundRobinProxy, startReplica, type Replica } from '../helpers/replicas.ts';
import { issueOnboardingCert, loadOrCreatePki } from '../../src/eve/pki.ts';
import { SimFleet } from '../../src/sim/fleet.ts';
import { eventually, onboardingKeyYaml } from '../eve-e2e/helpers.ts';

const LEADING = /leading: controllers started/;
let etcd: EtcdCluster;
let dir: string;
let a: Replica;
let b: Replica;
let proxy: Awaited<ReturnType<typeof roundRobinProxy>>;
let fleet: SimFleet | undefined;
let late: SimFleet | undefined;
let common: { etcd: string[]; prefix: string; args: string[] };
/** The device the last test put an app on. */
let appNode = '';
const cleanup: Array<() => Promise<unknown> | unknown> = [];

type Kc = ReturnType<typeof readKubeconfig>;
let kcA: Kc;
let kcB: Kc;

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = join(dir, 'home');
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      args,
      { env: { ...process.env, HOME: home, KUBECONFIG: kubeconfig, KUBECACHEDIR: join(home, 'cache') }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}
async function ok(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const r = await kubectl(kubeconfig, args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = async (kubeconfig: string, args: string[]) => JSON.parse(await ok(kubeconfig, [...args, '-o', 'json']));
const cond = (o: any, type: string) => (o.status?.conditions ?? []).find((c: any) => c.type === type);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubeve-ha-'));
  etcd = await startEtcd(1);
  common = { etcd: etcd.endpoints, prefix: '/ha', args: ['--offline-timeout', '6'] };
  a = await startReplica({ ...common, dataDir: join(dir, 'a') });
  cleanup.push(() => a.stop());
  await a.waitFor(LEADING, 30_000);
  b = await startReplica({ ...common, dataDir: join(dir, 'b') });
  cleanup.push(() => b.stop());
  kcA = readKubeconfig(a.kubeconfig);
  kcB = readKubeconfig(b.kubeconfig);
  // B took A's API credentials from the store: one admin token and one CA for both.
  assert.equal(kcB.token, kcA.token);
  assert.equal(kcB.ca, kcA.ca);
  proxy = await roundRobinProxy([a.devicePort, b.devicePort]);
  cleanup.push(() => proxy.close());
});

after(async () => {
  await late?.stop();
  await fleet?.stop();
  if (process.env.HA_DEBUG) for (const r of [a, b]) console.error(`--- ${r?.dataDir}\n${r?.output()}`);
  for (const fn of cleanup.reverse()) await fn();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('one replica leads, the other follows; kubectl writes through A are watched through B, in order', async () => {
  assert.doesNotMatch(b.output(), LEADING, 'B runs no controllers while A holds the Lease');
  assert.notEqual(await controllerLeader(kcB), '');
  await ok(a.kubeconfig, ['create', 'namespace', 'fleet']);
  const home = join(dir, 'home');
  const watch = spawn(
    'kubectl',
    [
      '-n',
      'fleet',
      'get',
      'configmaps',
      '-w',
      '--output-watch-events',
      '-o',
      'custom-columns=TYPE:.type,NAME:.object.metadata.name,V:.object.data.v',
      '--no-headers',
    ],
    {
      env: { ...process.env, HOME: home, KUBECONFIG: b.kubeconfig, KUBECACHEDIR: join(home, 'cache') },
    },
  );
  cleanup.push(() => watch.kill('SIGKILL'));
  let out = '';
  watch.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise((r) => setTimeout(r, 1500)); // kubectl prints nothing for an empty list
  const expected: string[] = [];
  for (let i = 0; i < 8; i++) {
    await ok(a.kubeconfig, ['-n', 'fleet', 'create', 'configmap', `cm-${i}`, `--from-literal=v=${i}`]);
    expected.push(`ADDED cm-${i} ${i}`);
  }
  await ok(a.kubeconfig, ['-n', 'fleet', 'patch', 'configmap', 'cm-3', '--type=merge', '-p', '{"data":{"v":"33"}}']);
  await ok(a.kubeconfig, ['-n', 'fleet', 'delete', 'configmap', 'cm-5']);
  expected.push('MODIFIED cm-3 33', 'DELETED cm-5 5');
  const lines = () =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.trim().split(/\s+/).join(' '));
  await eventually(() => lines().length >= expected.length, 20_000, `watch through B: ${out}`);
  assert.deepEqual(lines(), expected);
  watch.kill('SIGTERM');
});

test('kill -9 the leader under write and device load: no acknowledged write lost, devices keep their configs and 304s, controllers resume on B within 15 s, a device onboarded through A just before is known to B', async (ctx) => {
  // The shared PKI is in Secret kube-system/kubeve-pki: devices are made from it alone.
  const pkiSecret = await json(b.kubeconfig, ['get', 'secret', 'kubeve-pki', '-n', 'kube-system']);
  const pkiDir = join(dir, 'pki-copy');
  mkdirSync(pkiDir);
  for (const [k, v] of Object.entries(pkiSecret.data as Record<string, string>)) writeFileSync(join(pkiDir, k), Buffer.from(v, 'base64'));
  const pki = await loadOrCreatePki({ dir: pkiDir });
  const onboard = await issueOnboardingCert(pki);
  await ok(a.kubeconfig, ['apply', '-f', '-'], onboardingKeyYaml('ha-key', onboard.certPem));
  const fleetOptions = {
    server: `localhost:${proxy.port}`,
    rootCertPem: pki.root.certPem,
    onboard: { certPem: onboard.certPem, keyPem: onboard.keyPem },
    timeScale: 60,
    startSpreadMs: 300,
    stepMs: 1000,
    rebootMs: 2000,
    logs: false,
    metrics: false,
  };
  fleet = await SimFleet.create({ ...fleetOptions, count: 4, serialPrefix: 'ha-' });
  const applied = new Map<string, string[]>();
  for (const d of fleet.devices) {
    applied.set(d.serial, []);
    d.on('config', (hash: string) => applied.get(d.serial)!.push(hash));
  }
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 4, 90_000, '4 configured devices');
  const names = fleet.devices.map((d) => d.serial);
  const node = (kc: string, n: string) => json(kc, ['get', 'edgenode', n]);
  await eventually(
    async () =>
      (await Promise.all(names.map((n) => node(b.kubeconfig, n)))).every(
        (n) => cond(n, 'ConfigDelivered')?.status === 'True' && cond(n, 'Online')?.status === 'True',
      ),
    60_000,
    'EdgeNodes delivered and online',
  );
  assert.ok((proxy.connections.get(b.devicePort) ?? 0) > 0 && (proxy.connections.get(a.devicePort) ?? 0) > 0, 'devices talk to both replicas');
  // Devices talk to both: presence must not flap while half their requests reach the follower.
  await new Promise((r) => setTimeout(r, 7000));
  const before = await Promise.all(names.map((n) => node(b.kubeconfig, n)));
  for (const n of before) assert.equal(cond(n, 'Online')?.status, 'True', `${n.metadata.name} stays Online with requests spread over both replicas`);
  const appliedBefore = names.map((s) => applied.get(s)!.length);

  // Write load: three writers, each alternating between the replicas, moving on when one fails.
  await ok(a.kubeconfig, ['create', 'namespace', 'load']);
  const acked = new Map<string, string>();
  let writing = true;
  let ackedAfterKill = 0;
  let killedAt = 0;
  const writers = [0, 1, 2].map(async (w) => {
    let target = w % 2;
    for (let i = 0; writing; i++) {
      const name = `w${w}-${i}`;
      const kc = target === 0 ? kcA : kcB;
      try {
        const r = await apiRequest(
          kc,
          'POST',
          '/api/v1/namespaces/load/configmaps',
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { v: name } },
          5000,
        );
        if (r.status === 201) {
          acked.set(name, r.body.metadata.resourceVersion);
          if (killedAt) ackedAfterKill++;
        }
      } catch {
        /* the replica is gone: not acknowledged */
      }
      target = 1 - target;
    }
  });
  await new Promise((r) => setTimeout(r, 2000));
  const config304Before = fleet.stats.status(304);

  // The late device registers through the proxy; only the leader (A) admits a first registration.
  late = await SimFleet.create({ ...fleetOptions, count: 1, serialPrefix: 'late-' });
  const lateDevice = late.devices[0]!;
  const uuids: string[] = [];
  lateDevice.on('uuid', (u: string) => uuids.push(u));
  const registered = new Promise<void>((r) => lateDevice.once('registered', () => r()));
  late.start();
  await registered;
  killedAt = Date.now();
  await a.kill9();
  const lateUuid = lateDevice.uuid;

  const leadingAt = await b.waitFor(LEADING, 30_000);
  const took = leadingAt - killedAt;
  ctx.diagnostic(`failover: B's controllers started ${took} ms after kill -9`);
  assert.ok(took < 15_000, `B's controllers resume ${took} ms after the kill (must be < 15 s)`);

  // The controllers really run on B: the workloads controllers create a ReplicaSet, the GC removes a dependent.
  await ok(b.kubeconfig, ['-n', 'load', 'create', 'deployment', 'web', '--image=nginx', '--replicas=0']);
  await eventually(
    async () => JSON.parse(await ok(b.kubeconfig, ['-n', 'load', 'get', 'replicasets', '-o', 'json'])).items.length === 1,
    15_000,
    "a ReplicaSet from B's deployment controller",
  );
  const orphan = await apiRequest(kcB, 'POST', '/api/v1/namespaces/load/configmaps', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'orphan', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'gone', uid: '00000000-0000-4000-8000-000000000001' }] },
  });
  assert.equal(orphan.status, 201);
  await eventually(
    async () => (await apiRequest(kcB, 'GET', '/api/v1/namespaces/load/configmaps/orphan')).status === 404,
    15_000,
    "B's garbage collector deletes a dependent of a missing owner",
  );

  // The late device is known to B with the UUID A gave it, and gets its config there.
  await late.waitFor((f) => f.counts().configured === 1, 60_000, 'the late device configured through B');
  assert.deepEqual(uuids, [lateUuid], 'the late device kept the UUID A gave it (no re-onboarding)');
  const lateNode = await eventually(
    async () => {
      const l = await json(b.kubeconfig, ['get', 'edgenodes']);
      return l.items.find((n: any) => n.status?.uuid === lateUuid);
    },
    20_000,
    "the late device's EdgeNode",
  );
  assert.equal(lateNode.spec.serial, lateDevice.serial);

  // Devices keep polling (304s through B) with no new config, and stay Online.
  await new Promise((r) => setTimeout(r, 4000));
  writing = false;
  await Promise.all(writers);
  assert.ok(fleet.stats.status(304) > config304Before + 8, `devices kept getting 304s: ${config304Before} → ${fleet.stats.status(304)}`);
  const afterNodes = await Promise.all(names.map((n) => node(b.kubeconfig, n)));
  for (let i = 0; i < names.length; i++) {
    assert.equal(afterNodes[i].status.configVersion, before[i].status.configVersion, `${names[i]}: config version unchanged`);
    assert.equal(afterNodes[i].status.renderedConfigHash, before[i].status.renderedConfigHash, `${names[i]}: config hash unchanged`);
    assert.equal(applied.get(names[i]!)!.length, appliedBefore[i], `${names[i]}: the device fetched no new config`);
    assert.equal(cond(afterNodes[i], 'Online')?.status, 'True', `${names[i]} Online after the failover`);
  }
  assert.equal(fleet.counts().configured, 4);

  // Every acknowledged write is stored, with the revision it was acknowledged at.
  assert.ok(ackedAfterKill > 0, 'writes through B went on while A was dead');
  const stored = await apiRequest(kcB, 'GET', '/api/v1/namespaces/load/configmaps');
  const have = new Map<string, any>((stored.body.items as any[]).map((o) => [o.metadata.name, o]));
  const lost = [...acked.keys()].filter((n) => have.get(n)?.data?.v !== n);
  ctx.diagnostic(`${acked.size} writes acknowledged (${ackedAfterKill} after the kill), ${lost.length} lost`);
  assert.deepEqual(lost, []);
  for (const [n, rv] of acked) assert.equal(have.get(n).metadata.resourceVersion, rv, `${n} unchanged since acknowledged`);

  // A change rendered by B's controllers still reaches a device through the proxy.
  const target = (appNode = names[0]!);
  const n0 = await node(b.kubeconfig, target);
  await ok(
    b.kubeconfig,
    ['apply', '-f', '-'],
    `apiVersion: eve.kubeve.io/v1alpha1
kind: NetworkInstance
metadata: {name: lan, namespace: default}
spec: {type: local, subnet: 10.62.0.0/24}
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
  nodeName: ${target}
  image: library/nginx:1.27
  datastoreRef: {name: hub}
  resources: {cpus: 1, memory: 256Mi}
  networks:
    - networkInstanceRef: {name: lan}
`,
  );
  await ok(b.kubeconfig, ['wait', '--for=condition=Ready', 'appinstance/web', '-n', 'default', '--timeout=60s']);
  const n1 = await node(b.kubeconfig, target);
  assert.equal(n1.status.configVersion, n0.status.configVersion + 1, 'one new config version for the change');
  assert.equal(applied.get(target)!.at(-1), n1.status.renderedConfigHash);
});

test('kill -9 the leader of a device with an app: a replica on an empty data dir takes over and renders no config version, never one without the app', async (ctx) => {
  assert.ok(appNode, 'the previous test put an app on a device');
  const c = await startReplica({ ...common, dataDir: join(dir, 'c') });
  cleanup.push(() => c.stop());
  const stateOf = async () => {
    const l = await json(c.kubeconfig, ['get', 'secret', '-n', 'kube-system', '-l', `eve.kubeve.io/edgenode=${appNode}`]);
    return JSON.parse(Buffer.from(l.items[0].data['config.json'], 'base64').toString());
  };
  const before = await json(c.kubeconfig, ['get', 'edgenode', appNode]);
  assert.equal((await stateOf()).apps.length, 1);
  const killedAt = Date.now();
  await b.kill9();
  await c.waitFor(LEADING, 30_000);
  ctx.diagnostic(`C leads ${Date.now() - killedAt} ms after the kill`);
  // Watch what C serves while its controllers settle: the app never leaves the config.
  const seen = new Set<string>();
  for (const until = Date.now() + 5000; Date.now() < until; ) {
    const cfg = await stateOf();
    seen.add(`v${cfg.id.version}:${cfg.apps.length} app(s)`);
  }
  const after = await json(c.kubeconfig, ['get', 'edgenode', appNode]);
  assert.deepEqual([...seen], [`v${before.status.configVersion}:1 app(s)`], 'the served config stays the one with the app');
  assert.equal(after.status.configVersion, before.status.configVersion, `${appNode}: config version unchanged`);
  assert.equal(after.status.renderedConfigHash, before.status.renderedConfigHash, `${appNode}: config hash unchanged`);
});
