// scheduling.k8s.io/v1 PriorityClass (pkg/apis/scheduling: defaults, validation, the system classes) and the
// two system classes every cluster starts with.

import { forbidden as forbiddenRequest, type FieldError } from '../../apiserver/errors.ts';
import type { KObject, ObjectAccess, ResourceDefinition } from '../../apiserver/resource.ts';
import { AGE_COLUMN, STANDARD_VERBS } from './common.ts';
import { bool, int32, kindSchema, str } from './dsl.ts';
import { forbidden, immutable, notSupported } from './validation.ts';

const GROUP = 'scheduling.k8s.io';
const SYSTEM_PREFIX = 'system-';
/** The highest priority a user-defined class may have; higher values are reserved for the system classes. */
const HIGHEST_USER_PRIORITY = 1_000_000_000;
const PREEMPTION_POLICIES = ['Never', 'PreemptLowerPriority'];

/** The system classes the real server creates at start-up, with their priority values. */
export const SYSTEM_PRIORITY_CLASSES: Array<{ name: string; value: number; description: string }> = [
  { name: 'system-node-critical', value: 2_000_001_000, description: 'Used for system critical pods that must not be moved from their current node.' },
  {
    name: 'system-cluster-critical',
    value: 2_000_000_000,
    description: 'Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.',
  },
];

function validatePriorityClass(pc: KObject, old?: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const name = String(pc.metadata?.name ?? '');
  if (name.startsWith(SYSTEM_PREFIX)) {
    const known = SYSTEM_PRIORITY_CLASSES.find((c) => c.name === name);
    const why = !known
      ? `${name} is not a known system priority class`
      : known.value !== pc.value
        ? `value of ${name} PriorityClass must be ${known.value}`
        : pc.globalDefault === true
          ? `globalDefault of ${name} PriorityClass must be false`
          : undefined;
    if (why) errs.push(forbidden('metadata.name', `priority class names with '${SYSTEM_PREFIX}' prefix are reserved for system use only. error: ${why}`));
  } else if (typeof pc.value === 'number' && pc.value > HIGHEST_USER_PRIORITY) {
    errs.push(forbidden('value', `maximum allowed value of a user defined priority is ${HIGHEST_USER_PRIORITY}`));
  }
  if (pc.preemptionPolicy !== undefined && !PREEMPTION_POLICIES.includes(pc.preemptionPolicy)) {
    errs.push(notSupported('preemptionPolicy', pc.preemptionPolicy, PREEMPTION_POLICIES));
  }
  if (old) {
    if (pc.value !== old.value) errs.push(forbidden('value', 'may not be changed in an update.'));
    if (pc.preemptionPolicy !== old.preemptionPolicy) errs.push(immutable('preemptionPolicy', pc.preemptionPolicy ?? null));
  }
  return errs;
}

/** SetDefaults_PriorityClass; `value` is a plain int32 in Go, so a missing one decodes as 0. */
function defaultPriorityClass(pc: KObject): void {
  pc.value ??= 0;
  pc.preemptionPolicy ??= 'PreemptLowerPriority';
}

/** admission.NewForbidden: `<resource> "<name>" is forbidden: <why>`. */
const refused = (resource: string, group: string, name: string, why: string) =>
  forbiddenRequest(`${group ? `${resource}.${group}` : resource} "${name}" is forbidden: ${why}`, { name, group: group || undefined, kind: resource });

const listClasses = (objects: ObjectAccess) => objects.list(GROUP, 'v1', 'priorityclasses', undefined);

/** Priority admission for PriorityClasses: at most one class is the global default. */
async function admitPriorityClass(pc: KObject, _old: KObject | undefined, objects: ObjectAccess): Promise<void> {
  if (pc.globalDefault !== true) return;
  const other = (await listClasses(objects)).find((c) => c.globalDefault === true && c.metadata.name !== pc.metadata.name);
  if (other)
    throw refused(
      'priorityclasses',
      GROUP,
      pc.metadata.name ?? '',
      `PriorityClass ${other.metadata.name} is already marked as default. Only one default can exist`,
    );
}

/**
 * Priority admission for Pods: on create, the pod's priority (and preemption policy) comes from its
 * priorityClassName, or from the global default class (whose name the pod then gets), else 0; a priority
 * written into the spec must agree. On update the computed values are kept.
 */
export async function admitPodPriority(pod: KObject, old: KObject | undefined, objects: ObjectAccess): Promise<void> {
  const spec = (pod.spec ??= {});
  if (old) {
    spec.priority ??= old.spec?.priority;
    spec.preemptionPolicy ??= old.spec?.preemptionPolicy;
    return;
  }
  const name = pod.metadata?.name ?? '';
  let priority = 0;
  let preemptionPolicy: string | undefined = 'PreemptLowerPriority';
  if (!spec.priorityClassName) {
    const dflt = (await listClasses(objects)).filter((c) => c.globalDefault === true).sort((a, b) => (a.value ?? 0) - (b.value ?? 0))[0];
    if (dflt) {
      spec.priorityClassName = dflt.metadata.name;
      priority = dflt.value ?? 0;
      preemptionPolicy = dflt.preemptionPolicy;
    }
  } else {
    const pc = (await listClasses(objects)).find((c) => c.metadata.name === spec.priorityClassName);
    if (!pc) throw refused('pods', '', name, `no PriorityClass with name ${spec.priorityClassName} was found`);
    priority = pc.value ?? 0;
    preemptionPolicy = pc.preemptionPolicy;
  }
  if (spec.priority !== undefined && spec.priority !== priority) {
    throw refused(
      'pods',
      '',
      name,
      `the integer value of priority (${spec.priority}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`,
    );
  }
  spec.priority = priority;
  if (preemptionPolicy !== undefined) {
    if (spec.preemptionPolicy !== undefined && spec.preemptionPolicy !== preemptionPolicy) {
      throw refused(
        'pods',
        '',
        name,
        `the string value of PreemptionPolicy (${spec.preemptionPolicy}) must not be provided in pod spec; priority admission controller computed ${preemptionPolicy} from the given PriorityClass name`,
      );
    }
    spec.preemptionPolicy = preemptionPolicy;
  }
}

export const priorityclasses: ResourceDefinition = {
  group: GROUP,
  version: 'v1',
  resource: 'priorityclasses',
  singular: 'priorityclass',
  kind: 'PriorityClass',
  listKind: 'PriorityClassList',
  namespaced: false,
  shortNames: ['pc'],
  verbs: STANDARD_VERBS,
  schema: kindSchema('Maps a priority class name to the integer priority pods of that class get.', {
    value: int32('The priority; higher values schedule first and may preempt lower ones. At most 1000000000 for user classes.'),
    globalDefault: bool('Whether this is the priority of pods without a priority class; at most one class may be the default.'),
    description: str('When this class should be used.'),
    preemptionPolicy: str('Never or PreemptLowerPriority (the default): whether pods of this class may preempt lower-priority pods.'),
  }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: [
    { name: 'Value', type: 'integer', description: 'The priority pods of this class get.', cell: (o) => o.value ?? 0 },
    { name: 'Global-Default', type: 'boolean', description: 'Whether this class is the default priority.', cell: (o) => o.globalDefault === true },
    AGE_COLUMN,
    {
      name: 'PreemptionPolicy',
      type: 'string',
      description: 'Whether pods of this class may preempt lower-priority pods.',
      cell: (o) => o.preemptionPolicy ?? '',
    },
  ],
  deleteReturnsObject: false,
  strategy: {
    prepareForCreate: defaultPriorityClass,
    prepareForUpdate: defaultPriorityClass,
    validate: validatePriorityClass,
    admitWithObjects: admitPriorityClass,
  },
};

/** The system priority classes, in the state the server creates them. */
export function systemPriorityClasses(): KObject[] {
  return SYSTEM_PRIORITY_CLASSES.map(({ name, value, description }) => ({
    apiVersion: `${GROUP}/v1`,
    kind: 'PriorityClass',
    metadata: { name },
    value,
    description,
    preemptionPolicy: 'PreemptLowerPriority',
  }));
}

export const schedulingResources: ResourceDefinition[] = [priorityclasses];
