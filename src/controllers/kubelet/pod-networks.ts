// A pod's networks on an EVE node (reference/kubelet-pods-multus.md §C.2, §C.3, §F.2):
// - eth0 on the namespace's default local NetworkInstance `kubeve-pods` (pod-mapping.ts);
// - one more interface per element of `k8s.v1.cni.cncf.io/networks` (short or JSON form), in order,
//   on the NetworkInstance made from the NAD (nad.ts), with the requested MAC / IP;
// - the NetworkInstances the pod uses list the Pod among their ownerReferences, so the garbage
//   collector deletes one once no pod uses it (the per-namespace default included);
// - `k8s.v1.cni.cncf.io/network-status` written back from what the device reports.
// A NAD that is gone or unusable after the pod's app exists leaves the app's interfaces as they are and
// is reported on the pod (condition + Event) instead.

import { isDeepStrictEqual } from 'node:util';
import type { KObject } from '../../apiserver/resource.ts';
import { isAlreadyExists, type Client, type Informer, type SharedInformerFactory } from '../runtime/index.ts';
import { API_VERSION as EVE_API_VERSION, NETWORKINSTANCES } from '../eve/status.ts';
import { NADS, NAD_LABEL, nadNetwork, nadNetworkName, isNadProblem } from './nad.ts';
import { POD_NETWORK, podNetwork } from './pod-mapping.ts';
import type { Refusal } from './pod-support.ts';
import { PODS, boundPods, rfc3339 } from './resources.ts';

export const NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';
export const NETWORK_STATUS_ANNOTATION = 'k8s.v1.cni.cncf.io/network-status';
/** Pod condition: False while an extra network the pod's app keeps using has a problem (NAD deleted or unusable). */
export const NETWORKS_CONDITION = 'kubeve.io/NetworksReady';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kubeve-kubelet-bridge' };
const FIELD = `metadata.annotations[${NETWORKS_ANNOTATION}]`;

/** One element of the selection annotation, validated as Multus does. */
export interface NetworkSelection {
  namespace: string;
  name: string;
  interface?: string;
  ips?: string[];
  mac?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAC = /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/;
const isIp4 = (s: string) => /^(\d{1,3})(\.\d{1,3}){3}$/.test(s) && s.split('.').every((x) => Number(x) <= 255);

function checkElement(e: NetworkSelection, where: string): string | undefined {
  if (!DNS_LABEL.test(e.name) || e.name.length > 63) return `${where}: network name "${e.name}" is not a DNS-1123 label`;
  if (!DNS_LABEL.test(e.namespace) || e.namespace.length > 63) return `${where}: namespace "${e.namespace}" is not a DNS-1123 label`;
  if (e.interface !== undefined && (e.interface === '' || e.interface.length > 15 || /[\s/]/.test(e.interface)))
    return `${where}: interface "${e.interface}" must be 1-15 characters without "/" or whitespace`;
  if (e.mac !== undefined && !MAC.test(e.mac)) return `${where}: mac "${e.mac}" is not a MAC address`;
  for (const ip of e.ips ?? []) {
    const addr = ip.split('/')[0]!;
    if (!isIp4(addr) || (ip.includes('/') && !/^\d{1,2}$/.test(ip.split('/')[1]!)))
      return `${where}: ips entry "${ip}" is not an IPv4 address (EVE apps take one static IPv4 address per interface)`;
  }
  if ((e.ips?.length ?? 0) > 1) return `${where}: ${e.ips!.length} ips given; EVE takes one static address per interface`;
  return undefined;
}

/** The selection annotation's elements (both forms), or why it is unusable. */
export function parseNetworkSelection(value: string, podNamespace: string): NetworkSelection[] | { error: string } {
  const out: NetworkSelection[] = [];
  if (/[[{"]/.test(value)) {
    let list: unknown;
    try {
      list = JSON.parse(value);
    } catch (e) {
      return { error: `not a JSON list of network selections: ${(e as Error).message}` };
    }
    if (!Array.isArray(list)) return { error: 'the JSON form must be a list of network selections' };
    for (const [i, x] of list.entries()) {
      const o = x as KObject;
      if (!o || typeof o !== 'object' || typeof o.name !== 'string') return { error: `[${i}]: "name" is required` };
      const iface = o.interface ?? o.interfaceRequest;
      if (iface !== undefined && typeof iface !== 'string') return { error: `[${i}]: "interface" must be a string` };
      if (o.mac !== undefined && typeof o.mac !== 'string') return { error: `[${i}]: "mac" must be a string` };
      if (o.ips !== undefined && (!Array.isArray(o.ips) || o.ips.some((s: unknown) => typeof s !== 'string')))
        return { error: `[${i}]: "ips" must be a list of strings` };
      const e: NetworkSelection = {
        namespace: typeof o.namespace === 'string' && o.namespace ? o.namespace : podNamespace,
        name: o.name,
        ...(iface !== undefined ? { interface: iface } : {}),
        ...(o.ips ? { ips: o.ips } : {}),
        ...(o.mac !== undefined ? { mac: o.mac } : {}),
      };
      const err = checkElement(e, `[${i}]`);
      if (err) return { error: err };
      out.push(e);
    }
    return out;
  }
  for (const item of value.split(',').map((s) => s.trim())) {
    if (!item) continue;
    const [ref, iface, extra] = item.split('@');
    if (extra !== undefined) return { error: `"${item}": at most one "@"` };
    const parts = ref!.split('/');
    if (parts.length > 2) return { error: `"${item}": expected [namespace/]name[@interface]` };
    const e: NetworkSelection = {
      namespace: parts.length === 2 ? parts[0]! : podNamespace,
      name: parts[parts.length - 1]!,
      ...(iface !== undefined ? { interface: iface } : {}),
    };
    const err = checkElement(e, `"${item}"`);
    if (err) return { error: err };
    out.push(e);
  }
  return out;
}

/** What the pod's extra networks come to this time round. */
export interface NetworksPlan {
  /** The AppInstance networks after eth0, in order. */
  networks: KObject[];
  /** NetworkInstances (in the pod's namespace) to keep: name → spec (undefined = keep as it is). */
  instances: Map<string, { spec?: KObject; nad?: string }>;
  /** Refuse the pod (nothing reaches the device). */
  fail?: Refusal;
  /** Wait (a NAD not created yet). */
  wait?: Refusal;
  /** The app exists and keeps its interfaces; this is what is wrong with them. */
  problem?: { reason: string; message: string };
}

/** The NAD keys (`ns/name`) a pod selects; empty when the annotation is absent or unusable. */
export function selectedNads(pod: KObject): string[] {
  const v = pod.metadata?.annotations?.[NETWORKS_ANNOTATION];
  if (typeof v !== 'string') return [];
  const sel = parseNetworkSelection(v, pod.metadata.namespace);
  return Array.isArray(sel) ? sel.map((s) => `${s.namespace}/${s.name}`) : [];
}

export class PodNetworks {
  private readonly nis: Informer;
  private readonly nads: Informer;
  private readonly pods: Informer;

  constructor(
    private readonly client: Client,
    informers: SharedInformerFactory,
  ) {
    this.nis = informers.informerFor(NETWORKINSTANCES);
    this.nads = informers.informerFor(NADS);
    this.pods = boundPods(informers);
  }

  /**
   * The pod's extra interfaces. Without an app yet, a bad annotation or an unusable NAD refuses the
   * pod and a missing NAD makes it wait; with one, its current interfaces stay and the problem is reported.
   */
  plan(pod: KObject, app: KObject | undefined): NetworksPlan {
    const ns = pod.metadata.namespace as string;
    const instances: NetworksPlan['instances'] = new Map([[POD_NETWORK, { spec: podNetwork(ns).spec }]]);
    // The app's current extra interfaces, their NetworkInstances left as they are.
    const kept = (reason: string, message: string): NetworksPlan => {
      const networks = (app!.spec?.networks ?? []).slice(1);
      const keep: NetworksPlan['instances'] = new Map([[POD_NETWORK, instances.get(POD_NETWORK)!]]);
      for (const n of networks) keep.set(n.networkInstanceRef.name, {});
      return { networks, instances: keep, problem: { reason, message } };
    };
    const value = pod.metadata.annotations?.[NETWORKS_ANNOTATION];
    if (value === undefined) return { networks: [], instances };
    const sel = parseNetworkSelection(String(value), ns);
    if (!Array.isArray(sel))
      return app ? kept('InvalidNetworkSelection', `${FIELD}: ${sel.error}`) : { networks: [], instances, fail: { field: FIELD, message: sel.error } };
    const networks: KObject[] = [];
    const names = new Set(['eth0']);
    for (const [i, s] of sel.entries()) {
      const ifname = s.interface ?? `net${i + 1}`;
      if (names.has(ifname))
        return app
          ? kept('InvalidNetworkSelection', `${FIELD}: interface ${ifname} named twice`)
          : { networks: [], instances, fail: { field: FIELD, message: `interface ${ifname} named twice` } };
      names.add(ifname);
      const nad = this.nads.store.get(`${s.namespace}/${s.name}`);
      if (!nad) {
        const message = `NetworkAttachmentDefinition ${s.namespace}/${s.name} not found`;
        if (app) return kept('NetworkAttachmentDefinitionNotFound', `${message}; the app keeps the interfaces it has`);
        return { networks: [], instances, wait: { field: FIELD, message } };
      }
      const net = nadNetwork(nad);
      if (isNadProblem(net))
        return app
          ? kept(net.reason, `${net.message}; the app keeps the interfaces it has`)
          : { networks: [], instances, fail: { field: FIELD, message: net.message } };
      const niName = nadNetworkName(s.namespace, s.name);
      instances.set(niName, { spec: net.spec, nad: `${s.namespace}.${s.name}` });
      const ip = s.ips?.[0]?.split('/')[0] ?? net.staticIp;
      networks.push({
        name: ifname,
        networkInstanceRef: { name: niName },
        ...(ip ? { ip } : {}),
        ...(s.mac ? { macAddress: s.mac.toLowerCase().replace(/-/g, ':') } : {}),
        ...(net.vlanId ? { vlanId: net.vlanId } : {}),
      });
    }
    return { networks, instances };
  }

  /**
   * Each NetworkInstance the pod uses exists with the wanted spec and lists the pod as an owner.
   * Owners that are no longer pods are dropped when the list is written anyway.
   */
  async ensure(pod: KObject, instances: NetworksPlan['instances']): Promise<void> {
    const ns = pod.metadata.namespace as string;
    const me = { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid };
    for (const [name, want] of instances) {
      let cur = this.nis.store.get(`${ns}/${name}`);
      if (!cur) {
        if (!want.spec) continue; // kept, but gone: the render reports it on the app
        const labels = { ...MANAGED_BY, ...(want.nad ? { [NAD_LABEL]: want.nad } : {}) };
        try {
          await this.client.create(NETWORKINSTANCES, ns, {
            apiVersion: EVE_API_VERSION,
            kind: 'NetworkInstance',
            metadata: { name, namespace: ns, labels, ownerReferences: [me] },
            spec: want.spec,
          });
          continue;
        } catch (e) {
          // Another pod's worker made it first: become one of its owners below.
          if (!isAlreadyExists(e)) throw e;
          cur = await this.client.get(NETWORKINSTANCES, ns, name);
        }
      }
      // Someone else's NetworkInstance of that name: use it, never take it over.
      if (cur.metadata.labels?.['app.kubernetes.io/managed-by'] !== MANAGED_BY['app.kubernetes.io/managed-by']) continue;
      const owners: KObject[] = cur.metadata.ownerReferences ?? [];
      const owned = owners.some((o) => o.uid === me.uid);
      const specOk =
        !want.spec ||
        (Object.entries(want.spec).every(([k, v]) => isDeepStrictEqual(cur.spec?.[k], v)) &&
          Object.keys(cur.spec ?? {}).every((k) => k in want.spec! || DEFAULTED.has(k)));
      if (owned && specOk) continue;
      const live = owners.filter((o) => o.kind !== 'Pod' || this.pods.store.get(`${ns}/${o.name}`)?.metadata.uid === o.uid);
      await this.client.update(NETWORKINSTANCES, {
        ...cur,
        metadata: { ...cur.metadata, ownerReferences: owned ? live : [...live, me] },
        spec: want.spec ?? cur.spec,
      });
    }
  }

  /** The pod's network-status annotation value from its app, or undefined before the device reported. */
  networkStatus(app: KObject | undefined): string | undefined {
    const reported: KObject[] = app?.status?.interfaces ?? [];
    if (!app || !reported.length) return undefined;
    const out = (app.spec?.networks ?? []).map((n: KObject, i: number) => {
      const r = reported[i] ?? {};
      const niName = String(n.networkInstanceRef?.name ?? '');
      const parts = niName.split('.');
      const name = i === 0 ? niName : parts.length === 3 && parts[0] === 'nad' ? `${parts[1]}/${parts[2]}` : niName;
      return {
        name,
        interface: n.name ?? `eth${i}`,
        ips: [...(r.ipAddresses ?? [])],
        ...(r.macAddress ? { mac: r.macAddress } : {}),
        ...(i === 0 ? { default: true } : {}),
        dns: {},
      };
    });
    return JSON.stringify(out);
  }

  /** Writes the network-status annotation when what the device reports changed. */
  async writeStatus(pod: KObject, app: KObject | undefined): Promise<void> {
    const v = this.networkStatus(app);
    if (v === undefined || pod.metadata.annotations?.[NETWORK_STATUS_ANNOTATION] === v) return;
    await this.client.patch(PODS, pod.metadata.namespace, pod.metadata.name, 'merge', { metadata: { annotations: { [NETWORK_STATUS_ANNOTATION]: v } } });
  }
}

/** Spec fields the NetworkInstance CRD defaults; their presence is no difference. */
const DEFAULTED = new Set(['type', 'uplink']);

/** The pod's conditions with NETWORKS_CONDITION set from the plan's problem (removed when there is none and never was). */
export function withNetworksCondition(pod: KObject, conditions: KObject[], problem: NetworksPlan['problem'], nowMs = Date.now()): KObject[] {
  const prev = (pod.status?.conditions ?? []).find((c: KObject) => c.type === NETWORKS_CONDITION);
  const rest = conditions.filter((c) => c.type !== NETWORKS_CONDITION);
  if (!problem && !prev) return rest;
  const status = problem ? 'False' : 'True';
  const c: KObject = {
    type: NETWORKS_CONDITION,
    status,
    lastProbeTime: null,
    lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : rfc3339(nowMs),
    ...(problem ? { reason: problem.reason, message: problem.message } : { reason: 'NetworksAttached' }),
  };
  return [...rest, c];
}
