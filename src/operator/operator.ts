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
import path from 'node:path';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { startDeviceApi, DEFAULT_DEVICE_API_PORT, type DeviceApi } from '../eve/device-api.ts';
import { NotReadyError, type DeviceHooks } from '../eve/hooks.ts';
import { HttpClient, LeaderElector, inClusterConfig, loadKubeconfig, type HttpClientConfig } from '../controllers/runtime/index.ts';
import { installCrds } from '../controllers/eve/install.ts';
import { EveControllers, type EveControllerOptions } from '../controllers/eve/index.ts';
import { syncPkiSecret } from './pki-secret.ts';
import { DeviceStateStore } from './device-state.ts';
import { DeviceRelay } from './relay.ts';
import { KubeletBridge, type KubeletBridgeOptions } from '../controllers/kubelet/index.ts';

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
  /**
   * EVE devices as Nodes, Pods on them as apps (DESIGN §6); off unless `enabled` (the cluster's RBAC must
   * let the operator write nodes, leases in kube-node-lease, pods and pods/status). Its Leases default to
   * the `vouch` policy a real node-lifecycle controller needs (lease.ts).
   */
  kubelet?: KubeletBridgeOptions;
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
  let eve: EveControllers | undefined;
  let state: DeviceStateStore | undefined;
  let device: DeviceApi | undefined;
  let elector: LeaderElector | undefined;
  let relay: DeviceRelay | undefined;
  try {
    if (o.installCrds !== false) await installCrds(client, { dir: o.crdDir, fieldManager: 'kubeve-operator' });
    const tlsHosts = [...new Set(['localhost', '127.0.0.1', ...(o.deviceTlsHosts ?? [])])];
    await syncPkiSecret(client, { namespace, name: o.pkiSecret ?? 'kubeve-pki', dir: path.join(o.dataDir, 'eve', 'pki'), hosts: tlsHosts });

    const notLeader = () => new NotReadyError('this replica is not the leader');
    const hooks: DeviceHooks = {
      admitOnboarding: (req) => {
        if (!eve) throw notLeader();
        return eve.hooks.admitOnboarding(req);
      },
      deviceRegistered: async (dev) => {
        state?.schedule(dev.uuid);
        await eve?.hooks.deviceRegistered?.(dev);
      },
      desiredConfig: (uuid) => eve?.hooks.desiredConfig?.(uuid),
      // A follower relays what the leader's presence and delivery tracking need (relay.ts).
      configApplied: (uuid, hash) => (eve ? eve.hooks.configApplied?.(uuid, hash) : relay?.applied(uuid, hash)),
      onContact: (uuid, now) => (eve ? eve.hooks.onContact?.(uuid, now) : relay?.contact(uuid, now)),
      onInfo: (uuid, msg) => {
        if (!eve) throw notLeader();
        return eve.hooks.onInfo?.(uuid, msg);
      },
    };
    const api = (device = await startDeviceApi({
      dataDir: o.dataDir, host: o.deviceHost, port: o.devicePort ?? DEFAULT_DEVICE_API_PORT, tlsHosts, hooks,
    }));
    const store = (state = new DeviceStateStore(client, api, {
      namespace,
      isLeader: () => !!elector?.isLeader(),
      nodeOf: (uuid) => eve?.index.byUuid.get(uuid)?.name,
      log,
    }));
    await store.start();
    const rel = (relay = new DeviceRelay(client, {
      namespace, identity, log,
      pod: o.podUid ? { name: identity, uid: o.podUid } : undefined,
      sink: () => {
        const c = eve;
        if (!c) return undefined;
        return {
          // Only forward: a relayed contact older than what the leader saw itself changes nothing.
          contact: (uuid, at) => {
            if (at > (c.index.byUuid.get(uuid)?.lastContact ?? 0)) c.hooks.onContact?.(uuid, at);
          },
          applied: (uuid, hash) => c.hooks.configApplied?.(uuid, hash),
        };
      },
    }));
    rel.start();

    let leading: Promise<void> = Promise.resolve();
    let kubelet: KubeletBridge | undefined;
    const lead = async () => {
      const c = new EveControllers(client, o.eve);
      eve = c;
      await c.start(store.wrap(api));
      if (o.kubelet?.enabled) {
        kubelet = new KubeletBridge(client, c.informers, { leasePolicy: 'vouch', ...o.kubelet });
        await kubelet.start();
      }
      log(`kubeve operator ${identity}: leading, EVE controllers started`);
    };
    const follow = async () => {
      await kubelet?.stop();
      kubelet = undefined;
      eve?.stop();
      eve = undefined;
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
      client, device: api, elector: el, state: store, namespace, identity,
      controllers: () => eve,
      async close() {
        await el.stop({ release: true });
        await leading;
        await kubelet?.stop();
        eve?.stop();
        await eve?.status.idle().catch(() => undefined);
        await store.idle();
        store.stop();
        await rel.stop();
        await api.close();
        client.close();
      },
    };
  } catch (e) {
    await elector?.stop().catch(() => undefined);
    state?.stop();
    await relay?.stop();
    await device?.close();
    client.close();
    throw e;
  }
}
