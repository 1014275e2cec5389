// The pod garbage collector's orphan rule (kube-controller-manager's podgc): a pod bound to a Node
// that no longer exists is marked Failed with a DisruptionTarget condition (DeletionByPodGC) and
// force-deleted, so its controller replaces it elsewhere. A node missing from the cache is checked
// with a GET first, and only after a quarantine (kube: 20 s), so a node being re-registered keeps its pods.

import { type SharedInformerFactory, isNotFound, type Client, type KObject } from '../runtime/index.ts';
import { NODES, PODS, now } from './common.ts';

export interface PodGCOptions {
  /** How long a node must be missing before its pods go (kube: 20 s). */
  quarantineMs?: number;
  /** How often to look (kube: every 20 s). */
  periodMs?: number;
}

export class PodGarbageCollector {
  private readonly pods;
  private readonly nodes;
  private timer?: NodeJS.Timeout;
  private readonly missingSince = new Map<string, number>();
  private running = false;

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
    private readonly opts: PodGCOptions = {},
  ) {
    this.pods = factory.informerFor(PODS);
    this.nodes = factory.informerFor(NODES);
  }

  run(): void {
    this.timer = setInterval(() => void this.sweep().catch(() => undefined), this.opts.periodMs ?? 20_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const quarantine = this.opts.quarantineMs ?? 20_000;
      const t = Date.now();
      const orphans = new Map<string, KObject[]>();
      for (const p of this.pods.store.list()) {
        const node = p.spec?.nodeName;
        if (!node || this.nodes.store.get(node)) continue;
        orphans.set(node, [...(orphans.get(node) ?? []), p]);
      }
      for (const n of [...this.missingSince.keys()]) if (!orphans.has(n)) this.missingSince.delete(n);
      for (const [node, pods] of orphans) {
        const since = this.missingSince.get(node) ?? t;
        this.missingSince.set(node, since);
        if (t - since < quarantine) continue;
        try {
          await this.client.get(NODES, undefined, node);
          continue; // the cache was behind
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
        for (const p of pods) await this.collect(p);
      }
    } finally {
      this.running = false;
    }
  }

  private async collect(p: KObject): Promise<void> {
    const { namespace, name } = p.metadata;
    try {
      if (p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed') {
        const conditions = (p.status?.conditions ?? []).filter((c: KObject) => c?.type !== 'DisruptionTarget');
        conditions.push({
          type: 'DisruptionTarget',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: now(),
          reason: 'DeletionByPodGC',
          message: 'PodGC: node no longer exists',
        });
        await this.client.patch(PODS, namespace, name, 'merge', { status: { phase: 'Failed', conditions } }, { subresource: 'status' });
      }
      await this.client.delete(PODS, namespace, name, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}
