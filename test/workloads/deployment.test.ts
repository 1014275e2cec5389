// Deployments through the real kubectl on plain Nodes: the scheduler places pods by nodeSelector,
// `kubectl scale`, a rolling image change within maxUnavailable (a watcher checks every moment),
// `rollout status|history|undo|restart`, and an unschedulable pod's kube-shaped FailedScheduling.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorkloadServer, node, until, type WorkloadServer } from './helpers.ts';
import { NODES, PODS } from '../../src/controllers/workloads/common.ts';
import { SharedInformerFactory, type KObject } from '../../src/controllers/runtime/index.ts';

let t: WorkloadServer;
before(async () => {
  t = await startWorkloadServer();
  for (let i = 0; i < 10; i++) await t.client.create(NODES, undefined, node(`n${i}`, i < 5 ? { site: 'lab' } : { site: 'field' }));
});
after(async () => {
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));
const podsOf = async (app: string) => (await json(['get', 'pods', '-l', `app=${app}`])).items as KObject[];
const ready = (p: KObject) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c: KObject) => c.type === 'Ready' && c.status === 'True');

const deployment = (replicas: number) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1, maxSurge: 1}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {site: lab}
      containers: [{name: web, image: "nginx:1.25", resources: {requests: {cpu: 100m, memory: 64Mi}}}]
`;

test('3 replicas with nodeSelector site=lab over 10 nodes land on the 5 labelled ones', async () => {
  await t.ok(['apply', '-f', '-'], deployment(3));
  assert.match(await t.ok(['rollout', 'status', 'deployment/web', '--timeout=60s']), /successfully rolled out/);
  const pods = await podsOf('web');
  assert.equal(pods.length, 3);
  for (const p of pods) {
    assert.match(p.spec.nodeName, /^n[0-4]$/, `${p.metadata.name} on ${p.spec.nodeName}`);
    assert.equal(p.metadata.ownerReferences[0].kind, 'ReplicaSet');
    assert.equal(p.metadata.ownerReferences[0].controller, true);
  }
  const events = await json(['get', 'events', '--field-selector', 'reason=Scheduled']);
  assert.ok(events.items.some((e: KObject) => /^Successfully assigned default\/web-[a-z0-9]+-[a-z0-9]+ to n[0-4]$/.test(e.message)));
  assert.match(await t.ok(['get', 'deploy', 'web']), /\nweb\s+3\/3\s+3\s+3\s+/);
});

test('kubectl scale to 5 and back to 2', async () => {
  await t.ok(['scale', 'deployment/web', '--replicas=5']);
  await until('5 ready pods', async () => (await podsOf('web')).filter(ready).length === 5);
  assert.match(await t.ok(['rollout', 'status', 'deployment/web', '--timeout=60s']), /successfully rolled out/);
  await t.ok(['scale', 'deployment/web', '--replicas=4']);
  await until('4 pods', async () => (await podsOf('web')).length === 4);
  const rs = await json(['get', 'rs', '-l', 'app=web']);
  assert.equal(rs.items.length, 1);
  assert.equal(rs.items[0].spec.replicas, 4);
});

test('image change rolls out within maxUnavailable; history, undo and restart', async () => {
  // A watcher over every pod change: ready pods of the Deployment never drop below replicas - maxUnavailable.
  const factory = new SharedInformerFactory(t.client);
  const inf = factory.informerFor(PODS);
  factory.start();
  await factory.waitForCacheSync();
  let minReady = Infinity;
  let maxPods = 0;
  const check = () => {
    const pods = inf.store.list().filter((p) => p.metadata.labels?.app === 'web');
    minReady = Math.min(minReady, pods.filter(ready).length);
    maxPods = Math.max(maxPods, pods.filter((p) => !p.metadata.deletionTimestamp).length);
  };
  inf.addEventHandler({ onAdd: check, onUpdate: check, onDelete: check });
  try {
    const before = new Set((await podsOf('web')).map((p) => p.metadata.name));
    await t.ok(['set', 'image', 'deployment/web', 'web=nginx:1.26']);
    assert.match(await t.ok(['rollout', 'status', 'deployment/web', '--timeout=60s']), /successfully rolled out/);
    const pods = await podsOf('web');
    assert.equal(pods.filter(ready).length, 4);
    for (const p of pods) {
      assert.equal(p.spec.containers[0].image, 'nginx:1.26');
      assert.ok(!before.has(p.metadata.name));
    }
    assert.ok(minReady >= 3, `ready pods fell to ${minReady} (maxUnavailable 1 of 4)`);
    assert.ok(maxPods <= 5, `${maxPods} pods at once (maxSurge 1 of 4)`);

    const d = await json(['get', 'deploy', 'web']);
    assert.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '2');
    const conds = Object.fromEntries(d.status.conditions.map((c: KObject) => [c.type, c]));
    assert.equal(conds.Available.status, 'True');
    assert.equal(conds.Progressing.reason, 'NewReplicaSetAvailable');
    assert.match(await t.ok(['rollout', 'history', 'deployment/web']), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);

    await t.ok(['rollout', 'undo', 'deployment/web']);
    assert.match(await t.ok(['rollout', 'status', 'deployment/web', '--timeout=60s']), /successfully rolled out/);
    await until('old image back on every pod', async () => {
      const ps = await podsOf('web');
      return ps.length === 4 && ps.every((p) => p.spec.containers[0].image === 'nginx:1.25' && ready(p));
    });
    assert.equal((await json(['get', 'deploy', 'web'])).spec.template.spec.containers[0].image, 'nginx:1.25');

    const names = new Set((await podsOf('web')).map((p) => p.metadata.name));
    await t.ok(['rollout', 'restart', 'deployment/web']);
    assert.match(await t.ok(['rollout', 'status', 'deployment/web', '--timeout=60s']), /successfully rolled out/);
    await until('every pod replaced', async () => {
      const ps = await podsOf('web');
      return ps.length === 4 && ps.every((p) => !names.has(p.metadata.name) && ready(p));
    });
    assert.ok(minReady >= 3, `ready pods fell to ${minReady}`);
  } finally {
    factory.stop();
  }
});

test("a pod asking for 64 cpus stays Pending with kube-scheduler's message", async () => {
  await t.ok(['run', 'big', '--image=nginx', '--overrides={"spec":{"containers":[{"name":"big","image":"nginx","resources":{"requests":{"cpu":"64"}}}]}}']);
  const want = '0/10 nodes are available: 10 Insufficient cpu. preemption: 0/10 nodes are available: 10 No preemption victims found for incoming pod..';
  const cond = await until('PodScheduled=False', async () =>
    (await json(['get', 'pod', 'big'])).status?.conditions?.find((c: KObject) => c.type === 'PodScheduled'),
  );
  assert.equal(cond.status, 'False');
  assert.equal(cond.reason, 'Unschedulable');
  assert.equal(cond.message, want);
  const pod = await json(['get', 'pod', 'big']);
  assert.equal(pod.status.phase, 'Pending');
  assert.equal(pod.spec.nodeName, undefined);
  const describe = await t.ok(['describe', 'pod', 'big']);
  assert.match(describe, /Warning\s+FailedScheduling\s+.*default-scheduler\s+0\/10 nodes are available: 10 Insufficient cpu\. preemption:/);

  // Mixed reasons are counted per node and sorted as kube does.
  await t.ok([
    'run',
    'picky',
    '--image=nginx',
    '--overrides={"spec":{"nodeSelector":{"site":"lab"},"containers":[{"name":"picky","image":"nginx","resources":{"requests":{"cpu":"64"}}}]}}',
  ]);
  const msg = await until(
    'picky unschedulable',
    async () => (await json(['get', 'pod', 'picky'])).status?.conditions?.find((c: KObject) => c.type === 'PodScheduled')?.message,
  );
  assert.equal(
    msg,
    "0/10 nodes are available: 5 Insufficient cpu, 5 node(s) didn't match Pod's node affinity/selector. preemption: 0/10 nodes are available: 5 No preemption victims found for incoming pod., 5 Preemption is not helpful for scheduling..",
  );

  // A node big enough arrives: the pending pod is placed there.
  await t.client.create(NODES, undefined, {
    ...node('huge'),
    status: { allocatable: { cpu: '128', memory: '512Gi', pods: '110' }, capacity: { cpu: '128', memory: '512Gi', pods: '110' } },
  });
  const placed = await until('big placed', async () => (await json(['get', 'pod', 'big'])).spec.nodeName, 15_000);
  assert.equal(placed, 'huge');
});

test('rollout pause holds a template change until resume', async () => {
  await t.ok(['rollout', 'pause', 'deployment/web']);
  await t.ok(['set', 'image', 'deployment/web', 'web=nginx:1.27']);
  await until(
    'paused condition',
    async () => (await json(['get', 'deploy', 'web'])).status.conditions.find((c: KObject) => c.type === 'Progressing')?.reason === 'DeploymentPaused',
  );
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(
    (await podsOf('web')).every((p) => p.spec.containers[0].image === 'nginx:1.25'),
    'no pod changed while paused',
  );
  assert.equal(
    (await json(['get', 'rs', '-l', 'app=web'])).items.filter((rs: KObject) => rs.spec.template.spec.containers[0].image === 'nginx:1.27').length,
    0,
  );
  await t.ok(['scale', 'deployment/web', '--replicas=5']);
  await until('scaled while paused', async () => (await podsOf('web')).filter(ready).length === 5);
  await t.ok(['scale', 'deployment/web', '--replicas=4']);
  await t.ok(['rollout', 'resume', 'deployment/web']);
  assert.match(await t.ok(['rollout', 'status', 'deployment/web', '--timeout=60s']), /successfully rolled out/);
  await until('new image everywhere', async () => {
    const ps = await podsOf('web');
    return ps.length === 4 && ps.every((p) => p.spec.containers[0].image === 'nginx:1.27' && ready(p));
  });
});

test('Recreate: every old pod is gone before a new one is created', async () => {
  await t.ok(
    ['apply', '-f', '-'],
    deployment(3)
      .replace(/name: web/g, 'name: rec')
      .replace(/app: web/g, 'app: rec')
      .replace('{type: RollingUpdate, rollingUpdate: {maxUnavailable: 1, maxSurge: 1}}', '{type: Recreate}'),
  );
  await t.ok(['rollout', 'status', 'deployment/rec', '--timeout=60s']);
  const factory = new SharedInformerFactory(t.client);
  const inf = factory.informerFor(PODS);
  factory.start();
  await factory.waitForCacheSync();
  let mixed = false;
  const check = () => {
    const images = new Set(
      inf.store
        .list()
        .filter((p) => p.metadata.labels?.app === 'rec')
        .map((p) => p.spec.containers[0].image),
    );
    if (images.size > 1) mixed = true;
  };
  inf.addEventHandler({ onAdd: check, onUpdate: check, onDelete: check });
  try {
    await t.ok(['set', 'image', 'deployment/rec', 'rec=nginx:1.26']);
    assert.match(await t.ok(['rollout', 'status', 'deployment/rec', '--timeout=60s']), /successfully rolled out/);
    assert.ok(!mixed, 'old and new pods existed at once');
    assert.ok((await podsOf('rec')).every((p) => p.spec.containers[0].image === 'nginx:1.26'));
  } finally {
    factory.stop();
  }
});

test('progressDeadlineSeconds: a rollout that cannot progress is reported and fails rollout status', async () => {
  await t.ok(
    ['apply', '-f', '-'],
    `
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      nodeSelector: {site: nowhere}
      containers: [{name: c, image: pause}]
`,
  );
  const r = await t.kubectl(['rollout', 'status', 'deployment/stuck', '--timeout=30s']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /error: deployment "stuck" exceeded its progress deadline/);
  const prog = (await json(['get', 'deploy', 'stuck'])).status.conditions.find((c: KObject) => c.type === 'Progressing');
  assert.equal(prog.status, 'False');
  assert.equal(prog.reason, 'ProgressDeadlineExceeded');
  assert.match(prog.message, /^ReplicaSet "stuck-[a-z0-9]+" has timed out progressing\.$/);
});

test('scaling in the middle of a rollout scales every ReplicaSet in proportion', async () => {
  await t.ok(
    ['apply', '-f', '-'],
    deployment(4)
      .replace(/name: web/, 'name: prop')
      .replace(/app: web/g, 'app: prop')
      .replace('maxUnavailable: 1, maxSurge: 1', 'maxUnavailable: 0, maxSurge: 1'),
  );
  await t.ok(['rollout', 'status', 'deployment/prop', '--timeout=60s']);
  // New pods never become ready: the rollout stops at one surge pod.
  t.kubelet.holdReady = true;
  await t.ok(['set', 'image', 'deployment/prop', 'web=nginx:2']);
  const sizes = async () => {
    const rs: KObject[] = (await json(['get', 'rs', '-l', 'app=prop'])).items;
    return Object.fromEntries(rs.map((r) => [r.spec.template.spec.containers[0].image, r.spec.replicas]));
  };
  await until(
    'surge pod created',
    async () =>
      JSON.stringify(await sizes()) === JSON.stringify({ 'nginx:1.25': 4, 'nginx:2': 1 }) ||
      JSON.stringify(await sizes()) === JSON.stringify({ 'nginx:2': 1, 'nginx:1.25': 4 }),
  );
  await t.ok(['scale', 'deployment/prop', '--replicas=8']);
  // 8 + maxSurge 1 = 9 shared 4:1 → 7 and 1, the rounding (1) to the new set.
  await until('proportional sizes', async () => {
    const s = await sizes();
    return s['nginx:1.25'] === 7 && s['nginx:2'] === 2;
  });
  t.kubelet.release();
  assert.match(await t.ok(['rollout', 'status', 'deployment/prop', '--timeout=60s']), /successfully rolled out/);
  const s = await sizes();
  assert.deepEqual([s['nginx:1.25'], s['nginx:2']], [0, 8]);
});
