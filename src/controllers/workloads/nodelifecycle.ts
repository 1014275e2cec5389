// Node lifecycle for nodes that are not EVE devices (kube-controller-manager's node-lifecycle and
// taint-eviction controllers). A node whose kubelet stops renewing its Lease (kube-node-lease/<node>)
// and stops posting status for longer than the grace period gets Ready (and the pressure
// conditions) Unknown with kube's texts, its pods Ready=False, and the unreachable NoSchedule and
// NoExecute taints (not-ready ones while Ready=False); the taints go when Ready is True again. Pods
// on a node with NoExecute taints they do not tolerate are deleted at once; tolerated for
// tolerationSeconds, they are deleted when that runs out unless the taint goes first.
// Nodes labelled kubeve.io/edge-node belong to the kubelet bridge, which does all of this its own
// way (disconnected is not dead): they are skipped.

import { type SharedInformerFactory, LEASES, objectKey, isNotFound, isConflict, type Client, type KObject } from '../runtime/index.ts';
import { tolerates } from '../scheduler/plugins.ts';
import { NODES, PODS, EVENTS, POD_NODE_INDEXERS, eventFor, now } from './common.ts';
import { EDGE_NODE_LABEL } from '../kubelet/resources.ts';
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const COMPONENT = 'node-controller';

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
/** Conditions the controller marks Unknown with Ready (kube's list). */
const MONITORED = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

export interface NodeLifecycleOptions {
  /** How long a node may stay silent before it is Unknown (kube's --node-monitor-grace-period, default 40 s). */
  gracePeriodMs?: number;
  /** How often nodes are checked (kube's --node-monitor-period, 5 s). */
  monitorPeriodMs?: number;
}

const isEdge = (n: KObject | undefined) => !!n?.metadata?.labels?.[EDGE_NODE_LABEL];
const readyOf = (n: KObject) => ((n.status?.conditions ?? []) as KObject[]).find((c) => c?.type === 'Ready');

export class NodeLifecycleController {
  private readonly nodes;
  private readonly leases;
  private readonly pods;
  /** Per node: what we last heard from it (lease renewTime + Ready heartbeat) and when we saw that change, locally. */
  private readonly heard = new Map<string, { mark: string; at: number }>();
  /** Scheduled taint evictions per pod key. */
  private readonly evictions = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  private timer?: NodeJS.Timeout;
  private readonly grace: number;

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
    private readonly opts: NodeLifecycleOptions = {},
  ) {
    this.grace = opts.gracePeriodMs ?? 40_000;
    this.nodes = factory.informerFor(NODES);
    this.leases = factory.informerFor(LEASES, { namespace: NODE_LEASE_NAMESPACE });
    this.pods = factory.informerFor(PODS, { indexers: POD_NODE_INDEXERS });
    this.nodes.addEventHandler({
      onAdd: (n) => this.onNode(n),
      onUpdate: (_, n) => this.onNode(n),
      onDelete: (n) => this.heard.delete(n.metadata.name),
    });
    this.leases.addEventHandler({ onAdd: (l) => this.observe(l.metadata.name), onUpdate: (_, l) => this.observe(l.metadata.name) });
    this.pods.addEventHandler({
      onAdd: (p) => this.onPod(p),
      onUpdate: (o, p) => {
        if (o.spec?.nodeName !== p.spec?.nodeName || JSON.stringify(o.spec?.tolerations) !== JSON.stringify(p.spec?.tolerations)) this.onPod(p);
      },
      onDelete: (p) => this.cancel(objectKey(p), false),
    });
  }

  run(): void {
    this.timer = setInterval(() => void this.monitor().catch(() => undefined), this.opts.monitorPeriodMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const e of this.evictions.values()) clearTimeout(e.timer);
    this.evictions.clear();
  }

  /** Notes a sign of life: the node's lease renewTime or Ready heartbeat changed (times compared locally, as kube does). */
  private observe(name: string): void {
    const node = this.nodes.store.get(name);
    const lease = this.leases.store.get(`${NODE_LEASE_NAMESPACE}/${name}`);
    const mark = `${lease?.spec?.renewTime ?? ''}|${node ? (readyOf(node)?.lastHeartbeatTime ?? '') : ''}`;
    const prev = this.heard.get(name);
    if (!prev || prev.mark !== mark) this.heard.set(name, { mark, at: Date.now() });
  }

  private onNode(n: KObject): void {
    if (isEdge(n)) return;
    this.observe(n.metadata.name);
    void this.reconcileTaints(n).catch(() => undefined);
    for (const p of this.pods.store.byIndex('nodeName', n.metadata.name)) this.onPod(p);
  }

  /** The check kube runs every node-monitor-period: silent past the grace period → Unknown. */
  async monitor(): Promise<void> {
    const t = Date.now();
    for (const n of this.nodes.store.list()) {
      if (isEdge(n)) continue;
      const h = this.heard.get(n.metadata.name);
      if (!h || t - h.at <= this.grace) continue;
      if (readyOf(n)?.status === 'Unknown') continue;
      await this.markUnknown(n).catch(() => undefined);
    }
  }

  private async markUnknown(n: KObject): Promise<void> {
    const name = n.metadata.name;
    const stamp = now();
    const conditions: KObject[] = ((n.status?.conditions ?? []) as KObject[]).map((c) =>
      MONITORED.includes(c?.type) && c.status !== 'Unknown'
        ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: stamp }
        : c,
    );
    for (const type of MONITORED) {
      if (!conditions.some((c) => c?.type === type))
        conditions.push({
          type,
          status: 'Unknown',
          reason: 'NodeStatusNeverUpdated',
          message: 'Kubelet never posted node status.',
          lastHeartbeatTime: n.metadata.creationTimestamp,
          lastTransitionTime: stamp,
        });
    }
    await this.client.patch(NODES, undefined, name, 'merge', { status: { conditions } }, { subresource: 'status' });
    this.record({ ...n, apiVersion: 'v1', kind: 'Node' }, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
    // kube's MarkPodsNotReady: the node's pods stop counting as ready.
    for (const p of this.pods.store.byIndex('nodeName', name)) {
      const conds = (p.status?.conditions ?? []) as KObject[];
      const ready = conds.find((c) => c?.type === 'Ready');
      if (!ready || ready.status === 'False' || p.metadata.deletionTimestamp) continue;
      const next = conds.map((c) => (c === ready ? { ...c, status: 'False', lastTransitionTime: stamp } : c));
      await this.client
        .patch(PODS, p.metadata.namespace, p.metadata.name, 'merge', { status: { conditions: next } }, { subresource: 'status' })
        .catch(() => undefined);
      this.record(p, 'Warning', 'NodeNotReady', 'Node is not ready');
    }
  }

  /** Taints follow Ready: Unknown → unreachable, False → not-ready (NoSchedule and NoExecute each), True → neither. */
  private async reconcileTaints(n: KObject): Promise<void> {
    const status = readyOf(n)?.status;
    const want = status === 'Unknown' ? TAINT_UNREACHABLE : status === 'False' ? TAINT_NOT_READY : undefined;
    const taints = (n.spec?.taints ?? []) as KObject[];
    const ours = (t: KObject) => t?.key === TAINT_UNREACHABLE || t?.key === TAINT_NOT_READY;
    const keep = taints.filter((t) => !ours(t) || (t.key === want && (t.effect === 'NoSchedule' || t.effect === 'NoExecute')));
    const next = [...keep];
    const stamp = now();
    if (want)
      for (const effect of ['NoSchedule', 'NoExecute']) {
        if (!keep.some((t) => t.key === want && t.effect === effect)) next.push({ key: want, effect, ...(effect === 'NoExecute' ? { timeAdded: stamp } : {}) });
      }
    if (next.length === taints.length && keep.length === taints.length) return;
    try {
      await this.client.update(NODES, { ...n, spec: { ...n.spec, taints: next } });
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) throw e; // the next event about the node brings the fresh copy
    }
  }

  /** kube's taint-eviction: a pod on a node with NoExecute taints goes now, after tolerationSeconds, or never. */
  private onPod(p: KObject): void {
    const key = objectKey(p);
    const node = p.spec?.nodeName ? this.nodes.store.get(p.spec.nodeName) : undefined;
    if (!node || isEdge(node) || p.metadata?.deletionTimestamp) return this.cancel(key, !!node && !isEdge(node));
    const taints = ((node.spec?.taints ?? []) as KObject[]).filter((t) => t?.effect === 'NoExecute');
    if (!taints.length) return this.cancel(key, true);
    const tolerations = ((p.spec?.tolerations ?? []) as KObject[]).filter((t) => !t?.effect || t.effect === 'NoExecute');
    const used: KObject[] = [];
    for (const taint of taints) {
      const match = tolerations.filter((t) => tolerates([t], taint));
      if (!match.length) return this.schedule(p, 0);
      used.push(...match);
    }
    // The shortest tolerationSeconds of the tolerations in use; none set → tolerated forever.
    const secs = used.filter((t) => t.tolerationSeconds !== undefined && t.tolerationSeconds !== null).map((t) => Math.max(0, Number(t.tolerationSeconds)));
    if (!secs.length) return this.cancel(key, true);
    this.schedule(p, Math.min(...secs) * 1000);
  }

  private schedule(p: KObject, delayMs: number): void {
    const key = objectKey(p);
    const at = Date.now() + delayMs;
    const cur = this.evictions.get(key);
    if (cur && cur.at <= at) return; // an earlier deadline stands
    if (cur) clearTimeout(cur.timer);
    const timer = setTimeout(() => {
      this.evictions.delete(key);
      void this.evict(key).catch(() => undefined);
    }, delayMs);
    timer.unref();
    this.evictions.set(key, { timer, at });
  }

  private cancel(key: string, withEvent: boolean): void {
    const cur = this.evictions.get(key);
    if (!cur) return;
    clearTimeout(cur.timer);
    this.evictions.delete(key);
    const p = this.pods.store.get(key);
    if (withEvent && p) this.record(p, 'Normal', 'TaintManagerEviction', `Cancelling deletion of Pod ${key}`);
  }

  private async evict(key: string): Promise<void> {
    const p = this.pods.store.get(key);
    if (!p || p.metadata.deletionTimestamp) return;
    this.record(p, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${key}`);
    const conditions = ((p.status?.conditions ?? []) as KObject[]).filter((c) => c?.type !== 'DisruptionTarget');
    conditions.push({
      type: 'DisruptionTarget',
      status: 'True',
      lastProbeTime: null,
      lastTransitionTime: now(),
      reason: 'DeletionByTaintManager',
      message: 'Taint manager: deleting due to NoExecute taint',
    });
    try {
      await this.client.patch(PODS, p.metadata.namespace, p.metadata.name, 'merge', { status: { conditions } }, { subresource: 'status' });
      await this.client.delete(PODS, p.metadata.namespace, p.metadata.name, { preconditions: { uid: p.metadata.uid } });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  private record(obj: KObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ev = eventFor({ apiVersion: 'v1', kind: 'Pod', ...obj }, type, reason, message, COMPONENT); // Node events land in "default", as kube's
    this.client.create(EVENTS, ev.metadata.namespace, ev).catch(() => undefined);
  }
}
