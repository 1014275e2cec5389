// Namespace deletion, as kube-controller-manager's namespace controller does it: once a namespace is
// Terminating, delete everything in it, wait until nothing is left, then clear the "kubernetes"
// finalizer, which lets the namespace itself go. Runs on the controller runtime: an informer on
// namespaces feeds a work queue of names; a failing namespace is retried with backoff, alone.

import type { Registry } from '../../apiserver/registry.ts';
import type { RestService } from '../../apiserver/rest.ts';
import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { Controller, isNotFound, objectKey, type GVR, type Informer, type ReconcileResult, type SharedInformerFactory } from '../runtime/index.ts';
import { log } from '../../observability/log.ts';

const NAMESPACES: GVR = { group: '', version: 'v1', resource: 'namespaces' };

export class NamespaceController {
  private readonly informer: Informer;
  readonly controller: Controller;

  constructor(
    private registry: Registry,
    private service: RestService,
    informers: SharedInformerFactory,
    private retryMs = 1000,
  ) {
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
      await this.service.guaranteedUpdate(
        this.nsDef(),
        undefined,
        name,
        undefined,
        (cur) => {
          cur.spec = { ...cur.spec, finalizers: (Array.isArray(cur.spec?.finalizers) ? cur.spec.finalizers : []).filter((f: string) => f !== 'kubernetes') };
          return cur;
        },
        { subresource: 'finalize' },
        { warnings: [] },
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * Deletes every object in the namespace; returns how many were found. A resource that fails does
   * not stop the others: the failures are recorded in the namespace's NamespaceDeletionContentFailure
   * condition (kube's wording) and thrown, so the namespace is retried with backoff.
   */
  private async deleteContent(name: string): Promise<number> {
    // One definition per stored resource (several served versions share storage).
    const seen = new Set<string>();
    let remaining = 0;
    const errors: string[] = [];
    for (const def of this.registry.all()) {
      if (!def.namespaced || seen.has(`${def.group}/${def.resource}`) || !def.verbs.includes('delete')) continue;
      seen.add(`${def.group}/${def.resource}`);
      try {
        const left = await this.service.deleteCollection(def, name, {}, { propagationPolicy: 'Background' });
        remaining += (left.items as KObject[]).length;
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    await this.setContentFailure(name, errors);
    if (errors.length) throw new Error(`failed to delete all resource types, ${errors.length} remaining: ${errors.join(', ')}`);
    return remaining;
  }

  /** The NamespaceDeletionContentFailure condition, written only when it changes. */
  private async setContentFailure(name: string, errors: string[]): Promise<void> {
    const failed = errors.length > 0;
    const cond = failed
      ? {
          type: 'NamespaceDeletionContentFailure',
          status: 'True',
          reason: 'ContentDeletionFailed',
          message: `Failed to delete all resource types, ${errors.length} remaining: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}`,
        }
      : {
          type: 'NamespaceDeletionContentFailure',
          status: 'False',
          reason: 'ContentDeleted',
          message: 'All content successfully deleted, may be waiting on finalization',
        };
    try {
      await this.service.guaranteedUpdate(
        this.nsDef(),
        undefined,
        name,
        undefined,
        (ns) => {
          const conditions: KObject[] = ns.status?.conditions ?? [];
          const prev = conditions.find((c) => c.type === cond.type);
          if (!prev && !failed) return ns; // nothing ever failed: no condition to clear
          if (prev && prev.status === cond.status && prev.message === cond.message) return ns;
          const next = {
            ...cond,
            lastTransitionTime: prev?.status === cond.status ? prev.lastTransitionTime : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          };
          ns.status = { ...ns.status, conditions: [...conditions.filter((c) => c.type !== cond.type), next] };
          return ns;
        },
        { subresource: 'status' },
        { warnings: [] },
      );
    } catch (e) {
      if (!isNotFound(e)) log.error('namespace controller: recording the condition failed', e, { namespace: name });
    }
  }
}
