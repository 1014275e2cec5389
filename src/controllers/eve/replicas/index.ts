// The device side of one replica among several that share one API (DESIGN §3): `kubeve operator`
// against a cluster, and `kubeve server --etcd` replicas against their shared etcd. Every replica
// serves the device API; only the one whose EVE controllers run (the Lease holder) admits first
// registrations and takes info messages. What a replica needs to serve devices lives in the API,
// so replicas hold caches only:
//   - the controller PKI in one Secret (pki-secret.ts);
//   - each device's registration and served config (bytes, hash, hence its version) in a Secret
//     of its own (device-state.ts), applied to every replica's local device API;
//   - what followers see of devices (contacts, applied config hashes) relayed to the leader
//     (relay.ts), so presence and ConfigDelivered are right however requests are spread.
// Onboarding allow-lists (OnboardingKeys, EdgeNodes) are API objects already.

import { startDeviceApi, type DeviceApi } from '../../../eve/device-api.ts';
import { NotReadyError, type DeviceHooks } from '../../../eve/hooks.ts';
import type { DeviceApiMetrics } from '../../../observability/metrics.ts';
import type { Client } from '../../runtime/index.ts';
import type { EveControllers } from '../index.ts';
import path from 'node:path';
import { syncPkiSecret } from './pki-secret.ts';
import { DeviceStateStore } from './device-state.ts';
import { DeviceRelay } from './relay.ts';

export { syncPkiSecret } from './pki-secret.ts';
export { DeviceStateStore, DEVICE_STATE_LABEL, EDGENODE_LABEL, deviceSecretName } from './device-state.ts';
export { DeviceRelay, RELAY_LABEL } from './relay.ts';

export interface DeviceReplicaOptions {
  /** Namespace of the PKI Secret, the device state Secrets and the relay ConfigMaps. */
  namespace: string;
  /** Unique per replica: names its relay ConfigMap. */
  identity: string;
  /** Local directory for the device API's caches (<dataDir>/eve). */
  dataDir: string;
  devicePort: number;
  deviceHost?: string;
  /** Names/IPs devices use to reach the device API; give every replica the same list (one shared certificate). */
  tlsHosts: string[];
  pkiSecret?: string;
  metrics?: DeviceApiMetrics;
  /** This replica's Pod (operator in a cluster): owns its relay ConfigMap. */
  pod?: { name: string; uid: string };
  log?(msg: string): void;
}

export class DeviceReplica {
  private eve?: EveControllers;

  private constructor(
    readonly device: DeviceApi,
    readonly state: DeviceStateStore,
    readonly relay: DeviceRelay,
  ) {}

  /** Loads (or creates) the shared PKI, starts the device API and applies every stored device to it. */
  static async start(client: Client, o: DeviceReplicaOptions): Promise<DeviceReplica> {
    let first = false;
    await syncPkiSecret(client, {
      namespace: o.namespace,
      name: o.pkiSecret ?? 'kubeve-pki',
      dir: path.join(o.dataDir, 'eve', 'pki'),
      hosts: o.tlsHosts,
      onCreated: () => (first = true),
    });
    let self: DeviceReplica | undefined;
    const leading = () => self?.eve;
    const notLeader = () => new NotReadyError('this replica is not the leader');
    const hooks: DeviceHooks = {
      admitOnboarding: (req) => {
        const eve = leading();
        if (!eve) throw notLeader();
        return eve.hooks.admitOnboarding(req);
      },
      // Bind the EdgeNode, then share the registration; the device hears 201 only after both, so
      // another replica knows it even if this one dies right after answering.
      deviceRegistered: async (dev) => {
        await leading()?.hooks.deviceRegistered?.(dev);
        await self?.state.persist(dev.uuid);
      },
      desiredConfig: (uuid) => leading()?.hooks.desiredConfig?.(uuid),
      configApplied: (uuid, hash) => {
        const eve = leading();
        return eve ? eve.hooks.configApplied?.(uuid, hash) : self?.relay.applied(uuid, hash);
      },
      onContact: (uuid, now) => {
        const eve = leading();
        return eve ? eve.hooks.onContact?.(uuid, now) : self?.relay.contact(uuid, now);
      },
      onInfo: (uuid, msg) => {
        const eve = leading();
        if (!eve) throw notLeader();
        return eve.hooks.onInfo?.(uuid, msg);
      },
    };
    const device = await startDeviceApi({ dataDir: o.dataDir, host: o.deviceHost, port: o.devicePort, tlsHosts: o.tlsHosts, hooks, metrics: o.metrics });
    let state: DeviceStateStore | undefined;
    try {
      state = new DeviceStateStore(client, device, {
        namespace: o.namespace,
        isLeader: () => !!leading(),
        nodeOf: (uuid) => leading()?.index.byUuid.get(uuid)?.name,
        log: o.log,
      });
      await state.start();
      // The first replica of an installation (it published the PKI) publishes the devices its data
      // directory already knows too, e.g. a single server's data directory made a replica.
      if (first) for (const d of device.listDevices()) await state.persist(d.uuid);
      const relay = new DeviceRelay(client, {
        namespace: o.namespace,
        identity: o.identity,
        log: o.log,
        pod: o.pod,
        sink: () => {
          const c = leading();
          if (!c) return undefined;
          return {
            // Only forward: a relayed contact older than what the leader saw itself changes nothing.
            contact: (uuid, at) => {
              if (at > (c.index.byUuid.get(uuid)?.lastContact ?? 0)) c.hooks.onContact?.(uuid, at);
            },
            applied: (uuid, hash) => c.hooks.configApplied?.(uuid, hash),
          };
        },
      });
      relay.start();
      self = new DeviceReplica(device, state, relay);
      return self;
    } catch (e) {
      state?.stop();
      await device.close();
      throw e;
    }
  }

  /** The EVE controllers while this replica leads. */
  controllers(): EveControllers | undefined {
    return this.eve;
  }

  /** This replica leads: its controllers drive the device API, and their changes are shared. */
  async lead(eve: EveControllers): Promise<void> {
    this.eve = eve;
    await eve.start(this.state.wrap(this.device));
  }

  /** This replica no longer leads: stop its controllers; it serves devices from the shared state. */
  follow(): void {
    const eve = this.eve;
    this.eve = undefined;
    eve?.stop();
  }

  /** The EdgeNode's device, from the leader's index or the shared state. */
  uuidOfNode(node: string): string | undefined {
    return this.eve?.index.byName.get(node)?.uuid ?? this.state.uuidOfNode(node);
  }

  async close(): Promise<void> {
    const eve = this.eve;
    this.follow();
    await eve?.status.idle().catch(() => undefined);
    await this.state.idle();
    this.state.stop();
    await this.relay.stop();
    await this.device.close();
  }
}
