// node.k8s.io/v1 RuntimeClass: a container runtime configuration pods select by name (pkg/apis/node validation).

import type { FieldError } from '../../apiserver/errors.ts';
import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { AGE_COLUMN, STANDARD_VERBS, isObject } from './common.ts';
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

export const runtimeclasses: ResourceDefinition = {
  group: 'node.k8s.io',
  version: 'v1',
  resource: 'runtimeclasses',
  singular: 'runtimeclass',
  kind: 'RuntimeClass',
  listKind: 'RuntimeClassList',
  namespaced: false,
  verbs: STANDARD_VERBS,
  schema: kindSchema('A container runtime configuration that pods select with spec.runtimeClassName.', {
    handler: str('Name of the runtime configuration the node agent uses (a DNS label). Immutable.'),
    overhead: obj('Resources a pod of this class uses on top of its containers.', { podFixed: resourceList('Fixed overhead per pod.') }),
    scheduling: obj('Constraints that place pods of this class on nodes supporting it.', {
      nodeSelector: { ...strMap('Labels the nodes must have; merged into the pod\'s nodeSelector.'), 'x-kubernetes-map-type': 'atomic' },
      tolerations: list(Toleration, 'Tolerations added to the pods.', { type: 'atomic' }),
    }),
  }, { required: ['handler'] }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: [
    { name: 'Handler', type: 'string', description: 'Runtime configuration name.', cell: (o) => o.handler ?? '' },
    AGE_COLUMN,
  ],
  deleteReturnsObject: false,
  strategy: { prepareForCreate: canonicalize, prepareForUpdate: canonicalize, validate: validateRuntimeClass },
};

export const nodeResources: ResourceDefinition[] = [runtimeclasses];
