// apiextensions.k8s.io/v1 CustomResourceDefinition (cluster-scoped). Validation and defaulting of the spec
// are in src/apiserver/crd.ts; serving the defined resources and the Established/NamesAccepted conditions are
// the CRD controller's job. kubectl prints CRDs with the default NAME / CREATED AT columns.

import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { applyCRDDefaults, validateCRD } from '../../apiserver/crd.ts';
import { STANDARD_VERBS, child } from './common.ts';
import { bool, bytes, condition, int32, kindSchema, list, obj, str } from './dsl.ts';

const names = (description: string) =>
  obj(
    description,
    {
      plural: str('Plural resource name, used in URLs: /apis/<group>/<version>/.../<plural>. Lowercase.'),
      singular: str('Singular name, lowercase; defaults to the lowercased kind.'),
      shortNames: list(str(), 'Short aliases for kubectl, e.g. kubectl get <shortname>.', { type: 'atomic' }),
      kind: str('CamelCase kind of the objects, used in manifests.'),
      listKind: str('Kind of the list type; defaults to <kind>List.'),
      categories: list(str(), 'Groups of resources this one belongs to, e.g. "all" for kubectl get all.', { type: 'atomic' }),
    },
    { required: ['plural', 'kind'] },
  );

const webhookClientConfig = obj('How to reach a conversion webhook: a URL or an in-cluster service.', {
  url: str('HTTPS URL of the webhook.'),
  service: obj(
    'Service in front of the webhook.',
    {
      namespace: str('Namespace of the service.'),
      name: str('Name of the service.'),
      path: str('URL path sent to the service.'),
      port: int32('Port of the service; 443 by default.'),
    },
    { required: ['namespace', 'name'] },
  ),
  caBundle: bytes('PEM CA bundle to verify the webhook serving certificate.'),
});

const version = obj(
  'One version of the custom resource.',
  {
    name: str('Version name, e.g. v1 or v1beta1; served at /apis/<group>/<name>.'),
    served: bool('Whether this version is served by the REST API.'),
    storage: bool('Whether objects are stored in this version; exactly one version must be the storage version.'),
    deprecated: bool('Whether this version is deprecated; requests get a warning header.'),
    deprecationWarning: str('Warning returned to clients instead of the default one.'),
    schema: obj('Validation for objects of this version.', {
      openAPIV3Schema: {
        type: 'object',
        description: 'Structural OpenAPI v3 schema used for validation, pruning and defaulting.',
        'x-kubernetes-preserve-unknown-fields': true,
      },
    }),
    subresources: obj('Subresources of this version.', {
      status: { type: 'object', description: 'Enables the /status subresource; the object is empty.', 'x-kubernetes-preserve-unknown-fields': true },
      scale: obj(
        'Enables the /scale subresource.',
        {
          specReplicasPath: str('JSON path (e.g. .spec.replicas) of the desired replicas.'),
          statusReplicasPath: str('JSON path (e.g. .status.replicas) of the observed replicas.'),
          labelSelectorPath: str('JSON path of a string label selector (e.g. .status.selector), for autoscalers.'),
        },
        { required: ['specReplicasPath', 'statusReplicasPath'] },
      ),
    }),
    additionalPrinterColumns: list(
      obj(
        'A column of kubectl get.',
        {
          name: str('Column header.'),
          type: str('integer, number, string, boolean or date.'),
          format: str('Optional format hint, e.g. int32 or name.'),
          description: str('Human-readable description of the column.'),
          priority: int32('0 shows the column by default; higher values only with -o wide.'),
          jsonPath: str('Simple JSON path evaluated against each object to produce the cell.'),
        },
        { required: ['name', 'type', 'jsonPath'] },
      ),
      'Extra columns for kubectl get; without any, an Age column is shown.',
      { type: 'atomic' },
    ),
    selectableFields: list(
      obj('A field usable in field selectors.', { jsonPath: str('Simple JSON path to a string, integer or boolean field.') }, { required: ['jsonPath'] }),
      'Fields usable in field selectors, besides metadata.name and metadata.namespace.',
      { type: 'atomic' },
    ),
  },
  { required: ['name', 'served', 'storage'] },
);

const crdCondition = condition('One condition of a CustomResourceDefinition, e.g. Established or NamesAccepted.');

const schema = kindSchema('Defines a custom resource: its names, scope and versions, served under /apis/<group>/<version>.', {
  spec: obj(
    'Desired definition of the custom resource.',
    {
      group: str('API group of the resource; the CRD name must be <plural>.<group>.'),
      names: names('Names of the resource.'),
      scope: str('Cluster or Namespaced.'),
      versions: list(version, 'Versions of the resource, ordered by priority.', { type: 'atomic' }),
      conversion: obj(
        'How objects are converted between versions.',
        {
          strategy: str('None (only apiVersion changes) or Webhook.'),
          webhook: obj('Webhook conversion settings.', {
            clientConfig: webhookClientConfig,
            conversionReviewVersions: list(str(), 'ConversionReview versions the webhook understands, in preference order.', { type: 'atomic' }),
          }),
        },
        { required: ['strategy'] },
      ),
      preserveUnknownFields: bool('Legacy: keep unknown fields. Must be false in v1.'),
    },
    { required: ['group', 'names', 'scope', 'versions'] },
  ),
  status: obj('Observed state of the definition.', {
    conditions: list(crdCondition, 'Current conditions.', { map: ['type'] }),
    acceptedNames: names('Names actually being served; they may differ from spec.names while a name conflicts.'),
    storedVersions: list(str(), 'Versions objects have ever been stored in; needed to plan storage migrations.', { type: 'atomic' }),
  }),
});

/** Records the storage version in status.storedVersions, as the real strategy does on every write. */
function recordStorageVersion(crd: KObject): void {
  const storage = (crd.spec?.versions ?? []).find((v: KObject) => v?.storage === true);
  if (!storage) return;
  const status = child(crd, 'status');
  const stored: string[] = Array.isArray(status.storedVersions) ? status.storedVersions : (status.storedVersions = []);
  if (!stored.includes(storage.name)) stored.push(storage.name);
}

export const customresourcedefinitions: ResourceDefinition = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  resource: 'customresourcedefinitions',
  singular: 'customresourcedefinition',
  kind: 'CustomResourceDefinition',
  listKind: 'CustomResourceDefinitionList',
  namespaced: false,
  shortNames: ['crd', 'crds'],
  categories: ['api-extensions'],
  verbs: STANDARD_VERBS,
  schema,
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: true,
  subresources: { status: true },
  columns: [],
  deleteReturnsObject: false,
  strategy: {
    prepareForCreate(crd) {
      crd.status = {};
      applyCRDDefaults(crd);
      recordStorageVersion(crd);
    },
    prepareForUpdate(crd, old) {
      crd.status = structuredClone(old.status ?? {});
      applyCRDDefaults(crd);
      recordStorageVersion(crd);
    },
    validate: (crd, old) => validateCRD(crd, old),
  },
};
