// `kubeve sim`: run a fleet of simulated EVE devices against a controller.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { SimFleet } from './fleet.ts';
import { ProcessFleet, toFleetOptions, type FleetView, type WorkerFleetOptions } from './process-fleet.ts';
import { startProgress } from './progress.ts';
import { SECOND } from './clock.ts';
import type { SimAdapter } from './model.ts';

interface SimCliOptions {
  server?: string;
  rootCert?: string;
  onboardCert?: string;
  onboardKey?: string;
  bootstrapDir?: string;
  count: string;
  serialPrefix: string;
  firstIndex: string;
  timeScale: string;
  configInterval?: string;
  metricInterval?: string;
  spread?: string;
  duration?: string;
  logs: boolean;
  metrics: boolean;
  attest?: boolean;
  clientCerts?: boolean;
  failImage?: string;
  adapters?: string;
  failUpdate?: string;
  offline?: string;
  clockSkew?: string;
  json?: boolean;
  procs: string;
}

function readFile(p: string, what: string): string {
  try {
    return fs.readFileSync(p, 'latin1');
  } catch (e) {
    throw new Error(`cannot read ${what} ${p}: ${(e as Error).message}`);
  }
}

/** Resolve --bootstrap-dir (files written by `kubeve bootstrap`) and explicit flags; flags win. */
export function resolveBootstrap(o: Pick<SimCliOptions, 'server' | 'rootCert' | 'onboardCert' | 'onboardKey' | 'bootstrapDir'>): {
  server: string;
  rootCertPem: string;
  onboard?: { certPem: string; keyPem: string };
} {
  const dir = o.bootstrapDir;
  const inDir = (f: string) => (dir && fs.existsSync(path.join(dir, f)) ? path.join(dir, f) : undefined);
  const server = o.server ?? (inDir('server') ? readFile(inDir('server')!, 'server file').trim() : undefined);
  if (!server) throw new Error('no controller address: pass --server <host:port> or --bootstrap-dir with a "server" file');
  const rootPath = o.rootCert ?? inDir('root-certificate.pem');
  if (!rootPath) throw new Error('no root certificate: pass --root-cert <pem> or --bootstrap-dir with root-certificate.pem');
  const certPath = o.onboardCert ?? inDir('onboard.cert.pem');
  const keyPath = o.onboardKey ?? inDir('onboard.key.pem');
  if (!!certPath !== !!keyPath) throw new Error('--onboard-cert and --onboard-key go together');
  return {
    server,
    rootCertPem: readFile(rootPath, 'root certificate'),
    ...(certPath && keyPath ? { onboard: { certPem: readFile(certPath, 'onboarding certificate'), keyPem: readFile(keyPath, 'onboarding key') } } : {}),
  };
}

function num(v: string | undefined, name: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

const ADAPTER_NAMES: Record<SimAdapter['type'], string> = { usb: 'USB', pci: 'PCI', serial: 'COM', gpu: 'GPU' };

/** "usb:2,serial:1" → USB1, USB2, COM1. */
export function parseAdapters(spec: string): SimAdapter[] {
  const out: SimAdapter[] = [];
  for (const part of spec.split(',').filter(Boolean)) {
    const [kind, count] = part.split(':');
    const n = Number(count ?? '1');
    if (!(kind! in ADAPTER_NAMES) || !Number.isInteger(n) || n < 1 || n > 64)
      throw new Error(`--adapters wants kind:count with kind one of ${Object.keys(ADAPTER_NAMES).join(', ')} and count 1-64, got ${JSON.stringify(part)}`);
    const type = kind as SimAdapter['type'];
    for (let i = 1; i <= n; i++) out.push({ name: `${ADAPTER_NAMES[type]}${i}`, type });
  }
  return out;
}

export function registerSimCommands(program: Command): void {
  program
    .command('sim')
    .description('run a fleet of simulated EVE devices speaking the real device API v2 (TLS, signed protobuf)')
    .option('--server <host:port>', 'controller address, as in /config/server')
    .option('--root-cert <pem>', 'root-certificate.pem the devices trust')
    .option('--onboard-cert <pem>', 'onboarding certificate (onboard.cert.pem)')
    .option('--onboard-key <pem>', 'onboarding key (onboard.key.pem)')
    .option('--bootstrap-dir <dir>', 'directory with server, root-certificate.pem, onboard.cert.pem, onboard.key.pem (from `kubeve bootstrap`)')
    .option('--count <n>', 'number of devices', '1')
    .option('--serial-prefix <prefix>', 'serial number prefix; serial = prefix + index', 'sim-')
    .option('--first-index <n>', 'index of the first device (to split a fleet over processes)', '0')
    .option('--time-scale <x>', 'simulated seconds per real second (timers and state machines run x times faster)', '1')
    .option('--config-interval <s>', 'override timer.config.interval (simulated seconds)')
    .option('--metric-interval <s>', 'override timer.metric.interval (simulated seconds)')
    .option('--spread <ms>', 'spread the power-on of the fleet over this many ms')
    .option('--duration <s>', 'stop after this many real seconds (default: until interrupted)')
    .option('--no-logs', 'do not upload newlogs')
    .option('--no-metrics', 'do not send metrics')
    .option('--attest', 'run attestation (nonce + quote without TPM) and send the integrity token')
    .option('--client-certs', 'present device/onboarding certs as TLS client certificates (more memory per device)')
    .option('--fail-image <substring>', 'fault: downloads whose URL contains this fail (apps go to ERROR)')
    .option('--fail-update <substring>', 'fault: base OS versions containing this fail their test boot and fall back')
    .option('--offline <fraction:seconds>', 'fault: take this fraction of devices offline for this many simulated seconds, once configured')
    .option('--clock-skew <seconds>', 'fault: device clocks are off by this many seconds')
    .option(
      '--adapters <kind:n,...>',
      'passthrough adapters every device reports, e.g. usb:2,serial:1 (kinds usb, pci, serial, gpu; named USB1, USB2, COM1, ...)',
    )
    .option('--json', 'print final statistics as JSON on stdout')
    .option('--procs <n>', 'run the fleet in this many worker processes (large fleets: one event loop per process)', '1')
    .action(async (o: SimCliOptions) => {
      const boot = resolveBootstrap(o);
      const count = num(o.count, 'count', 1)!;
      const procs = num(o.procs, 'procs', 1)!;
      const skew = num(o.clockSkew, 'clock-skew', -1e12);
      const cfgInt = num(o.configInterval, 'config-interval', 1);
      const metInt = num(o.metricInterval, 'metric-interval', 1);
      const offline = o.offline?.split(':').map(Number);
      if (offline && (offline.length !== 2 || !(offline[0]! >= 0 && offline[0]! <= 1) || !(offline[1]! > 0))) {
        throw new Error('--offline wants <fraction:seconds>, e.g. 0.1:600');
      }
      const plain: WorkerFleetOptions = {
        ...boot,
        count,
        serialPrefix: o.serialPrefix,
        firstIndex: num(o.firstIndex, 'first-index', 0),
        timeScale: num(o.timeScale, 'time-scale', 1e-3),
        intervals: { ...(cfgInt ? { config: cfgInt * SECOND } : {}), ...(metInt ? { metrics: metInt * SECOND } : {}) },
        ...(o.failImage ? { failImage: o.failImage } : {}),
        ...(o.adapters ? { adapters: parseAdapters(o.adapters) } : {}),
        ...(o.failUpdate ? { failUpdate: o.failUpdate } : {}),
        ...(skew ? { skewMs: skew * SECOND } : {}),
        logs: o.logs,
        metrics: o.metrics,
        attestation: !!o.attest,
        clientCerts: !!o.clientCerts,
        startSpreadMs: num(o.spread, 'spread', 0),
      };
      const onCreateProgress = (done: number, total: number) => {
        if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kcreating device keys ${done}/${total}`);
      };
      if (procs > 1) console.error(`kubeve sim: creating device keys in ${procs} worker processes`);
      const fleet: (ProcessFleet | SimFleet) & FleetView =
        procs > 1 ? await ProcessFleet.create({ ...plain, procs }) : await SimFleet.create({ ...toFleetOptions(plain), onCreateProgress });
      if (process.stderr.isTTY && procs === 1) process.stderr.write('\n');
      console.error(`kubeve sim: ${count} devices → https://${boot.server} (time scale ${o.timeScale})`);
      const progress = startProgress(fleet);
      fleet.start();
      if (offline) fleet.offlineOnceConfigured(offline[0]!, offline[1]! * SECOND);
      let stopping = false;
      const stop = async (why: string) => {
        if (stopping) return;
        stopping = true;
        await fleet.refresh?.();
        progress.stop(true);
        console.error(`kubeve sim: ${why}, stopping`);
        const summary = fleetSummary(fleet);
        await fleet.stop();
        if (o.json) console.log(JSON.stringify(summary, null, 2));
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
      const duration = num(o.duration, 'duration', 0);
      if (duration) setTimeout(() => void stop(`${duration}s elapsed`), duration * 1000);
    });
}

export function fleetSummary(f: FleetView) {
  const s = f.stats;
  return {
    devices: f.size,
    phases: f.counts(),
    requests: s.requests,
    networkErrors: s.networkErrors,
    statuses: Object.fromEntries(s.statuses),
    latencyMs: { p50: s.latency.quantile(0.5), p99: s.latency.quantile(0.99), max: s.latency.max, mean: s.latency.mean },
    byEndpoint: Object.fromEntries([...s.byEndpoint].map(([k, h]) => [k, { count: h.count, p50: h.quantile(0.5), p99: h.quantile(0.99) }])),
    tls: { resumed: s.tlsResumed, full: s.tlsFull },
    configsApplied: s.configsApplied,
    configsUnchanged: s.configsUnchanged,
    rejectedEnvelopes: s.rejectedEnvelopes,
  };
}
