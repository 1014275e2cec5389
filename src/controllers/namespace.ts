// Namespace deletion, as kube-controller-manager's namespace controller does it: once a namespace is
// Terminating, delete everything in it, wait until nothing is left, then clear the "kubernetes"
// finalizer, which lets the namespace itself go.

import type { Registry } from '../apiserver/registry.ts';
import type { ResourceService } from '../apiserver/rest.ts';
import type { KObject, ResourceDefinition } from '../apiserver/resource.ts';
import { StatusError } from '../apiserver/errors.ts';
import type { ChangeFeed } from '../apiserver/change-feed.ts';

export class NamespaceController {
  private busy = new Set<string>();
  private retry = new Map<string, NodeJS.Timeout>();
  private failures = new Map<string, number>();

  constructor(private registry: Registry, private service: ResourceService, feed: ChangeFeed, private retryMs = 1000) {
    feed.subscribe((ev) => {
      if (ev.def.group === '' && ev.def.resource === 'namespaces' && ev.type !== 'delete' && ev.object.metadata.deletionTimestamp) {
        this.kick(ev.object.metadata.name);
      }
    });
  }

  /** Picks up namespaces that were terminating when the server stopped. */
  async resume(): Promise<void> {
    const nsDef = this.nsDef();
    const list = await this.service.list(nsDef, undefined, {});
    for (const ns of list.items as KObject[]) if (ns.metadata.deletionTimestamp) this.kick(ns.metadata.name);
  }

  stop(): void {
    for (const t of this.retry.values()) clearTimeout(t);
  }

  private nsDef(): ResourceDefinition {
    return this.registry.lookup('', 'v1', 'namespaces')!;
  }

  private kick(name: string): void {
    if (this.busy.has(name)) return;
    this.busy.add(name);
    void this.sync(name)
      .then(() => this.failures.delete(name))
      .catch((e: unknown) => {
        // One namespace's failure (e.g. content it cannot delete) must not stop the others, nor the process.
        const n = (this.failures.get(name) ?? 0) + 1;
        this.failures.set(name, n);
        console.error(`kubeve: namespace controller: deleting namespace ${name} failed (attempt ${n}):`, e instanceof Error ? e.message : e);
        this.later(name, Math.min(this.retryMs * 2 ** n, 60_000));
      })
      .finally(() => this.busy.delete(name));
  }

  private later(name: string, ms: number): void {
    clearTimeout(this.retry.get(name));
    this.retry.set(name, setTimeout(() => { this.retry.delete(name); this.kick(name); }, ms));
  }

  private async sync(name: string): Promise<void> {
    // The first pass deletes; a second finds what is still held by finalizers or grace periods.
    let remaining = await this.deleteContent(name);
    if (remaining > 0) remaining = await this.deleteContent(name);
    if (remaining > 0) {
      this.later(name, this.retryMs);
      return;
    }
    try {
      await this.service.guaranteedUpdate(this.nsDef(), undefined, name, undefined, (ns) => {
        ns.spec = { ...ns.spec, finalizers: (ns.spec?.finalizers ?? []).filter((f: string) => f !== 'kubernetes') };
        return ns;
      }, { subresource: 'finalize' }, { warnings: [] });
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) throw e;
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
      ? { type: 'NamespaceDeletionContentFailure', status: 'True', reason: 'ContentDeletionFailed', message: `Failed to delete all resource types, ${errors.length} remaining: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}` }
      : { type: 'NamespaceDeletionContentFailure', status: 'False', reason: 'ContentDeleted', message: 'All content successfully deleted, may be waiting on finalization' };
    try {
      await this.service.guaranteedUpdate(this.nsDef(), undefined, name, undefined, (ns) => {
        const conditions: KObject[] = ns.status?.conditions ?? [];
        const prev = conditions.find((c) => c.type === cond.type);
        if (!prev && !failed) return ns; // nothing ever failed: no condition to clear
        if (prev && prev.status === cond.status && prev.message === cond.message) return ns;
        const next = { ...cond, lastTransitionTime: prev?.status === cond.status ? prev.lastTransitionTime : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
        ns.status = { ...ns.status, conditions: [...conditions.filter((c) => c.type !== cond.type), next] };
        return ns;
      }, { subresource: 'status' }, { warnings: [] });
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) console.error(`kubeve: namespace controller: recording the condition of ${name} failed:`, e instanceof Error ? e.message : e);
    }
  }
}
