// The ReplicaSet controller (kube-controller-manager's replicaset controller): keeps
// spec.replicas active pods per ReplicaSet. Pods are owned through a controller ownerReference;
// matching orphans are adopted, owned pods that no longer match are released. Expectations stop a
// sync from acting twice on creates/deletes the cache has not shown yet. Surplus pods are deleted
// in kube's order (unassigned, pending, not ready, crowded nodes, recently ready, restarts, newest).

import { Controller, type SharedInformerFactory, objectKey, isNotFound, isConflict, type Client, type KObject } from '../runtime/index.ts';
import { PODS, REPLICASETS, controllerRef, ownerRefTo, selects, isActive, isPodReady, isPodAvailable, condition } from './common.ts';

const EXPECTATION_TTL_MS = 5 * 60_000;
const BURST = 500;

interface Expectation {
  add: number;
  del: number;
  at: number;
}

export class ReplicaSetController {
  readonly controller: Controller;
  readonly rses;
  private readonly pods;
  private readonly expectations = new Map<string, Expectation>();

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
  ) {
    this.rses = factory.informerFor(REPLICASETS);
    this.pods = factory.informerFor(PODS);
    this.controller = new Controller('replicaset', (key) => this.sync(key), { workers: 2 });
    const enqueue = (o: KObject) => this.controller.enqueue(objectKey(o));
    this.rses.addEventHandler({
      onAdd: enqueue,
      onUpdate: (_, o) => enqueue(o),
      onDelete: (o) => {
        this.expectations.delete(objectKey(o));
        enqueue(o);
      },
    });
    this.pods.addEventHandler({
      onAdd: (p) => {
        const k = this.ownerKey(p);
        if (k) {
          this.observe(k, 'add');
          this.controller.enqueue(k);
        } else this.enqueueMatching(p);
      },
      onUpdate: (o, p) => {
        const k = this.ownerKey(p);
        if (k && p.metadata.deletionTimestamp && !o.metadata.deletionTimestamp) this.observe(k, 'del');
        const ok = this.ownerKey(o);
        if (ok && ok !== k) this.controller.enqueue(ok);
        if (k) this.controller.enqueue(k);
        else this.enqueueMatching(p);
      },
      onDelete: (p) => {
        const k = this.ownerKey(p);
        if (k) {
          if (!p.metadata.deletionTimestamp) this.observe(k, 'del');
          this.controller.enqueue(k);
        }
      },
    });
  }

  run(workers = 2): void {
    this.controller.run(workers);
  }

  private ownerKey(p: KObject): string | undefined {
    const ref = controllerRef(p);
    if (ref?.kind !== 'ReplicaSet') return undefined;
    const rs = this.rses.store.getByName(p.metadata.namespace, ref.name);
    return rs && rs.metadata.uid === ref.uid ? objectKey(rs) : undefined;
  }

  private enqueueMatching(p: KObject): void {
    for (const rs of this.rses.store.byIndex('namespace', p.metadata.namespace)) if (selects(rs.spec?.selector, p)) this.controller.enqueue(objectKey(rs));
  }

  private observe(key: string, what: 'add' | 'del'): void {
    const e = this.expectations.get(key);
    if (e && e[what] > 0) e[what]--;
  }

  private satisfied(key: string): boolean {
    const e = this.expectations.get(key);
    return !e || (e.add <= 0 && e.del <= 0) || Date.now() - e.at > EXPECTATION_TTL_MS;
  }

  private async sync(key: string): Promise<void> {
    const rs = this.rses.store.get(key);
    if (!rs) return;
    const ns = rs.metadata.namespace;
    const pods = await this.claimPods(rs, this.pods.store.byIndex('namespace', ns));
    const active = pods.filter(isActive);
    if (this.satisfied(key) && !rs.metadata.deletionTimestamp) await this.manageReplicas(rs, key, active);
    await this.updateStatus(rs, pods);
  }

  /** Adopts matching orphans and releases owned pods that stopped matching (PodControllerRefManager). */
  private async claimPods(rs: KObject, all: KObject[]): Promise<KObject[]> {
    const owned: KObject[] = [];
    const uid = rs.metadata.uid;
    for (const p of all) {
      const ref = controllerRef(p);
      const matches = selects(rs.spec?.selector, p);
      if (ref) {
        if (ref.uid !== uid) continue;
        if (matches || p.metadata.deletionTimestamp) {
          owned.push(p);
          continue;
        }
        const refs = (p.metadata.ownerReferences as KObject[]).filter((r) => r.uid !== uid);
        await this.client
          .patch(PODS, p.metadata.namespace, p.metadata.name, 'merge', { metadata: { ownerReferences: refs, resourceVersion: p.metadata.resourceVersion } })
          .catch(ignoreGone);
        continue;
      }
      if (!matches || p.metadata.deletionTimestamp || rs.metadata.deletionTimestamp || !isActive(p)) continue;
      const refs = [...(p.metadata.ownerReferences ?? []), ownerRefTo(rs, 'ReplicaSet', 'apps/v1')];
      try {
        owned.push(
          await this.client.patch(PODS, p.metadata.namespace, p.metadata.name, 'merge', {
            metadata: { ownerReferences: refs, resourceVersion: p.metadata.resourceVersion },
          }),
        );
      } catch (e) {
        ignoreGone(e);
      }
    }
    return owned;
  }

  private async manageReplicas(rs: KObject, key: string, active: KObject[]): Promise<void> {
    const want = rs.spec?.replicas ?? 1;
    const diff = active.length - want;
    if (diff < 0) {
      const n = Math.min(-diff, BURST);
      this.expectations.set(key, { add: n, del: 0, at: Date.now() });
      // Slow start: batches of 1, 2, 4, ... so a failing create does not fire n requests.
      let done = 0;
      for (let batch = 1; done < n; batch *= 2) {
        const size = Math.min(batch, n - done);
        const results = await Promise.allSettled(Array.from({ length: size }, () => this.createPod(rs)));
        done += size;
        const failed = results.filter((r) => r.status === 'rejected');
        if (failed.length) {
          const e = this.expectations.get(key);
          if (e) e.add -= failed.length + (n - done);
          throw (failed[0] as PromiseRejectedResult).reason;
        }
      }
    } else if (diff > 0) {
      const victims = rankForDeletion(active).slice(0, Math.min(diff, BURST));
      this.expectations.set(key, { add: 0, del: victims.length, at: Date.now() });
      await Promise.all(
        victims.map((p) =>
          this.client.delete(PODS, p.metadata.namespace, p.metadata.name, { preconditions: { uid: p.metadata.uid } }).catch((e) => {
            this.observe(key, 'del');
            ignoreGone(e);
          }),
        ),
      );
    }
  }

  private createPod(rs: KObject): Promise<KObject> {
    const t = rs.spec?.template ?? {};
    const pod: KObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${rs.metadata.name}-`,
        labels: { ...(t.metadata?.labels ?? {}) },
        ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
        ownerReferences: [ownerRefTo(rs, 'ReplicaSet', 'apps/v1')],
      },
      spec: structuredClone(t.spec ?? {}),
    };
    return this.client.create(PODS, rs.metadata.namespace, pod);
  }

  private async updateStatus(rs: KObject, pods: KObject[]): Promise<void> {
    const active = pods.filter(isActive);
    const minReady = rs.spec?.minReadySeconds ?? 0;
    const tmplLabels: Record<string, string> = rs.spec?.template?.metadata?.labels ?? {};
    const status: KObject = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) => Object.entries(tmplLabels).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
      readyReplicas: active.filter(isPodReady).length,
      availableReplicas: active.filter((p) => isPodAvailable(p, minReady)).length,
      terminatingReplicas: pods.filter((p) => p.metadata.deletionTimestamp).length,
      observedGeneration: rs.metadata.generation,
    };
    const failure = condition(rs, 'ReplicaFailure');
    if (failure) status.conditions = [failure];
    const cur = rs.status ?? {};
    if (['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'].every((k) => (cur[k] ?? 0) === (status[k] ?? 0))) {
      // Pods becoming available after minReadySeconds are noticed by looking again then.
      if (minReady && status.readyReplicas !== status.availableReplicas) this.controller.enqueue(objectKey(rs));
      return;
    }
    for (const k of ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'terminatingReplicas']) if (!status[k]) delete status[k];
    try {
      await this.client.updateStatus(REPLICASETS, { ...rs, status });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
      if (isConflict(e)) this.controller.enqueue(objectKey(rs));
    }
  }
}

function ignoreGone(e: unknown): void {
  if (!isNotFound(e) && !isConflict(e)) throw e;
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** Surplus pods first, as controller.ActivePodsWithRanks sorts them (ranked by pods of the set on the same node). */
export function rankForDeletion(candidates: KObject[]): KObject[] {
  const perNode = new Map<string, number>();
  for (const p of candidates) if (p.spec?.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
  const readySince = (p: KObject) => Date.parse(condition(p, 'Ready')?.lastTransitionTime ?? '') || 0;
  const restarts = (p: KObject) => ((p.status?.containerStatuses ?? []) as KObject[]).reduce((s, c) => Math.max(s, c?.restartCount ?? 0), 0);
  const created = (p: KObject) => Date.parse(p.metadata.creationTimestamp ?? '') || 0;
  return [...candidates].sort((a, b) => {
    const an = a.spec?.nodeName ? 1 : 0,
      bn = b.spec?.nodeName ? 1 : 0;
    if (an !== bn) return an - bn;
    const ap = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0,
      bp = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
    if (ap !== bp) return ap - bp;
    const ar = isPodReady(a) ? 1 : 0,
      br = isPodReady(b) ? 1 : 0;
    if (ar !== br) return ar - br;
    const ac = perNode.get(a.spec?.nodeName) ?? 0,
      bc = perNode.get(b.spec?.nodeName) ?? 0;
    if (ac !== bc) return bc - ac;
    if (ar && br && readySince(a) !== readySince(b)) return readySince(b) - readySince(a);
    if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
    return created(b) - created(a);
  });
}
