// The pure parts of VM pods and passthrough: which handler a pod runs under, what is refused (naming
// the field), the disk format inferred, the AppInstance fields a VM pod gets, and how adapters are
// picked (kept, free first, never one another pod holds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diskFormat, handlerName, runtimeRefusal } from '../../src/controllers/kubelet/pod-vm.ts';
import { appInstanceFor } from '../../src/controllers/kubelet/pod-mapping.ts';
import { AdapterAssigner, adapterCapacity } from '../../src/controllers/kubelet/adapters.ts';

const pod = (spec: any = {}, annotations: Record<string, string> = {}, c: any = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'vm', namespace: 'ns', uid: '0b0f7c3e-1111-4222-8333-444455556666', annotations },
  spec: { nodeName: 'dev1', containers: [{ name: 'vm', image: 'quay.io/containerdisks/fedora:40', ...c }], ...spec },
});
const none = { configMap: () => undefined, secret: () => undefined };

test('the handler comes from the RuntimeClass; eve-vm is an alias of eve-vm-hvm', () => {
  assert.equal(handlerName(pod()), 'eve-container');
  assert.equal(
    handlerName(pod({ runtimeClassName: 'my-vms' }), (n) => (n === 'my-vms' ? { handler: 'eve-vm-fml' } : undefined)),
    'eve-vm-fml',
  );
  assert.equal(handlerName(pod({ runtimeClassName: 'eve-vm' })), 'eve-vm-hvm');
  assert.equal(runtimeRefusal(pod(), 'runc')?.field, 'spec.runtimeClassName');
});

test('disk format: annotation, else extension, else qcow2; bad values and VM-only annotations refused with the field', () => {
  assert.equal(diskFormat(pod(), 'images/disk.img'), 'raw');
  assert.equal(diskFormat(pod(), 'images/win.VHDX'), 'vhdx');
  assert.equal(diskFormat(pod(), 'quay.io/containerdisks/fedora:40'), 'qcow2');
  assert.equal(diskFormat(pod({}, { 'kubeve.io/disk-format': 'iso' }), 'x.qcow2'), 'iso');
  const cases: [any, string, string][] = [
    [pod({}, { 'kubeve.io/disk-format': 'vdi' }), 'eve-vm-hvm', 'metadata.annotations[kubeve.io/disk-format]'],
    [pod({}, {}, { image: 'https://x.example/disk.qcow2' }), 'eve-vm-hvm', 'spec.containers[0].image'],
    [pod({}, {}, { command: ['sh'] }), 'eve-vm-hvm', 'spec.containers[0].command'],
    [pod({ volumes: [{ name: 'c', configMap: { name: 'x' } }] }), 'eve-vm-fml', 'spec.volumes[0].configMap'],
    [pod({}, { 'kubeve.io/cloud-init-secret': 's' }), 'eve-container', 'metadata.annotations[kubeve.io/cloud-init-secret]'],
    [pod({}, { 'kubeve.io/vnc-display': 'one' }), 'eve-container', 'metadata.annotations[kubeve.io/vnc-display]'],
    [pod({}, { 'kubeve.io/cpu-pinning': 'yes' }), 'eve-nohyper', 'metadata.annotations[kubeve.io/cpu-pinning]'],
  ];
  for (const [p, h, field] of cases) assert.equal(runtimeRefusal(p, h)?.field, field, JSON.stringify([p.metadata.annotations, p.spec, h]));
  assert.equal(runtimeRefusal(pod({}, { 'kubeve.io/vnc': 'true', 'kubeve.io/disk-format': 'raw' }), 'eve-vm-hvm'), undefined);
});

test('a VM pod maps to a VM AppInstance: OCI disk, format, cloud-init text, mode; a missing Secret waits', () => {
  const p = pod(
    { runtimeClassName: 'eve-vm-fml' },
    { 'kubeve.io/cloud-init-configmap': 'ci', 'kubeve.io/cpu-pinning': 'true' },
    { resources: { limits: { cpu: '3', memory: '2Gi' } } },
  );
  const l = { ...none, configMap: (ns: string, n: string) => (ns === 'ns' && n === 'ci' ? { data: { userdata: '#cloud-config\n' } } : undefined) };
  const { app } = appInstanceFor(p, l);
  const s = app!.spec;
  assert.equal(s.type, 'vm');
  assert.equal(s.image, 'oci://quay.io/containerdisks/fedora:40');
  assert.equal(s.imageFormat, 'qcow2');
  assert.equal(s.virtualization, 'fml');
  assert.equal(s.bootMode, 'uefi');
  assert.equal(s.pinCpu, true);
  assert.equal(s.userData, '#cloud-config\n');
  assert.deepEqual(s.resources, { cpus: 3, memory: '2Gi' });
  const ds = appInstanceFor(pod({ runtimeClassName: 'eve-vm-hvm' }, { 'kubeve.io/datastore': 'files' }, { image: 'vm/disk.raw' }), none).app!.spec;
  assert.deepEqual([ds.image, ds.imageFormat, ds.datastoreRef], ['vm/disk.raw', 'raw', { name: 'files' }]);
  const waiting = appInstanceFor(pod({ runtimeClassName: 'eve-vm-hvm' }, { 'kubeve.io/cloud-init-secret': 'gone' }), none);
  assert.match(waiting.missing!.message, /secret ns\/gone not found/);
  const nohyper = appInstanceFor(pod({ runtimeClassName: 'eve-nohyper' }, {}, { image: 'nginx:1' }), none).app!.spec;
  assert.deepEqual([nohyper.type, nohyper.virtualization, nohyper.image], ['container', 'noHyper', 'nginx:1']);
});

test('adapters: capacity per kind; a pod keeps what its AppInstance holds, others get free ones, never a held one', () => {
  const en = {
    metadata: { name: 'dev1' },
    status: {
      adapters: [
        { name: 'USB2', type: 'usb' },
        { name: 'USB1', type: 'usb' },
        { name: 'COM1', type: 'serial' },
      ],
    },
  };
  assert.deepEqual(adapterCapacity(en), { 'kubeve.io/usb': '2', 'kubeve.io/serial': '1' });
  const usb = (name: string, uid: string) => ({
    metadata: { name, namespace: 'ns', uid },
    spec: { containers: [{ name: 'c', resources: { limits: { 'kubeve.io/usb': '1' } } }] },
  });
  const a = new AdapterAssigner();
  // A holds USB2 in its stored AppInstance (e.g. before a restart): it keeps it; B gets USB1; C none.
  const appA = { metadata: { name: 'a', uid: 'app-a' }, spec: { nodeName: 'dev1', adapters: [{ type: 'usb', name: 'USB2' }] } };
  assert.deepEqual(a.assign(usb('a', 'pa'), en, appA, () => [appA]).adapters, [{ type: 'usb', name: 'USB2' }]);
  assert.deepEqual(a.assign(usb('b', 'pb'), en, undefined, () => [appA]).adapters, [{ type: 'usb', name: 'USB1' }]);
  assert.deepEqual(a.assign(usb('c', 'pc'), en, undefined, () => [appA]).shortage, { resource: 'kubeve.io/usb', requested: 1, used: 2, capacity: 2 });
  // B's choice is reserved before its AppInstance exists; once B goes, C gets USB1.
  a.release('pb');
  assert.deepEqual(a.assign(usb('c', 'pc'), en, undefined, () => [appA]).adapters, [{ type: 'usb', name: 'USB1' }]);
  const serial = { metadata: { name: 's', uid: 'ps' }, spec: { containers: [{ name: 'c', resources: { limits: { 'kubeve.io/serial': '1' } } }] } };
  assert.deepEqual(a.assign(serial, en, undefined, () => [appA]).adapters, [{ type: 'com', name: 'COM1' }]);
});
