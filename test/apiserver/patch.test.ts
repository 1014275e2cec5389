import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../src/apiserver/patch/index.ts';
import { StatusError } from '../../src/apiserver/errors.ts';
import type { JSONSchema } from '../../src/apiserver/resource.ts';

// ---- fixtures: the patch-relevant slice of the Pod / Deployment OpenAPI v3 schemas ----------------

const str = { type: 'string' };
const stringMap = { type: 'object', additionalProperties: str };
const mergeBy = (key: string, items: JSONSchema, strategy = 'merge'): JSONSchema => ({
  type: 'array',
  items,
  'x-kubernetes-patch-merge-key': key,
  'x-kubernetes-patch-strategy': strategy,
});

const container: JSONSchema = {
  type: 'object',
  properties: {
    name: str,
    image: str,
    imagePullPolicy: str,
    terminationMessagePath: str,
    args: { type: 'array', items: str }, // atomic
    command: { type: 'array', items: str },
    env: mergeBy('name', { type: 'object', properties: { name: str, value: str, valueFrom: { type: 'object' } } }),
    ports: mergeBy('containerPort', { type: 'object', properties: { containerPort: { type: 'integer' }, protocol: str, name: str } }),
    volumeMounts: mergeBy('mountPath', { type: 'object', properties: { name: str, mountPath: str } }),
    resources: { type: 'object', properties: { limits: stringMap, requests: stringMap } },
  },
};

const volume: JSONSchema = {
  type: 'object',
  properties: {
    name: str,
    configMap: { type: 'object', properties: { name: str } },
    emptyDir: { type: 'object', properties: { medium: str } },
    secret: { type: 'object', properties: { secretName: str } },
  },
};

const metadata: JSONSchema = {
  type: 'object',
  properties: {
    name: str,
    namespace: str,
    labels: stringMap,
    annotations: stringMap,
    finalizers: { type: 'array', items: str, 'x-kubernetes-patch-strategy': 'merge' },
    ownerReferences: mergeBy('uid', { type: 'object', properties: { uid: str, name: str, kind: str, apiVersion: str } }),
  },
};

const podSpec: JSONSchema = {
  type: 'object',
  properties: {
    containers: mergeBy('name', container),
    initContainers: mergeBy('name', container),
    volumes: mergeBy('name', volume, 'merge,retainKeys'),
    tolerations: { type: 'array', items: { type: 'object', properties: { key: str, operator: str } } },
    nodeSelector: stringMap,
  },
};

const podSchema: JSONSchema = {
  type: 'object',
  properties: { apiVersion: str, kind: str, metadata, spec: podSpec, status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
};

const deploymentSchema: JSONSchema = {
  type: 'object',
  properties: {
    metadata,
    spec: {
      type: 'object',
      properties: {
        replicas: { type: 'integer' },
        strategy: {
          type: 'object',
          'x-kubernetes-patch-strategy': 'retainKeys',
          properties: { type: str, rollingUpdate: { type: 'object', properties: { maxSurge: {}, maxUnavailable: {} } } },
        },
        template: { type: 'object', properties: { metadata, spec: podSpec } },
      },
    },
  },
};

/** A live pod as the server stores it: defaulted fields the user never wrote are present. */
function livePod(): any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web', tier: 'frontend' }, finalizers: ['example.com/a'] },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'nginx:1.25',
          imagePullPolicy: 'IfNotPresent',
          terminationMessagePath: '/dev/termination-log',
          env: [
            { name: 'MODE', value: 'prod' },
            { name: 'LOG', value: 'info' },
          ],
          ports: [{ containerPort: 80, protocol: 'TCP' }],
        },
        { name: 'sidecar', image: 'busybox:1.36', args: ['sleep', 'infinity'], imagePullPolicy: 'IfNotPresent' },
      ],
      volumes: [{ name: 'config', configMap: { name: 'web-config' } }],
      nodeSelector: { disk: 'ssd', zone: 'a' },
      tolerations: [{ key: 'a', operator: 'Exists' }],
    },
  };
}

function statusOf(fn: () => unknown): { code: number; reason: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StatusError, `expected StatusError, got ${err}`);
    return { code: err.code, reason: err.reason, message: err.message };
  }
  assert.fail('expected an error');
}

const smp = (doc: unknown, patch: unknown, schema: JSONSchema | undefined = podSchema): any => applyStrategicMergePatch(doc, patch, schema);

// ---- strategic merge patch ---------------------------------------------------------------------

test('SMP: kubectl apply changing one image keeps the other container and server defaults', () => {
  // What kubectl apply sends after editing only the app image in the manifest.
  const patch = {
    spec: {
      '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
      containers: [{ image: 'nginx:1.26', name: 'app' }],
    },
  };
  const live = livePod();
  const out = smp(live, patch);
  assert.deepEqual(
    out.spec.containers.map((c: any) => [c.name, c.image]),
    [
      ['app', 'nginx:1.26'],
      ['sidecar', 'busybox:1.36'],
    ],
  );
  assert.equal(out.spec.containers[0].imagePullPolicy, 'IfNotPresent');
  assert.equal(out.spec.containers[0].terminationMessagePath, '/dev/termination-log');
  assert.deepEqual(out.spec.containers[0].env, live.spec.containers[0].env);
  assert.deepEqual(out.spec.containers[1], live.spec.containers[1]);
  // The input document is untouched.
  assert.equal(live.spec.containers[0].image, 'nginx:1.25');
});

test('SMP: $patch: delete removes a container by merge key', () => {
  const out = smp(livePod(), { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } });
  assert.deepEqual(
    out.spec.containers.map((c: any) => c.name),
    ['app'],
  );
  // Deleting an item that is not there is a no-op.
  const same = smp(livePod(), { spec: { containers: [{ name: 'ghost', $patch: 'delete' }] } });
  assert.equal(same.spec.containers.length, 2);
});

test('SMP: kubectl apply removing a container sends a delete directive plus the new order', () => {
  const out = smp(livePod(), {
    spec: { '$setElementOrder/containers': [{ name: 'app' }], containers: [{ $patch: 'delete', name: 'sidecar' }] },
  });
  assert.deepEqual(
    out.spec.containers.map((c: any) => c.name),
    ['app'],
  );
});

test('SMP: kubectl apply swapping a container keeps the order the real server produces', () => {
  // Live [a, b(server-side extra), d]; the manifest drops "a" and adds "c" after "b".
  const live = { spec: { containers: [{ name: 'a' }, { name: 'b', other: 'x' }, { name: 'd', other: 'y' }] } };
  const out = smp(live, {
    spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'c' }], containers: [{ name: 'c' }, { name: 'a', $patch: 'delete' }] },
  });
  assert.deepEqual(out.spec.containers, [{ name: 'b', other: 'x' }, { name: 'd', other: 'y' }, { name: 'c' }]);
});

test('SMP: a new container without $setElementOrder goes first (real server order)', () => {
  const out = smp(livePod(), { spec: { containers: [{ name: 'logger', image: 'fluent-bit' }] } });
  assert.deepEqual(
    out.spec.containers.map((c: any) => c.name),
    ['logger', 'app', 'sidecar'],
  );
});

test('SMP: nested env merges by name and ports by containerPort', () => {
  const out = smp(livePod(), {
    spec: {
      containers: [
        {
          name: 'app',
          env: [
            { name: 'LOG', value: 'debug' },
            { name: 'NEW', value: '1' },
          ],
          ports: [
            { containerPort: 80, name: 'http' },
            { containerPort: 443, protocol: 'TCP' },
          ],
        },
      ],
    },
  });
  const app = out.spec.containers.find((c: any) => c.name === 'app');
  assert.deepEqual(app.env, [
    { name: 'MODE', value: 'prod' },
    { name: 'LOG', value: 'debug' },
    { name: 'NEW', value: '1' },
  ]);
  assert.deepEqual(app.ports, [
    { containerPort: 80, protocol: 'TCP', name: 'http' },
    { containerPort: 443, protocol: 'TCP' },
  ]);
});

test('SMP: $setElementOrder reorders and interleaves server-only items where they were', () => {
  const live = {
    spec: {
      containers: [{ name: '1', other: 'a' }, { name: '2', value: '2' }, { name: '9' }, { name: '3', value: '3' }, { name: '4', value: '4' }],
    },
  };
  const out = smp(live, { spec: { '$setElementOrder/containers': [{ name: '2' }, { name: '1' }, { name: '4' }, { name: '3' }] } });
  assert.deepEqual(
    out.spec.containers.map((c: any) => c.name),
    ['2', '1', '9', '4', '3'],
  );
  assert.equal(out.spec.containers[1].other, 'a');
});

test('SMP: $setElementOrder that disagrees with the patch list is refused', () => {
  const live = { spec: { containers: [{ name: '1' }, { name: '3' }, { name: '2' }] } };
  const s = statusOf(() =>
    smp(live, {
      spec: {
        '$setElementOrder/containers': [{ name: '1' }, { name: '2' }, { name: '3' }],
        containers: [
          { name: '3', image: 'x' },
          { name: '1', image: 'y' },
        ],
      },
    }),
  );
  assert.equal(s.code, 500);
  assert.match(s.message, /doesn't match \$setElementOrder list/);
});

test('SMP: $retainKeys on a retainKeys struct switches a Deployment to Recreate', () => {
  const live = { spec: { replicas: 2, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } } };
  const out = smp(live, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }, deploymentSchema);
  assert.deepEqual(out.spec.strategy, { type: 'Recreate' });
  assert.equal(out.spec.replicas, 2);
});

test('SMP: $retainKeys inside a merged list item swaps a volume source', () => {
  const out = smp(livePod(), {
    spec: {
      '$setElementOrder/volumes': [{ name: 'config' }],
      volumes: [{ $retainKeys: ['emptyDir', 'name'], emptyDir: {}, name: 'config' }],
    },
  });
  assert.deepEqual(out.spec.volumes, [{ name: 'config', emptyDir: {} }]);
});

test('SMP: a patch key missing from $retainKeys is a 400', () => {
  const s = statusOf(() => smp(livePod(), { spec: { nodeSelector: { $retainKeys: ['disk'], zone: 'b' } } }));
  assert.deepEqual([s.code, s.reason, s.message], [400, 'BadRequest', 'invalid patch format of retainKeys']);
  const t = statusOf(() => smp(livePod(), { spec: { nodeSelector: { $retainKeys: 'disk' } } }));
  assert.equal(t.message, 'invalid patch format of retainKeys');
});

test('SMP: primitive merge lists behave as sets; $deleteFromPrimitiveList removes', () => {
  const added = smp(livePod(), { metadata: { '$setElementOrder/finalizers': ['example.com/a', 'example.com/b'], finalizers: ['example.com/b'] } });
  assert.deepEqual(added.metadata.finalizers, ['example.com/a', 'example.com/b']);
  const dup = smp(livePod(), { metadata: { finalizers: ['example.com/a'] } });
  assert.deepEqual(dup.metadata.finalizers, ['example.com/a']);
  const removed = smp(livePod(), { metadata: { '$deleteFromPrimitiveList/finalizers': ['example.com/a'] } });
  assert.deepEqual(removed.metadata.finalizers, []);
  // Deleting from a list that does not exist does not create it.
  const none = smp({ metadata: {} }, { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } });
  assert.deepEqual(none.metadata, {});
  const bad = statusOf(() => smp(livePod(), { metadata: { $deleteFromPrimitiveListfinalizers: ['x'] } }));
  assert.deepEqual([bad.code, bad.message], [400, 'invalid patch format of primitive list']);
});

test('SMP: null deletes a key, scalars replace, maps merge', () => {
  const out = smp(livePod(), { metadata: { labels: { tier: null, version: 'v2' } }, spec: { nodeSelector: { zone: 'b' } } });
  assert.deepEqual(out.metadata.labels, { app: 'web', version: 'v2' });
  assert.deepEqual(out.spec.nodeSelector, { disk: 'ssd', zone: 'b' });
  const gone = smp(livePod(), { spec: { nodeSelector: null } });
  assert.equal('nodeSelector' in gone.spec, false);
});

test('SMP: lists without a merge strategy are replaced atomically', () => {
  const out = smp(livePod(), { spec: { tolerations: [{ key: 'b', operator: 'Equal' }], containers: [{ name: 'sidecar', args: ['sh'] }] } });
  assert.deepEqual(out.spec.tolerations, [{ key: 'b', operator: 'Equal' }]);
  assert.deepEqual(out.spec.containers[1].args, ['sh']);
});

test('SMP: paths the schema does not know merge maps and replace lists', () => {
  const live = { spec: { extra: { a: 1, b: { c: 2 } }, items: [{ name: 'x', v: 1 }] }, status: { conditions: [{ type: 'Ready' }], phase: 'Running' } };
  const out = smp(live, { spec: { extra: { b: { d: 3 } }, items: [{ name: 'y' }] }, status: { conditions: [{ type: 'Synced' }] } });
  assert.deepEqual(out.spec.extra, { a: 1, b: { c: 2, d: 3 } });
  assert.deepEqual(out.spec.items, [{ name: 'y' }]);
  assert.deepEqual(out.status, { conditions: [{ type: 'Synced' }], phase: 'Running' });
  // No schema at all behaves the same.
  assert.deepEqual(smp(live, { spec: { extra: { a: 2 } } }, undefined).spec.extra, { a: 2, b: { c: 2 } });
});

test('SMP: $patch: replace replaces a map or a whole merge list', () => {
  const map = smp(livePod(), { spec: { nodeSelector: { $patch: 'replace', gpu: 'true' } } });
  assert.deepEqual(map.spec.nodeSelector, { gpu: 'true' });
  const list = smp(livePod(), { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'alpine' }] } });
  assert.deepEqual(list.spec.containers, [{ name: 'only', image: 'alpine' }]);
  // $patch: delete on a map empties it.
  assert.deepEqual(smp(livePod(), { spec: { nodeSelector: { $patch: 'delete' } } }).spec.nodeSelector, {});
});

test('SMP: new values are taken without nulls or directives', () => {
  const out = smp({ spec: {} }, { spec: { containers: [{ name: 'a', image: null, env: [{ name: 'X', value: '1' }] }], nodeSelector: { a: 'b', c: null } } });
  assert.deepEqual(out.spec, { containers: [{ name: 'a', env: [{ name: 'X', value: '1' }] }], nodeSelector: { a: 'b' } });
  const created = smp({ spec: {} }, { spec: { '$setElementOrder/containers': [{ name: 'a' }], containers: [{ name: 'a' }] } });
  assert.deepEqual(created.spec, { containers: [{ name: 'a' }] });
});

test('SMP: errors are worded and coded like kube-apiserver', () => {
  const noKey = statusOf(() => smp(livePod(), { spec: { containers: [{ image: 'x' }] } }));
  assert.deepEqual([noKey.code, noKey.message], [500, 'map: map[image:x] does not contain declared merge key: name']);
  const mergeDirective = statusOf(() => smp(livePod(), { spec: { containers: [{ name: 'app', $patch: 'merge' }] } }));
  assert.deepEqual([mergeDirective.code, mergeDirective.message], [500, 'merging lists cannot yet be specified in the patch']);
  const unknown = statusOf(() => smp(livePod(), { spec: { nodeSelector: { $patch: 'bogus' } } }));
  assert.equal(unknown.message, 'unknown patch type: bogus in map: map[$patch:bogus]');
  const listOfLists = statusOf(() => smp({ metadata: { finalizers: [['a']] } }, { metadata: { finalizers: [['b']] } }));
  assert.deepEqual(
    [listOfLists.code, listOfLists.reason, listOfLists.message],
    [422, 'Invalid', 'the server rejected our request due to an error in our request'],
  );
  const order = statusOf(() => smp(livePod(), { spec: { '$setElementOrderX/containers': [] } }));
  assert.deepEqual([order.code, order.message], [400, 'invalid patch format of setElementOrder list']);
  const notObject = statusOf(() => smp(livePod(), [{ op: 'add' }]));
  assert.deepEqual([notObject.code, notObject.message], [400, 'json: cannot unmarshal array into Go value of type map[string]interface {}']);
});

test('SMP: a null patch changes nothing and a "__proto__" key stays data', () => {
  assert.deepEqual(smp(livePod(), null), livePod());
  const out = smp({ spec: {} }, JSON.parse('{"spec":{"__proto__":{"polluted":true}}}'));
  assert.equal(({} as any).polluted, undefined);
  assert.deepEqual(Object.keys(out.spec), ['__proto__']);
});

// ---- JSON patch --------------------------------------------------------------------------------

test('JSON patch: applies RFC 6902 operations to a copy', () => {
  const live = livePod();
  const out: any = applyJsonPatch(live, [
    { op: 'replace', path: '/spec/containers/0/image', value: 'nginx:1.27' },
    { op: 'add', path: '/metadata/annotations', value: {} },
    { op: 'add', path: '/metadata/annotations/example.com~1owner', value: 'team-a' },
    { op: 'remove', path: '/metadata/labels/tier' },
    { op: 'test', path: '/metadata/name', value: 'web' },
    { op: 'add', path: '/metadata/finalizers/-', value: 'example.com/b' },
  ]);
  assert.equal(out.spec.containers[0].image, 'nginx:1.27');
  assert.deepEqual(out.metadata.annotations, { 'example.com/owner': 'team-a' });
  assert.deepEqual(out.metadata.labels, { app: 'web' });
  assert.deepEqual(out.metadata.finalizers, ['example.com/a', 'example.com/b']);
  assert.equal(live.spec.containers[0].image, 'nginx:1.25');
});

test('JSON patch: an operation that cannot apply is the bare 422 kubectl shows', () => {
  for (const op of [
    { op: 'remove', path: '/metadata/labels/missing' },
    { op: 'replace', path: '/spec/missing/x', value: 1 },
    { op: 'test', path: '/metadata/name', value: 'other' },
    { op: 'add', path: '/spec/containers/9', value: {} },
    { op: 'frobnicate', path: '/spec' },
  ]) {
    const s = statusOf(() => applyJsonPatch(livePod(), [op]));
    assert.deepEqual([s.code, s.reason, s.message], [422, 'Invalid', 'the server rejected our request due to an error in our request'], JSON.stringify(op));
  }
});

test('JSON patch: undecodable bodies are 400, too many operations 413', () => {
  const obj = statusOf(() => applyJsonPatch(livePod(), { op: 'add' }));
  assert.deepEqual(
    [obj.code, obj.reason, obj.message],
    [400, 'BadRequest', 'error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp'],
  );
  const item = statusOf(() => applyJsonPatch(livePod(), ['add']));
  assert.equal(item.message, 'error decoding patch: json: cannot unmarshal string into Go value of type handlers.jsonPatchOp');
  const path = statusOf(() => applyJsonPatch(livePod(), [{ op: 'add', path: 5 }]));
  assert.equal(path.message, 'error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.path of type string');
  const ops = Array.from({ length: 10001 }, () => ({ op: 'test', path: '/kind', value: 'Pod' }));
  const big = statusOf(() => applyJsonPatch(livePod(), ops));
  assert.deepEqual(
    [big.code, big.reason, big.message],
    [413, 'RequestEntityTooLarge', 'Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001'],
  );
  assert.equal((applyJsonPatch(livePod(), ops.slice(0, 10000)) as any).kind, 'Pod');
});

// ---- JSON merge patch --------------------------------------------------------------------------

test('merge patch: null deletes, objects merge, lists are replaced whole', () => {
  const live = livePod();
  const out: any = applyMergePatch(live, {
    metadata: { labels: { tier: null, version: 'v2' } },
    spec: { containers: [{ name: 'app', image: 'nginx:1.27' }], nodeSelector: { zone: null } },
  });
  assert.deepEqual(out.metadata.labels, { app: 'web', version: 'v2' });
  // Unlike SMP, the whole list is replaced: the sidecar and the defaults are gone.
  assert.deepEqual(out.spec.containers, [{ name: 'app', image: 'nginx:1.27' }]);
  assert.deepEqual(out.spec.nodeSelector, { disk: 'ssd' });
  assert.equal(live.metadata.labels.tier, 'frontend');
});

test('merge patch: an object over a scalar starts from {}, nulls inside new objects are dropped', () => {
  const out: any = applyMergePatch({ a: 'x', b: [1] }, { a: { c: 1, d: null }, b: { e: 2 } });
  assert.deepEqual(out, { a: { c: 1 }, b: { e: 2 } });
});

test('merge patch: kubectl diff style resourceVersion precondition merges like any field', () => {
  const out: any = applyMergePatch(livePod(), { metadata: { resourceVersion: '101' } });
  assert.equal(out.metadata.resourceVersion, '101');
});

test('merge patch: non-object bodies', () => {
  assert.deepEqual(applyMergePatch({ a: 1 }, [1, 2]), [1, 2]);
  for (const p of [null, 'x', 3]) {
    const s = statusOf(() => applyMergePatch({ a: 1 }, p));
    assert.deepEqual([s.code, s.message], [400, 'Invalid JSON Patch']);
  }
  const out: any = applyMergePatch({}, JSON.parse('{"__proto__":{"polluted":true}}'));
  assert.equal(({} as any).polluted, undefined);
  assert.deepEqual(Object.keys(out), ['__proto__']);
});
