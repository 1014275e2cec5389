// `kubeve server` as one process (DESIGN §3): the embedded API server, the CRDs of deploy/crds
// installed through it, the EVE device API on its own port, and the EVE controllers between them.

import { startApiServer, type ApiServer, type ApiServerOptions } from './apiserver.ts';
import { startDeviceApi, DEFAULT_DEVICE_API_PORT, type DeviceApi } from '../eve/device-api.ts';
import { InProcessClient } from '../controllers/runtime/index.ts';
import { crdsEstablishedCheck, installCrds } from '../controllers/eve/install.ts';
import { EveControllers, type EveControllerOptions } from '../controllers/eve/index.ts';
import { EDGENODES, GROUP } from '../controllers/eve/status.ts';
import { WorkloadControllers } from '../controllers/workloads/index.ts';
import { KubeletBridge, type KubeletBridgeOptions } from '../controllers/kubelet/index.ts';
import { podLogSubresource, unsupportedStreamSubresource } from '../controllers/kubelet/pod-streams.ts';
import { DeviceMetricsSource } from '../controllers/kubelet/metrics-source.ts';
import { metricsResources } from '../api/builtin/metrics.ts';

export interface KubeveOptions extends ApiServerOptions {
  /** Device API port (default 8443; 0 = any free port). */
  devicePort?: number;
  /** Device API listen address (default: all interfaces). */
  deviceHost?: string;
  /** Extra names/IPs devices use to reach the device API (its TLS certificate names them). */
  deviceTlsHosts?: string[];
  /** Directory of the CRD manifests (default deploy/crds of this checkout). */
  crdDir?: string;
  eve?: EveControllerOptions;
  /** EVE devices as Nodes, Pods on them as apps (DESIGN §6). */
  kubelet?: KubeletBridgeOptions;
}

export interface Kubeve {
  api: ApiServer;
  device: DeviceApi;
  eve: EveControllers;
  workloads: WorkloadControllers;
  kubelet?: KubeletBridge;
  /** Stops; API requests in flight get up to drainMs to finish. */
  close(drainMs?: number): Promise<void>;
}

export async function startKubeve(o: KubeveOptions): Promise<Kubeve> {
  const api = await startApiServer(o);
  try {
    const client = new InProcessClient(api.service, api.registry);
    // Unready until the EVE CRDs are served, the device API listens and the controllers' caches are synced.
    api.health.add(['readyz', 'healthz'], 'eve-crds', crdsEstablishedCheck(client, o.crdDir));
    let device: DeviceApi | undefined;
    let eve: EveControllers | undefined;
    api.health.add(['readyz', 'healthz'], 'device-api', () => (device?.httpsServer.listening ? undefined : 'the device API is not listening'));
    api.health.add(['readyz', 'healthz'], 'eve-informer-sync', () => {
      const pending = eve?.informers.all().filter((i) => !i.hasSynced()).map((i) => i.resource.resource);
      return !pending ? 'the EVE controllers have not started' : pending.length ? `not synced: ${pending.join(', ')}` : undefined;
    });
    await installCrds(client, { dir: o.crdDir });
    const metrics = api.metrics;
    eve = new EveControllers(client, { ...o.eve, onRendered: o.eve?.onRendered ?? (metrics && ((r, s) => metrics.render(r, s))) });
    const controllers = eve;
    metrics?.gaugeFrom('kubeve_edgenodes', 'EdgeNodes by status.phase (Pending, Registered, Online, Offline, ...).', ['phase'], () => {
      const counts = new Map<string, number>();
      for (const n of controllers.informers.cacheFor(EDGENODES)?.list() ?? []) {
        const phase = String(n.status?.phase ?? 'Pending');
        counts.set(phase, (counts.get(phase) ?? 0) + 1);
      }
      return [...counts].map(([phase, v]) => [{ phase }, v]);
    });
    const kubelet = o.kubelet?.enabled === false ? undefined : new KubeletBridge(client, controllers.informers, {
      contactOf: (name) => controllers.index.byName.get(name)?.lastContact,
      // Last-contact leases last as long as EVE's offline timeout; vouched ones as a kubelet's (lease.ts).
      ...(o.kubelet?.leasePolicy === 'vouch' ? {} : { leaseDurationSeconds: (name: string) => Math.ceil(controllers.presence.timeoutFor(controllers.index.byName.get(name) ?? { pollIntervalMs: 60_000 } as never) / 1000) }),
      ...o.kubelet,
    });
    const hosts = [...new Set(['localhost', '127.0.0.1', ...(o.advertiseAddress ? [o.advertiseAddress] : []), ...(o.deviceTlsHosts ?? [])])];
    device = await startDeviceApi({
      dataDir: o.dataDir,
      host: o.deviceHost,
      port: o.devicePort ?? DEFAULT_DEVICE_API_PORT,
      tlsHosts: hosts,
      hooks: eve.hooks,
      metrics: metrics?.deviceApi(),
    });
    const deviceApi = device;
    const removeConfig = api.registry.extendSubresource(GROUP, 'edgenodes', 'config', {
      kind: 'EdgeDevConfig',
      get: (obj) => controllers.render.servedConfig(obj),
    });
    const deviceUuidOf = (node: string) => controllers.index.byName.get(node)?.uuid;
    const removeStreams = kubelet
      ? [
          api.registry.extendSubresource('', 'pods', 'log', podLogSubresource({ deviceUuidOf, logs: device.logs })),
          ...['exec', 'attach', 'portforward'].map((s) => api.registry.extendSubresource('', 'pods', s, unsupportedStreamSubresource(s, { deviceUuidOf }))),
        ]
      : [];
    // metrics.k8s.io (kubectl top) from the metrics devices upload; the operator would need an APIService.
    if (kubelet) api.registry.add(metricsResources(new DeviceMetricsSource(controllers.informers, { samples: device.metrics, deviceUuidOf }).sources()));
    await eve.start(device);
    const workloads = new WorkloadControllers(client);
    await workloads.start();
    await kubelet?.start();
    return {
      api,
      device,
      eve,
      workloads,
      kubelet,
      async close(drainMs = 0) {
        api.beginShutdown();
        await kubelet?.stop();
        await workloads.stop();
        for (const r of removeStreams) r();
        controllers.stop();
        removeConfig();
        await deviceApi.close();
        await controllers.status.idle().catch(() => undefined);
        await api.close(drainMs);
      },
    };
  } catch (e) {
    await api.close();
    throw e;
  }
}
