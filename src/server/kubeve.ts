// `kubeve server` as one process (DESIGN §3): the embedded API server, the CRDs of deploy/crds
// installed through it, the EVE device API on its own port, and the EVE controllers between them.

import { startApiServer, type ApiServer, type ApiServerOptions } from '../apiserver/server.ts';
import { startDeviceApi, DEFAULT_DEVICE_API_PORT, type DeviceApi } from '../eve/device-api.ts';
import { InProcessClient } from '../controllers/runtime/index.ts';
import { installCrds } from '../controllers/eve/install.ts';
import { EveControllers, type EveControllerOptions } from '../controllers/eve/index.ts';
import { GROUP } from '../controllers/eve/status.ts';
import { WorkloadControllers } from '../controllers/workloads/index.ts';
import { KubeletBridge, type KubeletBridgeOptions } from '../controllers/kubelet/index.ts';
import { podLogSubresource, unsupportedStreamSubresource } from '../controllers/kubelet/pod-streams.ts';

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
  log?: (msg: string) => void;
}

export interface Kubeve {
  api: ApiServer;
  device: DeviceApi;
  eve: EveControllers;
  workloads: WorkloadControllers;
  kubelet?: KubeletBridge;
  close(): Promise<void>;
}

export async function startKubeve(o: KubeveOptions): Promise<Kubeve> {
  const api = await startApiServer(o);
  try {
    const client = new InProcessClient(api.service, api.registry);
    await installCrds(client, { dir: o.crdDir });
    const eve = new EveControllers(client, o.eve);
    const kubelet = o.kubelet?.enabled === false ? undefined : new KubeletBridge(client, eve.informers, {
      contactOf: (name) => eve.index.byName.get(name)?.lastContact,
      leaseDurationSeconds: (name) => Math.ceil(eve.presence.timeoutFor(eve.index.byName.get(name) ?? { pollIntervalMs: 60_000 } as never) / 1000),
      ...o.kubelet,
    });
    const hosts = [...new Set(['localhost', '127.0.0.1', ...(o.advertiseAddress ? [o.advertiseAddress] : []), ...(o.deviceTlsHosts ?? [])])];
    const device = await startDeviceApi({
      dataDir: o.dataDir,
      host: o.deviceHost,
      port: o.devicePort ?? DEFAULT_DEVICE_API_PORT,
      tlsHosts: hosts,
      hooks: eve.hooks,
      log: o.log,
    });
    const removeConfig = api.registry.extendSubresource(GROUP, 'edgenodes', 'config', {
      kind: 'EdgeDevConfig',
      get: (obj) => eve.render.servedConfig(obj),
    });
    const deviceUuidOf = (node: string) => eve.index.byName.get(node)?.uuid;
    const removeStreams = kubelet
      ? [
          api.registry.extendSubresource('', 'pods', 'log', podLogSubresource({ deviceUuidOf, logs: device.logs })),
          ...['exec', 'attach', 'portforward'].map((s) => api.registry.extendSubresource('', 'pods', s, unsupportedStreamSubresource(s, { deviceUuidOf }))),
        ]
      : [];
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
      async close() {
        await kubelet?.stop();
        await workloads.stop();
        for (const r of removeStreams) r();
        eve.stop();
        removeConfig();
        await device.close();
        await eve.status.idle().catch(() => undefined);
        await api.close();
      },
    };
  } catch (e) {
    await api.close();
    throw e;
  }
}
