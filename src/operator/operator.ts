// `kubeve operator` (DESIGN §3, §10): the EVE device API and the EVE controllers against any
// Kubernetes API server (HttpClient from a kubeconfig or the pod's service account), in as many
// replicas as wanted. Every replica serves the device API; only the holder of the Lease runs the
// controllers. What a replica needs to serve devices lives in the cluster, not on the pod:
//   - the controller PKI in one Secret (pki-secret.ts);
//   - each device's registration and served config in a Secret of its own (device-state.ts), which
//     is also where users read the rendered config (the embedded server's edgenodes/<n>/config).
// A follower answers what it can from that state (config polls, repeat registrations, certs) and
// 503 to what needs the controllers (first registrations, info messages): EVE retries both.

// Every replica serves /metrics, /livez and /readyz on a plain-HTTP port for probes and Prometheus;
// readiness does not depend on leadership (followers serve devices too).

import os from 'node:os';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { DEFAULT_DEVICE_API_PORT, type DeviceApi } from '../eve/device-api.ts';
import { HttpClient, LeaderElector, inClusterConfig, loadKubeconfig, type HttpClientConfig } from '../controllers/runtime/index.ts';
import { installCrds } from '../controllers/eve/install.ts';
import { EveControllers, type EveControllerOptions } from '../controllers/eve/index.ts';
import { DeviceReplica, type DeviceStateStore } from '../controllers/eve/replicas/index.ts';
import { EDGENODES } from '../controllers/eve/status.ts';
import { Metrics } from '../observability/metrics.ts';
import { HealthChecks } from '../observability/health.ts';
import { startObservabilityServer, type ObservabilityServer } from '../observability/server.ts';
import { RolloutController } from '../controllers/rollout/index.ts';
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
  /** Serve /metrics, /livez, /readyz, /healthz over plain HTTP here (port 0 = any free one); none when unset. */
  observability?: { host?: string; port: number };
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
  readonly health: HealthChecks;
  readonly metrics: Metrics;
  /** The /metrics and health endpoint, when options.observability asked for it. */
  readonly observability?: ObservabilityServer;
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
  let rollouts: RolloutController | undefined;
  let elector: LeaderElector | undefined;
  let observability: ObservabilityServer | undefined;
  const metrics = new Metrics();
  const health = operatorHealth({
    device: () => replica?.device,
    state: () => replica?.state,
    elector: () => elector,
    eve: () => replica?.controllers(),
  });
  const leaseName = o.leaseName ?? 'kubeve-operator';
  metrics.gaugeFrom('leader_election_master_status', 'Whether this replica holds the lease (1) or not (0), as client-go reports it.', ['name'], () => [
    [{ name: leaseName }, elector?.isLeader() ? 1 : 0],
  ]);
  metrics.gaugeFrom(
    'kubeve_edgenodes',
    'EdgeNodes by status.phase (Pending, Registered, Online, Offline, ...); reported by the leader only.',
    ['phase'],
    () => {
      const counts = new Map<string, number>();
      for (const n of replica?.controllers()?.informers.cacheFor(EDGENODES)?.list() ?? []) {
        const phase = String(n.status?.phase ?? 'Pending');
        counts.set(phase, (counts.get(phase) ?? 0) + 1);
      }
      return [...counts].map(([phase, v]) => [{ phase }, v]);
    },
  );
  try {
    // First, so probes get answers (unready) while the rest starts.
    if (o.observability) observability = await startObservabilityServer({ ...o.observability, health, metrics });
    if (o.installCrds !== false) await installCrds(client, { dir: o.crdDir, fieldManager: 'kubeve-operator' });
    const tlsHosts = [...new Set(['localhost', '127.0.0.1', ...(o.deviceTlsHosts ?? [])])];
    const rep = (replica = await DeviceReplica.start(client, {
      namespace,
      identity,
      dataDir: o.dataDir,
      devicePort: o.devicePort ?? DEFAULT_DEVICE_API_PORT,
      deviceHost: o.deviceHost,
      tlsHosts,
      pkiSecret: o.pkiSecret,
      metrics: metrics.deviceApi(),
      log,
      pod: o.podUid ? { name: identity, uid: o.podUid } : undefined,
    }));

    let leading: Promise<void> = Promise.resolve();
    let kubelet: KubeletBridge | undefined;
    const lead = async () => {
      const c = new EveControllers(client, { ...o.eve, onRendered: o.eve?.onRendered ?? ((r, sec) => metrics.render(r, sec)) });
      await rep.lead(c);
      // PDBs gate reboots only where pods run on EVE Nodes (the bridge); the chart's RBAC reads no pods otherwise.
      rollouts = new RolloutController(client, { informers: c.informers, disruptionBudgets: !!o.kubelet?.enabled });
      await rollouts.start();
      if (o.kubelet?.enabled) {
        kubelet = new KubeletBridge(client, c.informers, { leasePolicy: 'vouch', ...o.kubelet });
        await kubelet.start();
      }
      log(`kubeve operator ${identity}: leading, EVE controllers started`);
    };
    const follow = async () => {
      await kubelet?.stop();
      kubelet = undefined;
      await rollouts?.stop();
      rollouts = undefined;
      rep.follow();
      log(`kubeve operator ${identity}: stopped leading`);
    };
    elector = new LeaderElector(client, {
      namespace,
      name: leaseName,
      identity,
      // Shorter than client-go's 15 s / 10 s so a replica takes over well within 20 s of a crash.
      leaseDurationMs: o.leaseDurationMs ?? 12_000,
      renewDeadlineMs: o.renewDeadlineMs ?? 8_000,
      retryPeriodMs: o.retryPeriodMs ?? 2_000,
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
    const obs = observability;
    return {
      client,
      device: rep.device,
      elector: el,
      state: rep.state,
      namespace,
      identity,
      health,
      metrics,
      observability: obs,
      controllers: () => rep.controllers(),
      async close() {
        health.shutdown();
        await el.stop({ release: true });
        await leading;
        await kubelet?.stop();
        await rollouts?.stop();
        await rep.close();
        client.close();
        await obs?.close();
      },
    };
  } catch (e) {
    await elector?.stop().catch(() => undefined);
    await replica?.close();
    client.close();
    await observability?.close();
    throw e;
  }
}

/**
 * The operator's checks. /livez: the process and its lease renewal (a leader stuck renewing is restarted).
 * /readyz: the device API listens, the device state is loaded, and on the leader the EVE controllers'
 * caches are synced; a follower is ready without controllers.
 */
function operatorHealth(p: {
  device(): DeviceApi | undefined;
  state(): DeviceStateStore | undefined;
  elector(): LeaderElector | undefined;
  eve(): EveControllers | undefined;
}): HealthChecks {
  const health = new HealthChecks();
  health.add(['livez', 'healthz'], 'leader-election', () => p.elector()?.check());
  health.add(['readyz', 'healthz'], 'device-api', () => (p.device()?.httpsServer.listening ? undefined : 'the device API is not listening'));
  health.add(['readyz', 'healthz'], 'device-state-sync', () => (p.state()?.hasSynced() ? undefined : 'the device state Secrets are not loaded yet'));
  health.add(['readyz', 'healthz'], 'eve-informer-sync', () => {
    const eve = p.eve();
    if (!eve) return undefined; // a follower runs no controllers
    const pending = eve.informers
      .all()
      .filter((i) => !i.hasSynced())
      .map((i) => i.resource.resource);
    return pending.length ? `not synced: ${pending.join(', ')}` : undefined;
  });
  return health;
}
