// What the workload controllers share: the resources they touch, controller ownerReferences, pod
// readiness as kube-controller-manager judges it, label selectors, and the pod-template hash.

import { createHash } from 'node:crypto';
import { byField, type GVR, type KObject } from '../runtime/index.ts';
import { selectorMatches } from '../../api/builtin/pod-template.ts';

export const PODS: GVR = { group: '', version: 'v1', resource: 'pods' };
export const NODES: GVR = { group: '', version: 'v1', resource: 'nodes' };
export const EVENTS: GVR = { group: '', version: 'v1', resource: 'events' };
export const REPLICASETS: GVR = { group: 'apps', version: 'v1', resource: 'replicasets' };
export const DEPLOYMENTS: GVR = { group: 'apps', version: 'v1', resource: 'deployments' };
export const DAEMONSETS: GVR = { group: 'apps', version: 'v1', resource: 'daemonsets' };
export const JOBS: GVR = { group: 'batch', version: 'v1', resource: 'jobs' };
export const CRONJOBS: GVR = { group: 'batch', version: 'v1', resource: 'cronjobs' };
export const PDBS: GVR = { group: 'policy', version: 'v1', resource: 'poddisruptionbudgets' };

/** Pods by spec.nodeName: one index function shared by every controller on the pod informer. */
export const POD_NODE_INDEXERS = { nodeName: byField('spec.nodeName') };

export const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The ownerReference with controller=true, if any. */
export function controllerRef(o: KObject): KObject | undefined {
  const refs: unknown[] = Array.isArray(o.metadata?.ownerReferences) ? o.metadata.ownerReferences : [];
  return refs.find((r): r is KObject => !!r && typeof r === 'object' && (r as KObject).controller === true) as KObject | undefined;
}

export function ownerRefTo(owner: KObject, kind: string, apiVersion: string): KObject {
  return { apiVersion, kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true };
}

export function selects(selector: unknown, obj: KObject): boolean {
  return selectorMatches(selector, obj.metadata?.labels ?? {});
}

export const isTerminating = (p: KObject) => !!p.metadata?.deletionTimestamp;
export const isTerminal = (p: KObject) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
/** Pods a ReplicaSet counts: not finished, not on their way out (controller.FilterActivePods). */
export const isActive = (p: KObject) => !isTerminal(p) && !isTerminating(p);

export function condition(o: KObject, type: string): KObject | undefined {
  return (o.status?.conditions ?? []).find((c: KObject) => c?.type === type);
}

export const isPodReady = (p: KObject) => condition(p, 'Ready')?.status === 'True';

/** Ready for at least minReadySeconds (podutil.IsPodAvailable). */
export function isPodAvailable(p: KObject, minReadySeconds: number, at = Date.now()): boolean {
  const c = condition(p, 'Ready');
  if (c?.status !== 'True') return false;
  if (!minReadySeconds) return true;
  const since = Date.parse(c.lastTransitionTime ?? '');
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= at;
}

/** Sets (or replaces) a condition, keeping lastTransitionTime while the status stays the same. */
export function setCondition(status: KObject, c: { type: string; status: string; reason?: string; message?: string }, keepUpdateTime = false): void {
  const list: KObject[] = (status.conditions ??= []);
  const i = list.findIndex((x) => x.type === c.type);
  const t = now();
  const old = i >= 0 ? list[i] : undefined;
  const next: KObject = {
    type: c.type,
    status: c.status,
    lastUpdateTime: keepUpdateTime && old && old.status === c.status && old.reason === c.reason ? old.lastUpdateTime : t,
    lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : t,
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.message ? { message: c.message } : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
}

/** intstr with a percentage of `total`, rounded up or down as kube's GetScaledValueFromIntOrPercent. */
export function scaled(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.endsWith('%')) {
    const pct = Number(v.slice(0, -1));
    const x = (pct * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

/** A short label-safe hash of the template (the role of kube's ComputeHash; SafeEncodeString's alphabet). */
export function templateHash(template: unknown, collisionCount = 0): string {
  const h = createHash('sha256')
    .update(stableJson(template) + (collisionCount ? String(collisionCount) : ''))
    .digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let n = h.readUInt32BE(0);
  let out = '';
  do {
    out += alphabet[n % alphabet.length];
    n = Math.floor(n / alphabet.length);
  } while (n > 0);
  return out;
}

export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as KObject)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

let lastNanos = 0n;
function uniqueSuffix(): string {
  let n = BigInt(Date.now()) * 1_000_000n;
  if (n <= lastNanos) n = lastNanos + 1n;
  lastNanos = n;
  return n.toString(16);
}

/** Records an Event about an object (core/v1), as the controllers' EventRecorder; failures are not fatal. */
export function eventFor(obj: KObject, type: 'Normal' | 'Warning', reason: string, message: string, component: string): KObject {
  const t = now();
  // Through JSON: unset fields of the involved object are dropped, not sent as null.
  return JSON.parse(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Event',
      // kube's recorder names events "<object>.<unix nanoseconds in hex>".
      metadata: { name: `${obj.metadata.name}.${uniqueSuffix()}`, namespace: obj.metadata.namespace ?? 'default' },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: t,
      lastTimestamp: t,
      source: { component },
      reportingComponent: component,
    }),
  );
}
