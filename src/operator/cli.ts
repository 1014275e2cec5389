// `kubeve operator`: the device API and the EVE controllers against an existing cluster.

import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_DEVICE_API_PORT } from '../eve/device-api.ts';
import { startOperator } from './operator.ts';

interface Flags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  dataDir: string;
  deviceHost: string;
  devicePort: string;
  deviceTlsHost: string[];
  installCrds: boolean;
  crdDir?: string;
  pkiSecret: string;
  leaseName: string;
  identity?: string;
  offlineTimeout?: string;
  metricsHost: string;
  metricsPort: number;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new InvalidArgumentError(`must be a port number 0..65535, got ${JSON.stringify(value)}`);
  return n;
}

export function registerOperatorCommand(program: Command): void {
  program
    .command('operator')
    .description(
      'run the EVE device API and the EVE controllers against a Kubernetes API server (kubeconfig, or in-cluster); replicas elect a leader on a Lease',
    )
    .option('--kubeconfig <file>', 'kubeconfig to use (env KUBECONFIG; default: the in-cluster service account)', process.env.KUBECONFIG || undefined)
    .option('--context <name>', 'kubeconfig context (default: its current-context)')
    .option(
      '--namespace <ns>',
      "namespace of the Lease, PKI Secret and device state Secrets (env POD_NAMESPACE; default: the pod's, else kubeve-system)",
      process.env.POD_NAMESPACE || undefined,
    )
    .option(
      '--data-dir <dir>',
      'local scratch directory; nothing in it must survive a restart',
      process.env.KUBEVE_DATA_DIR ?? path.join(os.tmpdir(), 'kubeve-operator'),
    )
    .option('--device-host <addr>', 'listen address of the EVE device API', process.env.KUBEVE_DEVICE_HOST ?? '0.0.0.0')
    .option('--device-port <port>', 'HTTPS port of the EVE device API', process.env.KUBEVE_DEVICE_PORT ?? String(DEFAULT_DEVICE_API_PORT))
    .option(
      '--device-tls-host <name>',
      'name or IP devices use to reach the device API (repeatable; goes into its TLS certificate)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--no-install-crds', 'do not apply deploy/crds at start (a Helm chart installs them)')
    .option('--crd-dir <dir>', 'directory of the CRD manifests (default: deploy/crds)')
    .option('--pki-secret <name>', 'Secret holding the controller PKI', 'kubeve-pki')
    .option('--lease-name <name>', 'Lease used for leader election', 'kubeve-operator')
    .option('--identity <id>', 'leader election identity (env POD_NAME; default hostname_uuid)', process.env.POD_NAME || undefined)
    .option('--metrics-host <addr>', 'listen address of /metrics, /livez, /readyz (plain HTTP)', '0.0.0.0')
    .option('--metrics-port <port>', 'port of /metrics, /livez, /readyz (plain HTTP; 0 = any free port)', parsePort, 9090)
    .option('--offline-timeout <seconds>', 'mark a silent device Online=False after this long (default: 3 × its timer.config.interval)')
    .action(async (o: Flags) => {
      const op = await startOperator({
        kubeconfig: o.kubeconfig,
        context: o.context,
        namespace: o.namespace,
        dataDir: o.dataDir,
        deviceHost: o.deviceHost,
        devicePort: Number(o.devicePort),
        deviceTlsHosts: o.deviceTlsHost,
        installCrds: o.installCrds,
        crdDir: o.crdDir,
        pkiSecret: o.pkiSecret,
        leaseName: o.leaseName,
        identity: o.identity,
        podUid: o.identity && o.identity === process.env.POD_NAME ? process.env.POD_UID || undefined : undefined,
        eve: o.offlineTimeout ? { offlineTimeoutMs: Number(o.offlineTimeout) * 1000 } : {},
        observability: { host: o.metricsHost, port: o.metricsPort },
        log: (m) => console.log(m),
      });
      console.log(`kubeve operator ${op.identity} (namespace ${op.namespace}) against ${op.client.config.server}`);
      console.log(`EVE device API (API v2) listening on https://${op.device.serverAddress()}/api/v2/edgedevice/`);
      console.log(`metrics and health on ${op.observability!.url}/metrics, /livez, /readyz`);
      let stopping = false;
      const stop = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        console.log(`kubeve operator: ${sig} received, releasing the lease and shutting down`);
        await op.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
}
