// The DaemonSet controller (kube-controller-manager's daemon controller): one pod per node the
// template may run on (nodeSelector, required node affinity, NoSchedule/NoExecute taints against its
// tolerations plus the ones kube adds to daemon pods). Pods are created unbound with a required node
// affinity on metadata.name, as kube does, and the scheduler binds them. Templates are recorded as
// ControllerRevisions (kubectl rollout history/undo read them) and pods carry the
// controller-revision-hash label; RollingUpdate replaces old pods at most maxUnavailable at a time.

import { Controller, type SharedInformerFactory, objectKey, isNotFound, isConflict, isAlreadyExists, type Client, type KObject } from '../runtime/index.ts';
import { DAEMONSETS, NODES, PODS, controllerRef, ownerRefTo, isPodReady, isPodAvailable, isTerminating, scaled, stableJson, templateHash } from './common.ts';
import { nodeMatchesPod } from '../scheduler/plugins.ts';
import { ensureRevision, CONTROLLERREVISIONS, REVISION_HASH_LABEL } from './revisions.ts';
import type { NodeState } from '../scheduler/plugins.ts';

const HASH_LABEL = REVISION_HASH_LABEL;

/** Tolerations kube adds to every daemon pod (util.AddOrUpdateDaemonPodTolerations). */
const DAEMON_TOLERATIONS: KObject[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

function tolerated(tolerations: KObject[], taint: KObject): boolean {
  return tolerations.some(
    (t) =>
      (!t.effect || t.effect === taint.effect) &&
      (t.key ? t.key === taint.key && (t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '')) : t.operator === 'Exists'),
  );
}

/** Whether a daemon pod should run on this node (NodeShouldRunDaemonPod without resources). */
export function shouldRun(ds: KObject, node: KObject): boolean {
  const pod = { spec: ds.spec?.template?.spec ?? {} };
  const state = { name: node.metadata.name, labels: node.metadata.labels ?? {} } as NodeState;
  if (!nodeMatchesPod(pod, state)) return false;
  const tolerations = [...(pod.spec.tolerations ?? []), ...DAEMON_TOLERATIONS];
  return ((node.spec?.taints ?? []) as KObject[]).every((t) => (t.effect !== 'NoSchedule' && t.effect !== 'NoExecute') || tolerated(tolerations, t));
}

/** The node a daemon pod is for: its nodeName once bound, else its metadata.name affinity. */
function targetNode(p: KObject): string | undefined {
  if (p.spec?.nodeName) return p.spec.nodeName;
  for (const term of (p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) as KObject[]) {
    for (const f of (term.matchFields ?? []) as KObject[]) if (f.key === 'metadata.name' && f.operator === 'In') return f.values?.[0];
  }
  return undefined;
}

/** The pod the controller creates for a node (the placement preview builds the same). */
export function daemonPodFor(ds: KObject, node: string, hash: string): KObject {
  const t = structuredClone(ds.spec?.template ?? {});
  const spec = t.spec ?? {};
  const tolerations: KObject[] = [...(spec.tolerations ?? [])];
  for (const d of DAEMON_TOLERATIONS) if (!tolerations.some((x) => x.key === d.key && x.effect === d.effect)) tolerations.push(d);
  spec.tolerations = tolerations;
  // Pin to the node through affinity (ReplaceDaemonSetPodNodeNameNodeAffinity): the scheduler binds it.
  const na = ((spec.affinity ??= {}).nodeAffinity ??= {});
  na.requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }] };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${ds.metadata.name}-`,
      labels: { ...(t.metadata?.labels ?? {}), [HASH_LABEL]: hash, 'pod-template-generation': String(ds.metadata.generation ?? 1) },
      ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
      ownerReferences: [ownerRefTo(ds, 'DaemonSet', 'apps/v1')],
    },
    spec,
  };
}

export class DaemonSetController {
  readonly controller: Controller;
  private readonly sets;
  private readonly nodes;
  private readonly pods;
  private readonly revisions;

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
  ) {
    this.sets = factory.informerFor(DAEMONSETS);
    this.nodes = factory.informerFor(NODES);
    this.pods = factory.informerFor(PODS);
    this.revisions = factory.informerFor(CONTROLLERREVISIONS);
    this.controller = new Controller('daemonset', (key) => this.sync(key), { workers: 2 });
    const enqueue = (o: KObject) => this.controller.enqueue(objectKey(o));
    this.sets.addEventHandler({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o), onDelete: enqueue });
    const all = () => {
      for (const ds of this.sets.store.list()) enqueue(ds);
    };
    this.nodes.addEventHandler({
      onAdd: all,
      onUpdate: (o, n) => {
        if (stableJson([o.metadata.labels, o.spec]) !== stableJson([n.metadata.labels, n.spec])) all();
      },
      onDelete: all,
    });
    const byPod = (p: KObject) => {
      const ref = controllerRef(p);
      if (ref?.kind === 'DaemonSet') this.controller.enqueue(`${p.metadata.namespace}/${ref.name}`);
    };
    this.pods.addEventHandler({ onAdd: byPod, onUpdate: (_, p) => byPod(p), onDelete: byPod });
  }

  run(): void {
    this.controller.run(2);
  }

  private async sync(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const ds = this.sets.store.get(key);
    if (!ds || ds.metadata.deletionTimestamp) return;
    const hash = templateHash(ds.spec?.template);
    await ensureRevision(this.client, this.revisions.store, ds, 'DaemonSet', hash);
    const owned = this.pods.store.byIndex('namespace', ds.metadata.namespace).filter((p) => controllerRef(p)?.uid === ds.metadata.uid);
    const byNode = new Map<string, KObject[]>();
    for (const p of owned) {
      const n = targetNode(p);
      if (n) byNode.set(n, [...(byNode.get(n) ?? []), p]);
    }
    const nodes = this.nodes.store.list();
    const create: string[] = [];
    const remove: KObject[] = [];
    for (const node of nodes) {
      const name = node.metadata.name;
      const pods = (byNode.get(name) ?? []).filter((p) => !isTerminating(p));
      byNode.delete(name);
      if (!shouldRun(ds, node)) {
        remove.push(...pods);
        continue;
      }
      const failed = pods.filter((p) => p.status?.phase === 'Failed');
      remove.push(...failed);
      const live = pods
        .filter((p) => p.status?.phase !== 'Failed')
        .sort((a, b) => Date.parse(a.metadata.creationTimestamp) - Date.parse(b.metadata.creationTimestamp));
      if (!live.length) create.push(name);
      else remove.push(...live.slice(1)); // one pod per node: the oldest stays
    }
    for (const pods of byNode.values()) remove.push(...pods.filter((p) => !isTerminating(p))); // nodes gone
    await Promise.all(
      create.map((n) =>
        this.client.create(PODS, ds.metadata.namespace, this.podFor(ds, n, hash)).catch((e) => {
          if (!isAlreadyExists(e)) throw e;
        }),
      ),
    );
    await Promise.all(remove.map((p) => this.deletePod(p)));
    if (!create.length && !remove.length && ds.spec?.updateStrategy?.type !== 'OnDelete') await this.rollingUpdate(ds, owned, hash, nodes);
    return this.updateStatus(ds, hash, nodes);
  }

  private deletePod(p: KObject): Promise<void> {
    return this.client.delete(PODS, p.metadata.namespace, p.metadata.name, { preconditions: { uid: p.metadata.uid } }).catch((e) => {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    });
  }

  private podFor(ds: KObject, node: string, hash: string): KObject {
    return daemonPodFor(ds, node, hash);
  }

  /** Old-template pods are deleted while the set stays within maxUnavailable (the replacement follows). */
  private async rollingUpdate(ds: KObject, owned: KObject[], hash: string, nodes: KObject[]): Promise<void> {
    const desired = nodes.filter((n) => shouldRun(ds, n)).length;
    const maxUnavailable = scaled(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1, desired, true) || 1;
    const minReady = ds.spec?.minReadySeconds ?? 0;
    const live = owned.filter((p) => !isTerminating(p));
    let unavailable = desired - live.filter((p) => isPodAvailable(p, minReady)).length;
    const old = live.filter((p) => p.metadata.labels?.[HASH_LABEL] !== hash);
    // Unavailable old pods go first: replacing them costs nothing.
    old.sort((a, b) => Number(isPodAvailable(a, minReady)) - Number(isPodAvailable(b, minReady)));
    for (const p of old) {
      if (!isPodAvailable(p, minReady)) {
        await this.deletePod(p);
        continue;
      }
      if (unavailable >= maxUnavailable) break;
      unavailable++;
      await this.deletePod(p);
    }
  }

  private async updateStatus(ds: KObject, hash: string, nodes: KObject[]): Promise<{ requeueAfterMs?: number } | void> {
    const owned = this.pods.store.byIndex('namespace', ds.metadata.namespace).filter((p) => controllerRef(p)?.uid === ds.metadata.uid && !isTerminating(p));
    const minReady = ds.spec?.minReadySeconds ?? 0;
    let desired = 0,
      current = 0,
      misscheduled = 0,
      ready = 0,
      available = 0,
      updated = 0;
    for (const node of nodes) {
      const should = shouldRun(ds, node);
      const pods = owned.filter((p) => p.spec?.nodeName === node.metadata.name);
      if (should) desired++;
      if (!pods.length) continue;
      if (!should) {
        misscheduled++;
        continue;
      }
      current++;
      const p = pods[0];
      if (isPodReady(p)) ready++;
      if (isPodAvailable(p, minReady)) available++;
      if (p.metadata.labels?.[HASH_LABEL] === hash) updated++;
    }
    const status: KObject = {
      currentNumberScheduled: current,
      numberMisscheduled: misscheduled,
      desiredNumberScheduled: desired,
      numberReady: ready,
      observedGeneration: ds.metadata.generation,
      updatedNumberScheduled: updated,
      numberAvailable: available,
      numberUnavailable: desired - available,
      ...(ds.status?.collisionCount ? { collisionCount: ds.status.collisionCount } : {}),
    };
    for (const k of ['numberAvailable', 'numberUnavailable', 'updatedNumberScheduled']) if (!status[k]) delete status[k];
    if (stableJson(status) === stableJson(ds.status ?? {})) return;
    try {
      await this.client.updateStatus(DAEMONSETS, { ...ds, status });
    } catch (e) {
      if (isConflict(e)) return { requeueAfterMs: 20 };
      if (!isNotFound(e)) throw e;
    }
  }
}
