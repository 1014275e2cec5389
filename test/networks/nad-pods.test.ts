// Extra networks for pods on EVE nodes, end to end: kubeve + 2 simulated devices over real TLS, the real
// kubectl. NetworkAttachmentDefinitions become EVE network instances on the devices whose pods select
// them (both annotation forms), in order, with the requested MAC/IP and VLAN; network-status carries
// what the device reports; a NAD change re-renders only its users; a deleted or unsupported NAD is
// reported where a user looks and never changes a running device config.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import type { SimDevice } from '../../src/sim/device.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';

let env: EveTestEnv;
let fleet: SimFleet;
const cond = (o: any, t: string) => (o.status?.conditions ?? []).find((c: any) => c.type === t);
const json = async (args: string[]) => JSON.parse(await env.ok([...args, '-o', 'json']));
const dev = (serial: string): SimDevice => fleet.devices.find((d) => d.serial === serial)!;
const config = async (node: string) => JSON.parse(await env.ok(['get', '--raw', `/apis/eve.kubeve.io/v1alpha1/edgenodes/${node}/config`]));
const version = async (node: string) => Number((await config(node)).id.version);
const niByUuid = (cfg: any, uuid: string) => cfg.networkInstances.find((n: any) => n.uuidandversion.uuid === uuid);
/** Every controller (kubelet bridge, then render and status) has nothing left to do. */
const settle = async () => {
  for (let i = 0; i < 2; i++) {
    await env.k.kubelet!.idle();
    await env.k.eve.idle();
  }
};
const appOf = (cfg: any, uid: string) => cfg.apps.find((a: any) => a.uuidandversion.uuid === uid);

const nad = (name: string, config: object, annotations = '') => `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: ${name}
  namespace: default
${annotations}spec:
  config: '${JSON.stringify(config)}'
`;
const LOCAL_NAT = {
  cniVersion: '0.3.1',
  type: 'bridge',
  ipam: {
    type: 'host-local',
    ranges: [[{ subnet: '10.20.0.0/24', rangeStart: '10.20.0.100', rangeEnd: '10.20.0.200', gateway: '10.20.0.1' }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.77.0/24', gw: '10.20.0.254' }],
  },
  dns: { nameservers: ['9.9.9.9'] },
};
const VLAN100 = { cniVersion: '0.3.1', type: 'vlan', master: 'eth1', vlanId: 100, ipam: { type: 'dhcp' } };
const labNat = (subnet: string) => ({ cniVersion: '0.3.1', type: 'macvlan', master: 'eth0', ipam: { type: 'host-local', subnet } });

const podYaml = (name: string, ns: string, node: string, networks: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  annotations:
    k8s.v1.cni.cncf.io/networks: '${networks}'
spec:
  nodeName: ${node}
  tolerations: [{key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}]
  containers: [{name: main, image: library/nginx:1.27, resources: {limits: {cpu: "1", memory: 128Mi}}}]
`;
const MULTI_NETS = (ip: string) =>
  JSON.stringify([
    { name: 'local-nat', interface: 'lan', ips: [`${ip}/24`], mac: '02:00:00:20:00:50' },
    { name: 'vlan100', namespace: 'default' },
  ]);

before(async () => {
  env = await startEveEnv({ eve: { offlineTimeoutMs: 5000, debounceMs: 20 } });
  await env.apply(onboardingKeyYaml('nw-key', env.onboard.certPem));
  fleet = await env.fleet({ count: 2, serialPrefix: 'nw-' });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 2, 60_000, '2 configured devices');
  await env.ok(['create', 'namespace', 'lab']);
});
after(async () => {
  await env?.close();
});

test('two NADs (local NAT host-local, VLAN 100 switch): pods in both annotation forms get their interfaces in order, with MAC/IP, and network-status from the device', async () => {
  await env.apply(nad('local-nat', LOCAL_NAT) + '---\n' + nad('vlan100', VLAN100) + '---\n' + nad('lab-nat', labNat('10.40.0.0/24')));
  const nads = await eventually(
    async () => {
      const l = (await json(['get', 'net-attach-def', '-n', 'default'])).items;
      return l.length === 3 && l.every((n: any) => cond(n, 'Accepted')?.status === 'True') ? l : undefined;
    },
    20_000,
    'NADs accepted',
  );
  const byName = Object.fromEntries(nads.map((n: any) => [n.metadata.name, n]));
  assert.equal(byName['local-nat'].status.networkInstanceType, 'local');
  assert.equal(byName.vlan100.status.networkInstanceType, 'switch');
  assert.match(cond(byName.vlan100, 'Accepted').message, /switch network instance \(VLAN 100\) on uplink "eth1"/);

  // JSON form (static IP + MAC on the local NAT one) on nw-0000; short form, across namespaces, on nw-0001.
  await env.apply(podYaml('multi', 'default', 'nw-0000', MULTI_NETS('10.20.0.50')));
  await env.apply(podYaml('short', 'lab', 'nw-0001', 'default/lab-nat@lab, default/vlan100'));
  await env.ok(['wait', '--for=condition=Ready', 'pod/multi', '-n', 'default', '--timeout=60s']);
  await env.ok(['wait', '--for=condition=Ready', 'pod/short', '-n', 'lab', '--timeout=60s']);

  const pod = await json(['get', 'pod', 'multi', '-n', 'default']);
  const cfg = await config('nw-0000');
  const app = appOf(cfg, pod.metadata.uid);
  assert.deepEqual(
    app.interfaces.map((i: any) => i.name),
    ['eth0', 'lan', 'net2'],
    'eth0 first, then the selection in order',
  );
  const nis = app.interfaces.map((i: any) => niByUuid(cfg, i.networkId));
  assert.deepEqual(
    nis.map((n: any) => n.displayname),
    ['kubeve-pods', 'nad.default.local-nat', 'nad.default.vlan100'],
  );
  assert.deepEqual(
    nis.map((n: any) => n.instType),
    ['ZnetInstLocal', 'ZnetInstLocal', 'ZnetInstSwitch'],
  );
  assert.equal(nis[1].ip.subnet, '10.20.0.0/24');
  assert.equal(nis[1].ip.gateway, '10.20.0.1');
  assert.deepEqual(nis[1].ip.dhcpRange, { start: '10.20.0.100', end: '10.20.0.200' });
  assert.deepEqual(nis[1].ip.dns, ['9.9.9.9']);
  assert.deepEqual(
    nis[1].staticRoutes.map((r: any) => [r.destinationNetwork, r.gateway]),
    [['192.168.77.0/24', '10.20.0.254']],
  );
  assert.equal(nis[2].port.name, 'eth1', 'the switch is on the port the CNI config names');
  assert.equal(app.interfaces[1].addr, '10.20.0.50', 'the requested static IP');
  assert.equal(app.interfaces[1].macAddress, '02:00:00:20:00:50', 'the requested MAC');
  assert.equal(app.interfaces[2].accessVlanId, 100, 'VLAN 100 on the switch');
  assert.ok(!app.interfaces[0].accessVlanId && !app.interfaces[1].accessVlanId);

  // network-status: one entry per interface, with what the device reports.
  const simApp = dev('nw-0000').model.apps.get(pod.metadata.uid)!;
  const status = await eventually(
    async () => {
      const p = await json(['get', 'pod', 'multi', '-n', 'default']);
      const v = p.metadata.annotations?.['k8s.v1.cni.cncf.io/network-status'];
      const s = v && JSON.parse(v);
      return s?.length === 3 && s.every((e: any) => e.ips.length && e.mac) ? s : undefined;
    },
    20_000,
    'network-status with 3 reported interfaces',
  );
  assert.deepEqual(
    status.map((e: any) => [e.name, e.interface, e.default ?? false]),
    [
      ['kubeve-pods', 'eth0', true],
      ['default/local-nat', 'lan', false],
      ['default/vlan100', 'net2', false],
    ],
  );
  assert.deepEqual(
    status.map((e: any) => e.ips),
    simApp.nets.map((n) => [n.ip]),
    'the IPs the device reports',
  );
  assert.deepEqual(
    status.map((e: any) => e.mac),
    simApp.nets.map((n) => n.mac),
    'the MACs the device reports',
  );
  assert.deepEqual(status[1].ips, ['10.20.0.50']);
  assert.equal(status[1].mac, '02:00:00:20:00:50');
  assert.match(status[0].ips[0], /^10\.244\.0\.\d+$/);
  assert.equal(pod.status.podIP, status[0].ips[0], 'podIP is eth0');

  // The short form: namespace/name@ifname and a default interface name by position.
  const short = await json(['get', 'pod', 'short', '-n', 'lab']);
  const scfg = await config('nw-0001');
  const sapp = appOf(scfg, short.metadata.uid);
  assert.deepEqual(
    sapp.interfaces.map((i: any) => [i.name, niByUuid(scfg, i.networkId).displayname]),
    [
      ['eth0', 'kubeve-pods'],
      ['lab', 'nad.default.lab-nat'],
      ['net2', 'nad.default.vlan100'],
    ],
  );
  assert.equal(niByUuid(scfg, sapp.interfaces[1].networkId).ip.subnet, '10.40.0.0/24');
  const nisLab = (await json(['get', 'networkinstances', '-n', 'lab'])).items;
  for (const n of nisLab)
    assert.deepEqual(
      n.metadata.ownerReferences.map((r: any) => [r.kind, r.uid]),
      [['Pod', short.metadata.uid]],
      `${n.metadata.name} is owned by the pod using it`,
    );

  // A changed address request reaches the device and network-status follows what it reports.
  await env.ok(['annotate', 'pod', 'multi', '-n', 'default', '--overwrite', `k8s.v1.cni.cncf.io/networks=${MULTI_NETS('10.20.0.51')}`]);
  await eventually(
    async () => {
      const p = await json(['get', 'pod', 'multi', '-n', 'default']);
      const s = JSON.parse(p.metadata.annotations['k8s.v1.cni.cncf.io/network-status']);
      return s[1].ips[0] === '10.20.0.51' && dev('nw-0000').model.apps.get(pod.metadata.uid)!.nets[1]!.ip === '10.20.0.51';
    },
    30_000,
    'network-status updated with the new address',
  );
});

test('a NAD subnet change re-renders only the devices whose pods use it', async () => {
  await settle();
  const [v0, v1] = [await version('nw-0000'), await version('nw-0001')];
  await env.apply(nad('lab-nat', labNat('10.41.0.0/24')));
  const scfg = await eventually(
    async () => {
      const c = await config('nw-0001');
      return c.networkInstances.some((n: any) => n.displayname === 'nad.default.lab-nat' && n.ip.subnet === '10.41.0.0/24') ? c : undefined;
    },
    20_000,
    'nw-0001 renders the new subnet',
  );
  assert.ok(Number(scfg.id.version) > v1, 'the user device got a new config version');
  await settle();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await version('nw-0000'), v0, 'a device whose pods do not use the NAD is not re-rendered');
});

test('deleting a NAD in use: the running pod and the device config stay, the pod reports the problem', async () => {
  await settle();
  const v0 = await version('nw-0000');
  await env.ok(['delete', 'net-attach-def', 'local-nat', '-n', 'default']);
  const pod = await eventually(
    async () => {
      const p = await json(['get', 'pod', 'multi', '-n', 'default']);
      return cond(p, 'kubeve.io/NetworksReady')?.status === 'False' ? p : undefined;
    },
    20_000,
    'the pod reports the deleted NAD',
  );
  const c = cond(pod, 'kubeve.io/NetworksReady');
  assert.equal(c.reason, 'NetworkAttachmentDefinitionNotFound');
  assert.match(c.message, /NetworkAttachmentDefinition default\/local-nat not found/);
  assert.equal(pod.status.phase, 'Running');
  assert.equal(cond(pod, 'Ready').status, 'True');
  const ev = await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=multi']);
  assert.match(ev, /NetworkAttachmentDefinitionNotFound/);
  await settle();
  assert.equal(await version('nw-0000'), v0, 'device config unchanged');
  assert.equal(dev('nw-0000').model.appStates().multi, 'RUNNING');
  await env.ok(['get', 'networkinstance', 'nad.default.local-nat', '-n', 'default']);
});

test('an unsupported CNI type: the NAD says so, a pod using it fails naming the type, the device config is unchanged', async () => {
  await env.apply(nad('fast', { cniVersion: '0.3.1', type: 'sriov', vlan: 10 }));
  const n = await eventually(
    async () => {
      const o = await json(['get', 'net-attach-def', 'fast', '-n', 'default']);
      return cond(o, 'Accepted')?.status === 'False' ? o : undefined;
    },
    20_000,
    'NAD refused',
  );
  assert.equal(cond(n, 'Accepted').reason, 'UnsupportedCNIType');
  assert.match(cond(n, 'Accepted').message, /CNI type "sriov" is not supported on EVE nodes/);
  const nev = await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=fast']);
  assert.match(nev, /UnsupportedCNIType/);

  await settle();
  const v0 = await version('nw-0000');
  await env.apply(podYaml('sriov-user', 'default', 'nw-0000', 'fast'));
  const pod = await eventually(
    async () => {
      const p = await json(['get', 'pod', 'sriov-user', '-n', 'default']);
      return p.status?.phase === 'Failed' ? p : undefined;
    },
    20_000,
    'pod Failed',
  );
  assert.match(pod.status.message, /sriov/);
  assert.match(pod.status.message, /k8s\.v1\.cni\.cncf\.io\/networks/);
  await settle();
  const cfg = await config('nw-0000');
  assert.equal(Number(cfg.id.version), v0, 'device config unchanged');
  assert.equal(appOf(cfg, pod.metadata.uid), undefined);
});

test('network instances go with the last pod that uses them (the per-namespace default included)', async () => {
  await env.ok(['delete', 'pod', 'short', '-n', 'lab', '--wait=true', '--timeout=60s']);
  await eventually(async () => (await json(['get', 'networkinstances', '-n', 'lab'])).items.length === 0, 30_000, 'lab NIs deleted');
  // default still has a pod using its networks: they stay.
  const left = (await json(['get', 'networkinstances', '-n', 'default'])).items.map((n: any) => n.metadata.name).sort();
  assert.deepEqual(left, ['kubeve-pods', 'nad.default.local-nat', 'nad.default.vlan100']);
});
