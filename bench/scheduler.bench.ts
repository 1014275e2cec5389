// Scheduler benchmark: pods/s and per-pod scheduling latency onto 10,000 Nodes (BENCH_NODES), the
// scheduler on the embedded server's in-process client, as `kubeve server` runs it. Pods are
// created by 8 concurrent writers while the scheduler binds them; throughput = pods / (first
// create → last bind seen by a watch). Latency = pod seen by the scheduler's informer → binding
// written; it is measured twice: in the flood (queue wait included) and at BENCH_RATE pods/s
// offered (200 by default), which shows the per-pod cost without a backlog. Last, a Deployment of
// 1,000 replicas through the ReplicaSet/Deployment controllers, timed to all pods bound, with the
// process heap (after a full GC) before and after: the memory the API server's caches, the
// controllers' informers and the scheduler's state take per 1,000 pods. Beside it, the same pod
// creates alone (no scheduler), to show what binding costs.
//
//   npm run bench:scheduler         (BENCH_NODES=10000 BENCH_PODS=3000 by default)

import { mkdtempSync, rmSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer } from '../src/server/apiserver.ts';
import { InProcessClient, SharedInformerFactory, type KObject } from '../src/controllers/runtime/index.ts';
import { Scheduler } from '../src/controllers/scheduler/scheduler.ts';
import { ClusterState } from '../src/controllers/scheduler/cluster.ts';
import { NODES, PODS, DEPLOYMENTS } from '../src/controllers/workloads/common.ts';
import { WorkloadControllers } from '../src/controllers/workloads/index.ts';

const NODE_COUNT = Number(process.env.BENCH_NODES ?? 10_000);
const POD_COUNT = Number(process.env.BENCH_PODS ?? 3000);
const WRITERS = 8;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// A full GC before each heap reading, without a node flag in the npm script.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const settledHeap = async () => {
  await new Promise((r) => setTimeout(r, 1000));
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const dir = mkdtempSync(join(tmpdir(), 'kubeve-bench-sched-'));
const api = await startApiServer({ dataDir: join(dir, 'data'), port: 0 });
const client = new InProcessClient(api.service, api.registry);

try {
  let t0 = performance.now();
  const zones = ['a', 'b', 'c'];
  for (let i = 0; i < NODE_COUNT; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, NODE_COUNT - i) }, (_, j) =>
        client.create(NODES, undefined, {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: `node-${i + j}`,
            labels: { 'kubernetes.io/hostname': `node-${i + j}`, 'topology.kubernetes.io/zone': zones[(i + j) % 3], site: (i + j) % 2 ? 'lab' : 'field' },
          },
          status: { allocatable: { cpu: '4', memory: '16Gi', pods: '110' }, capacity: { cpu: '4', memory: '16Gi', pods: '110' } },
        }),
      ),
    );
  }
  console.log(`${NODE_COUNT} nodes created in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const pod = (name: string): KObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench' } },
    spec: { nodeSelector: { site: 'lab' }, containers: [{ name: 'c', image: 'pause', resources: { requests: { cpu: '100m', memory: '128Mi' } } }] },
  });
  const createAll = async (prefix: string) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < POD_COUNT) await client.create(PODS, 'default', pod(`${prefix}-${next++}`));
      }),
    );
  };

  // The decisions alone (ClusterState.schedule, no API writes): what the scheduler's own code costs per pod.
  {
    const cluster = new ClusterState();
    for (const n of (await client.list(NODES, undefined)).items) cluster.setNode(n);
    const d0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < POD_COUNT; i++) {
      const p = { ...pod(`dry-${i}`), metadata: { name: `dry-${i}`, namespace: 'default', labels: { app: 'bench' } } };
      const r = cluster.schedule(p, `default/dry-${i}`);
      if ('node' in r) cluster.place(`default/dry-${i}`, r.node, p);
    }
    const ds = (performance.now() - d0) / 1000;
    const cpu = process.cpuUsage(c0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    // CPU time as well as wall time: on a shared machine the wall clock includes waiting for a core.
    console.log(
      `decisions alone (filters + scores, no writes): ${(POD_COUNT / ds).toFixed(0)} pods/s wall, ${(cpuMs / POD_COUNT).toFixed(2)} ms CPU per pod (${((POD_COUNT * 1000) / cpuMs).toFixed(0)} pods per CPU-second)`,
    );
  }

  // Baseline: the same creates with no scheduler running.
  t0 = performance.now();
  await createAll('base');
  const baseSeconds = (performance.now() - t0) / 1000;
  console.log(`baseline: ${POD_COUNT} pod creates alone: ${(POD_COUNT / baseSeconds).toFixed(0)} pods/s`);

  const factory = new SharedInformerFactory(client);
  const scheduler = new Scheduler(client, factory, { recordLatencies: true });
  // Only the measured pods: the baseline ones are deleted first so the queue starts empty.
  await Promise.all(Array.from({ length: POD_COUNT }, (_, i) => client.delete(PODS, 'default', `base-${i}`, { gracePeriodSeconds: 0 })));
  const watch = new SharedInformerFactory(client).informerFor(PODS);
  let bound = 0;
  let done!: () => void;
  const allBound = new Promise<void>((r) => (done = r));
  const seen = new Set<string>();
  const onPod = (p: KObject) => {
    if (p.spec?.nodeName && p.metadata.name.startsWith('run-') && !seen.has(p.metadata.name)) {
      seen.add(p.metadata.name);
      if (++bound === POD_COUNT) done();
    }
  };
  watch.addEventHandler({ onAdd: onPod, onUpdate: (_, p) => onPod(p) });
  watch.start();
  factory.start();
  await Promise.all([factory.waitForCacheSync(), watch.waitForSync()]);
  scheduler.run();

  const mem0 = process.memoryUsage().rss;
  t0 = performance.now();
  await createAll('run');
  await allBound;
  const seconds = (performance.now() - t0) / 1000;
  const lat = scheduler.latencies;
  console.log(`scheduled ${POD_COUNT} pods onto ${NODE_COUNT} nodes in ${seconds.toFixed(2)} s: ${(POD_COUNT / seconds).toFixed(0)} pods/s (creates included)`);
  console.log(`per-pod scheduling latency: p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms (n=${lat.length})`);
  console.log(`ratio to creates alone: ${(POD_COUNT / seconds / (POD_COUNT / baseSeconds)).toFixed(2)}; rss ${(mem0 / 2 ** 20).toFixed(0)} MiB before the run`);

  // Latency without a backlog: pods created at a fixed rate below the throughput.
  const RATE = Number(process.env.BENCH_RATE ?? 200);
  const paced = Math.min(POD_COUNT, RATE * 5);
  lat.length = 0;
  t0 = performance.now();
  for (let i = 0; i < paced; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    void client.create(PODS, 'default', pod(`paced-${i}`));
  }
  while (lat.length < paced && performance.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
  console.log(`at ${RATE} pods/s offered: p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms (n=${lat.length})`);
  const placed = new Set(
    (await client.list(PODS, 'default', { labelSelector: 'app=bench' })).items.filter((p) => p.metadata.name.startsWith('run-')).map((p) => p.spec.nodeName),
  );
  console.log(`distinct nodes used: ${placed.size}`);

  // A Deployment of 1,000 replicas (BENCH_REPLICAS) through the ReplicaSet and Deployment controllers: wall time to all bound.
  const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 1000);
  const controllers = new WorkloadControllers(client, { scheduler: false });
  await controllers.start();
  let deployBound = 0;
  let deployDone!: () => void;
  const allDeployBound = new Promise<void>((r) => (deployDone = r));
  const seenDeploy = new Set<string>();
  watch.addEventHandler({
    onUpdate: (_, p) => {
      if (p.spec?.nodeName && p.metadata.labels?.app === 'big' && !seenDeploy.has(p.metadata.name)) {
        seenDeploy.add(p.metadata.name);
        if (++deployBound === REPLICAS) deployDone();
      }
    },
  });
  const heap0 = await settledHeap();
  t0 = performance.now();
  await client.create(DEPLOYMENTS, 'default', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'big' },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: 'big' } },
      template: { metadata: { labels: { app: 'big' } }, spec: { containers: [{ name: 'c', image: 'pause', resources: { requests: { cpu: '10m' } } }] } },
    },
  });
  await allDeployBound;
  console.log(`Deployment of ${REPLICAS} replicas: all bound in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  // Let the controllers' status writes and the kubelet-less pods settle, then read the heap again.
  const heap1 = await settledHeap();
  console.log(
    `heap per 1,000 pods (API server caches + controllers + scheduler, one process): ${(((heap1 - heap0) / 2 ** 20) * (1000 / REPLICAS)).toFixed(1)} MiB (heap ${(heap0 / 2 ** 20).toFixed(0)} → ${(heap1 / 2 ** 20).toFixed(0)} MiB)`,
  );
  await controllers.stop();
  scheduler.stop();
  factory.stop();
  watch.stop();
} finally {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
}
