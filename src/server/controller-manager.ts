// The API-machinery controllers that kube runs in kube-controller-manager, one active instance per
// cluster: namespace deletion, garbage collection, ClusterRole aggregation, Event expiry. With one
// process they start with the API server; with replicas on one etcd only the Lease holder runs them
// (src/server/kubeve.ts). Each term gets fresh instances, informers and feed subscriptions, so a
// replica can lead, lose the Lease and lead again.
//
// The CRD controller is not here: like kube-apiserver's apiextensions controllers it runs in every
// replica, since it is what makes a replica serve a custom resource (its writes are idempotent).

import type { Registry } from '../apiserver/registry.ts';
import type { RestService } from '../apiserver/rest.ts';
import type { ChangeFeed } from '../apiserver/change-feed.ts';
import { NamespaceController } from '../controllers/kube/namespace.ts';
import { GarbageCollector } from '../controllers/kube/gc.ts';
import { ClusterRoleAggregator } from '../apiserver/auth/aggregation.ts';
import { ObjectExpiry } from '../apiserver/expiry.ts';
import { InProcessClient, SharedInformerFactory } from '../controllers/runtime/index.ts';

export class ControllerManager {
  private term?: { stop(): Promise<void> };
  private starting?: Promise<void>;

  constructor(
    private readonly registry: Registry,
    private readonly service: RestService,
    private readonly feed: ChangeFeed,
  ) {}

  get running(): boolean {
    return this.term !== undefined;
  }

  /** Starts the controllers (no-op while running); resolves once they have loaded the current state. */
  start(): Promise<void> {
    this.starting ??= this.startTerm().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async startTerm(): Promise<void> {
    if (this.term) return;
    const subscriptions: Array<() => void> = [];
    // The controllers subscribe in their constructors; this view lets the term end every subscription.
    const feed = Object.create(this.feed, {
      subscribe: {
        value: (fn: Parameters<ChangeFeed['subscribe']>[0]) => {
          subscriptions.push(this.feed.subscribe(fn));
          return () => undefined;
        },
      },
    }) as ChangeFeed;
    const informers = new SharedInformerFactory(new InProcessClient(this.service, this.registry));
    const namespaces = new NamespaceController(this.registry, this.service, informers);
    const gc = new GarbageCollector(this.registry, this.service, feed);
    const aggregator = new ClusterRoleAggregator(this.registry, this.service, feed);
    const expiry = new ObjectExpiry(this.registry, this.service.store, feed);
    const stop = async () => {
      for (const unsubscribe of subscriptions) unsubscribe();
      informers.stop();
      await expiry.stop();
      await Promise.all([namespaces.stop(), gc.stop()]);
    };
    this.term = { stop };
    try {
      // Subscribed first, then loaded: a change during the load is seen twice at worst, never missed.
      await gc.load();
      await aggregator.sync();
      await expiry.load();
      informers.start();
      await namespaces.run();
      gc.run();
      expiry.start();
    } catch (e) {
      this.term = undefined;
      await stop();
      throw e;
    }
  }

  /** Stops the controllers (no-op when not running). */
  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const term = this.term;
    this.term = undefined;
    await term?.stop();
  }
}
