// The kubelet bridge (DESIGN §6): EVE devices as Nodes, Pods bound to them as AppInstances. Only the
// controller runtime's Client and shared informers are used, so it runs the same in the embedded
// server and in operator mode. See README.md.

import { isAlreadyExists, type Client, type SharedInformerFactory } from '../runtime/index.ts';
import { EventRecorder } from '../eve/recorder.ts';
import { NodeSync, type NodeSyncOptions } from './node-sync.ts';
import { NodeLeases, type LeaseOptions } from './lease.ts';
import { PodController } from './pod-controller.ts';
import { NadController } from './nad-controller.ts';
import { NodeEvents, type NodeEventOptions } from './node-events.ts';
import { NODE_LEASE_NAMESPACE, RUNTIMECLASSES } from './resources.ts';
import { runtimeClasses } from './pod-vm.ts';

export interface KubeletBridgeOptions extends NodeSyncOptions, LeaseOptions, NodeEventOptions {
  /** Off switch (default on). */
  enabled?: boolean;
}

export class KubeletBridge {
  readonly nodes: NodeSync;
  readonly leases: NodeLeases;
  readonly pods: PodController;
  readonly nads: NadController;
  readonly events: NodeEvents;

  /** Registers its informers on `informers`; call before the factory starts (or start() later). */
  constructor(
    private readonly client: Client,
    private readonly informers: SharedInformerFactory,
    o: KubeletBridgeOptions = {},
  ) {
    const recorder = new EventRecorder(client);
    this.events = new NodeEvents(informers, recorder, o);
    this.nodes = new NodeSync(client, informers, o, (node) => void this.events.registered(node));
    this.leases = new NodeLeases(client, informers, o);
    this.pods = new PodController(client, informers, recorder);
    this.nads = new NadController(client, informers, recorder, (key) => this.pods.controller.enqueue(key));
  }

  async start(): Promise<void> {
    await this.client
      .create({ group: '', version: 'v1', resource: 'namespaces' }, undefined, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: NODE_LEASE_NAMESPACE },
      })
      .catch((e) => {
        if (!isAlreadyExists(e)) throw e;
      });
    await this.ensureRuntimeClasses();
    this.informers.start();
    await this.informers.waitForCacheSync();
    this.nodes.start();
    this.pods.start();
    this.nads.start();
    this.leases.start();
  }

  /** EVE's runtime handlers as RuntimeClasses (pod-vm.ts); existing ones (maybe edited) are left alone. */
  private async ensureRuntimeClasses(): Promise<void> {
    for (const rc of runtimeClasses()) {
      await this.client.create(RUNTIMECLASSES, undefined, rc).catch((e) => {
        if (!isAlreadyExists(e)) throw e;
      });
    }
  }

  async stop(): Promise<void> {
    this.leases.stop();
    await Promise.all([this.nodes.stop(), this.pods.stop(), this.nads.stop()]);
  }

  async idle(): Promise<void> {
    await Promise.all([this.nodes.controller.idle(), this.pods.controller.idle(), this.nads.controller.idle()]);
  }
}
