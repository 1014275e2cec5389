// The kubeve command line: one binary for the server, the simulator and helper commands.

import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { DEFAULT_REPLICA_TIMINGS, startKubeve } from '../server/kubeve.ts';
import { DEFAULT_DEVICE_API_PORT } from '../eve/device-api.ts';
import { registerEveCommands } from '../eve/cli.ts';
import { registerSimCommands } from '../sim/cli.ts';
import { registerOperatorCommand } from '../operator/cli.ts';
import { registerBackupCommands } from '../backup/cli.ts';
import { registerPlanCommand } from './plan.ts';
import { startApiServer } from '../server/apiserver.ts';
import { parseDuration, registerKubeconfigCommands } from './kubeconfig.ts';
import { describeAllocator } from '../sim/allocator.ts';
import { addEtcdOptions, openEtcdFromFlags, type EtcdFlags } from './etcd-options.ts';
import { configureLogging, log } from '../observability/log.ts';
import { versionLine } from '../observability/version.ts';

/** --event-ttl: a positive Go-style duration, in milliseconds. */
function eventTtlMs(value: string): number {
  let seconds: number;
  try {
    seconds = parseDuration(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  if (seconds <= 0) throw new InvalidArgumentError('must be longer than 0s');
  return seconds * 1000;
}

function parseBool(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError('must be true or false');
}

/** A TCP port: an integer 0..65535 (0 = any free port). */
function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n > 65535)
    throw new InvalidArgumentError(`must be a port number 0..65535, got ${JSON.stringify(value)}`);
  return n;
}

/** A number of seconds greater than 0. */
function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0)) throw new InvalidArgumentError(`must be a positive number of seconds, got ${JSON.stringify(value)}`);
  return n;
}

/** A Go-style duration of 0 or more, in milliseconds (--shutdown-delay, --shutdown-timeout). */
function durationMs(value: string): number {
  try {
    const s = parseDuration(value);
    if (s < 0) throw new Error('must not be negative');
    return s * 1000;
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** klog's -v: an integer 0..10. */
function verbosity(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 10) throw new InvalidArgumentError(`must be a log level 0..10, got ${JSON.stringify(value)}`);
  return n;
}

function logFormat(value: string): 'text' | 'json' {
  if (value !== 'text' && value !== 'json') throw new InvalidArgumentError(`must be "text" or "json", got ${JSON.stringify(value)}`);
  return value;
}

const program = new Command();
program.name('kubeve').description('A Kubernetes-compatible controller for EVE-OS edge fleets');
program.version(versionLine(), '--version', "print kubeve's version, git commit and the Kubernetes API version it serves");
// Usage errors exit 2 (as Go's flag package does), not commander's 1.
program.exitOverride();
program.configureOutput({ outputError: (str, write) => write(str) });

addEtcdOptions(program.command('server'))
  .description(
    'run kubeve: the embedded Kubernetes-compatible API server (SQLite in the data directory, or etcd with --etcd), the EVE device API and the EVE controllers',
  )
  .option('--data-dir <dir>', 'data directory (env KUBEVE_DATA_DIR)', process.env.KUBEVE_DATA_DIR ?? './kubeve-data')
  .option('--host <addr>', 'address to listen on (env KUBEVE_HOST)', process.env.KUBEVE_HOST ?? '127.0.0.1')
  .option('--port <port>', 'HTTPS port of the Kubernetes API (env KUBEVE_PORT)', port, port(process.env.KUBEVE_PORT ?? '6443'))
  .option('--advertise-address <addr>', 'address clients use to reach the server (kubeconfig and certificate)')
  .option('--device-host <addr>', 'listen address of the EVE device API (env KUBEVE_DEVICE_HOST)', process.env.KUBEVE_DEVICE_HOST ?? '0.0.0.0')
  .option(
    '--device-port <port>',
    'HTTPS port of the EVE device API (env KUBEVE_DEVICE_PORT)',
    port,
    port(process.env.KUBEVE_DEVICE_PORT ?? String(DEFAULT_DEVICE_API_PORT)),
  )
  .option('--offline-timeout <seconds>', 'mark a silent device Online=False after this long (default: 3 × its timer.config.interval)', positiveSeconds)
  .option('--event-ttl <duration>', 'how long Events are kept after their last write, e.g. 1h, 30m (default: 1h)', eventTtlMs)
  .option(
    '--controllers <bool>',
    'false: only the Kubernetes API (no CRDs, device API or EVE controllers), e.g. for `kubeve operator` to run against',
    parseBool,
    true,
  )
  .option('--shutdown-delay <duration>', 'on SIGTERM, keep serving (with /readyz failing) this long before closing, so load balancers notice', durationMs, 0)
  .option('--shutdown-timeout <duration>', 'on shutdown, how long requests in flight may take to finish', durationMs, 60_000)
  .option('-v, --v <level>', "log verbosity, as klog's -v (0: operator messages; 2: steady-state detail; 4+: debugging)", verbosity, 0)
  .option('--logging-format <format>', 'log format: text or json', logFormat, 'text')
  .option('--no-metrics', 'do not record or serve /metrics (only to measure their cost)')
  .option(
    '--leader-elect <bool>',
    'run the controllers only while holding Lease kube-system/kubeve-controller-manager, sharing device state through the API, so several replicas can share one etcd (default: true with --etcd)',
    parseBool,
  )
  .option('--leader-elect-lease-duration <duration>', 'how long a candidate waits after the last renewal before taking over (default 10s)', durationMs)
  .option('--leader-elect-renew-deadline <duration>', 'how long the leader keeps trying to renew before stepping down (default 7s)', durationMs)
  .option('--leader-elect-retry-period <duration>', 'how often the leader renews and candidates look (default 1s)', durationMs)
  .action(
    async (
      o: EtcdFlags & { leaderElect?: boolean; leaderElectLeaseDuration?: number; leaderElectRenewDeadline?: number; leaderElectRetryPeriod?: number } & {
        dataDir: string;
        host: string;
        port: number;
        advertiseAddress?: string;
        deviceHost: string;
        devicePort: number;
        offlineTimeout?: number;
        eventTtl?: number;
        controllers: boolean;
        shutdownDelay: number;
        shutdownTimeout: number;
        v: number;
        loggingFormat: 'text' | 'json';
        metrics: boolean;
      },
    ) => {
      configureLogging({ verbosity: o.v, format: o.loggingFormat });
      const lease = o.leaderElectLeaseDuration ?? DEFAULT_REPLICA_TIMINGS.leaseDurationMs;
      const renew = o.leaderElectRenewDeadline ?? DEFAULT_REPLICA_TIMINGS.renewDeadlineMs;
      const retry = o.leaderElectRetryPeriod ?? DEFAULT_REPLICA_TIMINGS.retryPeriodMs;
      if (!(lease > renew && renew > retry && retry > 0)) {
        console.error(
          `error: --leader-elect-lease-duration (${lease / 1000}s) must be longer than --leader-elect-renew-deadline (${renew / 1000}s), which must be longer than --leader-elect-retry-period (${retry / 1000}s), which must be longer than 0s`,
        );
        process.exit(2);
      }
      const storage = await openEtcdFromFlags(o).catch((e: Error) => {
        console.error(`kubeve: cannot use etcd: ${e.message}`);
        process.exit(1);
      });
      if (storage) console.log(`kubeve: storage on etcd ${o.etcd} under ${o.etcdPrefix}`);
      if (!o.controllers) {
        const api = await startApiServer({
          storage,
          dataDir: o.dataDir,
          host: o.host,
          port: o.port,
          advertiseAddress: o.advertiseAddress,
          eventTtlMs: o.eventTtl,
          metrics: o.metrics,
        });
        console.log(`kubeve API server (controllers off) listening on ${api.url}\n  export KUBECONFIG=${api.kubeconfigPath}`);
        const stopApi = () => void api.close().then(() => process.exit(0));
        process.on('SIGINT', stopApi);
        process.on('SIGTERM', stopApi);
        return;
      }
      const k = await startKubeve({
        storage,
        dataDir: o.dataDir,
        host: o.host,
        port: o.port,
        advertiseAddress: o.advertiseAddress,
        eventTtlMs: o.eventTtl,
        deviceHost: o.deviceHost,
        devicePort: o.devicePort,
        metrics: o.metrics,
        eve: o.offlineTimeout ? { offlineTimeoutMs: o.offlineTimeout * 1000 } : {},
        replicas:
          (o.leaderElect ?? !!storage)
            ? { leaseDurationMs: o.leaderElectLeaseDuration, renewDeadlineMs: o.leaderElectRenewDeadline, retryPeriodMs: o.leaderElectRetryPeriod }
            : undefined,
      });
      // before the banner: whoever reads "listening" may stop the server right away
      let stopping = false;
      const stop = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        log.info('shutting down', { signal: sig, delay: `${o.shutdownDelay / 1000}s`, timeout: `${o.shutdownTimeout / 1000}s` });
        k.api.beginShutdown();
        if (o.shutdownDelay > 0) await new Promise((r) => setTimeout(r, o.shutdownDelay));
        await k.close(o.shutdownTimeout);
        log.info('shut down');
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
      const server = k.api;
      const deviceAddr = k.device.serverAddress(o.advertiseAddress ?? 'localhost');
      const dataDir = o.dataDir;
      console.log(`kubeve API server listening on ${server.url} (pid ${process.pid}, memory allocator: ${describeAllocator()})`);
      console.log(
        `Point kubectl at it with:\n\n  export KUBECONFIG=${server.kubeconfigPath}\n  kubectl get namespaces\n  kubectl get eve -A   # the EVE resources (category eve)\n`,
      );
      console.log(`EVE device API (API v2) listening on https://${deviceAddr}/api/v2/edgedevice/`);
      console.log(`Onboard devices:\n`);
      console.log(`  npm run kubeve -- bootstrap --data-dir ${dataDir} --server ${deviceAddr} --out ./eve-config`);
      console.log(`  kubectl apply -f ./eve-config/onboardingkey.yaml   # admits devices onboarding with ./eve-config/onboard.cert.pem`);
      console.log(`  # copy ./eve-config/* to the CONFIG partition of an EVE installer, or simulate devices:`);
      console.log(`  npm run sim -- --bootstrap-dir ./eve-config --count 5 --time-scale 10`);
      console.log(`  kubectl get edgenodes\n`);
    },
  );

registerEveCommands(program);
registerSimCommands(program);
registerOperatorCommand(program);
registerKubeconfigCommands(program);
registerBackupCommands(program);
registerPlanCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (!(e instanceof CommanderError)) throw e;
  // --help and --version end with code 0; every other commander error is a usage error.
  process.exit(e.exitCode === 0 ? 0 : 2);
}
