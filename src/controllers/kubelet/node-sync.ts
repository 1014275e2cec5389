// One Node per EdgeNode (same name, owned by it, so the garbage collector deletes it with the
// EdgeNode). Everything on the Node is derived from the EdgeNode's spec and status, which the EVE
// controllers keep: device info (hardware, EVE version, interfaces) and the Online condition that
// presence.ts writes on transitions only. The Node is written only when what it shows changed, so a
// device that just keeps polling costs no Node write at all; heartbeat times are the device's last
// contact as of the last transition, not "now".

import { isDeepStrictEqual } from 'node:util';
import type { KObject } from '../../apiserver/resource.ts';
import { Controller, isNotFound, objectKey, type Client, type SharedInformerFactory } from '../runtime/index.ts';
import { API_VERSION as EVE_API_VERSION, APPINSTANCES, EDGENODES, getCondition } from '../eve/status.ts';
import { adapterAllocatable, adapterCapacity, podControlled } from './adapters.ts';
import { CONNECTED_CONDITION, EDGE_NODE_LABEL, EVE_VERSION_LABEL, NODES, UNREACHABLE_TAINT, rfc3339, type Taint } from './resources.ts';

export interface NodeSyncOptions {
  /** Taint every EVE Node carries (default kubeve.io/edge-node=true:NoSchedule; null = none). */
  edgeTaint?: Taint | null;
  /** status.capacity.pods (default 16: EVE runs few apps per device). */
  maxPods?: number;
  /** nodeInfo.kubeletVersion. */
  kubeletVersion?: string;
}

export const DEFAULT_EDGE_TAINT: Taint = { key: EDGE_NODE_LABEL, value: 'true', effect: 'NoSchedule' };
/** Taint keys this controller owns on a Node; other taints (kubectl taint) are left alone. */
const OWN_TAINTS = (o: NodeSyncOptions) => new Set([UNREACHABLE_TAINT, (o.edgeTaint === undefined ? DEFAULT_EDGE_TAINT : o.edgeTaint)?.key].filter(Boolean));

/** Online per the EdgeNode: true, false (silent past its timeout) or undefined (never seen since registration). */
export function edgeNodeOnline(en: KObject): boolean | undefined {
  const c = getCondition(en, 'Online');
  return c ? c.status === 'True' : undefined;
}

const ARCH: Record<string, string> = { x86_64: 'amd64', amd64: 'amd64', aarch64: 'arm64', arm64: 'arm64', riscv64: 'riscv64' };

/** "1234Mi" → "1234Mi"; a number of MiB → "<n>Mi". */
const mib = (v: unknown): string | undefined => (typeof v === 'number' ? `${v}Mi` : typeof v === 'string' && v ? v : undefined);

/** The Node an EdgeNode stands for: metadata (labels, owner), spec (taints) and status. */
/** Annotation listing the label keys this controller set, so labels others add (kubectl label) are kept. */
export const SYNCED_LABELS = 'kubeve.io/synced-labels';

export function desiredNode(
  en: KObject,
  o: NodeSyncOptions,
  taintsNow: Taint[] = [],
  labelsNow: Record<string, string> = {},
  syncedNow = '',
  apps: KObject[] = [],
): KObject {
  const st = en.status ?? {};
  const hw = st.hardware ?? {};
  const arch = ARCH[String(hw.architecture ?? '')] ?? (hw.architecture ? String(hw.architecture) : 'amd64');
  const name = en.metadata.name as string;
  const online = edgeNodeOnline(en);
  const labels: Record<string, string> = {
    ...(en.metadata.labels ?? {}),
    'kubernetes.io/arch': arch,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/hostname': name,
    'beta.kubernetes.io/arch': arch,
    'beta.kubernetes.io/os': 'linux',
    [EDGE_NODE_LABEL]: 'true',
  };
  if (hw.model) labels['node.kubernetes.io/instance-type'] = labelValue(String(hw.model));
  if (st.eveVersion) labels[EVE_VERSION_LABEL] = labelValue(String(st.eveVersion));
  const synced = new Set(syncedNow.split(',').filter(Boolean));
  const others = Object.fromEntries(Object.entries(labelsNow).filter(([k]) => !synced.has(k) && !(k in labels)));

  const own = OWN_TAINTS(o);
  const edgeTaint = o.edgeTaint === undefined ? DEFAULT_EDGE_TAINT : o.edgeTaint;
  const taints: Taint[] = taintsNow.filter((t) => !own.has(t.key));
  if (edgeTaint) taints.push(edgeTaint);
  // Not NoExecute: a silent EVE device keeps running its apps; only pods that opt in are replaced.
  if (online === false) taints.push({ key: UNREACHABLE_TAINT, effect: 'NoSchedule' });

  const capacity: Record<string, string> = { pods: String(o.maxPods ?? 16) };
  if (hw.cpus) capacity.cpu = String(hw.cpus);
  const mem = mib(hw.memory);
  if (mem) capacity.memory = mem;
  const disk = mib(hw.storage);
  if (disk) capacity['ephemeral-storage'] = disk;
  Object.assign(capacity, adapterCapacity(en));

  const addresses: KObject[] = [];
  const ifaces: KObject[] = Array.isArray(st.interfaces) ? st.interfaces : [];
  const mgmt = [...ifaces.filter((i) => i.usage === 'management'), ...ifaces.filter((i) => i.usage !== 'management')];
  const seen = new Set<string>();
  for (const i of mgmt) {
    for (const ip of (i.ipAddresses ?? []) as string[]) {
      if (seen.has(ip) || ip.startsWith('fe80:')) continue;
      seen.add(ip);
      addresses.push({ type: 'InternalIP', address: ip });
    }
  }
  addresses.push({ type: 'Hostname', address: name });

  const heartbeat = st.lastContact ?? rfc3339(Date.parse(en.metadata.creationTimestamp ?? '') || Date.now());
  const timeout = getCondition(en, 'Online')?.message ?? '';
  const conditions: KObject[] = [
    online === true
      ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'the EVE device is in contact with the controller' }
      : online === false
        ? { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: `EVE device out of contact: ${timeout}` }
        : { type: 'Ready', status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'the EVE device has not contacted the controller yet' },
    online === true
      ? { type: CONNECTED_CONDITION, status: 'True', reason: 'DeviceContact', message: 'the device polls for its config' }
      : {
          type: CONNECTED_CONDITION,
          status: 'False',
          reason: online === false ? 'NoContact' : 'NeverContacted',
          message: online === false ? `${timeout}; its apps keep running their last config` : 'no contact yet',
        },
  ];
  for (const c of conditions) {
    c.lastHeartbeatTime = heartbeat;
    c.lastTransitionTime = getCondition(en, 'Online')?.lastTransitionTime ?? heartbeat;
  }
  const version = st.eveVersion ? String(st.eveVersion) : '';
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { ...others, ...labels },
      annotations: { [SYNCED_LABELS]: Object.keys(labels).sort().join(',') },
      ownerReferences: [{ apiVersion: EVE_API_VERSION, kind: 'EdgeNode', name, uid: en.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: { taints },
    status: {
      capacity,
      allocatable: { ...capacity, ...adapterAllocatable(en, apps) },
      conditions,
      addresses,
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: {
        machineID: String(st.uuid ?? ''),
        systemUUID: String(st.uuid ?? ''),
        bootID: String(st.lastRebootTime ?? ''),
        kernelVersion: String(st.kernelVersion ?? ''),
        osImage: version ? `EVE-OS ${version}` : 'EVE-OS',
        containerRuntimeVersion: 'eve://' + (version || 'unknown'),
        kubeletVersion: o.kubeletVersion ?? 'v1.33.0-kubeve',
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: arch,
      },
      phase: 'Running',
    },
  };
}

/** Label values: ≤ 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric. */
function labelValue(s: string): string {
  return s
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** What is compared to decide a write: timestamps of conditions move only with the rest. */
interface Shown {
  labels: unknown;
  owners: unknown;
  taints: unknown;
  status: unknown;
}
function shown(n: KObject): Shown {
  const conds = (n.status?.conditions ?? []).map((c: KObject) => ({ ...c, lastHeartbeatTime: undefined }));
  return {
    labels: [n.metadata?.labels, n.metadata?.annotations?.[SYNCED_LABELS]],
    owners: n.metadata?.ownerReferences,
    taints: n.spec?.taints ?? [],
    status: { ...n.status, conditions: conds },
  };
}

export class NodeSync {
  readonly controller: Controller;
  readonly writes = { create: 0, update: 0, status: 0 };

  /** `onCreated`: a Node was created for its EdgeNode (the registration event). */
  constructor(
    private readonly client: Client,
    private readonly informers: SharedInformerFactory,
    private readonly o: NodeSyncOptions = {},
    private readonly onCreated?: (node: KObject) => void,
  ) {
    const edge = informers.informerFor(EDGENODES);
    const nodes = informers.informerFor(NODES);
    // Adapters held by AppInstances no Pod controls leave allocatable: their nodes are re-synced.
    const appChanged = (a: KObject) => {
      if (a.spec?.nodeName && !podControlled(a) && (a.spec.adapters ?? []).length) this.controller.enqueue(a.spec.nodeName);
    };
    informers.informerFor(APPINSTANCES).addEventHandler({
      onAdd: appChanged,
      onUpdate: (o, n) => {
        appChanged(o);
        appChanged(n);
      },
      onDelete: appChanged,
    });
    this.controller = new Controller('kubelet-node-sync', (key) => this.reconcile(key));
    const enqueue = (obj: KObject) => this.controller.enqueue(objectKey(obj));
    edge.addEventHandler({ onAdd: enqueue, onUpdate: (_, n) => enqueue(n), onDelete: enqueue });
    nodes.addEventHandler({ onUpdate: (_, n) => enqueue(n), onDelete: enqueue });
  }

  start(): void {
    this.controller.run(2);
  }

  stop(): Promise<void> {
    return this.controller.stop();
  }

  private async reconcile(name: string): Promise<void> {
    const en = this.informers.informerFor(EDGENODES).store.get(name);
    // Gone: the garbage collector deletes the Node (owner reference); pods go with the Node (pod-controller).
    if (!en || en.metadata.deletionTimestamp || !en.status?.uuid) return;
    const current = this.informers.informerFor(NODES).store.get(name);
    if (current && !(current.metadata.ownerReferences ?? []).some((r: KObject) => r.uid === en.metadata.uid)) {
      // A Node of that name that is not ours (a real kubelet's, or a stale one): never touch it.
      if (current.metadata.ownerReferences?.some((r: KObject) => r.kind === 'EdgeNode'))
        await this.client.delete(NODES, undefined, name, { preconditions: { uid: current.metadata.uid } }).catch(ignoreNotFound);
      return;
    }
    const apps = (en.status?.adapters ?? []).length
      ? this.informers
          .informerFor(APPINSTANCES)
          .store.list()
          .filter((a) => a.spec?.nodeName === name)
      : [];
    const want = desiredNode(
      en,
      this.o,
      current?.spec?.taints ?? [],
      current?.metadata.labels ?? {},
      current?.metadata.annotations?.[SYNCED_LABELS] ?? '',
      apps,
    );
    if (!current) {
      // AlreadyExists (the informer is behind) throws: the key is retried once the cache has the Node.
      const created = await this.client.create(NODES, undefined, want);
      this.writes.create++;
      this.onCreated?.(created);
      if (!isDeepStrictEqual(shown(created).status, shown(want).status)) {
        await this.client.updateStatus(NODES, { ...created, status: want.status });
        this.writes.status++;
      }
      return;
    }
    const before = shown(current);
    const after = shown(want);
    const meta = {
      ...current.metadata,
      labels: want.metadata.labels,
      annotations: { ...current.metadata.annotations, ...want.metadata.annotations },
      ownerReferences: want.metadata.ownerReferences,
    };
    let obj = current;
    if (!isDeepStrictEqual(before.labels, after.labels) || !isDeepStrictEqual(before.owners, after.owners) || !isDeepStrictEqual(before.taints, after.taints)) {
      obj = await this.client.update(NODES, { ...current, metadata: meta, spec: { ...current.spec, taints: want.spec.taints } });
      this.writes.update++;
    }
    if (!isDeepStrictEqual(shown(obj).status, after.status)) {
      await this.client.updateStatus(NODES, { ...obj, status: want.status });
      this.writes.status++;
    }
  }
}

function ignoreNotFound(e: unknown): void {
  if (!isNotFound(e)) throw e;
}
