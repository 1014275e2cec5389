// node.k8s.io/v1 RuntimeClass: a container runtime configuration pods select by name (pkg/apis/node validation).

import { forbidden as forbiddenRequest, type FieldError } from '../../apiserver/errors.ts';
import type { KObject, ObjectAccess, ResourceDefinition } from '../../apiserver/resource.ts';
import { AGE_COLUMN, STANDARD_VERBS, deepEqual, isObject } from './common.ts';
import { Toleration } from './core-types.ts';
import { kindSchema, list, obj, resourceList, str, strMap } from './dsl.ts';
import { canonicalizeResourceList, resourceListErrors } from './resources.ts';
import { dns1123Label, immutable, invalid } from './validation.ts';

function validateRuntimeClass(rc: KObject, old?: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const handler = String(rc.handler ?? '');
  for (const m of dns1123Label(handler)) errs.push(invalid('handler', handler, m));
  errs.push(...resourceListErrors(rc.overhead?.podFixed, 'overhead.podFixed'));
  if (old && rc.handler !== old.handler) errs.push(immutable('handler', handler));
  return errs;
}

function canonicalize(rc: KObject): void {
  if (isObject(rc.overhead)) canonicalizeResourceList(rc.overhead, 'podFixed');
}

const rejected = (pod: KObject, why: string) => {
  const name = pod.metadata?.name ?? '';
  return forbiddenRequest(`pods "${name}" is forbidden: ${why}`, { name, kind: 'pods' });
};

/**
 * RuntimeClass admission for new Pods: the class named by spec.runtimeClassName must exist; its fixed
 * overhead becomes the pod's, its node selector and tolerations are merged into the pod's.
 */
export async function admitPodRuntimeClass(pod: KObject, old: KObject | undefined, objects: ObjectAccess): Promise<void> {
  if (old) return;
  const spec = (pod.spec ??= {});
  const className = spec.runtimeClassName;
  if (!className) {
    if (spec.overhead !== undefined) throw rejected(pod, 'pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead');
    return;
  }
  const rc = (await objects.list('node.k8s.io', 'v1', 'runtimeclasses', undefined)).find((c) => c.metadata.name === className);
  if (!rc) throw rejected(pod, `pod rejected: RuntimeClass "${className}" not found`);
  const podFixed = rc.overhead?.podFixed;
  if (podFixed !== undefined) {
    if (spec.overhead !== undefined && !deepEqual(spec.overhead, podFixed))
      throw rejected(pod, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead");
    spec.overhead = structuredClone(podFixed);
  } else if (spec.overhead !== undefined) {
    throw rejected(pod, 'pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead');
  }
  const scheduling = rc.scheduling;
  if (!isObject(scheduling)) return;
  const selector: Record<string, string> = isObject(spec.nodeSelector) ? spec.nodeSelector : {};
  for (const [k, v] of Object.entries<string>(isObject(scheduling.nodeSelector) ? scheduling.nodeSelector : {})) {
    if (selector[k] !== undefined && selector[k] !== v) {
      throw rejected(pod, `conflict: runtimeClass.scheduling.nodeSelector[${k}] = ${v}; pod.spec.nodeSelector[${k}] = ${selector[k]}`);
    }
    selector[k] = v;
  }
  if (Object.keys(selector).length) spec.nodeSelector = selector;
  const tolerations: KObject[] = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  for (const t of Array.isArray(scheduling.tolerations) ? scheduling.tolerations : []) {
    if (!tolerations.some((have) => deepEqual(have, t))) tolerations.push(structuredClone(t));
  }
  if (tolerations.length) spec.tolerations = tolerations;
}

export const runtimeclasses: ResourceDefinition = {
  group: 'node.k8s.io',
  version: 'v1',
  resource: 'runtimeclasses',
  singular: 'runtimeclass',
  kind: 'RuntimeClass',
  listKind: 'RuntimeClassList',
  namespaced: false,
  verbs: STANDARD_VERBS,
  schema: kindSchema(
    'A container runtime configuration that pods select with spec.runtimeClassName.',
    {
      handler: str('Name of the runtime configuration the node agent uses (a DNS label). Immutable.'),
      overhead: obj('Resources a pod of this class uses on top of its containers.', { podFixed: resourceList('Fixed overhead per pod.') }),
      scheduling: obj('Constraints that place pods of this class on nodes supporting it.', {
        nodeSelector: { ...strMap("Labels the nodes must have; merged into the pod's nodeSelector."), 'x-kubernetes-map-type': 'atomic' },
        tolerations: list(Toleration, 'Tolerations added to the pods.', { type: 'atomic' }),
      }),
    },
    { required: ['handler'] },
  ),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: [{ name: 'Handler', type: 'string', description: 'Runtime configuration name.', cell: (o) => o.handler ?? '' }, AGE_COLUMN],
  deleteReturnsObject: false,
  strategy: { prepareForCreate: canonicalize, prepareForUpdate: canonicalize, validate: validateRuntimeClass },
};

export const nodeResources: ResourceDefinition[] = [runtimeclasses];
