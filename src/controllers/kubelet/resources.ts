// The resources and well-known names the kubelet bridge works with.
import { byField, type GVR, type Informer, type SharedInformerFactory } from '../runtime/index.ts';

export const NODES: GVR = { group: '', version: 'v1', resource: 'nodes' };
export const PODS: GVR = { group: '', version: 'v1', resource: 'pods' };
export const CONFIGMAPS: GVR = { group: '', version: 'v1', resource: 'configmaps' };
export const RUNTIMECLASSES: GVR = { group: 'node.k8s.io', version: 'v1', resource: 'runtimeclasses' };
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** Index of the bridge's pod cache by spec.nodeName. */
export const NODE_NAME_INDEX = 'spec.nodeName';

/**
 * The pods the bridge caches: bound ones only (field selector spec.nodeName!=, which kube serves too),
 * so pods waiting for the scheduler cost it nothing. One informer for all its parts (same options).
 * Pods bound to other kubelets' nodes are still listed: a field selector cannot name a set of nodes.
 */
export function boundPods(informers: SharedInformerFactory): Informer {
  const inf = informers.informerFor(PODS, { fieldSelector: 'spec.nodeName!=' });
  if (!indexed.has(inf)) {
    inf.addIndexers({ [NODE_NAME_INDEX]: byField('spec.nodeName') });
    indexed.add(inf);
  }
  return inf;
}
const indexed = new WeakSet<Informer>();

export const EDGE_NODE_LABEL = 'kubeve.io/edge-node';
export const EVE_VERSION_LABEL = 'kubeve.io/eve-version';
export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
/** Node and pod condition saying whether the EVE device is in contact with the controller. */
export const CONNECTED_CONDITION = 'EVEConnected';
export const FIELD_MANAGER = 'kubeve-kubelet-bridge';

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** kube-style RFC 3339 with seconds precision. */
export const rfc3339 = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** MicroTime (Lease renewTime). */
export const microTime = (ms = Date.now()) => new Date(ms).toISOString().replace(/Z$/, '000Z');
