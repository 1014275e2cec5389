// `kubeve operator` (DESIGN §3, §10): the EVE device API and the EVE controllers against any
// Kubernetes API server (HttpClient from a kubeconfig or the pod's service account), in as many
// replicas as wanted. Every replica serves the device API; only the holder of the Lease runs the
// controllers. What a replica needs to serve devices lives in the cluster, not on the pod:
//   - the controller PKI in one Secret (pki-secret.ts);
//   - each device's registration and served config in a Secret of its own (device-state.ts), which
//     is also where users read the rendered config (the embedded server's edgenodes/<n>/config).
// A follower answers what it can from that state (config polls, repeat registrations, certs) and
// 503 to what needs the controllers (first registrations, info messages): EVE retries both.

import os from 'node:os';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { DEFAULT_DEVICE_API_PORT, type DeviceApi } from '../eve/device-api.ts';
import { HttpClient, LeaderElector, inClusterConfig, loadKubeconfig, type HttpClientConfig } from '../controllers/runtime/index.ts';
import { installCrds } from '../controllers/eve/install.ts';
import { EveControllers, type EveControllerOptions } from '../controllers/eve/index.ts';
import { DeviceReplica, type DeviceStateStore } from '../controllers/eve/replicas/index.ts';

export interface OperatorOptions {
  /** Kubeconfig file; without it the in-cluster service account is used. */
  kubeconfig?: string;
  context?: string;
  /** Namespace of the Lease, the PKI Secret and the device state (default: the pod's, else kubeve-system). */
  namespace?: string;
  /** Local scratch directory (device API caches, logs); nothing in it needs to survive. */
  dataDir: string;
  devicePort?: number;
  deviceHost?: string;
  /** Names/IPs devices use to reach the device API (its TLS certificate names them). */
  deviceTlsHosts?: string[];
  /** Apply deploy/crds at start (default true; false when a chart installs them). */
  installCrds?: boolean;
  crdDir?: string;
  pkiSecret?: string;
  leaseName?: string;
  /** Unique per replica (default hostname_random). */
  identity?: string;
  /** UID of this replica's Pod (env POD_UID; with identity = the Pod name): owns its relay ConfigMap. */
  podUid?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  eve?: EveControllerOptions;
  log?: (msg: string) => void;
}

export interface Operator {
  readonly client: HttpClient;
  readonly device: DeviceApi;
  readonly elector: LeaderElector;
  readonly state: DeviceStateStore;
  readonly namespace: string;
  readonly identity: string;
  /** The EVE controllers while this replica leads. */
  controllers(): EveControllers | undefined;
  close(): Promise<void>;
}

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export function clientConfig(o: Pick<OperatorOptions, 'kubeconfig' | 'context'>): HttpClientConfig {
  return o.kubeconfig ? loadKubeconfig(o.kubeconfig, o.context) : inClusterConfig();
}

function defaultNamespace(): string {
  try {
    return fs.readFileSync(SA_NAMESPACE, 'utf8').trim() || 'kubeve-system';
  } catch {
    return 'kubeve-system';
  }
}

export async function startOperator(o: OperatorOptions): Promise<Operator> {
  const log = o.log ?? (() => {});
  const client = new HttpClient({ ...clientConfig(o), qps: 50, burst: 100 });
  const namespace = o.namespace ?? defaultNamespace();
  const identity = o.identity ?? `${os.hostname()}_${crypto.randomUUID()}`;
  let replica: DeviceReplica | undefined;
  let elector: LeaderElector | undefined;
  try {
    if (o.installCrds !== false) await installCrds(client, { dir: o.crdDir, fieldManager: 'kubeve-operator' });
    const tlsHosts = [...new Set(['localhost', '127.0.0.1', ...(o.deviceTlsHosts ?? [])])];
    const rep = (replica = await DeviceReplica.start(client, {
      namespace, identity, dataDir: o.dataDir, devicePort: o.devicePort ?? DEFAULT_DEVICE_API_PORT, deviceHost: o.deviceHost, tlsHosts,
      pkiSecret: o.pkiSecret, log, pod: o.podUid ? { name: identity, uid: o.podUid } : undefined,
    }));

    let leading: Promise<void> = Promise.resolve();
    const lead = async () => {
      await rep.lead(new EveControllers(client, o.eve));
      log(`kubeve operator ${identity}: leading, EVE controllers started`);
    };
    const follow = () => {
      rep.follow();
      log(`kubeve operator ${identity}: stopped leading`);
    };
    elector = new LeaderElector(client, {
      namespace, name: o.leaseName ?? 'kubeve-operator', identity,
      // Shorter than client-go's 15 s / 10 s so a replica takes over well within 20 s of a crash.
      leaseDurationMs: o.leaseDurationMs ?? 12_000, renewDeadlineMs: o.renewDeadlineMs ?? 8_000, retryPeriodMs: o.retryPeriodMs ?? 2_000,
      onStartedLeading: () => {
        leading = leading.then(lead).catch((e: unknown) => log(`kubeve operator: starting controllers: ${(e as Error).message}`));
      },
      onStoppedLeading: () => {
        leading = leading.then(follow);
      },
      onNewLeader: (id) => log(`kubeve operator: leader is ${id}`),
    });
    elector.start();
    const el = elector;
    return {
      client, device: rep.device, elector: el, state: rep.state, namespace, identity,
      controllers: () => rep.controllers(),
      async close() {
        await el.stop({ release: true });
        await leading;
        await rep.close();
        client.close();
      },
    };
  } catch (e) {
    await elector?.stop().catch(() => undefined);
    await replica?.close();
    client.close();
    throw e;
  }
}
