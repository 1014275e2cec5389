// The real kubectl 1.32 against a kubeve server: the everyday commands a Kubernetes user runs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [all]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        description: A Widget is a test resource.
        properties:
          spec:
            type: object
            description: Desired state of the widget.
            properties:
              size: {type: integer, minimum: 1, description: The size of the widget in centimetres.}
              color: {type: string, enum: [red, green, blue], default: red, description: Paint colour.}
              replicas: {type: integer, description: How many copies.}
          status:
            type: object
            properties:
              replicas: {type: integer}
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
`;

const widget = (name: string, size: number) => `---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: ${name}
spec:
  size: ${size}
`;

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(async () => {
  await t?.close();
});

test('kubectl version reports a 1.32 server', async () => {
  const out = await t.ok(['version']);
  assert.match(out, /Client Version: v1\.32\./);
  assert.match(out, /Server Version: v1\.32\./);
});

test('apply -f creates and then updates a CRD and a CR of it from one file', async () => {
  const f = t.file('widgets.yaml', CRD + widget('w1', 3));
  // Like against a real cluster, kubectl maps every document before creating any, so the CR can
  // only be mapped once the CRD is established: apply, wait, apply again.
  const first = await t.kubectl(['apply', '-f', f]);
  assert.match(first.stdout, /customresourcedefinition.apiextensions.k8s.io\/widgets.example.com created/);
  await t.ok(['wait', '--for=condition=established', '--timeout=20s', 'crd/widgets.example.com']);
  const second = await t.ok(['apply', '-f', f]);
  assert.match(second, /widget.example.com\/w1 created/);
  assert.match(second, /customresourcedefinition.apiextensions.k8s.io\/widgets.example.com unchanged/);
  const w1 = JSON.parse(await t.ok(['get', 'widget', 'w1', '-o', 'json']));
  assert.equal(w1.spec.size, 3);
  assert.equal(w1.spec.color, 'red', 'schema default applied');
  assert.equal(w1.metadata.generation, 1);

  const third = await t.ok(['apply', '-f', t.file('widgets2.yaml', CRD + widget('w1', 5))]);
  assert.match(third, /widget.example.com\/w1 configured/);
  const w1b = JSON.parse(await t.ok(['get', 'wd', 'w1', '-o', 'json']));
  assert.equal(w1b.spec.size, 5);
  assert.equal(w1b.metadata.generation, 2);
  assert.match(w1b.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], /"size":5/);
});

test('apply -f creates and updates a ConfigMap', async () => {
  const cm = (v: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: ${v}\n  other: x\n`;
  assert.match(await t.ok(['apply', '-f', t.file('cm1.yaml', cm('fast'))]), /configmap\/settings created/);
  assert.match(await t.ok(['apply', '-f', t.file('cm1.yaml', cm('fast'))]), /configmap\/settings unchanged/);
  assert.match(await t.ok(['apply', '-f', t.file('cm2.yaml', cm('slow'))]), /configmap\/settings configured/);
  assert.equal(await t.ok(['get', 'configmap', 'settings', '-o', 'jsonpath={.data.mode}']), 'slow');
});

test('get prints the server-side columns, wide columns and every output format', async () => {
  const table = await t.ok(['get', 'widgets']);
  assert.match(table, /^NAME\s+SIZE\s+AGE\n/);
  assert.match(table, /\nw1\s+5\s+\d+s\n/);
  const wide = await t.ok(['get', 'widgets', '-o', 'wide']);
  assert.match(wide, /^NAME\s+SIZE\s+COLOR\s+AGE\n/);
  assert.match(wide, /\nw1\s+5\s+red\s+\d+s\n/);
  const yaml = await t.ok(['get', 'widget', 'w1', '-o', 'yaml']);
  assert.match(yaml, /^apiVersion: example.com\/v1\nkind: Widget\n/);
  assert.match(yaml, /\n {2}size: 5\n/);
  assert.equal(await t.ok(['get', 'widget', 'w1', '-o', 'jsonpath={.spec.size}/{.kind}']), '5/Widget');
  const cms = await t.ok(['get', 'configmaps']);
  assert.match(cms, /^NAME\s+DATA\s+AGE\n/);
  assert.match(cms, /\nsettings\s+2\s+\d+s\n/);
});

test('get -l, -A, --chunk-size and --sort-by', async () => {
  await t.ok(['apply', '-f', t.file('ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-b\n')]);
  await t.ok(['apply', '-f', t.file('w2.yaml', widget('w2', 1).replace('metadata:', 'metadata:\n  namespace: team-b'))]);
  await t.ok(['apply', '-f', t.file('w3.yaml', widget('w3', 2))]);
  await t.ok(['label', 'widget', 'w1', 'env=prod']);
  const labelled = await t.ok(['get', 'widgets', '-l', 'env=prod', '-o', 'name']);
  assert.equal(labelled.trim(), 'widget.example.com/w1');
  const notProd = await t.ok(['get', 'widgets', '-l', 'env!=prod', '-o', 'name']);
  assert.equal(notProd.trim(), 'widget.example.com/w3');

  const all = await t.ok(['get', 'widgets', '-A']);
  assert.match(all, /^NAMESPACE\s+NAME\s+SIZE\s+AGE\n/);
  assert.match(all, /\ndefault\s+w1\s+5/);
  assert.match(all, /\nteam-b\s+w2\s+1/);

  for (const n of ['c', 'a', 'b']) await t.ok(['apply', '-f', t.file(`cm-${n}.yaml`, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: page-${n}\n`)]);
  const chunked = await t.ok(['get', 'configmaps', '--chunk-size=1', '-o', 'name']);
  assert.deepEqual(
    chunked
      .trim()
      .split('\n')
      .filter((l) => l.includes('page-')),
    ['configmap/page-a', 'configmap/page-b', 'configmap/page-c'],
  );
  const sorted = await t.ok(['get', 'widgets', '-A', '--sort-by=.spec.size', '-o', 'custom-columns=N:.metadata.name', '--no-headers']);
  assert.deepEqual(sorted.trim().split('\n'), ['w2', 'w3', 'w1']);
});

test('get -w streams changes as they happen', async () => {
  const child = spawn('kubectl', ['get', 'configmaps', '-w', '--request-timeout=0'], {
    env: { ...process.env, HOME: join(t.dir, 'home'), KUBECONFIG: t.server.kubeconfigPath, KUBECACHEDIR: join(t.dir, 'home', 'cache') },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 200 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, re);
  };
  await waitFor(/settings/);
  await t.ok(['apply', '-f', t.file('watched.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\ndata:\n  a: b\n')]);
  await waitFor(/\nwatched\s+1\s+/);
  child.kill();
});

test('describe shows the object and its events', async () => {
  const w = JSON.parse(await t.ok(['get', 'widget', 'w1', '-o', 'json']));
  const ev = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: 'w1.resized', namespace: 'default' },
    involvedObject: { apiVersion: 'example.com/v1', kind: 'Widget', name: 'w1', namespace: 'default', uid: w.metadata.uid },
    reason: 'Resized',
    message: 'the widget grew to 5cm',
    type: 'Normal',
    count: 1,
    firstTimestamp: new Date().toISOString(),
    lastTimestamp: new Date().toISOString(),
    source: { component: 'widget-controller' },
  };
  const r = await api(t.server, 'POST', '/api/v1/namespaces/default/events', ev);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const out = await t.ok(['describe', 'widget', 'w1']);
  assert.match(out, /Name:\s+w1/);
  assert.match(out, /Events:/);
  assert.match(out, /Normal\s+Resized\s+.*widget-controller\s+the widget grew to 5cm/);
});

test('explain prints a CR field from the published OpenAPI', async () => {
  const out = await t.ok(['explain', 'widgets.spec.size']);
  assert.match(out, /KIND:\s+Widget/);
  assert.match(out, /FIELD:\s+size <integer>/);
  assert.match(out, /The size of the widget in centimetres\./);
});

test('patch: merge and json on a CR, strategic on a built-in, strategic refused on a CR', async () => {
  await t.ok(['patch', 'widget', 'w3', '--type=merge', '-p', '{"spec":{"color":"blue"}}']);
  await t.ok(['patch', 'widget', 'w3', '--type=json', '-p', '[{"op":"replace","path":"/spec/size","value":7}]']);
  const w3 = JSON.parse(await t.ok(['get', 'widget', 'w3', '-o', 'json']));
  assert.equal(w3.spec.color, 'blue');
  assert.equal(w3.spec.size, 7);
  const smp = await t.kubectl(['patch', 'widget', 'w3', '-p', '{"spec":{"size":8}}']);
  assert.notEqual(smp.code, 0);
  assert.match(smp.stderr, /UnsupportedMediaType|415|unknown format/);

  await t.ok(['patch', 'configmap', 'settings', '-p', '{"data":{"mode":"turbo"}}']); // strategic by default
  const cm = JSON.parse(await t.ok(['get', 'configmap', 'settings', '-o', 'json']));
  assert.deepEqual(cm.data, { mode: 'turbo', other: 'x' });
});

test('label and annotate', async () => {
  await t.ok(['label', 'configmap', 'settings', 'tier=gold']);
  await t.ok(['annotate', 'configmap', 'settings', 'owner=ops']);
  const cm = JSON.parse(await t.ok(['get', 'configmap', 'settings', '-o', 'json']));
  assert.equal(cm.metadata.labels.tier, 'gold');
  assert.equal(cm.metadata.annotations.owner, 'ops');
  await t.ok(['label', 'configmap', 'settings', 'tier-']);
  const cm2 = JSON.parse(await t.ok(['get', 'configmap', 'settings', '-o', 'json']));
  assert.equal(cm2.metadata.labels?.tier, undefined);
});

test('scale a CR through its scale subresource', async () => {
  assert.match(await t.ok(['scale', 'widget', 'w1', '--replicas=3']), /widget.example.com\/w1 scaled/);
  assert.equal(await t.ok(['get', 'widget', 'w1', '-o', 'jsonpath={.spec.replicas}']), '3');
});

test('wait --for=condition on a status written through the status subresource', async () => {
  const waiter = t.kubectl(['wait', '--for=condition=Ready', '--timeout=30s', 'widget/w1']);
  await new Promise((r) => setTimeout(r, 500));
  const r = await api(
    t.server,
    'PATCH',
    '/apis/example.com/v1/namespaces/default/widgets/w1/status',
    { status: { replicas: 3, conditions: [{ type: 'Ready', status: 'True', reason: 'Done' }] } },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const res = await waiter;
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /widget.example.com\/w1 condition met/);
});

test('diff shows a pending change without making it', async () => {
  const before = await t.ok(['get', 'widget', 'w1', '-o', 'jsonpath={.spec.size}']);
  const r = await t.kubectl(['diff', '-f', t.file('wdiff.yaml', widget('w1', 9))]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /-\s+size: 5/);
  assert.match(r.stdout, /\+\s+size: 9/);
  assert.equal(await t.ok(['get', 'widget', 'w1', '-o', 'jsonpath={.spec.size}']), before);
});

const owned = (name: string, owner: { name: string; uid: string }) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: ${owner.name}, uid: ${owner.uid}, blockOwnerDeletion: true}
`;

async function ownerWithDependent(t: TestServer, owner: string, dep: string) {
  await t.ok(['apply', '-f', t.file(`${owner}.yaml`, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${owner}\n`)]);
  const uid = await t.ok(['get', 'cm', owner, '-o', 'jsonpath={.metadata.uid}']);
  await t.ok(['apply', '-f', t.file(`${dep}.yaml`, owned(dep, { name: owner, uid }))]);
}

test('delete --cascade=foreground removes dependents before the owner', async () => {
  await ownerWithDependent(t, 'fg-owner', 'fg-dep');
  await t.ok(['delete', 'cm', 'fg-owner', '--cascade=foreground', '--timeout=30s']);
  const r = await t.kubectl(['get', 'cm', 'fg-owner', 'fg-dep']);
  assert.match(r.stderr, /configmaps "fg-owner" not found/);
  assert.match(r.stderr, /configmaps "fg-dep" not found/);
});

test('delete --cascade=orphan keeps dependents and drops their owner reference', async () => {
  await ownerWithDependent(t, 'or-owner', 'or-dep');
  await t.ok(['delete', 'cm', 'or-owner', '--cascade=orphan', '--timeout=30s']);
  const dep = JSON.parse(await t.ok(['get', 'cm', 'or-dep', '-o', 'json']));
  assert.equal(dep.metadata.ownerReferences, undefined);
  assert.match((await t.kubectl(['get', 'cm', 'or-owner'])).stderr, /not found/);
});

test('background deletion garbage-collects dependents', async () => {
  await ownerWithDependent(t, 'bg-owner', 'bg-dep');
  await t.ok(['delete', 'cm', 'bg-owner']);
  for (let i = 0; i < 100; i++) {
    if ((await t.kubectl(['get', 'cm', 'bg-dep'])).code !== 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match((await t.kubectl(['get', 'cm', 'bg-dep'])).stderr, /not found/);
});

test('a finalizer holds a deleted object until it is removed; wait --for=delete sees it go', async () => {
  await t.ok(['apply', '-f', t.file('held.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n')]);
  await t.ok(['delete', 'cm', 'held', '--wait=false']);
  const held = JSON.parse(await t.ok(['get', 'cm', 'held', '-o', 'json']));
  assert.ok(held.metadata.deletionTimestamp, 'deletionTimestamp set');
  const waiter = t.kubectl(['wait', '--for=delete', '--timeout=30s', 'cm/held']);
  await new Promise((r) => setTimeout(r, 500));
  await t.ok(['patch', 'cm', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  const res = await waiter;
  assert.equal(res.code, 0, res.stderr);
  assert.match((await t.kubectl(['get', 'cm', 'held'])).stderr, /not found/);
});

test('api-resources lists built-ins and the CRD with short names', async () => {
  const out = await t.ok(['api-resources']);
  assert.match(out, /\nconfigmaps\s+cm\s+v1\s+true\s+ConfigMap\n/);
  assert.match(out, /\nwidgets\s+wd\s+example.com\/v1\s+true\s+Widget\n/);
  assert.match(out, /\nnamespaces\s+ns\s+v1\s+false\s+Namespace\n/);
  assert.match(out, /\ncustomresourcedefinitions\s+crd,crds\s+apiextensions.k8s.io\/v1\s+false\s+CustomResourceDefinition\n/);
});

test('deleting a namespace deletes its content, and nothing new may be created in it meanwhile', async () => {
  await t.ok([
    'apply',
    '-f',
    t.file(
      'nsx.yaml',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: doomed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  namespace: doomed\n  finalizers: [example.com/hold]\n',
    ),
  ]);
  await t.ok(['delete', 'namespace', 'doomed', '--wait=false']);
  assert.equal(await t.ok(['get', 'ns', 'doomed', '-o', 'jsonpath={.status.phase}']), 'Terminating');
  const refused = await t.kubectl(['apply', '-f', t.file('nsx2.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c2\n  namespace: doomed\n')]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /unable to create new content in namespace doomed because it is being terminated/);
  await t.ok(['patch', 'cm', 'c1', '-n', 'doomed', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  await t.ok(['wait', '--for=delete', '--timeout=30s', 'namespace/doomed']);
});

test('deleting a CRD removes its custom resources', async () => {
  await t.ok(['delete', 'crd', 'widgets.example.com', '--timeout=30s']);
  const r = await api(t.server, 'GET', '/apis/example.com/v1/widgets');
  assert.equal(r.status, 404);
  const keys = await t.server.storage.count('/registry/example.com/widgets/');
  assert.equal(keys, 0);
});
