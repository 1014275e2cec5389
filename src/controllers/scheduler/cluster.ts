// The scheduler's view of the cluster and its decisions on it, with no I/O: nodes with the requests
// of the pods placed on them, the pods nominated to nodes by preemption, and the algorithm — filter,
// score, and (when nothing fits) find preemption victims. The Scheduler feeds it from informers and
// acts on its answers; the placement preview (plan.ts) feeds it from one list and never binds.

import type { KObject } from '../runtime/index.ts';
import { selectorMatches } from '../../api/builtin/pod-template.ts';
import { podRequests, nodeAllocatable, NON_ZERO_CPU, NON_ZERO_MEMORY, type Resources } from './resources.ts';
import {
  FILTERS,
  scoreLeastAllocated,
  rawPreferredAffinity,
  rawIntolerablePreferNoSchedule,
  WEIGHTS,
  type NodeState,
  type PodInfo,
  type FilterFailure,
} from './plugins.ts';
import {
  preFilter,
  filterTopologySpread,
  filterInterPodAffinity,
  rawSpreadScore,
  preScoreInterPod,
  rawInterPodScore,
  type PlacedPod,
  type InterPodState,
} from './interpod.ts';

export interface Placed extends PlacedPod {
  key: string;
  name: string;
  uid?: string;
  priority: number;
  /** Start (or creation) time in ms: among equal priorities the older pod is the more important. */
  startedAt: number;
  requests: Resources;
  cpu: number;
  memory: number;
  terminating: boolean;
  /** Terminating because the scheduler preempted it (DisruptionTarget/PreemptionByScheduler). */
  preempted: boolean;
}

export interface Nominated {
  node: string;
  priority: number;
  requests: Resources;
}

/** A pod's priority as admission resolved it (spec.priority; 0 when unset). */
export const podPriority = (pod: KObject): number => (Number.isInteger(pod?.spec?.priority) ? pod.spec.priority : 0);

/** kube's numFeasibleNodesToFind with the adaptive percentageOfNodesToScore. */
export function feasibleNodesToFind(total: number): number {
  if (total < 100) return total;
  const pct = Math.max(5, 50 - Math.floor(total / 125));
  return Math.max(100, Math.floor((total * pct) / 100));
}

export type ScheduleResult = { node: string } | { message: string; failures: Map<string, FilterFailure>; total: number };

export interface Preemption {
  node: string;
  victims: Placed[];
  pdbViolations: number;
}

const MSG_NO_VICTIMS = 'No preemption victims found for incoming pod.';
const MSG_NOT_HELPFUL = 'Preemption is not helpful for scheduling.';

const histogram = (m: Map<string, number>) =>
  [...m]
    .map(([r, n]) => `${n} ${r}`)
    .sort()
    .join(', ');
const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

export class ClusterState {
  readonly states = new Map<string, NodeState>();
  /** Pods counted against a node: bound (seen in the cache) or assumed (bound by us, not yet seen). */
  readonly placed = new Map<string, Placed>();
  /** Pods nominated to a node by preemption and not placed yet: their requests are held there for them. */
  readonly nominated = new Map<string, Nominated>();
  /** Placed pods with required anti-affinity: while there are any, every pod is checked against them. */
  private antiAffinityPods = 0;
  /** Placed pods with any pod (anti-)affinity term: while there are any, every pod is scored against them. */
  private affinityPods = 0;
  private nodeOrder: string[] = [];
  private nodeOrderDirty = true;
  private nextStart = 0;

  setNode(n: KObject): boolean {
    const name = n.metadata.name;
    const prev = this.states.get(name);
    const st: NodeState = prev ?? { node: n, name, labels: {}, allocatable: new Map(), requested: new Map(), nonZeroCpu: 0, nonZeroMemory: 0, pods: 0 };
    st.node = n;
    st.labels = n.metadata.labels ?? {};
    st.allocatable = nodeAllocatable(n);
    if (prev) return false;
    this.states.set(name, st);
    this.nodeOrderDirty = true;
    // Pods seen before their node.
    for (const pl of this.placed.values()) if (pl.node === name) this.account(st, pl, 1);
    return true;
  }

  deleteNode(name: string): void {
    this.states.delete(name);
    this.nodeOrderDirty = true;
  }

  /** Counts a pod against a node (again, if it moved or its state changed). */
  place(key: string, node: string, pod: KObject): void {
    const cur = this.placed.get(key);
    const terminating = !!pod.metadata?.deletionTimestamp;
    if (cur && cur.node === node) {
      cur.terminating = terminating;
      cur.preempted = terminating && preemptedByScheduler(pod);
      return;
    }
    if (cur) this.unplace(key);
    this.nominated.delete(key);
    const requests = podRequests(pod);
    const affinity: KObject | undefined = pod.spec?.affinity;
    const anti: KObject[] | undefined = affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    const hasTerms = !!(affinity?.podAffinity || affinity?.podAntiAffinity);
    const started = Date.parse(pod.status?.startTime ?? pod.metadata?.creationTimestamp ?? '');
    const pl: Placed = {
      key,
      node,
      name: pod.metadata?.name,
      uid: pod.metadata?.uid,
      priority: podPriority(pod),
      startedAt: Number.isNaN(started) ? Date.now() : started,
      requests,
      cpu: requests.get('cpu') || NON_ZERO_CPU,
      memory: requests.get('memory') || NON_ZERO_MEMORY,
      namespace: pod.metadata?.namespace ?? 'default',
      labels: pod.metadata?.labels ?? {},
      terminating,
      preempted: terminating && preemptedByScheduler(pod),
      ...(anti?.length ? { antiAffinity: anti } : {}),
      ...(hasTerms ? { podAffinity: affinity } : {}),
    };
    if (pl.antiAffinity) this.antiAffinityPods++;
    if (pl.podAffinity) this.affinityPods++;
    this.placed.set(key, pl);
    const st = this.states.get(node);
    if (st) this.account(st, pl, 1);
  }

  unplace(key: string): boolean {
    const pl = this.placed.get(key);
    if (!pl) return false;
    this.placed.delete(key);
    if (pl.antiAffinity) this.antiAffinityPods--;
    if (pl.podAffinity) this.affinityPods--;
    const st = this.states.get(pl.node);
    if (st) this.account(st, pl, -1);
    return true;
  }

  nominate(key: string, node: string | undefined, pod?: KObject): void {
    if (!node || !pod) this.nominated.delete(key);
    else this.nominated.set(key, { node, priority: podPriority(pod), requests: podRequests(pod) });
  }

  private account(st: NodeState, pl: Placed, sign: 1 | -1): void {
    for (const [k, v] of pl.requests) st.requested.set(k, (st.requested.get(k) ?? 0) + sign * v);
    st.nonZeroCpu += sign * pl.cpu;
    st.nonZeroMemory += sign * pl.memory;
    st.pods += sign;
  }

  private order(): string[] {
    if (this.nodeOrderDirty) {
      this.nodeOrder = [...this.states.keys()];
      this.nodeOrderDirty = false;
    }
    return this.nodeOrder;
  }

  /**
   * The node as `pod` must see it: with the requests of pods of equal or higher priority nominated
   * there (kube's addGENominatedPods), and without `without` (preemption's dry run).
   */
  private viewOf(st: NodeState, key: string, priority: number, without?: Iterable<Placed>): NodeState {
    let view = st;
    const copy = () => {
      if (view === st) view = { ...st, requested: new Map(st.requested) };
      return view;
    };
    for (const [k, nom] of this.nominated) {
      if (nom.node !== st.name || k === key || nom.priority < priority) continue;
      const v = copy();
      for (const [r, q] of nom.requests) v.requested.set(r, (v.requested.get(r) ?? 0) + q);
      v.pods++;
    }
    for (const pl of without ?? []) {
      const v = copy();
      for (const [r, q] of pl.requests) v.requested.set(r, (v.requested.get(r) ?? 0) - q);
      v.nonZeroCpu -= pl.cpu;
      v.nonZeroMemory -= pl.memory;
      v.pods--;
    }
    return view;
  }

  private filtersFor(info: PodInfo, pre: InterPodState | undefined): ((st: NodeState) => FilterFailure | undefined)[] {
    return [
      ...FILTERS.map((f) => (st: NodeState) => f(info, st)),
      (st: NodeState) => filterTopologySpread(pre, st),
      (st: NodeState) => filterInterPodAffinity(pre, st),
    ];
  }

  private firstFailure(filters: ((st: NodeState) => FilterFailure | undefined)[], st: NodeState): FilterFailure | undefined {
    for (const f of filters) {
      const r = f(st);
      if (r) return r;
    }
    return undefined;
  }

  /** Filters then scores; returns the chosen node, or kube's FitError message with each refused node's failure. */
  schedule(pod: KObject, key: string): ScheduleResult {
    const info: PodInfo = { pod, requests: podRequests(pod) };
    const priority = podPriority(pod);
    const order = this.order();
    const total = order.length;
    if (!total) return { message: 'no nodes available to schedule pods', failures: new Map(), total };
    const pre = preFilter(pod, this.states, this.placed.values(), this.antiAffinityPods > 0);
    const filters = this.filtersFor(info, pre);
    const view = (st: NodeState) => (this.nominated.size ? this.viewOf(st, key, priority) : st);
    // A pod nominated by an earlier preemption tries its nominated node first (kube's evaluateNominatedNode).
    const nominated = pod.status?.nominatedNodeName && this.states.get(pod.status.nominatedNodeName);
    if (nominated && !this.firstFailure(filters, view(nominated))) return { node: nominated.name };
    const want = feasibleNodesToFind(total);
    const feasible: NodeState[] = [];
    // Refused nodes and why, kept cheaply: only a pod that fits nowhere needs them (message, preemption).
    const refused: NodeState[] = [];
    const why: FilterFailure[] = [];
    let examined = 0;
    for (; examined < total && feasible.length < want; examined++) {
      const st = this.states.get(order[(this.nextStart + examined) % total])!;
      const r = this.firstFailure(filters, view(st));
      if (r) {
        refused.push(st);
        why.push(r);
      } else feasible.push(st);
    }
    this.nextStart = (this.nextStart + examined) % total;
    if (!feasible.length) {
      const failures = new Map<string, FilterFailure>(refused.map((st, i) => [st.name, why[i]]));
      const reasons = new Map<string, number>();
      for (const f of failures.values()) for (const r of f.reasons) count(reasons, r);
      return { message: `0/${total} nodes are available: ${histogram(reasons)}.`, failures, total };
    }
    if (feasible.length === 1) return { node: feasible[0].name };
    return { node: this.score(info, pre, feasible) };
  }

  /** Normalised plugin scores (0..100) times their weights; ties broken at random (reservoir). */
  private score(info: PodInfo, pre: InterPodState | undefined, feasible: NodeState[]): string {
    const aff = feasible.map((n) => rawPreferredAffinity(info, n));
    const maxAff = Math.max(...aff);
    const taints = feasible.map((n) => rawIntolerablePreferNoSchedule(info, n));
    const maxTaints = Math.max(...taints);
    const spread = feasible.map((n) => rawSpreadScore(pre, n));
    const maxSpread = Math.max(...spread);
    const podScores = preScoreInterPod(info.pod, this.states, this.placed.values(), this.affinityPods > 0);
    const inter = podScores ? feasible.map((n) => rawInterPodScore(podScores, n)) : undefined;
    const minInter = inter ? Math.min(...inter) : 0;
    const interRange = inter ? Math.max(...inter) - minInter : 0;
    let best = -1;
    let chosen = feasible[0];
    let ties = 0;
    feasible.forEach((n, i) => {
      const s =
        WEIGHTS.resources * scoreLeastAllocated(info, n) +
        WEIGHTS.affinity * (maxAff > 0 ? (aff[i] * 100) / maxAff : 0) +
        WEIGHTS.taints * (maxTaints > 0 ? 100 - (taints[i] * 100) / maxTaints : 100) +
        WEIGHTS.spread * (maxSpread > 0 ? 100 - (spread[i] * 100) / maxSpread : 100) +
        WEIGHTS.interPodAffinity * (inter && interRange > 0 ? ((inter[i] - minInter) * 100) / interRange : 0);
      if (s > best) {
        best = s;
        chosen = n;
        ties = 1;
      } else if (s === best && Math.random() * ++ties < 1) chosen = n;
    });
    return chosen.name;
  }

  /** kube's PodEligibleToPreemptOthers: the reason the pod may not preempt, or undefined. */
  preemptionIneligible(pod: KObject, failures: Map<string, FilterFailure>): string | undefined {
    if (pod.spec?.preemptionPolicy === 'Never') return 'not eligible due to preemptionPolicy=Never.';
    const nom: string | undefined = pod.status?.nominatedNodeName;
    if (nom && !failures.get(nom)?.unresolvable) {
      const priority = podPriority(pod);
      for (const pl of this.placed.values())
        if (pl.node === nom && pl.priority < priority && pl.preempted) return 'not eligible due to a terminating pod on the nominated node.';
    }
    return undefined;
  }

  /**
   * DefaultPreemption's dry run: on each node that failed for a reason preemption can help with,
   * the fewest lower-priority pods whose removal lets the pod fit (PDB-protected pods reprieved
   * first), then the best node by kube's order. Returns the candidate or the "preemption:" message.
   */
  findPreemption(pod: KObject, key: string, failures: Map<string, FilterFailure>, total: number, pdbs: KObject[]): Preemption | { message: string } {
    const priority = podPriority(pod);
    const info: PodInfo = { pod, requests: podRequests(pod) };
    const statuses = new Map<string, number>();
    const candidates: Preemption[] = [];
    const byNode = new Map<string, Placed[]>();
    for (const pl of this.placed.values())
      if (pl.priority < priority) {
        if (!byNode.has(pl.node)) byNode.set(pl.node, []);
        byNode.get(pl.node)!.push(pl);
      }
    const interPod = !!(
      pod.spec?.topologySpreadConstraints?.length ||
      pod.spec?.affinity?.podAffinity ||
      pod.spec?.affinity?.podAntiAffinity ||
      this.antiAffinityPods > 0
    );
    // kube stops after max(10% of the nodes, 100) candidates, starting at a random node.
    const want = Math.min(failures.size, Math.max(100, Math.floor(total / 10)));
    const names = [...failures.keys()];
    const offset = Math.floor(Math.random() * names.length);
    for (let i = 0; i < names.length && candidates.length < want; i++) {
      const name = names[(offset + i) % names.length];
      const failure = failures.get(name)!;
      if (failure.unresolvable) {
        count(statuses, MSG_NOT_HELPFUL);
        continue;
      }
      const st = this.states.get(name);
      const potential = byNode.get(name) ?? [];
      if (!st || !potential.length) {
        count(statuses, MSG_NO_VICTIMS);
        continue;
      }
      const fits = (removed: Set<Placed>) => {
        const pre = interPod
          ? preFilter(
              pod,
              this.states,
              [...this.placed.values()].filter((p) => !removed.has(p)),
              this.antiAffinityPods > 0,
            )
          : undefined;
        return this.firstFailure(this.filtersFor(info, pre), this.viewOf(st, key, priority, removed));
      };
      const removed = new Set(potential);
      const still = fits(removed);
      if (still) {
        for (const r of still.reasons) count(statuses, r);
        continue;
      }
      // Most important first (higher priority, then older), so they are the first reprieved.
      potential.sort((a, b) => b.priority - a.priority || a.startedAt - b.startedAt);
      const { violating, nonViolating } = splitByPDB(potential, pdbs);
      const victims: Placed[] = [];
      let pdbViolations = 0;
      const reprieve = (p: Placed) => {
        removed.delete(p);
        if (!fits(removed)) return true;
        removed.add(p);
        victims.push(p);
        return false;
      };
      for (const p of violating) if (!reprieve(p)) pdbViolations++;
      for (const p of nonViolating) reprieve(p);
      victims.sort((a, b) => b.priority - a.priority || a.startedAt - b.startedAt);
      candidates.push({ node: name, victims, pdbViolations });
    }
    if (!candidates.length) return { message: `preemption: 0/${total} nodes are available: ${histogram(statuses)}.` };
    return pickCandidate(candidates);
  }
}

function preemptedByScheduler(pod: KObject): boolean {
  return (pod.status?.conditions ?? []).some((c: KObject) => c?.type === 'DisruptionTarget' && c.status === 'True' && c.reason === 'PreemptionByScheduler');
}

/** Victims whose eviction would take a PDB below its budget (disruptionsAllowed counted down in order), and the rest. */
function splitByPDB(pods: Placed[], pdbs: KObject[]): { violating: Placed[]; nonViolating: Placed[] } {
  const allowed = pdbs.map((p) => Number(p.status?.disruptionsAllowed ?? 0));
  const violating: Placed[] = [];
  const nonViolating: Placed[] = [];
  for (const p of pods) {
    let violated = false;
    if (Object.keys(p.labels).length)
      pdbs.forEach((pdb, i) => {
        const sel = pdb.spec?.selector;
        if (pdb.metadata?.namespace !== p.namespace || !sel) return;
        if (!Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length) return;
        if (!selectorMatches(sel, p.labels) || pdb.status?.disruptedPods?.[p.name]) return;
        if (--allowed[i] < 0) violated = true;
      });
    (violated ? violating : nonViolating).push(p);
  }
  return { violating, nonViolating };
}

/** kube's pickOneNodeForPreemption: fewest PDB violations, lowest top victim priority, lowest priority sum, fewest victims, latest start of the top victims. */
function pickCandidate(cs: Preemption[]): Preemption {
  const keep = (f: (c: Preemption) => number) => {
    const best = Math.min(...cs.map(f));
    cs = cs.filter((c) => f(c) === best);
  };
  keep((c) => c.pdbViolations);
  keep((c) => (c.victims.length ? c.victims[0].priority : -Infinity));
  // Shifted so negative priorities still add up as smaller (kube adds MaxInt32+1 to each).
  keep((c) => c.victims.reduce((s, v) => s + v.priority + 2 ** 31, 0));
  keep((c) => c.victims.length);
  keep((c) => {
    const top = c.victims[0]?.priority;
    return -Math.min(...c.victims.filter((v) => v.priority === top).map((v) => v.startedAt));
  });
  return cs[0];
}
