// The garbage collector for ownerReferences, as kube-controller-manager runs it:
// - Background: dependents whose owners are all gone are deleted;
// - Foreground: an owner carrying the "foregroundDeletion" finalizer has its dependents deleted
//   first, and loses the finalizer once none is left;
// - Orphan: an owner carrying the "orphan" finalizer has its ownerReference removed from every
//   dependent, then loses the finalizer.
// The change feed keeps an in-memory graph of owner uid → dependents (the GC's cache, built over
// every resource at once) and puts the uids that need attention on a work queue of the controller
// runtime: one uid is never handled twice at once, and a failing one is retried with backoff alone.

import type { Registry } from '../../apiserver/registry.ts';
import type { RestService } from '../../apiserver/rest.ts';
import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { StatusError } from '../../apiserver/errors.ts';
import type { ChangeFeed, ChangeEvent } from '../../apiserver/change-feed.ts';
import { Controller, type ReconcileResult } from '../runtime/index.ts';

interface Node {
  def: ResourceDefinition;
  namespace?: string;
  name: string;
  owners: string[]; // owner uids
  /** Deleting, and held by one of the GC's finalizers. */
  finalizer?: typeof FOREGROUND | typeof ORPHAN;
}

const FOREGROUND = 'foregroundDeletion';
const ORPHAN = 'orphan';

/** The owners' uids; stored data written before metadata was type-checked may hold anything here. */
function ownerUids(o: KObject | undefined): string[] {
  const refs: unknown[] = Array.isArray(o?.metadata?.ownerReferences) ? o.metadata.ownerReferences : [];
  return refs.map((r) => (r as KObject | null)?.uid).filter((uid): uid is string => typeof uid === 'string' && uid !== '');
}

export class GarbageCollector {
  private nodes = new Map<string, Node>(); // uid → node
  private dependents = new Map<string, Set<string>>(); // owner uid → dependent uids
  readonly controller: Controller;

  constructor(
    private registry: Registry,
    private service: RestService,
    feed: ChangeFeed,
    private retryMs = 500,
  ) {
    this.controller = new Controller('garbage collector', (uid) => this.reconcile(uid), { workers: 4 });
    feed.subscribe((ev) => this.onChange(ev));
  }

  /** Builds the graph from the current state (at start, before the feed runs) and queues what needs a look. */
  async load(): Promise<void> {
    const seen = new Set<string>();
    for (const def of this.registry.all()) {
      if (seen.has(`${def.group}/${def.resource}`)) continue;
      seen.add(`${def.group}/${def.resource}`);
      const list = await this.service.store.list(def, undefined, {});
      for (const o of list.items) this.track(def, o);
    }
    // Owners deleted while the server was down leave dependents behind; deletions may be half done.
    for (const [uid, n] of this.nodes) if (n.finalizer || n.owners.length) this.controller.enqueue(uid);
  }

  run(): void {
    this.controller.run();
  }

  stop(): Promise<void> {
    return this.controller.stop();
  }

  private track(def: ResourceDefinition, o: KObject): void {
    const uid = o.metadata.uid;
    this.untrack(uid);
    const owners = ownerUids(o);
    const fin: string[] = Array.isArray(o.metadata.finalizers) ? o.metadata.finalizers : [];
    const finalizer = !o.metadata.deletionTimestamp ? undefined : fin.includes(ORPHAN) ? ORPHAN : fin.includes(FOREGROUND) ? FOREGROUND : undefined;
    this.nodes.set(uid, { def, namespace: o.metadata.namespace, name: o.metadata.name, owners, finalizer });
    for (const ow of owners) {
      if (!this.dependents.has(ow)) this.dependents.set(ow, new Set());
      this.dependents.get(ow)!.add(uid);
    }
  }

  private untrack(uid: string): void {
    const n = this.nodes.get(uid);
    if (!n) return;
    for (const ow of n.owners) this.dependents.get(ow)?.delete(uid);
    this.nodes.delete(uid);
  }

  /** Keeps the graph current (synchronously, in feed order) and queues the uids to act on. */
  private onChange(ev: ChangeEvent): void {
    const o = ev.object;
    const uid = o.metadata.uid;
    if (ev.type === 'delete') {
      this.untrack(uid);
      // Its dependents may now be orphans; an owner waiting in the foreground may now be free.
      for (const dep of this.dependents.get(uid) ?? []) this.controller.enqueue(dep);
      this.dependents.delete(uid);
      for (const ow of ownerUids(ev.previous)) if (this.nodes.get(ow)?.finalizer === FOREGROUND) this.controller.enqueue(ow);
      return;
    }
    this.track(ev.def, o);
    const n = this.nodes.get(uid)!;
    if (n.finalizer || (ev.type === 'create' && n.owners.length)) this.controller.enqueue(uid);
  }

  private async reconcile(uid: string): Promise<ReconcileResult> {
    const n = this.nodes.get(uid);
    if (!n) return;
    if (n.finalizer === ORPHAN) return this.orphan(uid, n);
    if (n.finalizer === FOREGROUND) return this.foreground(uid, n);
    if (n.owners.length) await this.collectIfOrphaned(uid, n);
  }

  /** Deletes a dependent whose owners no longer exist. */
  private async collectIfOrphaned(uid: string, n: Node): Promise<void> {
    if (n.owners.some((ow) => this.nodes.has(ow))) return;
    // The graph may lag behind storage: confirm that no owner exists by uid.
    const obj = await this.service.store.get(n.def, n.namespace, n.name);
    const refs: KObject[] = obj?.metadata.ownerReferences ?? [];
    if (!obj || obj.metadata.uid !== uid || !refs.length) return;
    for (const ref of refs) if (await this.ownerExists(ref, n.namespace)) return;
    await this.ignoreGone(this.service.delete(n.def, n.namespace, n.name, { propagationPolicy: 'Background', preconditions: { uid } }));
  }

  private async ownerExists(ref: KObject, namespace: string | undefined): Promise<boolean> {
    const [group, version] = String(ref.apiVersion).includes('/') ? String(ref.apiVersion).split('/', 2) : ['', String(ref.apiVersion)];
    const def = this.registry.byKind(group, version, ref.kind) ?? this.registry.all().find((d) => d.group === group && d.kind === ref.kind);
    if (!def) return false; // an owner kind nobody serves can never exist
    const owner = await this.service.store.get(def, def.namespaced ? namespace : undefined, ref.name);
    return !!owner && owner.metadata.uid === ref.uid;
  }

  private async orphan(uid: string, owner: Node): Promise<void> {
    for (const dep of [...(this.dependents.get(uid) ?? [])]) {
      const n = this.nodes.get(dep);
      if (!n) continue;
      await this.ignoreGone(
        this.service.guaranteedUpdate(
          n.def,
          n.namespace,
          n.name,
          undefined,
          (o) => {
            const refs = (o.metadata.ownerReferences ?? []).filter((r: KObject) => r.uid !== uid);
            if (refs.length) o.metadata.ownerReferences = refs;
            else delete o.metadata.ownerReferences;
            return o;
          },
          {},
          { warnings: [] },
        ),
      );
    }
    await this.removeFinalizer(uid, owner, ORPHAN);
  }

  /** Deletes the dependents, and drops the finalizer once none is left (else looks again later). */
  private async foreground(uid: string, owner: Node): Promise<ReconcileResult> {
    const deps = [...(this.dependents.get(uid) ?? [])];
    for (const dep of deps) {
      const n = this.nodes.get(dep);
      if (!n || n.finalizer) continue; // already being deleted
      await this.ignoreGone(this.service.delete(n.def, n.namespace, n.name, { propagationPolicy: 'Foreground', preconditions: { uid: dep } }));
    }
    if ((this.dependents.get(uid)?.size ?? 0) > 0) return { requeueAfterMs: this.retryMs };
    await this.removeFinalizer(uid, owner, FOREGROUND);
  }

  private async removeFinalizer(uid: string, n: Node, finalizer: string): Promise<void> {
    await this.ignoreGone(
      this.service.guaranteedUpdate(
        n.def,
        n.namespace,
        n.name,
        undefined,
        (o) => {
          if (o.metadata.uid !== uid) return o;
          o.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f: string) => f !== finalizer);
          if (!o.metadata.finalizers.length) delete o.metadata.finalizers;
          return o;
        },
        {},
        { warnings: [] },
      ),
    );
  }

  /** 404: already gone; 409: a precondition says it is another object now. */
  private async ignoreGone(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (e) {
      if (!(e instanceof StatusError && (e.code === 404 || e.code === 409))) throw e;
    }
  }
}
