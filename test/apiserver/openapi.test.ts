// OpenAPI v3 documents: the structure kubectl 1.32 relies on, and kubectl explain / apply against them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOpenAPIv3, openAPIHash, openAPIv3Index } from '../../src/apiserver/openapi.ts';
import { applyCRDDefaults, resourceDefinitionsFromCRD } from '../../src/apiserver/crd.ts';
import type { KObject, ResourceDefinition } from '../../src/apiserver/resource.ts';

const CRD: KObject = {
  metadata: { name: 'edgenodes.eve.kubeve.io' },
  spec: {
    group: 'eve.kubeve.io',
    scope: 'Namespaced',
    names: { plural: 'edgenodes', kind: 'EdgeNode' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'An EVE-OS edge node.',
            properties: {
              spec: {
                type: 'object',
                description: 'Desired state of the node.',
                properties: {
                  model: { type: 'string', description: 'Hardware model of the node.' },
                  app: { type: 'object', 'x-kubernetes-embedded-resource': true, 'x-kubernetes-preserve-unknown-fields': true },
                },
              },
            },
          },
        },
      },
    ],
  },
};
applyCRDDefaults(CRD);
const [EDGE] = resourceDefinitionsFromCRD(CRD);

const CONFIGMAP: ResourceDefinition = {
  group: '',
  version: 'v1',
  resource: 'configmaps',
  singular: 'configmap',
  kind: 'ConfigMap',
  listKind: 'ConfigMapList',
  namespaced: true,
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  schema: {
    type: 'object',
    description: 'Configuration data.',
    properties: { data: { type: 'object', description: 'The configuration entries.', additionalProperties: { type: 'string' } } },
  },
  unknownFields: 'none',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: [],
  deleteReturnsObject: false,
};
const NODE_READER: ResourceDefinition = {
  ...CONFIGMAP,
  resource: 'nodes',
  singular: 'node',
  kind: 'Node',
  listKind: 'NodeList',
  namespaced: false,
  verbs: ['get', 'list', 'watch'],
};

const coreDoc = buildOpenAPIv3('api/v1', [CONFIGMAP, NODE_READER]) as any;
const eveDoc = buildOpenAPIv3('apis/eve.kubeve.io/v1alpha1', [EDGE]) as any;

test('PATCH operations carry the object GVK, inline write parameters and the patch types of the kind', () => {
  const patch = eveDoc.paths['/apis/eve.kubeve.io/v1alpha1/namespaces/{namespace}/edgenodes/{name}'].patch;
  assert.deepEqual(patch['x-kubernetes-group-version-kind'], { group: 'eve.kubeve.io', version: 'v1alpha1', kind: 'EdgeNode' });
  assert.equal(patch['x-kubernetes-action'], 'patch');
  assert.equal(patch.operationId, 'patchEveKubeveIoV1alpha1NamespacedEdgeNode');
  for (const name of ['dryRun', 'fieldManager', 'fieldValidation', 'force']) {
    assert.ok(
      patch.parameters.some((p: any) => p.name === name && p.in === 'query' && !p.$ref),
      name,
    );
  }
  assert.deepEqual(Object.keys(patch.requestBody.content), ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json']);
  const cmPatch = coreDoc.paths['/api/v1/namespaces/{namespace}/configmaps/{name}'].patch;
  assert.ok('application/strategic-merge-patch+json' in cmPatch.requestBody.content, 'built-ins offer strategic merge patch');
  assert.equal(cmPatch.operationId, 'patchCoreV1NamespacedConfigMap');
  assert.deepEqual(cmPatch.tags, ['core_v1']);
});

test('paths follow scope, subresources and verbs', () => {
  assert.deepEqual(Object.keys(eveDoc.paths), [
    '/apis/eve.kubeve.io/v1alpha1/edgenodes',
    '/apis/eve.kubeve.io/v1alpha1/namespaces/{namespace}/edgenodes',
    '/apis/eve.kubeve.io/v1alpha1/namespaces/{namespace}/edgenodes/{name}',
    '/apis/eve.kubeve.io/v1alpha1/namespaces/{namespace}/edgenodes/{name}/status',
  ]);
  const item = eveDoc.paths['/apis/eve.kubeve.io/v1alpha1/namespaces/{namespace}/edgenodes/{name}'];
  assert.deepEqual(Object.keys(item).sort(), ['delete', 'get', 'parameters', 'patch', 'put']);
  assert.deepEqual(
    item.parameters.map((p: any) => `${p.in}:${p.name}`),
    ['path:name', 'path:namespace', 'query:pretty'],
  );
  assert.equal(eveDoc.paths['/apis/eve.kubeve.io/v1alpha1/edgenodes'].get.operationId, 'listEveKubeveIoV1alpha1EdgeNodeForAllNamespaces');
  assert.equal(
    eveDoc.paths['/apis/eve.kubeve.io/v1alpha1/namespaces/{namespace}/edgenodes'].delete.operationId,
    'deleteEveKubeveIoV1alpha1CollectionNamespacedEdgeNode',
  );
  assert.equal(
    eveDoc.paths['/apis/eve.kubeve.io/v1alpha1/namespaces/{namespace}/edgenodes/{name}/status'].put.description,
    'replace status of the specified EdgeNode',
  );
  // A cluster-scoped, read-only kind: no namespace segment, no write operations.
  assert.deepEqual(Object.keys(coreDoc.paths['/api/v1/nodes']), ['get', 'parameters']);
  assert.deepEqual(Object.keys(coreDoc.paths['/api/v1/nodes/{name}']), ['get', 'parameters']);
  assert.equal(coreDoc.paths['/api/v1/nodes/{name}'].get.operationId, 'readCoreV1Node');
});

test('schemas are named like the real server, carry the list-form GVK and reference ObjectMeta', () => {
  const edge = eveDoc.components.schemas['io.kubeve.eve.v1alpha1.EdgeNode'];
  assert.deepEqual(edge['x-kubernetes-group-version-kind'], [{ group: 'eve.kubeve.io', kind: 'EdgeNode', version: 'v1alpha1' }]);
  assert.equal(edge.description, 'An EVE-OS edge node.');
  assert.deepEqual(edge.properties.metadata.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }]);
  assert.deepEqual(edge.properties.spec.properties.app.required, ['kind', 'apiVersion'], 'embedded resources get TypeMeta');
  const list = eveDoc.components.schemas['io.kubeve.eve.v1alpha1.EdgeNodeList'];
  assert.deepEqual(list['x-kubernetes-group-version-kind'], [{ group: 'eve.kubeve.io', kind: 'EdgeNodeList', version: 'v1alpha1' }]);
  assert.ok(coreDoc.components.schemas['io.k8s.api.core.v1.ConfigMap']);
  assert.ok(coreDoc.components.schemas['io.k8s.api.core.v1.ConfigMapList']);
  const meta = eveDoc.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'];
  assert.ok(Object.values(meta.properties).every((p: any) => typeof p.description === 'string' && p.description.length > 0));

  // Every reference resolves inside the document.
  const refs = JSON.stringify(eveDoc).match(/#\/components\/schemas\/[^"]+/g)!;
  for (const r of new Set(refs)) assert.ok(eveDoc.components.schemas[r.slice('#/components/schemas/'.length)], r);
});

test('the index lists every document at a URL carrying its SHA-512', () => {
  const docs = new Map<string, object>([
    ['api/v1', coreDoc],
    ['apis/eve.kubeve.io/v1alpha1', eveDoc],
  ]);
  const hash = createHash('sha512').update(JSON.stringify(eveDoc)).digest('hex').toUpperCase();
  assert.equal(openAPIHash(eveDoc), hash);
  assert.equal(openAPIHash(JSON.stringify(eveDoc)), hash, 'a served body hashes to the same value');
  assert.deepEqual(openAPIv3Index(docs).paths['apis/eve.kubeve.io/v1alpha1'], { serverRelativeURL: `/openapi/v3/apis/eve.kubeve.io/v1alpha1?hash=${hash}` });
  assert.deepEqual(Object.keys(openAPIv3Index(docs).paths), ['api/v1', 'apis/eve.kubeve.io/v1alpha1']);
});

/** A plain-HTTP stand-in for the API server: discovery, OpenAPI, one object per kind, and a request log. */
function fakeServer(): Promise<{ url: string; log: string[]; close(): void }> {
  const docs = new Map<string, object>([
    ['api/v1', coreDoc],
    ['apis/eve.kubeve.io/v1alpha1', eveDoc],
  ]);
  const lastApplied = (o: object) => ({ 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(o) });
  const edge = { apiVersion: 'eve.kubeve.io/v1alpha1', kind: 'EdgeNode', metadata: { name: 'n1', namespace: 'default' }, spec: { model: 'a' } };
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c1', namespace: 'default' }, data: { a: '1' } };
  const objects: Record<string, object> = {
    '/apis/eve.kubeve.io/v1alpha1/namespaces/default/edgenodes/n1': { ...edge, metadata: { ...edge.metadata, annotations: lastApplied(edge) } },
    '/api/v1/namespaces/default/configmaps/c1': { ...cm, metadata: { ...cm.metadata, annotations: lastApplied(cm) } },
  };
  const resources = (d: ResourceDefinition) => ({ name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: d.verbs });
  const log: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = new URL(req.url!, 'http://x').pathname;
      log.push(`${req.method} ${req.url} ${req.headers['content-type'] ?? ''}`);
      const send = (body: unknown, code = 200) => {
        res.writeHead(code, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const gv = { groupVersion: 'eve.kubeve.io/v1alpha1', version: 'v1alpha1' };
      if (path === '/version') return send({ major: '1', minor: '32', gitVersion: 'v1.32.4' });
      if (path === '/api') return send({ kind: 'APIVersions', versions: ['v1'] });
      if (path === '/apis') return send({ kind: 'APIGroupList', apiVersion: 'v1', groups: [{ name: 'eve.kubeve.io', versions: [gv], preferredVersion: gv }] });
      if (path === '/api/v1') return send({ kind: 'APIResourceList', groupVersion: 'v1', resources: [resources(CONFIGMAP)] });
      if (path === '/apis/eve.kubeve.io/v1alpha1')
        return send({ kind: 'APIResourceList', groupVersion: 'eve.kubeve.io/v1alpha1', resources: [resources(EDGE)] });
      if (path === '/openapi/v3') return send(openAPIv3Index(docs));
      if (path.startsWith('/openapi/v3/') && docs.has(path.slice(12))) return send(docs.get(path.slice(12)));
      if (objects[path]) return send(objects[path]);
      send({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }, 404);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, log, close: () => server.close() })),
  );
}

test('kubectl explain and apply work from these documents', async () => {
  const srv = await fakeServer();
  const home = mkdtempSync(join(tmpdir(), 'kubeve-openapi-'));
  const kubectl = (...args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(
        'kubectl',
        ['--server', srv.url, ...args],
        { env: { ...process.env, HOME: home, KUBECONFIG: join(home, 'none'), KUBECACHEDIR: join(home, 'cache') } },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      ),
    );
  try {
    const field = await kubectl('explain', 'edgenodes.spec.model');
    assert.match(field, /KIND:\s+EdgeNode/);
    assert.match(field, /FIELD: model <string>/);
    assert.match(field, /Hardware model of the node\./);
    const kind = await kubectl('explain', 'edgenodes');
    assert.match(kind, /An EVE-OS edge node\./);
    assert.match(kind, /metadata\s+<ObjectMeta>/);
    assert.match(await kubectl('explain', 'configmaps.data'), /FIELD: data <map\[string\]string>/);

    const edge = join(home, 'n1.yaml');
    writeFileSync(edge, 'apiVersion: eve.kubeve.io/v1alpha1\nkind: EdgeNode\nmetadata:\n  name: n1\n  namespace: default\nspec:\n  model: b\n');
    await kubectl('apply', '-f', edge);
    const cm = join(home, 'c1.yaml');
    writeFileSync(cm, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  namespace: default\ndata:\n  a: "2"\n');
    await kubectl('apply', '-f', cm);
    const patches = srv.log.filter((l) => l.startsWith('PATCH'));
    assert.deepEqual(patches, [
      'PATCH /apis/eve.kubeve.io/v1alpha1/namespaces/default/edgenodes/n1?fieldManager=kubectl-client-side-apply&fieldValidation=Strict application/merge-patch+json',
      'PATCH /api/v1/namespaces/default/configmaps/c1?fieldManager=kubectl-client-side-apply&fieldValidation=Strict application/strategic-merge-patch+json',
    ]);
  } finally {
    srv.close();
    rmSync(home, { recursive: true, force: true });
  }
});
