// Device state shared by operator replicas and kept across restarts: one Secret per registered
// device in the operator's namespace (label eve.kubeve.io/device-state=true) holding its
// registration (device certificate, serial, onboarding certificate hash) and the config the device
// API serves (canonical protobuf bytes + hash, and a JSON copy for people: the operator-mode
// equivalent of the embedded server's edgenodes/<name>/config view).
//
// Why Secrets: a config carries datastore credentials and cloud-init user data, so it must be as
// protected as the Secrets it was rendered from; one object per device keeps every write small
// and independent (a ConfigMap or status field for the whole fleet would hit the 1.5 MiB object
// limit at a few hundred devices), and Secrets exist on every cluster without a CRD.
//
// Only the leader writes (through `wrap()`, which sees every registration and config change its
// controllers make). Followers, and every replica at start before it campaigns, apply the Secrets
// to their local device API, so any replica serves the same devices with the same signed configs,
// and a restarted leader finds the served config versions and does not bump them.

import { toBinary, toJson } from '@bufbuild/protobuf';
import { EdgeDevConfigSchema } from '../../../eve/gen/config/devconfig_pb.ts';
import type { DeviceApi } from '../../../eve/device-api.ts';
import {
  SharedInformerFactory,
  isAlreadyExists,
  isConflict,
  isNotFound,
  objectKey,
  type Client,
  type GVR,
  type Informer,
  type KObject,
} from '../../runtime/index.ts';

const SECRETS: GVR = { group: '', version: 'v1', resource: 'secrets' };
export const DEVICE_STATE_LABEL = 'eve.kubeve.io/device-state';
export const EDGENODE_LABEL = 'eve.kubeve.io/edgenode';
const SECRET_TYPE = 'eve.kubeve.io/device-state';
const FIELD_MANAGER = 'kubeve-operator';

export const deviceSecretName = (uuid: string) => `eve-device-${uuid}`;

const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64'));

export interface DeviceStateOptions {
  namespace: string;
  isLeader(): boolean;
  /** The EdgeNode bound to a device UUID, for the label (leader side). */
  nodeOf?(uuid: string): string | undefined;
  log?(msg: string): void;
}

export class DeviceStateStore {
  private readonly informers: SharedInformerFactory;
  private readonly informer: Informer;
  private readonly pending = new Set<string>();
  private flushing?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly client: Client,
    private readonly api: DeviceApi,
    private readonly o: DeviceStateOptions,
  ) {
    this.informers = new SharedInformerFactory(client);
    this.informer = this.informers.informerFor(SECRETS, { namespace: o.namespace, labelSelector: `${DEVICE_STATE_LABEL}=true` });
  }

  /** Resolves once every stored device has been applied to the local device API. */
  async start(): Promise<void> {
    this.informer.addEventHandler({
      onAdd: (s) => this.applyUnlessLeader(s),
      onUpdate: (_, s) => this.applyUnlessLeader(s),
      onDelete: (s) => {
        if (this.o.isLeader()) return;
        const uuid = unb64(s.data?.uuid)?.toString();
        if (uuid) void this.api.deleteDevice(uuid);
      },
    });
    this.informers.start();
    await this.informers.waitForCacheSync();
  }

  stop(): void {
    this.stopped = true;
    this.informers.stop();
  }

  /** Whether the device state Secrets have been listed (readiness). */
  hasSynced(): boolean {
    return this.informer.hasSynced();
  }

  private applyUnlessLeader(s: KObject): void {
    if (this.o.isLeader()) return; // the leader's own state is the newer one
    try {
      this.apply(s);
    } catch (e) {
      this.o.log?.(`kubeve: device state ${s.metadata.name}: ${(e as Error).message}`);
    }
  }

  /** Makes the local device API register the device and serve the stored config. */
  private apply(s: KObject): void {
    const d = s.data ?? {};
    const uuid = unb64(d.uuid)?.toString();
    const cert = unb64(d.deviceCertificate)?.toString();
    if (!uuid || !cert) return;
    const have = this.api.getDevice(uuid);
    if (!have) {
      this.api.addDevice({
        uuid,
        deviceCertPem: cert,
        serial: unb64(d.serial)?.toString() ?? '',
        softSerial: unb64(d.softSerial)?.toString() ?? '',
        onboardCertHash: unb64(d.onboardCertHash)?.toString() ?? '',
      });
    }
    const hash = unb64(d.configHash)?.toString();
    const bytes = unb64(d.config);
    if (hash && bytes && this.api.getDevice(uuid)?.configHash !== hash) {
      const set = this.api.setConfig(uuid, new Uint8Array(bytes));
      if (set.hash !== hash) this.o.log?.(`kubeve: device ${uuid}: stored config hash ${hash} re-encoded as ${set.hash}`);
    }
  }

  /** The device API the leader's controllers use: every change is also written to the device's Secret. */
  wrap(api = this.api): DeviceApi {
    const w = Object.create(api) as DeviceApi;
    return Object.assign(w, {
      setConfig: (uuid: string, cfg: Parameters<DeviceApi['setConfig']>[1]) => {
        const r = api.setConfig(uuid, cfg);
        if (r.changed) this.schedule(uuid);
        return r;
      },
      addDevice: (d: Parameters<DeviceApi['addDevice']>[0]) => {
        const r = api.addDevice(d);
        this.schedule(r.uuid);
        return r;
      },
      deleteDevice: async (uuid: string) => {
        const r = await api.deleteDevice(uuid);
        this.schedule(uuid);
        return r;
      },
    });
  }

  /** Writes the device's current state (or deletes its Secret when it is gone) in the background. */
  schedule(uuid: string): void {
    this.pending.add(uuid);
    this.flushing ??= this.flush().finally(() => (this.flushing = undefined));
  }

  /**
   * Writes the device's state now. A first registration is answered only after this, so a device
   * told "registered" is known to every replica even if this one dies the next moment.
   */
  async persist(uuid: string): Promise<void> {
    this.pending.delete(uuid);
    await this.write(uuid);
  }

  /** The device UUID bound to an EdgeNode, as the stored state labels it (for replicas without the controllers' index). */
  uuidOfNode(node: string): string | undefined {
    for (const s of this.informer.store.list()) {
      if (s.metadata.labels?.[EDGENODE_LABEL] === node) return unb64(s.data?.uuid)?.toString();
    }
    return undefined;
  }

  /** Resolves when every scheduled write is done (tests). */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    while (this.pending.size && !this.stopped) {
      const uuid = this.pending.values().next().value!;
      this.pending.delete(uuid);
      try {
        await this.write(uuid);
      } catch (e) {
        this.o.log?.(`kubeve: writing device state ${uuid}: ${(e as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, 1000));
        this.pending.add(uuid);
      }
    }
  }

  private desired(uuid: string): KObject | undefined {
    const d = this.api.getDevice(uuid);
    if (!d) return undefined;
    const cfg = this.api.getConfig(uuid);
    const node = this.o.nodeOf?.(uuid);
    const data: Record<string, string> = { uuid: b64(uuid), deviceCertificate: b64(d.deviceCertPem) };
    // Empty values are left out (kubeve's API server, unlike Kubernetes, rejects "" as base64 data).
    for (const [k, v] of [
      ['serial', d.serial],
      ['softSerial', d.softSerial],
      ['onboardCertHash', d.onboardCertHash],
    ] as const)
      if (v) data[k] = b64(v);
    if (cfg) {
      data.configHash = b64(cfg.hash);
      data.config = b64(toBinary(EdgeDevConfigSchema, cfg.config));
      data['config.json'] = b64(JSON.stringify(toJson(EdgeDevConfigSchema, cfg.config), null, 2) + '\n');
    }
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: SECRET_TYPE,
      metadata: {
        name: deviceSecretName(uuid),
        namespace: this.o.namespace,
        labels: { [DEVICE_STATE_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'kubeve', ...(node ? { [EDGENODE_LABEL]: node } : {}) },
      },
      data,
    };
  }

  private async write(uuid: string): Promise<void> {
    const want = this.desired(uuid);
    const name = deviceSecretName(uuid);
    const cached = this.informer.store.get(objectKey({ metadata: { namespace: this.o.namespace, name } } as KObject));
    if (!want) {
      if (!cached) return;
      try {
        await this.client.delete(SECRETS, this.o.namespace, name);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      return;
    }
    let cur = cached;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (cur && sameState(cur, want)) return;
      try {
        if (!cur) await this.client.create(SECRETS, this.o.namespace, want, { fieldManager: FIELD_MANAGER });
        else
          await this.client.update(
            SECRETS,
            { ...want, metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, ...want.metadata.labels } } },
            { fieldManager: FIELD_MANAGER },
          );
        return;
      } catch (e) {
        if (!isAlreadyExists(e) && !isConflict(e)) throw e;
        cur = await this.client.get(SECRETS, this.o.namespace, name).catch((g) => (isNotFound(g) ? undefined : Promise.reject(g)));
      }
    }
    throw new Error(`device state ${name}: too many conflicting writes`);
  }
}

function sameState(cur: KObject, want: KObject): boolean {
  const a = cur.data ?? {};
  const b = want.data ?? {};
  if (Object.keys(a).length !== Object.keys(b).length || Object.entries(b).some(([k, v]) => a[k] !== v)) return false;
  return Object.entries(want.metadata.labels ?? {}).every(([k, v]) => cur.metadata.labels?.[k] === v);
}
