// VMs and passthrough adapters from plain Pods, end to end: kubeve + 2 simulated devices over real TLS,
// the real kubectl, the embedded scheduler. EVE's modes are RuntimeClasses; a VM pod's disk, format,
// memory (KiB), vCPUs and cloud-init (base64) reach the device config and the VM runs. A device's USB
// adapters are an extended resource on its Node; pods asking for one get distinct adapters, the one too
// many stays Pending with kube's Insufficient message, and the assignment survives a server restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import type { SimDevice } from '../../src/sim/device.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';

let env: EveTestEnv;
let fleet: SimFleet;
const USB_NODE = 'vp-0000';
/** VMs go to the other device (by nodeSelector; still placed by the scheduler) to leave room for the USB pods. */
const VM_NODE = 'vp-0001';
const json = async (args: string[]) => JSON.parse(await env.ok([...args, '-o', 'json']));
const cond = (o: any, t: string) => (o.status?.conditions ?? []).find((c: any) => c.type === t);
const dev = (serial: string): SimDevice => fleet.devices.find((d) => d.serial === serial)!;
const config = async (node: string) => JSON.parse(await env.ok(['get', '--raw', `/apis/eve.kubeve.io/v1alpha1/edgenodes/${node}/config`]));
const appOf = (cfg: any, uid: string) => cfg.apps.find((a: any) => a.uuidandversion.uuid === uid);

before(async () => {
  env = await startEveEnv({ eve: { offlineTimeoutMs: 5000, debounceMs: 20 } });
  await env.apply(onboardingKeyYaml('vp-key', env.onboard.certPem));
  fleet = await env.fleet({
    count: 2,
    serialPrefix: 'vp-',
    // Device 0: two USB controllers, a serial port and a GPU; device 1: none.
    hardware: (i) =>
      i === 0
        ? {
            adapters: [
              { name: 'USB1', type: 'usb', address: '0000:00:14.0' },
              { name: 'USB2', type: 'usb', address: '0000:00:14.1' },
              { name: 'COM1', type: 'serial' },
              { name: 'VGA', type: 'gpu', address: '0000:00:02.0' },
            ],
          }
        : {},
  });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 2, 60_000, '2 configured devices');
  await eventually(
    async () => (await json(['get', 'nodes'])).items.filter((n: any) => cond(n, 'Ready')?.status === 'True').length === 2,
    60_000,
    '2 Ready nodes',
  );
});
after(async () => {
  await env?.close();
});

test("EVE's modes are RuntimeClasses that place pods on EVE nodes", async () => {
  const list = await json(['get', 'runtimeclasses']);
  const byName = Object.fromEntries(list.items.map((c: any) => [c.metadata.name, c]));
  for (const name of ['eve-container', 'eve-nohyper', 'eve-vm-hvm', 'eve-vm-fml']) {
    assert.equal(byName[name]?.handler, name, name);
    assert.deepEqual(byName[name].scheduling.nodeSelector, { 'kubeve.io/edge-node': 'true' });
    assert.deepEqual(byName[name].scheduling.tolerations, [{ key: 'kubeve.io/edge-node', operator: 'Exists', effect: 'NoSchedule' }]);
  }
  const table = await env.ok(['get', 'runtimeclass']);
  assert.match(table, /^eve-vm-fml\s+eve-vm-fml\s+/m);
  // A class of the cluster's own naming works through its handler: a NOHYPER container.
  await env.apply(`apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: bare-metal}
handler: eve-nohyper
scheduling:
  nodeSelector: {kubeve.io/edge-node: "true", kubernetes.io/hostname: ${VM_NODE}}
  tolerations: [{key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}]
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: default}
spec:
  runtimeClassName: bare-metal
  containers: [{name: main, image: library/busybox:1.36, resources: {limits: {memory: 64Mi}}}]
`);
  await env.ok(['wait', '--for=condition=Ready', 'pod/bare', '-n', 'default', '--timeout=60s']);
  const pod = await json(['get', 'pod', 'bare', '-n', 'default']);
  const app = appOf(await config(VM_NODE), pod.metadata.uid);
  assert.equal(app.fixedresources.virtualizationMode, 'NOHYPER');
  const root = (await config(VM_NODE)).contentInfo.find((c: any) => c.URL === 'library/busybox:1.36');
  assert.equal(root.iformat, 'CONTAINER');
  await env.ok(['delete', 'pod', 'bare', '-n', 'default', '--wait=true', '--timeout=60s']);
});

test('a VM pod (eve-vm-hvm, qcow2 containerDisk, cloud-init from a Secret) → EVE VM config with format, KiB, vCPUs, base64 user data; Running', async () => {
  const userData = '#cloud-config\npassword: kubeve\nchpasswd: {expire: false}\nssh_pwauth: true\n';
  await env.apply(`apiVersion: v1
kind: Secret
metadata: {name: vm-init, namespace: default}
stringData: {userdata: ${JSON.stringify(userData)}}
---
apiVersion: v1
kind: Pod
metadata:
  name: ubuntu-vm
  namespace: default
  annotations:
    kubeve.io/disk-format: qcow2
    kubeve.io/cloud-init-secret: vm-init
    kubeve.io/vnc: "true"
    kubeve.io/vnc-display: "3"
    kubeve.io/cpu-pinning: "true"
spec:
  runtimeClassName: eve-vm-hvm
  nodeSelector: {kubernetes.io/hostname: ${VM_NODE}}
  containers:
    - name: vm
      image: quay.io/containerdisks/ubuntu:24.04
      resources: {limits: {cpu: "2", memory: 1Gi}}
`);
  await env.ok(['wait', '--for=condition=Ready', 'pod/ubuntu-vm', '-n', 'default', '--timeout=90s']);
  const pod = await json(['get', 'pod', 'ubuntu-vm', '-n', 'default']);
  assert.equal(pod.status.phase, 'Running');
  assert.equal(pod.spec.nodeName, VM_NODE, 'the scheduler placed it on the EVE node (RuntimeClass scheduling: selector and toleration)');
  const cfg = await config(pod.spec.nodeName);
  const app = appOf(cfg, pod.metadata.uid);
  assert.ok(app, 'the VM is in the device config under the pod UID');
  assert.equal(app.fixedresources.memory, 1024 * 1024, 'memory in KiB');
  assert.equal(app.fixedresources.vcpus, 2);
  assert.equal(app.fixedresources.virtualizationMode, 'HVM');
  assert.equal(app.fixedresources.enableVnc, true);
  assert.equal(app.fixedresources.vncDisplay, 3);
  assert.equal(app.fixedresources.pinCpu, true);
  assert.equal(Buffer.from(app.userData, 'base64').toString('utf8'), userData, 'cloud-init exactly, base64');
  const root = cfg.volumes.find((v: any) => v.uuid === app.volumeRefList[0].uuid);
  const tree = cfg.contentInfo.find((c: any) => c.uuid === root.origin.downloadContentTreeID);
  assert.equal(tree.iformat, 'QCOW2');
  assert.equal(tree.URL, 'containerdisks/ubuntu:24.04');
  const ds = cfg.datastores.find((d: any) => d.id === tree.dsId);
  assert.equal(ds.fqdn, 'docker://quay.io', 'the OCI disk comes from the registry it names');
  assert.equal(app.volumeRefList[0].mountDir ?? '', '', 'a VM disk is not mounted as a rootfs');
  assert.equal(dev(pod.spec.nodeName).model.appStates()['ubuntu-vm'], 'RUNNING');
});

test('an FML (UEFI) VM from a DataStore URL: raw inferred from .img; a VM pod with env is refused naming the field', async () => {
  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: DataStore
metadata: {name: images, namespace: default}
spec: {type: https, url: "https://images.example.com", path: /vm}
---
apiVersion: v1
kind: Pod
metadata:
  name: win-vm
  namespace: default
  annotations: {kubeve.io/datastore: images}
spec:
  runtimeClassName: eve-vm-fml
  nodeSelector: {kubernetes.io/hostname: ${VM_NODE}}
  containers:
    - name: vm
      image: windows/server-2022.img
      resources: {limits: {cpu: "2", memory: 4Gi}}
`);
  await env.ok(['wait', '--for=condition=Ready', 'pod/win-vm', '-n', 'default', '--timeout=90s']);
  const pod = await json(['get', 'pod', 'win-vm', '-n', 'default']);
  const cfg = await config(pod.spec.nodeName);
  const app = appOf(cfg, pod.metadata.uid);
  assert.equal(app.fixedresources.virtualizationMode, 'FML');
  assert.equal(app.fixedresources.bootMode, 'VM_BOOT_MODE_UEFI');
  assert.equal(app.fixedresources.memory, 4 * 1024 * 1024);
  const root = cfg.volumes.find((v: any) => v.uuid === app.volumeRefList[0].uuid);
  const tree = cfg.contentInfo.find((c: any) => c.uuid === root.origin.downloadContentTreeID);
  assert.equal(tree.iformat, 'RAW');
  assert.equal(tree.URL, 'windows/server-2022.img');
  assert.equal(cfg.datastores.find((d: any) => d.id === tree.dsId).fqdn, 'https://images.example.com');

  const before = (await json(['get', 'edgenode', USB_NODE])).status.configVersion;
  await env.apply(`apiVersion: v1
kind: Pod
metadata: {name: vm-env, namespace: default}
spec:
  runtimeClassName: eve-vm-hvm
  nodeName: ${USB_NODE}
  containers:
    - {name: vm, image: quay.io/containerdisks/fedora:40, env: [{name: A, value: "1"}]}
`);
  const refused = await eventually(
    async () => {
      const p = await json(['get', 'pod', 'vm-env', '-n', 'default']);
      return p.status.phase === 'Failed' ? p : undefined;
    },
    20_000,
    'vm-env refused',
  );
  assert.equal(refused.status.reason, 'UnsupportedOnEVE');
  assert.match(refused.status.message, /^spec\.containers\[0\]\.env: a VM \(eve-vm-hvm\) has no container env/);
  assert.equal((await json(['get', 'edgenode', USB_NODE])).status.configVersion, before, 'nothing reached the device');
});

const usbPod = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default}
spec:
  runtimeClassName: eve-container
  containers:
    - name: main
      image: library/alpine:3.20
      resources: {limits: {kubeve.io/usb: "1", cpu: 500m, memory: 128Mi}}
`;

test('a device with two USB adapters → allocatable 2; three pods asking for one → two run with distinct adapters, the third Pending (Insufficient)', async () => {
  const node = await eventually(
    async () => {
      const n = await json(['get', 'node', USB_NODE]);
      return n.status.allocatable['kubeve.io/usb'] ? n : undefined;
    },
    30_000,
    'usb on the Node',
  );
  assert.equal(node.status.allocatable['kubeve.io/usb'], '2');
  assert.equal(node.status.capacity['kubeve.io/usb'], '2');
  assert.equal(node.status.allocatable['kubeve.io/serial'], '1');
  assert.equal(node.status.allocatable['kubeve.io/gpu'], '1');
  const other = await json(['get', 'node', 'vp-0001']);
  assert.equal(other.status.allocatable['kubeve.io/usb'], undefined, 'a device without adapters offers none');
  const en = await json(['get', 'edgenode', USB_NODE]);
  assert.deepEqual(
    en.status.adapters.map((a: any) => [a.name, a.type]),
    [
      ['COM1', 'serial'],
      ['USB1', 'usb'],
      ['USB2', 'usb'],
      ['VGA', 'gpu'],
    ],
  );

  for (const n of ['usb-a', 'usb-b', 'usb-c']) await env.apply(usbPod(n));
  const pods = await eventually(
    async () => {
      const l = (await json(['get', 'pods', '-n', 'default'])).items.filter((p: any) => p.metadata.name.startsWith('usb-'));
      const running = l.filter((p: any) => p.status.phase === 'Running' && cond(p, 'Ready')?.status === 'True');
      const pending = l.filter((p: any) => p.status.phase === 'Pending' && cond(p, 'PodScheduled')?.reason === 'Unschedulable');
      return running.length === 2 && pending.length === 1 ? { running, pending } : undefined;
    },
    90_000,
    'two running, one unschedulable',
  ).catch(async (e) => {
    const l = (await json(['get', 'pods', '-n', 'default'])).items.filter((p: any) => p.metadata.name.startsWith('usb-'));
    throw new Error(
      `${e.message}: ${JSON.stringify(l.map((p: any) => [p.metadata.name, p.spec.nodeName, p.status]))} ${JSON.stringify(dev(USB_NODE).model.appStates())}`,
    );
  });
  for (const p of pods.running) assert.equal(p.spec.nodeName, USB_NODE);
  const msg = cond(pods.pending[0], 'PodScheduled').message;
  // kube's shape; the VM device is also out of cpu by now (two VMs), which kube lists as well.
  assert.match(msg, /^0\/2 nodes are available: (1 Insufficient cpu, )?2 Insufficient kubeve\.io\/usb\. preemption: /, msg);
  const ev = await env.ok([
    'get',
    'events',
    '-n',
    'default',
    '--field-selector',
    `involvedObject.name=${pods.pending[0].metadata.name},reason=FailedScheduling`,
  ]);
  assert.match(ev, /Insufficient kubeve\.io\/usb/);

  const cfg = await config(USB_NODE);
  const assigned = pods.running.map((p: any) => appOf(cfg, p.metadata.uid).adapters);
  for (const a of assigned) assert.equal(a.length, 1);
  assert.deepEqual(assigned.map((a: any) => a[0].name).sort(), ['USB1', 'USB2'], 'distinct adapters');
  for (const a of assigned) assert.equal(a[0].type, 'PhyIoUSB');
  // The device agrees: each adapter is held by the app of the pod it was given to, no app in error.
  const states = dev(USB_NODE).model.appStates();
  for (const p of pods.running) assert.equal(states[p.metadata.name], 'RUNNING');
  const held = Object.fromEntries(dev(USB_NODE).model.assignedAdapters);
  assert.deepEqual(Object.keys(held).sort(), ['USB1', 'USB2']);
  assert.deepEqual(new Set(Object.values(held)), new Set(pods.running.map((p: any) => p.metadata.uid)));
  const edgeNode = await eventually(
    async () => {
      const e = await json(['get', 'edgenode', USB_NODE]);
      return e.status.adapters.filter((a: any) => a.usedByApp).length === 2 ? e : undefined;
    },
    20_000,
    'device reports the adapters in use',
  );
  assert.equal(edgeNode.status.adapters.find((a: any) => a.name === 'COM1').usedByApp, undefined);
});

test('the assignment is stable across a server restart; a freed adapter goes to the waiting pod', async () => {
  const before = await config(USB_NODE);
  const running = (await json(['get', 'pods', '-n', 'default'])).items.filter((p: any) => p.metadata.name.startsWith('usb-') && p.status.phase === 'Running');
  const given = Object.fromEntries(running.map((p: any) => [p.metadata.name, appOf(before, p.metadata.uid).adapters[0].name]));
  await env.restart();
  await env.k.kubelet!.idle();
  await new Promise((r) => setTimeout(r, 1500));
  await env.k.kubelet!.idle();
  const after = await config(USB_NODE);
  for (const p of running) assert.equal(appOf(after, p.metadata.uid).adapters[0].name, given[p.metadata.name], `${p.metadata.name} keeps its adapter`);
  assert.equal(after.id.version, before.id.version, 'the restart changed nothing on the device');

  // Free one: the pending pod is scheduled and gets exactly that adapter.
  const [gone] = Object.keys(given).sort();
  await env.ok(['delete', 'pod', gone!, '-n', 'default', '--wait=true', '--timeout=60s']);
  const waiting = (await json(['get', 'pods', '-n', 'default'])).items.find((p: any) => p.metadata.name.startsWith('usb-') && p.status.phase === 'Pending');
  await env.ok(['wait', '--for=condition=Ready', `pod/${waiting.metadata.name}`, '-n', 'default', '--timeout=90s']);
  const cfg = await config(USB_NODE);
  const p = await json(['get', 'pod', waiting.metadata.name, '-n', 'default']);
  assert.equal(appOf(cfg, p.metadata.uid).adapters[0].name, given[gone!]);
});

test('a pod bound past the scheduler to a node without a free adapter fails as the kubelet rejects it', async () => {
  await env.apply(`apiVersion: v1
kind: Pod
metadata: {name: usb-direct, namespace: default}
spec:
  nodeName: ${USB_NODE}
  tolerations: [{key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}]
  containers:
    - name: main
      image: library/alpine:3.20
      resources: {limits: {kubeve.io/usb: "1"}}
`);
  const p = await eventually(
    async () => {
      const x = await json(['get', 'pod', 'usb-direct', '-n', 'default']);
      return x.status.phase === 'Failed' ? x : undefined;
    },
    20_000,
    'usb-direct failed',
  );
  assert.equal(p.status.reason, 'OutOfkubeve.io/usb');
  assert.equal(p.status.message, "Node didn't have enough resource: kubeve.io/usb, requested: 1, used: 2, capacity: 2");
  assert.equal(appOf(await config(USB_NODE), p.metadata.uid), undefined, 'nothing reached the device');
});

test('extended resources are validated as kube does: whole numbers, a limit for every request, request = limit', async () => {
  const pod = (resources: string) => `apiVersion: v1
kind: Pod
metadata: {name: bad-usb, namespace: default}
spec:
  runtimeClassName: eve-container
  containers:
    - {name: main, image: library/alpine:3.20, resources: ${resources}}
`;
  const cases: [string, string][] = [
    ['{limits: {kubeve.io/usb: 500m}}', 'spec.containers[0].resources.limits[kubeve.io/usb]: Invalid value: "500m": must be an integer'],
    ['{requests: {kubeve.io/usb: "1"}}', 'spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources'],
    [
      '{requests: {kubeve.io/usb: "1"}, limits: {kubeve.io/usb: "2"}}',
      'spec.containers[0].resources.requests: Invalid value: "1": must be equal to kubeve.io/usb limit of 2',
    ],
  ];
  for (const [resources, text] of cases) {
    const r = await env.kubectl(['apply', '-f', '-'], pod(resources));
    assert.notEqual(r.code, 0, resources);
    assert.ok(r.stderr.includes(text), `${resources}: ${r.stderr}`);
    assert.match(r.stderr, /is invalid/);
  }
  assert.equal((await env.kubectl(['get', 'pod', 'bad-usb', '-n', 'default'])).code, 1, 'nothing was created');
});

test('an adapter held by an AppInstance made directly leaves allocatable; serial and GPU pods get COM1 and VGA once it is free', async () => {
  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: kiosk, namespace: default}
spec:
  nodeName: ${USB_NODE}
  image: library/busybox:1.36
  resources: {memory: 64Mi}
  adapters: [{type: hdmi, name: VGA}]
`);
  const held = await eventually(
    async () => {
      const n = await json(['get', 'node', USB_NODE]);
      return n.status.allocatable['kubeve.io/gpu'] === '0' ? n : undefined;
    },
    20_000,
    'gpu allocatable 0',
  );
  assert.equal(held.status.capacity['kubeve.io/gpu'], '1', 'capacity still counts it');
  await env.apply(`apiVersion: v1
kind: Pod
metadata: {name: display, namespace: default}
spec:
  runtimeClassName: eve-container
  containers:
    - name: main
      image: library/alpine:3.20
      resources: {limits: {kubeve.io/gpu: "1", kubeve.io/serial: "1", cpu: 500m, memory: 128Mi}}
`);
  const pending = await eventually(
    async () => {
      const p = await json(['get', 'pod', 'display', '-n', 'default']);
      return cond(p, 'PodScheduled')?.reason === 'Unschedulable' ? p : undefined;
    },
    20_000,
    'display unschedulable',
  );
  assert.match(cond(pending, 'PodScheduled').message, /2 Insufficient kubeve\.io\/gpu/);
  await env.ok(['delete', 'appinstance', 'kiosk', '-n', 'default', '--wait=true']);
  await env.ok(['wait', '--for=condition=Ready', 'pod/display', '-n', 'default', '--timeout=90s']);
  const p = await json(['get', 'pod', 'display', '-n', 'default']);
  const adapters = appOf(await config(USB_NODE), p.metadata.uid).adapters.map((a: any) => [a.type, a.name]);
  assert.deepEqual(adapters, [
    ['PhyIoHDMI', 'VGA'],
    ['PhyIoCOM', 'COM1'],
  ]);
  assert.equal(dev(USB_NODE).model.appStates().display, 'RUNNING');
});
