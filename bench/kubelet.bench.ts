// Kubelet bridge benchmark (npm run bench:kubelet).
//
// For each fleet size N (default 1,000 and 10,000 EVE nodes) in one `kubeve server` process (SQLite):
// - N − K EdgeNodes registered through the API (device UUID, hardware, interfaces) and kept in contact
//   by a poll every 10 s each (the device API's contact hook, as a config poll calls it, minus TLS);
//   K (default 20) simulated devices over real TLS polling their config every 10 s.
// 1. Node/Lease memory per device: the bridge is started once the N EdgeNodes are online; heap after
//    GC before vs after every Node and Lease exists, / N. Also the stored JSON of one Node + Lease.
// 2. Storage writes per device per minute in steady state: the storage revision's advance over a
//    window (default 70 s: one Lease interval plus a tick) with only polling going on, / N / minutes;
//    split into Node, Lease and the rest (EdgeNode status, events).
// 3. Pod create → Running on the simulated devices, P pods (default 2 rounds × K, one per device at a
//    time, the K creates of a round spread over 10 s): split into controller time (create → the device API serves a config with the app, plus the
//    device's report that the app runs → Pod status Running seen by a watch), the poll wait (served →
//    the device's next request) and the device's own time (fetch → that report: the simulator's
//    download/verify/boot steps). Target: controller part p99 < 100 ms.
//
// Env: BENCH_NODES (default "1000,10000"), BENCH_DEVICES (K, default 20), BENCH_ROUNDS (default 2),
// BENCH_STEADY_S (default 70).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { startKubeve } from '../src/server/kubeve.ts';
import { InProcessClient, LEASES, type Client } from '../src/controllers/runtime/index.ts';
import { EDGENODES, ONBOARDINGKEYS } from '../src/controllers/eve/status.ts';
import { KubeletBridge } from '../src/controllers/kubelet/index.ts';
import { NODES, NODE_LEASE_NAMESPACE, PODS, boundPods } from '../src/controllers/kubelet/resources.ts';
import { issueOnboardingCert } from '../src/eve/pki.ts';
import { SimFleet } from '../src/sim/fleet.ts';
import type { KObject } from '../src/apiserver/resource.ts';

const SIZES = (process.env.BENCH_NODES ?? '1000,10000').split(',').map(Number);
const K = Number(process.env.BENCH_DEVICES ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const STEADY_S = Number(process.env.BENCH_STEADY_S ?? 70);
const POLL_MS = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;

async function settle(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().heapUsed;
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}
const revision = async (c: Client) => Number((await c.list({ group: '', version: 'v1', resource: 'namespaces' }, undefined, { limit: 1 })).resourceVersion);

async function run(n: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-bench-kubelet-'));
  // The bridge is started by hand below, once the fleet is online, to measure what it adds.
  const k = await startKubeve({ dataDir: dir, port: 0, devicePort: 0, deviceHost: '127.0.0.1', kubelet: { enabled: false } });
  const client = new InProcessClient(k.api.service, k.api.registry);
  const eve = k.eve;

  // Times the device API reports, by device UUID: its requests and its app RUNNING reports.
  const lastRequest = new Map<string, number>();
  const lastReport = new Map<string, number>(); // app (pod) uid → its latest info report
  const onContact = eve.hooks.onContact!;
  const onInfo = eve.hooks.onInfo!;
  eve.hooks.onContact = (uuid, now) => {
    lastRequest.set(uuid, performance.now());
    onContact(uuid, now);
  };
  eve.hooks.onInfo = (uuid, msg) => {
    const c = msg.InfoContent;
    if (c.case === 'ainfo') lastReport.set(c.value.AppID.toLowerCase(), performance.now());
    return onInfo(uuid, msg);
  };

  // N − K registered EdgeNodes, online, kept in contact every 10 s.
  const t0 = Date.now();
  const synthetic: string[] = [];
  for (let i = 0; i < n - K; i++) {
    const uuid = crypto.randomUUID();
    synthetic.push(uuid);
    const en = await client.create(EDGENODES, undefined, {
      metadata: { name: `node-${i}`, labels: { site: `s${i % 10}` } },
      spec: { serial: `SN${i}`, uuid, configItems: { 'timer.config.interval': '10' } },
    });
    await client.updateStatus(EDGENODES, {
      ...en,
      status: {
        uuid,
        serial: `SN${i}`,
        eveVersion: '14.5.1-kvm-amd64',
        kernelVersion: '6.1.112',
        hardware: { manufacturer: 'QEMU', model: 'Standard PC', architecture: 'amd64', cpus: 4, memory: '8192Mi', storage: '65536Mi' },
        interfaces: [{ name: 'eth0', ifname: 'eth0', ipAddresses: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`], up: true, usage: 'management' }],
      },
    });
  }
  let stopPolls = false;
  const polls = (async () => {
    // Each synthetic device "polls" once per 10 s, spread evenly.
    const every = POLL_MS / Math.max(1, synthetic.length);
    let i = 0;
    const start = performance.now();
    while (!stopPolls) {
      const due = Math.floor((performance.now() - start) / every);
      for (; i < due && !stopPolls; i++) eve.hooks.onContact!(synthetic[i % synthetic.length]!, Date.now());
      await sleep(20);
    }
  })();

  // K simulated devices over TLS.
  const onboard = await issueOnboardingCert(k.device.pki);
  await client.create(ONBOARDINGKEYS, undefined, { metadata: { name: 'bench' }, spec: { autoEnroll: true, certificate: onboard.certPem } });
  const fleet = await SimFleet.create({
    server: `localhost:${k.device.port}`,
    rootCertPem: k.device.pki.root.certPem,
    onboard: { certPem: onboard.certPem, keyPem: onboard.keyPem },
    count: K,
    serialPrefix: 'bench-',
    timeScale: 1,
    intervals: { config: POLL_MS },
    stepMs: 200,
    rebootMs: 500,
    logs: false,
    metrics: false,
    startSpreadMs: 2000,
  });
  fleet.start();
  await until(() => fleet.counts().configured === K, 120_000, `${K} devices configured`);
  await until(
    () =>
      eve.informers
        .informerFor(EDGENODES)
        .store.list()
        .filter((e) => e.status?.conditions?.some((c: KObject) => c.type === 'Online' && c.status === 'True')).length >= n,
    120_000,
    `${n} EdgeNodes online`,
  );
  await eve.idle();
  const fleetS = (Date.now() - t0) / 1000;

  // 1. Node/Lease memory: the bridge on the EVE controllers' informers, started now.
  const heap0 = await settle();
  const t1 = Date.now();
  const bridge = new KubeletBridge(client, eve.informers, { contactOf: (name) => eve.index.byName.get(name)?.lastContact });
  await bridge.start();
  await until(async () => (await client.list(LEASES, NODE_LEASE_NAMESPACE)).items.length >= n, 300_000, `${n} Leases`);
  await bridge.idle();
  const bridgeS = (Date.now() - t1) / 1000;
  const heap1 = await settle();
  const nodeJson = JSON.stringify(await client.get(NODES, undefined, 'node-0')).length;
  const leaseJson = JSON.stringify(await client.get(LEASES, NODE_LEASE_NAMESPACE, 'node-0')).length;

  // 2. Steady state: only polls for STEADY_S seconds (the window holds each Lease's first renewal).
  const w0 = { rev: await revision(client), node: Object.values(bridge.nodes.writes).reduce((a, b) => a + b, 0), lease: bridge.leases.writes };
  await sleep(STEADY_S * 1000);
  const w1 = { rev: await revision(client), node: Object.values(bridge.nodes.writes).reduce((a, b) => a + b, 0), lease: bridge.leases.writes };
  const minutes = STEADY_S / 60;
  const per = (x: number) => (x / n / minutes).toFixed(3);

  // 3. Pod create → Running on the simulated devices.
  const devices = eve.informers
    .informerFor(EDGENODES)
    .store.list()
    .filter((e) => String(e.metadata.name).startsWith('bench-'));
  let missed = 0;
  const controller: number[] = [];
  const toServed: number[] = [];
  const toStatus: number[] = [];
  const pollWait: number[] = [];
  const device: number[] = [];
  const total: number[] = [];
  // When a watch first shows the pod Running, and the device report that made it so (the latest one).
  const runningSeen = new Map<string, { seen: number; reported: number }>();
  boundPods(eve.informers).addEventHandler({
    onUpdate: (_, p) => {
      if (p.status?.phase === 'Running' && !runningSeen.has(p.metadata.uid))
        runningSeen.set(p.metadata.uid, { seen: performance.now(), reported: lastReport.get(String(p.metadata.uid).toLowerCase()) ?? NaN });
    },
  });
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(
      devices.map(async (en, j) => {
        // Creates spread over the poll interval (one every 10 s / K), not a burst: per-pod latency.
        await sleep((j * POLL_MS) / devices.length);
        const uuid = en.status.uuid as string;
        const created = performance.now();
        const pod = await client.create(PODS, 'default', {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `p-${round}-${j}`, namespace: 'default' },
          spec: {
            nodeName: en.metadata.name,
            tolerations: [{ key: 'kubeve.io/edge-node', operator: 'Exists', effect: 'NoSchedule' }],
            containers: [{ name: 'main', image: 'library/nginx:1.27', resources: { limits: { cpu: '500m', memory: '64Mi' } } }],
          },
        });
        const uid = String(pod.metadata.uid).toLowerCase();
        let served = 0;
        for (;;) {
          if (k.device.getConfig(uuid)?.config.apps.some((a) => a.uuidandversion?.uuid === uid)) {
            served = performance.now();
            break;
          }
          await sleep(1);
        }
        try {
          await until(() => (lastRequest.get(uuid) ?? 0) > served, 60_000, 'device poll');
        } catch {
          missed++; // the simulated device fell behind (a loaded machine): no sample
          return;
        }
        const fetched = lastRequest.get(uuid)!;
        await until(() => runningSeen.has(pod.metadata.uid), 120_000, `pod ${pod.metadata.name} Running`);
        const { seen, reported } = runningSeen.get(pod.metadata.uid)!;
        controller.push(served - created + (seen - reported));
        toServed.push(served - created);
        toStatus.push(seen - reported);
        pollWait.push(fetched - served);
        device.push(reported - fetched);
        total.push(seen - created);
      }),
    );
  }

  // Side by side: the same devices, an EVE-native AppInstance created directly (no Pod layer).
  await client.create({ group: 'eve.kubeve.io', version: 'v1alpha1', resource: 'datastores' }, 'default', {
    metadata: { name: 'hub' },
    spec: { type: 'container-registry', url: 'docker://docker.io' },
  });
  const direct: number[] = [];
  await Promise.all(
    devices.map(async (en, j) => {
      await sleep((j * POLL_MS) / devices.length);
      const uuid = en.status.uuid as string;
      const created = performance.now();
      const app = await client.create({ group: 'eve.kubeve.io', version: 'v1alpha1', resource: 'appinstances' }, 'default', {
        metadata: { name: `direct-${j}`, namespace: 'default' },
        spec: {
          nodeName: en.metadata.name,
          image: 'library/nginx:1.27',
          datastoreRef: { name: 'hub' },
          resources: { cpus: 1, memory: '64Mi' },
          networks: [{ networkInstanceRef: { name: 'kubeve-pods' } }],
        },
      });
      for (;;) {
        if (k.device.getConfig(uuid)?.config.apps.some((a) => a.displayname.includes(app.metadata.name))) break;
        await sleep(1);
      }
      direct.push(performance.now() - created);
    }),
  );

  console.log(
    `\n== ${n.toLocaleString('en')} EVE nodes (${n - K} registered + ${K} simulated over TLS; fleet online in ${fleetS.toFixed(0)} s; bridge made ${n} Nodes + Leases in ${bridgeS.toFixed(1)} s)`,
  );
  console.log(
    `Node/Lease memory per device: heap ${((heap1 - heap0) / n / 1024).toFixed(2)} KiB (${(heap0 / 2 ** 20).toFixed(0)} → ${(heap1 / 2 ** 20).toFixed(0)} MiB); stored JSON: Node ${nodeJson} B + Lease ${leaseJson} B`,
  );
  console.log(
    `steady state (${STEADY_S} s, every device polling every 10 s): ${per(w1.rev - w0.rev)} storage writes per device per minute in all; Node ${per(w1.node - w0.node)}, Lease ${per(w1.lease - w0.lease)}, other ${per(w1.rev - w0.rev - (w1.node - w0.node) - (w1.lease - w0.lease))}`,
  );
  console.log(
    `pod create → Running (${total.length} pods, ${K} devices polling every 10 s${missed ? `; ${missed} not sampled: no device poll within 60 s` : ''}): total ${ms(total)}`,
  );
  console.log(`  controller part ${ms(controller)} (create → config served ${ms(toServed)}; device report → Pod Running ${ms(toStatus)})`);
  console.log(`  side by side, an AppInstance created directly (no Pod): create → config served ${ms(direct)}`);
  console.log(`  poll wait ${ms(pollWait)} | device (simulated download/boot) ${ms(device)}`);

  stopPolls = true;
  await polls;
  await fleet.stop();
  await bridge.stop();
  await k.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

if (!gc) console.log('(run with --expose-gc for stable memory figures)');
for (const n of SIZES) await run(n);
