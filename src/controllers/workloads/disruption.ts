// The disruption controller's status half (kube-controller-manager's disruption controller): for
// every PodDisruptionBudget, how many selected pods are expected, how many must stay healthy, how
// many are, and so how many evictions the pods/eviction subresource may allow now. Pods the
// eviction subresource recorded in status.disruptedPods do not count as healthy until they are seen
// going, or for two minutes at most.

import { Controller, type SharedInformerFactory, objectKey, isNotFound, isConflict, type Client, type KObject } from '../runtime/index.ts';
import { PODS, PDBS, REPLICASETS, DEPLOYMENTS, controllerRef, isPodReady, stableJson, now } from './common.ts';
import { selectorMatches } from '../../api/builtin/pod-template.ts';

const DELETION_TIMEOUT_MS = 2 * 60_000;

export class DisruptionController {
  readonly controller: Controller;
  private readonly pdbs;
  private readonly pods;
  private readonly rses;
  private readonly deployments;

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
  ) {
    this.pdbs = factory.informerFor(PDBS);
    this.pods = factory.informerFor(PODS);
    this.rses = factory.informerFor(REPLICASETS);
    this.deployments = factory.informerFor(DEPLOYMENTS);
    this.controller = new Controller('disruption', (key) => this.sync(key), { workers: 1 });
    const enqueue = (o: KObject) => this.controller.enqueue(objectKey(o));
    this.pdbs.addEventHandler({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o), onDelete: enqueue });
    const byPod = (p: KObject) => {
      for (const b of this.pdbs.store.byIndex('namespace', p.metadata.namespace)) if (budgetSelects(b, p)) enqueue(b);
    };
    this.pods.addEventHandler({ onAdd: byPod, onUpdate: (_, p) => byPod(p), onDelete: byPod });
  }

  run(): void {
    this.controller.run(1);
  }

  /** The scale of the controllers behind these pods (getExpectedScale), for percentages and maxUnavailable. */
  private expectedScale(pods: KObject[]): number | undefined {
    const seen = new Map<string, number>();
    for (const p of pods) {
      const ref = controllerRef(p);
      if (!ref) return undefined; // an unmanaged pod: kube refuses to compute a scale then
      let scale: number | undefined;
      let uid = ref.uid;
      if (ref.kind === 'ReplicaSet') {
        const rs = this.rses.store.getByName(p.metadata.namespace, ref.name);
        const dref = rs && controllerRef(rs);
        const d = dref?.kind === 'Deployment' ? this.deployments.store.getByName(p.metadata.namespace, dref.name) : undefined;
        if (d) {
          scale = d.spec?.replicas ?? 1;
          uid = d.metadata.uid;
        } else scale = rs?.spec?.replicas;
      }
      if (scale === undefined) return undefined;
      seen.set(uid, scale);
    }
    return [...seen.values()].reduce((s, n) => s + n, 0);
  }

  private async sync(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const pdb = this.pdbs.store.get(key);
    if (!pdb || pdb.metadata.deletionTimestamp) return;
    const pods = this.pods.store.byIndex('namespace', pdb.metadata.namespace).filter((p) => budgetSelects(pdb, p));
    const t = Date.now();
    // Forget disrupted pods that are gone, going, or overdue.
    const disrupted: Record<string, string> = {};
    let requeueAfterMs: number | undefined;
    for (const [name, at] of Object.entries((pdb.status?.disruptedPods ?? {}) as Record<string, string>)) {
      const p = pods.find((x) => x.metadata.name === name);
      const due = Date.parse(at) + DELETION_TIMEOUT_MS;
      if (!p || p.metadata.deletionTimestamp || due <= t) continue;
      disrupted[name] = at;
      requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, due - t + 100);
    }
    const currentHealthy = pods.filter((p) => !p.metadata.deletionTimestamp && isPodReady(p) && !disrupted[p.metadata.name]).length;
    let expectedPods = pods.length;
    let desiredHealthy = 0;
    const { minAvailable, maxUnavailable } = pdb.spec ?? {};
    const pct = (v: unknown) => (typeof v === 'string' && v.endsWith('%') ? Number(v.slice(0, -1)) : undefined);
    if (maxUnavailable !== undefined) {
      const scale = this.expectedScale(pods);
      if (scale !== undefined) {
        expectedPods = scale;
        const p = pct(maxUnavailable);
        const max = p !== undefined ? Math.ceil((p * scale) / 100) : Number(maxUnavailable);
        desiredHealthy = Math.max(0, scale - max);
      } else desiredHealthy = expectedPods;
    } else if (minAvailable !== undefined) {
      const p = pct(minAvailable);
      if (p === undefined) desiredHealthy = Number(minAvailable);
      else {
        const scale = this.expectedScale(pods) ?? pods.length;
        expectedPods = scale;
        desiredHealthy = Math.ceil((p * scale) / 100);
      }
    }
    const disruptionsAllowed = Math.max(0, currentHealthy - desiredHealthy);
    const prev = (pdb.status?.conditions ?? []).find((c: KObject) => c?.type === 'DisruptionAllowed');
    const allowed = disruptionsAllowed > 0;
    const cond = {
      type: 'DisruptionAllowed',
      status: allowed ? 'True' : 'False',
      reason: allowed ? 'SufficientPods' : 'InsufficientPods',
      message: '',
      observedGeneration: pdb.metadata.generation,
      lastTransitionTime: prev && prev.status === (allowed ? 'True' : 'False') ? prev.lastTransitionTime : now(),
    };
    const status: KObject = {
      ...(Object.keys(disrupted).length ? { disruptedPods: disrupted } : {}),
      disruptionsAllowed,
      currentHealthy,
      desiredHealthy,
      expectedPods,
      observedGeneration: pdb.metadata.generation,
      conditions: [cond],
    };
    if (stableJson(status) !== stableJson(pdb.status ?? {})) {
      try {
        await this.client.updateStatus(PDBS, { ...pdb, status });
      } catch (e) {
        if (isConflict(e)) return { requeueAfterMs: 20 };
        if (!isNotFound(e)) throw e;
      }
    }
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  }
}

/** policy/v1: an empty selector selects every pod of the namespace, a missing one none. */
export function budgetSelects(pdb: KObject, pod: KObject): boolean {
  const sel = pdb.spec?.selector;
  if (!sel || typeof sel !== 'object') return false;
  if (!Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length) return true;
  return selectorMatches(sel, pod.metadata?.labels ?? {});
}
