// Server-side apply with the real kubectl 1.32: field ownership in managedFields, conflicts between field
// managers, --force-conflicts, removal of fields an applier stops applying, associative lists, dry-run and
// kubectl's upgrade from client-side apply.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => {
  t = await startTestServer();
  await t.ok(['apply', '-f', '-'], CRD);
  await t.ok(['wait', '--for=condition=established', '--timeout=20s', 'crd/gadgets.example.com']);
});
after(async () => {
  await t?.close();
});

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
          status:
            type: object
            properties:
              phase: {type: string}
`;

const cm = (name: string, data?: Record<string, string>) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data });

async function getJSON(...args: string[]): Promise<any> {
  return JSON.parse(await t.ok(['get', ...args, '-o', 'json', '--show-managed-fields']));
}

/** managedFields as {"manager/operation": fieldsV1}. */
function owners(obj: any): Record<string, unknown> {
  return Object.fromEntries((obj.metadata.managedFields ?? []).map((e: any) => [`${e.manager}/${e.operation}`, e.fieldsV1]));
}

const ssa = (manager: string, input: string, ...extra: string[]) =>
  t.kubectl(['apply', '--server-side', `--field-manager=${manager}`, ...extra, '-f', '-'], { input });

test('apply --server-side creates, updates and removes fields the manager no longer applies', async () => {
  const created = await ssa('alice', cm('own1', { a: '1', b: '2' }));
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /configmap\/own1 serverside-applied/);
  let o = await getJSON('cm', 'own1');
  assert.deepEqual(o.data, { a: '1', b: '2' });
  assert.deepEqual(owners(o), { 'alice/Apply': { 'f:data': { 'f:a': {}, 'f:b': {} } } });
  const entry = o.metadata.managedFields[0];
  assert.equal(entry.apiVersion, 'v1');
  assert.equal(entry.fieldsType, 'FieldsV1');
  assert.match(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  // Changing a value and dropping b: b was alice's alone, so it goes.
  assert.equal((await ssa('alice', cm('own1', { a: '3' }))).code, 0);
  o = await getJSON('cm', 'own1');
  assert.deepEqual(o.data, { a: '3' });
  assert.deepEqual(owners(o), { 'alice/Apply': { 'f:data': { 'f:a': {} } } });

  // A field another manager co-owns (same value) survives when one of them stops applying it.
  assert.equal((await ssa('bob', cm('own1', { a: '3' }))).code, 0);
  assert.equal((await ssa('alice', cm('own1'))).code, 0);
  o = await getJSON('cm', 'own1');
  assert.deepEqual(o.data, { a: '3' });
  assert.deepEqual(owners(o), { 'bob/Apply': { 'f:data': { 'f:a': {} } } });
});

test('two managers on one field conflict; --force-conflicts takes ownership; managedFields show both', async () => {
  assert.equal((await ssa('a', cm('shared', { x: '1', y: '1' }))).code, 0);
  const clash = await ssa('b', cm('shared', { x: '2' }));
  assert.equal(clash.code, 1);
  assert.match(clash.stderr, /^error: Apply failed with 1 conflict: conflict with "a": \.data\.x\n/);
  assert.match(clash.stderr, /re-run the apply\s+command with the `--force-conflicts` flag/);
  let o = await getJSON('cm', 'shared');
  assert.deepEqual(o.data, { x: '1', y: '1' }, 'a conflicting apply changes nothing');
  assert.deepEqual(owners(o), { 'a/Apply': { 'f:data': { 'f:x': {}, 'f:y': {} } } });

  const forced = await ssa('b', cm('shared', { x: '2' }), '--force-conflicts');
  assert.equal(forced.code, 0, forced.stderr);
  o = await getJSON('cm', 'shared');
  assert.deepEqual(o.data, { x: '2', y: '1' });
  assert.deepEqual(owners(o), {
    'a/Apply': { 'f:data': { 'f:y': {} } },
    'b/Apply': { 'f:data': { 'f:x': {} } },
  });
  const yaml = await t.ok(['get', 'cm', 'shared', '-o', 'yaml', '--show-managed-fields']);
  assert.match(yaml, /manager: a\n\s+operation: Apply/);
  assert.match(yaml, /manager: b\n\s+operation: Apply/);

  // Without --show-managed-fields kubectl hides them.
  assert.doesNotMatch(await t.ok(['get', 'cm', 'shared', '-o', 'yaml']), /managedFields/);

  // a now conflicts on x in turn; two fields in conflict are listed one per line.
  const back = await ssa('a', cm('shared', { x: '3', y: '1' }));
  assert.equal(back.code, 1);
  assert.match(back.stderr, /Apply failed with 1 conflict: conflict with "b": \.data\.x/);
  assert.equal((await ssa('b', cm('shared', { x: '2', y: '5' }), '--force-conflicts')).code, 0);
  const two = await ssa('c', cm('shared', { x: '9', y: '9' }));
  assert.equal(two.code, 1);
  assert.match(two.stderr, /Apply failed with 2 conflicts: conflicts with "b":\n- \.data\.x\n- \.data\.y\n/);
});

test('an Update manager (kubectl edit-style patch) conflicts with an applier, named with its version', async () => {
  assert.equal((await ssa('a', cm('upd', { k: '1' }))).code, 0);
  await t.ok(['patch', 'cm', 'upd', '--type=merge', '-p', '{"data":{"k":"2"}}', '--field-manager=patcher']);
  let o = await getJSON('cm', 'upd');
  assert.deepEqual(owners(o), { 'patcher/Update': { 'f:data': { 'f:k': {} } } }, 'the update took k from a; a owned nothing else');
  const clash = await ssa('a', cm('upd', { k: '3' }));
  assert.equal(clash.code, 1);
  assert.match(clash.stderr, /conflict with "patcher" using v1: \.data\.k/);
  // Applying the value the updater set is no conflict: the fields become shared.
  assert.equal((await ssa('a', cm('upd', { k: '2' }))).code, 0);
  o = await getJSON('cm', 'upd');
  assert.deepEqual(owners(o), { 'a/Apply': { 'f:data': { 'f:k': {} } }, 'patcher/Update': { 'f:data': { 'f:k': {} } } });
});

test('apply --server-side of a custom resource: create, update, removal, status untouched', async () => {
  const gadget = (spec: object) => JSON.stringify({ apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g1', namespace: 'default' }, spec });
  assert.equal((await ssa('ops', gadget({ size: 1, color: 'red' }))).code, 0);
  let o = await getJSON('gadget', 'g1');
  assert.deepEqual(o.spec, { size: 1, color: 'red' });
  assert.deepEqual(owners(o), { 'ops/Apply': { 'f:spec': { 'f:size': {}, 'f:color': {} } } });

  assert.equal((await ssa('ops', gadget({ size: 2 }))).code, 0);
  o = await getJSON('gadget', 'g1');
  assert.deepEqual(o.spec, { size: 2 }, 'color, solely owned by ops and no longer applied, is removed');

  // The status subresource is not written through the main resource, and not owned by its appliers.
  const withStatus = JSON.stringify({
    apiVersion: 'example.com/v1',
    kind: 'Gadget',
    metadata: { name: 'g1', namespace: 'default' },
    spec: { size: 2 },
    status: { phase: 'Up' },
  });
  assert.equal((await ssa('ops', withStatus)).code, 0);
  o = await getJSON('gadget', 'g1');
  assert.equal(o.status, undefined);
  assert.deepEqual(owners(o), { 'ops/Apply': { 'f:spec': { 'f:size': {} } } });
  // Through /status, only the status is owned.
  const st = await t.kubectl(['apply', '--server-side', '--field-manager=ctrl', '--subresource=status', '-f', '-'], { input: withStatus });
  assert.equal(st.code, 0, st.stderr);
  o = await getJSON('gadget', 'g1');
  assert.deepEqual(o.status, { phase: 'Up' });
  const ctrl = o.metadata.managedFields.find((e: any) => e.manager === 'ctrl');
  assert.deepEqual(ctrl, { ...ctrl, operation: 'Apply', subresource: 'status', fieldsV1: { 'f:status': { 'f:phase': {} } } });
});

test('associative lists: two managers each own one item by its key', async () => {
  const gadget = (ports: object[]) =>
    JSON.stringify({ apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g2', namespace: 'default' }, spec: { ports } });
  assert.equal((await ssa('web', gadget([{ name: 'http', port: 80 }]))).code, 0);
  assert.equal((await ssa('tls', gadget([{ name: 'https', port: 443 }]))).code, 0);
  let o = await getJSON('gadget', 'g2');
  assert.deepEqual(o.spec.ports, [
    { name: 'http', port: 80 },
    { name: 'https', port: 443 },
  ]);
  assert.deepEqual(owners(o), {
    'web/Apply': { 'f:spec': { 'f:ports': { 'k:{"name":"http"}': { '.': {}, 'f:name': {}, 'f:port': {} } } } },
    'tls/Apply': { 'f:spec': { 'f:ports': { 'k:{"name":"https"}': { '.': {}, 'f:name': {}, 'f:port': {} } } } },
  });
  const clash = await ssa(
    'tls',
    gadget([
      { name: 'https', port: 443 },
      { name: 'http', port: 8080 },
    ]),
  );
  assert.equal(clash.code, 1);
  assert.match(clash.stderr, /conflict with "web": \.spec\.ports\[name="http"\]\.port/);
  // web stops applying its item: only that item goes.
  assert.equal((await ssa('web', gadget([]))).code, 0);
  o = await getJSON('gadget', 'g2');
  assert.deepEqual(o.spec.ports, [{ name: 'https', port: 443 }]);
});

test("a Pod's containers are keyed by name: a second manager takes one container's image", async () => {
  const pod = (containers: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'default' }, spec: { containers } });
  assert.equal(
    (
      await ssa(
        'deployer',
        pod([
          { name: 'app', image: 'app:1' },
          { name: 'sidecar', image: 'proxy:1' },
        ]),
      )
    ).code,
    0,
  );
  const clash = await ssa('patcher', pod([{ name: 'sidecar', image: 'proxy:2' }]));
  assert.equal(clash.code, 1);
  assert.match(clash.stderr, /Apply failed with 1 conflict: conflict with "deployer": \.spec\.containers\[name="sidecar"\]\.image/);
  assert.equal((await ssa('patcher', pod([{ name: 'sidecar', image: 'proxy:2' }]), '--force-conflicts')).code, 0);
  const o = await getJSON('pod', 'p1');
  assert.deepEqual(
    o.spec.containers.map((c: any) => [c.name, c.image]),
    [
      ['app', 'app:1'],
      ['sidecar', 'proxy:2'],
    ],
  );
  const f = owners(o) as any;
  assert.deepEqual(f['patcher/Apply'], { 'f:spec': { 'f:containers': { 'k:{"name":"sidecar"}': { '.': {}, 'f:image': {}, 'f:name': {} } } } });
  assert.deepEqual(f['deployer/Apply']['f:spec']['f:containers'], {
    'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {} },
    'k:{"name":"sidecar"}': { '.': {}, 'f:name': {} },
  });
});

test('client-side apply then apply --server-side: the upgrade path needs no --force-conflicts', async () => {
  await t.ok(['apply', '-f', '-'], cm('csa', { a: '1', b: '1' }));
  let o = await getJSON('cm', 'csa');
  assert.deepEqual(Object.keys(owners(o)), ['kubectl-client-side-apply/Update']);

  const up = await t.kubectl(['apply', '--server-side', '-f', '-'], { input: cm('csa', { a: '2', b: '1' }) });
  assert.equal(up.code, 0, up.stderr);
  o = await getJSON('cm', 'csa');
  assert.deepEqual(o.data, { a: '2', b: '1' });
  const f = owners(o) as any;
  assert.equal(f['kubectl-client-side-apply/Update'], undefined, 'kubectl moved client-side-apply ownership to its apply manager');
  assert.deepEqual(f['kubectl/Apply'], { 'f:data': { 'f:a': {}, 'f:b': {} } });
  assert.deepEqual(JSON.parse(o.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']), JSON.parse(cm('csa', { a: '2', b: '1' })));

  // From now on kubectl owns by apply: dropping b removes it.
  assert.equal((await t.kubectl(['apply', '--server-side', '-f', '-'], { input: cm('csa', { a: '2' }) })).code, 0);
  o = await getJSON('cm', 'csa');
  assert.deepEqual(o.data, { a: '2' });
});

test('dry-run server-side apply changes nothing', async () => {
  assert.equal((await ssa('a', cm('dry', { v: '1' }))).code, 0);
  const before = await getJSON('cm', 'dry');
  const r = await t.kubectl(['apply', '--server-side', '--field-manager=b', '--force-conflicts', '--dry-run=server', '-o', 'json', '-f', '-'], {
    input: cm('dry', { v: '2' }),
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).data.v, '2', 'the reply shows the would-be object');
  assert.deepEqual(await getJSON('cm', 'dry'), before);
  const create = await t.kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: cm('dry-new', { v: '1' }) });
  assert.equal(create.code, 0, create.stderr);
  assert.match(create.stdout, /configmap\/dry-new serverside-applied \(server dry run\)/);
  assert.equal((await t.kubectl(['get', 'cm', 'dry-new'])).code, 1);
});

test('apply over the wire: 201 on create, YAML bodies, bad options and bodies rejected, managedFields reset', async () => {
  const path = '/api/v1/namespaces/default/configmaps/wire';
  const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wire\ndata:\n  k: v # a comment\n';
  const applyYaml = { 'Content-Type': 'application/apply-patch+yaml' };
  const noManager = await api(t.server, 'PATCH', path, yaml, applyYaml);
  assert.equal(noManager.status, 422);
  assert.equal(noManager.body.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  assert.equal((await api(t.server, 'GET', path)).status, 404);

  const created = await api(t.server, 'PATCH', `${path}?fieldManager=m`, yaml, applyYaml);
  assert.equal(created.status, 201);
  assert.deepEqual(created.body.data, { k: 'v' });
  const again = await api(t.server, 'PATCH', `${path}?fieldManager=m`, yaml, applyYaml);
  assert.equal(again.status, 200);
  assert.equal(again.body.metadata.resourceVersion, created.body.metadata.resourceVersion, 'a no-op apply writes nothing');

  const wrongKind = await api(t.server, 'PATCH', `${path}?fieldManager=m`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'wire' } }, applyYaml);
  assert.equal(wrongKind.status, 400);
  assert.equal(wrongKind.body.message, 'invalid object type: /v1, Kind=Secret');
  const withFields = await api(
    t.server,
    'PATCH',
    `${path}?fieldManager=m`,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'wire', managedFields: [] } },
    applyYaml,
  );
  assert.equal(withFields.status, 400);
  assert.equal(withFields.body.message, 'metadata.managedFields must be nil');
  const force = await api(t.server, 'PATCH', `${path}?fieldManager=m&force=true`, { data: { k: 'w' } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(force.status, 422);
  assert.match(force.body.message, /force: Forbidden: may not be specified for non-apply patch/);

  // A client may reset ownership with managedFields: [{}].
  const reset = await api(
    t.server,
    'PATCH',
    `${path}?fieldManager=m`,
    { metadata: { managedFields: [{}] } },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  assert.equal(reset.status, 200);
  assert.equal(reset.body.metadata.managedFields, undefined);
  // Untracked fields then belong to "before-first-apply" when someone applies.
  const next = await api(
    t.server,
    'PATCH',
    `${path}?fieldManager=n`,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'wire' }, data: { other: '1' } },
    applyYaml,
  );
  assert.equal(next.status, 200);
  assert.deepEqual(owners(next.body), {
    'n/Apply': { 'f:data': { 'f:other': {} } },
    'before-first-apply/Update': { 'f:data': { '.': {}, 'f:k': {} } },
  });
});
