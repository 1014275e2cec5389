// Placement rules that look at other pods: topologySpreadConstraints over a node label and required
// pod anti-affinity, through the real kubectl on plain Nodes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorkloadServer, node, until, type WorkloadServer } from './helpers.ts';
import { NODES } from '../../src/controllers/workloads/common.ts';
import type { KObject } from '../../src/controllers/runtime/index.ts';

let t: WorkloadServer;
const sites = ['a', 'a', 'a', 'a', 'b', 'c'];
before(async () => {
  t = await startWorkloadServer();
  for (const [i, site] of sites.entries()) await t.client.create(NODES, undefined, node(`n${i}`, { site }));
});
after(async () => {
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));
const podsOf = async (app: string) => ((await json(['get', 'pods', '-l', `app=${app}`])).items as KObject[]).filter((p) => !p.metadata.deletionTimestamp);
const siteOf = (p: KObject) => sites[Number(p.spec.nodeName.slice(1))];

test('a topology spread over site spreads evenly though site a has most nodes', async () => {
  await t.ok(
    ['apply', '-f', '-'],
    `
apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 6
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      topologySpreadConstraints: [{maxSkew: 1, topologyKey: site, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}]
      containers: [{name: c, image: pause}]
`,
  );
  await t.ok(['rollout', 'status', 'deployment/spread', '--timeout=60s']);
  const count: Record<string, number> = {};
  for (const p of await podsOf('spread')) count[siteOf(p)] = (count[siteOf(p)] ?? 0) + 1;
  assert.deepEqual(count, { a: 2, b: 2, c: 2 });
  await t.ok(['delete', 'deployment', 'spread']);
});

test("required pod anti-affinity on site: one pod per site, the fourth Pending with kube's message", async () => {
  await t.ok(
    ['apply', '-f', '-'],
    `
apiVersion: apps/v1
kind: Deployment
metadata: {name: solo}
spec:
  replicas: 4
  selector: {matchLabels: {app: solo}}
  template:
    metadata: {labels: {app: solo}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: site, labelSelector: {matchLabels: {app: solo}}}]
      containers: [{name: c, image: pause}]
`,
  );
  const pending = await until('one pending pod', async () => {
    const ps = await podsOf('solo');
    return (
      ps.length === 4 &&
      ps.filter((p) => p.spec.nodeName).length === 3 &&
      ps.find((p) => !p.spec.nodeName && p.status?.conditions?.some((c: KObject) => c.type === 'PodScheduled'))
    );
  });
  const placed = (await podsOf('solo')).filter((p) => p.spec.nodeName);
  assert.deepEqual(placed.map(siteOf).sort(), ['a', 'b', 'c']);
  const cond = pending.status.conditions.find((c: KObject) => c.type === 'PodScheduled');
  assert.equal(
    cond.message,
    "0/6 nodes are available: 6 node(s) didn't match pod anti-affinity rules. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod..",
  );
  // A new site makes room.
  await t.client.create(NODES, undefined, node('n6', { site: 'd' }));
  sites.push('d');
  await until('fourth placed on site d', async () => (await podsOf('solo')).some((p) => p.spec.nodeName === 'n6'));
});

test("taints, cordons and extended resources: kube's reasons, and a tolerating pod lands", async () => {
  await t.client.create(NODES, undefined, {
    ...node('gpu0', { site: 'e' }, { spec: { taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] } }),
    status: {
      allocatable: { cpu: '4', memory: '8Gi', pods: '110', 'example.com/gpu': '2' },
      capacity: { cpu: '4', memory: '8Gi', pods: '110', 'example.com/gpu': '2' },
    },
  });
  await t.ok(['cordon', 'n0']);
  const gpuPod = (name: string, tolerate: boolean) =>
    JSON.stringify({
      spec: {
        ...(tolerate ? { tolerations: [{ key: 'gpu', operator: 'Equal', value: 'true', effect: 'NoSchedule' }] } : {}),
        containers: [{ name, image: 'cuda', resources: { limits: { 'example.com/gpu': '1' } } }],
      },
    });
  await t.ok(['run', 'train', '--image=cuda', `--overrides=${gpuPod('train', false)}`]);
  const msg = await until(
    'train unschedulable',
    async () => (await json(['get', 'pod', 'train'])).status?.conditions?.find((c: KObject) => c.type === 'PodScheduled')?.message,
  );
  assert.equal(
    msg,
    '0/8 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 1 node(s) were unschedulable, 6 Insufficient example.com/gpu. preemption: 0/8 nodes are available: 2 Preemption is not helpful for scheduling., 6 No preemption victims found for incoming pod..',
  );
  await t.ok(['run', 'train2', '--image=cuda', `--overrides=${gpuPod('train2', true)}`]);
  assert.equal(await until('train2 placed', async () => (await json(['get', 'pod', 'train2'])).spec.nodeName), 'gpu0');
  await t.ok(['uncordon', 'n0']);
});

test('an unschedulable pod whose tolerations change is tried again at once', async () => {
  await t.ok(['delete', 'pod', 'train2', '--wait=false']);
  // train (no toleration) waits; adding the toleration (allowed on a pod) lets it land on gpu0.
  // Appended (a pod's existing tolerations, DefaultTolerationSeconds' included, cannot be removed).
  await t.ok([
    'patch',
    'pod',
    'train',
    '--type=json',
    '-p',
    JSON.stringify([{ op: 'add', path: '/spec/tolerations/-', value: { key: 'gpu', operator: 'Exists', effect: 'NoSchedule' } }]),
  ]);
  assert.equal(await until('train placed', async () => (await json(['get', 'pod', 'train'])).spec.nodeName, 1500), 'gpu0');
});

const deploy = (name: string, replicas: number, spec: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      ${spec}
      containers: [{name: c, image: pause}]
`;
const spreadSpec = (extra: string) =>
  `topologySpreadConstraints: [{maxSkew: 1, topologyKey: site, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: APP}}${extra}}]`;

test('spread node policies and minDomains: tainted site e counts unless nodeTaintsPolicy Honor; minDomains caps each site at one', async () => {
  // Sites now: a (n0-n3), b, c, d reachable; e only on gpu0, tainted.
  const cases: [string, string, number][] = [
    ['spread-ignore', '', 4], // site e is a domain with 0 pods (taints ignored): every site at most 1 → 4 placed
    ['spread-honor', ', nodeTaintsPolicy: Honor', 5], // e left out: a may take 2 → all 5 placed
    ['spread-min', ', nodeTaintsPolicy: Honor, minDomains: 5', 4], // 4 domains < minDomains: global minimum 0 → 4 placed
  ];
  for (const [name, extra, placed] of cases) {
    await t.ok(['apply', '-f', '-'], deploy(name, 5, spreadSpec(extra).replace('APP', name)));
    await until(`${name}: ${placed} placed`, async () => {
      const ps = await podsOf(name);
      const bound = ps.filter((p) => p.spec.nodeName);
      const waiting = ps.filter((p) => !p.spec.nodeName && p.status?.conditions?.some((c: KObject) => c.type === 'PodScheduled'));
      return ps.length === 5 && bound.length === placed && waiting.length === 5 - placed;
    });
    const ps = await podsOf(name);
    const perSite: Record<string, number> = {};
    for (const p of ps.filter((x) => x.spec.nodeName)) perSite[siteOf(p)] = (perSite[siteOf(p)] ?? 0) + 1;
    assert.deepEqual(Object.keys(perSite).sort(), ['a', 'b', 'c', 'd'], name);
    if (placed === 4) {
      assert.ok(
        Object.values(perSite).every((n) => n === 1),
        name,
      );
      const msg = ps.find((p) => !p.spec.nodeName)!.status.conditions.find((c: KObject) => c.type === 'PodScheduled').message;
      assert.equal(
        msg,
        "0/8 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 7 node(s) didn't match pod topology spread constraints. preemption: 0/8 nodes are available: 1 Preemption is not helpful for scheduling., 7 No preemption victims found for incoming pod..",
        name,
      );
    }
    await t.ok(['delete', 'deployment', name]);
  }
});

test('preferred pod affinity pulls replicas to the site of the pods they like', async () => {
  await t.ok(['apply', '-f', '-'], deploy('web', 1, 'nodeSelector: {kubernetes.io/hostname: n4}'));
  await t.ok(['rollout', 'status', 'deployment/web', '--timeout=60s']);
  // Site b has only n4, already busier than the others: least-allocated alone would go elsewhere.
  await t.ok(
    ['apply', '-f', '-'],
    deploy(
      'cache',
      2,
      'affinity: {podAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, podAffinityTerm: {topologyKey: site, labelSelector: {matchLabels: {app: web}}}}]}}',
    ),
  );
  await t.ok(['rollout', 'status', 'deployment/cache', '--timeout=60s']);
  assert.deepEqual(
    (await podsOf('cache')).map((p) => p.spec.nodeName),
    ['n4', 'n4'],
  );
  // Preferred anti-affinity to the same pods keeps a replica off site b.
  await t.ok(
    ['apply', '-f', '-'],
    deploy(
      'shy',
      3,
      'affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, podAffinityTerm: {topologyKey: site, labelSelector: {matchLabels: {app: web}}}}]}}',
    ),
  );
  await t.ok(['rollout', 'status', 'deployment/shy', '--timeout=60s']);
  assert.ok((await podsOf('shy')).every((p) => siteOf(p) !== 'b'));
});

test('a gated pod waits, SchedulingGated, until its last gate is removed', async () => {
  await t.ok(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  schedulingGates: [{name: example.com/quota}]
  containers: [{name: c, image: pause}]
`,
  );
  await new Promise((r) => setTimeout(r, 1000));
  const p = await json(['get', 'pod', 'gated']);
  assert.equal(p.spec.nodeName, undefined);
  assert.equal(p.status.conditions.find((c: KObject) => c.type === 'PodScheduled').reason, 'SchedulingGated');
  assert.match(await t.ok(['get', 'pod', 'gated']), /SchedulingGated/);
  await t.ok(['patch', 'pod', 'gated', '--type=json', '-p', '[{"op":"remove","path":"/spec/schedulingGates"}]']);
  assert.ok(await until('gated bound', async () => (await json(['get', 'pod', 'gated'])).spec.nodeName, 10_000));
});
