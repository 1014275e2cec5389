// What a Pod on an EVE Node may ask for. Each rule names the field and why EVE cannot do it; a
// Pod breaking one is refused (phase Failed, reason UnsupportedOnEVE) before anything reaches the
// device. docs/support-matrix.md ("Pods on EVE nodes") is the same table for users.

import type { KObject } from '../../apiserver/resource.ts';
import { handlerName, runtimeRefusal } from './pod-vm.ts';

export interface Refusal {
  field: string;
  message: string;
}

// configMap/secret volumes become cloud-init write_files (files written before the app starts, no live update).
export const SUPPORTED_VOLUMES = ['emptyDir', 'configMap', 'secret'];
const SUPPORTED_FIELD_REFS = new Set(['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName']);

type Rule = (spec: KObject) => Refusal | undefined;
const set = (v: unknown) =>
  v !== undefined &&
  v !== null &&
  v !== false &&
  !(Array.isArray(v) && v.length === 0) &&
  !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

const POD_RULES: Rule[] = [
  (s) =>
    (s.containers ?? []).length > 1
      ? { field: 'spec.containers[1]', message: 'EVE runs one container per app instance; this pod has ' + s.containers.length }
      : undefined,
  (s) => (set(s.initContainers) ? { field: 'spec.initContainers', message: 'EVE has no init containers' } : undefined),
  (s) => (set(s.ephemeralContainers) ? { field: 'spec.ephemeralContainers', message: 'EVE has no ephemeral containers' } : undefined),
  (s) => (s.hostNetwork ? { field: 'spec.hostNetwork', message: "EVE apps cannot share the device's network namespace" } : undefined),
  (s) => (s.hostPID ? { field: 'spec.hostPID', message: "EVE apps cannot share the device's PID namespace" } : undefined),
  (s) => (s.hostIPC ? { field: 'spec.hostIPC', message: "EVE apps cannot share the device's IPC namespace" } : undefined),
  (s) =>
    s.restartPolicy && s.restartPolicy !== 'Always'
      ? { field: 'spec.restartPolicy', message: `EVE keeps an app running while it is activated; restartPolicy ${s.restartPolicy} cannot be honoured` }
      : undefined,
  (s) => {
    for (const [i, v] of (s.volumes ?? []).entries()) {
      const type = Object.keys(v).find((k) => k !== 'name');
      if (type && !SUPPORTED_VOLUMES.includes(type))
        return {
          field: `spec.volumes[${i}].${type}`,
          message: `volume type ${type} is not supported on EVE nodes (supported: ${SUPPORTED_VOLUMES.join(', ')})`,
        };
    }
    return undefined;
  },
];

const CONTAINER_RULES: Array<[string, string]> = [
  ['livenessProbe', 'EVE has no health checks; readiness is EVE reporting the app RUNNING'],
  ['readinessProbe', 'EVE has no health checks; readiness is EVE reporting the app RUNNING'],
  ['startupProbe', 'EVE has no health checks'],
  ['lifecycle', 'EVE has no lifecycle hooks'],
  ['workingDir', 'EVE takes the working directory from the image'],
  ['volumeDevices', 'block devices are not supported on EVE nodes yet'],
  ['securityContext', 'EVE takes the user and capabilities from the image'],
  ['stdin', 'EVE apps have no attachable stdin'],
  ['tty', 'EVE apps have no attachable terminal'],
];

/** The first reason EVE cannot run this Pod, or undefined. `runtimeClass` resolves a RuntimeClass by name. */
export function refusal(pod: KObject, runtimeClass?: (name: string) => KObject | undefined): Refusal | undefined {
  const s = pod.spec ?? {};
  for (const r of POD_RULES) {
    const x = r(s);
    if (x) return x;
  }
  const rt = runtimeRefusal(pod, handlerName(pod, runtimeClass));
  if (rt) return rt;
  const c = (s.containers ?? [])[0] ?? {};
  for (const [f, why] of CONTAINER_RULES) if (set(c[f])) return { field: `spec.containers[0].${f}`, message: why };
  for (const [i, e] of (c.env ?? []).entries()) {
    const vf = e.valueFrom;
    if (vf?.resourceFieldRef)
      return { field: `spec.containers[0].env[${i}].valueFrom.resourceFieldRef`, message: 'resource field references are not supported on EVE nodes' };
    if (vf?.fieldRef && !SUPPORTED_FIELD_REFS.has(vf.fieldRef.fieldPath))
      return {
        field: `spec.containers[0].env[${i}].valueFrom.fieldRef.fieldPath`,
        message: `field ${vf.fieldRef.fieldPath} is not available on EVE nodes (supported: ${[...SUPPORTED_FIELD_REFS].join(', ')})`,
      };
  }
  for (const [i, m] of (c.volumeMounts ?? []).entries()) {
    if (m.subPath || m.subPathExpr) return { field: `spec.containers[0].volumeMounts[${i}].subPath`, message: 'subPath mounts are not supported on EVE nodes' };
  }
  for (const [i, p] of (c.ports ?? []).entries()) {
    if (p.protocol === 'SCTP') return { field: `spec.containers[0].ports[${i}].protocol`, message: 'EVE port maps are TCP or UDP' };
  }
  return undefined;
}
