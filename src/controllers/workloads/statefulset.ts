// The StatefulSet controller (kube-controller-manager's statefulset controller): pods named
// <set>-<ordinal> (from spec.ordinals.start), with stable hostname/subdomain and the pod-name and
// pod-index labels. OrderedReady creates ordinals in order, each once the ones below are Running
// and Ready, and removes the highest first, one at a time; Parallel acts on all at once. Failed pods
// are replaced. RollingUpdate replaces pods at or above the partition from the highest ordinal
// down, one at a time, each once the rest are ready. Templates are ControllerRevisions;
// status.currentRevision/updateRevision are what `kubectl rollout status` compares.
// Not done: volumeClaimTemplates (no PersistentVolumeClaims are created), maxUnavailable.

import { Controller, type SharedInformerFactory, objectKey, isNotFound, isConflict, isAlreadyExists, type Client, type KObject } from '../runtime/index.ts';
import { PODS, controllerRef, ownerRefTo, isPodReady, isPodAvailable, isTerminating, stableJson, templateHash } from './common.ts';
import { ensureRevision, CONTROLLERREVISIONS, REVISION_HASH_LABEL } from './revisions.ts';

export const STATEFULSETS = { group: 'apps', version: 'v1', resource: 'statefulsets' };

const runningAndReady = (p: KObject) => p.status?.phase === 'Running' && isPodReady(p) && !isTerminating(p);

export class StatefulSetController {
  readonly controller: Controller;
  private readonly sets;
  private readonly pods;
  private readonly revisions;

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
  ) {
    this.sets = factory.informerFor(STATEFULSETS);
    this.pods = factory.informerFor(PODS);
    this.revisions = factory.informerFor(CONTROLLERREVISIONS);
    this.controller = new Controller('statefulset', (key) => this.sync(key), { workers: 1 });
    const enqueue = (o: KObject) => this.controller.enqueue(objectKey(o));
    this.sets.addEventHandler({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o), onDelete: enqueue });
    const byPod = (p: KObject) => {
      const ref = controllerRef(p);
      if (ref?.kind === 'StatefulSet') this.controller.enqueue(`${p.metadata.namespace}/${ref.name}`);
    };
    this.pods.addEventHandler({ onAdd: byPod, onUpdate: (_, p) => byPod(p), onDelete: byPod });
  }

  run(): void {
    this.controller.run(1);
  }

  private async sync(key: string): Promise<void> {
    const sts = this.sets.store.get(key);
    if (!sts || sts.metadata.deletionTimestamp) return;
    const hash = templateHash(sts.spec?.template);
    const updateRevision = await ensureRevision(this.client, this.revisions.store, sts, 'StatefulSet', hash);
    const ns = sts.metadata.namespace;
    const replicas: number = sts.spec?.replicas ?? 1;
    const start: number = sts.spec?.ordinals?.start ?? 0;
    const parallel = sts.spec?.podManagementPolicy === 'Parallel';
    const owned = this.pods.store.byIndex('namespace', ns).filter((p) => controllerRef(p)?.uid === sts.metadata.uid);
    const byOrdinal = new Map<number, KObject>();
    const condemned: KObject[] = [];
    for (const p of owned) {
      const m = new RegExp(`^${sts.metadata.name}-(\\d+)$`).exec(p.metadata.name);
      const ord = m ? Number(m[1]) : -1;
      if (ord >= start && ord < start + replicas) byOrdinal.set(ord, p);
      else condemned.push(p);
    }
    // Create or replace, lowest ordinal first; OrderedReady waits for each.
    for (let ord = start; ord < start + replicas; ord++) {
      const p = byOrdinal.get(ord);
      if (p && p.status?.phase === 'Failed' && !isTerminating(p)) {
        await this.deletePod(p);
        if (!parallel) return;
        continue;
      }
      if (!p) {
        await this.client.create(PODS, ns, this.podFor(sts, ord, hash)).catch((e) => {
          if (!isAlreadyExists(e)) throw e;
        });
        if (!parallel) return this.updateStatus(sts, owned, updateRevision, hash);
        continue;
      }
      if (!parallel && !runningAndReady(p)) return this.updateStatus(sts, owned, updateRevision, hash);
    }
    // Scale down: highest ordinal first, one at a time unless Parallel, and only while the rest are healthy.
    condemned.sort((a, b) => b.metadata.name.localeCompare(a.metadata.name, undefined, { numeric: true }));
    for (const p of condemned) {
      if (isTerminating(p)) {
        if (!parallel) return this.updateStatus(sts, owned, updateRevision, hash);
        continue;
      }
      if (!parallel && ![...byOrdinal.values()].every(runningAndReady)) break;
      await this.deletePod(p);
      if (!parallel) return this.updateStatus(sts, owned, updateRevision, hash);
    }
    // Rolling update: highest ordinal at or above the partition whose revision is old, once all are ready.
    if ((sts.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate' && [...byOrdinal.values()].every(runningAndReady)) {
      const partition: number = sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
      for (let ord = start + replicas - 1; ord >= start + partition; ord--) {
        const p = byOrdinal.get(ord)!;
        if (p.metadata.labels?.[REVISION_HASH_LABEL] !== hash) {
          await this.deletePod(p);
          break;
        }
      }
    }
    return this.updateStatus(sts, owned, updateRevision, hash);
  }

  private deletePod(p: KObject): Promise<void> {
    return this.client.delete(PODS, p.metadata.namespace, p.metadata.name, { preconditions: { uid: p.metadata.uid } }).catch((e) => {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    });
  }

  private podFor(sts: KObject, ord: number, hash: string): KObject {
    const t = structuredClone(sts.spec?.template ?? {});
    const name = `${sts.metadata.name}-${ord}`;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels: {
          ...(t.metadata?.labels ?? {}),
          [REVISION_HASH_LABEL]: hash,
          'statefulset.kubernetes.io/pod-name': name,
          'apps.kubernetes.io/pod-index': String(ord),
        },
        ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
        ownerReferences: [ownerRefTo(sts, 'StatefulSet', 'apps/v1')],
      },
      spec: { ...(t.spec ?? {}), hostname: name, ...(sts.spec?.serviceName ? { subdomain: sts.spec.serviceName } : {}) },
    };
  }

  private async updateStatus(sts: KObject, owned: KObject[], updateRevision: string, hash: string): Promise<void> {
    const live = owned.filter((p) => !isTerminating(p));
    const updated = live.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === hash).length;
    const replicas = sts.spec?.replicas ?? 1;
    // The current revision moves to the update revision once every replica runs it.
    const currentRevision = updated === replicas && live.length === replicas ? updateRevision : (sts.status?.currentRevision ?? updateRevision);
    const currentHash = currentRevision.slice(sts.metadata.name.length + 1);
    const status: KObject = {
      observedGeneration: sts.metadata.generation,
      replicas: live.length,
      readyReplicas: live.filter(isPodReady).length,
      currentReplicas: live.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === currentHash).length,
      updatedReplicas: updated,
      availableReplicas: live.filter((p) => isPodAvailable(p, sts.spec?.minReadySeconds ?? 0)).length,
      currentRevision,
      updateRevision,
      collisionCount: sts.status?.collisionCount ?? 0,
    };
    for (const k of ['readyReplicas', 'currentReplicas', 'updatedReplicas']) if (!status[k]) delete status[k];
    if (stableJson(status) === stableJson(sts.status ?? {})) return;
    try {
      await this.client.updateStatus(STATEFULSETS, { ...sts, status });
    } catch (e) {
      if (isConflict(e)) {
        this.controller.enqueue(objectKey(sts));
        return;
      }
      if (!isNotFound(e)) throw e;
    }
  }
}
