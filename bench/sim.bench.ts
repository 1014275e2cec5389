// Fleet-scale measurement: N simulated devices at EVE's default timers against the real device
// API, one process each (this script forks itself as the server).
//
//   node --import tsx bench/sim.bench.ts [N=1000] [seconds=150]
//
// Reports onboarding time, request rate, device request latency (p50/p99, overall and per
// endpoint), TLS resumption, resident memory per simulated device, and the server's RSS.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ServerReady {
  port: number;
  rootCertPem: string;
  onboard: { certPem: string; keyPem: string };
  pid: number;
}

async function serverChild(): Promise<void> {
  const { startDeviceApi } = await import('../src/eve/device-api.ts');
  const { OnboardingAllowList } = await import('../src/eve/onboarding.ts');
  const { issueOnboardingCert } = await import('../src/eve/pki.ts');
  const { baseConfig } = await import('../test/sim/helpers.ts');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-simbench-'));
  const allow = new OnboardingAllowList();
  const api = await startDeviceApi({
    dataDir: dir,
    host: '127.0.0.1',
    port: 0,
    tlsHosts: ['localhost', '127.0.0.1'],
    hooks: { admitOnboarding: (r) => allow.admit(r), desiredConfig: (uuid) => baseConfig(uuid) },
  });
  const onboard = await issueOnboardingCert(api.pki);
  allow.allow(onboard.certPem, '*');
  process.send!({ port: api.port, rootCertPem: api.pki.root.certPem, onboard: { certPem: onboard.certPem, keyPem: onboard.keyPem }, pid: process.pid } satisfies ServerReady);
  process.on('message', async (m) => {
    if (m === 'rss') process.send!({ rss: process.memoryUsage().rss, devices: api.deviceCount });
    if (m === 'stop') {
      await api.close();
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  });
}

export interface SimBenchResult {
  devices: number;
  seconds: number;
  onboardSeconds: number;
  requests: number;
  requestsPerSecond: number;
  networkErrors: number;
  p50Ms: number;
  p99Ms: number;
  configP99Ms: number;
  tlsResumedPct: number;
  rssPerDeviceKiB: number;
  heapPerDeviceKiB: number;
  serverRssMiB: number;
  configsApplied: number;
  errors: number;
}

/** Run the measurement; resolves with the figures (also printed). */
export async function simBench(n: number, seconds: number): Promise<SimBenchResult> {
  const child = fork(fileURLToPath(import.meta.url), ['--server-child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<ServerReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ServerReady));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const ask = () => new Promise<{ rss: number; devices: number }>((resolve) => {
    child.once('message', (m) => resolve(m as { rss: number; devices: number }));
    child.send('rss');
  });
  const { SimFleet } = await import('../src/sim/fleet.ts');
  const { fleetStatusLine } = await import('../src/sim/progress.ts');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = process.memoryUsage();
  const fleet = await SimFleet.create({
    server: `localhost:${ready.port}`,
    rootCertPem: ready.rootCertPem,
    onboard: ready.onboard,
    count: n,
    serialPrefix: 'bench-',
    startSpreadMs: Math.min(n * 10, 60_000),
  });
  const t0 = Date.now();
  fleet.start();
  const progress = setInterval(() => console.error(fleetStatusLine(fleet, t0)), 10_000);
  await fleet.waitFor((f) => f.counts().configured === n, 30 * 60_000, 'all devices configured');
  const onboardSeconds = (Date.now() - t0) / 1000;
  // let the onboarding info storm settle (apps RUNNING, info queues drained) before measuring
  await fleet
    .waitFor((f) => f.devices.every((d) => !d.model.busy() && d.pendingInfo === 0), 10 * 60_000, 'quiescent fleet')
    .catch((e) => console.error(String(e)));
  // steady state: measure latency from here on
  fleet.stats.latency.reset();
  for (const h of fleet.stats.byEndpoint.values()) h.reset();
  const r0 = fleet.stats.requests;
  const t1 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(progress);
  gc?.();
  const mem = process.memoryUsage();
  const srv = await ask();
  const s = fleet.stats;
  const elapsed = (Date.now() - t1) / 1000;
  const res: SimBenchResult = {
    devices: n,
    seconds: Math.round(elapsed),
    onboardSeconds: Math.round(onboardSeconds * 10) / 10,
    requests: s.requests - r0,
    requestsPerSecond: Math.round(((s.requests - r0) / elapsed) * 10) / 10,
    networkErrors: s.networkErrors,
    p50Ms: round(s.latency.quantile(0.5)),
    p99Ms: round(s.latency.quantile(0.99)),
    configP99Ms: round(s.byEndpoint.get('config')?.quantile(0.99) ?? 0),
    tlsResumedPct: Math.round((s.tlsResumed / Math.max(1, s.tlsResumed + s.tlsFull)) * 1000) / 10,
    rssPerDeviceKiB: Math.round((mem.rss - base.rss) / 1024 / n),
    heapPerDeviceKiB: Math.round((mem.heapUsed - base.heapUsed) / 1024 / n),
    serverRssMiB: Math.round(srv.rss / 1048576),
    configsApplied: s.configsApplied,
    errors: fleet.devices.filter((d) => d.lastError).length,
  };
  await fleet.stop();
  child.send('stop');
  await new Promise((r) => child.once('exit', r));
  return res;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

if (process.argv.includes('--server-child')) {
  await serverChild();
} else if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const n = Number(process.argv[2] ?? 1000);
  const secs = Number(process.argv[3] ?? 150);
  const r = await simBench(n, secs);
  console.log(JSON.stringify(r, null, 2));
}
