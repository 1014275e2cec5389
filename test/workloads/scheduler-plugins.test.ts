// The scheduler's node plugins on their own: requirement operators, matchFields, taint texts,
// resource arithmetic (init containers, limits standing in for requests), scores and kube's
// numFeasibleNodesToFind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  filterNodeAffinity,
  filterTaintToleration,
  filterResourcesFit,
  filterNodeUnschedulable,
  rawPreferredAffinity,
  scoreLeastAllocated,
  type NodeState,
} from '../../src/controllers/scheduler/plugins.ts';
import { podRequests, nodeAllocatable } from '../../src/controllers/scheduler/resources.ts';
import { feasibleNodesToFind } from '../../src/controllers/scheduler/scheduler.ts';
import type { KObject } from '../../src/controllers/runtime/index.ts';

const nodeState = (
  name: string,
  labels: Record<string, string>,
  spec: KObject = {},
  allocatable: KObject = { cpu: '4', memory: '8Gi', pods: '110' },
): NodeState => {
  const node = { metadata: { name, labels }, spec, status: { allocatable } };
  return { node, name, labels, allocatable: nodeAllocatable(node), requested: new Map(), nonZeroCpu: 0, nonZeroMemory: 0, pods: 0 };
};
const info = (spec: KObject) => {
  const pod = { metadata: { name: 'p' }, spec };
  return { pod, requests: podRequests(pod) };
};

test('node affinity: operators, matchFields, terms ORed, nodeSelector ANDed', () => {
  const n = nodeState('n1', { gen: '5', zone: 'a' });
  const req = (terms: KObject[], nodeSelector?: KObject) =>
    info({ nodeSelector, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } });
  assert.equal(filterNodeAffinity(req([{ matchExpressions: [{ key: 'gen', operator: 'Gt', values: ['4'] }] }]), n), undefined);
  assert.ok(filterNodeAffinity(req([{ matchExpressions: [{ key: 'gen', operator: 'Lt', values: ['5'] }] }]), n));
  assert.equal(
    filterNodeAffinity(
      req([
        { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] },
        { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] },
      ]),
      n,
    ),
    undefined,
  );
  assert.ok(filterNodeAffinity(req([{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }]), n));
  assert.ok(filterNodeAffinity(req([{}]), n), 'an empty term matches nothing');
  assert.deepEqual(filterNodeAffinity(req([{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }], { zone: 'b' }), n)?.reasons, [
    "node(s) didn't match Pod's node affinity/selector",
  ]);
});

test("taints: NoSchedule/NoExecute filter with kube's text, PreferNoSchedule does not; cordon tolerable", () => {
  const n = nodeState(
    'n',
    {},
    {
      taints: [
        { key: 'soft', effect: 'PreferNoSchedule' },
        { key: 'dedicated', effect: 'NoExecute' },
      ],
    },
  );
  assert.deepEqual(filterTaintToleration(info({}), n)?.reasons, ['node(s) had untolerated taint {dedicated: }']);
  assert.equal(filterTaintToleration(info({ tolerations: [{ operator: 'Exists' }] }), n), undefined);
  assert.equal(filterTaintToleration(info({ tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }] }), n), undefined);
  assert.ok(filterTaintToleration(info({ tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] }), n));
  const cordoned = nodeState('c', {}, { unschedulable: true });
  assert.deepEqual(filterNodeUnschedulable(info({}), cordoned)?.reasons, ['node(s) were unschedulable']);
  assert.equal(
    filterNodeUnschedulable(info({ tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }), cordoned),
    undefined,
  );
});

test('resources: containers summed, init containers as a max, limits for unset requests, every shortage named', () => {
  const r = podRequests({
    spec: {
      containers: [{ resources: { requests: { cpu: '250m', memory: '1Gi' } } }, { resources: { limits: { cpu: '500m', 'example.com/gpu': '1' } } }],
      initContainers: [{ resources: { requests: { cpu: '2' } } }],
    },
  });
  assert.equal(r.get('cpu'), 2000);
  assert.equal(r.get('memory'), 2 ** 30);
  assert.equal(r.get('example.com/gpu'), 1);
  const n = nodeState('n', {}, {}, { cpu: '1', memory: '512Mi', pods: '1' });
  n.pods = 1;
  const fit = filterResourcesFit({ pod: {}, requests: r }, n);
  assert.deepEqual(fit?.reasons.sort(), ['Insufficient cpu', 'Insufficient example.com/gpu', 'Insufficient memory', 'Too many pods']);
});

test('scores: least allocated prefers the emptier node; preferred affinity sums weights', () => {
  const empty = nodeState('a', { disk: 'ssd' });
  const busy = nodeState('b', {});
  busy.nonZeroCpu = 3000;
  busy.nonZeroMemory = 4 * 2 ** 30;
  const p = info({
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 30, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } }],
      },
    },
  });
  assert.ok(scoreLeastAllocated(p, empty) > scoreLeastAllocated(p, busy));
  assert.equal(rawPreferredAffinity(p, empty), 30);
  assert.equal(rawPreferredAffinity(p, busy), 0);
});

test('numFeasibleNodesToFind as kube-scheduler', () => {
  assert.equal(feasibleNodesToFind(50), 50);
  assert.equal(feasibleNodesToFind(1000), 420);
  assert.equal(feasibleNodesToFind(5000), 500);
  assert.equal(feasibleNodesToFind(10_000), 500);
});

test('scheduling queue: higher priority first, FIFO among equals; unschedulable pods wait for an event, then backoff', async () => {
  const { SchedulingQueue } = await import('../../src/controllers/scheduler/queue.ts');
  const q = new SchedulingQueue({ initialBackoffMs: 200, maxBackoffMs: 400 });
  q.add('low-1', 0);
  q.add('high', 1000);
  q.add('low-2', 0);
  q.add('mid', 10);
  const order = [await q.pop(), await q.pop(), await q.pop(), await q.pop()];
  assert.deepEqual(order, ['high', 'mid', 'low-1', 'low-2']);
  q.failed('high', true);
  q.add('high', 1000); // its own status write: stays unschedulable
  assert.equal(q.unschedulableCount, 1);
  const t0 = Date.now();
  q.moveAllUnschedulable(); // within backoff: waits it out in the backoff queue
  const alive = setTimeout(() => undefined, 5000); // the queue's timers do not hold the process
  assert.equal(await q.pop(), 'high');
  clearTimeout(alive);
  assert.ok(Date.now() - t0 >= 150, 'backoff honoured');
  q.close();
  assert.equal(await q.pop(), undefined);
});
