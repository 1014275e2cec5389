// Fleet-scale measurement: N simulated devices at EVE's default timers against the real device
// API, server and simulator on the same machine. The server runs in a child process (this script
// forked with --server-child); the simulator runs as a ProcessFleet of worker processes.
//
//   node --import tsx bench/sim.bench.ts [N=1000] [seconds=150] [--procs K=2] [--spread S] [--malloc jemalloc|glibc]
//
// Devices power on evenly over S seconds (default max(60, N/20): a fleet is rolled out, it does
// not boot at once). Once every device has its config and the onboarding info burst has drained,
// the steady-state window starts: request rate, device request latency (p50/p99, overall and
// config polls), network errors, CPU per request of server and simulator, resident memory per
// simulated device and per registered device (server). KUBEVE_BENCH_PROFILE=<dir> writes CPU
// profiles of the window.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startCpuProfile, type CpuProfile } from '../src/sim/cpu-profile.ts';
import { jemallocPath, preferJemalloc } from '../src/sim/allocator.ts';

const PROFILE_DIR = process.env.KUBEVE_BENCH_PROFILE;

// Server and simulator run with jemalloc when it is installed (see src/sim/allocator.ts), unless
// --malloc glibc: the README reports both.
const JEMALLOC = jemallocPath();

function childEnv(malloc: string): NodeJS.ProcessEnv {
  if (malloc === 'glibc') return { ...process.env, LD_PRELOAD: (process.env.LD_PRELOAD ?? '').replace(/[^:]*jemalloc[^:]*:?/g, '') };
  if (!JEMALLOC) throw new Error('--malloc jemalloc: libjemalloc.so.2 not found (apt-get install libjemalloc2)');
  return preferJemalloc(process.env);
}

interface ServerReady {
  port: number;
  rootCertPem: string;
  onboard: { certPem: string; keyPem: string };
}

interface ServerSample {
  rss: number;
  devices: number;
  cpu: NodeJS.CpuUsage;
  loopDelayMs: { p99: number; max: number };
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
  process.send!({ port: api.port, rootCertPem: api.pki.root.certPem, onboard: { certPem: onboard.certPem, keyPem: onboard.keyPem } } satisfies ServerReady);
  let prof: CpuProfile | undefined;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  process.on('message', async (m: string) => {
    if (m === 'sample') {
      const loopDelayMs = { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
      loop.reset();
      process.send!({ rss: process.memoryUsage().rss, devices: api.deviceCount, cpu: process.cpuUsage(), loopDelayMs } satisfies ServerSample);
    }
    if (m === 'profile-start') prof = await startCpuProfile();
    if (m === 'profile-stop') await prof?.stop(path.join(PROFILE_DIR!, 'server.cpuprofile'));
    if (m === 'stop') {
      await api.close();
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  });
}

export interface SimBenchResult {
  devices: number;
  simulatorProcesses: number;
  spreadSeconds: number;
  onboardSeconds: number;
  settleSeconds: number;
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  /** Requests without an HTTP response, during the steady-state window. */
  networkErrors: number;
  /** Non-2xx/304 responses during the window, by status. */
  failures: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  configP99Ms: number;
  tlsResumedPct: number;
  serverCpuPerRequestUs: number;
  simulatorCpuPerRequestUs: number;
  serverCpuPct: number;
  simulatorCpuPct: number;
  simRssPerDeviceKiB: number;
  simHeapPerDeviceKiB: number;
  serverRssMiB: number;
  /** Event-loop delay during the window, p99 / max (ms): stalls of the processes themselves. */
  serverLoopDelayMs: { p99: number; max: number };
  simulatorLoopDelayMs: { p99: number; max: number };
  allocator: string;
}

/** Run the measurement; resolves with the figures. */
export async function simBench(
  n: number,
  seconds: number,
  {
    procs = 2,
    spreadSeconds = Math.max(60, n / 20),
    malloc = JEMALLOC ? 'jemalloc' : 'glibc',
  }: { procs?: number; spreadSeconds?: number; malloc?: string } = {},
): Promise<SimBenchResult> {
  const env = childEnv(malloc);
  const child = fork(fileURLToPath(import.meta.url), ['--server-child'], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<ServerReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ServerReady));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const sample = () =>
    new Promise<ServerSample>((resolve) => {
      child.once('message', (m) => resolve(m as ServerSample));
      child.send('sample');
    });
  const { ProcessFleet } = await import('../src/sim/process-fleet.ts');
  const { fleetStatusLine } = await import('../src/sim/progress.ts');
  const { isSuccess } = await import('../src/sim/transport.ts');
  const fleet = await ProcessFleet.create({
    // an IP address: EVE resolves the controller's name per request too, but a resolver round
    // trip through libuv's thread pool would only load the shared machine further
    server: `127.0.0.1:${ready.port}`,
    rootCertPem: ready.rootCertPem,
    onboard: ready.onboard,
    count: n,
    serialPrefix: 'bench-',
    startSpreadMs: spreadSeconds * 1000,
    procs,
    env,
  });
  const t0 = Date.now();
  fleet.start();
  let lastLine = 0;
  const line = () => {
    if (Date.now() - lastLine < 10_000) return;
    lastLine = Date.now();
    console.error(fleetStatusLine(fleet, t0));
  };
  await fleet.waitFor((f) => (line(), f.counts().configured === n), 60 * 60_000, 'all devices configured');
  const onboardSeconds = (Date.now() - t0) / 1000;
  // the onboarding info burst drains (apps reach RUNNING, info queues empty) before measuring
  await fleet.waitFor((f) => (line(), f.quiescent), 20 * 60_000, 'quiescent fleet').catch((e) => console.error(String(e)));
  const settleSeconds = (Date.now() - t0) / 1000 - onboardSeconds;

  // steady state
  await fleet.resetLatency();
  const before = await fleet.refresh();
  const stats0 = {
    requests: fleet.stats.requests,
    net: fleet.stats.networkErrors,
    resumed: fleet.stats.tlsResumed,
    full: fleet.stats.tlsFull,
    statuses: new Map(fleet.stats.statuses),
  };
  const srv0 = await sample();
  if (PROFILE_DIR) {
    child.send('profile-start');
    await fleet.profile(true);
  }
  const t1 = Date.now();
  const end = t1 + seconds * 1000;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, Math.min(10_000, end - Date.now())));
    await fleet.refresh();
    line();
  }
  if (PROFILE_DIR) {
    child.send('profile-stop');
    await fleet.profile(false, (i) => path.join(PROFILE_DIR, `simulator-${i}.cpuprofile`));
  }
  const after = await fleet.refresh();
  const srv = await sample();
  const elapsed = (Date.now() - t1) / 1000;
  const s = fleet.stats;
  const requests = s.requests - stats0.requests;
  const cpuUs = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => b.user + b.system - a.user - a.system;
  const simCpu = after.reduce((sum, a, i) => sum + cpuUs(before[i]!.cpu, a.cpu), 0);
  const srvCpu = cpuUs(srv0.cpu, srv.cpu);
  const failures: Record<string, number> = {};
  for (const [code, count] of s.statuses) {
    const d = count - (stats0.statuses.get(code) ?? 0);
    if (d > 0 && !isSuccess(code)) failures[code] = d;
  }
  const res: SimBenchResult = {
    devices: n,
    simulatorProcesses: after.length,
    spreadSeconds,
    onboardSeconds: round(onboardSeconds),
    settleSeconds: round(settleSeconds),
    seconds: Math.round(elapsed),
    requests,
    requestsPerSecond: round(requests / elapsed),
    networkErrors: s.networkErrors - stats0.net,
    failures,
    p50Ms: round(s.latency.quantile(0.5)),
    p99Ms: round(s.latency.quantile(0.99)),
    maxMs: round(s.latency.max),
    configP99Ms: round(s.byEndpoint.get('config')?.quantile(0.99) ?? 0),
    tlsResumedPct: round(((s.tlsResumed - stats0.resumed) / Math.max(1, s.tlsResumed - stats0.resumed + s.tlsFull - stats0.full)) * 100),
    serverCpuPerRequestUs: Math.round(srvCpu / Math.max(1, requests)),
    simulatorCpuPerRequestUs: Math.round(simCpu / Math.max(1, requests)),
    serverCpuPct: round((srvCpu / 1e6 / elapsed) * 100),
    simulatorCpuPct: round((simCpu / 1e6 / elapsed) * 100),
    simRssPerDeviceKiB: Math.round(after.reduce((sum, a) => sum + a.rss - a.baseRss, 0) / 1024 / n),
    simHeapPerDeviceKiB: Math.round(after.reduce((sum, a) => sum + a.heapUsed - a.baseHeap, 0) / 1024 / n),
    serverRssMiB: Math.round(srv.rss / 1048576),
    serverLoopDelayMs: { p99: round(srv.loopDelayMs.p99), max: round(srv.loopDelayMs.max) },
    simulatorLoopDelayMs: {
      p99: round(Math.max(...after.map((a) => a.loopDelayMs.p99))),
      max: round(Math.max(...after.map((a) => a.loopDelayMs.max))),
    },
    allocator: malloc,
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
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { procs: { type: 'string' }, spread: { type: 'string' }, malloc: { type: 'string' } },
  });
  const n = Number(positionals[0] ?? 1000);
  const secs = Number(positionals[1] ?? 150);
  const r = await simBench(n, secs, {
    ...(values.procs ? { procs: Number(values.procs) } : {}),
    ...(values.spread ? { spreadSeconds: Number(values.spread) } : {}),
    ...(values.malloc ? { malloc: values.malloc } : {}),
  });
  console.log(JSON.stringify(r, null, 2));
}
