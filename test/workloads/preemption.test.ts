// Priority and preemption as a user sees them through the real kubectl: PriorityClass resolved into
// spec.priority, the fewest lower-priority victims evicted with kube's Preempted Event and
// DisruptionTarget condition, the preemptor nominated then bound, PDB-protected pods spared when
// another node will do, and preemptionPolicy: Never refused with kube's text.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorkloadServer, node, until, type WorkloadServer } from './helpers.ts';
import { NODES, PODS } from '../../src/controllers/workloads/common.ts';
import type { KObject } from '../../src/controllers/runtime/index.ts';

let t: WorkloadServer;
const small = (name: string, labels: Record<string, string> = {}) => {
  const n = node(name, labels);
  n.status.allocatable = n.status.capacity = { cpu: '2', memory: '8Gi', pods: '110' };
  return n;
};
/** Everything the scheduler did to pods, as DisruptionTarget conditions (seen through a watch: victims vanish at once). */
const disruptions: KObject[] = [];

before(async () => {
  // No backoff: the ordering test below is about priority alone.
  t = await startWorkloadServer({ initialBackoffMs: 1, maxBackoffMs: 1 });
  for (const n of ['n0', 'n1']) await t.client.create(NODES, undefined, small(n));
  await t.ok(
    ['apply', '-f', '-'],
    `
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 100
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: lowest}
value: 10
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: polite}
value: 5000
preemptionPolicy: Never
`,
  );
  t.client.watch(
    PODS,
    undefined,
    {},
    (ev) => {
      const c = (ev.object?.status?.conditions ?? []).find((x: KObject) => x.type === 'DisruptionTarget');
      if (c && !disruptions.some((d) => d.pod === ev.object.metadata.name)) disruptions.push({ pod: ev.object.metadata.name, ...c });
    },
    () => undefined,
  );
});
after(async () => {
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));
const live = async (selector: string) => ((await json(['get', 'pods', '-l', selector])).items as KObject[]).filter((p) => !p.metadata.deletionTimestamp);
const pod = (name: string, cls: string, cpu: string, extra: string = '') => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: ${name}}}
spec:
  priorityClassName: ${cls}
  ${extra}
  containers: [{name: c, image: pause, resources: {requests: {cpu: "${cpu}"}}}]
`;
const fill = (name: string, cls: string, replicas: number, extra = '') => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      priorityClassName: ${cls}
      ${extra}
      containers: [{name: c, image: pause, resources: {requests: {cpu: "1"}}}]
`;

test('a high-priority pod preempts one low-priority pod, is nominated, then bound; kubectl shows why', async () => {
  await t.ok(['apply', '-f', '-'], fill('filler', 'low', 4));
  await t.ok(['rollout', 'status', 'deployment/filler', '--timeout=60s']);
  const before = (await live('app=filler')).map((p) => p.metadata.name);
  assert.equal(before.length, 4);

  await t.ok(['apply', '-f', '-'], pod('vip', 'high', '1'));
  const vip = await until('vip bound', async () => {
    const p = await json(['get', 'pod', 'vip']);
    return p.spec.nodeName && p;
  });
  assert.equal(vip.spec.priority, 1000, 'Priority admission resolved the class into spec.priority');
  assert.equal(vip.status.nominatedNodeName, vip.spec.nodeName, 'nominated to the node it was bound to');
  assert.ok(
    vip.status.conditions.some((c: KObject) => c.type === 'PodScheduled' && c.status === 'True'),
    'binding set PodScheduled=True',
  );
  // NOMINATED NODE column of `kubectl get pods -o wide`.
  const wide = await t.ok(['get', 'pod', 'vip', '-o', 'wide']);
  assert.match(wide.split('\n')[0], /NOMINATED NODE/);
  assert.match(wide.split('\n')[1], new RegExp(`${vip.spec.nodeName}\\s+${vip.spec.nodeName}\\s+<none>`));

  // Exactly one victim (the fewest that make room), on the vip's node, with kube's texts.
  const events = (await json(['get', 'events', '--field-selector', 'reason=Preempted'])).items as KObject[];
  assert.equal(events.length, 1, 'one pod preempted');
  assert.ok(before.includes(events[0].involvedObject.name));
  assert.equal(events[0].message, `Preempted by pod ${vip.metadata.uid} on node ${vip.spec.nodeName}`);
  assert.equal(events[0].type, 'Normal');
  await until('victim condition seen', () => disruptions.length === 1);
  assert.deepEqual(
    { pod: disruptions[0].pod, type: disruptions[0].type, status: disruptions[0].status, reason: disruptions[0].reason, message: disruptions[0].message },
    {
      pod: events[0].involvedObject.name,
      type: 'DisruptionTarget',
      status: 'True',
      reason: 'PreemptionByScheduler',
      message: 'default-scheduler: preempting to accommodate a higher priority pod',
    },
  );
  const describe = await t.ok(['describe', 'pod', 'vip']);
  assert.match(
    describe,
    /FailedScheduling\s+\S+\s+default-scheduler\s+0\/2 nodes are available: 2 Insufficient cpu\.\n/,
    'preemption found victims: no "preemption:" part',
  );
  assert.match(describe, new RegExp(`Scheduled\\s+\\S+\\s+default-scheduler\\s+Successfully assigned default/vip to ${vip.spec.nodeName}`));

  // The ReplicaSet's replacement cannot preempt its peers (same priority): Pending with kube's full message.
  const pending = await until('replacement pending', async () =>
    (await live('app=filler')).find((p) => !p.spec.nodeName && p.status?.conditions?.some((c: KObject) => c.type === 'PodScheduled')),
  );
  assert.equal(
    pending.status.conditions.find((c: KObject) => c.type === 'PodScheduled').message,
    '0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod..',
  );
  assert.equal((await live('app=filler')).filter((p) => p.spec.nodeName).length, 3);
});

test("preemptionPolicy: Never waits instead, with kube's text, though its priority is higher", async () => {
  await t.ok(['apply', '-f', '-'], pod('shy', 'polite', '1'));
  const cond = await until('shy unschedulable', async () =>
    (await json(['get', 'pod', 'shy'])).status?.conditions?.find((c: KObject) => c.type === 'PodScheduled'),
  );
  assert.equal(cond.message, '0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.');
  assert.equal((await json(['get', 'events', '--field-selector', 'reason=Preempted'])).items.length, 1, 'nothing more preempted');
  await t.ok(['delete', 'pod', 'shy', '--wait=false']);
});

test('the queue serves higher priority first: when room appears the high pod gets it, not the older low one', async () => {
  // filler's pending replica (priority 100) has waited longest; a priority-5000 pod that may not preempt arrives; one slot frees.
  await t.ok(['apply', '-f', '-'], pod('second', 'polite', '1'));
  await until('second pending', async () => (await json(['get', 'pod', 'second'])).status?.conditions?.some((c: KObject) => c.type === 'PodScheduled'));
  await t.ok(['delete', 'pod', 'vip', '--wait=false']);
  const node = await until('second bound', async () => (await json(['get', 'pod', 'second'])).spec.nodeName, 15_000);
  assert.ok(node);
  assert.equal((await live('app=filler')).filter((p) => !p.spec.nodeName).length, 1, 'the low pod still waits');
  await t.ok(['delete', 'pod', 'second', '--wait=false']);
  await t.ok(['delete', 'deployment', 'filler']);
  await until('filler gone', async () => !(await live('app=filler')).length);
});

test("victims protected by a PDB are spared when another node's victims will do", async () => {
  // n0: two guarded pods (priority 10, PDB allows no disruption); n1: two free pods (priority 100).
  // Without the PDB kube would pick n0 (lower top-victim priority); with it, n1.
  await t.ok(
    ['apply', '-f', '-'],
    `${fill('guarded', 'lowest', 2, 'nodeSelector: {kubernetes.io/hostname: n0}')}
---
${fill('free', 'low', 2, 'nodeSelector: {kubernetes.io/hostname: n1}')}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guard}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: guarded}}
`,
  );
  await t.ok(['rollout', 'status', 'deployment/guarded', '--timeout=60s']);
  await t.ok(['rollout', 'status', 'deployment/free', '--timeout=60s']);
  await until('PDB status', async () => (await json(['get', 'pdb', 'guard'])).status?.currentHealthy === 2);
  const freeBefore = (await live('app=free')).map((p) => p.metadata.name);
  await t.ok(['apply', '-f', '-'], pod('boss', 'high', '1'));
  const bossNode = await until('boss bound', async () => (await json(['get', 'pod', 'boss'])).spec.nodeName);
  assert.equal(bossNode, 'n1');
  const events = ((await json(['get', 'events', '--field-selector', 'reason=Preempted'])).items as KObject[]).map((e) => e.involvedObject.name);
  assert.ok(
    events.some((n) => freeBefore.includes(n)),
    'a free pod was the victim',
  );
  assert.equal((await live('app=guarded')).filter((p) => p.spec.nodeName === 'n0').length, 2, 'guarded pods untouched');
});
