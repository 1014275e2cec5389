// EVE's workload modes as RuntimeClasses, and VM pods (reference/kubelet-pods-multus.md §F.5, option 2:
// Pod + runtimeClassName + annotations). The kubelet reads the handler of the pod's RuntimeClass, as a
// real kubelet does, so a cluster may name its own classes as long as the handler is one of these.
// A VM pod's container image is its boot disk: an OCI artifact or a KubeVirt-style containerDisk
// reference pulled from its registry, or a path on a DataStore (HTTP/S3) named by annotation.

import type { KObject } from '../../apiserver/resource.ts';
import type { Refusal } from './pod-support.ts';
import { EDGE_NODE_LABEL } from './resources.ts';

export interface RuntimeHandler {
  type: 'container' | 'vm';
  /** AppInstance spec.virtualization. */
  virtualization: 'hvm' | 'fml' | 'noHyper';
  bootMode?: 'uefi';
  description: string;
}

/** Handlers an EVE node offers; the RuntimeClasses created at start carry the same names. */
export const RUNTIME_HANDLERS: Record<string, RuntimeHandler> = {
  'eve-container': { type: 'container', virtualization: 'hvm', description: 'OCI container in a lightweight shim VM (EVE default)' },
  'eve-nohyper': { type: 'container', virtualization: 'noHyper', description: 'OCI container without a VM (EVE NOHYPER)' },
  'eve-vm-hvm': { type: 'vm', virtualization: 'hvm', description: 'VM from a disk image, hardware-assisted (EVE HVM)' },
  'eve-vm-fml': { type: 'vm', virtualization: 'fml', bootMode: 'uefi', description: 'full-machine VM with UEFI firmware, e.g. Windows (EVE FML)' },
};
/** Accepted as a handler for pods written before the modes were split; the same as eve-vm-hvm. */
const ALIASES: Record<string, string> = { 'eve-vm': 'eve-vm-hvm' };
export const DEFAULT_HANDLER = 'eve-container';

export const ANNOTATIONS = {
  diskFormat: 'kubeve.io/disk-format',
  datastore: 'kubeve.io/datastore',
  cloudInitSecret: 'kubeve.io/cloud-init-secret',
  cloudInitConfigMap: 'kubeve.io/cloud-init-configmap',
  cloudInitKey: 'kubeve.io/cloud-init-key',
  vnc: 'kubeve.io/vnc',
  vncDisplay: 'kubeve.io/vnc-display',
  cpuPinning: 'kubeve.io/cpu-pinning',
} as const;

export const DISK_FORMATS = ['qcow2', 'qcow', 'raw', 'iso', 'vhd', 'vhdx', 'vmdk', 'ova'] as const;
const EXTENSIONS: Record<string, string> = {
  qcow2: 'qcow2',
  qcow: 'qcow',
  img: 'raw',
  raw: 'raw',
  iso: 'iso',
  vhd: 'vhd',
  vhdx: 'vhdx',
  vmdk: 'vmdk',
  ova: 'ova',
};
/** Keys a cloud-init Secret/ConfigMap may hold the user data under (KubeVirt's and EVE's spellings). */
const USER_DATA_KEYS = ['userdata', 'userData', 'user-data'];

/**
 * The RuntimeClass objects for the handlers: scheduled onto EVE nodes only (node selector) and
 * tolerating their taint, so a pod that names one needs nothing else to land on an EVE device.
 */
export function runtimeClasses(): KObject[] {
  return Object.entries(RUNTIME_HANDLERS).map(([name, h]) => ({
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'kubeve-kubelet-bridge' }, annotations: { 'kubeve.io/description': h.description } },
    handler: name,
    scheduling: {
      nodeSelector: { [EDGE_NODE_LABEL]: 'true' },
      tolerations: [{ key: EDGE_NODE_LABEL, operator: 'Exists', effect: 'NoSchedule' }],
    },
  }));
}

/** The handler a pod runs under: its RuntimeClass's handler (the class name when the class is not found). */
export function handlerName(pod: KObject, runtimeClass?: (name: string) => KObject | undefined): string {
  const cls = pod.spec?.runtimeClassName;
  if (!cls) return DEFAULT_HANDLER;
  const h = String(runtimeClass?.(cls)?.handler ?? cls);
  return ALIASES[h] ?? h;
}

const annotation = (pod: KObject, key: string): string | undefined => {
  const v = pod.metadata?.annotations?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
};
const annField = (key: string) => `metadata.annotations[${key}]`;
const isUrl = (image: string) => /^(https?|s3|sftp):\/\//i.test(image);

/** The disk format: the annotation, else the image path's extension, else qcow2 (what containerDisks carry). */
export function diskFormat(pod: KObject, image: string): string {
  const ann = annotation(pod, ANNOTATIONS.diskFormat);
  if (ann) return ann;
  const path = image.replace(/^[a-z0-9]+:\/\//i, '').split(/[?#]/)[0]!;
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return (ext && EXTENSIONS[ext]) ?? 'qcow2';
}

/** What EVE cannot do with this pod's runtime handler and VM annotations, or undefined. */
export function runtimeRefusal(pod: KObject, handler: string): Refusal | undefined {
  const h = RUNTIME_HANDLERS[handler];
  if (!h) return { field: 'spec.runtimeClassName', message: `EVE nodes offer runtime handlers ${Object.keys(RUNTIME_HANDLERS).join(', ')}, not ${handler}` };
  const display = annotation(pod, ANNOTATIONS.vncDisplay);
  if (display !== undefined && !/^\d{1,2}$/.test(display))
    return { field: annField(ANNOTATIONS.vncDisplay), message: `VNC display must be a number from 0 to 99, not ${JSON.stringify(display)}` };
  for (const key of [ANNOTATIONS.vnc, ANNOTATIONS.cpuPinning]) {
    const v = annotation(pod, key);
    if (v !== undefined && v !== 'true' && v !== 'false') return { field: annField(key), message: `must be "true" or "false", not ${JSON.stringify(v)}` };
  }
  if (h.type === 'container') {
    for (const key of [ANNOTATIONS.diskFormat, ANNOTATIONS.datastore, ANNOTATIONS.cloudInitSecret, ANNOTATIONS.cloudInitConfigMap]) {
      if (annotation(pod, key))
        return { field: annField(key), message: `${key} applies to VM runtime classes (eve-vm-hvm, eve-vm-fml); this pod runs as a container (${handler})` };
    }
    return undefined;
  }
  const c = pod.spec?.containers?.[0] ?? {};
  const image = String(c.image ?? '');
  const format = diskFormat(pod, image);
  if (!(DISK_FORMATS as readonly string[]).includes(format))
    return { field: annField(ANNOTATIONS.diskFormat), message: `disk format ${format} is not one EVE boots (${DISK_FORMATS.join(', ')})` };
  if (isUrl(image) && !annotation(pod, ANNOTATIONS.datastore)) {
    return {
      field: 'spec.containers[0].image',
      message: `a disk URL needs the annotation ${ANNOTATIONS.datastore} naming a DataStore, and the image as a path relative to it`,
    };
  }
  if (annotation(pod, ANNOTATIONS.cloudInitSecret) && annotation(pod, ANNOTATIONS.cloudInitConfigMap)) {
    return {
      field: annField(ANNOTATIONS.cloudInitConfigMap),
      message: `name the cloud-init user data in one of ${ANNOTATIONS.cloudInitSecret} or ${ANNOTATIONS.cloudInitConfigMap}, not both`,
    };
  }
  // A VM gets no environment or entrypoint: its configuration is the disk plus cloud-init.
  for (const f of ['command', 'args', 'env', 'envFrom'] as const) {
    if (Array.isArray(c[f]) && c[f].length)
      return {
        field: `spec.containers[0].${f}`,
        message: `a VM (${handler}) has no container ${f}; pass configuration as cloud-init user data (${ANNOTATIONS.cloudInitSecret})`,
      };
  }
  for (const [i, v] of (pod.spec?.volumes ?? []).entries()) {
    if (v.configMap || v.secret)
      return {
        field: `spec.volumes[${i}].${v.configMap ? 'configMap' : 'secret'}`,
        message: `a VM (${handler}) cannot mount files; write them with cloud-init user data (${ANNOTATIONS.cloudInitSecret})`,
      };
  }
  return undefined;
}

export interface VmLookups {
  configMap(namespace: string, name: string): KObject | undefined;
  secret(namespace: string, name: string): KObject | undefined;
}

/** Cloud-init user data (plain text) named by annotation, or why it cannot be read yet. */
function cloudInit(pod: KObject, l: VmLookups): { userData?: string; missing?: Refusal } {
  const ns = String(pod.metadata?.namespace ?? 'default');
  const secretName = annotation(pod, ANNOTATIONS.cloudInitSecret);
  const cmName = annotation(pod, ANNOTATIONS.cloudInitConfigMap);
  const name = secretName ?? cmName;
  if (!name) return {};
  const kind = secretName ? 'secret' : 'configMap';
  const field = annField(secretName ? ANNOTATIONS.cloudInitSecret : ANNOTATIONS.cloudInitConfigMap);
  const obj = secretName ? l.secret(ns, name) : l.configMap(ns, name);
  if (!obj) return { missing: { field, message: `${kind} ${ns}/${name} not found` } };
  const wanted = annotation(pod, ANNOTATIONS.cloudInitKey);
  const keys = wanted ? [wanted] : USER_DATA_KEYS;
  const key = keys.find((k) => typeof obj.data?.[k] === 'string');
  if (!key) return { missing: { field, message: `${kind} ${ns}/${name} has no key ${keys.join(' or ')}` } };
  // Secret data is base64 on the wire; the AppInstance holds plain text (the render encodes it for EVE).
  return { userData: secretName ? Buffer.from(obj.data[key], 'base64').toString('utf8') : String(obj.data[key]) };
}

/**
 * The AppInstance spec fields the runtime handler decides: type and hypervisor mode; for a VM also the
 * disk (image, format, datastore) and the cloud-init user data, which replace a container's env and files.
 * VNC and CPU pinning come from annotations for both kinds.
 */
export function runtimeSpec(pod: KObject, handler: string, l: VmLookups): { spec?: KObject; vm?: boolean; missing?: Refusal } {
  const h = RUNTIME_HANDLERS[handler] ?? RUNTIME_HANDLERS[DEFAULT_HANDLER]!;
  const spec: KObject = { type: h.type };
  // hvm is the render's default (and pv is chosen for arm64 there): only the other modes are written.
  if (h.virtualization !== 'hvm') spec.virtualization = h.virtualization;
  if (h.bootMode) spec.bootMode = h.bootMode;
  if (annotation(pod, ANNOTATIONS.vnc) === 'true') {
    spec.vnc = true;
    const display = annotation(pod, ANNOTATIONS.vncDisplay);
    if (display) spec.vncDisplay = Number(display);
  }
  if (annotation(pod, ANNOTATIONS.cpuPinning) === 'true') spec.pinCpu = true;
  if (h.type === 'container') return { spec };
  const image = String(pod.spec?.containers?.[0]?.image ?? '');
  const ds = annotation(pod, ANNOTATIONS.datastore);
  spec.imageFormat = diskFormat(pod, image);
  if (ds) {
    spec.datastoreRef = { name: ds };
    spec.image = image;
  } else {
    // An OCI artifact or containerDisk: pulled from the registry it names (mapping.ts, oci://).
    spec.image = `oci://${image.replace(/^(oci|docker):\/\//, '')}`;
  }
  const ci = cloudInit(pod, l);
  if (ci.missing) return { missing: ci.missing };
  if (ci.userData !== undefined) spec.userData = ci.userData;
  return { spec, vm: true };
}
