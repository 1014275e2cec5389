// PodDisruptionBudget status from the disruption controller, and `kubectl drain` through the
// eviction API: with minAvailable=2 over 3 replicas one drain proceeds, a second one is refused
// with kube's 429 until the evicted pod's replacement is ready.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorkloadServer, node, until, type WorkloadServer } from './helpers.ts';
import { NODES } from '../../src/controllers/workloads/common.ts';
import type { KObject } from '../../src/controllers/runtime/index.ts';

let t: WorkloadServer;
before(async () => {
  t = await startWorkloadServer();
  for (let i = 0; i < 5; i++) await t.client.create(NODES, undefined, node(`n${i}`));
});
after(async () => {
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));

test('PDB status follows the pods; a second drain waits for the budget', async () => {
  await t.ok(['create', 'deployment', 'db', '--image=postgres', '--replicas=3']);
  await t.ok(['create', 'pdb', 'db', '--selector=app=db', '--min-available=2']);
  await t.ok(['rollout', 'status', 'deployment/db', '--timeout=60s']);
  const status = await until('pdb status', async () => {
    const s = (await json(['get', 'pdb', 'db'])).status;
    return s?.currentHealthy === 3 && s;
  });
  assert.deepEqual(
    { allowed: status.disruptionsAllowed, desired: status.desiredHealthy, expected: status.expectedPods, current: status.currentHealthy },
    { allowed: 1, desired: 2, expected: 3, current: 3 },
  );
  assert.match(await t.ok(['get', 'pdb', 'db']), /\ndb\s+2\s+N\/A\s+1\s+/);

  const pods: KObject[] = (await json(['get', 'pods', '-l', 'app=db'])).items;
  const nodes = [...new Set(pods.map((p) => p.spec.nodeName))];
  assert.ok(nodes.length >= 2, `pods spread over ${nodes.join(',')}`);

  // Replacements start slowly: the budget stays spent until they are ready.
  t.kubelet.holdReady = true;
  const first = await t.kubectl(['drain', nodes[0], '--timeout=30s']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /evicted/);
  assert.match(first.stdout, new RegExp(`node/${nodes[0]} drained`));
  await until('budget spent', async () => (await json(['get', 'pdb', 'db'])).status.disruptionsAllowed === 0);

  const second = t.kubectl(['drain', nodes[1], '--timeout=60s']);
  await new Promise((r) => setTimeout(r, 3000));
  const onSecond = (await json(['get', 'pods', '-l', 'app=db', '--field-selector', `spec.nodeName=${nodes[1]}`])).items;
  assert.ok(onSecond.length >= 1 && onSecond.every((p: KObject) => !p.metadata.deletionTimestamp), 'the second drain evicted nothing yet');
  assert.ok((await json(['get', 'node', nodes[1]])).spec.unschedulable, 'second node cordoned');

  t.kubelet.release();
  const r = await second;
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /error when evicting pods\/"db-[a-z0-9-]+" -n "default" \(will retry after 5s\): Cannot evict pod as it would violate the pod's disruption budget\./,
  );
  assert.match(r.stdout, new RegExp(`node/${nodes[1]} drained`));
  await until('3 ready again', async () => (await json(['get', 'deploy', 'db'])).status.availableReplicas === 3);
  const after: KObject[] = (await json(['get', 'pods', '-l', 'app=db'])).items;
  for (const p of after) assert.ok(!nodes.slice(0, 2).includes(p.spec.nodeName), `${p.metadata.name} on cordoned ${p.spec.nodeName}`);
});

test('pods bound to a vanished node are collected and replaced elsewhere', async () => {
  const pods: KObject[] = (await json(['get', 'pods', '-l', 'app=db'])).items;
  const victim = pods[0];
  await t.ok(['delete', 'node', victim.spec.nodeName]);
  await until(
    'orphan collected',
    async () => !(await json(['get', 'pods', '-l', 'app=db'])).items.some((p: KObject) => p.metadata.uid === victim.metadata.uid),
    15_000,
  );
  await until('3 ready again', async () => {
    const ps: KObject[] = (await json(['get', 'pods', '-l', 'app=db'])).items;
    return ps.length === 3 && ps.every((p) => p.status?.phase === 'Running' && p.spec.nodeName !== victim.spec.nodeName);
  });
});
