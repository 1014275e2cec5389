// The node Lease (kube-node-lease/<node>) of each EVE Node. Two policies, by who reads the Lease:
//
// - `lastContact` (embedded server default): renewTime is the device's last contact, not the time of
//   the write; renewed when the device has been seen since the last renewal and at least
//   `renewIntervalMs` (default 60 s) has passed. A device polling at EVE's default 60 s costs one Lease
//   write a minute, a silent device none. Nothing in the embedded server judges a node by its Lease
//   age (presence.ts and the EdgeNode's Online condition do), so an old renewTime is harmless.
// - `vouch` (operator default): a real cluster's node-lifecycle controller marks a Node Unknown and
//   taints it unreachable:NoExecute (pods then go after their 300 s toleration) once its Lease is
//   older than --node-monitor-grace-period (40 s; 50 s in recent releases). A device polling every
//   60 s cannot keep up, so the bridge vouches for it: renewTime = now, every `renewIntervalMs`
//   (default 10 s, as a kubelet) while the EdgeNode is Online; a silent device's Lease is left to
//   expire. Cost: 60 / renewIntervalMs writes per device per minute (6 at 10 s; a kubelet's own rate).
//
// The contact time comes from memory in the embedded server (presence.ts tracks it per request); in
// operator mode, without that, from the EdgeNode's status.lastContact.

import type { KObject } from '../../apiserver/resource.ts';
import { LEASES, isAlreadyExists, isNotFound, type Client, type SharedInformerFactory } from '../runtime/index.ts';
import { EDGENODES } from '../eve/status.ts';
import { NODES, NODE_LEASE_NAMESPACE, microTime } from './resources.ts';
import { edgeNodeOnline } from './node-sync.ts';

export type LeasePolicy = 'lastContact' | 'vouch';

/** Defaults per policy: write-cheap in the embedded server, kube's kubelet cadence against a real cluster. */
export const LEASE_DEFAULTS: Record<LeasePolicy, { renewIntervalMs: number; leaseDurationSeconds?: number }> = {
  lastContact: { renewIntervalMs: 60_000 },
  vouch: { renewIntervalMs: 10_000, leaseDurationSeconds: 40 },
};

export interface LeaseOptions {
  /** What renewTime means (default lastContact; see above). */
  leasePolicy?: LeasePolicy;
  /** Minimum time between renewals of one lease (default per policy: 60 s lastContact, 10 s vouch). */
  renewIntervalMs?: number;
  /** How often leases are looked at (default 5 s). */
  tickMs?: number;
  /** spec.leaseDurationSeconds (default 180, EVE's offline timeout, for lastContact; 40, a kubelet's, for vouch). */
  leaseDurationSeconds?: number | ((node: string) => number);
  /** The device's last contact (ms) as tracked in memory, when this process serves the devices. */
  contactOf?: (node: string) => number | undefined;
}

export class NodeLeases {
  private timer?: NodeJS.Timeout;
  /** Per lease: the contact time it was last renewed to and when that write happened (ms). */
  private renewed = new Map<string, { contact: number; at: number }>();
  private last: Promise<void> = Promise.resolve();
  writes = 0;

  constructor(
    private readonly client: Client,
    private readonly informers: SharedInformerFactory,
    private readonly o: LeaseOptions = {},
  ) {
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
      const vouch = this.policy === 'vouch';
      if (last !== undefined && ((!vouch && contact <= last.contact) || now - last.at < this.interval)) continue;
      try {
        await this.renew(node, vouch ? now : Math.min(contact, now));
        this.renewed.set(name, { contact, at: now });
      } catch (e) {
        console.error(`kubeve: renewing the lease of node ${name} failed:`, e instanceof Error ? e.message : e);
      }
    }
    for (const name of this.renewed.keys()) if (!nodes.get(name)) this.renewed.delete(name);
  }

  private get policy(): LeasePolicy {
    return this.o.leasePolicy ?? 'lastContact';
  }

  private get interval(): number {
    return this.o.renewIntervalMs ?? LEASE_DEFAULTS[this.policy].renewIntervalMs;
  }

  private duration(node: string): number {
    const d = this.o.leaseDurationSeconds;
    return typeof d === 'function' ? d(node) : (d ?? LEASE_DEFAULTS[this.policy].leaseDurationSeconds ?? 180);
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
