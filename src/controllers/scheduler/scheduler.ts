// The embedded scheduler (kube-scheduler's semantics for Node-level placement): takes pods with no
// nodeName whose schedulerName is default-scheduler (or unset), filters the nodes, scores the
// feasible ones, binds through pods/binding. Pods it has bound count against their node at once
// (kube's "assumed" pods) so the next decision never waits for the watch. A pod that fits nowhere
// gets PodScheduled=False/Unschedulable and a FailedScheduling Event with kube's message, and is
// tried again when nodes change or pods go away.

import { Controller, SharedInformerFactory, objectKey, byField, isNotFound, type Client, type KObject } from '../runtime/index.ts';
import { PODS, NODES, EVENTS, eventFor, now, stableJson } from '../workloads/common.ts';
import { podRequests, nodeAllocatable, NON_ZERO_CPU, NON_ZERO_MEMORY, type Resources } from './resources.ts';
import { FILTERS, scoreLeastAllocated, rawPreferredAffinity, rawIntolerablePreferNoSchedule, WEIGHTS, type NodeState, type PodInfo } from './plugins.ts';
import { preFilter, filterTopologySpread, filterInterPodAffinity, rawSpreadScore, type PlacedPod } from './interpod.ts';

export const DEFAULT_SCHEDULER = 'default-scheduler';

interface Placed extends PlacedPod {
  requests: Resources;
  cpu: number;
  memory: number;
}

export interface SchedulerOptions {
  /** Retry interval for unschedulable pods when nothing changes (kube: at most 5 minutes). */
  unschedulableRetryMs?: number;
  /** Keep every placement's latency in `latencies` (the benchmark's; off in a server, where it would grow forever). */
  recordLatencies?: boolean;
}

/** kube's numFeasibleNodesToFind with the adaptive percentageOfNodesToScore. */
export function feasibleNodesToFind(total: number): number {
  if (total < 100) return total;
  const pct = Math.max(5, 50 - Math.floor(total / 125));
  return Math.max(100, Math.floor((total * pct) / 100));
}

export class Scheduler {
  readonly controller: Controller;
  private readonly pods;
  private readonly nodes;
  private readonly states = new Map<string, NodeState>();
  /** Pods counted against a node: bound (seen in the cache) or assumed (bound by us, not yet seen). */
  private readonly placed = new Map<string, Placed>();
  /** Placed pods with required anti-affinity: while there are any, every pod is checked against them. */
  private antiAffinityPods = 0;
  private nodeOrder: string[] = [];
  private nodeOrderDirty = true;
  private nextStart = 0;
  private readonly unschedulable = new Set<string>();
  private flushTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  /** Latency of each successful placement (queue → bind call returned), for the benchmark. */
  readonly latencies: number[] = [];
  private readonly enqueuedAt = new Map<string, number>();

  constructor(private readonly client: Client, factory: SharedInformerFactory, private readonly opts: SchedulerOptions = {}) {
    this.pods = factory.informerFor(PODS, { indexers: { nodeName: byField('spec.nodeName') } });
    this.nodes = factory.informerFor(NODES);
    this.controller = new Controller('scheduler', (key) => this.scheduleOne(key), { workers: 1 });
    this.pods.addEventHandler({
      onAdd: (p) => this.onPod(undefined, p),
      onUpdate: (o, p) => this.onPod(o, p),
      onDelete: (p) => this.onPodGone(p),
    });
    this.nodes.addEventHandler({
      onAdd: (n) => this.onNode(n),
      onUpdate: (_, n) => this.onNode(n),
      onDelete: (n) => {
        this.states.delete(n.metadata.name);
        this.nodeOrderDirty = true;
      },
    });
  }

  run(): void {
    this.controller.run(1);
    this.retryTimer = setInterval(() => this.flushUnschedulable(), this.opts.unschedulableRetryMs ?? 60_000);
    this.retryTimer.unref();
  }

  stop(): void {
    clearInterval(this.retryTimer);
    clearTimeout(this.flushTimer);
    void this.controller.stop();
  }

  private static wants(p: KObject): boolean {
    return !p.spec?.nodeName && (p.spec?.schedulerName ?? DEFAULT_SCHEDULER) === DEFAULT_SCHEDULER && !p.metadata?.deletionTimestamp
      && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
  }

  private onPod(_old: KObject | undefined, p: KObject): void {
    const key = objectKey(p);
    const node = p.spec?.nodeName;
    if (node && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed') {
      // A newly bound pod may satisfy a waiting pod's affinity.
      if (!this.placed.has(key)) this.scheduleFlush();
      this.place(key, node, p);
    }
    else if (node) this.unplace(key, true);
    if (Scheduler.wants(p)) {
      // A changed spec (tolerations, affinity, resources) may fit now: kube moves such pods back to the active queue.
      if (_old && this.unschedulable.has(key) && stableJson(_old.spec) !== stableJson(p.spec)) this.unschedulable.delete(key);
      if (!this.unschedulable.has(key)) {
        if (!this.enqueuedAt.has(key)) this.enqueuedAt.set(key, performance.now());
        this.controller.enqueue(key);
      }
    }
  }

  private onPodGone(p: KObject): void {
    const key = objectKey(p);
    this.unschedulable.delete(key);
    this.enqueuedAt.delete(key);
    if (this.unplace(key, true)) this.scheduleFlush();
  }

  private onNode(n: KObject): void {
    const name = n.metadata.name;
    const prev = this.states.get(name);
    const st: NodeState = prev ?? { node: n, name, labels: {}, allocatable: new Map(), requested: new Map(), nonZeroCpu: 0, nonZeroMemory: 0, pods: 0 };
    st.node = n;
    st.labels = n.metadata.labels ?? {};
    st.allocatable = nodeAllocatable(n);
    if (!prev) {
      this.states.set(name, st);
      this.nodeOrderDirty = true;
      // Pods seen before their node.
      for (const [, pl] of this.placed) if (pl.node === name) this.account(st, pl, 1);
    }
    this.scheduleFlush();
  }

  private account(st: NodeState, pl: Placed, sign: 1 | -1): void {
    for (const [k, v] of pl.requests) st.requested.set(k, (st.requested.get(k) ?? 0) + sign * v);
    st.nonZeroCpu += sign * pl.cpu;
    st.nonZeroMemory += sign * pl.memory;
    st.pods += sign;
  }

  private place(key: string, node: string, pod: KObject): void {
    const cur = this.placed.get(key);
    if (cur && cur.node === node) return;
    if (cur) this.unplace(key, false);
    const requests = podRequests(pod);
    const anti: KObject[] | undefined = pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    const pl: Placed = {
      node, requests, cpu: requests.get('cpu') || NON_ZERO_CPU, memory: requests.get('memory') || NON_ZERO_MEMORY,
      namespace: pod.metadata?.namespace ?? 'default', labels: pod.metadata?.labels ?? {}, ...(anti?.length ? { antiAffinity: anti } : {}),
    };
    if (pl.antiAffinity) this.antiAffinityPods++;
    this.placed.set(key, pl);
    const st = this.states.get(node);
    if (st) this.account(st, pl, 1);
  }

  private unplace(key: string, _freed: boolean): boolean {
    const pl = this.placed.get(key);
    if (!pl) return false;
    this.placed.delete(key);
    if (pl.antiAffinity) this.antiAffinityPods--;
    const st = this.states.get(pl.node);
    if (st) this.account(st, pl, -1);
    return true;
  }

  /** Something changed that may let unschedulable pods fit: try them again soon (batched). */
  private scheduleFlush(): void {
    if (!this.unschedulable.size || this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushUnschedulable();
    }, 100);
  }

  private flushUnschedulable(): void {
    const keys = [...this.unschedulable];
    this.unschedulable.clear();
    for (const k of keys) this.controller.enqueue(k);
  }

  private order(): string[] {
    if (this.nodeOrderDirty) {
      this.nodeOrder = [...this.states.keys()];
      this.nodeOrderDirty = false;
    }
    return this.nodeOrder;
  }

  /** Filters then scores; returns the chosen node or the failure message. */
  schedule(pod: KObject): { node: string } | { message: string } {
    const info: PodInfo = { pod, requests: podRequests(pod) };
    const order = this.order();
    const total = order.length;
    if (!total) return { message: 'no nodes available to schedule pods' };
    const want = feasibleNodesToFind(total);
    const pre = preFilter(pod, this.states, this.placed.values(), this.antiAffinityPods > 0);
    const filters = [...FILTERS.map((f) => (st: NodeState) => f(info, st)), (st: NodeState) => filterTopologySpread(pre, st), (st: NodeState) => filterInterPodAffinity(pre, st)];
    const feasible: NodeState[] = [];
    const reasons = new Map<string, number>();
    const preemption = new Map<string, number>();
    let examined = 0;
    for (; examined < total && feasible.length < want; examined++) {
      const st = this.states.get(order[(this.nextStart + examined) % total])!;
      let failed = false;
      for (const f of filters) {
        const r = f(st);
        if (!r) continue;
        failed = true;
        for (const reason of r.reasons) reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        const pre = r.unresolvable ? 'Preemption is not helpful for scheduling.' : 'No preemption victims found for incoming pod.';
        preemption.set(pre, (preemption.get(pre) ?? 0) + 1);
        break;
      }
      if (!failed) feasible.push(st);
    }
    this.nextStart = (this.nextStart + examined) % total;
    if (!feasible.length) {
      const histogram = (m: Map<string, number>) => [...m].map(([r, n]) => `${n} ${r}`).sort().join(', ');
      return { message: `0/${total} nodes are available: ${histogram(reasons)}. preemption: 0/${total} nodes are available: ${histogram(preemption)}.` };
    }
    if (feasible.length === 1) return { node: feasible[0].name };
    // Normalised plugin scores (0..100) times their weights; ties broken at random (reservoir).
    const aff = feasible.map((n) => rawPreferredAffinity(info, n));
    const maxAff = Math.max(...aff);
    const taints = feasible.map((n) => rawIntolerablePreferNoSchedule(info, n));
    const maxTaints = Math.max(...taints);
    const spread = feasible.map((n) => rawSpreadScore(pre, n));
    const maxSpread = Math.max(...spread);
    let best = -1;
    let chosen = feasible[0];
    let ties = 0;
    feasible.forEach((n, i) => {
      const s = WEIGHTS.resources * scoreLeastAllocated(info, n)
        + WEIGHTS.affinity * (maxAff > 0 ? (aff[i] * 100) / maxAff : 0)
        + WEIGHTS.taints * (maxTaints > 0 ? 100 - (taints[i] * 100) / maxTaints : 100)
        + WEIGHTS.spread * (maxSpread > 0 ? 100 - (spread[i] * 100) / maxSpread : 100);
      if (s > best) {
        best = s;
        chosen = n;
        ties = 1;
      } else if (s === best && Math.random() * ++ties < 1) chosen = n;
    });
    return { node: chosen.name };
  }

  private async scheduleOne(key: string): Promise<void> {
    const pod = this.pods.store.get(key);
    if (!pod || !Scheduler.wants(pod) || this.placed.has(key)) return;
    const result = this.schedule(pod);
    if ('message' in result) {
      this.unschedulable.add(key);
      this.enqueuedAt.delete(key);
      await this.markUnschedulable(pod, result.message);
      return;
    }
    // Assume, then bind without holding up the next pod (kube binds in its own goroutine).
    const node = result.node;
    this.place(key, node, pod);
    const started = this.enqueuedAt.get(key);
    this.enqueuedAt.delete(key);
    void this.bind(pod, node, started);
  }

  private async bind(pod: KObject, node: string, started: number | undefined): Promise<void> {
    const { namespace, name } = pod.metadata;
    try {
      await this.client.createSubresource(PODS, namespace, name, 'binding', {
        apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace, uid: pod.metadata.uid }, target: { apiVersion: 'v1', kind: 'Node', name: node },
      });
      if (started !== undefined && this.opts.recordLatencies) this.latencies.push(performance.now() - started);
      this.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${node}`);
    } catch (e) {
      // Forget the assumption; a pod that still wants a node is tried again with backoff.
      const key = objectKey(pod);
      if (this.placed.get(key)?.node === node && !this.pods.store.get(key)?.spec?.nodeName) this.unplace(key, true);
      if (!isNotFound(e)) setTimeout(() => this.controller.enqueue(key), 1000).unref();
    }
  }

  private async markUnschedulable(pod: KObject, message: string): Promise<void> {
    const cur = (pod.status?.conditions ?? []).find((c: KObject) => c?.type === 'PodScheduled');
    if (cur?.status === 'False' && cur.message === message) return; // nothing new to say
    this.record(pod, 'Warning', 'FailedScheduling', message);
    const conditions = (pod.status?.conditions ?? []).filter((c: KObject) => c?.type !== 'PodScheduled');
    conditions.push({ type: 'PodScheduled', status: 'False', lastProbeTime: null, lastTransitionTime: cur?.status === 'False' ? cur.lastTransitionTime : now(), reason: 'Unschedulable', message });
    try {
      await this.client.patch(PODS, pod.metadata.namespace, pod.metadata.name, 'merge', { status: { conditions } }, { subresource: 'status' });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  private record(pod: KObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ev = eventFor({ apiVersion: 'v1', kind: 'Pod', ...pod }, type, reason, message, DEFAULT_SCHEDULER);
    this.client.create(EVENTS, pod.metadata.namespace, ev).catch(() => undefined);
  }
}
