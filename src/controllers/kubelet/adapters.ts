// Passthrough adapters as extended resources (reference/kubelet-pods-multus.md §F.2, "device plugins").
// The adapters a device reports as assignable (EdgeNode status.adapters, from its IO bundles) are counted
// per kind on its Node as kubeve.io/<kind>; the scheduler fits pods against them like any extended
// resource. A bound pod asking for n of a kind gets n specific free adapters written into its
// AppInstance's spec.adapters (EVE's AppInstanceConfig.adapters, by assignment group). The stored
// AppInstances are the record of who holds what, so an assignment survives restarts; the in-memory
// reservations only cover the moment between choosing and the AppInstance reaching the cache.

import type { KObject } from '../../apiserver/resource.ts';
import { parseQuantity } from '../../api/builtin/quantity.ts';

export const RESOURCE_PREFIX = 'kubeve.io/';

/** Adapter kind (status.adapters[].type) → the AppInstance adapter type EVE is given (PhyIoType family). */
const APP_ADAPTER_TYPES: Record<string, string> = {
  usb: 'usb',
  serial: 'com',
  gpu: 'hdmi',
  pci: 'other',
  ethernet: 'ethernet',
  audio: 'audio',
  wlan: 'wlan',
  wwan: 'wwan',
  can: 'other',
};
export const ADAPTER_KINDS = Object.keys(APP_ADAPTER_TYPES);

export const resourceName = (kind: string) => `${RESOURCE_PREFIX}${kind}`;

/** Node capacity entries for an EdgeNode's adapters: kubeve.io/<kind> = how many it has. */
export function adapterCapacity(en: KObject): Record<string, string> {
  const out: Record<string, number> = {};
  for (const a of (en.status?.adapters ?? []) as KObject[]) {
    if (APP_ADAPTER_TYPES[a.type]) out[resourceName(a.type)] = (out[resourceName(a.type)] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, String(v)]));
}

/**
 * Node allocatable entries: the capacity less the adapters AppInstances hold that no Pod controls (made
 * directly, not through the bridge): the scheduler cannot see those, so they are not offered.
 */
export function adapterAllocatable(en: KObject, apps: KObject[]): Record<string, string> {
  const held = new Set<string>();
  for (const a of apps) {
    if (a.metadata?.deletionTimestamp || podControlled(a)) continue;
    for (const x of a.spec?.adapters ?? []) held.add(String(x.name));
  }
  const free = { ...en, status: { ...en.status, adapters: ((en.status?.adapters ?? []) as KObject[]).filter((a) => !held.has(String(a.name))) } };
  const cap = adapterCapacity(en);
  const out = adapterCapacity(free);
  for (const k of Object.keys(cap)) out[k] ??= '0';
  return out;
}

export const podControlled = (app: KObject) => (app.metadata?.ownerReferences ?? []).some((r: KObject) => r.controller && r.kind === 'Pod');

/** Adapters a pod asks for, by kind (limits before requests, as the kubelet reads extended resources). */
export function adapterRequests(pod: KObject): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of pod.spec?.containers ?? []) {
    const r = { ...(c?.resources?.requests ?? {}), ...(c?.resources?.limits ?? {}) };
    for (const [name, v] of Object.entries(r)) {
      if (!name.startsWith(RESOURCE_PREFIX)) continue;
      const kind = name.slice(RESOURCE_PREFIX.length);
      const q = parseQuantity(v);
      const n = q ? Math.ceil(Number(q.mantissa) * 10 ** q.exp) : 0;
      if (n > 0) out.set(kind, (out.get(kind) ?? 0) + n);
    }
  }
  return out;
}

export interface Shortage {
  resource: string;
  requested: number;
  used: number;
  capacity: number;
}

/** The kubelet's admission failure for a resource the node cannot give (lifecycle predicate texts). */
export function shortageStatus(s: Shortage): { reason: string; message: string } {
  return {
    reason: `OutOf${s.resource}`,
    message: `Node didn't have enough resource: ${s.resource}, requested: ${s.requested}, used: ${s.used}, capacity: ${s.capacity}`,
  };
}

export interface AppAdapter {
  type: string;
  name: string;
}

export class AdapterAssigner {
  /** Pod uid → the node and adapters chosen for it, until the pod goes. */
  private readonly reserved = new Map<string, { node: string; names: string[] }>();

  /**
   * The adapters for a bound pod: those its AppInstance already holds when they still fit, else free
   * ones (by name, first free first). `appsOnNode`: every AppInstance on the node (read only when the
   * pod asks for adapters). Synchronous on purpose: choosing and reserving cannot interleave with
   * another pod's choice.
   */
  assign(pod: KObject, en: KObject, own: KObject | undefined, appsOnNode: () => KObject[]): { adapters?: AppAdapter[]; shortage?: Shortage } {
    const want = adapterRequests(pod);
    const uid = String(pod.metadata.uid);
    if (!want.size) {
      this.reserved.delete(uid);
      return {};
    }
    const node = String(en.metadata.name);
    const present: KObject[] = en.status?.adapters ?? [];
    const kindOf = new Map(present.map((a) => [String(a.name), String(a.type)]));
    const held = new Set<string>();
    for (const a of appsOnNode()) {
      if ((own && a.metadata?.uid === own.metadata?.uid) || a.metadata?.deletionTimestamp) continue;
      for (const x of a.spec?.adapters ?? []) held.add(String(x.name));
    }
    for (const [other, r] of this.reserved) if (other !== uid && r.node === node) r.names.forEach((n) => held.add(n));
    const mine = new Set<string>([
      ...((own?.spec?.adapters ?? []) as KObject[]).map((x) => String(x.name)),
      ...(this.reserved.get(uid)?.node === node ? this.reserved.get(uid)!.names : []),
    ]);

    const chosen: AppAdapter[] = [];
    for (const [kind, n] of [...want].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const ofKind = present
        .filter((a) => a.type === kind)
        .map((a) => String(a.name))
        .sort();
      const keep = ofKind.filter((name) => mine.has(name) && !held.has(name));
      const free = ofKind.filter((name) => !mine.has(name) && !held.has(name));
      const pick = [...keep, ...free].slice(0, n);
      if (pick.length < n)
        return { shortage: { resource: resourceName(kind), requested: n, used: ofKind.filter((x) => held.has(x)).length, capacity: ofKind.length } };
      for (const name of pick) chosen.push({ type: APP_ADAPTER_TYPES[kindOf.get(name) ?? kind] ?? 'other', name });
    }
    this.reserved.set(uid, { node, names: chosen.map((c) => c.name) });
    return { adapters: chosen };
  }

  /** The pod is gone: its adapters are free once its AppInstance is. */
  release(podUid: string): void {
    this.reserved.delete(podUid);
  }
}
