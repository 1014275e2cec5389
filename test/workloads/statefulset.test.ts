// StatefulSets through the real kubectl on plain Nodes: ordinal names, OrderedReady (the next
// ordinal waits for the previous one to be Ready), scale down from the top, and a rolling update
// that `kubectl rollout status` follows to the end.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorkloadServer, node, until, type WorkloadServer } from './helpers.ts';
import { NODES } from '../../src/controllers/workloads/common.ts';
import type { KObject } from '../../src/controllers/runtime/index.ts';

let t: WorkloadServer;
before(async () => {
  t = await startWorkloadServer();
  for (let i = 0; i < 3; i++) await t.client.create(NODES, undefined, node(`n${i}`));
});
after(async () => {
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));
const names = async () =>
  ((await json(['get', 'pods', '-l', 'app=db'])).items as KObject[])
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => p.metadata.name)
    .sort();

test('ordinal pods, created in order, each after the previous is ready', async () => {
  t.kubelet.holdReady = true;
  await t.ok(
    ['apply', '-f', '-'],
    `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "db:1"}]}
`,
  );
  await until('db-0', async () => (await names()).includes('db-0'));
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(await names(), ['db-0'], 'db-1 waits for db-0 to be ready');
  t.kubelet.release();
  assert.match(await t.ok(['rollout', 'status', 'statefulset/db', '--timeout=60s']), /partitioned roll out complete: 3 new pods have been updated\.\.\./);
  assert.deepEqual(await names(), ['db-0', 'db-1', 'db-2']);
  const p = await json(['get', 'pod', 'db-1']);
  assert.equal(p.spec.hostname, 'db-1');
  assert.equal(p.spec.subdomain, 'db');
  assert.equal(p.metadata.labels['apps.kubernetes.io/pod-index'], '1');
  assert.match(await t.ok(['get', 'sts', 'db']), /\ndb\s+3\/3\s+/);
});

test('scale down removes the highest ordinals; a rolling update replaces every pod', async () => {
  await t.ok(['scale', 'statefulset/db', '--replicas=1']);
  await until('only db-0', async () => JSON.stringify(await names()) === '["db-0"]');
  await t.ok(['scale', 'statefulset/db', '--replicas=3']);
  await t.ok(['rollout', 'status', 'statefulset/db', '--timeout=60s']);
  await t.ok(['set', 'image', 'statefulset/db', 'db=db:2']);
  // The API defaults rollingUpdate.partition to 0, so kubectl reports a "partitioned" roll out.
  assert.match(await t.ok(['rollout', 'status', 'statefulset/db', '--timeout=60s']), /partitioned roll out complete: 3 new pods have been updated/);
  await until('all on db:2', async () =>
    ((await json(['get', 'pods', '-l', 'app=db'])).items as KObject[]).every((p) => p.spec.containers[0].image === 'db:2' && p.status?.phase === 'Running'),
  );
  const pods: KObject[] = (await json(['get', 'pods', '-l', 'app=db'])).items;
  assert.deepEqual(
    pods.map((p) => p.spec.containers[0].image),
    ['db:2', 'db:2', 'db:2'],
  );
  const sts = await json(['get', 'sts', 'db']);
  assert.equal(sts.status.currentRevision, sts.status.updateRevision);
  assert.match(await t.ok(['rollout', 'history', 'statefulset/db']), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
});
