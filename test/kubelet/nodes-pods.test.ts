// EVE as kubelet, end to end: kubeve + 3 simulated devices over real TLS, the real kubectl.
// EdgeNodes become Ready Nodes; a Pod bound to one runs as the device's app (UUID = Pod UID) and
// goes Ready; what EVE cannot do is refused with a reason and never reaches the device; a silent
// device's Node goes Ready=Unknown with the unreachable taint, its pod is kept unless it opted into
// eviction; the device's return changes no config version.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import type { SimDevice } from '../../src/sim/device.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';

const OFFLINE_MS = 3000;
let env: EveTestEnv;
let fleet: SimFleet;
const names = ['kl-0000', 'kl-0001', 'kl-0002'];
const cond = (o: any, t: string) => (o.status?.conditions ?? []).find((c: any) => c.type === t);
const json = async (args: string[]) => JSON.parse(await env.ok([...args, '-o', 'json']));
const dev = (serial: string): SimDevice => fleet.devices.find((d) => d.serial === serial)!;
const config = async (node: string) => JSON.parse(await env.ok(['get', '--raw', `/apis/eve.kubeve.io/v1alpha1/edgenodes/${node}/config`]));

before(async () => {
  env = await startEveEnv({ eve: { offlineTimeoutMs: OFFLINE_MS, debounceMs: 20 } });
  await env.apply(onboardingKeyYaml('kl-key', env.onboard.certPem, { labels: { site: 'plant-7' } }));
  fleet = await env.fleet({ count: 3, serialPrefix: 'kl-', knobs: { failImage: (ct) => ct.url.includes('broken') } });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 3, 60_000, '3 configured devices');
});
after(async () => {
  await env?.close();
});

const podYaml = (name: string, node: string, extra = '', tolerations = '') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default}
spec:
  nodeName: ${node}
  tolerations:
    - {key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}
${tolerations}  containers:
    - name: main
      image: library/nginx:1.27
      env: [{name: GREETING, value: hello}]
      ports: [{containerPort: 80, hostPort: 8080}]
      resources: {limits: {cpu: "1", memory: 256Mi}}
${extra}`;

test('3 devices → kubectl get nodes -o wide: 3 Ready nodes, EVE-OS image, arch, internal IP, taint and labels', async () => {
  const nodes = await eventually(
    async () => {
      const l = await json(['get', 'nodes']);
      return l.items.length === 3 &&
        l.items.every(
          (n: any) =>
            cond(n, 'Ready')?.status === 'True' &&
            n.status.nodeInfo.osImage.startsWith('EVE-OS ') &&
            n.status.addresses.some((a: any) => a.type === 'InternalIP'),
        )
        ? l.items
        : undefined;
    },
    60_000,
    '3 Ready nodes with device info',
  );
  const wide = await env.ok(['get', 'nodes', '-o', 'wide']);
  for (const n of names)
    assert.match(wide, new RegExp(`^${n}\\s+Ready\\s+<none>\\s+\\S+\\s+v\\S+\\s+\\d+\\.\\d+\\.\\d+\\.\\d+\\s+<none>\\s+EVE-OS \\S+`, 'm'), wide);
  const n0 = nodes.find((n: any) => n.metadata.name === 'kl-0000');
  const en = await json(['get', 'edgenode', 'kl-0000']);
  assert.equal(n0.metadata.labels['kubeve.io/edge-node'], 'true');
  assert.equal(n0.metadata.labels['kubernetes.io/os'], 'linux');
  assert.equal(n0.metadata.labels['kubernetes.io/hostname'], 'kl-0000');
  assert.equal(n0.metadata.labels['kubernetes.io/arch'], n0.status.nodeInfo.architecture);
  assert.equal(n0.metadata.labels['kubeve.io/eve-version'], en.status.eveVersion);
  assert.equal(n0.metadata.labels.site, 'plant-7', "the EdgeNode's own labels");
  assert.equal(n0.status.nodeInfo.osImage, `EVE-OS ${en.status.eveVersion}`);
  assert.equal(n0.status.nodeInfo.systemUUID, en.status.uuid);
  assert.equal(n0.status.capacity.cpu, String(en.status.hardware.cpus));
  assert.ok(n0.status.capacity.memory);
  assert.deepEqual(n0.spec.taints, [{ key: 'kubeve.io/edge-node', value: 'true', effect: 'NoSchedule' }]);
  assert.deepEqual(
    n0.metadata.ownerReferences.map((r: any) => [r.kind, r.uid]),
    [['EdgeNode', en.metadata.uid]],
  );
  assert.equal(cond(n0, 'EVEConnected').status, 'True');
  // Labels others set stay; an EdgeNode label change reaches the Node, a removed one leaves it.
  await env.ok(['label', 'node', 'kl-0000', 'team=edge']);
  await env.ok(['label', 'edgenode', 'kl-0000', 'site=plant-8', '--overwrite']);
  await eventually(async () => (await json(['get', 'node', 'kl-0000'])).metadata.labels.site === 'plant-8', 10_000, 'label synced');
  await env.ok(['label', 'edgenode', 'kl-0000', 'site-']);
  const relabelled = await eventually(
    async () => {
      const n = await json(['get', 'node', 'kl-0000']);
      return n.metadata.labels.site === undefined ? n : undefined;
    },
    10_000,
    'label removed',
  );
  assert.equal(relabelled.metadata.labels.team, 'edge');
  assert.equal(relabelled.metadata.labels['kubeve.io/edge-node'], 'true');
  const leases = await eventually(
    async () => {
      const l = (await json(['get', 'leases', '-n', 'kube-node-lease'])).items;
      return l.length === 3 ? l : undefined;
    },
    20_000,
    'a lease per node',
  );
  const l = leases.find((x: any) => x.metadata.name === 'kl-0000');
  assert.equal(l.spec.holderIdentity, 'kl-0000');
  assert.ok(l.spec.renewTime);
});

test('no write storm: with only time passing, Nodes and Leases are not rewritten', async () => {
  await env.k.kubelet!.idle();
  const before = (await json(['get', 'nodes'])).items.map((n: any) => n.metadata.resourceVersion);
  const leases = (await json(['get', 'leases', '-n', 'kube-node-lease'])).items.map((n: any) => n.metadata.resourceVersion);
  // Devices poll every second at this time scale: ~3 polls each, none may cost a Node or Lease write.
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(
    (await json(['get', 'nodes'])).items.map((n: any) => n.metadata.resourceVersion),
    before,
  );
  assert.deepEqual(
    (await json(['get', 'leases', '-n', 'kube-node-lease'])).items.map((n: any) => n.metadata.resourceVersion),
    leases,
  );
  // A minute later (the renew interval): one renewal per lease, to the device's last contact; then none.
  const bridge = env.k.kubelet!;
  const w0 = bridge.leases.writes;
  await bridge.leases.tick(Date.now() + 61_000);
  assert.equal(bridge.leases.writes - w0, 3, 'one write per device');
  await bridge.leases.tick(Date.now() + 62_000);
  assert.equal(bridge.leases.writes - w0, 3, 'not again within the interval');
  const l = (await json(['get', 'leases', '-n', 'kube-node-lease'])).items;
  for (const x of l) assert.ok(Date.now() - Date.parse(x.spec.renewTime) < 3000, `renewTime is the last contact: ${x.spec.renewTime}`);
});

test('a Pod bound to an EVE node runs as the device app with the Pod UID and goes Ready with the device IP', async () => {
  await env.apply(podYaml('web', 'kl-0000'));
  await env.ok(['wait', '--for=condition=Ready', 'pod/web', '-n', 'default', '--timeout=60s']);
  const pod = await json(['get', 'pod', 'web', '-n', 'default']);
  assert.equal(pod.status.phase, 'Running');
  assert.match(pod.status.podIP, /^10\.244\.0\.\d+$/, 'an address the device assigned on the pod network');
  const node = await json(['get', 'node', 'kl-0000']);
  assert.equal(pod.status.hostIP, node.status.addresses.find((a: any) => a.type === 'InternalIP').address);
  const cs = pod.status.containerStatuses[0];
  assert.equal(cs.ready, true);
  assert.ok(cs.state.running.startedAt);
  assert.equal(cs.restartCount, 0);
  for (const t of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) assert.equal(cond(pod, t)?.status, 'True', t);
  const cfg = await config('kl-0000');
  const app = cfg.apps.find((a: any) => a.uuidandversion.uuid === pod.metadata.uid);
  assert.ok(app, `the device config has an app with the pod UID ${pod.metadata.uid}`);
  assert.equal(app.displayname, 'web');
  assert.match(Buffer.from(app.userData, 'base64').toString(), /GREETING=hello/);
  assert.equal(dev('kl-0000').model.appStates().web, 'RUNNING');
  const ev = await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=web']);
  for (const reason of ['Pulling', 'Pulled', 'Started']) assert.match(ev, new RegExp(reason));
  // A running app whose device keeps polling costs no Pod or AppInstance write.
  await env.k.kubelet!.idle();
  const rv = (await json(['get', 'pod', 'web', '-n', 'default'])).metadata.resourceVersion;
  const arv = (await json(['get', 'appinstance', 'web', '-n', 'default'])).metadata.resourceVersion;
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal((await json(['get', 'pod', 'web', '-n', 'default'])).metadata.resourceVersion, rv);
  assert.equal((await json(['get', 'appinstance', 'web', '-n', 'default'])).metadata.resourceVersion, arv);
});

test("an image EVE cannot pull: Pending, waiting ErrImagePull with EVE's message, a Failed event", async () => {
  await env.apply(podYaml('broken', 'kl-0000').replace('library/nginx:1.27', 'library/broken:1').replace('hostPort: 8080', 'hostPort: 8081'));
  const pod = await eventually(
    async () => {
      const p = await json(['get', 'pod', 'broken', '-n', 'default']);
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImagePull' ? p : undefined;
    },
    30_000,
    'ErrImagePull',
  );
  assert.equal(pod.status.phase, 'Pending');
  assert.match(pod.status.containerStatuses[0].state.waiting.message, /404 Not Found/);
  assert.equal(cond(pod, 'Ready').status, 'False');
  const ev = await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=broken']);
  assert.match(ev, /Pulling/);
  assert.match(ev, /Failed/);
  await env.ok(['delete', 'pod', 'broken', '-n', 'default', '--wait=true', '--timeout=60s']);
});

test('a 2-container Pod is refused: Failed with a reason naming the field, device config unchanged', async () => {
  const before = (await json(['get', 'edgenode', 'kl-0001'])).status;
  await env.apply(
    podYaml(
      'two',
      'kl-0001',
      `    - name: sidecar
      image: library/busybox:1.36
`,
    ),
  );
  const pod = await eventually(
    async () => {
      const p = await json(['get', 'pod', 'two', '-n', 'default']);
      return p.status?.phase === 'Failed' ? p : undefined;
    },
    20_000,
    'pod Failed',
  );
  assert.equal(pod.status.reason, 'UnsupportedOnEVE');
  assert.match(pod.status.message, /spec\.containers\[1\]/);
  await env.k.eve.idle();
  const after = (await json(['get', 'edgenode', 'kl-0001'])).status;
  assert.equal(after.configVersion, before.configVersion);
  assert.equal(after.renderedConfigHash, before.renderedConfigHash);
  assert.equal((await env.kubectl(['get', 'appinstance', 'two', '-n', 'default'])).code, 1, 'no AppInstance');
  await env.apply(
    podYaml(
      'probe',
      'kl-0001',
      `      livenessProbe: {tcpSocket: {port: 80}}
`,
    ),
  );
  const probe = await eventually(
    async () => {
      const p = await json(['get', 'pod', 'probe', '-n', 'default']);
      return p.status?.phase === 'Failed' ? p : undefined;
    },
    20_000,
    'probe pod Failed',
  );
  assert.match(probe.status.message, /spec\.containers\[0\]\.livenessProbe/);
  const ev = await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=probe']);
  assert.match(ev, /UnsupportedOnEVE/);
  await env.k.eve.idle();
  assert.equal((await json(['get', 'edgenode', 'kl-0001'])).status.renderedConfigHash, before.renderedConfigHash, 'nothing reached the device');
});

test('a silent device: Ready=Unknown + unreachable taint, pod kept; a pod tolerating unreachable for 5 s goes after ~5 s; return changes no config version', async () => {
  await env.apply(podYaml('keeper', 'kl-0002'));
  await env.apply(
    podYaml(
      'mover',
      'kl-0002',
      '',
      `    - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
`,
    ),
  );
  await env.ok(['wait', '--for=condition=Ready', 'pod/keeper', 'pod/mover', '-n', 'default', '--timeout=60s']);
  await env.k.eve.idle();
  const enBefore = await json(['get', 'edgenode', 'kl-0002']);
  const appUuid = (await json(['get', 'appinstance', 'keeper', '-n', 'default'])).status.uuid;
  const d = dev('kl-0002');
  d.setOffline(true);
  const node = await eventually(
    async () => {
      const n = await json(['get', 'node', 'kl-0002']);
      return cond(n, 'Ready')?.status === 'Unknown' ? n : undefined;
    },
    20_000,
    'Ready=Unknown',
  );
  const unknownAt = Date.now();
  const w0 = env.k.kubelet!.leases.writes;
  await env.k.kubelet!.leases.tick(Date.now() + 10 * 60_000);
  assert.equal(env.k.kubelet!.leases.writes - w0, 2, "the silent device's lease is not renewed, the others are");
  assert.ok(
    node.spec.taints.some((t: any) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoSchedule'),
    JSON.stringify(node.spec.taints),
  );
  assert.equal(cond(node, 'EVEConnected').status, 'False');
  assert.match(await env.ok(['get', 'nodes']), /kl-0002\s+NotReady/);
  const keeper = await eventually(
    async () => {
      const p = await json(['get', 'pod', 'keeper', '-n', 'default']);
      return cond(p, 'EVEConnected')?.status === 'False' ? p : undefined;
    },
    10_000,
    'pod condition EVEConnected=False',
  );
  assert.equal(keeper.status.phase, 'Running', 'last state kept');
  assert.equal(cond(keeper, 'Ready').status, 'True');
  await eventually(async () => (await env.kubectl(['get', 'pod', 'mover', '-n', 'default'])).code === 1, 15_000, 'mover deleted');
  const took = Date.now() - unknownAt;
  assert.ok(took >= 3500 && took <= 9000, `deleted after ~5 s (${took} ms after Ready=Unknown)`);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await env.kubectl(['get', 'pod', 'keeper', '-n', 'default'])).code, 0, 'keeper not evicted');
  await env.k.eve.idle();
  // The mover's app left the config while the device was away (one new version); nothing else may change on return.
  const offlineVersion = (await json(['get', 'edgenode', 'kl-0002'])).status.configVersion;
  assert.equal(offlineVersion, enBefore.status.configVersion + 1);

  d.setOffline(false);
  await eventually(async () => cond(await json(['get', 'node', 'kl-0002']), 'Ready')?.status === 'True', 20_000, 'Ready again');
  const n = await json(['get', 'node', 'kl-0002']);
  assert.ok(!n.spec.taints.some((t: any) => t.key === 'node.kubernetes.io/unreachable'));
  await env.k.eve.idle();
  const enAfter = await json(['get', 'edgenode', 'kl-0002']);
  assert.equal((await json(['get', 'appinstance', 'keeper', '-n', 'default'])).status.uuid, appUuid);
  assert.equal(enAfter.status.configVersion, offlineVersion, 'no config version bump on return');
  const k2 = await json(['get', 'pod', 'keeper', '-n', 'default']);
  assert.equal(cond(k2, 'EVEConnected').status, 'True');
  assert.equal(k2.status.containerStatuses[0].restartCount, 0);
});

test('graceful delete removes the app from the device, then the pod; --force --grace-period=0 at once', async () => {
  const pod = await json(['get', 'pod', 'web', '-n', 'default']);
  await env.ok(['delete', 'pod', 'web', '-n', 'default', '--wait=true', '--timeout=60s']);
  const cfg = await config('kl-0000');
  assert.ok(!(cfg.apps ?? []).some((a: any) => a.uuidandversion.uuid === pod.metadata.uid), 'app gone from the device config');
  const en = await json(['get', 'edgenode', 'kl-0000']);
  assert.equal(en.status.deliveredConfigHash, en.status.renderedConfigHash, 'the pod went once the device ran the config without its app');
  await env.ok(['delete', 'pod', 'keeper', '-n', 'default', '--force', '--grace-period=0']);
  assert.equal((await env.kubectl(['get', 'pod', 'keeper', '-n', 'default'])).code, 1);
});

test('a deleted EdgeNode takes its Node and its Pods', async () => {
  assert.equal((await env.kubectl(['get', 'pod', 'two', '-n', 'default'])).code, 0);
  await env.ok(['delete', 'edgenode', 'kl-0001']);
  await eventually(async () => (await env.kubectl(['get', 'node', 'kl-0001'])).code === 1, 20_000, 'Node gone');
  await eventually(
    async () =>
      (await env.kubectl(['get', 'pod', 'two', '-n', 'default'])).code === 1 && (await env.kubectl(['get', 'pod', 'probe', '-n', 'default'])).code === 1,
    20_000,
    'Pods gone',
  );
  const nodes = (await json(['get', 'nodes'])).items.map((n: any) => n.metadata.name).sort();
  assert.deepEqual(nodes, ['kl-0000', 'kl-0002']);
});
