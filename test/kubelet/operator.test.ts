// The kubelet bridge in `kubeve operator` mode, over HTTP: the operator (in this process, its HttpClient
// against a separate `kubeve server --controllers=false` standing in for a cluster) runs the bridge in
// its leader. A simulated device becomes a Ready Node whose Lease is vouched for (renewed to "now"
// every 10 s, 40 s duration, as a real node-lifecycle controller needs); a Pod bound to it goes Ready
// with the device's IP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { eventually, onboardingKeyYaml } from '../eve-e2e/helpers.ts';
import { issueOnboardingCert } from '../../src/eve/pki.ts';
import { SimFleet } from '../../src/sim/fleet.ts';
import { startOperator, type Operator } from '../../src/operator/operator.ts';
import { startCluster, freePort, type Cluster } from '../operator/helpers.ts';

let t: Cluster;
let op: Operator | undefined;
let fleet: SimFleet | undefined;
const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));
const cond = (o: any, type: string) => (o.status?.conditions ?? []).find((c: any) => c.type === type);

before(async () => {
  t = await startCluster();
  await t.ok(['create', 'namespace', 'kubeve-system']);
  const port = await freePort();
  op = await startOperator({
    kubeconfig: path.join(t.dir, 'data', 'admin.kubeconfig'),
    namespace: 'kubeve-system',
    dataDir: fs.mkdtempSync(path.join(t.dir, 'op-')),
    devicePort: port,
    deviceHost: '127.0.0.1',
    kubelet: { enabled: true },
  });
  await eventually(() => op!.controllers() !== undefined, 30_000, 'leading');
  const onboard = await issueOnboardingCert(op.device.pki);
  await t.ok(['apply', '-f', '-'], onboardingKeyYaml('opk-key', onboard.certPem));
  fleet = await SimFleet.create({
    server: `localhost:${port}`,
    rootCertPem: op.device.pki.root.certPem,
    onboard: { certPem: onboard.certPem, keyPem: onboard.keyPem },
    count: 1,
    serialPrefix: 'opk-',
    timeScale: 60,
    startSpreadMs: 100,
    stepMs: 1000,
    rebootMs: 2000,
    logs: false,
    metrics: false,
  });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 1, 60_000, 'device configured');
});
after(async () => {
  await fleet?.stop();
  await op?.close();
  await t?.close();
});

test('operator mode: Node Ready, Lease vouched for every 10 s with a 40 s duration, a Pod runs as the device app', async () => {
  const node = await eventually(
    async () => {
      const r = await t.kubectl(['get', 'node', 'opk-0000', '-o', 'json']);
      const n = r.code === 0 ? JSON.parse(r.stdout) : undefined;
      return n && cond(n, 'Ready')?.status === 'True' ? n : undefined;
    },
    30_000,
    'Node Ready',
  );
  assert.match(node.status.nodeInfo.osImage, /^EVE-OS /);
  const l1 = await eventually(
    async () =>
      (await t.kubectl(['get', 'lease', 'opk-0000', '-n', 'kube-node-lease'])).code === 0 && json(['get', 'lease', 'opk-0000', '-n', 'kube-node-lease']),
    20_000,
    'Lease',
  );
  assert.equal(l1.spec.leaseDurationSeconds, 40);
  // Renewed to "now" within the next ~10–15 s (the tick is 5 s), though nothing about the device changed.
  const l2 = await eventually(
    async () => {
      const l = await json(['get', 'lease', 'opk-0000', '-n', 'kube-node-lease']);
      return Date.parse(l.spec.renewTime) > Date.parse(l1.spec.renewTime) ? l : undefined;
    },
    25_000,
    'lease renewed',
  );
  assert.ok(Date.now() - Date.parse(l2.spec.renewTime) < 16_000, `fresh: ${l2.spec.renewTime}`);

  await t.ok(
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: Pod
metadata: {name: op-web, namespace: default}
spec:
  nodeName: opk-0000
  tolerations: [{key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}]
  containers: [{name: main, image: library/nginx:1.27, resources: {limits: {cpu: "1", memory: 128Mi}}}]
`,
  );
  await t.ok(['wait', '--for=condition=Ready', 'pod/op-web', '--timeout=60s']);
  const pod = await json(['get', 'pod', 'op-web']);
  assert.equal(pod.status.phase, 'Running');
  assert.match(pod.status.podIP, /^10\.244\.0\.\d+$/);
  assert.equal(fleet!.devices[0]!.model.appStates()['op-web'], 'RUNNING');
});
