// Pods bound to EVE Nodes (spec.nodeName = an EdgeNode): the kubelet's job done through the
// AppInstance the render path already serves. Per Pod: refuse what EVE cannot do (Failed, nothing
// reaches the device), else keep an AppInstance owned by the Pod and write the Pod's status from the
// AppInstance's (pod-status.ts), with Events on container transitions. Deletion: the AppInstance goes
// first (the device drops the app at its next poll), the Pod once the device runs a config without it
// or its grace period ended. A silent device's pods are left alone unless they tolerate
// node.kubernetes.io/unreachable:NoExecute for a finite time (then they are deleted after it).

import { isDeepStrictEqual } from 'node:util';
import type { KObject } from '../../apiserver/resource.ts';
import { Controller, isAlreadyExists, isNotFound, objectKey, type Client, type Informer, type SharedInformerFactory } from '../runtime/index.ts';
import { APPINSTANCES, EDGENODES, SECRETS, getCondition } from '../eve/status.ts';
import type { EventRecorder } from '../eve/recorder.ts';
import { CONFIGMAPS, NODES, NODE_NAME_INDEX, PODS, RUNTIMECLASSES, UNREACHABLE_TAINT, boundPods } from './resources.ts';
import { AdapterAssigner, shortageStatus } from './adapters.ts';
import { edgeNodeOnline } from './node-sync.ts';
import { refusal } from './pod-support.ts';
import { appInstanceFor } from './pod-mapping.ts';
import { PodNetworks, withNetworksCondition, NETWORKS_CONDITION } from './pod-networks.ts';
import { podStatus, refusedStatus } from './pod-status.ts';

/** The toleration DefaultTolerationSeconds admission adds to every pod: not an opt-in to eviction. */
const isAdmissionDefault = (t: KObject) => t.operator === 'Exists' && t.tolerationSeconds === 300 && !t.value;

/** Seconds a pod tolerates an unreachable node before it should be replaced, or undefined (forever). */
export function unreachableToleration(pod: KObject): number | undefined {
  const ts = (pod.spec.tolerations ?? []).filter(
    (t: KObject) => (t.key === UNREACHABLE_TAINT || (!t.key && t.operator === 'Exists')) && (!t.effect || t.effect === 'NoExecute') && !isAdmissionDefault(t),
  );
  if (ts.some((t: KObject) => t.tolerationSeconds === undefined || t.tolerationSeconds === null)) return undefined;
  const secs = ts.map((t: KObject) => Number(t.tolerationSeconds));
  return secs.length ? Math.max(0, Math.min(...secs)) : undefined;
}

export class PodController {
  readonly controller: Controller;
  /** renderedConfigHash of the device when a deleted pod's app was removed, by pod uid. */
  private readonly removedAt = new Map<string, string | undefined>();
  private readonly podInformer: Informer;
  /** Pods whose Pulling event was recorded (by uid). */
  private readonly pulling = new Set<string>();
  /** Extra networks (NADs), their NetworkInstances and the network-status annotation. */
  readonly networks: PodNetworks;
  readonly adapters = new AdapterAssigner();

  constructor(
    private readonly client: Client,
    private readonly informers: SharedInformerFactory,
    private readonly events: EventRecorder,
  ) {
    const pods = (this.podInformer = boundPods(informers));
    informers.informerFor(CONFIGMAPS);
    this.networks = new PodNetworks(client, informers);
    informers.informerFor(RUNTIMECLASSES);
    this.controller = new Controller('kubelet-pods', (key) => this.reconcile(key));
    const enqueue = (o: KObject) => {
      if (o.spec?.nodeName) this.controller.enqueue(objectKey(o));
    };
    pods.addEventHandler({
      onAdd: enqueue,
      onUpdate: (_, o) => enqueue(o),
      onDelete: (o) => {
        this.removedAt.delete(o.metadata.uid);
        this.pulling.delete(o.metadata.uid);
        this.adapters.release(o.metadata.uid);
      },
    });
    informers.informerFor(APPINSTANCES).addEventHandler({
      onAdd: (a) => this.appChanged(a),
      onUpdate: (_, a) => this.appChanged(a),
      onDelete: (a) => this.appChanged(a),
    });
    informers.informerFor(EDGENODES).addEventHandler({
      onUpdate: (_, en) => this.nodePods(en.metadata.name).forEach(enqueue),
      onDelete: (en) => void this.edgeNodeDeleted(en.metadata.name),
    });
  }

  start(): void {
    this.controller.run(4);
  }

  stop(): Promise<void> {
    return this.controller.stop();
  }

  private nodePods(node: string): KObject[] {
    return this.podInformer.store.byIndex(NODE_NAME_INDEX, node);
  }

  private appChanged(app: KObject): void {
    const owner = (app.metadata.ownerReferences ?? []).find((r: KObject) => r.kind === 'Pod' && r.controller);
    if (owner) this.controller.enqueue(`${app.metadata.namespace}/${owner.name}`);
  }

  /** A deleted EdgeNode takes its pods (as the pod GC does for a deleted Node). */
  private async edgeNodeDeleted(node: string): Promise<void> {
    for (const p of this.nodePods(node)) {
      await this.client.delete(PODS, p.metadata.namespace, p.metadata.name, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } }).catch((e) => {
        if (!isNotFound(e))
          console.error(`kubeve: deleting pod ${p.metadata.namespace}/${p.metadata.name} of deleted EdgeNode ${node}:`, e instanceof Error ? e.message : e);
      });
    }
  }

  private async reconcile(key: string): Promise<void | { requeueAfterMs: number }> {
    const pod = this.podInformer.store.get(key);
    if (!pod?.spec?.nodeName) return;
    const en = this.informers.informerFor(EDGENODES).store.get(pod.spec.nodeName);
    if (!en) return; // not an EVE node: someone else's kubelet
    const [ns, name] = key.split('/') as [string, string];
    const apps = this.informers.informerFor(APPINSTANCES).store;
    const existing = apps.get(key);
    const app = existing && (existing.metadata.ownerReferences ?? []).some((r: KObject) => r.uid === pod.metadata.uid) ? existing : undefined;

    if (pod.metadata.deletionTimestamp) return this.terminate(pod, app, en);
    if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') return;

    const nets = this.networks.plan(pod, app);
    const runtimeClass = (n: string) => this.informers.informerFor(RUNTIMECLASSES).store.get(n);
    const no = refusal(pod, runtimeClass) ?? nets.fail;
    if (no) {
      await this.client.updateStatus(PODS, { ...pod, status: refusedStatus(pod, no.field, no.message) });
      void this.events.record(pod, 'Warning', 'UnsupportedOnEVE', `${no.field}: ${no.message}`);
      return;
    }
    if (existing && !app) {
      const msg = `AppInstance ${key} exists and does not belong to this pod`;
      await this.client.updateStatus(PODS, { ...pod, status: { ...refusedStatus(pod, 'metadata.name', msg), reason: 'AppInstanceExists' } });
      return;
    }

    const online = edgeNodeOnline(en);
    const evictIn = online === false ? this.evictionDelay(pod, en) : undefined;
    if (evictIn !== undefined && evictIn <= 0) {
      // The device cannot be told now; it drops the app at its next poll, the pod is replaced elsewhere.
      void this.events.record(
        pod,
        'Normal',
        'TaintManagerEviction',
        `Marking for deletion Pod ${key}: node ${pod.spec.nodeName} unreachable past the pod's tolerationSeconds`,
      );
      await this.client.delete(PODS, ns, name, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } }).catch(ignoreNotFound);
      return;
    }

    const lookups = {
      configMap: (n: string, m: string) => this.informers.informerFor(CONFIGMAPS).store.get(`${n}/${m}`),
      secret: (n: string, m: string) => this.informers.informerFor(SECRETS).store.get(`${n}/${m}`),
      runtimeClass,
    };
    const want = appInstanceFor(pod, lookups);
    if (want.app) {
      // Passthrough adapters the pod asks for (kubeve.io/<kind>): specific ones, as a kubelet's device manager.
      const onNode = () => apps.list().filter((a) => a.spec?.nodeName === pod.spec.nodeName);
      const placed = this.adapters.assign(pod, en, app, onNode);
      if (placed.shortage) {
        const { reason, message } = shortageStatus(placed.shortage);
        const failed: KObject = { ...refusedStatus(pod, '', message), reason, message };
        for (const cs of failed.containerStatuses ?? []) cs.state = { waiting: { reason, message } };
        await this.client.updateStatus(PODS, { ...pod, status: failed });
        void this.events.record(pod, 'Warning', reason, message);
        return;
      }
      if (placed.adapters) want.app.spec.adapters = placed.adapters;
    }
    let blocked: string | undefined;
    if (want.missing) blocked = `${want.missing.field}: ${want.missing.message}`;
    else if (nets.wait) blocked = `${nets.wait.field}: ${nets.wait.message}`;
    if (!blocked) {
      want.app!.spec.networks.push(...nets.networks);
      // The networks first: the app's config never names a NetworkInstance that is not there.
      await this.networks.ensure(pod, nets.instances);
      if (!app) {
        try {
          await this.client.create(APPINSTANCES, ns, want.app!);
        } catch (e) {
          if (!isAlreadyExists(e)) throw e;
        }
      } else if (!covers(app.spec, want.app!.spec)) await this.client.update(APPINSTANCES, { ...app, spec: want.app!.spec });
    }

    const hostIP = (this.informers.informerFor(NODES).store.get(pod.spec.nodeName)?.status?.addresses ?? []).find(
      (a: KObject) => a.type === 'InternalIP',
    )?.address;
    const status = podStatus({ pod, app, online, hostIP, blocked });
    status.conditions = withNetworksCondition(pod, status.conditions, nets.problem);
    const netWas = getCondition(pod, NETWORKS_CONDITION);
    if (nets.problem && (netWas?.status !== 'False' || netWas.message !== nets.problem.message))
      void this.events.record(pod, 'Warning', nets.problem.reason, nets.problem.message);
    if (!isDeepStrictEqual(status, pod.status)) {
      await this.client.updateStatus(PODS, { ...pod, status });
      this.containerEvents(pod, pod.status?.containerStatuses?.[0], status.containerStatuses[0], app);
    }
    await this.networks.writeStatus(pod, app);
    if (blocked) return { requeueAfterMs: 5000 };
    if (evictIn !== undefined) return { requeueAfterMs: evictIn };
  }

  /** ms until a pod on a silent node must go (≤ 0: now), or undefined when it stays. */
  private evictionDelay(pod: KObject, en: KObject): number | undefined {
    const secs = unreachableToleration(pod);
    if (secs === undefined) return undefined;
    const since = Date.parse(getCondition(en, 'Online')?.lastTransitionTime ?? '') || Date.now();
    return since + secs * 1000 - Date.now();
  }

  private async terminate(pod: KObject, app: KObject | undefined, en: KObject): Promise<void | { requeueAfterMs: number }> {
    const uid = pod.metadata.uid as string;
    const [ns, name] = [pod.metadata.namespace as string, pod.metadata.name as string];
    if (app) {
      await this.client.delete(APPINSTANCES, ns, name, { preconditions: { uid: app.metadata.uid } }).catch(ignoreNotFound);
      this.removedAt.set(uid, en.status?.renderedConfigHash);
      return { requeueAfterMs: 500 };
    }
    const neverRan = !(pod.status?.containerStatuses ?? []).some((c: KObject) => c.state?.running);
    const st = en.status ?? {};
    const gone = this.removedAt.has(uid) && st.renderedConfigHash !== this.removedAt.get(uid) && st.deliveredConfigHash === st.renderedConfigHash;
    const graceEnd = Date.parse(pod.metadata.deletionTimestamp);
    if (neverRan || gone || !this.removedAt.has(uid) || Date.now() >= graceEnd) {
      await this.client.delete(PODS, ns, name, { gracePeriodSeconds: 0, preconditions: { uid } }).catch(ignoreNotFound);
      this.removedAt.delete(uid);
      return;
    }
    return { requeueAfterMs: Math.min(1000, Math.max(100, graceEnd - Date.now())) };
  }

  private containerEvents(pod: KObject, before: KObject | undefined, after: KObject, app: KObject | undefined): void {
    const image = pod.spec.containers?.[0]?.image;
    const w0 = before?.state?.waiting?.reason;
    const state = app?.status?.state as string | undefined;
    // Once per pod, when the device first reports the app (it is fetching the image then).
    if (state && !this.pulling.has(pod.metadata.uid)) {
      this.pulling.add(pod.metadata.uid);
      void this.events.record(pod, 'Normal', 'Pulling', `Pulling image "${image}"`);
    }
    if (after.state?.running && !before?.state?.running) {
      void this.events.record(pod, 'Normal', 'Pulled', `Image "${image}" is on the device`);
      void this.events.record(pod, 'Normal', 'Started', `Started container ${after.name} (EVE app ${app?.status?.uuid ?? ''})`.trim());
    }
    const w = after.state?.waiting;
    if ((w?.reason === 'ErrImagePull' || w?.reason === 'CreateContainerError') && w0 !== w.reason)
      void this.events.record(pod, 'Warning', 'Failed', w.message ?? w.reason);
  }
}

/** Whether `have` holds everything `want` says (the server may have defaulted more fields). */
function covers(have: unknown, want: unknown): boolean {
  if (want === null || typeof want !== 'object') return isDeepStrictEqual(have, want);
  if (Array.isArray(want)) return Array.isArray(have) && have.length === want.length && want.every((w, i) => covers(have[i], w));
  if (!have || typeof have !== 'object') return false;
  return Object.entries(want).every(([k, w]) => covers((have as Record<string, unknown>)[k], w));
}

function ignoreNotFound(e: unknown): void {
  if (!isNotFound(e)) throw e;
}
