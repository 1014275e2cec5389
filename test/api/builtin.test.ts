import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { KObject, ResourceDefinition } from '../../src/apiserver/resource.ts';
import { bootstrapObjects, builtinResources } from '../../src/api/builtin/index.ts';
import { humanDuration } from '../../src/apiserver/format.ts';
import { formatQuantity, parseQuantity } from '../../src/api/builtin/quantity.ts';
import { podQOSClass } from '../../src/api/builtin/resources.ts';

const defs = builtinResources();
const def = (group: string, resource: string): ResourceDefinition => {
  const d = defs.find((x) => x.group === group && x.resource === resource);
  assert.ok(d, `${group}/${resource} defined`);
  return d;
};

/** Cells by column name, as the Table endpoint would produce them (always with the wide columns). */
const cells = (d: ResourceDefinition, obj: KObject): Record<string, unknown> => Object.fromEntries(d.columns.map((c) => [c.name, c.cell!(obj)]));
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const MIN = 60_000;

/** Runs the create strategy the way the generic layer does: prepare, then validate. */
function create(d: ResourceDefinition, obj: KObject) {
  const o = structuredClone(obj);
  d.strategy?.prepareForCreate?.(o);
  return { obj: o, errors: d.strategy?.validate?.(o) ?? [] };
}
function update(d: ResourceDefinition, obj: KObject, old: KObject) {
  const o = structuredClone(obj);
  d.strategy?.prepareForUpdate?.(o, old);
  return { obj: o, errors: d.strategy?.validate?.(o, old) ?? [] };
}

test('humanDuration matches apimachinery duration.HumanDuration', () => {
  const s = 1000;
  const h = 60 * MIN;
  const d = 24 * h;
  const cases: Array<[number, string]> = [
    [-3 * s, '<invalid>'],
    [-1500, '0s'],
    [0, '0s'],
    [5 * s, '5s'],
    [119 * s, '119s'],
    [2 * MIN, '2m'],
    [200 * s, '3m20s'],
    [10 * MIN, '10m'],
    [179 * MIN, '179m'],
    [3 * h, '3h'],
    [5 * h + 3 * MIN, '5h3m'],
    [8 * h, '8h'],
    [47 * h, '47h'],
    [2 * d + 5 * h, '2d5h'],
    [3 * d, '3d'],
    [8 * d, '8d'],
    [400 * d, '400d'],
    [(2 * 365 + 100) * d, '2y100d'],
    [3 * 365 * d, '3y'],
    [9 * 365 * d, '9y'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}ms`);
});

test('discovery data matches the real server', () => {
  const pods = def('', 'pods');
  assert.deepEqual([pods.shortNames, pods.categories, pods.namespaced], [['po'], ['all'], true]);
  assert.deepEqual(def('', 'namespaces').verbs, ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']);
  assert.deepEqual(def('', 'configmaps').verbs, ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
  assert.deepEqual(def('apiextensions.k8s.io', 'customresourcedefinitions').shortNames, ['crd', 'crds']);
  assert.deepEqual(
    ['configmaps', 'namespaces', 'events', 'serviceaccounts', 'nodes', 'services'].map((r) => def('', r).shortNames),
    [['cm'], ['ns'], ['ev'], ['sa'], ['no'], ['svc']],
  );
  assert.deepEqual(def('events.k8s.io', 'events').shortNames, ['ev']);
  assert.equal(def('', 'nodes').namespaced, false);
  for (const d of defs) assert.equal(d.strategicMergePatch, true, d.resource);
  // Pods, namespaces, service accounts and services answer DELETE with the object, the rest with a Status.
  assert.deepEqual(
    defs
      .filter((d) => d.deleteReturnsObject)
      .map((d) => d.resource)
      .sort(),
    ['namespaces', 'pods', 'serviceaccounts', 'services'],
  );
  assert.deepEqual(
    defs.filter((d) => d.generation).map((d) => d.resource),
    ['customresourcedefinitions', 'daemonsets', 'deployments', 'replicasets', 'statefulsets', 'cronjobs', 'jobs', 'poddisruptionbudgets'],
  );
  assert.deepEqual(
    [
      ['apps', 'deployments'],
      ['apps', 'replicasets'],
      ['apps', 'daemonsets'],
      ['apps', 'statefulsets'],
      ['batch', 'cronjobs'],
      ['policy', 'poddisruptionbudgets'],
      ['scheduling.k8s.io', 'priorityclasses'],
    ].map(([g, r]) => def(g, r).shortNames),
    [['deploy'], ['rs'], ['ds'], ['sts'], ['cj'], ['pdb'], ['pc']],
  );
  assert.deepEqual(
    defs.filter((d) => d.categories?.includes('all')).map((d) => d.resource),
    ['services', 'pods', 'daemonsets', 'deployments', 'replicasets', 'statefulsets', 'cronjobs', 'jobs'],
  );
});

test('pod printer: running pod with one of two containers ready and restarts', () => {
  const pods = def('', 'pods');
  const pod = {
    metadata: { name: 'web', creationTimestamp: ago(2 * 60 * MIN) },
    spec: { nodeName: 'edge-1', containers: [{ name: 'app' }, { name: 'sidecar' }] },
    status: {
      phase: 'Running',
      podIP: '10.1.0.7',
      podIPs: [{ ip: '10.1.0.7' }],
      conditions: [{ type: 'Ready', status: 'False' }],
      containerStatuses: [
        { name: 'app', ready: true, restartCount: 0, state: { running: { startedAt: ago(MIN) } } },
        { name: 'sidecar', ready: false, restartCount: 3, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(5 * MIN) } } },
      ],
    },
  };
  assert.deepEqual(cells(pods, pod), {
    Ready: '1/2',
    Status: 'Running',
    Restarts: '3 (5m ago)',
    Age: '120m',
    IP: '10.1.0.7',
    Node: 'edge-1',
    'Nominated Node': '<none>',
    'Readiness Gates': '<none>',
  });
  assert.deepEqual(
    pods.columns.map((c) => [c.name, c.type, c.priority ?? 0]),
    [
      ['Ready', 'string', 0],
      ['Status', 'string', 0],
      ['Restarts', 'string', 0],
      ['Age', 'string', 0],
      ['IP', 'string', 1],
      ['Node', 'string', 1],
      ['Nominated Node', 'string', 1],
      ['Readiness Gates', 'string', 1],
    ],
  );
});

test('pod printer: waiting reasons, init containers, completion and termination', () => {
  const pods = def('', 'pods');
  const base = { metadata: { name: 'p', creationTimestamp: ago(30 * 1000) }, spec: { containers: [{ name: 'c' }] } };
  const status = (s: KObject, meta: KObject = {}) => cells(pods, { ...base, metadata: { ...base.metadata, ...meta }, status: s });

  const crash = status({
    phase: 'Running',
    containerStatuses: [
      {
        name: 'c',
        ready: false,
        restartCount: 5,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
        lastState: { terminated: { exitCode: 2, finishedAt: ago(40 * 1000) } },
      },
    ],
  });
  assert.deepEqual([crash.Ready, crash.Status, crash.Restarts], ['0/1', 'CrashLoopBackOff', '5 (40s ago)']);

  assert.equal(status({ phase: 'Pending' }).Status, 'Pending');
  assert.equal(status({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] }).Status, 'SchedulingGated');
  assert.equal(
    status({ phase: 'Succeeded', containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] }).Status,
    'Completed',
  );
  assert.equal(status({ phase: 'Failed', containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 137 } } }] }).Status, 'ExitCode:137');
  assert.equal(status({ phase: 'Failed', reason: 'Evicted' }).Status, 'Evicted');
  assert.equal(status({ phase: 'Running' }, { deletionTimestamp: ago(0) }).Status, 'Terminating');
  assert.equal(status({ phase: 'Succeeded' }, { deletionTimestamp: ago(0) }).Status, 'Succeeded');
  assert.equal(status({ phase: 'Running', reason: 'NodeLost' }, { deletionTimestamp: ago(0) }).Status, 'Unknown');

  const init = (initStatus: KObject) =>
    cells(pods, {
      ...base,
      spec: { initContainers: [{ name: 'i1' }, { name: 'i2' }], containers: [{ name: 'c' }] },
      status: { phase: 'Pending', initContainerStatuses: [{ name: 'i1', state: { terminated: { exitCode: 0 } } }, initStatus] },
    });
  assert.equal(init({ name: 'i2', state: { running: {} } }).Status, 'Init:1/2');
  assert.equal(init({ name: 'i2', state: { waiting: { reason: 'ImagePullBackOff' } } }).Status, 'Init:ImagePullBackOff');
  assert.equal(init({ name: 'i2', state: { terminated: { exitCode: 3 } } }).Status, 'Init:ExitCode:3');

  // A sidecar (restartable init container) counts towards READY.
  const sidecar = cells(pods, {
    ...base,
    spec: { initContainers: [{ name: 'proxy', restartPolicy: 'Always' }], containers: [{ name: 'c' }] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Initialized', status: 'True' }],
      initContainerStatuses: [{ name: 'proxy', started: true, ready: true, restartCount: 1, state: { running: {} } }],
      containerStatuses: [{ name: 'c', ready: true, restartCount: 0, state: { running: {} } }],
    },
  });
  assert.deepEqual([sidecar.Ready, sidecar.Status, sidecar.Restarts], ['2/2', 'Running', '1']);

  const gated = cells(pods, {
    ...base,
    spec: { containers: [{ name: 'c' }], readinessGates: [{ conditionType: 'x/ok' }, { conditionType: 'y/ok' }] },
    status: { conditions: [{ type: 'x/ok', status: 'True' }] },
  });
  assert.equal(gated['Readiness Gates'], '1/2');
});

test('node printer: status, roles from labels and wide columns', () => {
  const nodes = def('', 'nodes');
  const node = {
    metadata: {
      name: 'edge-1',
      creationTimestamp: ago(3 * 24 * 60 * MIN),
      labels: { 'node-role.kubernetes.io/edge': '', 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/role': 'gateway' },
    },
    spec: {},
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        { type: 'Ready', status: 'True' },
      ],
      addresses: [
        { type: 'Hostname', address: 'edge-1' },
        { type: 'InternalIP', address: '192.168.1.10' },
      ],
      nodeInfo: { kubeletVersion: 'v1.32.4', osImage: 'EVE-OS 13.4.0', kernelVersion: '6.1.0', containerRuntimeVersion: 'containerd://1.7.0' },
    },
  };
  assert.deepEqual(cells(nodes, node), {
    Status: 'Ready',
    Roles: 'control-plane,edge,gateway',
    Age: '3d',
    Version: 'v1.32.4',
    'Internal-IP': '192.168.1.10',
    'External-IP': '<none>',
    'OS-Image': 'EVE-OS 13.4.0',
    'Kernel-Version': '6.1.0',
    'Container-Runtime': 'containerd://1.7.0',
  });
  const cordoned = cells(nodes, { metadata: { name: 'n' }, spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } });
  assert.deepEqual([cordoned.Status, cordoned.Roles, cordoned.Age, cordoned['OS-Image']], ['NotReady,SchedulingDisabled', '<none>', '<unknown>', '<unknown>']);
  assert.equal(cells(nodes, { metadata: { name: 'n' } }).Status, 'Unknown');
  assert.equal(nodes.fieldSelectors!['spec.unschedulable']({ spec: { unschedulable: true } }), 'true');
  assert.equal(nodes.fieldSelectors!['spec.unschedulable']({ spec: {} }), 'false');
});

test('service printer: kubectl columns per type, wide selector', () => {
  const svcs = def('', 'services');
  const created = ago(3 * MIN);
  const svc = (spec: KObject, status: KObject = {}) => ({ metadata: { creationTimestamp: created }, spec, status });
  assert.deepEqual(
    cells(
      svcs,
      svc({
        type: 'ClusterIP',
        clusterIP: '10.96.0.7',
        selector: { b: '2', a: '1' },
        ports: [
          { port: 80, protocol: 'TCP' },
          { port: 53, protocol: 'UDP' },
        ],
      }),
    ),
    {
      Type: 'ClusterIP',
      'Cluster-IP': '10.96.0.7',
      'External-IP': '<none>',
      'Port(s)': '80/TCP,53/UDP',
      Age: '3m',
      Selector: 'a=1,b=2',
    },
  );
  assert.deepEqual(cells(svcs, svc({ type: 'LoadBalancer', clusterIP: '10.96.0.8', ports: [{ port: 443, nodePort: 31443, protocol: 'TCP' }] })), {
    Type: 'LoadBalancer',
    'Cluster-IP': '10.96.0.8',
    'External-IP': '<pending>',
    'Port(s)': '443:31443/TCP',
    Age: '3m',
    Selector: '<none>',
  });
  assert.equal(
    cells(
      svcs,
      svc({ type: 'LoadBalancer', clusterIP: '10.96.0.8', ports: [] }, { loadBalancer: { ingress: [{ ip: '203.0.113.9' }, { hostname: 'lb.example.com' }] } }),
    )['External-IP'],
    '203.0.113.9,lb.example.com',
  );
  assert.deepEqual(cells(svcs, svc({ type: 'ExternalName', externalName: 'db.example.com' })), {
    Type: 'ExternalName',
    'Cluster-IP': '<none>',
    'External-IP': 'db.example.com',
    'Port(s)': '<none>',
    Age: '3m',
    Selector: '<none>',
  });
});

test('event printers: core/v1 and events.k8s.io/v1 print the same columns', () => {
  const core = def('', 'events');
  assert.deepEqual(
    core.columns.map((c) => [c.name, c.priority ?? 0]),
    [
      ['Last Seen', 0],
      ['Type', 0],
      ['Reason', 0],
      ['Object', 0],
      ['Subobject', 1],
      ['Source', 1],
      ['Message', 0],
      ['First Seen', 1],
      ['Count', 1],
      ['Name', 1],
    ],
  );
  assert.equal(core.columns.find((c) => c.name === 'Name')!.format, 'name');
  const ev = {
    metadata: { name: 'web.17a', namespace: 'default' },
    involvedObject: { kind: 'Pod', name: 'web', namespace: 'default', fieldPath: 'spec.containers{app}' },
    reason: 'BackOff',
    message: 'Back-off restarting failed container\n',
    source: { component: 'kubelet', host: 'edge-1' },
    firstTimestamp: ago(10 * MIN),
    lastTimestamp: ago(30 * 1000),
    count: 7,
    type: 'Warning',
  };
  assert.deepEqual(cells(core, ev), {
    'Last Seen': '30s',
    Type: 'Warning',
    Reason: 'BackOff',
    Object: 'pod/web',
    Subobject: 'spec.containers{app}',
    Source: 'kubelet, edge-1',
    Message: 'Back-off restarting failed container',
    'First Seen': '10m',
    Count: 7,
    Name: 'web.17a',
  });
  const v1 = def('events.k8s.io', 'events');
  const newStyle = {
    metadata: { name: 'n.1', namespace: 'default' },
    eventTime: ago(90 * 1000),
    reportingController: 'kubeve.io/scheduler',
    reportingInstance: 'kubeve-0',
    action: 'Binding',
    reason: 'Scheduled',
    regarding: { kind: 'Pod', name: 'web', namespace: 'default' },
    note: 'Successfully assigned default/web to edge-1',
    type: 'Normal',
  };
  const c = cells(v1, newStyle);
  assert.deepEqual(
    [c['Last Seen'], c['First Seen'], c.Object, c.Source, c.Count, c.Message],
    ['90s', '90s', 'pod/web', 'kubeve.io/scheduler, kubeve-0', 1, 'Successfully assigned default/web to edge-1'],
  );
  assert.deepEqual(create(v1, newStyle).errors, []);
  assert.equal(v1.fieldSelectors!['regarding.name'](newStyle), 'web');
  assert.equal(core.fieldSelectors!.source({ reportingComponent: 'x' }), 'x');
});

test('event validation: namespaces must agree and new events need their reporting fields', () => {
  const core = def('', 'events');
  const bad = create(core, { metadata: { name: 'e', namespace: 'team-a' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'team-b' } });
  assert.deepEqual(
    bad.errors.map((e) => `${e.field}: ${e.detail}`),
    ['involvedObject.namespace: Invalid value: "team-b": does not match event.namespace'],
  );
  const { obj } = create(core, { metadata: { name: 'e', namespace: 'team-a' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'team-a' } });
  // Fields the real server always serializes.
  assert.deepEqual([obj.reportingComponent, obj.reportingInstance, obj.firstTimestamp, obj.eventTime, obj.source], ['', '', null, null, {}]);

  const v1 = def('events.k8s.io', 'events');
  const errs = create(v1, {
    metadata: { name: 'e', namespace: 'default' },
    eventTime: ago(0),
    type: 'Info',
    regarding: { kind: 'Pod', name: 'p', namespace: 'default' },
  }).errors;
  // An empty reportingController is both missing and not a qualified name (empty name part, regex), as upstream reports it.
  assert.deepEqual(
    errs.map((e) => e.field),
    ['reportingController', 'reportingController', 'reportingController', 'reportingInstance', 'action', 'reason', 'type'],
  );
});

test('small kinds: cells and field selectors', () => {
  const created = ago(200 * 1000);
  assert.deepEqual(cells(def('', 'configmaps'), { metadata: { creationTimestamp: created }, data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } }), {
    Data: 3,
    Age: '3m20s',
  });
  assert.deepEqual(cells(def('', 'secrets'), { metadata: { creationTimestamp: created }, type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } }), {
    Type: 'kubernetes.io/tls',
    Data: 2,
    Age: '3m20s',
  });
  assert.deepEqual(cells(def('', 'serviceaccounts'), { metadata: { creationTimestamp: created } }), { Secrets: 0, Age: '3m20s' });
  assert.deepEqual(cells(def('', 'namespaces'), { metadata: { creationTimestamp: created }, status: { phase: 'Terminating' } }), {
    Status: 'Terminating',
    Age: '3m20s',
  });
  assert.deepEqual(cells(def('coordination.k8s.io', 'leases'), { metadata: { creationTimestamp: created }, spec: { holderIdentity: 'edge-1' } }), {
    Holder: 'edge-1',
    Age: '3m20s',
  });
  assert.deepEqual(def('apiextensions.k8s.io', 'customresourcedefinitions').columns, []);
  assert.equal(def('', 'secrets').fieldSelectors!.type({ type: 'Opaque' }), 'Opaque');
  assert.equal(def('', 'namespaces').fieldSelectors!['status.phase']({ status: { phase: 'Active' } }), 'Active');
  const pf = def('', 'pods').fieldSelectors!;
  const pod = {
    spec: { nodeName: 'n1', restartPolicy: 'Never', schedulerName: 'default-scheduler', serviceAccountName: 'default' },
    status: { phase: 'Running', podIPs: [{ ip: '10.0.0.1' }] },
  };
  assert.deepEqual(
    Object.keys(pf).map((k) => pf[k](pod)),
    ['n1', 'Never', 'default-scheduler', 'default', 'false', 'Running', '10.0.0.1', ''],
  );
});

test('secret strategy: type default, stringData folded into data, base64 and type checks', () => {
  const secrets = def('', 'secrets');
  const ok = create(secrets, { metadata: { name: 's' }, data: { a: 'YQ==' }, stringData: { b: 'hello' } });
  assert.deepEqual(ok.errors, []);
  assert.deepEqual([ok.obj.type, ok.obj.data, ok.obj.stringData], ['Opaque', { a: 'YQ==', b: 'aGVsbG8=' }, undefined]);

  const bad = create(secrets, { metadata: { name: 's' }, data: { token: 'not base64!' } });
  assert.equal(bad.errors.length, 1);
  assert.equal(bad.errors[0].field, 'data[token]');
  assert.equal(bad.errors[0].type, 'FieldValueInvalid');
  assert.match(bad.errors[0].detail, /^Invalid value: "not base64!": illegal base64 data at input byte 3$/);

  const badKey = create(secrets, { metadata: { name: 's' }, stringData: { 'a/b': 'x' } });
  assert.equal(badKey.errors[0].field, 'data[a/b]');

  const tls = create(secrets, { metadata: { name: 's' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'YQ==' } });
  assert.deepEqual(
    tls.errors.map((e) => `${e.field}: ${e.detail}`),
    ['data[tls.key]: Required value'],
  );

  const old = ok.obj;
  assert.deepEqual(
    update(secrets, { ...old, type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } }, old).errors.map((e) => e.field),
    ['type'],
  );
  const frozen = { ...old, immutable: true };
  assert.deepEqual(
    update(secrets, { ...frozen, immutable: false, data: { a: 'Yg==' } }, frozen).errors.map((e) => `${e.field}: ${e.detail}`),
    ['immutable: Forbidden: field is immutable when `immutable` is set', 'data: Forbidden: field is immutable when `immutable` is set'],
  );
});

test('configmap strategy: key rules and no key in both data and binaryData', () => {
  const cms = def('', 'configmaps');
  assert.deepEqual(create(cms, { metadata: { name: 'c' }, data: { 'app.conf': 'x' }, binaryData: { logo: 'iVBORw0KGgo=' } }).errors, []);
  const errs = create(cms, { metadata: { name: 'c' }, data: { k: 'x', 'bad key': 'y' }, binaryData: { k: 'AA==' } }).errors;
  assert.deepEqual(
    errs.map((e) => e.field),
    ['data[bad key]', 'data[k]', 'binaryData[k]'],
  );
  assert.match(errs[0].detail, /a valid config key must consist of alphanumeric characters/);
  assert.equal(errs[1].detail, 'Invalid value: "k": duplicate of key present in binaryData');
});

test('namespace strategy: finalizer, phase and name label; status and finalizers kept on update', () => {
  const ns = def('', 'namespaces');
  const { obj, errors } = create(ns, { metadata: { name: 'team-a' }, spec: { finalizers: ['example.com/cleanup'] }, status: { phase: 'Terminating' } });
  assert.deepEqual(errors, []);
  assert.deepEqual(obj.spec.finalizers, ['example.com/cleanup', 'kubernetes']);
  assert.deepEqual(obj.status, { phase: 'Active' });
  assert.equal(obj.metadata.labels['kubernetes.io/metadata.name'], 'team-a');
  const upd = update(ns, { metadata: { name: 'team-a', labels: { a: 'b' } }, spec: { finalizers: [] }, status: {} }, obj);
  assert.deepEqual(
    [upd.obj.spec.finalizers, upd.obj.status, upd.obj.metadata.labels],
    [obj.spec.finalizers, obj.status, { a: 'b', 'kubernetes.io/metadata.name': 'team-a' }],
  );
  assert.deepEqual(
    create(ns, { metadata: { name: 'a.b' } }).errors.map((e) => e.detail),
    ['Invalid value: "a.b": must not contain dots'],
  );
});

test('bootstrap namespaces', () => {
  const all = bootstrapObjects();
  const objs = all.filter((o) => o.kind === 'Namespace');
  assert.deepEqual(
    objs.map((o) => o.metadata.name),
    ['default', 'kube-system', 'kube-public', 'kube-node-lease'],
  );
  // The system priority classes kube creates at start-up.
  assert.deepEqual(
    all.filter((o) => o.kind === 'PriorityClass').map((o) => [o.metadata.name, o.value]),
    [
      ['system-node-critical', 2000001000],
      ['system-cluster-critical', 2000000000],
    ],
  );
  for (const o of objs) assert.deepEqual([o.apiVersion, o.kind, o.spec.finalizers, o.status.phase], ['v1', 'Namespace', ['kubernetes'], 'Active']);
});

test('pod strategy: defaults, QoS class and initial status', () => {
  const pods = def('', 'pods');
  const { obj, errors } = create(pods, {
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'nginx',
          ports: [{ containerPort: 80 }],
          resources: { limits: { cpu: 0.5, memory: '128Mi' } },
          readinessProbe: { httpGet: { port: 80 } },
          env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        },
        { name: 'pinned', image: 'registry.local:5000/tools:1.2', resources: { limits: { cpu: '1', memory: '1Gi' } } },
      ],
      volumes: [{ name: 'scratch' }, { name: 'cfg', configMap: { name: 'cfg' } }],
    },
  });
  assert.deepEqual(errors, []);
  const spec = obj.spec;
  assert.deepEqual(
    [
      spec.restartPolicy,
      spec.dnsPolicy,
      spec.terminationGracePeriodSeconds,
      spec.schedulerName,
      spec.serviceAccountName,
      spec.enableServiceLinks,
      spec.securityContext,
    ],
    ['Always', 'ClusterFirst', 30, 'default-scheduler', 'default', true, {}],
  );
  const [app, pinned] = spec.containers;
  assert.deepEqual([app.imagePullPolicy, pinned.imagePullPolicy], ['Always', 'IfNotPresent']);
  assert.deepEqual([app.terminationMessagePath, app.terminationMessagePolicy, app.ports[0].protocol], ['/dev/termination-log', 'File', 'TCP']);
  assert.deepEqual(app.resources, { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '500m', memory: '128Mi' } });
  assert.deepEqual(app.readinessProbe, {
    httpGet: { port: 80, path: '/', scheme: 'HTTP' },
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
  });
  assert.equal(app.env[0].valueFrom.fieldRef.apiVersion, 'v1');
  assert.deepEqual(spec.volumes, [
    { name: 'scratch', emptyDir: {} },
    { name: 'cfg', configMap: { name: 'cfg', defaultMode: 420 } },
  ]);
  assert.deepEqual(obj.status, { phase: 'Pending', qosClass: 'Guaranteed' });

  const gated = create(pods, {
    metadata: { name: 'g' },
    spec: { schedulingGates: [{ name: 'kubeve.io/wait' }], containers: [{ name: 'c', image: 'busybox:1.36' }] },
  }).obj;
  assert.equal(gated.status.qosClass, 'BestEffort');
  assert.deepEqual([gated.status.conditions[0].type, gated.status.conditions[0].reason], ['PodScheduled', 'SchedulingGated']);
});

test('pod QoS classes', () => {
  const c = (resources: KObject) => ({ name: 'c', image: 'x', resources });
  assert.equal(podQOSClass({ containers: [c({})] }), 'BestEffort');
  assert.equal(podQOSClass({ containers: [c({ requests: { cpu: '100m' } })] }), 'Burstable');
  assert.equal(podQOSClass({ containers: [c({ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1000m', memory: '1024Mi' } })] }), 'Guaranteed');
  assert.equal(podQOSClass({ containers: [c({ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } }), c({})] }), 'Burstable');
});

test('pod validation rejects bad specs with the real field paths', () => {
  const pods = def('', 'pods');
  const errs = create(pods, {
    metadata: { name: 'p' },
    spec: {
      restartPolicy: 'Sometimes',
      containers: [
        { name: 'a', image: '', ports: [{ containerPort: 70000 }], volumeMounts: [{ name: 'missing', mountPath: '/x' }] },
        { name: 'a', image: 'x', resources: { limits: { cpu: '1' }, requests: { cpu: '2' } } },
      ],
    },
  }).errors.map((e) => `${e.field}: ${e.detail}`);
  assert.deepEqual(errs, [
    'spec.containers[0].image: Required value',
    'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    'spec.containers[0].volumeMounts[0].name: Not found: "missing"',
    'spec.containers[1].name: Duplicate value: "a"',
    'spec.containers[1].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1',
    'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
  ]);
  const q = create(pods, { metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'x', resources: { limits: { memory: '1 GB' } } }] } }).errors;
  assert.equal(q[0].field, 'spec.containers[0].resources.limits[memory]');
  const tol = create(pods, {
    metadata: { name: 'p' },
    spec: {
      containers: [{ name: 'a', image: 'x' }],
      tolerations: [
        { operator: 'Exists', value: 'v' },
        { key: 'k', tolerationSeconds: 5 },
      ],
    },
  }).errors;
  assert.deepEqual(
    tol.map((e) => e.field),
    ['spec.tolerations[0].operator', 'spec.tolerations[1].effect'],
  );
});

test('pod updates: only images, deadlines and added tolerations may change', () => {
  const pods = def('', 'pods');
  const old = create(pods, {
    metadata: { name: 'web' },
    spec: { nodeName: 'edge-1', containers: [{ name: 'app', image: 'nginx:1.25' }], tolerations: [{ key: 'k', operator: 'Exists' }] },
  }).obj;
  old.status = { phase: 'Running' };

  const image = update(pods, { ...old, spec: { ...old.spec, containers: [{ ...old.spec.containers[0], image: 'nginx:1.27' }] }, status: {} }, old);
  assert.deepEqual(image.errors, []);
  assert.deepEqual(image.obj.status, { phase: 'Running' });

  const tol = update(
    pods,
    { ...old, spec: { ...old.spec, tolerations: [...old.spec.tolerations, { key: 'k2', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }] } },
    old,
  );
  assert.deepEqual(tol.errors, []);

  // A PUT of the original manifest gets the same defaults again, so it is no change.
  assert.deepEqual(
    update(
      pods,
      {
        metadata: { name: 'web' },
        spec: { nodeName: 'edge-1', containers: [{ name: 'app', image: 'nginx:1.25' }], tolerations: [{ key: 'k', operator: 'Exists' }] },
      },
      old,
    ).errors,
    [],
  );

  const moved = update(pods, { ...old, spec: { ...old.spec, nodeName: 'edge-2' } }, old).errors;
  assert.equal(moved.length, 1);
  assert.equal(moved[0].field, 'spec');
  assert.equal(moved[0].type, 'FieldValueForbidden');
  assert.ok(
    moved[0].detail.startsWith(
      'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n',
    ),
    moved[0].detail,
  );
  assert.match(moved[0].detail, /- spec\.nodeName: "edge-1"\n\+ spec\.nodeName: "edge-2"/);

  const added = update(pods, { ...old, spec: { ...old.spec, containers: [...old.spec.containers, { name: 'b', image: 'x' }] } }, old).errors;
  assert.deepEqual(
    added.map((e) => `${e.field}: ${e.detail}`),
    ['spec.containers: Forbidden: pod updates may not add or remove containers'],
  );

  const removedTol = update(pods, { ...old, spec: { ...old.spec, tolerations: [] } }, old).errors;
  assert.deepEqual(
    removedTol.map((e) => e.field),
    ['spec.tolerations'],
  );
});

test('node strategy: status kept on update, allocatable defaulted, taints validated', () => {
  const nodes = def('', 'nodes');
  const { obj } = create(nodes, { metadata: { name: 'edge-1' }, status: { capacity: { cpu: '4', memory: '8388608Ki' } } });
  assert.deepEqual(obj.status.allocatable, { cpu: '4', memory: '8Gi' });
  assert.deepEqual(obj.status.capacity, { cpu: '4', memory: '8Gi' });
  const upd = update(nodes, { metadata: { name: 'edge-1' }, spec: { unschedulable: true }, status: {} }, obj);
  assert.deepEqual(upd.obj.status, obj.status);
  const errs = update(
    nodes,
    {
      metadata: { name: 'edge-1' },
      spec: {
        taints: [
          { key: 'a', effect: 'NoSchedule' },
          { key: 'a', effect: 'NoSchedule' },
          { key: 'b', effect: 'Sometimes' },
        ],
      },
    },
    obj,
  ).errors;
  assert.deepEqual(
    errs.map((e) => e.field),
    ['spec.taints[1]', 'spec.taints[2].effect'],
  );
});

test('lease validation', () => {
  const leases = def('coordination.k8s.io', 'leases');
  assert.deepEqual(create(leases, { metadata: { name: 'l' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 40 } }).errors, []);
  assert.deepEqual(
    create(leases, { metadata: { name: 'l' }, spec: { leaseDurationSeconds: 0 } }).errors.map((e) => `${e.field}: ${e.detail}`),
    ['spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0'],
  );
});

test('quantities are stored in canonical form', () => {
  const cases: Array<[unknown, string]> = [
    [0.5, '500m'],
    ['1000', '1k'],
    ['1024Mi', '1Gi'],
    ['0.5Gi', '512Mi'],
    ['1.5Ki', '1536'],
    ['1e3', '1e3'],
    ['0.0001', '1m'],
    ['128974848', '128974848'],
  ];
  for (const [v, want] of cases) assert.equal(formatQuantity(parseQuantity(v)!), want, String(v));
  assert.equal(parseQuantity('1 GB'), undefined);
});

test('schemas carry the list semantics strategic merge patch and apply need', () => {
  const at = (d: ResourceDefinition, path: string) => path.split('.').reduce((s: KObject, p) => (p === '[]' ? s.items : s.properties[p]), d.schema!);
  const pods = def('', 'pods');
  const ext = (s: KObject) => [
    s['x-kubernetes-patch-merge-key'],
    s['x-kubernetes-patch-strategy'],
    s['x-kubernetes-list-type'],
    s['x-kubernetes-list-map-keys'],
  ];
  assert.deepEqual(ext(at(pods, 'spec.containers')), ['name', 'merge', 'map', ['name']]);
  assert.deepEqual(ext(at(pods, 'spec.containers.[].env')), ['name', 'merge', 'map', ['name']]);
  assert.deepEqual(ext(at(pods, 'spec.containers.[].ports')), ['containerPort', 'merge', 'map', ['containerPort', 'protocol']]);
  assert.equal(at(pods, 'spec.containers.[].ports.[].protocol').default, 'TCP');
  assert.deepEqual(ext(at(pods, 'spec.containers.[].volumeMounts')), ['mountPath', 'merge', 'map', ['mountPath']]);
  assert.deepEqual(ext(at(pods, 'spec.volumes')), ['name', 'merge,retainKeys', 'map', ['name']]);
  assert.deepEqual(ext(at(pods, 'spec.imagePullSecrets')), ['name', 'merge', 'map', ['name']]);
  assert.deepEqual(ext(at(pods, 'spec.tolerations')), [undefined, undefined, 'atomic', undefined]);
  assert.deepEqual(ext(at(pods, 'status.conditions')), ['type', 'merge', 'map', ['type']]);
  assert.equal(at(pods, 'spec.nodeSelector')['x-kubernetes-map-type'], 'atomic');
  assert.equal(at(pods, 'spec.containers.[].env.[].valueFrom.configMapKeyRef')['x-kubernetes-map-type'], 'atomic');
  assert.ok(at(pods, 'spec.containers.[].name').description);
  const nodes = def('', 'nodes');
  assert.deepEqual(ext(at(nodes, 'status.addresses')), ['type', 'merge', 'map', ['type']]);
  assert.deepEqual(ext(at(nodes, 'status.conditions')), ['type', 'merge', 'map', ['type']]);
  assert.deepEqual(ext(at(nodes, 'spec.taints')), [undefined, undefined, 'atomic', undefined]);
  assert.deepEqual(ext(at(def('', 'namespaces'), 'status.conditions')), ['type', 'merge', 'map', ['type']]);
  assert.deepEqual(ext(at(def('', 'serviceaccounts'), 'secrets')), ['name', 'merge', 'map', ['name']]);
  // Every built-in schema is a full object schema whose metadata is left to the generic layer.
  for (const d of defs) assert.deepEqual([d.schema!.type, d.schema!.properties.metadata.type], ['object', 'object'], d.resource);
});

/** Structural-schema sanity: every node has a type unless it is int-or-string or preserves unknown fields. */
test('built-in schemas are structural', () => {
  const walk = (s: KObject, path: string) => {
    assert.ok(s.type || s['x-kubernetes-int-or-string'] || s['x-kubernetes-preserve-unknown-fields'], `${path} has a type`);
    for (const [k, v] of Object.entries<KObject>(s.properties ?? {})) walk(v, `${path}.${k}`);
    if (s.items) walk(s.items, `${path}[]`);
    if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}{}`);
  };
  for (const d of defs) walk(d.schema!, d.resource);
});

test('deletion rules: pod grace periods and namespace lifecycle', () => {
  const grace = def('', 'pods').strategy!.gracefulDeleteSeconds!;
  const pod = (spec: KObject, phase = 'Running') => ({ spec: { containers: [], ...spec }, status: { phase } });
  assert.equal(grace(pod({ nodeName: 'n', terminationGracePeriodSeconds: 30 }), undefined), 30);
  assert.equal(grace(pod({ nodeName: 'n', terminationGracePeriodSeconds: 30 }), 5), 5);
  assert.equal(grace(pod({ nodeName: 'n', terminationGracePeriodSeconds: 30 }), 0), undefined);
  assert.equal(grace(pod({ nodeName: 'n' }), -5), 1);
  assert.equal(grace(pod({ terminationGracePeriodSeconds: 30 }), undefined), undefined, 'unscheduled pods go at once');
  assert.equal(grace(pod({ nodeName: 'n', terminationGracePeriodSeconds: 30 }, 'Succeeded'), undefined), undefined, 'finished pods go at once');

  const ns = def('', 'namespaces');
  assert.deepEqual(ns.subresources, { status: true, finalize: true });
  const { actions, ...podSubresources } = def('', 'pods').subresources;
  assert.deepEqual(podSubresources, { status: true });
  assert.deepEqual(Object.keys(actions ?? {}), ['binding', 'eviction'], 'binding and eviction are action subresources of the Pod definition');
  assert.throws(
    () => ns.strategy!.checkDelete!({ metadata: { name: 'kube-system' } }),
    (e: any) => e.code === 403 && e.message === 'namespaces "kube-system" is forbidden: this namespace may not be deleted',
  );
  ns.strategy!.checkDelete!({ metadata: { name: 'kube-node-lease' } });
  const doomed: KObject = { metadata: { name: 'team-a' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } };
  ns.strategy!.prepareForDeleting!(doomed);
  assert.equal(doomed.status.phase, 'Terminating');
  assert.equal(ns.strategy!.pendingFinalization!(doomed), true);
  assert.equal(ns.strategy!.pendingFinalization!({ spec: { finalizers: [] } }), false);
});

test('crd strategy: status is server-owned and records the storage version', () => {
  const crds = def('apiextensions.k8s.io', 'customresourcedefinitions');
  const spec = {
    group: 'eve.kubeve.io',
    names: { plural: 'edgenodes', kind: 'EdgeNode' },
    scope: 'Cluster',
    versions: [{ name: 'v1alpha1', served: true, storage: true }],
  };
  const { obj } = create(crds, { metadata: { name: 'edgenodes.eve.kubeve.io' }, spec, status: { storedVersions: ['bogus'] } });
  assert.deepEqual(obj.status.storedVersions, ['v1alpha1']);
  const next = update(
    crds,
    {
      ...obj,
      spec: {
        ...spec,
        versions: [
          { name: 'v1alpha1', served: true, storage: false },
          { name: 'v1', served: true, storage: true },
        ],
      },
      status: {},
    },
    obj,
  );
  assert.deepEqual(next.obj.status.storedVersions, ['v1alpha1', 'v1']);
  assert.deepEqual(obj.status.storedVersions, ['v1alpha1'], 'the old object is not modified');
});
