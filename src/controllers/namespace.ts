// Namespace deletion, as kube-controller-manager's namespace controller does it: once a namespace is
// Terminating, delete everything in it, wait until nothing is left, then clear the "kubernetes"
// finalizer, which lets the namespace itself go. Runs on the controller runtime: an informer on
// namespaces feeds a work queue of names; a failing namespace is retried with backoff, alone.

import type { Registry } from '../apiserver/registry.ts';
import type { ResourceService } from '../apiserver/rest.ts';
import type { KObject, ResourceDefinition } from '../apiserver/resource.ts';
import { Controller, isNotFound, objectKey, type GVR, type Informer, type ReconcileResult, type SharedInformerFactory } from './runtime/index.ts';

const NAMESPACES: GVR = { group: '', version: 'v1', resource: 'namespaces' };

export class NamespaceController {
  private readonly informer: Informer;
  readonly controller: Controller;

  constructor(private registry: Registry, private service: ResourceService, informers: SharedInformerFactory, private retryMs = 1000) {
    this.informer = informers.informerFor(NAMESPACES);
    this.controller = new Controller('namespace controller', (name) => this.reconcile(name), { workers: 2 });
    const kick = (ns: KObject) => {
      if (ns.metadata.deletionTimestamp) this.controller.enqueue(objectKey(ns));
    };
    this.informer.addEventHandler({ onAdd: kick, onUpdate: (_, ns) => kick(ns) });
  }

  /** Starts the workers once the informer has synced (terminating namespaces left from before a restart are in its first list). */
  async run(): Promise<void> {
    await this.informer.waitForSync();
    this.controller.run();
  }

  stop(): Promise<void> {
    return this.controller.stop();
  }

  private nsDef(): ResourceDefinition {
    return this.registry.lookup('', 'v1', 'namespaces')!;
  }

  private async reconcile(name: string): Promise<ReconcileResult> {
    const ns = this.informer.store.get(name);
    if (!ns?.metadata.deletionTimestamp) return;
    // The first pass deletes; a second finds what is still held by finalizers or grace periods.
    let remaining = await this.deleteContent(name);
    if (remaining > 0) remaining = await this.deleteContent(name);
    if (remaining > 0) return { requeueAfterMs: this.retryMs };
    try {
      await this.service.guaranteedUpdate(this.nsDef(), undefined, name, undefined, (cur) => {
        cur.spec = { ...cur.spec, finalizers: (cur.spec?.finalizers ?? []).filter((f: string) => f !== 'kubernetes') };
        return cur;
      }, { subresource: 'finalize' }, { warnings: [] });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Deletes every object in the namespace; returns how many were found. */
  private async deleteContent(name: string): Promise<number> {
    // One definition per stored resource (several served versions share storage).
    const seen = new Set<string>();
    let remaining = 0;
    for (const def of this.registry.all()) {
      if (!def.namespaced || seen.has(`${def.group}/${def.resource}`) || !def.verbs.includes('delete')) continue;
      seen.add(`${def.group}/${def.resource}`);
      const left = await this.service.deleteCollection(def, name, {}, { propagationPolicy: 'Background' });
      remaining += (left.items as KObject[]).length;
    }
    return remaining;
  }
}
