// DaemonSets through the real kubectl on plain Nodes: one pod per matching, tainted node (the
// toleration admits them, the selector keeps the others out), a new node gets its pod, a rolling
// image change (`kubectl rollout status ds`), and ControllerRevision history.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorkloadServer, node, until, type WorkloadServer } from './helpers.ts';
import { NODES } from '../../src/controllers/workloads/common.ts';
import type { KObject } from '../../src/controllers/runtime/index.ts';

let t: WorkloadServer;
const edge = (name: string) => node(name, { role: 'edge' }, { spec: { taints: [{ key: 'example.com/edge', value: 'true', effect: 'NoSchedule' }] } });
before(async () => {
  t = await startWorkloadServer();
  for (let i = 0; i < 3; i++) await t.client.create(NODES, undefined, edge(`edge${i}`));
  for (let i = 0; i < 2; i++) await t.client.create(NODES, undefined, node(`plain${i}`));
});
after(async () => {
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));
const agentPods = async () => ((await json(['get', 'pods', '-l', 'app=agent'])).items as KObject[]).filter((p) => !p.metadata.deletionTimestamp);

const ds = (image: string) => `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {role: edge}
      tolerations: [{key: example.com/edge, operator: Exists, effect: NoSchedule}]
      containers: [{name: agent, image: "${image}"}]
`;

test('one pod per matching tainted node, none elsewhere; a new node gets one', async () => {
  await t.ok(['apply', '-f', '-'], ds('agent:1'));
  assert.match(await t.ok(['rollout', 'status', 'daemonset/agent', '--timeout=60s']), /daemon set "agent" successfully rolled out/);
  const pods = await agentPods();
  assert.deepEqual(pods.map((p) => p.spec.nodeName).sort(), ['edge0', 'edge1', 'edge2']);
  // Pinned by affinity, as kube's controller does, with the daemon tolerations added.
  const p = pods[0];
  assert.deepEqual(p.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0], {
    key: 'metadata.name',
    operator: 'In',
    values: [p.spec.nodeName],
  });
  assert.ok(p.spec.tolerations.some((x: KObject) => x.key === 'node.kubernetes.io/unschedulable'));
  assert.match(await t.ok(['get', 'ds', 'agent']), /\nagent\s+3\s+3\s+3\s+3\s+3\s+role=edge\s+/);

  await t.client.create(NODES, undefined, edge('edge3'));
  await until('a pod on edge3', async () => (await agentPods()).some((x) => x.spec.nodeName === 'edge3' && x.status?.phase === 'Running'));
  assert.equal((await agentPods()).length, 4);
  // A node that stops matching loses its pod.
  await t.ok(['label', 'node', 'edge0', 'role-']);
  await until('edge0 emptied', async () => !(await agentPods()).some((x) => x.spec.nodeName === 'edge0'));
  assert.equal((await agentPods()).length, 3);
});

test('a rolling image change replaces every pod; history lists both revisions', async () => {
  await t.ok(['set', 'image', 'daemonset/agent', 'agent=agent:2']);
  assert.match(await t.ok(['rollout', 'status', 'daemonset/agent', '--timeout=60s']), /successfully rolled out/);
  await until('all on agent:2', async () => {
    const ps = await agentPods();
    return ps.length === 3 && ps.every((p) => p.spec.containers[0].image === 'agent:2' && p.status?.phase === 'Running');
  });
  assert.match(await t.ok(['rollout', 'history', 'daemonset/agent']), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
  await t.ok(['rollout', 'undo', 'daemonset/agent']);
  await until('back on agent:1', async () => {
    const ps = await agentPods();
    return ps.length === 3 && ps.every((p) => p.spec.containers[0].image === 'agent:1' && p.status?.phase === 'Running');
  });
});
