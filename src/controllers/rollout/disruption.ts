// PodDisruptionBudgets seen from a rollout: a device reboot disrupts every pod bound to the
// device's Node (the kubelet bridge runs them as the device's apps; the Node is named like the
// EdgeNode). Before a pass activates devices it opens a DisruptionGuard over the devices already in
// flight; each candidate is admitted only if, for every budget selecting pods on it, the pods still
// healthy elsewhere stay at or above the budget's desiredHealthy. The budget's own status gives
// desiredHealthy (the disruption controller computes it from minAvailable/maxUnavailable and the
// workloads' scale); healthy pods are counted here, so pods on devices in flight count as disrupted
// whether or not their Ready condition has caught up with the reboot yet.

import type { KObject } from '../../apiserver/resource.ts';
import type { Informer, SharedInformerFactory } from '../runtime/index.ts';
import { boundPods, NODE_NAME_INDEX } from '../kubelet/resources.ts';
import { PDBS, isPodReady } from '../workloads/common.ts';
import { budgetSelects } from '../workloads/disruption.ts';

export class DisruptionBudgets {
  readonly pdbs: Informer;
  readonly pods: Informer;

  constructor(informers: SharedInformerFactory) {
    this.pdbs = informers.informerFor(PDBS);
    // The kubelet bridge's informer (same options): one pod cache for both.
    this.pods = boundPods(informers);
  }

  /** A guard for one pass: `disrupted` are the devices in flight (rebooting, testing, verifying). */
  guard(disrupted: Iterable<string>): DisruptionGuard {
    return new DisruptionGuard(this, new Set(disrupted));
  }
}

interface Budget {
  pdb: KObject;
  /** Ready selected pods not on a disrupted device, not being deleted, not evicted. */
  healthy: number;
  desired: number;
}

export class DisruptionGuard {
  private readonly budgets = new Map<string, Budget>();

  constructor(
    private readonly from: DisruptionBudgets,
    private readonly disrupted: Set<string>,
  ) {}

  /**
   * Admits `node` (its pods count as disrupted from now on) or says which budget holds it back.
   * A budget whose status the disruption controller has not computed yet holds it back too (the
   * eviction API refuses then as well).
   */
  admit(node: string): string | undefined {
    if (this.disrupted.has(node)) return undefined;
    const perBudget = new Map<string, { b: Budget; ready: number }>();
    for (const pod of this.from.pods.store.byIndex(NODE_NAME_INDEX, node)) {
      if (pod.metadata?.deletionTimestamp) continue;
      for (const pdb of this.from.pdbs.store.byIndex('namespace', String(pod.metadata?.namespace))) {
        if (pdb.metadata?.deletionTimestamp || !budgetSelects(pdb, pod)) continue;
        const key = `${pdb.metadata.namespace}/${pdb.metadata.name}`;
        const b = this.budgets.get(key) ?? this.load(key, pdb);
        const entry = perBudget.get(key) ?? { b, ready: 0 };
        if (isPodReady(pod)) entry.ready++;
        perBudget.set(key, entry);
      }
    }
    for (const [key, { b, ready }] of perBudget) {
      const st = b.pdb.status;
      if (typeof st?.desiredHealthy !== 'number' || (st.observedGeneration ?? 0) < (b.pdb.metadata?.generation ?? 0))
        return `PodDisruptionBudget ${key} has no current status yet`;
      if (b.healthy - ready < b.desired)
        return `PodDisruptionBudget ${key}: ${b.healthy} healthy pods outside the devices in flight, ${b.desired} must stay healthy; a reboot now would disrupt ${ready}`;
    }
    for (const { b, ready } of perBudget.values()) b.healthy -= ready;
    this.disrupted.add(node);
    return undefined;
  }

  private load(key: string, pdb: KObject): Budget {
    const evicted = pdb.status?.disruptedPods ?? {};
    let healthy = 0;
    for (const pod of this.from.pods.store.byIndex('namespace', String(pdb.metadata.namespace))) {
      if (pod.metadata?.deletionTimestamp || evicted[pod.metadata?.name] || !isPodReady(pod) || !budgetSelects(pdb, pod)) continue;
      if (this.disrupted.has(String(pod.spec?.nodeName))) continue;
      healthy++;
    }
    const b: Budget = { pdb, healthy, desired: Number(pdb.status?.desiredHealthy ?? 0) };
    this.budgets.set(key, b);
    return b;
  }
}
