// kubectl top and kubectl describe node on EVE nodes: kubeve + 2 simulated devices sending metrics over
// real TLS, the real kubectl. metrics.k8s.io/v1beta1 is discovered and serves NodeMetrics/PodMetrics
// from the device and app metrics; the Node's Events tell its registration, loss and return of contact,
// a reboot with EVE's reason and a base OS update.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';

let env: EveTestEnv;
let fleet: SimFleet;
const json = async (args: string[]) => JSON.parse(await env.ok([...args, '-o', 'json']));
const cond = (o: any, t: string) => (o.status?.conditions ?? []).find((c: any) => c.type === t);
const nodeEvents = async (node: string) => env.ok(['get', 'events', '-A', '--field-selector', `involvedObject.kind=Node,involvedObject.name=${node}`]);

before(async () => {
  env = await startEveEnv({ eve: { offlineTimeoutMs: 3000, debounceMs: 20 } });
  await env.apply(onboardingKeyYaml('top-key', env.onboard.certPem, { labels: { site: 'lab' } }));
  fleet = await env.fleet({ count: 2, serialPrefix: 'top-', metrics: true });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 2, 60_000, '2 configured devices');
});
after(async () => {
  await env?.close();
});

const nodeRow = (n: string) => new RegExp(`^${n}\\s+[1-9]\\d*m\\s+\\d+%\\s+[1-9]\\d*Mi\\s+\\d+%`, 'm');

test('kubectl top node / top pod show the usage devices report through metrics.k8s.io/v1beta1', async () => {
  const groups = JSON.parse(await env.ok(['get', '--raw', '/apis/metrics.k8s.io/v1beta1']));
  assert.deepEqual(groups.resources.map((r: any) => [r.name, r.kind, r.verbs]).sort(), [
    ['nodes', 'NodeMetrics', ['get', 'list']],
    ['pods', 'PodMetrics', ['get', 'list']],
  ]);
  await env.apply(`apiVersion: v1
kind: Pod
metadata: {name: busy, namespace: default, labels: {app: busy}}
spec:
  nodeName: top-0000
  tolerations: [{key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}]
  containers: [{name: main, image: library/nginx:1.27, resources: {limits: {cpu: "1", memory: 300Mi}}}]
`);
  await env.ok(['wait', '--for=condition=Ready', 'pod/busy', '--timeout=60s']);

  const top = await eventually(
    async () => {
      const r = await env.kubectl(['top', 'node']);
      // A usage needs two device samples (or a counter that has moved since boot): wait for non-zero numbers.
      return r.code === 0 && ['top-0000', 'top-0001'].every((n) => nodeRow(n).test(r.stdout)) ? r.stdout : undefined;
    },
    30_000,
    'kubectl top node lists both nodes with their usage',
  );
  // NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%): numbers from the device metrics.
  for (const n of ['top-0000', 'top-0001']) assert.match(top, nodeRow(n), top);
  const nm = JSON.parse(await env.ok(['get', '--raw', '/apis/metrics.k8s.io/v1beta1/nodes/top-0000']));
  assert.equal(nm.kind, 'NodeMetrics');
  assert.match(nm.usage.cpu, /^\d+n$/);
  assert.match(nm.usage.memory, /^\d+Ki$/);
  assert.ok(nm.timestamp && nm.window, JSON.stringify(nm));
  assert.equal(nm.metadata.labels.site, 'lab', 'node labels, so selectors work');
  assert.match(await env.ok(['top', 'node', '-l', 'kubernetes.io/hostname=top-0001']), /^top-0001\s/m);
  // The simulated app uses 300Mi/3 of memory: usedMB 100 → 100Mi.
  const pods = await eventually(
    async () => {
      const r = await env.kubectl(['top', 'pod', '-n', 'default']);
      return r.code === 0 && /^busy\s/m.test(r.stdout) ? r.stdout : undefined;
    },
    30_000,
    'kubectl top pod lists the pod',
  );
  assert.match(pods, /^busy\s+\d+m\s+100Mi/m, pods);
  assert.match(await env.ok(['top', 'pod', 'busy', '--containers']), /^busy\s+main\s+\d+m\s+100Mi/m);
  const pm = JSON.parse(await env.ok(['get', '--raw', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy']));
  assert.equal(pm.kind, 'PodMetrics');
  assert.deepEqual(
    pm.containers.map((c: any) => c.name),
    ['main'],
  );
});

test('metrics.k8s.io is read-only and answers unknown names with 404', async () => {
  const missing = await env.kubectl(['get', '--raw', '/apis/metrics.k8s.io/v1beta1/nodes/no-such-node']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /NotFound|not found/);
  const create = await env.kubectl(
    ['create', '--raw', '/apis/metrics.k8s.io/v1beta1/nodes', '-f', '-'],
    JSON.stringify({ apiVersion: 'metrics.k8s.io/v1beta1', kind: 'NodeMetrics', metadata: { name: 'x' } }),
  );
  assert.notEqual(create.code, 0);
  assert.match(create.stderr, /MethodNotAllowed|not allowed|405/);
  const watch = await env.kubectl(['get', '--raw', '/apis/metrics.k8s.io/v1beta1/nodes?watch=true']);
  assert.notEqual(watch.code, 0);
});

test('kubectl describe node shows Events: registered, out of contact and back, reboot with its reason, OS update', async () => {
  const d = fleet.devices.find((x) => x.serial === 'top-0001')!;
  await eventually(async () => /RegisteredNode/.test(await nodeEvents('top-0001')), 10_000, 'RegisteredNode event');
  d.setOffline(true);
  await eventually(async () => cond(await json(['get', 'node', 'top-0001']), 'Ready')?.status === 'Unknown', 20_000, 'Ready=Unknown');
  d.setOffline(false);
  await eventually(async () => cond(await json(['get', 'node', 'top-0001']), 'Ready')?.status === 'True', 20_000, 'Ready again');
  await env.ok(['patch', 'edgenode', 'top-0001', '--type=merge', '-p', '{"spec":{"reboot":1}}']);
  await eventually(async () => /Rebooted/.test(await nodeEvents('top-0001')), 30_000, 'Rebooted event').catch(async (e) => {
    throw new Error(`${e.message}:\n${await nodeEvents('top-0001')}\n${JSON.stringify((await json(['get', 'edgenode', 'top-0001'])).status, null, 1)}`);
  });
  await env.ok([
    'patch',
    'edgenode',
    'top-0001',
    '--type=merge',
    '-p',
    JSON.stringify({
      spec: {
        configItems: { 'timer.test.baseimage.update': '30' },
        baseOS: { version: '14.6.0-kvm-amd64', image: 'lfedge/eve:14.6.0-kvm-amd64', activate: true },
      },
    }),
  ]);
  await eventually(async () => /OSUpdateCommitted/.test(await nodeEvents('top-0001')), 60_000, 'OSUpdateCommitted event');
  const describe = await env.ok(['describe', 'node', 'top-0001']);
  const events = describe.slice(describe.indexOf('Events:'));
  for (const reason of ['RegisteredNode', 'NodeNotReady', 'NodeReady', 'Rebooted', 'OSUpdateStarted', 'OSUpdateCommitted'])
    assert.match(events, new RegExp(`\\s${reason}\\s`), `${reason} in describe node:\n${events}`);
  assert.match(events, /reboot\.counter changed by controller/, "EVE's boot reason");
  assert.match(events, /NodeNotReady .*status is now: NodeNotReady \(no request from the device for more than 3s/, 'why, in EVE terms');
  assert.match(events, /OSUpdateStarted .*updating from 14\.5\.1-kvm-amd64 to 14\.6\.0-kvm-amd64/);
  // The other node saw none of this.
  const other = await nodeEvents('top-0000');
  assert.doesNotMatch(other, /Rebooted|NodeNotReady|OSUpdate/);
});

test('a Pod the scheduler binds to an EVE node (nodeSelector, no nodeName) is picked up once bound and runs', async () => {
  // The bridge caches bound pods only (spec.nodeName!=): the pod enters its cache at the binding.
  await env.apply(`apiVersion: v1
kind: Pod
metadata: {name: placed, namespace: default}
spec:
  nodeSelector: {kubernetes.io/hostname: top-0000}
  tolerations: [{key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}]
  containers: [{name: main, image: library/nginx:1.27, resources: {limits: {cpu: 100m, memory: 64Mi}}}]
`);
  await env.ok(['wait', '--for=condition=Ready', 'pod/placed', '--timeout=60s']);
  const pod = await json(['get', 'pod', 'placed']);
  assert.equal(pod.spec.nodeName, 'top-0000');
  assert.equal(fleet.devices.find((d) => d.serial === 'top-0000')!.model.appStates().placed, 'RUNNING');
});
