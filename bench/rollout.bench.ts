// Rollout controller benchmark (npm run bench:rollout).
//
// The embedded API server holds N EdgeNodes (default 10,000) with device status as the EVE
// controllers write it. No simulators: a "device writer" in this process plays the devices, writing
// EdgeNode status straight through the client (download 50 % → new partition active and committed)
// a few ms after a device is pinned. One BaseOSRollout covers them all (batches 100 / 10 % / rest,
// maxUnavailable 1,000). Figures:
// 1. Memory per device: heap and RSS (after GC) before the rollout controller starts and after it
//    listed the fleet and wrote the rollout's status with every device in it.
// 2. Reconcile CPU: one pass over all N devices with nothing to write (the cost each device report
//    triggers, at worst), timed with process.cpuUsage over many passes; and during the rollout,
//    reconciles per device status change (the work queue coalesces reports into one pass).
// 3. Commit report → batch status: from the moment the device writer sends a device's committed
//    status until the rollout's status, as written, counts that device Updated in its batch. p50/p99.
//
// Env: BENCH_DEVICES (default 10000), BENCH_PASSES (default 50).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApiServer } from '../src/server/apiserver.ts';
import { InProcessClient, SharedInformerFactory, type KObject } from '../src/controllers/runtime/index.ts';
import { installCrds } from '../src/controllers/eve/install.ts';
import { EDGENODES, rfc3339 } from '../src/controllers/eve/status.ts';
import { BASEOSROLLOUTS, RolloutController } from '../src/controllers/rollout/index.ts';

const N = Number(process.env.BENCH_DEVICES ?? 10_000);
const PASSES = Number(process.env.BENCH_PASSES ?? 50);
const OLD = '14.5.1-kvm-amd64';
const NEW = '14.6.0-kvm-amd64';
const gc = (globalThis as { gc?: () => void }).gc;

async function settle(): Promise<{ heap: number; rss: number }> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const partition = (label: string, version: string, state: string, status: string, progress?: number) => ({
  label,
  version,
  state,
  status,
  ...(progress !== undefined ? { progress } : {}),
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-bench-rollout-'));
const api = await startApiServer({ dataDir: dir, port: 0 });
const client = new InProcessClient(api.service, api.registry);
await installCrds(client);
const t0 = Date.now();
for (let i = 0; i < N; i++) {
  const name = `node-${String(i).padStart(5, '0')}`;
  await client.create(EDGENODES, undefined, {
    metadata: { name, labels: { fleet: 'bench' } },
    spec: { serial: name, baseOS: { version: OLD, image: `lfedge/eve:${OLD}` } },
  });
  await client.patch(
    EDGENODES,
    undefined,
    name,
    'merge',
    { status: { phase: 'Online', eveVersion: OLD, partitions: [partition('IMGA', OLD, 'active', 'UPDATED'), partition('IMGB', '', 'unused', 'NONE')] } },
    { subresource: 'status' },
  );
}
console.log(`${N.toLocaleString('en')} EdgeNodes created in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

// The shared EdgeNode informer exists before the controller (as in the server, where the EVE controllers own it).
const informers = new SharedInformerFactory(client);
informers.informerFor(EDGENODES);
informers.start();
await informers.waitForCacheSync();
const before = await settle();
const ctl = new RolloutController(client, { informers });
await ctl.start();

// Reconcile CPU: a paused rollout with every device listed; passes change nothing and write nothing.
await client.create(BASEOSROLLOUTS, undefined, {
  apiVersion: 'eve.kubeve.io/v1alpha1',
  kind: 'BaseOSRollout',
  metadata: { name: 'fleet' },
  spec: {
    version: NEW,
    image: `lfedge/eve:${NEW}`,
    selector: { matchLabels: { fleet: 'bench' } },
    batches: [{ size: 100 }, { size: '10%' }],
    maxUnavailable: 1000,
    paused: true,
    healthWindowSeconds: 60,
  },
});
for (;;) {
  const r = await client.get(BASEOSROLLOUTS, undefined, 'fleet');
  if (r.status?.total === N && r.status?.phase === 'Paused') break;
  await new Promise((res) => setTimeout(res, 50));
}
await ctl.controller.idle();
const after = await settle();
await new Promise((r) => setTimeout(r, 500));
const cpu0 = process.cpuUsage();
const w0 = performance.now();
for (let i = 0; i < PASSES; i++) await ctl.reconcile('fleet');
const cpu = process.cpuUsage(cpu0);
const passCpuMs = (cpu.user + cpu.system) / 1000 / PASSES;
const passWallMs = (performance.now() - w0) / PASSES;

// The device writer: pinned devices download, then commit; commit send times are kept.
const committedAt = new Map<string, number>();
const latencies: number[] = [];
/** When the API server had stored the commit report (the write returned). */
const acceptedAt = new Map<string, number>();
const fromAccepted: number[] = [];
let statusChanges = 0;
const progressed = new Set<string>();
const deviceStep = async (n: KObject) => {
  const name = String(n.metadata?.name);
  if (n.spec?.baseOS?.version !== NEW || n.spec.baseOS.activate === false || committedAt.has(name) || progressed.has(name)) return;
  progressed.add(name);
  await new Promise((r) => setTimeout(r, 5));
  await client.patch(
    EDGENODES,
    undefined,
    name,
    'merge',
    { status: { partitions: [partition('IMGA', OLD, 'active', 'NONE'), partition('IMGB', NEW, 'unused', 'DOWNLOADING', 50)] } },
    { subresource: 'status' },
  );
  statusChanges++;
  await new Promise((r) => setTimeout(r, 20));
  committedAt.set(name, performance.now());
  await client.patch(
    EDGENODES,
    undefined,
    name,
    'merge',
    {
      status: {
        eveVersion: NEW,
        lastRebootTime: rfc3339(),
        partitions: [partition('IMGA', OLD, 'unused', 'NONE'), partition('IMGB', NEW, 'active', 'UPDATED')],
      },
    },
    { subresource: 'status' },
  );
  acceptedAt.set(name, performance.now());
  statusChanges++;
};
informers.informerFor(EDGENODES).addEventHandler({ onUpdate: (_, n) => void deviceStep(n).catch((e) => console.error(e)) });
const reported = new Set<string>();
ctl.onStatusWritten = (r) => {
  const now = performance.now();
  // Updated devices are listed by name in their batch.
  for (const b of r.status?.batches ?? []) {
    for (const name of b.updatedDevices ?? []) {
      if (reported.has(name)) continue;
      reported.add(name);
      const at = committedAt.get(name);
      if (at !== undefined) latencies.push(now - at);
      const acc = acceptedAt.get(name);
      if (acc !== undefined) fromAccepted.push(now - acc);
    }
  }
};
// Where the time of a pass goes during the rollout: whole reconciles, and the rollout status writes in them.
const passWall: number[] = [];
const writeWall: number[] = [];
const reconcile = ctl.reconcile.bind(ctl);
ctl.reconcile = async (key: string) => {
  const t = performance.now();
  try {
    return await reconcile(key);
  } finally {
    passWall.push(performance.now() - t);
  }
};
const updateStatus = client.updateStatus.bind(client);
client.updateStatus = async (...args: Parameters<typeof client.updateStatus>) => {
  const t = performance.now();
  try {
    return await updateStatus(...args);
  } finally {
    if (args[0].resource === 'baseosrollouts') writeWall.push(performance.now() - t);
  }
};
const reconciles0 = ctl.controller.stats.reconciles;
const cpuRun0 = process.cpuUsage();
const t1 = Date.now();
await client.patch(BASEOSROLLOUTS, undefined, 'fleet', 'merge', { spec: { paused: false } });
let final: KObject;
for (;;) {
  final = await client.get(BASEOSROLLOUTS, undefined, 'fleet');
  if (['Completed', 'Failed'].includes(final.status?.phase)) break;
  await new Promise((res) => setTimeout(res, 200));
}
const runS = (Date.now() - t1) / 1000;
const runCpu = process.cpuUsage(cpuRun0);
const reconciles = ctl.controller.stats.reconciles - reconciles0;
const statusBytes = JSON.stringify(final.status).length;

console.log(`\n== rollout controller, ${N.toLocaleString('en')} devices`);
console.log(
  `memory per device: heap ${((after.heap - before.heap) / N / 1024).toFixed(2)} KiB, RSS ${((after.rss - before.rss) / N / 1024).toFixed(2)} KiB (controller + rollout status with ${N} devices, ${(statusBytes / 1024).toFixed(0)} KiB as JSON; the EdgeNode cache is shared and not counted)`,
);
console.log(`reconcile pass over ${N} devices (nothing to write): ${passCpuMs.toFixed(1)} ms CPU, ${passWallMs.toFixed(1)} ms wall (${PASSES} passes)`);
console.log(
  `rollout: ${final.status.phase} in ${runS.toFixed(1)} s, ${final.status.updated} updated; ${statusChanges} device status changes handled by ${reconciles} reconciles (${(statusChanges / Math.max(1, reconciles)).toFixed(1)} changes per reconcile)`,
);
console.log(
  `reconcile CPU per device status change: ${((passCpuMs * reconciles) / Math.max(1, statusChanges)).toFixed(2)} ms (pass CPU × reconciles / changes); whole process during the rollout (API server, writer, controller): ${((runCpu.user + runCpu.system) / 1000 / Math.max(1, statusChanges)).toFixed(2)} ms per change`,
);
console.log(
  `during the rollout: reconcile wall p50 ${pct(passWall, 50).toFixed(0)} ms, p99 ${pct(passWall, 99).toFixed(0)} ms; rollout status write p50 ${pct(writeWall, 50).toFixed(0)} ms, p99 ${pct(writeWall, 99).toFixed(0)} ms (${writeWall.length} writes)`,
);
console.log(
  `commit report → batch status (${latencies.length} devices), from the report being sent: p50 ${pct(latencies, 50).toFixed(0)} ms, p99 ${pct(latencies, 99).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms; from it being stored: p50 ${pct(fromAccepted, 50).toFixed(0)} ms, p99 ${pct(fromAccepted, 99).toFixed(0)} ms`,
);

await ctl.stop();
informers.stop();
await api.close();
fs.rmSync(dir, { recursive: true, force: true });
