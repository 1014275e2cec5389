// Request bodies in `application/vnd.kubernetes.protobuf`, as kubectl's typed commands send them
// (create namespace|secret|configmap|serviceaccount|role|deployment|job|cronjob|pdb|priorityclass|…, create
// token, auth can-i, auth whoami; Go clients' Evictions) and as client-go sends options and subresource bodies
// (DeleteOptions, Binding, Scale), leader-election Leases and recorded Events:
// "k8s\0" + runtime.Unknown{typeMeta, raw}, where raw is the object's own message. Replies stay JSON.

import { fromBinary, type DescMessage } from '@bufbuild/protobuf';
import { badRequest, StatusError } from '../errors.ts';
import type { KObject } from '../resource.ts';
import { UnknownSchema } from './gen/k8s/runtime_pb.ts';
import { BindingSchema, ConfigMapSchema, EventSchema, NamespaceSchema, SecretSchema, ServiceAccountSchema, ServiceSchema } from './gen/k8s/core_v1_pb.ts';
import { EventSchema as EventsV1EventSchema } from './gen/k8s/events_v1_pb.ts';
import { LeaseSchema } from './gen/k8s/coordination_v1_pb.ts';
import { DeleteOptionsSchema } from './gen/k8s/meta_v1_pb.ts';
import { ScaleSchema } from './gen/k8s/autoscaling_v1_pb.ts';
import { ClusterRoleBindingSchema, ClusterRoleSchema, RoleBindingSchema, RoleSchema } from './gen/k8s/rbac_v1_pb.ts';
import { SelfSubjectReviewSchema, TokenRequestSchema, TokenReviewSchema } from './gen/k8s/authentication_v1_pb.ts';
import { SelfSubjectAccessReviewSchema, SelfSubjectRulesReviewSchema, SubjectAccessReviewSchema } from './gen/k8s/authorization_v1_pb.ts';
import { ControllerRevisionSchema, DaemonSetSchema, DeploymentSchema, ReplicaSetSchema, StatefulSetSchema } from './gen/k8s/apps_v1_pb.ts';
import { CronJobSchema, JobSchema } from './gen/k8s/batch_v1_pb.ts';
import { EvictionSchema, PodDisruptionBudgetSchema } from './gen/k8s/policy_v1_pb.ts';
import { PriorityClassSchema } from './gen/k8s/scheduling_v1_pb.ts';
import { RuntimeClassSchema } from './gen/k8s/node_v1_pb.ts';
import { messageToJSON } from './json.ts';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

/** "k8s" plus the encoding byte 0 (a runtime.Unknown follows). */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** The top-level kinds whose protobuf form we decode, by apiVersion and kind. */
export const KINDS: ReadonlyMap<string, DescMessage> = new Map(
  (
    [
      ['v1', 'Namespace', NamespaceSchema],
      ['v1', 'Secret', SecretSchema],
      ['v1', 'ConfigMap', ConfigMapSchema],
      ['v1', 'ServiceAccount', ServiceAccountSchema],
      ['v1', 'Service', ServiceSchema],
      ['v1', 'Binding', BindingSchema],
      ['v1', 'Event', EventSchema],
      ['events.k8s.io/v1', 'Event', EventsV1EventSchema],
      ['coordination.k8s.io/v1', 'Lease', LeaseSchema],
      ['autoscaling/v1', 'Scale', ScaleSchema],
      ['rbac.authorization.k8s.io/v1', 'Role', RoleSchema],
      ['rbac.authorization.k8s.io/v1', 'ClusterRole', ClusterRoleSchema],
      ['rbac.authorization.k8s.io/v1', 'RoleBinding', RoleBindingSchema],
      ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', ClusterRoleBindingSchema],
      ['authentication.k8s.io/v1', 'TokenRequest', TokenRequestSchema],
      ['authentication.k8s.io/v1', 'SelfSubjectReview', SelfSubjectReviewSchema],
      ['authentication.k8s.io/v1', 'TokenReview', TokenReviewSchema],
      ['authorization.k8s.io/v1', 'SelfSubjectAccessReview', SelfSubjectAccessReviewSchema],
      ['authorization.k8s.io/v1', 'SelfSubjectRulesReview', SelfSubjectRulesReviewSchema],
      ['authorization.k8s.io/v1', 'SubjectAccessReview', SubjectAccessReviewSchema],
      ['apps/v1', 'Deployment', DeploymentSchema],
      ['apps/v1', 'ReplicaSet', ReplicaSetSchema],
      ['apps/v1', 'DaemonSet', DaemonSetSchema],
      ['apps/v1', 'StatefulSet', StatefulSetSchema],
      ['apps/v1', 'ControllerRevision', ControllerRevisionSchema],
      ['batch/v1', 'Job', JobSchema],
      ['batch/v1', 'CronJob', CronJobSchema],
      ['policy/v1', 'PodDisruptionBudget', PodDisruptionBudgetSchema],
      ['policy/v1', 'Eviction', EvictionSchema],
      ['scheduling.k8s.io/v1', 'PriorityClass', PriorityClassSchema],
      ['node.k8s.io/v1', 'RuntimeClass', RuntimeClassSchema],
    ] as const
  ).map(([apiVersion, kind, schema]) => [`${apiVersion}/${kind}`, schema]),
);

/**
 * Kinds registered in every group version (metav1.AddToGroupVersion): client-go encodes them with the
 * group version of the resource it talks to ("v1", "rbac.authorization.k8s.io/v1", "meta.k8s.io/v1").
 */
const ANY_VERSION_KINDS: ReadonlyMap<string, DescMessage> = new Map([['DeleteOptions', DeleteOptionsSchema]]);

const malformed = (why: string) => badRequest(`the object provided is unrecognized or malformed: ${why}`);

/**
 * Decodes a Kubernetes protobuf request body into the object's JSON form, apiVersion and kind taken from
 * the envelope. Throws 400 BadRequest for bytes that are not a valid envelope or message, and
 * 415 UnsupportedMediaType for kinds without a protobuf decoder here.
 */
export function decodeKubeProtobuf(body: Buffer): KObject {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw malformed(`provided data does not appear to be a protobuf message, expected prefix [${[...MAGIC].join(' ')}]`);
  }
  if (body.length === MAGIC.length) throw malformed('empty body');
  let unknown;
  try {
    unknown = fromBinary(UnknownSchema, body.subarray(MAGIC.length), { readUnknownFields: false });
  } catch (e) {
    throw malformed(`invalid runtime.Unknown envelope: ${(e as Error).message}`);
  }
  const apiVersion = unknown.typeMeta?.apiVersion ?? '';
  const kind = unknown.typeMeta?.kind ?? '';
  if (!kind) throw malformed("Object 'Kind' is missing in the protobuf envelope");
  if (!apiVersion) throw malformed("Object 'apiVersion' is missing in the protobuf envelope");
  const schema = KINDS.get(`${apiVersion}/${kind}`) ?? ANY_VERSION_KINDS.get(kind);
  if (!schema) {
    throw new StatusError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - protobuf is not supported for kind "${kind}" in version "${apiVersion}"; send application/json or application/yaml`,
    );
  }
  let message;
  try {
    message = fromBinary(schema, unknown.raw, { readUnknownFields: false });
  } catch (e) {
    throw malformed(`${kind} in version "${apiVersion}" cannot be decoded from protobuf: ${(e as Error).message}`);
  }
  return { apiVersion, kind, ...(messageToJSON(schema, message) as KObject) };
}
