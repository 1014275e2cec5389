// CustomResourceDefinition defaulting, validation (apiextensions 1.32 texts and paths) and the resources it serves.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyCRDDefaults, resourceDefinitionsFromCRD, validateCRD } from '../../src/apiserver/crd.ts';
import type { KObject } from '../../src/apiserver/resource.ts';

const lines = (errs: { field: string; detail: string }[]) => errs.map((e) => `${e.field}: ${e.detail}`);
const DNS1035 =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

function edgeNodes(): KObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'edgenodes.eve.kubeve.io' },
    spec: {
      group: 'eve.kubeve.io',
      scope: 'Namespaced',
      names: { plural: 'edgenodes', kind: 'EdgeNode', shortNames: ['en'], categories: ['eve'] },
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
          additionalPrinterColumns: [{ name: 'Model', type: 'string', jsonPath: '.spec.model', priority: 1 }],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: { type: 'object', properties: { model: { type: 'string' }, replicas: { type: 'integer' } } },
                status: { type: 'object', properties: { replicas: { type: 'integer' } } },
              },
            },
          },
        },
      ],
    },
  };
}

function check(mutate: (crd: KObject) => void, old?: KObject): string[] {
  const crd = edgeNodes();
  mutate(crd);
  applyCRDDefaults(crd);
  return lines(validateCRD(crd, old));
}

test('defaults fill singular, listKind, conversion and the stored version', () => {
  const crd = edgeNodes();
  applyCRDDefaults(crd);
  assert.equal(crd.spec.names.singular, 'edgenode');
  assert.equal(crd.spec.names.listKind, 'EdgeNodeList');
  assert.deepEqual(crd.spec.conversion, { strategy: 'None' });
  assert.deepEqual(crd.status.storedVersions, ['v1alpha1']);
  assert.deepEqual(validateCRD(crd), []);
  const webhook = edgeNodes();
  webhook.spec.conversion = {
    strategy: 'Webhook',
    webhook: { clientConfig: { service: { namespace: 'ns', name: 'conv' } }, conversionReviewVersions: ['v1'] },
  };
  applyCRDDefaults(webhook);
  assert.equal(webhook.spec.conversion.webhook.clientConfig.service.port, 443);
  assert.deepEqual(validateCRD(webhook), []);
});

test('name, group, scope and names are checked with the apiserver texts', () => {
  assert.deepEqual(
    check((c) => {
      c.metadata.name = 'nodes.eve.kubeve.io';
      c.spec.scope = 'Global';
      c.spec.names.shortNames = ['EN'];
      c.spec.names.listKind = 'EdgeNode';
    }),
    [
      'metadata.name: Invalid value: "nodes.eve.kubeve.io": must be spec.names.plural+"."+spec.group',
      'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
      `spec.names.shortNames[0]: Invalid value: "EN": ${DNS1035}`,
      'spec.names.listKind: Invalid value: "EdgeNode": kind and listKind may not be the same',
    ],
  );
  assert.deepEqual(
    check((c) => {
      c.metadata.name = 'edgenodes.eve';
      c.spec.group = 'eve';
    }),
    ['spec.group: Invalid value: "eve": should be a domain with at least one dot'],
  );
  assert.deepEqual(
    check((c) => {
      c.spec.names.kind = 'Edge_Node';
      c.spec.names.listKind = 'EdgeNodes';
      c.spec.names.singular = 'edgenode';
    }),
    [`spec.names.kind: Invalid value: "Edge_Node": may have mixed case, but should otherwise match: ${DNS1035}`],
  );
});

test('versions: exactly one storage version, DNS-1035 names, and schemas required', () => {
  const two = check((c) => {
    c.spec.versions.push({ ...structuredClone(c.spec.versions[0]), name: 'v1', storage: true });
  });
  assert.equal(two.length, 2);
  assert.match(
    two[0],
    /^spec\.versions: Invalid value: \[\]apiextensions\.CustomResourceDefinitionVersion\{.*Name:"v1".*\}: must have exactly one version marked as storage version$/,
  );
  assert.equal(two[1], 'status.storedVersions: Invalid value: []string{"v1alpha1"}: must have the storage version v1');

  assert.deepEqual(
    check((c) => {
      c.spec.versions[0].name = 'V1';
      delete c.spec.versions[0].schema;
    }),
    [
      'spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required',
      `spec.versions[0].name: Invalid value: "V1": ${DNS1035}`,
      `spec.version: Invalid value: "V1": ${DNS1035}`,
    ],
  );
});

test('schema errors are reported at spec.validation when all versions share the schema, else per version', () => {
  assert.deepEqual(
    check((c) => {
      c.spec.versions[0].schema.openAPIV3Schema.properties.spec = { properties: { model: { type: 'string' } } };
    }),
    ['spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields'],
  );
  assert.deepEqual(
    check((c) => {
      const v1 = structuredClone(c.spec.versions[0]);
      v1.name = 'v1';
      v1.storage = false;
      v1.schema.openAPIV3Schema.properties.extra = {};
      c.spec.versions.push(v1);
    }),
    ['spec.versions[1].schema.openAPIV3Schema.properties[extra].type: Required value: must not be empty for specified object fields'],
  );
  assert.deepEqual(
    check((c) => {
      c.spec.versions[0].schema.openAPIV3Schema.type = 'string';
    }),
    [
      'spec.validation.openAPIV3Schema.type: Invalid value: "string": only "object" is allowed as the type at the root of the schema if the status subresource is enabled',
      'spec.validation.openAPIV3Schema.type: Invalid value: "string": must be object at the root',
    ],
  );
});

test('scale subresource paths and printer columns', () => {
  assert.deepEqual(
    check((c) => {
      c.spec.versions[0].subresources.scale = {
        specReplicasPath: '.status.replicas',
        statusReplicasPath: 'status.replicas',
        labelSelectorPath: '.metadata.labels',
      };
      c.spec.versions[0].additionalPrinterColumns = [{ name: 'Model', type: 'map', format: 'hex' }];
    }),
    [
      'spec.subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec',
      'spec.subresources.scale.statusReplicasPath: Invalid value: "status.replicas": must be a simple json path starting with .',
      'spec.subresources.scale.labelSelectorPath: Invalid value: ".metadata.labels": should be a json path under either .spec or .status',
      'spec.additionalPrinterColumns[0].type: Invalid value: "map": must be one of boolean,date,integer,number,string',
      'spec.additionalPrinterColumns[0].format: Invalid value: "hex": must be one of byte,date,date-time,double,float,int32,int64,password',
      'spec.additionalPrinterColumns[0].JSONPath: Required value',
    ],
  );
});

test('preserveUnknownFields must stay false; conversion strategy None or Webhook', () => {
  assert.deepEqual(
    check((c) => {
      c.spec.preserveUnknownFields = true;
    }),
    [
      'spec.preserveUnknownFields: Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead',
    ],
  );
  assert.deepEqual(
    check((c) => {
      c.spec.conversion = { strategy: 'Magic' };
    }),
    ['spec.conversion.strategy: Unsupported value: "Magic": supported values: "None", "Webhook"'],
  );
  assert.deepEqual(
    check((c) => {
      c.spec.conversion = { strategy: 'Webhook', webhook: { clientConfig: { url: 'http://conv.example.com/convert' }, conversionReviewVersions: ['v2'] } };
    }),
    [
      'spec.conversion.webhookClientConfig.url: Invalid value: "http": \'https\' is the only allowed URL scheme; desired format: https://host[/path]',
      'spec.conversion.conversionReviewVersions: Invalid value: []string{"v2"}: must include at least one of v1, v1beta1',
    ],
  );
});

test('on update group and plural are immutable, scope and kind once established', () => {
  const old = edgeNodes();
  applyCRDDefaults(old);
  const move = (c: KObject) => {
    c.spec.scope = 'Cluster';
    c.spec.names.kind = 'Node';
    c.spec.names.listKind = 'NodeList';
  };
  assert.deepEqual(check(move, old), [], 'not yet established: still changeable');
  old.status.conditions = [{ type: 'Established', status: 'True' }];
  assert.deepEqual(check(move, old), [
    'spec.scope: Invalid value: "Cluster": field is immutable',
    'spec.names.kind: Invalid value: "Node": field is immutable',
  ]);
  assert.deepEqual(
    check((c) => {
      c.spec.group = 'other.kubeve.io';
      c.metadata.name = 'edgenodes.other.kubeve.io';
    }, old),
    ['spec.group: Invalid value: "other.kubeve.io": field is immutable'],
  );
});

test('k8s.io groups need the API approval annotation', () => {
  const inK8s = (c: KObject) => {
    c.spec.group = 'eve.k8s.io';
    c.metadata.name = 'edgenodes.eve.k8s.io';
  };
  assert.deepEqual(check(inK8s), [
    'metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111',
  ]);
  assert.deepEqual(
    check((c) => {
      inK8s(c);
      c.metadata.annotations = { 'api-approved.kubernetes.io': 'unapproved, experimental' };
    }),
    [],
  );
});

test('a served version becomes a ResourceDefinition with CRD semantics', () => {
  const crd = edgeNodes();
  crd.spec.versions.push({ name: 'v1alpha0', served: false, storage: false, schema: crd.spec.versions[0].schema });
  applyCRDDefaults(crd);
  const defs = resourceDefinitionsFromCRD(crd);
  assert.equal(defs.length, 1);
  const [d] = defs;
  assert.deepEqual(
    {
      group: d.group,
      version: d.version,
      resource: d.resource,
      singular: d.singular,
      kind: d.kind,
      listKind: d.listKind,
      namespaced: d.namespaced,
      shortNames: d.shortNames,
      categories: d.categories,
    },
    {
      group: 'eve.kubeve.io',
      version: 'v1alpha1',
      resource: 'edgenodes',
      singular: 'edgenode',
      kind: 'EdgeNode',
      listKind: 'EdgeNodeList',
      namespaced: true,
      shortNames: ['en'],
      categories: ['eve'],
    },
  );
  assert.deepEqual(d.verbs, ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
  assert.deepEqual(
    [d.unknownFields, d.strategicMergePatch, d.generation, d.deleteReturnsObject, d.crdName],
    ['prune', false, true, true, 'edgenodes.eve.kubeve.io'],
  );
  assert.deepEqual(d.subresources, { status: true, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } });
  assert.deepEqual(Object.keys(d.schema!.properties), ['spec', 'status', 'apiVersion', 'kind', 'metadata']);
  assert.deepEqual(d.columns, [
    { name: 'Model', type: 'string', description: 'Custom resource definition column (in JSONPath format): .spec.model', priority: 1, jsonPath: '.spec.model' },
  ]);
  assert.equal(crd.spec.versions[0].schema.openAPIV3Schema.properties.kind, undefined, 'the CRD itself is not modified');

  delete crd.spec.versions[0].additionalPrinterColumns;
  const [age] = resourceDefinitionsFromCRD(crd)[0].columns;
  assert.deepEqual([age.name, age.type, age.jsonPath], ['Age', 'date', '.metadata.creationTimestamp']);
});
