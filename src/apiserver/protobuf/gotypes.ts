// What the .proto files cannot say about the Go types behind them, and so about their JSON form.
// Upstream's generated.proto marks every field `optional`; the JSON shape comes from the Go struct tags
// (k8s.io/api and k8s.io/apimachinery types.go). Struct fields need no entry: Go always writes them.

export interface GoFields {
  /** Pointer scalars (*bool, *int64): emitted whenever present on the wire, even as false/0. */
  pointer?: readonly string[];
  /** Value scalars without `omitempty`: Go's encoder emits them even when zero. */
  always?: readonly string[];
  /** Proto field name -> JSON name, where they differ. */
  rename?: Readonly<Record<string, string>>;
  /** Embedded structs (`json:",inline"`): the message's fields are written into the parent object. */
  inline?: readonly string[];
}

import { WORKLOAD_GO_FIELDS } from './gotypes-workloads.ts';

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

export const GO_FIELDS: ReadonlyMap<string, GoFields> = new Map<string, GoFields>([
  [`${META}.ObjectMeta`, { pointer: ['deletionGracePeriodSeconds'] }],
  [`${META}.OwnerReference`, { pointer: ['controller', 'blockOwnerDeletion'], always: ['apiVersion', 'kind', 'name', 'uid'] }],
  [`${META}.LabelSelectorRequirement`, { always: ['key', 'operator'] }],
  [`${META}.FieldSelectorRequirement`, { always: ['key', 'operator'] }],
  [`${META}.Condition`, { always: ['type', 'status', 'reason', 'message'] }],
  [`${META}.Preconditions`, { pointer: ['uid', 'resourceVersion'] }],
  [`${META}.DeleteOptions`, { pointer: ['gracePeriodSeconds', 'orphanDependents', 'propagationPolicy', 'ignoreStoreReadErrorWithClusterBreakingPotential'] }],
  // Embedded without a protobuf name, so the derived table misses it.
  ['k8s.io.api.core.v1.EphemeralContainer', { inline: ['ephemeralContainerCommon'] }],
  ...WORKLOAD_GO_FIELDS,

  ['k8s.io.api.core.v1.NamespaceCondition', { always: ['type', 'status'] }],
  ['k8s.io.api.core.v1.Secret', { pointer: ['immutable'] }],
  ['k8s.io.api.core.v1.ConfigMap', { pointer: ['immutable'] }],
  ['k8s.io.api.core.v1.ServiceAccount', { pointer: ['automountServiceAccountToken'] }],
  [
    'k8s.io.api.core.v1.ServiceSpec',
    { pointer: ['ipFamilyPolicy', 'allocateLoadBalancerNodePorts', 'loadBalancerClass', 'internalTrafficPolicy', 'trafficDistribution'] },
  ],
  ['k8s.io.api.core.v1.ServicePort', { always: ['port'] }],
  ['k8s.io.api.core.v1.ClientIPConfig', { pointer: ['timeoutSeconds'] }],
  ['k8s.io.api.core.v1.LoadBalancerIngress', { pointer: ['ipMode'] }],
  ['k8s.io.api.core.v1.PortStatus', { pointer: ['error'], always: ['port', 'protocol'] }],

  ['k8s.io.api.autoscaling.v1.ScaleStatus', { always: ['replicas'] }],

  ['k8s.io.api.core.v1.Event', { always: ['reportingComponent', 'reportingInstance'] }],
  ['k8s.io.api.events.v1.EventSeries', { always: ['count'] }],
  ['k8s.io.api.coordination.v1.LeaseSpec', { pointer: ['holderIdentity', 'leaseDurationSeconds', 'leaseTransitions', 'strategy', 'preferredHolder'] }],

  ['k8s.io.api.rbac.v1.Subject', { always: ['kind', 'name'] }],
  ['k8s.io.api.rbac.v1.RoleRef', { always: ['apiGroup', 'kind', 'name'] }],

  ['k8s.io.api.authentication.v1.TokenRequestSpec', { pointer: ['expirationSeconds'] }],
  ['k8s.io.api.authentication.v1.TokenRequestStatus', { always: ['token'] }],
  ['k8s.io.api.authentication.v1.BoundObjectReference', { rename: { uID: 'uid' } }],

  ['k8s.io.api.authorization.v1.SubjectAccessReviewStatus', { always: ['allowed'] }],
  ['k8s.io.api.authorization.v1.SubjectRulesReviewStatus', { always: ['incomplete'] }],
]);
