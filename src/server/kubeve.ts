// `kubeve server` as one process (DESIGN §3): the embedded API server, the CRDs of deploy/crds
// installed through it, the EVE device API on its own port, and the EVE controllers between them.
//
// Replicas (several `kubeve server --etcd` on one etcd, `replicas` set): every replica serves the
// Kubernetes API and the device API; the controllers (namespace, GC, aggregation, expiry, EVE,
// workloads, scheduler, kubelet bridge) run only on the holder of Lease kube-system/kubeve-controller-manager.
// The device side keeps its shared state in the API (DeviceReplica: PKI and per-device Secrets,
// follower contacts relayed to the leader), so a replica holds caches only.

import { startApiServer, type ApiServer, type ApiServerOptions } from './apiserver.ts';
import { startDeviceApi, DEFAULT_DEVICE_API_PORT, type DeviceApi } from '../eve/device-api.ts';
import os from 'node:os';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InProcessClient, LeaderElector } from '../controllers/runtime/index.ts';
import { DeviceReplica } from '../controllers/eve/replicas/index.ts';
import { servedConfigOf } from '../controllers/eve/render-controller.ts';
import { log } from '../observability/log.ts';
import { crdsEstablishedCheck, installAggregatedRoles, installCrds } from '../controllers/eve/install.ts';
import { EveControllers, type EveControllerOptions } from '../controllers/eve/index.ts';
import { EDGENODES, GROUP } from '../controllers/eve/status.ts';
import { WorkloadControllers } from '../controllers/workloads/index.ts';
import { RolloutController } from '../controllers/rollout/index.ts';
import { KubeletBridge, type KubeletBridgeOptions } from '../controllers/kubelet/index.ts';
import { podLogSubresource, unsupportedStreamSubresource } from '../controllers/kubelet/pod-streams.ts';
import { DeviceMetricsSource } from '../controllers/kubelet/metrics-source.ts';
import { metricsResources } from '../api/builtin/metrics.ts';

export interface ReplicaOptions {
  /** Unique per replica (default hostname_<id kept in the data directory>). */
  identity?: string;
  /** Namespace of the Lease, the PKI and device state Secrets, the relay ConfigMaps (default kube-system). */
  namespace?: string;
  /** Lease timings; see DEFAULT_REPLICA_TIMINGS. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/**
 * 10 s lease / 7 s renew deadline / 1 s retry, not client-go's 15/10/2, to fail over within 15 s:
 * a candidate takes over once it has seen the same record for a whole lease, counted from when it
 * noticed the last renewal (up to one jittered retry, 1.2 s, after it) and checked on its next look
 * (another 1.2 s at most): 9–12.4 s after the leader dies, plus the controllers' start.
 * client-go's timings give 13–19.8 s. The price of the 1 s retry is one Lease write per second
 * from the leader and one read per second from each follower. A shorter lease would also step down
 * a leader that a long GC pause or a slow etcd stalls for less.
 */
export const DEFAULT_REPLICA_TIMINGS = { leaseDurationMs: 10_000, renewDeadlineMs: 7_000, retryPeriodMs: 1_000 };
export const CONTROLLER_LEASE = 'kubeve-controller-manager';

/**
 * hostname_<id kept in the data directory>: unique per replica like client-go's hostname_uuid, but
 * the same after a restart, so a restarted replica takes up its relay ConfigMap again instead of
 * leaving one behind per crash.
 */
function replicaIdentity(dataDir: string): string {
  const file = path.join(dataDir, 'replica-id');
  let id = '';
  try {
    id = fs.readFileSync(file, 'utf8').trim();
  } catch {
    /* first start */
  }
  if (!/^[0-9a-f-]{36}$/.test(id)) {
    id = crypto.randomUUID();
    fs.writeFileSync(file, `${id}\n`);
  }
  return `${os.hostname()}_${id}`;
}

export interface KubeveOptions extends ApiServerOptions {
  /** Device API port (default 8443; 0 = any free port). */
  devicePort?: number;
  /** Device API listen address (default: all interfaces). */
  deviceHost?: string;
  /** Extra names/IPs devices use to reach the device API (its TLS certificate names them). */
  deviceTlsHosts?: string[];
  /** Directory of the CRD manifests (default deploy/crds of this checkout). */
  crdDir?: string;
  /** ClusterRoles that put the EVE resources into view/edit/admin (default deploy/rbac/aggregate-roles.yaml). */
  aggregateRolesFile?: string;
  eve?: EveControllerOptions;
  /** EVE devices as Nodes, Pods on them as apps (DESIGN §6). */
  kubelet?: KubeletBridgeOptions;
  /** One of several replicas on a shared store: controllers on the Lease holder only, device state in the API. */
  replicas?: ReplicaOptions;
}

/** What runs only while this process leads (always, without replicas). */
interface Term {
  eve: EveControllers;
  workloads: WorkloadControllers;
  rollouts: RolloutController;
  /** metrics.k8s.io from this replica's device metrics, through the term's caches. */
  metrics?: DeviceMetricsSource;
  kubelet?: KubeletBridge;
}

export interface Kubeve {
  api: ApiServer;
  device: DeviceApi;
  /** The EVE controllers; with replicas, those of the current term (undefined while following). */
  readonly eve: EveControllers;
  readonly workloads: WorkloadControllers;
  /** BaseOSRollout: fleet EVE-OS updates in batches (of the current term). */
  readonly rollouts: RolloutController;
  readonly kubelet?: KubeletBridge;
  /** With replicas: the Lease elector. */
  elector?: LeaderElector;
  /** With replicas: the shared device state. */
  replica?: DeviceReplica;
  /** Whether the controllers run here (always true without replicas). */
  leading(): boolean;
  /** Stops; API requests in flight get up to drainMs to finish. */
  close(drainMs?: number): Promise<void>;
}

export async function startKubeve(o: KubeveOptions): Promise<Kubeve> {
  const ha = o.replicas;
  const api = await startApiServer({ ...o, electedControllers: !!ha, sharedCredentials: !!ha });
  let device: DeviceApi | undefined;
  let replica: DeviceReplica | undefined;
  let elector: LeaderElector | undefined;
  try {
    const client = new InProcessClient(api.service, api.registry);
    let term: Term | undefined;
    // Unready until the EVE CRDs are served, the device API listens and the controllers' caches are synced.
    api.health.add(['readyz', 'healthz'], 'eve-crds', crdsEstablishedCheck(client, o.crdDir));
    api.health.add(['readyz', 'healthz'], 'device-api', () => (device?.httpsServer.listening ? undefined : 'the device API is not listening'));
    api.health.add(['readyz', 'healthz'], 'eve-informer-sync', () => {
      // A follower serves from the shared state; its readiness does not wait for the leader's controllers.
      if (ha && elector && !elector.isLeader()) return undefined;
      const pending = term?.eve.informers
        .all()
        .filter((i) => !i.hasSynced())
        .map((i) => i.resource.resource);
      return !pending ? 'the EVE controllers have not started' : pending.length ? `not synced: ${pending.join(', ')}` : undefined;
    });
    await installCrds(client, { dir: o.crdDir });
    await installAggregatedRoles(client, { file: o.aggregateRolesFile });
    const metrics = api.metrics;
    metrics?.gaugeFrom('kubeve_edgenodes', 'EdgeNodes by status.phase (Pending, Registered, Online, Offline, ...).', ['phase'], () => {
      const counts = new Map<string, number>();
      for (const n of term?.eve.informers.cacheFor(EDGENODES)?.list() ?? []) {
        const phase = String(n.status?.phase ?? 'Pending');
        counts.set(phase, (counts.get(phase) ?? 0) + 1);
      }
      return [...counts].map(([phase, v]) => [{ phase }, v]);
    });
    const eveOptions: EveControllerOptions = { ...o.eve, onRendered: o.eve?.onRendered ?? (metrics && ((r, s) => metrics.render(r, s))) };
    const hosts = [...new Set(['localhost', '127.0.0.1', ...(o.advertiseAddress ? [o.advertiseAddress] : []), ...(o.deviceTlsHosts ?? [])])];
    const identity = ha?.identity ?? replicaIdentity(o.dataDir);
    const namespace = ha?.namespace ?? 'kube-system';
    // Without replicas the EVE controllers exist before the device API (they are its hooks).
    const single = ha ? undefined : new EveControllers(client, eveOptions);
    if (ha) {
      replica = await DeviceReplica.start(client, {
        namespace,
        identity,
        dataDir: o.dataDir,
        devicePort: o.devicePort ?? DEFAULT_DEVICE_API_PORT,
        deviceHost: o.deviceHost,
        tlsHosts: hosts,
        metrics: metrics?.deviceApi(),
        log: (m) => log.info(m),
      });
      device = replica.device;
    } else {
      device = await startDeviceApi({
        dataDir: o.dataDir,
        host: o.deviceHost,
        port: o.devicePort ?? DEFAULT_DEVICE_API_PORT,
        tlsHosts: hosts,
        hooks: single!.hooks,
        metrics: metrics?.deviceApi(),
      });
    }
    const deviceApi = device;
    const rep = replica;
    const removeConfig = api.registry.extendSubresource(GROUP, 'edgenodes', 'config', {
      kind: 'EdgeDevConfig',
      get: (obj) => servedConfigOf(deviceApi, obj),
    });
    const deviceUuidOf = (node: string) => (rep ? rep.uuidOfNode(node) : term?.eve.index.byName.get(node)?.uuid);
    const removeStreams =
      o.kubelet?.enabled === false
        ? []
        : [
            api.registry.extendSubresource('', 'pods', 'log', podLogSubresource({ deviceUuidOf, logs: deviceApi.logs })),
            ...['exec', 'attach', 'portforward'].map((s) => api.registry.extendSubresource('', 'pods', s, unsupportedStreamSubresource(s, { deviceUuidOf }))),
          ];
    // metrics.k8s.io (kubectl top) from the metrics devices upload to this replica, read through the current
    // term's caches (a follower answers empty lists); the operator would need an APIService.
    if (o.kubelet?.enabled !== false) {
      const current = () => term?.metrics?.sources();
      api.registry.add(
        metricsResources({
          nodes: { get: (ns, name) => current()?.nodes.get(ns, name), list: (ns) => current()?.nodes.list(ns) ?? [] },
          pods: { get: (ns, name) => current()?.pods.get(ns, name), list: (ns) => current()?.pods.list(ns) ?? [] },
        }),
      );
    }

    const startTerm = async (): Promise<void> => {
      if (term) return;
      await api.controllers.start();
      const eve = single ?? new EveControllers(client, eveOptions);
      if (rep) await rep.lead(eve);
      else await eve.start(deviceApi);
      const workloads = new WorkloadControllers(client);
      await workloads.start();
      const rollouts = new RolloutController(client, { informers: eve.informers, disruptionBudgets: o.kubelet?.enabled !== false });
      await rollouts.start();
      const kubelet =
        o.kubelet?.enabled === false
          ? undefined
          : new KubeletBridge(client, eve.informers, {
              contactOf: (name) => eve.index.byName.get(name)?.lastContact,
              // Last-contact leases last as long as EVE's offline timeout; vouched ones as a kubelet's (lease.ts).
              ...(o.kubelet?.leasePolicy === 'vouch'
                ? {}
                : {
                    leaseDurationSeconds: (name: string) =>
                      Math.ceil(eve.presence.timeoutFor(eve.index.byName.get(name) ?? ({ pollIntervalMs: 60_000 } as never)) / 1000),
                  }),
              ...o.kubelet,
            });
      const metricsSource = kubelet && new DeviceMetricsSource(eve.informers, { samples: deviceApi.metrics, deviceUuidOf });
      await kubelet?.start();
      term = { eve, workloads, rollouts, kubelet, metrics: metricsSource };
    };
    const stopTerm = async (): Promise<void> => {
      const t = term;
      term = undefined;
      if (!t) return;
      await t.kubelet?.stop();
      await t.workloads.stop();
      await t.rollouts.stop();
      if (rep) rep.follow();
      else t.eve.stop();
      await t.eve.status.idle().catch(() => undefined);
      await api.controllers.stop();
    };

    // Terms start and stop one after another, in the order the elector calls for them.
    let terms: Promise<void> = Promise.resolve();
    if (!ha) await startTerm();
    else {
      const timings = { ...DEFAULT_REPLICA_TIMINGS, ...Object.fromEntries(Object.entries(ha).filter(([, v]) => v !== undefined)) };
      elector = new LeaderElector(client, {
        namespace,
        name: CONTROLLER_LEASE,
        identity,
        leaseDurationMs: timings.leaseDurationMs,
        renewDeadlineMs: timings.renewDeadlineMs,
        retryPeriodMs: timings.retryPeriodMs,
        onStartedLeading: () => {
          terms = terms.then(startTerm).then(
            () => log.info('leading: controllers started', { identity }),
            (e: unknown) => log.error('starting the controllers failed', e, { identity }),
          );
        },
        onStoppedLeading: () => {
          terms = terms.then(stopTerm).then(() => log.info('stopped leading: controllers stopped', { identity }));
        },
        onNewLeader: (id) => log.info('controller leader', { leader: id, identity }),
      });
      elector.start();
    }
    const el = elector;
    return {
      api,
      device: deviceApi,
      get eve() {
        return term?.eve as EveControllers;
      },
      get workloads() {
        return term?.workloads as WorkloadControllers;
      },
      get rollouts() {
        return term?.rollouts as RolloutController;
      },
      get kubelet() {
        return term?.kubelet;
      },
      elector: el,
      replica: rep,
      leading: () => (el ? el.isLeader() && term !== undefined : true),
      async close(drainMs = 0) {
        api.beginShutdown();
        // A clean stop hands the Lease over at once.
        await el?.stop({ release: true });
        await terms;
        await stopTerm();
        for (const r of removeStreams) r();
        removeConfig();
        if (rep) await rep.close();
        else await deviceApi.close();
        await api.close(drainMs);
      },
    };
  } catch (e) {
    await elector?.stop().catch(() => undefined);
    if (replica) await replica.close().catch(() => undefined);
    else await device?.close().catch(() => undefined);
    await api.close();
    throw e;
  }
}
