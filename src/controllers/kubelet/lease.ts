// The node Lease (kube-node-lease/<node>) of each EVE Node. Its renewTime is the device's last
// contact, not the time of the write: the lease is renewed when the device has been seen since the
// last renewal and at least `renewIntervalMs` (default 60 s) has passed, so a device polling at
// EVE's default 60 s costs one Lease write a minute, and a silent device none. In the embedded server
// the contact time comes from memory (presence.ts tracks it per request); in operator mode, without
// that, from the EdgeNode's status.lastContact.

import type { KObject } from '../../apiserver/resource.ts';
import { LEASES, isAlreadyExists, isNotFound, type Client, type SharedInformerFactory } from '../runtime/index.ts';
import { EDGENODES } from '../eve/status.ts';
import { NODES, NODE_LEASE_NAMESPACE, microTime } from './resources.ts';
import { edgeNodeOnline } from './node-sync.ts';

export interface LeaseOptions {
  /** Minimum time between renewals of one lease (default 60 s). */
  renewIntervalMs?: number;
  /** How often leases are looked at (default 5 s). */
  tickMs?: number;
  /** spec.leaseDurationSeconds: how long the device may be silent (default 180: EVE's offline timeout). */
  leaseDurationSeconds?: number | ((node: string) => number);
  /** The device's last contact (ms) as tracked in memory, when this process serves the devices. */
  contactOf?: (node: string) => number | undefined;
}

export class NodeLeases {
  private timer?: NodeJS.Timeout;
  /** Contact time each lease was last renewed to (ms). */
  private renewed = new Map<string, number>();
  private last: Promise<void> = Promise.resolve();
  writes = 0;

  constructor(private readonly client: Client, private readonly informers: SharedInformerFactory, private readonly o: LeaseOptions = {}) {
    // A new Node gets its lease at once, not at the next tick.
    informers.informerFor(NODES).addEventHandler({ onAdd: () => void (this.timer && this.tick()) });
    informers.informerFor(EDGENODES).addEventHandler({ onUpdate: (a, b) => void (this.timer && edgeNodeOnline(a) !== edgeNodeOnline(b) && this.tick()) });
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.tickMs ?? 5000);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass over the nodes; passes never overlap (a call during one runs after it). */
  tick(now?: number): Promise<void> {
    const run = this.last.then(() => this.pass(now ?? Date.now()));
    this.last = run.catch(() => undefined);
    return run;
  }

  private async pass(now: number): Promise<void> {
    const nodes = this.informers.informerFor(NODES).store;
    for (const en of this.informers.informerFor(EDGENODES).store.list()) {
      const name = en.metadata.name as string;
      const node = nodes.get(name);
      if (!node || edgeNodeOnline(en) !== true) continue;
      const contact = this.o.contactOf?.(name) || Date.parse(en.status?.lastContact ?? '') || 0;
      if (!contact) continue;
      const last = this.renewed.get(name);
      if (last !== undefined && (contact <= last || now - last < (this.o.renewIntervalMs ?? 60_000))) continue;
      try {
        await this.renew(node, Math.min(contact, now));
        this.renewed.set(name, contact);
      } catch (e) {
        console.error(`kubeve: renewing the lease of node ${name} failed:`, e instanceof Error ? e.message : e);
      }
    }
    for (const name of this.renewed.keys()) if (!nodes.get(name)) this.renewed.delete(name);
  }

  private duration(node: string): number {
    const d = this.o.leaseDurationSeconds;
    return typeof d === 'function' ? d(node) : d ?? 180;
  }

  private async renew(node: KObject, contact: number): Promise<void> {
    const name = node.metadata.name as string;
    const spec = { holderIdentity: name, leaseDurationSeconds: this.duration(name), renewTime: microTime(contact) };
    let lease: KObject | undefined;
    try {
      lease = await this.client.get(LEASES, NODE_LEASE_NAMESPACE, name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!lease) {
      try {
        await this.client.create(LEASES, NODE_LEASE_NAMESPACE, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace: NODE_LEASE_NAMESPACE, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata.uid }] },
          spec,
        });
        this.writes++;
        return;
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        lease = await this.client.get(LEASES, NODE_LEASE_NAMESPACE, name);
      }
    }
    await this.client.update(LEASES, { ...lease, spec: { ...lease!.spec, ...spec } });
    this.writes++;
  }
}
