// The Deployment controller (kube-controller-manager's deployment controller): one ReplicaSet per
// pod template (named and labelled with pod-template-hash), revisions in the
// deployment.kubernetes.io/revision annotation, RollingUpdate within maxSurge/maxUnavailable or
// Recreate, pause, history trimmed to revisionHistoryLimit, and the status kubectl reads
// (rollout status, get): replica counts and the Progressing/Available conditions with
// progressDeadlineSeconds. `rollout undo` and `rollout restart` are kubectl's own template edits.

import { Controller, type SharedInformerFactory, objectKey, isNotFound, isConflict, isAlreadyExists, type Client, type KObject } from '../runtime/index.ts';
import {
  DEPLOYMENTS,
  REPLICASETS,
  PODS,
  EVENTS,
  eventFor,
  controllerRef,
  ownerRefTo,
  selects,
  scaled,
  templateHash,
  stableJson,
  setCondition,
  condition,
} from './common.ts';

const HASH_LABEL = 'pod-template-hash';
const REVISION = 'deployment.kubernetes.io/revision';
const DESIRED = 'deployment.kubernetes.io/desired-replicas';
const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';

const specReplicas = (rs: KObject): number => rs.spec?.replicas ?? 0;
const revisionOf = (rs: KObject): number => Number(rs.metadata?.annotations?.[REVISION] ?? 0) || 0;

/** The template without the hash label, for comparing a ReplicaSet's template with the Deployment's. */
function templateKey(t: KObject | undefined): string {
  const c = structuredClone(t ?? {});
  if (c.metadata?.labels) delete c.metadata.labels[HASH_LABEL];
  return stableJson(c);
}

export class DeploymentController {
  readonly controller: Controller;
  private readonly deployments;
  private readonly rses;

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
  ) {
    this.deployments = factory.informerFor(DEPLOYMENTS);
    this.rses = factory.informerFor(REPLICASETS);
    const pods = factory.informerFor(PODS);
    this.controller = new Controller('deployment', (key) => this.sync(key), { workers: 2 });
    const enqueue = (o: KObject) => this.controller.enqueue(objectKey(o));
    this.deployments.addEventHandler({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o), onDelete: enqueue });
    const byOwner = (rs: KObject) => {
      const ref = controllerRef(rs);
      if (ref?.kind === 'Deployment') this.controller.enqueue(`${rs.metadata.namespace}/${ref.name}`);
    };
    this.rses.addEventHandler({ onAdd: byOwner, onUpdate: (_, o) => byOwner(o), onDelete: byOwner });
    // Recreate waits for old pods to be gone.
    pods.addEventHandler({
      onDelete: (p) => {
        const ref = controllerRef(p);
        const rs = ref?.kind === 'ReplicaSet' ? this.rses.store.getByName(p.metadata.namespace, ref.name) : undefined;
        if (rs) byOwner(rs);
      },
    });
  }

  run(workers = 2): void {
    this.controller.run(workers);
  }

  private ownedSets(d: KObject): KObject[] {
    return this.rses.store.byIndex('namespace', d.metadata.namespace).filter((rs) => controllerRef(rs)?.uid === d.metadata.uid);
  }

  private async sync(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const d0 = this.deployments.store.get(key);
    if (!d0 || d0.metadata.deletionTimestamp) return;
    const d = structuredClone(d0);
    // Adopt matching orphan ReplicaSets.
    for (const rs of this.rses.store.byIndex('namespace', d.metadata.namespace)) {
      if (!controllerRef(rs) && selects(d.spec?.selector, rs) && !rs.metadata.deletionTimestamp) {
        await this.client
          .patch(REPLICASETS, rs.metadata.namespace, rs.metadata.name, 'merge', {
            metadata: {
              ownerReferences: [...(rs.metadata.ownerReferences ?? []), ownerRefTo(d, 'Deployment', 'apps/v1')],
              resourceVersion: rs.metadata.resourceVersion,
            },
          })
          .catch(ignore);
      }
    }
    const sets = this.ownedSets(d);
    const want = templateKey(d.spec?.template);
    let newRS = sets.find((rs) => templateKey(rs.spec?.template) === want);
    const olds = sets.filter((rs) => rs !== newRS);

    if (d.spec?.paused) {
      // Paused: no rollout, but `kubectl scale` still applies to the set that is running alone.
      const active = sets.filter((rs) => specReplicas(rs) > 0);
      if (active.length === 1) await this.scale(d, active[0], d.spec?.replicas ?? 1);
      await this.syncStatus(d, newRS, olds, false);
      return;
    }
    const created = !newRS;
    newRS = await this.ensureNewReplicaSet(d, newRS, olds);
    if (!newRS) return;
    // The Deployment carries its current revision too (kubectl rollout history/undo read both).
    const revision = newRS.metadata.annotations?.[REVISION];
    if (revision && d.metadata.annotations?.[REVISION] !== revision) {
      await this.client.patch(DEPLOYMENTS, d.metadata.namespace, d.metadata.name, 'merge', {
        metadata: { annotations: { [REVISION]: revision }, resourceVersion: d.metadata.resourceVersion },
      });
      return; // the update brings the next sync
    }
    if (d.spec?.strategy?.type === 'Recreate') await this.recreate(d, newRS, olds);
    else if (await this.scaleProportionally(d, newRS, olds))
      return; // the next sync sees the new sizes
    else await this.rollingUpdate(d, newRS, olds);
    await this.cleanup(d, olds);
    return this.syncStatus(d, newRS, olds, created);
  }

  /** Finds or creates the ReplicaSet of the current template and gives it the next revision. */
  private async ensureNewReplicaSet(d: KObject, existing: KObject | undefined, olds: KObject[]): Promise<KObject | undefined> {
    const maxOld = Math.max(0, ...olds.map(revisionOf));
    const revision = String(existing && revisionOf(existing) > maxOld ? revisionOf(existing) : maxOld + 1);
    const replicas = d.spec?.replicas ?? 1;
    const maxSurge = d.spec?.strategy?.type === 'Recreate' ? 0 : scaled(d.spec?.strategy?.rollingUpdate?.maxSurge ?? '25%', replicas, true);
    const annotations = (rs: KObject | undefined): Record<string, string> => {
      const a: Record<string, string> = { ...(d.metadata.annotations ?? {}) };
      delete a['kubectl.kubernetes.io/last-applied-configuration'];
      return { ...(rs?.metadata?.annotations ?? {}), ...a, [REVISION]: revision, [DESIRED]: String(replicas), [MAX_REPLICAS]: String(replicas + maxSurge) };
    };
    if (existing) {
      const a = existing.metadata.annotations ?? {};
      if (a[REVISION] === revision && a[DESIRED] === String(replicas) && a[MAX_REPLICAS] === String(replicas + maxSurge)) return existing;
      return this.client.update(REPLICASETS, { ...existing, metadata: { ...existing.metadata, annotations: annotations(existing) } });
    }
    const hash = templateHash(d.spec?.template, d.status?.collisionCount ?? 0);
    const template = structuredClone(d.spec?.template ?? {});
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [HASH_LABEL]: hash } };
    const selector = structuredClone(d.spec?.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [HASH_LABEL]: hash };
    // A fresh Deployment starts at full size; a rollout starts at 0 and grows within maxSurge.
    const start = olds.some((rs) => specReplicas(rs) > 0) ? 0 : replicas;
    const rs: KObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        labels: template.metadata.labels,
        annotations: annotations(undefined),
        ownerReferences: [ownerRefTo(d, 'Deployment', 'apps/v1')],
      },
      spec: { replicas: d.spec?.strategy?.type === 'Recreate' ? 0 : start, minReadySeconds: d.spec?.minReadySeconds ?? 0, selector, template },
    };
    try {
      const out = await this.client.create(REPLICASETS, d.metadata.namespace, rs);
      await this.event(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rs.metadata.name} from 0 to ${rs.spec.replicas}`);
      return out;
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      // A hash collision with a set of another template: count it, the next sync picks a new name.
      await this.client.updateStatus(DEPLOYMENTS, { ...d, status: { ...(d.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 } }).catch(ignore);
      return undefined;
    }
  }

  private async scale(d: KObject, rs: KObject, to: number): Promise<void> {
    const from = specReplicas(rs);
    if (from === to) return;
    await this.client.update(REPLICASETS, { ...rs, spec: { ...rs.spec, replicas: to } });
    await this.event(d, 'Normal', 'ScalingReplicaSet', `Scaled ${to > from ? 'up' : 'down'} replica set ${rs.metadata.name} from ${from} to ${to}`);
  }

  private async recreate(d: KObject, newRS: KObject, olds: KObject[]): Promise<void> {
    for (const rs of olds) await this.scale(d, rs, 0);
    if (olds.some((rs) => (rs.status?.replicas ?? 0) > 0 || specReplicas(rs) > 0)) return; // old pods still running
    await this.scale(d, newRS, d.spec?.replicas ?? 1);
  }

  /**
   * A resize in the middle of a rollout (kube's proportional scaling): the sets keep their shares
   * of the new total (replicas + maxSurge), largest first, the rounding left to the newest set.
   * Returns whether anything was scaled.
   */
  private async scaleProportionally(d: KObject, newRS: KObject, olds: KObject[]): Promise<boolean> {
    const active = [newRS, ...olds].filter((rs) => specReplicas(rs) > 0);
    if (active.length < 2) return false;
    const replicas = d.spec?.replicas ?? 1;
    // Only when the Deployment's size changed since the sets were last sized (their desired-replicas annotation).
    if (active.every((rs) => rs.metadata.annotations?.[DESIRED] === String(replicas))) return false;
    const allowed = replicas + scaled(d.spec?.strategy?.rollingUpdate?.maxSurge ?? '25%', replicas, true);
    const current = active.reduce((s, rs) => s + specReplicas(rs), 0);
    const diff = allowed - current;
    const targets = new Map<KObject, number>();
    let given = 0;
    const bySize = [...active].sort((a, b) => specReplicas(b) - specReplicas(a));
    for (const rs of bySize) {
      const share = diff > 0 ? Math.floor((specReplicas(rs) * diff) / current) : Math.ceil((specReplicas(rs) * diff) / current);
      const capped = diff < 0 ? Math.max(share, -specReplicas(rs)) : share;
      targets.set(rs, specReplicas(rs) + capped);
      given += capped;
    }
    const leftover = diff - given;
    const first = active.includes(newRS) ? newRS : bySize[0];
    targets.set(first, Math.max(0, targets.get(first)! + leftover));
    let changed = false;
    for (const [rs, to] of targets) {
      const a = { ...(rs.metadata.annotations ?? {}), [DESIRED]: String(replicas), [MAX_REPLICAS]: String(allowed) };
      await this.client.update(REPLICASETS, { ...rs, metadata: { ...rs.metadata, annotations: a }, spec: { ...rs.spec, replicas: to } });
      if (to !== specReplicas(rs)) {
        changed = true;
        await this.event(
          d,
          'Normal',
          'ScalingReplicaSet',
          `Scaled ${to > specReplicas(rs) ? 'up' : 'down'} replica set ${rs.metadata.name} from ${specReplicas(rs)} to ${to}`,
        );
      }
    }
    return changed || targets.size > 0;
  }

  /** rolloutRolling: grow the new set within maxSurge, shrink old ones within maxUnavailable. */
  private async rollingUpdate(d: KObject, newRS: KObject, olds: KObject[]): Promise<void> {
    const replicas = d.spec?.replicas ?? 1;
    let maxSurge = scaled(d.spec?.strategy?.rollingUpdate?.maxSurge ?? '25%', replicas, true);
    let maxUnavailable = scaled(d.spec?.strategy?.rollingUpdate?.maxUnavailable ?? '25%', replicas, false);
    if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
    if (maxUnavailable > replicas) maxUnavailable = replicas;
    maxSurge = Math.max(0, maxSurge);
    const all = [newRS, ...olds];
    const total = all.reduce((s, rs) => s + specReplicas(rs), 0);

    // Scale up the new ReplicaSet.
    const newReplicas = specReplicas(newRS);
    if (newReplicas > replicas) await this.scale(d, newRS, replicas);
    else if (newReplicas < replicas) {
      const up = Math.min(replicas + maxSurge - total, replicas - newReplicas);
      if (up > 0) {
        await this.scale(d, newRS, newReplicas + up);
        return;
      }
    }
    // Scale down old ReplicaSets.
    const oldTotal = olds.reduce((s, rs) => s + specReplicas(rs), 0);
    if (!oldTotal) return;
    const minAvailable = replicas - maxUnavailable;
    const newUnavailable = specReplicas(newRS) - (newRS.status?.availableReplicas ?? 0);
    let maxScaledDown = total - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return;
    // First the old sets' unhealthy replicas: they do not count towards availability anyway.
    const byAge = [...olds].sort((a, b) => Date.parse(a.metadata.creationTimestamp) - Date.parse(b.metadata.creationTimestamp));
    const after = new Map<KObject, number>();
    for (const rs of byAge) {
      if (maxScaledDown <= 0) break;
      const unhealthy = specReplicas(rs) - (rs.status?.availableReplicas ?? 0);
      if (specReplicas(rs) === 0 || unhealthy <= 0) continue;
      const cut = Math.min(maxScaledDown, unhealthy);
      after.set(rs, specReplicas(rs) - cut);
      maxScaledDown -= cut;
    }
    // Then healthy ones, as far as availability allows.
    const available = all.reduce((s, rs) => s + (rs.status?.availableReplicas ?? 0), 0);
    let budget = Math.min(maxScaledDown, available - minAvailable);
    for (const rs of byAge) {
      if (budget <= 0) break;
      const cur = after.get(rs) ?? specReplicas(rs);
      const cut = Math.min(budget, cur);
      if (cut > 0) after.set(rs, cur - cut);
      budget -= cut;
    }
    for (const [rs, to] of after) await this.scale(d, rs, to);
  }

  /** Drops old, empty ReplicaSets beyond revisionHistoryLimit, oldest revision first. */
  private async cleanup(d: KObject, olds: KObject[]): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit ?? 10;
    const empty = olds
      .filter((rs) => specReplicas(rs) === 0 && (rs.status?.replicas ?? 0) === 0 && !rs.metadata.deletionTimestamp)
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of empty.slice(0, Math.max(0, empty.length - limit))) {
      await this.client.delete(REPLICASETS, rs.metadata.namespace, rs.metadata.name, { preconditions: { uid: rs.metadata.uid } }).catch(ignore);
    }
  }

  private async syncStatus(d: KObject, newRS: KObject | undefined, olds: KObject[], created: boolean): Promise<{ requeueAfterMs?: number } | void> {
    const all = newRS ? [newRS, ...olds] : olds;
    const replicas = d.spec?.replicas ?? 1;
    const sum = (f: (rs: KObject) => number) => all.reduce((s, rs) => s + f(rs), 0);
    const available = sum((rs) => rs.status?.availableReplicas ?? 0);
    const status: KObject = {
      ...(d.status ?? {}),
      observedGeneration: d.metadata.generation,
      replicas: sum((rs) => rs.status?.replicas ?? 0),
      updatedReplicas: newRS?.status?.replicas ?? 0,
      readyReplicas: sum((rs) => rs.status?.readyReplicas ?? 0),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, sum((rs) => rs.status?.replicas ?? 0) - available),
      conditions: structuredClone(d.status?.conditions ?? []),
    };
    status.unavailableReplicas = Math.max(0, replicas - available);
    const maxUnavailable = d.spec?.strategy?.type === 'Recreate' ? 0 : scaled(d.spec?.strategy?.rollingUpdate?.maxUnavailable ?? '25%', replicas, false);
    if (available >= replicas - maxUnavailable)
      setCondition(status, { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }, true);
    else
      setCondition(
        status,
        { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' },
        true,
      );

    let requeueAfterMs: number | undefined;
    const name = newRS?.metadata.name;
    const complete =
      newRS &&
      status.updatedReplicas === replicas &&
      status.replicas === replicas &&
      available >= replicas &&
      olds.every((rs) => (rs.status?.replicas ?? 0) === 0);
    const deadline = d.spec?.progressDeadlineSeconds ?? 600;
    const prog = condition({ status }, 'Progressing');
    if (d.spec?.paused) {
      setCondition(status, { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' });
    } else if (complete) {
      setCondition(
        status,
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${name}" has successfully progressed.` },
        prog?.reason === 'NewReplicaSetAvailable',
      );
    } else if (newRS) {
      const moved =
        created ||
        prog?.reason === 'DeploymentPaused' ||
        !prog ||
        prog.reason === 'NewReplicaSetAvailable' ||
        stableJson(status.replicas) !== stableJson(d.status?.replicas) ||
        status.updatedReplicas !== d.status?.updatedReplicas ||
        available !== d.status?.availableReplicas;
      const since = Date.parse(prog?.lastUpdateTime ?? '') || Date.now();
      if (moved)
        setCondition(
          status,
          created
            ? { type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', message: `Created new replica set "${name}"` }
            : { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${name}" is progressing.` },
        );
      else if (prog?.reason !== 'ProgressDeadlineExceeded' && Date.now() - since > deadline * 1000) {
        setCondition(status, {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: `ReplicaSet "${name}" has timed out progressing.`,
        });
      }
      if (condition({ status }, 'Progressing')?.reason !== 'ProgressDeadlineExceeded') requeueAfterMs = deadline * 1000 + 1000;
    }
    status.conditions.sort((a: KObject, b: KObject) => (a.type === 'Available' ? -1 : b.type === 'Available' ? 1 : 0));
    if (stableJson(status) !== stableJson(d.status ?? {})) {
      try {
        await this.client.updateStatus(DEPLOYMENTS, { ...d, status });
      } catch (e) {
        if (isConflict(e)) return { requeueAfterMs: 50 };
        if (!isNotFound(e)) throw e;
      }
    }
    return requeueAfterMs ? { requeueAfterMs } : undefined;
  }

  private async event(d: KObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    await this.client
      .create(EVENTS, d.metadata.namespace, eventFor({ apiVersion: 'apps/v1', kind: 'Deployment', ...d }, type, reason, message, 'deployment-controller'))
      .catch(() => undefined);
  }
}

function ignore(e: unknown): void {
  if (!isNotFound(e) && !isConflict(e)) throw e;
}
