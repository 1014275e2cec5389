// Pod → AppInstance (reference/kubelet-pods-multus.md §F.2): the AppInstance the existing render path
// turns into the device's app, owned by the Pod (deleted with it) and carrying the Pod's UID as the
// EVE app UUID (the kubeve.io/pod-uid annotation mapping.ts honours for Pod-owned AppInstances).
// Environment is resolved here from ConfigMaps and Secrets (as a kubelet does): EVE gets values.

import type { KObject } from '../../apiserver/resource.ts';
import { parseQuantity } from '../../api/builtin/quantity.ts';
import { API_VERSION as EVE_API_VERSION } from '../eve/status.ts';
import type { Refusal } from './pod-support.ts';
import { handlerName, runtimeSpec } from './pod-vm.ts';

/** The NetworkInstance (per namespace) pods' first interface is on; created by the bridge when absent. */
export const POD_NETWORK = 'kubeve-pods';
export const POD_NETWORK_SUBNET = '10.244.0.0/24';
export const DEFAULT_EMPTYDIR_SIZE = '1Gi';

export interface Lookups {
  configMap(namespace: string, name: string): KObject | undefined;
  secret(namespace: string, name: string): KObject | undefined;
  /** A RuntimeClass by name (the pod's handler comes from it). */
  runtimeClass?(name: string): KObject | undefined;
}

const b64 = (v: string) => Buffer.from(v, 'base64').toString('utf8');

function keyValue(l: Lookups, ns: string, kind: 'configMap' | 'secret', ref: KObject, field: string): { value?: string; refusal?: Refusal } {
  const obj = kind === 'configMap' ? l.configMap(ns, ref.name) : l.secret(ns, ref.name);
  const raw = obj ? (kind === 'configMap' ? obj.data?.[ref.key] : obj.data?.[ref.key] !== undefined ? b64(obj.data[ref.key]) : undefined) : undefined;
  if (raw !== undefined) return { value: String(raw) };
  if (ref.optional) return {};
  return { refusal: { field, message: obj ? `${kind} ${ns}/${ref.name} has no key ${ref.key}` : `${kind} ${ns}/${ref.name} not found` } };
}

function env(pod: KObject, c: KObject, l: Lookups): { env: { name: string; value: string }[]; missing?: Refusal } {
  const ns = pod.metadata.namespace as string;
  const out = new Map<string, string>();
  for (const [i, src] of (c.envFrom ?? []).entries()) {
    const ref = src.configMapRef ?? src.secretRef;
    const kind = src.configMapRef ? 'configMap' : 'secret';
    const obj = kind === 'configMap' ? l.configMap(ns, ref.name) : l.secret(ns, ref.name);
    if (!obj) {
      if (ref.optional) continue;
      return { env: [], missing: { field: `spec.containers[0].envFrom[${i}]`, message: `${kind} ${ns}/${ref.name} not found` } };
    }
    for (const [k, v] of Object.entries(obj.data ?? {})) out.set(`${src.prefix ?? ''}${k}`, kind === 'secret' ? b64(String(v)) : String(v));
  }
  for (const [i, e] of (c.env ?? []).entries()) {
    const vf = e.valueFrom;
    if (!vf) {
      out.set(e.name, String(e.value ?? ''));
      continue;
    }
    if (vf.fieldRef) {
      const path = vf.fieldRef.fieldPath as string;
      const v =
        path === 'metadata.name'
          ? pod.metadata.name
          : path === 'metadata.namespace'
            ? ns
            : path === 'metadata.uid'
              ? pod.metadata.uid
              : path === 'spec.nodeName'
                ? pod.spec.nodeName
                : pod.spec.serviceAccountName;
      out.set(e.name, String(v ?? ''));
      continue;
    }
    const kind = vf.configMapKeyRef ? 'configMap' : 'secret';
    const r = keyValue(l, ns, kind, vf.configMapKeyRef ?? vf.secretKeyRef, `spec.containers[0].env[${i}].valueFrom`);
    if (r.refusal) return { env: [], missing: r.refusal };
    if (r.value !== undefined) out.set(e.name, r.value);
  }
  // EVE's only override of the image's entrypoint (lf-edge/eve docs/ECOS.md).
  const cmd = [...(c.command ?? []), ...(c.args ?? [])];
  if (cmd.length) out.set('EVE_ECO_CMD', cmd.map(shellQuote).join(' '));
  return { env: [...out].map(([name, value]) => ({ name, value })) };
}

const shellQuote = (s: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Whole vCPUs (EVE takes no fractions), from limits, else requests, else 1. */
function cpus(r: KObject | undefined): number {
  const q = r?.limits?.cpu ?? r?.requests?.cpu;
  if (q === undefined) return 1;
  const p = parseQuantity(q);
  const n = p ? Number(p.mantissa) * 10 ** p.exp : NaN;
  return Number.isFinite(n) && n > 0 ? Math.max(1, Math.ceil(n)) : 1;
}

/**
 * ConfigMap and Secret volumes as cloud-init write_files (EVE docs/CLOUD-INIT.md): one file per key
 * (or per `items` entry) under the mount path. Undefined when the pod has none.
 */
function files(pod: KObject, c: KObject, l: Lookups): { files?: KObject[]; missing?: Refusal } {
  const out: KObject[] = [];
  const ns = pod.metadata.namespace as string;
  for (const [i, v] of (pod.spec.volumes ?? []).entries()) {
    const src = v.configMap ?? v.secret;
    if (!src) continue;
    const kind = v.configMap ? 'configMap' : 'secret';
    const refName = v.configMap ? src.name : src.secretName;
    const mount = (c.volumeMounts ?? []).find((m: KObject) => m.name === v.name);
    if (!mount) continue;
    const obj = kind === 'configMap' ? l.configMap(ns, refName) : l.secret(ns, refName);
    if (!obj) {
      if (src.optional) continue;
      return { missing: { field: `spec.volumes[${i}].${kind}`, message: `${kind} ${ns}/${refName} not found` } };
    }
    // Base64 of every key's bytes: Secret data already is; ConfigMap data is text, binaryData base64.
    const data: Record<string, string> =
      kind === 'secret'
        ? { ...(obj.data ?? {}) }
        : { ...Object.fromEntries(Object.entries(obj.data ?? {}).map(([k, x]) => [k, Buffer.from(String(x)).toString('base64')])), ...(obj.binaryData ?? {}) };
    const items: KObject[] =
      src.items ??
      Object.keys(data)
        .sort()
        .map((key) => ({ key, path: key }));
    for (const it of items) {
      if (data[it.key] === undefined) {
        if (src.optional) continue;
        return { missing: { field: `spec.volumes[${i}].${kind}.items`, message: `${kind} ${ns}/${refName} has no key ${it.key}` } };
      }
      const mode = it.mode ?? src.defaultMode ?? 0o644;
      out.push({
        path: `${String(mount.mountPath).replace(/\/$/, '')}/${it.path}`,
        encoding: 'b64',
        content: data[it.key],
        permissions: `0${mode.toString(8)}`,
      });
    }
  }
  return out.length ? { files: out } : {};
}

/** The AppInstance for a Pod, or why it cannot be made (a missing ConfigMap/Secret: retried later). */
export function appInstanceFor(pod: KObject, l: Lookups): { app?: KObject; missing?: Refusal } {
  const c = (pod.spec.containers ?? [])[0] ?? {};
  const e = env(pod, c, l);
  if (e.missing) return { missing: e.missing };
  const f = files(pod, c, l);
  if (f.missing) return { missing: f.missing };
  // With files, the whole user data is #cloud-config (env as runcmd K=V lines); JSON is valid YAML.
  const userData = f.files ? `#cloud-config\n${JSON.stringify({ runcmd: e.env.map((x) => `${x.name}=${x.value}`), write_files: f.files })}\n` : undefined;
  const memory = c.resources?.limits?.memory ?? c.resources?.requests?.memory;
  const portMaps = (c.ports ?? [])
    .filter((p: KObject) => p.hostPort)
    .map((p: KObject) => ({ protocol: p.protocol === 'UDP' ? 'udp' : 'tcp', port: p.hostPort, targetPort: p.containerPort }));
  const mounts: KObject[] = c.volumeMounts ?? [];
  const volumes = (pod.spec.volumes ?? [])
    .filter((v: KObject) => v.emptyDir)
    .map((v: KObject) => ({
      name: v.name,
      blank: { size: v.emptyDir.sizeLimit ?? DEFAULT_EMPTYDIR_SIZE },
      ...(mounts.find((m) => m.name === v.name)?.mountPath ? { mountPath: mounts.find((m) => m.name === v.name)!.mountPath } : {}),
    }));
  const spec: KObject = {
    nodeName: pod.spec.nodeName,
    image: c.image,
    resources: { cpus: cpus(c.resources), ...(memory ? { memory: String(memory) } : {}) },
    networks: [{ name: 'eth0', networkInstanceRef: { name: POD_NETWORK }, ...(portMaps.length ? { portMaps } : {}) }],
    ...(volumes.length ? { volumes } : {}),
    ...(userData ? { userData } : e.env.length ? { env: e.env } : {}),
  };
  // The runtime handler decides container vs VM; a VM's disk and cloud-init replace image and user data
  // (env and file volumes are refused for VMs, pod-vm.ts).
  const rt = runtimeSpec(pod, handlerName(pod, l.runtimeClass), l);
  if (rt.missing) return { missing: rt.missing };
  Object.assign(spec, rt.spec);
  return {
    app: {
      apiVersion: EVE_API_VERSION,
      kind: 'AppInstance',
      metadata: {
        name: pod.metadata.name,
        namespace: pod.metadata.namespace,
        labels: { 'kubeve.io/pod': String(pod.metadata.name).slice(0, 63) },
        annotations: { 'kubeve.io/pod-uid': pod.metadata.uid },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec,
    },
  };
}

/** The NetworkInstance pods of a namespace get their address from. */
export function podNetwork(namespace: string): KObject {
  return {
    apiVersion: EVE_API_VERSION,
    kind: 'NetworkInstance',
    metadata: { name: POD_NETWORK, namespace, labels: { 'app.kubernetes.io/managed-by': 'kubeve-kubelet-bridge' } },
    spec: { type: 'local', subnet: POD_NETWORK_SUBNET },
  };
}
