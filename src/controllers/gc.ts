// The garbage collector for ownerReferences, as kube-controller-manager runs it:
// - Background: dependents whose owners are all gone are deleted;
// - Foreground: an owner carrying the "foregroundDeletion" finalizer has its dependents deleted
//   first, and loses the finalizer once none is left;
// - Orphan: an owner carrying the "orphan" finalizer has its ownerReference removed from every
//   dependent, then loses the finalizer.
// It keeps an in-memory graph of owner uid → dependents, fed by the change feed.

import type { Registry } from '../apiserver/registry.ts';
import type { ResourceService } from '../apiserver/rest.ts';
import type { KObject, ResourceDefinition } from '../apiserver/resource.ts';
import { StatusError } from '../apiserver/errors.ts';
import type { ChangeFeed, ChangeEvent } from '../apiserver/change-feed.ts';

interface Node {
  def: ResourceDefinition;
  namespace?: string;
  name: string;
  owners: string[]; // owner uids
}

const FOREGROUND = 'foregroundDeletion';

/** The owners' uids; stored data may be of any shape, so only well-formed references count. */
function ownerUids(o: KObject | undefined): string[] {
  const refs: unknown[] = Array.isArray(o?.metadata?.ownerReferences) ? o.metadata.ownerReferences : [];
  return refs.map((r) => (r as KObject | null)?.uid).filter((uid): uid is string => typeof uid === 'string' && uid !== '');
}

function logError(o: KObject, e: unknown): void {
  console.error(`kubeve: garbage collector: ${o.metadata?.namespace ?? ''}/${o.metadata?.name}:`, e instanceof Error ? e.message : e);
}
const ORPHAN = 'orphan';

export class GarbageCollector {
  private nodes = new Map<string, Node>(); // uid → node
  private dependents = new Map<string, Set<string>>(); // owner uid → dependent uids
  private retry?: NodeJS.Timeout;
  private waiting = new Map<string, KObject>(); // owners whose finalizer waits on dependents

  constructor(private registry: Registry, private service: ResourceService, feed: ChangeFeed, private retryMs = 500) {
    feed.subscribe((ev) => this.onChange(ev));
  }

  /** Builds the graph from the current state (at start, before the feed runs). */
  async load(): Promise<KObject[]> {
    const seen = new Set<string>();
    const withFinalizers: KObject[] = [];
    for (const def of this.registry.all()) {
      if (seen.has(`${def.group}/${def.resource}`)) continue;
      seen.add(`${def.group}/${def.resource}`);
      const list = await this.service.store.list(def, undefined, {});
      for (const o of list.items) {
        this.track(def, o);
        if (o.metadata.deletionTimestamp) withFinalizers.push(o);
      }
    }
    for (const o of withFinalizers) {
      const def = this.nodes.get(o.metadata.uid)?.def;
      // One object the collector cannot handle must not keep the server from starting.
      if (def) await this.onChange({ type: 'update', def, object: o }).catch((e: unknown) => logError(o, e));
    }
    return withFinalizers;
  }

  stop(): void {
    clearTimeout(this.retry);
  }

  private track(def: ResourceDefinition, o: KObject): void {
    const uid = o.metadata.uid;
    this.untrack(uid);
    const owners = ownerUids(o);
    this.nodes.set(uid, { def, namespace: o.metadata.namespace, name: o.metadata.name, owners });
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

  private async onChange(ev: ChangeEvent): Promise<void> {
    const o = ev.object;
    const uid = o.metadata.uid;
    if (ev.type === 'delete') {
      this.untrack(uid);
      this.waiting.delete(uid);
      for (const dep of [...(this.dependents.get(uid) ?? [])]) await this.collectIfOrphaned(dep);
      this.dependents.delete(uid);
      // An owner waiting in the foreground may now be free.
      for (const owner of ownerUids(ev.previous)) {
        if (this.waiting.get(owner)) await this.finishForeground(owner);
      }
      return;
    }
    this.track(ev.def, o);
    const fin: string[] = o.metadata.finalizers ?? [];
    if (o.metadata.deletionTimestamp && fin.includes(ORPHAN)) await this.orphan(ev.def, o);
    else if (o.metadata.deletionTimestamp && fin.includes(FOREGROUND)) await this.foreground(ev.def, o);
    else if (ev.type === 'create' && this.nodes.get(uid)!.owners.length) await this.collectIfOrphaned(uid);
  }

  /** Deletes a dependent whose owners no longer exist. */
  private async collectIfOrphaned(uid: string): Promise<void> {
    const n = this.nodes.get(uid);
    if (!n || !n.owners.length) return;
    if (n.owners.some((ow) => this.nodes.has(ow))) return;
    // The graph may lag behind storage: confirm that no owner exists by uid.
    const obj = await this.service.store.get(n.def, n.namespace, n.name);
    if (!obj || obj.metadata.uid !== uid) return;
    for (const ref of obj.metadata.ownerReferences ?? []) if (await this.ownerExists(ref, n.namespace)) return;
    await this.ignoreNotFound(this.service.delete(n.def, n.namespace, n.name, { propagationPolicy: 'Background', preconditions: { uid } }));
  }

  private async ownerExists(ref: KObject, namespace: string | undefined): Promise<boolean> {
    const [group, version] = String(ref.apiVersion).includes('/') ? String(ref.apiVersion).split('/', 2) : ['', String(ref.apiVersion)];
    const def = this.registry.byKind(group, version, ref.kind) ?? this.registry.all().find((d) => d.group === group && d.kind === ref.kind);
    if (!def) return false; // an owner kind nobody serves can never exist
    const owner = await this.service.store.get(def, def.namespaced ? namespace : undefined, ref.name);
    return !!owner && owner.metadata.uid === ref.uid;
  }

  private async orphan(def: ResourceDefinition, owner: KObject): Promise<void> {
    const uid = owner.metadata.uid;
    for (const dep of [...(this.dependents.get(uid) ?? [])]) {
      const n = this.nodes.get(dep);
      if (!n) continue;
      await this.ignoreNotFound(this.service.guaranteedUpdate(n.def, n.namespace, n.name, undefined, (o) => {
        const refs = (o.metadata.ownerReferences ?? []).filter((r: KObject) => r.uid !== uid);
        if (refs.length) o.metadata.ownerReferences = refs;
        else delete o.metadata.ownerReferences;
        return o;
      }, {}, { warnings: [] }));
    }
    await this.removeFinalizer(def, owner, ORPHAN);
  }

  private async foreground(def: ResourceDefinition, owner: KObject): Promise<void> {
    const uid = owner.metadata.uid;
    this.waiting.set(uid, owner);
    const deps = [...(this.dependents.get(uid) ?? [])];
    for (const dep of deps) {
      const n = this.nodes.get(dep);
      if (!n) continue;
      await this.ignoreNotFound(this.service.delete(n.def, n.namespace, n.name, { propagationPolicy: 'Foreground' }));
    }
    await this.finishForeground(uid);
  }

  /** Removes the foreground finalizer once no dependent is left; otherwise checks again later. */
  private async finishForeground(uid: string): Promise<void> {
    const owner = this.waiting.get(uid);
    if (!owner) return;
    if ((this.dependents.get(uid)?.size ?? 0) > 0) {
      this.retry ??= setTimeout(() => {
        this.retry = undefined;
        for (const [id, o] of [...this.waiting]) this.finishForeground(id).catch((e: unknown) => logError(o, e));
      }, this.retryMs);
      return;
    }
    this.waiting.delete(uid);
    const n = this.nodes.get(uid);
    if (n) await this.removeFinalizer(n.def, owner, FOREGROUND);
  }

  private async removeFinalizer(def: ResourceDefinition, obj: KObject, finalizer: string): Promise<void> {
    await this.ignoreNotFound(this.service.guaranteedUpdate(def, obj.metadata.namespace, obj.metadata.name, undefined, (o) => {
      if (o.metadata.uid !== obj.metadata.uid) return o;
      o.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f: string) => f !== finalizer);
      if (!o.metadata.finalizers.length) delete o.metadata.finalizers;
      return o;
    }, {}, { warnings: [] }));
  }

  private async ignoreNotFound(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (e) {
      if (!(e instanceof StatusError && (e.code === 404 || e.code === 409))) throw e;
    }
  }
}
