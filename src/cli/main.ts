// The kubeve command line: one binary for the server, the simulator and helper commands.

import { Command, InvalidArgumentError } from 'commander';
import { startKubeve } from '../server/kubeve.ts';
import { DEFAULT_DEVICE_API_PORT } from '../eve/device-api.ts';
import { registerEveCommands } from '../eve/cli.ts';
import { registerSimCommands } from '../sim/cli.ts';
import { registerOperatorCommand } from '../operator/cli.ts';
import { startApiServer } from '../apiserver/server.ts';
import { parseDuration, registerKubeconfigCommands } from './kubeconfig.ts';
import { describeAllocator } from '../sim/allocator.ts';
import { addEtcdOptions, openEtcdFromFlags, type EtcdFlags } from './etcd-options.ts';

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

const program = new Command();
program.name('kubeve').description('A Kubernetes-compatible controller for EVE-OS edge fleets');

addEtcdOptions(program
  .command('server'))
  .description('run kubeve: the embedded Kubernetes-compatible API server (SQLite in the data directory, or etcd with --etcd), the EVE device API and the EVE controllers')
  .option('--data-dir <dir>', 'data directory (env KUBEVE_DATA_DIR)', process.env.KUBEVE_DATA_DIR ?? './kubeve-data')
  .option('--host <addr>', 'address to listen on (env KUBEVE_HOST)', process.env.KUBEVE_HOST ?? '127.0.0.1')
  .option('--port <port>', 'HTTPS port of the Kubernetes API (env KUBEVE_PORT)', process.env.KUBEVE_PORT ?? '6443')
  .option('--advertise-address <addr>', 'address clients use to reach the server (kubeconfig and certificate)')
  .option('--device-host <addr>', 'listen address of the EVE device API (env KUBEVE_DEVICE_HOST)', process.env.KUBEVE_DEVICE_HOST ?? '0.0.0.0')
  .option('--device-port <port>', 'HTTPS port of the EVE device API (env KUBEVE_DEVICE_PORT)', process.env.KUBEVE_DEVICE_PORT ?? String(DEFAULT_DEVICE_API_PORT))
  .option('--offline-timeout <seconds>', 'mark a silent device Online=False after this long (default: 3 × its timer.config.interval)')
  .option('--event-ttl <duration>', 'how long Events are kept after their last write, e.g. 1h, 30m (default: 1h)', eventTtlMs)
  .option('--controllers <bool>', 'false: only the Kubernetes API (no CRDs, device API or EVE controllers), e.g. for `kubeve operator` to run against', parseBool, true)
  .action(async (o: EtcdFlags & { dataDir: string; host: string; port: string; advertiseAddress?: string; deviceHost: string; devicePort: string; offlineTimeout?: string; eventTtl?: number; controllers: boolean }) => {
    const storage = await openEtcdFromFlags(o).catch((e: Error) => {
      console.error(`kubeve: cannot use etcd: ${e.message}`);
      process.exit(1);
    });
    if (storage) console.log(`kubeve: storage on etcd ${o.etcd} under ${o.etcdPrefix}`);
    if (!o.controllers) {
      const api = await startApiServer({ storage, dataDir: o.dataDir, host: o.host, port: Number(o.port), advertiseAddress: o.advertiseAddress, eventTtlMs: o.eventTtl });
      console.log(`kubeve API server (controllers off) listening on ${api.url}\n  export KUBECONFIG=${api.kubeconfigPath}`);
      const stopApi = () => void api.close().then(() => process.exit(0));
      process.on('SIGINT', stopApi);
      process.on('SIGTERM', stopApi);
      return;
    }
    const k = await startKubeve({
      storage,
      dataDir: o.dataDir, host: o.host, port: Number(o.port), advertiseAddress: o.advertiseAddress, eventTtlMs: o.eventTtl,
      deviceHost: o.deviceHost, devicePort: Number(o.devicePort),
      eve: o.offlineTimeout ? { offlineTimeoutMs: Number(o.offlineTimeout) * 1000 } : {},
      log: (m) => console.log(m),
    });
    // before the banner: whoever reads "listening" may stop the server right away
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`kubeve: ${sig} received, shutting down`);
      await k.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
    const server = k.api;
    const deviceAddr = k.device.serverAddress(o.advertiseAddress ?? 'localhost');
    const dataDir = o.dataDir;
    console.log(`kubeve API server listening on ${server.url} (pid ${process.pid}, memory allocator: ${describeAllocator()})`);
    console.log(`Point kubectl at it with:\n\n  export KUBECONFIG=${server.kubeconfigPath}\n  kubectl get namespaces\n  kubectl get eve -A   # the EVE resources (category eve)\n`);
    console.log(`EVE device API (API v2) listening on https://${deviceAddr}/api/v2/edgedevice/`);
    console.log(`Onboard devices:\n`);
    console.log(`  npm run kubeve -- bootstrap --data-dir ${dataDir} --server ${deviceAddr} --out ./eve-config`);
    console.log(`  # copy ./eve-config/* to the CONFIG partition of an EVE installer, or simulate devices:`);
    console.log(`  kubectl apply -f - <<EOF\n  apiVersion: eve.kubeve.io/v1alpha1\n  kind: OnboardingKey\n  metadata: {name: batch-1}\n  spec:\n    autoEnroll: true\n    certificate: |\n      <contents of ./eve-config/onboard.cert.pem, indented>\n  EOF`);
    console.log(`  npm run sim -- --bootstrap-dir ./eve-config --count 5 --time-scale 10`);
    console.log(`  kubectl get edgenodes\n`);
  });

registerEveCommands(program);
registerSimCommands(program);
registerOperatorCommand(program);
registerKubeconfigCommands(program);

await program.parseAsync(process.argv);
