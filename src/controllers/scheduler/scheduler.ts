// The embedded scheduler (kube-scheduler's semantics for Node-level placement): takes pods with no
// nodeName whose schedulerName is default-scheduler (or unset), highest priority first, filters the
// nodes, scores the feasible ones, binds through pods/binding. Pods it has bound count against their
// node at once (kube's "assumed" pods) so the next decision never waits for the watch. A pod that
// fits nowhere may preempt lower-priority pods (it is then nominated to their node); otherwise it gets
// PodScheduled=False/Unschedulable and a FailedScheduling Event with kube's message, and is tried
// again when nodes change or pods go away. The decisions themselves live in cluster.ts.

import { type SharedInformerFactory, objectKey, isNotFound, type Client, type KObject } from '../runtime/index.ts';
import { PODS, NODES, EVENTS, PDBS, POD_NODE_INDEXERS, eventFor, now, stableJson } from '../workloads/common.ts';
import { ClusterState, podPriority, type Preemption } from './cluster.ts';
import { SchedulingQueue, type QueueOptions } from './queue.ts';

export { feasibleNodesToFind } from './cluster.ts';

export const DEFAULT_SCHEDULER = 'default-scheduler';

export interface SchedulerOptions extends QueueOptions {
  /** Retry interval for unschedulable pods when nothing changes (kube: at most 5 minutes). */
  unschedulableRetryMs?: number;
  /** Keep every placement's latency in `latencies` (the benchmark's; off in a server, where it would grow forever). */
  recordLatencies?: boolean;
}

export class Scheduler {
  private readonly pods;
  private readonly nodes;
  private readonly pdbs;
  readonly cluster = new ClusterState();
  readonly queue: SchedulingQueue;
  private flushTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  /** Latency of each successful placement (queue → bind call returned), for the benchmark. */
  readonly latencies: number[] = [];
  private readonly enqueuedAt = new Map<string, number>();

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
    private readonly opts: SchedulerOptions = {},
  ) {
    this.queue = new SchedulingQueue(opts);
    this.pods = factory.informerFor(PODS, { indexers: POD_NODE_INDEXERS });
    this.nodes = factory.informerFor(NODES);
    this.pdbs = factory.informerFor(PDBS);
    this.pods.addEventHandler({
      onAdd: (p) => this.onPod(undefined, p),
      onUpdate: (o, p) => this.onPod(o, p),
      onDelete: (p) => this.onPodGone(p),
    });
    this.nodes.addEventHandler({
      onAdd: (n) => this.onNode(n),
      onUpdate: (_, n) => this.onNode(n),
      onDelete: (n) => this.cluster.deleteNode(n.metadata.name),
    });
  }

  run(): void {
    this.running = this.loop();
    this.retryTimer = setInterval(() => this.queue.moveAllUnschedulable(), this.opts.unschedulableRetryMs ?? 60_000);
    this.retryTimer.unref();
  }

  stop(): Promise<void> {
    clearInterval(this.retryTimer);
    clearTimeout(this.flushTimer);
    this.queue.close();
    return this.running ?? Promise.resolve();
  }

  private async loop(): Promise<void> {
    for (;;) {
      const key = await this.queue.pop();
      if (key === undefined) return;
      try {
        await this.scheduleOne(key);
      } catch {
        this.queue.failed(key, false);
      }
    }
  }

  private static wants(p: KObject): boolean {
    // Gated pods (spec.schedulingGates) wait outside the queue until the last gate is removed.
    return (
      !p.spec?.nodeName &&
      (p.spec?.schedulerName ?? DEFAULT_SCHEDULER) === DEFAULT_SCHEDULER &&
      !p.metadata?.deletionTimestamp &&
      !p.spec?.schedulingGates?.length &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed'
    );
  }

  private onPod(old: KObject | undefined, p: KObject): void {
    const key = objectKey(p);
    const node = p.spec?.nodeName;
    if (node && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed') {
      // A newly bound pod may satisfy a waiting pod's affinity.
      if (!this.cluster.placed.has(key)) this.scheduleFlush();
      // A pod now terminating frees its node soon: pods waiting for it may be moved by its deletion.
      this.cluster.place(key, node, p);
    } else if (node && this.cluster.unplace(key)) this.scheduleFlush();
    if (!Scheduler.wants(p)) {
      this.cluster.nominate(key, undefined);
      if (!node) this.queue.delete(key);
      return;
    }
    this.cluster.nominate(key, p.status?.nominatedNodeName, p);
    if (!this.enqueuedAt.has(key)) this.enqueuedAt.set(key, performance.now());
    // A changed spec (tolerations, affinity, resources) may fit now: kube moves such pods back to the active queue.
    if (old && stableJson(old.spec) !== stableJson(p.spec)) this.queue.update(key, podPriority(p));
    else this.queue.add(key, podPriority(p));
  }

  private onPodGone(p: KObject): void {
    const key = objectKey(p);
    this.queue.delete(key);
    this.enqueuedAt.delete(key);
    this.cluster.nominate(key, undefined);
    if (this.cluster.unplace(key)) this.scheduleFlush();
  }

  private onNode(n: KObject): void {
    this.cluster.setNode(n);
    this.scheduleFlush();
  }

  /** Something changed that may let unschedulable pods fit: move them back soon (batched). */
  private scheduleFlush(): void {
    if (!this.queue.unschedulableCount || this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.queue.moveAllUnschedulable();
    }, 100);
  }

  private async scheduleOne(key: string): Promise<void> {
    const pod = this.pods.store.get(key);
    if (!pod || !Scheduler.wants(pod) || this.cluster.placed.has(key)) {
      this.queue.done(key);
      return;
    }
    const result = this.cluster.schedule(pod, key);
    if ('node' in result) {
      // Assume, then bind without holding up the next pod (kube binds in its own goroutine).
      this.cluster.place(key, result.node, pod);
      this.queue.done(key);
      const started = this.enqueuedAt.get(key);
      this.enqueuedAt.delete(key);
      void this.bind(pod, result.node, started);
      return;
    }
    this.queue.failed(key, true);
    let message = result.message;
    let nominate: string | null | undefined;
    if (result.failures.size) {
      const ineligible = this.cluster.preemptionIneligible(pod, result.failures);
      const found = ineligible
        ? { message: `preemption: ${ineligible}` }
        : this.cluster.findPreemption(pod, key, result.failures, result.total, this.pdbs.store.list());
      if ('victims' in found) {
        nominate = found.node;
        await this.preempt(pod, key, found);
      } else {
        message += ` ${found.message}`;
        // A pod that cannot preempt any more loses its nomination (kube clears it).
        if (!ineligible && pod.status?.nominatedNodeName) nominate = null;
      }
    }
    await this.markUnschedulable(pod, message, nominate);
  }

  /** kube's prepareCandidate: mark and delete the victims, take the node from lower-priority nominees, nominate the pod. */
  private async preempt(pod: KObject, key: string, c: Preemption): Promise<void> {
    const priority = podPriority(pod);
    await Promise.all(
      c.victims.map(async (v) => {
        const victim = this.pods.store.get(v.key);
        if (!victim) return;
        const { namespace, name } = victim.metadata;
        const conditions = (victim.status?.conditions ?? []).filter((x: KObject) => x?.type !== 'DisruptionTarget');
        conditions.push({
          type: 'DisruptionTarget',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: now(),
          reason: 'PreemptionByScheduler',
          message: `${pod.spec?.schedulerName ?? DEFAULT_SCHEDULER}: preempting to accommodate a higher priority pod`,
        });
        try {
          await this.client.patch(PODS, namespace, name, 'merge', { status: { conditions } }, { subresource: 'status' });
          await this.client.delete(PODS, namespace, name, { preconditions: { uid: victim.metadata.uid } });
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
        this.record(victim, 'Normal', 'Preempted', `Preempted by pod ${pod.metadata.uid} on node ${c.node}`);
      }),
    );
    for (const [k, nom] of this.cluster.nominated) {
      if (nom.node !== c.node || nom.priority >= priority || k === key) continue;
      this.cluster.nominate(k, undefined);
      const other = this.pods.store.get(k);
      if (other)
        await this.client
          .patch(PODS, other.metadata.namespace, other.metadata.name, 'merge', { status: { nominatedNodeName: null } }, { subresource: 'status' })
          .catch(() => undefined);
    }
    this.cluster.nominate(key, c.node, pod);
  }

  private async bind(pod: KObject, node: string, started: number | undefined): Promise<void> {
    const { namespace, name } = pod.metadata;
    try {
      await this.client.createSubresource(PODS, namespace, name, 'binding', {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name, namespace, uid: pod.metadata.uid },
        target: { apiVersion: 'v1', kind: 'Node', name: node },
      });
      if (started !== undefined && this.opts.recordLatencies) this.latencies.push(performance.now() - started);
      this.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${node}`);
    } catch (e) {
      // Forget the assumption; a pod that still wants a node is tried again with backoff.
      const key = objectKey(pod);
      if (this.cluster.placed.get(key)?.node === node && !this.pods.store.get(key)?.spec?.nodeName) this.cluster.unplace(key);
      if (!isNotFound(e)) this.queue.retry(key, podPriority(pod));
    }
  }

  /** PodScheduled=False/Unschedulable with the message, and the nomination (null clears it, undefined keeps it). */
  private async markUnschedulable(pod: KObject, message: string, nominate: string | null | undefined): Promise<void> {
    const cur = (pod.status?.conditions ?? []).find((c: KObject) => c?.type === 'PodScheduled');
    const nominationChanges = nominate !== undefined && (nominate ?? undefined) !== (pod.status?.nominatedNodeName || undefined);
    if (cur?.status === 'False' && cur.message === message && !nominationChanges) return; // nothing new to say
    this.record(pod, 'Warning', 'FailedScheduling', message);
    const conditions = (pod.status?.conditions ?? []).filter((c: KObject) => c?.type !== 'PodScheduled');
    conditions.push({
      type: 'PodScheduled',
      status: 'False',
      lastProbeTime: null,
      lastTransitionTime: cur?.status === 'False' ? cur.lastTransitionTime : now(),
      reason: 'Unschedulable',
      message,
    });
    try {
      await this.client.patch(
        PODS,
        pod.metadata.namespace,
        pod.metadata.name,
        'merge',
        { status: { conditions, ...(nominationChanges ? { nominatedNodeName: nominate } : {}) } },
        { subresource: 'status' },
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  private record(pod: KObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ev = eventFor({ apiVersion: 'v1', kind: 'Pod', ...pod }, type, reason, message, DEFAULT_SCHEDULER);
    this.client.create(EVENTS, pod.metadata.namespace, ev).catch(() => undefined);
  }
}
