// The built-in kinds served by kubeve, as data for the generic registry, and the objects every cluster starts with.

import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { configmaps, secrets } from './configmap.ts';
import { customresourcedefinitions } from './crd.ts';
import { events, eventsV1 } from './event.ts';
import { leases } from './lease.ts';
import { KUBERNETES_FINALIZER, namespaces } from './namespace.ts';
import { nodes } from './node.ts';
import { pods } from './pod.ts';
import { serviceaccounts } from './serviceaccount.ts';
import { services } from './service.ts';
import { rbacResources } from './rbac.ts';
import { reviewResources } from './authn.ts';
import { appsResources } from './apps.ts';
import { batchResources } from './batch.ts';
import { policyResources } from './policy.ts';
import { schedulingResources, systemPriorityClasses } from './scheduling.ts';
import { nodeResources } from './nodek8s.ts';

export interface BuiltinOptions {
  /** How long Events (core/v1 and events.k8s.io/v1) are kept after their last write (default one hour). */
  eventTtlMs?: number;
}

export function builtinResources(opts: BuiltinOptions = {}): ResourceDefinition[] {
  const withTtl = (def: ResourceDefinition, ttlMs: number | undefined) => (ttlMs === undefined ? def : { ...def, ttlMs });
  return [
    namespaces,
    configmaps,
    secrets,
    withTtl(events, opts.eventTtlMs),
    serviceaccounts,
    services,
    nodes,
    pods,
    withTtl(eventsV1, opts.eventTtlMs),
    leases,
    customresourcedefinitions,
    ...rbacResources,
    ...reviewResources,
    ...appsResources,
    ...batchResources,
    ...policyResources,
    ...schedulingResources,
    ...nodeResources,
  ];
}

/** The system namespaces, in the state the namespace strategy gives a new namespace, and the system priority classes. */
export function bootstrapObjects(): KObject[] {
  return [...systemNamespaces(), ...systemPriorityClasses()];
}

function systemNamespaces(): KObject[] {
  return ['default', 'kube-system', 'kube-public', 'kube-node-lease'].map((name) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'kubernetes.io/metadata.name': name } },
    spec: { finalizers: [KUBERNETES_FINALIZER] },
    status: { phase: 'Active' },
  }));
}
