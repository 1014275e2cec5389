// apps/v1: Deployment, ReplicaSet, DaemonSet, StatefulSet and ControllerRevision, as data for the generic
// registry (schemas after k8s.io/api apps/v1, defaults after SetDefaults_*, validation after
// pkg/apis/apps/validation, columns after kubectl's printers). The controllers that act on them live elsewhere.

import type { FieldError } from '../../apiserver/errors.ts';
import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { AGE_COLUMN, STANDARD_VERBS, child, deepEqual, isObject } from './common.ts';
import { bool, condition, desc, time, int32, int64, intOrString, kindSchema, labelSelector, list, obj, str } from './dsl.ts';
import {
  PodTemplateSpec,
  TemplateObjectMeta,
  containerImages,
  containerNames,
  defaultPodTemplate,
  formatLabelSelector,
  formatLabels,
  goLabelSelector,
  goStringMap,
  selectorMatches,
  validateLabelSelector,
  validatePodTemplate,
  validateWorkloadSelector,
} from './pod-template.ts';
import { REPLICAS_SCALE, goIntOrString, intOrPercent, nonNegative, statusCounts, validateIntOrPercent, workloadStrategy } from './workload-common.ts';
import { validateAnnotations, validateLabels } from '../../apiserver/validation.ts';
import { forbidden, immutable, invalid, notSupported, required } from './validation.ts';

const GROUP = 'apps';
const ALWAYS = ['Always'];

// ---- schemas ------------------------------------------------------------------------------

const selectorField = labelSelector('Label query over the pods this workload owns; must match the template labels. Immutable.');
const template = desc(PodTemplateSpec, 'Template of the pods this workload creates.');
const conditions = (what: string) =>
  list(condition(`A condition of the ${what}.`), `Latest observations of the ${what}'s state.`, { map: ['type'], mergeKey: 'type', strategy: 'merge' });
/** DeploymentCondition also records when it was last updated (the progress deadline counts from it). */
const deploymentConditions = () => {
  const c = condition('A condition of the deployment.');
  c.properties = { ...c.properties, lastUpdateTime: time('The last time this condition was updated.') };
  return list(c, "Latest observations of the deployment's state.", { map: ['type'], mergeKey: 'type', strategy: 'merge' });
};

const RollingUpdateDeployment = obj('Parameters of a rolling update.', {
  maxUnavailable: intOrString('Pods that may be unavailable during the update: a number or a percentage of desired pods (rounded down); 25% by default.'),
  maxSurge: intOrString('Pods that may be created above the desired count during the update: a number or a percentage (rounded up); 25% by default.'),
});

const DeploymentStrategy = obj('How old pods are replaced by new ones.', {
  type: str('Recreate or RollingUpdate (the default).'),
  rollingUpdate: desc(RollingUpdateDeployment, 'Rolling update parameters; only with type RollingUpdate.'),
});

const DeploymentSpec = obj(
  'Desired state of a deployment.',
  {
    replicas: int32('Desired number of pods; 1 by default.'),
    selector: selectorField,
    template,
    strategy: { ...DeploymentStrategy, 'x-kubernetes-patch-strategy': 'retainKeys' },
    minReadySeconds: int32('Seconds a new pod must be ready, without crashing, to count as available; 0 by default.'),
    revisionHistoryLimit: int32('Old ReplicaSets kept for rollback; 10 by default.'),
    paused: bool('Whether the deployment is paused: template changes do not roll out.'),
    progressDeadlineSeconds: int32('Seconds a rollout may make no progress before it is reported as failed; 600 by default.'),
  },
  { required: ['selector', 'template'] },
);

const DeploymentStatus = obj('Observed state of a deployment.', {
  observedGeneration: int64('Generation observed by the deployment controller.'),
  replicas: int32('Pods targeted by the deployment (their labels match its selector).'),
  updatedReplicas: int32('Pods that run the latest template.'),
  readyReplicas: int32('Pods with a Ready condition.'),
  availableReplicas: int32('Pods ready for at least minReadySeconds.'),
  unavailableReplicas: int32('Pods still needed for the deployment to be fully available.'),
  terminatingReplicas: int32('Pods being terminated.'),
  conditions: deploymentConditions(),
  collisionCount: int32('Count of hash collisions, used to name new ReplicaSets.'),
});

const ReplicaSetSpec = obj(
  'Desired state of a replica set.',
  {
    replicas: int32('Desired number of pods; 1 by default.'),
    minReadySeconds: int32('Seconds a new pod must be ready to count as available.'),
    selector: selectorField,
    template,
  },
  { required: ['selector'] },
);

const ReplicaSetStatus = obj(
  'Observed state of a replica set.',
  {
    replicas: int32('Most recently observed number of pods.'),
    fullyLabeledReplicas: int32('Pods whose labels match the template labels.'),
    readyReplicas: int32('Pods with a Ready condition.'),
    availableReplicas: int32('Pods ready for at least minReadySeconds.'),
    terminatingReplicas: int32('Pods being terminated.'),
    observedGeneration: int64('Generation observed by the replica set controller.'),
    conditions: conditions('replica set'),
  },
  { required: ['replicas'] },
);

const RollingUpdateDaemonSet = obj('Parameters of a daemon set rolling update.', {
  maxUnavailable: intOrString('Nodes whose daemon pod may be unavailable during the update; 1 by default.'),
  maxSurge: intOrString('Nodes that may run an extra updated pod during the update; 0 by default.'),
});

const DaemonSetUpdateStrategy = obj('How daemon pods are replaced.', {
  type: str('RollingUpdate (the default) or OnDelete.'),
  rollingUpdate: desc(RollingUpdateDaemonSet, 'Rolling update parameters; only with type RollingUpdate.'),
});

const DaemonSetSpec = obj(
  'Desired state of a daemon set.',
  {
    selector: selectorField,
    template: desc(PodTemplateSpec, 'Template of the pod run on every eligible node.'),
    updateStrategy: DaemonSetUpdateStrategy,
    minReadySeconds: int32('Seconds a new pod must be ready to count as available.'),
    revisionHistoryLimit: int32('Old revisions kept for rollback; 10 by default.'),
  },
  { required: ['selector', 'template'] },
);

const DaemonSetStatus = obj(
  'Observed state of a daemon set.',
  {
    currentNumberScheduled: int32('Nodes running at least one daemon pod that should.'),
    numberMisscheduled: int32('Nodes running a daemon pod that should not.'),
    desiredNumberScheduled: int32('Nodes that should run the daemon pod.'),
    numberReady: int32('Nodes whose daemon pod is ready.'),
    observedGeneration: int64('Generation observed by the daemon set controller.'),
    updatedNumberScheduled: int32('Nodes running the updated daemon pod.'),
    numberAvailable: int32('Nodes whose daemon pod has been ready for minReadySeconds.'),
    numberUnavailable: int32('Nodes that should run an available daemon pod and do not.'),
    collisionCount: int32('Count of hash collisions, used to name new ControllerRevisions.'),
    conditions: conditions('daemon set'),
  },
  { required: ['currentNumberScheduled', 'numberMisscheduled', 'desiredNumberScheduled', 'numberReady'] },
);

const StatefulSetUpdateStrategy = obj('How stateful pods are replaced.', {
  type: str('RollingUpdate (the default) or OnDelete.'),
  rollingUpdate: obj('Rolling update parameters.', {
    partition: int32('Only pods with an ordinal at or above the partition are updated; 0 by default.'),
    maxUnavailable: intOrString('Pods that may be unavailable during the update; 1 by default.'),
  }),
});

const StatefulSetSpec = obj(
  'Desired state of a stateful set.',
  {
    replicas: int32('Desired number of pods; 1 by default.'),
    selector: selectorField,
    template,
    volumeClaimTemplates: list(
      obj('A claim each pod gets, named after the template and the pod.', {
        metadata: TemplateObjectMeta,
        spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description: 'Desired state of the claim (a PersistentVolumeClaimSpec).' },
      }),
      'Claims every pod gets, bound to it by name.',
      { type: 'atomic' },
    ),
    serviceName: str('Governing service of the pods, for their network identity.'),
    podManagementPolicy: str('OrderedReady (the default: one at a time, in order) or Parallel.'),
    updateStrategy: StatefulSetUpdateStrategy,
    revisionHistoryLimit: int32('Old revisions kept; 10 by default.'),
    minReadySeconds: int32('Seconds a new pod must be ready to count as available.'),
    persistentVolumeClaimRetentionPolicy: obj('What happens to claims when the set is deleted or scaled down.', {
      whenDeleted: str('Retain (the default) or Delete.'),
      whenScaled: str('Retain (the default) or Delete.'),
    }),
    ordinals: obj('Numbering of the pods.', { start: int32('First ordinal; 0 by default.') }),
  },
  { required: ['selector', 'template'] },
);

const StatefulSetStatus = obj(
  'Observed state of a stateful set.',
  {
    observedGeneration: int64('Generation observed by the stateful set controller.'),
    replicas: int32('Pods created by the controller.'),
    readyReplicas: int32('Pods with a Ready condition.'),
    currentReplicas: int32('Pods at currentRevision.'),
    updatedReplicas: int32('Pods at updateRevision.'),
    currentRevision: str('Revision used for pods below the partition.'),
    updateRevision: str('Latest revision.'),
    collisionCount: int32('Count of hash collisions.'),
    conditions: conditions('stateful set'),
    availableReplicas: int32('Pods ready for at least minReadySeconds.'),
  },
  { required: ['replicas'] },
);

// ---- printers -----------------------------------------------------------------------------

const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
const WIDE_TEMPLATE = [
  {
    name: 'Containers',
    type: 'string',
    priority: 1,
    description: 'Names of each container in the template.',
    cell: (o: KObject) => containerNames(o.spec?.template),
  },
  {
    name: 'Images',
    type: 'string',
    priority: 1,
    description: 'Images referenced by each container in the template.',
    cell: (o: KObject) => containerImages(o.spec?.template),
  },
] as const;
const SELECTOR_COLUMN = {
  name: 'Selector',
  type: 'string',
  priority: 1,
  description: 'Label query over the pods of this workload.',
  cell: (o: KObject) => formatLabelSelector(o.spec?.selector),
} as const;

/** ControllerRevision CONTROLLER: the managing owner as kind.group/name, lower-cased kind. */
function controllerOf(o: KObject): string {
  const ref = (o.metadata?.ownerReferences ?? []).find((r: KObject) => r?.controller === true);
  if (!ref) return '<none>';
  const apiVersion = String(ref.apiVersion ?? '');
  const groupName = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  return `${String(ref.kind).toLowerCase()}${groupName ? `.${groupName}` : ''}/${ref.name}`;
}

// ---- defaults -----------------------------------------------------------------------------

function defaultDeployment(d: KObject): void {
  const spec = child(d, 'spec');
  spec.replicas ??= 1;
  const strategy = child(spec, 'strategy');
  strategy.type ||= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const ru = child(strategy, 'rollingUpdate');
    ru.maxUnavailable ??= '25%';
    ru.maxSurge ??= '25%';
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  defaultPodTemplate(spec.template);
}

function defaultReplicaSet(rs: KObject): void {
  const spec = child(rs, 'spec');
  spec.replicas ??= 1;
  defaultPodTemplate(spec.template);
}

function defaultDaemonSet(ds: KObject): void {
  const spec = child(ds, 'spec');
  const strategy = child(spec, 'updateStrategy');
  strategy.type ||= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const ru = child(strategy, 'rollingUpdate');
    ru.maxUnavailable ??= 1;
    ru.maxSurge ??= 0;
  }
  spec.revisionHistoryLimit ??= 10;
  defaultPodTemplate(spec.template);
}

function defaultStatefulSet(ss: KObject): void {
  const spec = child(ss, 'spec');
  spec.podManagementPolicy ||= 'OrderedReady';
  const strategy = child(spec, 'updateStrategy');
  strategy.type ||= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') child(strategy, 'rollingUpdate').partition ??= 0;
  const retention = child(spec, 'persistentVolumeClaimRetentionPolicy');
  retention.whenDeleted ||= 'Retain';
  retention.whenScaled ||= 'Retain';
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  defaultPodTemplate(spec.template);
}

// ---- validation ---------------------------------------------------------------------------

function selectorImmutable(obj: KObject, old: KObject | undefined): FieldError[] {
  if (!old || deepEqual(obj.spec?.selector, old.spec?.selector)) return [];
  return [immutable('spec.selector', goLabelSelector(obj.spec?.selector))];
}

/**
 * The pod template rules of the apps kinds: restartPolicy Always, no activeDeadlineSeconds (the text names the
 * controller kind), and the pod spec validated in full except for StatefulSets, whose volume mounts may name
 * claim templates (the real server checks only their template's labels and annotations).
 */
function validateAppsTemplate(spec: KObject, controller: 'ReplicaSet' | 'DaemonSet' | 'StatefulSet'): FieldError[] {
  const template = spec.template;
  const errs: FieldError[] =
    controller === 'StatefulSet'
      ? [
          ...validateLabels(template?.metadata?.labels, 'spec.template.labels'),
          ...validateAnnotations(template?.metadata?.annotations, 'spec.template.annotations'),
        ]
      : validatePodTemplate(template, 'spec.template', ALWAYS);
  if (controller === 'StatefulSet' && isObject(template?.spec) && template.spec.restartPolicy !== 'Always') {
    errs.push(notSupported('spec.template.spec.restartPolicy', template.spec.restartPolicy ?? '', ALWAYS));
  }
  if (template?.spec?.activeDeadlineSeconds !== undefined && template?.spec?.activeDeadlineSeconds !== null) {
    errs.push(forbidden('spec.template.spec.activeDeadlineSeconds', `activeDeadlineSeconds in ${controller} is not Supported`));
  }
  return errs;
}

/** Rolling update of a Deployment: well-formed values, maxUnavailable at most 100%, not both zero. */
function validateRollingUpdateDeployment(ru: KObject, path: string): FieldError[] {
  const errs = [...validateIntOrPercent(ru.maxUnavailable, `${path}.maxUnavailable`), ...validateIntOrPercent(ru.maxSurge, `${path}.maxSurge`)];
  if ((intOrPercent(ru.maxUnavailable)?.n ?? 0) === 0 && (intOrPercent(ru.maxSurge)?.n ?? 0) === 0) {
    errs.push(invalid(`${path}.maxUnavailable`, goIntOrString(ru.maxUnavailable), 'may not be 0 when `maxSurge` is 0'));
  }
  errs.push(...notOver100(ru.maxUnavailable, `${path}.maxUnavailable`));
  return errs;
}

/** Rolling update of a DaemonSet: exactly one of maxUnavailable and maxSurge is non-zero. */
function validateRollingUpdateDaemonSet(ru: KObject, path: string): FieldError[] {
  const errs = [
    ...validateIntOrPercent(ru.maxUnavailable, `${path}.maxUnavailable`),
    ...validateIntOrPercent(ru.maxSurge, `${path}.maxSurge`),
    ...notOver100(ru.maxUnavailable, `${path}.maxUnavailable`),
    ...notOver100(ru.maxSurge, `${path}.maxSurge`),
  ];
  const unavailable = (intOrPercent(ru.maxUnavailable)?.n ?? 0) !== 0;
  const surge = (intOrPercent(ru.maxSurge)?.n ?? 0) !== 0;
  if (unavailable && surge) errs.push(invalid(`${path}.maxSurge`, goIntOrString(ru.maxSurge), 'may not be set when maxUnavailable is non-zero'));
  if (!unavailable && !surge) errs.push(required(`${path}.maxUnavailable`, 'cannot be 0 when maxSurge is 0'));
  return errs;
}

const notOver100 = (v: unknown, path: string): FieldError[] => {
  const p = intOrPercent(v);
  return p?.percent && p.n > 100 ? [invalid(path, goIntOrString(v), 'must not be greater than 100%')] : [];
};

function validateDeployment(d: KObject, old?: KObject): FieldError[] {
  const spec = isObject(d.spec) ? d.spec : {};
  const errs = [...nonNegative(spec.replicas, 'spec.replicas'), ...validateWorkloadSelector(spec, 'deployment'), ...validateAppsTemplate(spec, 'ReplicaSet')];
  const strategy = isObject(spec.strategy) ? spec.strategy : {};
  if (strategy.type === 'Recreate') {
    if (strategy.rollingUpdate !== undefined) errs.push(forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
  } else if (strategy.type === 'RollingUpdate') {
    if (!isObject(strategy.rollingUpdate)) errs.push(required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil'));
    else errs.push(...validateRollingUpdateDeployment(strategy.rollingUpdate, 'spec.strategy.rollingUpdate'));
  } else {
    errs.push(notSupported('spec.strategy', strategy, ['Recreate', 'RollingUpdate']));
  }
  errs.push(...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  if (spec.progressDeadlineSeconds !== undefined) {
    errs.push(...nonNegative(spec.progressDeadlineSeconds, 'spec.progressDeadlineSeconds'));
    if (spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0)) {
      errs.push(invalid('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
    }
  }
  errs.push(...selectorImmutable(d, old));
  return errs;
}

function validateReplicaSet(rs: KObject, old?: KObject): FieldError[] {
  const spec = isObject(rs.spec) ? rs.spec : {};
  return [
    ...nonNegative(spec.replicas, 'spec.replicas'),
    ...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds'),
    // The real server names a Deployment here too.
    ...validateWorkloadSelector(spec, 'deployment'),
    ...validateAppsTemplate(spec, 'ReplicaSet'),
    ...selectorImmutable(rs, old),
  ];
}

function validateDaemonSet(ds: KObject, old?: KObject): FieldError[] {
  const spec = isObject(ds.spec) ? ds.spec : {};
  const errs = validateLabelSelector(spec.selector, 'spec.selector');
  // ValidateDaemonSetSpec: a missing selector matches nothing, so the template check reports it.
  if (!errs.length && !(isObject(spec.selector) && selectorMatches(spec.selector, spec.template?.metadata?.labels ?? {}))) {
    const empty = isObject(spec.selector) && !Object.keys(spec.selector.matchLabels ?? {}).length && !(spec.selector.matchExpressions ?? []).length;
    if (!empty)
      errs.push(invalid('spec.template.metadata.labels', goStringMap(spec.template?.metadata?.labels), '`selector` does not match template `labels`'));
  }
  if (isObject(spec.selector) && !Object.keys(spec.selector.matchLabels ?? {}).length && !(spec.selector.matchExpressions ?? []).length) {
    errs.push(invalid('spec.selector', goLabelSelector(spec.selector), 'empty selector is invalid for daemonset'));
  }
  errs.push(...validateAppsTemplate(spec, 'DaemonSet'));
  errs.push(...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  const strategy = isObject(spec.updateStrategy) ? spec.updateStrategy : {};
  if (strategy.type === 'RollingUpdate') {
    if (!isObject(strategy.rollingUpdate)) errs.push(required('spec.updateStrategy.rollingUpdate'));
    else errs.push(...validateRollingUpdateDaemonSet(strategy.rollingUpdate, 'spec.updateStrategy.rollingUpdate'));
  } else if (strategy.type !== 'OnDelete') {
    errs.push(notSupported('spec.updateStrategy', strategy, ['RollingUpdate', 'OnDelete']));
  }
  errs.push(...nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  errs.push(...selectorImmutable(ds, old));
  return errs;
}

/** The StatefulSet spec fields an update may change; everything else is fixed at creation. */
const STATEFULSET_MUTABLE = [
  'replicas',
  'ordinals',
  'template',
  'updateStrategy',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
  'revisionHistoryLimit',
];

function validateStatefulSet(ss: KObject, old?: KObject): FieldError[] {
  const spec = isObject(ss.spec) ? ss.spec : {};
  const errs: FieldError[] = [];
  if (!['OrderedReady', 'Parallel'].includes(spec.podManagementPolicy)) {
    errs.push(invalid('spec.podManagementPolicy', spec.podManagementPolicy ?? '', "must be 'OrderedReady' or 'Parallel'"));
  }
  const strategy = isObject(spec.updateStrategy) ? spec.updateStrategy : {};
  if (strategy.type === 'OnDelete') {
    if (strategy.rollingUpdate !== undefined)
      errs.push(invalid('spec.updateStrategy.rollingUpdate', strategy.rollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"));
  } else if (strategy.type === 'RollingUpdate') {
    if (isObject(strategy.rollingUpdate)) {
      const ru = strategy.rollingUpdate;
      errs.push(...nonNegative(ru.partition, 'spec.updateStrategy.rollingUpdate.partition'));
      if (ru.maxUnavailable !== undefined) {
        errs.push(...validateIntOrPercent(ru.maxUnavailable, 'spec.updateStrategy.rollingUpdate.maxUnavailable'));
        if ((intOrPercent(ru.maxUnavailable)?.n ?? 0) === 0)
          errs.push(invalid('spec.updateStrategy.rollingUpdate.maxUnavailable', goIntOrString(ru.maxUnavailable), 'cannot be 0'));
        errs.push(...notOver100(ru.maxUnavailable, 'spec.updateStrategy.rollingUpdate.maxUnavailable'));
      }
    }
  } else {
    errs.push(invalid('spec.updateStrategy', strategy, "must be 'RollingUpdate' or 'OnDelete'"));
  }
  errs.push(...nonNegative(spec.replicas, 'spec.replicas'));
  errs.push(...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...validateWorkloadSelector(spec, 'statefulset'));
  errs.push(...validateAppsTemplate(spec, 'StatefulSet'));
  errs.push(...nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  if (old) {
    const fixed = (s: KObject | undefined) => Object.fromEntries(Object.entries(s ?? {}).filter(([k]) => !STATEFULSET_MUTABLE.includes(k)));
    if (!deepEqual(fixed(spec), fixed(old.spec))) {
      errs.push(
        forbidden(
          'spec',
          "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ),
      );
    }
  }
  return errs;
}

function validateControllerRevision(cr: KObject, old?: KObject): FieldError[] {
  const errs: FieldError[] = [];
  if (cr.data === undefined || cr.data === null) errs.push(required('data', 'data is mandatory'));
  errs.push(...nonNegative(cr.revision, 'revision'));
  if (old && !deepEqual(cr.data, old.data)) errs.push(immutable('data', cr.data));
  return errs;
}

/** `revision` is a plain int64 in Go: a missing one decodes as 0. */
const defaultRevision = (cr: KObject) => {
  cr.revision ??= 0;
};

// ---- definitions --------------------------------------------------------------------------

const base = {
  group: GROUP,
  version: 'v1',
  namespaced: true,
  verbs: STANDARD_VERBS,
  unknownFields: 'prune',
  strategicMergePatch: true,
  deleteReturnsObject: false,
} as const;

export const deployments: ResourceDefinition = {
  ...base,
  resource: 'deployments',
  singular: 'deployment',
  kind: 'Deployment',
  listKind: 'DeploymentList',
  shortNames: ['deploy'],
  categories: ['all'],
  schema: kindSchema('Declarative updates for pods: keeps a number of replicas of a pod template, rolling out template changes.', {
    spec: desc(DeploymentSpec, 'Desired state of the deployment.'),
    status: desc(DeploymentStatus, 'Most recently observed state of the deployment.'),
  }),
  generation: true,
  subresources: { status: true, scale: REPLICAS_SCALE },
  columns: [
    { name: 'Ready', type: 'string', description: 'Number of the pod with ready state', cell: (o) => `${n(o.status?.readyReplicas)}/${n(o.spec?.replicas)}` },
    {
      name: 'Up-to-date',
      type: 'string',
      description: 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
      cell: (o) => n(o.status?.updatedReplicas),
    },
    {
      name: 'Available',
      type: 'string',
      description: 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
      cell: (o) => n(o.status?.availableReplicas),
    },
    AGE_COLUMN,
    ...WIDE_TEMPLATE,
    SELECTOR_COLUMN,
  ],
  strategy: workloadStrategy({
    defaults: defaultDeployment,
    validate: validateDeployment,
    validateStatus: statusCounts(
      ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas', 'collisionCount'],
      [
        ['updatedReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['readyReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['availableReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['availableReplicas', 'readyReplicas', 'cannot be greater than readyReplicas'],
      ],
    ),
  }),
};

export const replicasets: ResourceDefinition = {
  ...base,
  resource: 'replicasets',
  singular: 'replicaset',
  kind: 'ReplicaSet',
  listKind: 'ReplicaSetList',
  shortNames: ['rs'],
  categories: ['all'],
  schema: kindSchema('Keeps a number of pod replicas running; normally owned by a Deployment.', {
    spec: desc(ReplicaSetSpec, 'Desired state of the replica set.'),
    status: desc(ReplicaSetStatus, 'Most recently observed state of the replica set.'),
  }),
  generation: true,
  subresources: { status: true, scale: REPLICAS_SCALE },
  columns: [
    { name: 'Desired', type: 'integer', description: 'Number of desired pods.', cell: (o) => n(o.spec?.replicas) },
    { name: 'Current', type: 'integer', description: 'Most recently observed number of replicas.', cell: (o) => n(o.status?.replicas) },
    { name: 'Ready', type: 'integer', description: 'Number of ready replicas.', cell: (o) => n(o.status?.readyReplicas) },
    AGE_COLUMN,
    ...WIDE_TEMPLATE,
    SELECTOR_COLUMN,
  ],
  fieldSelectors: { 'status.replicas': (o) => String(n(o.status?.replicas)) },
  strategy: workloadStrategy({
    defaults: defaultReplicaSet,
    validate: validateReplicaSet,
    initialStatus: () => ({ replicas: 0 }),
    validateStatus: statusCounts(
      ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'],
      [
        ['fullyLabeledReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['readyReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['availableReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['availableReplicas', 'readyReplicas', 'cannot be greater than readyReplicas'],
      ],
    ),
  }),
};

export const daemonsets: ResourceDefinition = {
  ...base,
  resource: 'daemonsets',
  singular: 'daemonset',
  kind: 'DaemonSet',
  listKind: 'DaemonSetList',
  shortNames: ['ds'],
  categories: ['all'],
  schema: kindSchema('Runs a copy of a pod on every eligible node.', {
    spec: desc(DaemonSetSpec, 'Desired state of the daemon set.'),
    status: desc(DaemonSetStatus, 'Most recently observed state of the daemon set.'),
  }),
  generation: true,
  subresources: { status: true },
  columns: [
    { name: 'Desired', type: 'integer', description: 'Number of nodes that should run the daemon pod.', cell: (o) => n(o.status?.desiredNumberScheduled) },
    {
      name: 'Current',
      type: 'integer',
      description: 'Number of nodes running at least one daemon pod that should.',
      cell: (o) => n(o.status?.currentNumberScheduled),
    },
    { name: 'Ready', type: 'integer', description: 'Number of nodes whose daemon pod is ready.', cell: (o) => n(o.status?.numberReady) },
    { name: 'Up-to-date', type: 'integer', description: 'Number of nodes running the updated daemon pod.', cell: (o) => n(o.status?.updatedNumberScheduled) },
    { name: 'Available', type: 'integer', description: 'Number of nodes whose daemon pod is available.', cell: (o) => n(o.status?.numberAvailable) },
    {
      name: 'Node Selector',
      type: 'string',
      description: 'Node labels the pod template selects.',
      cell: (o) => formatLabels(o.spec?.template?.spec?.nodeSelector),
    },
    AGE_COLUMN,
    ...WIDE_TEMPLATE,
    SELECTOR_COLUMN,
  ],
  strategy: workloadStrategy({
    defaults: defaultDaemonSet,
    validate: validateDaemonSet,
    initialStatus: () => ({ currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 }),
    validateStatus: statusCounts([
      'currentNumberScheduled',
      'numberMisscheduled',
      'desiredNumberScheduled',
      'numberReady',
      'observedGeneration',
      'updatedNumberScheduled',
      'numberAvailable',
      'numberUnavailable',
      'collisionCount',
    ]),
  }),
};

export const statefulsets: ResourceDefinition = {
  ...base,
  resource: 'statefulsets',
  singular: 'statefulset',
  kind: 'StatefulSet',
  listKind: 'StatefulSetList',
  shortNames: ['sts'],
  categories: ['all'],
  schema: kindSchema('Manages pods with stable identities (ordinal names) and stable storage.', {
    spec: desc(StatefulSetSpec, 'Desired state of the stateful set.'),
    status: desc(StatefulSetStatus, 'Most recently observed state of the stateful set.'),
  }),
  generation: true,
  subresources: { status: true, scale: REPLICAS_SCALE },
  columns: [
    { name: 'Ready', type: 'string', description: 'Number of the pod with ready state', cell: (o) => `${n(o.status?.readyReplicas)}/${n(o.spec?.replicas)}` },
    AGE_COLUMN,
    ...WIDE_TEMPLATE,
  ],
  strategy: workloadStrategy({
    defaults: defaultStatefulSet,
    validate: validateStatefulSet,
    initialStatus: () => ({ replicas: 0, availableReplicas: 0 }),
    validateStatus: statusCounts(
      ['replicas', 'readyReplicas', 'currentReplicas', 'updatedReplicas', 'availableReplicas', 'observedGeneration', 'collisionCount'],
      [
        ['readyReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['currentReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['updatedReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['availableReplicas', 'replicas', 'cannot be greater than status.replicas'],
        ['availableReplicas', 'readyReplicas', 'cannot be greater than status.readyReplicas'],
      ],
    ),
  }),
};

export const controllerrevisions: ResourceDefinition = {
  ...base,
  resource: 'controllerrevisions',
  singular: 'controllerrevision',
  kind: 'ControllerRevision',
  listKind: 'ControllerRevisionList',
  schema: kindSchema(
    "An immutable snapshot of a controller's state (DaemonSet and StatefulSet revision history).",
    {
      data: { 'x-kubernetes-embedded-resource': false, 'x-kubernetes-preserve-unknown-fields': true, type: 'object', description: 'The serialized state.' },
      revision: int64('Revision number of the state.'),
    },
    { required: ['revision'] },
  ),
  generation: false,
  subresources: {},
  columns: [
    { name: 'Controller', type: 'string', description: 'Controller of the object', cell: controllerOf },
    { name: 'Revision', type: 'string', description: 'Revision number of the state.', cell: (o) => n(o.revision) },
    AGE_COLUMN,
  ],
  strategy: { prepareForCreate: defaultRevision, prepareForUpdate: defaultRevision, validate: validateControllerRevision },
};

/** In the real server's discovery order (alphabetical), which is also `kubectl get all`'s. */
export const appsResources: ResourceDefinition[] = [controllerrevisions, daemonsets, deployments, replicasets, statefulsets];
