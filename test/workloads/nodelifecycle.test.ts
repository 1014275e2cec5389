// Node lifecycle for plain (non-EVE) Nodes, as kubectl shows it: a node whose kubelet stops renewing
// its Lease goes Ready=Unknown with kube's texts and the unreachable taints; pods that do not
// tolerate them go at once, tolerationSeconds is honoured, a toleration with no seconds keeps the
// pod; when the node is back the taints go and a pending eviction is cancelled. An EVE node (label
// kubeve.io/edge-node) is left to the kubelet bridge. A short grace period stands in for kube's 40 s.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorkloadServer, node, until, type WorkloadServer } from './helpers.ts';
import { NODES, PODS } from '../../src/controllers/workloads/common.ts';
import { LEASES, type KObject } from '../../src/controllers/runtime/index.ts';

let t: WorkloadServer;
let beat: NodeJS.Timeout;
const micro = () => new Date().toISOString().replace('Z', '000Z');
/** The "kubelets": which nodes renew their Lease. */
const alive = new Set(['steady', 'flaky']);
/** When each pod was first seen deleted or terminating (a watch, so timing does not depend on polling). */
const goneAt = new Map<string, number>();

async function renew(name: string): Promise<void> {
  const lease = await t.client.get(LEASES, 'kube-node-lease', name);
  await t.client.update(LEASES, { ...lease, spec: { ...lease.spec, renewTime: micro() } });
}

before(async () => {
  t = await startWorkloadServer({}, { gracePeriodMs: 1500, monitorPeriodMs: 200 });
  await t.client.create(NODES, undefined, node('steady'));
  await t.client.create(NODES, undefined, node('flaky'));
  await t.client.create(NODES, undefined, node('edge1', { 'kubeve.io/edge-node': 'true' }));
  for (const n of ['steady', 'flaky', 'edge1']) {
    await t.ok(
      ['apply', '-f', '-'],
      `apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: ${n}, namespace: kube-node-lease}\nspec: {holderIdentity: ${n}, leaseDurationSeconds: 40, renewTime: "${micro()}"}\n`,
    );
  }
  t.client.watch(
    PODS,
    undefined,
    {},
    (ev) => {
      const name = ev.object?.metadata?.name;
      if ((ev.type === 'DELETED' || ev.object?.metadata?.deletionTimestamp) && !goneAt.has(name)) goneAt.set(name, Date.now());
    },
    () => undefined,
  );
  beat = setInterval(() => {
    for (const n of alive) void renew(n).catch(() => undefined);
  }, 300);
});
after(async () => {
  clearInterval(beat);
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));
const exists = async (name: string) =>
  (await json(['get', 'pods', '--field-selector', `metadata.name=${name}`])).items.some((p: KObject) => !p.metadata.deletionTimestamp);
const runOn = (name: string, nodeName: string, tolerations: KObject[] = []) =>
  t.ok(['run', name, '--image=pause', `--overrides=${JSON.stringify({ spec: { nodeSelector: { 'kubernetes.io/hostname': nodeName }, tolerations } })}`]);
const unreachable = (seconds?: number) => ({
  key: 'node.kubernetes.io/unreachable',
  operator: 'Exists',
  effect: 'NoExecute',
  ...(seconds === undefined ? {} : { tolerationSeconds: seconds }),
});

test('a silent node goes Unknown and tainted; pods go now, after tolerationSeconds, or never', async () => {
  // Kube's DefaultTolerationSeconds admission gave a pod without its own toleration 300 s of grace.
  await runOn('graced', 'flaky');
  const graced = await json(['get', 'pod', 'graced']);
  assert.deepEqual(
    graced.spec.tolerations,
    ['not-ready', 'unreachable'].map((k) => ({ key: `node.kubernetes.io/${k}`, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 })),
  );
  await runOn('gone-now', 'flaky', [unreachable(0)]);
  await runOn('gone-later', 'flaky', [unreachable(3)]);
  await runOn('stays', 'flaky', [unreachable()]);
  await runOn('on-edge', 'edge1', [{ key: 'kubeve.io/edge-node', operator: 'Exists' }]);
  await until('all running', async () => (await json(['get', 'pods'])).items.filter((p: KObject) => p.status?.phase === 'Running').length === 5);

  alive.delete('flaky');
  const silentAt = Date.now();
  const flaky = await until(
    'flaky Unknown',
    async () => {
      const n = await json(['get', 'node', 'flaky']);
      return n.status.conditions.find((c: KObject) => c.type === 'Ready').status === 'Unknown' && n;
    },
    15_000,
  );
  assert.ok(Date.now() - silentAt >= 1400, 'not before the grace period');
  for (const type of ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure']) {
    const c = flaky.status.conditions.find((x: KObject) => x.type === type);
    assert.deepEqual(
      [c.status, c.reason, c.message],
      [
        'Unknown',
        type === 'Ready' ? 'NodeStatusUnknown' : 'NodeStatusNeverUpdated',
        type === 'Ready' ? 'Kubelet stopped posting node status.' : 'Kubelet never posted node status.',
      ],
      type,
    );
  }
  const tainted = await until('taints', async () => {
    const n = await json(['get', 'node', 'flaky']);
    return n.spec.taints?.length === 2 && n;
  });
  assert.deepEqual(tainted.spec.taints.map((x: KObject) => `${x.key}:${x.effect}`).sort(), [
    'node.kubernetes.io/unreachable:NoExecute',
    'node.kubernetes.io/unreachable:NoSchedule',
  ]);
  assert.match(await t.ok(['get', 'nodes']), /flaky\s+NotReady/);
  assert.match(await t.ok(['describe', 'node', 'flaky']), /Ready\s+Unknown.*NodeStatusUnknown\s+Kubelet stopped posting node status\./);

  await until('gone-now evicted', async () => !(await exists('gone-now')), 5000);
  const describe = await t.ok([
    'get',
    'events',
    '--field-selector',
    'involvedObject.name=gone-now,reason=TaintManagerEviction',
    '-o',
    'jsonpath={.items[*].message}',
  ]);
  assert.equal(describe, 'Marking for deletion Pod default/gone-now');
  await until('gone-later evicted', async () => !(await exists('gone-later')), 8000);
  // Both were judged when the taint landed: one at once, the other tolerationSeconds (3 s) later.
  const delay = goneAt.get('gone-later')! - goneAt.get('gone-now')!;
  assert.ok(delay >= 2700 && delay < 6000, `evicted ${delay} ms after the untolerating pod`);
  assert.ok(await exists('stays'), 'a toleration without seconds tolerates forever');
  assert.ok(await exists('graced'), 'the default 300 s have not passed');

  // The EVE node, silent all along, is the kubelet bridge's: untouched.
  const edge = await json(['get', 'node', 'edge1']);
  assert.equal(edge.status.conditions.find((c: KObject) => c.type === 'Ready').status, 'True');
  assert.equal(edge.spec.taints, undefined);
  assert.ok(await exists('on-edge'));
  assert.match(await t.ok(['get', 'nodes', 'steady']), /steady\s+Ready/);
});

test("back in touch: the taints go and a pending eviction is cancelled with kube's event", async () => {
  await t.ok(['delete', 'pod', 'stays', '--wait=false']);
  // A pod already bound there (created straight onto the node) with a long toleration: scheduled for eviction.
  await t.ok(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'patient' },
      spec: { nodeName: 'flaky', tolerations: [unreachable(60)], containers: [{ name: 'c', image: 'pause' }] },
    }),
  );
  await until('patient exists', () => exists('patient'));
  // The kubelet comes back: Lease renewed, Ready posted.
  alive.add('flaky');
  const n = await json(['get', 'node', 'flaky']);
  const conditions = n.status.conditions.map((c: KObject) =>
    c.type === 'Ready'
      ? {
          ...c,
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        }
      : c,
  );
  await t.ok(['patch', 'node', 'flaky', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions } })]);
  await until('taints removed', async () => !(await json(['get', 'node', 'flaky'])).spec.taints?.length, 5000);
  const msg = await until(
    'cancel event',
    async () => t.ok(['get', 'events', '--field-selector', 'involvedObject.name=patient,reason=TaintManagerEviction', '-o', 'jsonpath={.items[*].message}']),
    5000,
  );
  assert.equal(msg, 'Cancelling deletion of Pod default/patient');
  assert.ok(await exists('patient'));
  assert.match(await t.ok(['get', 'nodes', 'flaky']), /flaky\s+Ready/);
});
