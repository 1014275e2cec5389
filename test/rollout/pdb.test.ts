// BaseOSRollout and PodDisruptionBudgets end to end: the embedded server (rollout controller,
// kubelet bridge, disruption controller), simulated EVE devices over real TLS. A device reboot
// disrupts every pod bound to the device's Node, so a rollout activates devices together only as far
// as the budgets of those pods allow, whatever its batch size and maxUnavailable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import { DEFAULT_EVE_VERSION } from '../../src/sim/device.ts';
import { InProcessClient, type Client } from '../../src/controllers/runtime/index.ts';
import { EDGENODES } from '../../src/controllers/eve/status.ts';
import { BASEOSROLLOUTS } from '../../src/controllers/rollout/index.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';

const OLD = DEFAULT_EVE_VERSION;
let env: EveTestEnv;
let client: Client;

before(async () => {
  env = await startEveEnv();
  client = new InProcessClient(env.k.api.service, env.k.api.registry);
  await env.apply(onboardingKeyYaml('pdb-key', env.onboard.certPem));
});
after(async () => {
  await env?.close();
});

/** A started fleet labelled group=<prefix>, pinned to the version it runs (timers as in rollout.test.ts). */
async function fleetOf(prefix: string, count: number): Promise<SimFleet> {
  const f = await env.fleet({ count, serialPrefix: `${prefix}-`, stepMs: 400, rebootMs: 1000, startSpreadMs: 500 });
  f.start();
  await f.waitFor((x) => x.counts().configured === count, 90_000, `${count} configured devices`);
  for (const d of f.devices) {
    await eventually(
      async () => {
        await client.patch(EDGENODES, undefined, d.serial, 'merge', {
          metadata: { labels: { group: prefix } },
          spec: {
            configItems: { 'timer.test.baseimage.update': '30', 'timer.update.fallback.no.network': '3600' },
            baseOS: { version: OLD, image: `lfedge/eve:${OLD}` },
          },
        });
        return true;
      },
      20_000,
      `label ${d.serial}`,
    );
  }
  return f;
}

const podYaml = (name: string, node: string, app: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default, labels: {app: ${app}}}
spec:
  nodeName: ${node}
  tolerations:
    - {key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}
  containers:
    - {name: main, image: library/nginx:1.27}
`;

const rollout = (name: string) => client.get(BASEOSROLLOUTS, undefined, name);
const create = (name: string, spec: Record<string, unknown>) =>
  client.create(BASEOSROLLOUTS, undefined, { apiVersion: 'eve.kubeve.io/v1alpha1', kind: 'BaseOSRollout', metadata: { name }, spec });
async function waitPhase(name: string, phase: string, ms: number): Promise<any> {
  let last: any;
  try {
    return await eventually(
      async () => {
        last = await rollout(name);
        return last.status?.phase === phase ? last : undefined;
      },
      ms,
      `rollout ${name}: ${phase}`,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; status ${JSON.stringify(last?.status)}`);
  }
}
/** Whether the simulated device is between "activate" and commit/fallback (its apps are down or restarting). */
const updating = (f: SimFleet, serial: string) => {
  const b = f.byserial(serial)!.model.baseos;
  return !!b?.activate && ['downloading', 'installing', 'rebooting', 'testing'].includes(b.phase);
};

test('a PodDisruptionBudget (minAvailable 1 of 2 pods on two devices) holds one device back: never both at once, the rollout completes', async () => {
  const NEW = '14.11.0-kvm-amd64';
  const f = await fleetOf('p', 4);
  await env.apply(`${podYaml('web-0', 'p-0000', 'web')}---\n${podYaml('web-1', 'p-0001', 'web')}---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
`);
  await env.ok(['wait', '--for=condition=Ready', 'pod/web-0', 'pod/web-1', '-n', 'default', '--timeout=90s']);
  await eventually(
    async () => (await env.ok(['get', 'pdb', 'web', '-n', 'default', '-o', 'jsonpath={.status.disruptionsAllowed}'])) === '1',
    30_000,
    'PDB allows 1',
  );

  let both = 0;
  let peak = 0;
  const waited = new Set<string>();
  const sim = setInterval(() => {
    if (updating(f, 'p-0000') && updating(f, 'p-0001')) both++;
  }, 20);
  const status = setInterval(() => {
    void rollout('fleet-p').then(
      (r) => {
        // The controller's own in-flight count: how many devices it let go at once (the simulated devices
        // themselves may finish at different times, so their overlap says less).
        peak = Math.max(peak, r.status?.updating ?? 0);
        for (const d of r.status?.devices ?? [])
          if (d.state === 'Waiting') {
            assert.equal(d.reason, 'DisruptionBudget');
            assert.match(d.message, /PodDisruptionBudget default\/web/);
            waited.add(d.name);
          }
      },
      () => {},
    );
  }, 50);
  try {
    await create('fleet-p', {
      version: NEW,
      image: `lfedge/eve:${NEW}`,
      selector: { matchLabels: { group: 'p' } },
      batches: [{ size: 4 }],
      maxUnavailable: 4,
      healthWindowSeconds: 30,
    });
    const done = await waitPhase('fleet-p', 'Completed', 180_000);
    clearInterval(sim);
    clearInterval(status);
    assert.equal(done.status.updated, 4);
    assert.equal(both, 0, 'the two devices with web pods were never updating at the same time');
    assert.equal(waited.size, 1, `exactly one of the pods' devices was held back (${[...waited].join(', ')})`);
    assert.ok(['p-0000', 'p-0001'].includes([...waited][0]!), 'a device with a web pod waited');
    assert.ok(peak >= 3, `the devices without web pods went with the first one (peak ${peak})`);
    for (const d of f.devices) assert.equal(d.model.runningVersion, NEW, `${d.serial} runs ${NEW}`);
    // Both pods are back Ready on their updated devices.
    await env.ok(['wait', '--for=condition=Ready', 'pod/web-0', 'pod/web-1', '-n', 'default', '--timeout=60s']);
  } finally {
    clearInterval(sim);
    clearInterval(status);
  }
});

test('a Deployment of 2 replicas spread over the devices with a PDB maxUnavailable 1: its devices reboot one at a time, both replicas Ready at the end', async () => {
  const NEW = '14.12.0-kvm-amd64';
  const f = await fleetOf('r', 4);
  await env.apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      nodeSelector: {group: r}
      tolerations:
        - {key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: shop}}}
      containers:
        - {name: main, image: library/nginx:1.27}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: shop, namespace: default}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: shop}}
`);
  await env.ok(['rollout', 'status', 'deployment/shop', '-n', 'default', '--timeout=90s']);
  const pods = JSON.parse(await env.ok(['get', 'pods', '-n', 'default', '-l', 'app=shop', '-o', 'json'])).items;
  const hosts: string[] = pods.map((p: any) => p.spec.nodeName);
  assert.equal(new Set(hosts).size, 2, `the replicas run on two devices (${hosts.join(', ')})`);
  await eventually(
    async () => (await env.ok(['get', 'pdb', 'shop', '-n', 'default', '-o', 'jsonpath={.status.disruptionsAllowed}'])) === '1',
    30_000,
    'PDB allows 1',
  );
  let both = 0;
  const sim = setInterval(() => {
    if (hosts.every((h) => updating(f, h))) both++;
  }, 20);
  try {
    await create('fleet-r', {
      version: NEW,
      image: `lfedge/eve:${NEW}`,
      selector: { matchLabels: { group: 'r' } },
      batches: [{ size: 4 }],
      maxUnavailable: 4,
      healthWindowSeconds: 30,
    });
    const done = await waitPhase('fleet-r', 'Completed', 180_000);
    assert.equal(done.status.updated, 4);
    assert.equal(both, 0, "the two replicas' devices were never updating at the same time");
    for (const d of f.devices) assert.equal(d.model.runningVersion, NEW, `${d.serial} runs ${NEW}`);
    await env.ok(['rollout', 'status', 'deployment/shop', '-n', 'default', '--timeout=60s']);
  } finally {
    clearInterval(sim);
  }
});

test('without a PodDisruptionBudget the same fleet with pods updates all 4 devices at once', async () => {
  const NEW = '14.11.0-kvm-amd64';
  const f = await fleetOf('q', 4);
  await env.apply(`${podYaml('api-0', 'q-0000', 'api')}---\n${podYaml('api-1', 'q-0001', 'api')}`);
  await env.ok(['wait', '--for=condition=Ready', 'pod/api-0', 'pod/api-1', '-n', 'default', '--timeout=90s']);
  let peak = 0;
  // The controller's in-flight count (status.updating): all four let go in one pass.
  const sim = setInterval(() => {
    void rollout('fleet-q').then(
      (r) => (peak = Math.max(peak, r.status?.updating ?? 0)),
      () => {},
    );
  }, 20);
  try {
    await create('fleet-q', {
      version: NEW,
      image: `lfedge/eve:${NEW}`,
      selector: { matchLabels: { group: 'q' } },
      batches: [{ size: 4 }],
      maxUnavailable: 4,
      healthWindowSeconds: 30,
    });
    const done = await waitPhase('fleet-q', 'Completed', 180_000);
    assert.equal(done.status.updated, 4);
    assert.equal(peak, 4, 'all four devices updated together');
  } finally {
    clearInterval(sim);
  }
});
