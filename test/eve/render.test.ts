// L0 render and the CR → render-input mapping: determinism, the EVE shapes devices need, UUID rules,
// and missing references reported instead of half-rendered configs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { EdgeDevConfigSchema, type EdgeDevConfig } from '../../src/eve/gen/config/devconfig_pb.ts';
import { AddressType, ZNetworkInstType } from '../../src/eve/gen/config/netinst_pb.ts';
import { DsType, Format, VolumeContentOriginType } from '../../src/eve/gen/config/storage_pb.ts';
import { VmBootMode, VmMode } from '../../src/eve/gen/config/vm_pb.ts';
import { PhyIoMemberUsage } from '../../src/eve/gen/evecommon/devmodelcommon_pb.ts';
import { DHCPType } from '../../src/eve/gen/evecommon/netcmn_pb.ts';
import { ConfigStore } from '../../src/eve/config-store.ts';
import { ipv4Plan, renderDeviceConfig, RenderError, uuidV5 } from '../../src/eve/render.ts';
import type { DeviceRenderInput } from '../../src/eve/render-types.ts';
import { mapDevice, splitImageRef, type DeviceMapping } from '../../src/controllers/eve/mapping.ts';
import type { KObject } from '../../src/apiserver/resource.ts';

const DEVICE = '5d0767ee-0547-4569-b530-387e526f8cb9';
const OTHER_DEVICE = '0b3a3c1e-7f41-4c55-9d4e-6f1f6b1d2a10';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const b64 = (s: string) => Buffer.from(s).toString('base64');

const uid = () => crypto.randomUUID();
const meta = (name: string, extra: KObject = {}) => ({ name, namespace: 'default', uid: uid(), generation: 1, ...extra });

function fixtures() {
  const lan = { kind: 'NetworkInstance', metadata: meta('lan'), spec: { type: 'local', subnet: '10.50.0.0/24', uplink: 'uplink' } };
  const sw = { kind: 'NetworkInstance', metadata: meta('sw'), spec: { type: 'switch', uplink: 'eth1' } };
  const secret = { kind: 'Secret', metadata: meta('reg-creds'), data: { username: b64('robot'), password: b64('s3cret') } };
  const registry = {
    kind: 'DataStore',
    metadata: meta('registry'),
    spec: { type: 'container-registry', url: 'docker://registry.example.com', credentialsSecretRef: { name: 'reg-creds' } },
  };
  const files = { kind: 'DataStore', metadata: meta('files'), spec: { type: 'https', url: 'https://images.example.com', path: 'vm' } };
  const data = { kind: 'Volume', metadata: meta('data'), spec: { size: '1Gi' } };
  const objects = [lan, sw, secret, registry, files, data];
  const nginx = {
    kind: 'AppInstance',
    metadata: meta('nginx', { generation: 4 }),
    spec: {
      nodeName: 'dev-1',
      type: 'container',
      image: 'library/nginx:1.27',
      datastoreRef: { name: 'registry' },
      resources: { cpus: 2, memory: '256Mi' },
      networks: [{ networkInstanceRef: { name: 'lan' }, portMaps: [{ protocol: 'tcp', port: 8080, targetPort: 80 }] }],
      volumes: [{ name: 'data', volumeRef: { name: 'data' }, mountPath: '/data' }],
      env: [
        { name: 'MODE', value: 'edge' },
        { name: 'LEVEL', value: '3' },
      ],
      activate: true,
    },
  };
  const vm = {
    kind: 'AppInstance',
    metadata: meta('ubuntu'),
    spec: {
      nodeName: 'dev-1',
      type: 'vm',
      image: 'ubuntu-24.04.qcow2',
      imageSha256: 'ab'.repeat(32),
      datastoreRef: { name: 'files' },
      resources: { cpus: 4, memory: '2Gi' },
      networks: [{ networkInstanceRef: { name: 'sw' }, acls: [{ cidr: '192.168.0.0/16' }, { protocol: 'tcp', port: 22, action: 'drop' }] }],
      volumes: [{ name: 'scratch', blank: { size: '10Gi' } }],
      userData: '#cloud-config\nhostname: ubuntu\n',
      bootMode: 'uefi',
      activate: false,
      restart: 2,
    },
  };
  const node = {
    kind: 'EdgeNode',
    metadata: { name: 'dev-1', uid: uid(), generation: 3 },
    spec: {
      serial: 'SN-1',
      reboot: 0,
      shutdown: 1,
      configItems: { 'timer.config.interval': '10', 'debug.enable.ssh': 'ssh-ed25519 AAAA', 'app.allow.vnc': 'true' },
      devicePorts: [
        { name: 'eth1', usage: 'app', dhcp: true },
        { name: 'eth0', usage: 'management', dhcp: false, static: { address: '192.168.1.10/24', gateway: '192.168.1.1', dns: ['192.168.1.1'] } },
        { name: 'eth2', usage: 'passthrough' },
      ],
      baseOS: { version: '14.5.1-kvm-amd64', image: 'lfedge/eve:14.5.1-kvm-amd64', activate: true },
    },
    status: { uuid: DEVICE },
  };
  return { node, apps: [nginx, vm], objects, lan, sw, secret, registry, files, data, nginx, vm };
}

function lookupOf(objects: KObject[]) {
  return {
    get: async (kind: string, namespace: string, name: string) =>
      objects.find((o) => o.kind === kind && o.metadata.namespace === namespace && o.metadata.name === name),
  };
}

async function map(f: ReturnType<typeof fixtures>, opts: { objects?: KObject[]; apps?: KObject[]; deviceUuid?: string } = {}): Promise<DeviceMapping> {
  return mapDevice({ node: f.node, deviceUuid: opts.deviceUuid ?? DEVICE, apps: opts.apps ?? f.apps, lookup: lookupOf(opts.objects ?? f.objects), version: 7 });
}

function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function shuffleInput(input: DeviceRenderInput, seed: number): DeviceRenderInput {
  const items = input.configItems ? Object.fromEntries(shuffled(Object.entries(input.configItems), seed)) : undefined;
  return {
    ...input,
    ...(items ? { configItems: items } : {}),
    ...(input.ports ? { ports: shuffled(input.ports, seed + 1) } : {}),
    apps: shuffled(input.apps, seed + 2),
    networkInstances: shuffled(input.networkInstances, seed + 3),
    volumes: shuffled(input.volumes, seed + 4),
    contentTrees: shuffled(input.contentTrees, seed + 5),
    datastores: shuffled(input.datastores, seed + 6),
  };
}

test('uuidV5 matches the RFC 4122 vector and is lower-case canonical', () => {
  assert.equal(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
  assert.equal(uuidV5('x', '6BA7B810-9DAD-11D1-80B4-00C04FD430C8'), uuidV5('x', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'));
});

test('equal inputs in any order give byte-identical configs and hashes; the content hash ignores the version', async () => {
  const f = fixtures();
  const { input, problems } = await map(f);
  assert.deepEqual(problems, []);
  const first = renderDeviceConfig(input);
  assert.deepEqual(first.bytes, toBinary(EdgeDevConfigSchema, first.config), 'bytes are the protobuf encoding of config');
  for (let seed = 1; seed <= 20; seed++) {
    const again = renderDeviceConfig(shuffleInput(input, seed));
    assert.deepEqual(Buffer.from(again.bytes), Buffer.from(first.bytes), `seed ${seed}`);
    assert.equal(again.hash, first.hash);
  }
  // The mapping itself is order-independent too.
  const reordered = await mapDevice({ node: f.node, deviceUuid: DEVICE, apps: [...f.apps].reverse(), lookup: lookupOf([...f.objects].reverse()), version: 7 });
  assert.equal(renderDeviceConfig(reordered.input).hash, first.hash);

  const bumped = renderDeviceConfig({ ...input, version: 8 });
  assert.notEqual(bumped.hash, first.hash);
  assert.equal(bumped.contentHash, first.contentHash);
  const changed = renderDeviceConfig({ ...input, rebootCounter: 1 });
  assert.notEqual(changed.contentHash, first.contentHash);
  assert.equal(first.config.id?.version, '7');
  assert.equal(first.config.id?.uuid, DEVICE);
});

test('the rendered hash is the one the device API serves when the certs hash is given', async () => {
  const { input } = await map(fixtures());
  const r = renderDeviceConfig({ ...input, controllerCertsHash: 'certs-hash-1' });
  const store = new ConfigStore({} as never, { certsConfigHash: 'certs-hash-1' } as never);
  const served = store.canonical(DEVICE, r.config);
  assert.equal(served.hash, r.hash);
  assert.deepEqual(Buffer.from(served.bytes), Buffer.from(r.bytes));
});

function decoded(bytes: Uint8Array): EdgeDevConfig {
  return fromBinary(EdgeDevConfigSchema, bytes);
}

test('container app on a local network instance with a port map, registry datastore with credentials', async () => {
  const f = fixtures();
  const m = await map(f);
  const cfg = decoded(renderDeviceConfig(m.input).bytes);

  const app = cfg.apps.find((a) => a.displayname === 'nginx')!;
  assert.equal(app.uuidandversion?.uuid, f.nginx.metadata.uid, 'app UUID = metadata.uid');
  assert.equal(app.uuidandversion?.version, '4', 'app version = generation');
  assert.equal(app.activate, true);
  assert.deepEqual(
    { memory: app.fixedresources?.memory, maxmem: app.fixedresources?.maxmem, vcpus: app.fixedresources?.vcpus, mode: app.fixedresources?.virtualizationMode },
    { memory: 262144, maxmem: 262144, vcpus: 2, mode: VmMode.HVM },
  );
  assert.equal(Buffer.from(app.userData, 'base64').toString(), 'MODE=edge\nLEVEL=3');

  const ni = cfg.networkInstances.find((n) => n.displayname === 'lan')!;
  assert.equal(ni.uuidandversion?.uuid, uuidV5(DEVICE, f.lan.metadata.uid), 'NI UUID = v5(template uid, device)');
  assert.equal(ni.instType, ZNetworkInstType.ZnetInstLocal);
  assert.equal(ni.activate, true);
  assert.equal(ni.ipType, AddressType.IPV4);
  assert.equal(ni.port?.name, 'uplink');
  assert.deepEqual(
    { subnet: ni.ip?.subnet, gateway: ni.ip?.gateway, dns: ni.ip?.dns, start: ni.ip?.dhcpRange?.start, end: ni.ip?.dhcpRange?.end },
    { subnet: '10.50.0.0/24', gateway: '10.50.0.1', dns: ['10.50.0.1'], start: '10.50.0.2', end: '10.50.0.254' },
  );

  assert.equal(app.interfaces.length, 1);
  const nic = app.interfaces[0]!;
  assert.equal(nic.name, 'eth0');
  assert.equal(nic.networkId, ni.uuidandversion?.uuid);
  assert.deepEqual(
    nic.acls.map((a) => ({
      id: a.id,
      matches: a.matches.map((x) => `${x.type}=${x.value}`),
      actions: a.actions.map((x) => ({ portmap: x.portmap, appPort: x.appPort, drop: x.drop })),
    })),
    [
      { id: 1, matches: ['ip=0.0.0.0/0'], actions: [] },
      { id: 2, matches: ['protocol=tcp', 'lport=8080'], actions: [{ portmap: true, appPort: 80, drop: false }] },
    ],
  );

  const ds = cfg.datastores.find((d) => d.id === f.registry.metadata.uid)!;
  assert.deepEqual(
    { type: ds.dType, fqdn: ds.fqdn, apiKey: ds.apiKey, password: ds.password },
    { type: DsType.DsContainerRegistry, fqdn: 'docker://registry.example.com', apiKey: 'robot', password: 's3cret' },
  );

  const [root, data] = app.volumeRefList;
  assert.equal(root!.mountDir, '/');
  assert.equal(data!.mountDir, '/data');
  const rootVol = cfg.volumes.find((v) => v.uuid === root!.uuid)!;
  assert.equal(rootVol.origin?.type, VolumeContentOriginType.VCOT_DOWNLOAD);
  const ct = cfg.contentInfo.find((c) => c.uuid === rootVol.origin?.downloadContentTreeID)!;
  assert.deepEqual({ ds: ct.dsId, url: ct.URL, format: ct.iformat }, { ds: ds.id, url: 'library/nginx:1.27', format: Format.CONTAINER });
  const dataVol = cfg.volumes.find((v) => v.uuid === data!.uuid)!;
  assert.equal(dataVol.uuid, uuidV5(DEVICE, f.data.metadata.uid), 'volume copy = v5(template uid, device)');
  assert.deepEqual({ origin: dataVol.origin?.type, size: dataVol.maxsizebytes }, { origin: VolumeContentOriginType.VCOT_BLANK, size: 1024n ** 3n });

  assert.deepEqual(m.owners.get(app.uuidandversion!.uuid), { kind: 'app', ns: 'default', name: 'nginx', node: 'dev-1' });
  assert.deepEqual(m.owners.get(ni.uuidandversion!.uuid), { kind: 'networkinstance', ns: 'default', name: 'lan', node: 'dev-1' });
  assert.deepEqual(m.owners.get(rootVol.uuid), { kind: 'appvolume', ns: 'default', name: 'nginx', node: 'dev-1', volume: 'root' });
});

test('VM app: image from an HTTPS datastore, blank inline volume, switch network with ACLs, cloud-init', async () => {
  const f = fixtures();
  const cfg = decoded(renderDeviceConfig((await map(f)).input).bytes);
  const app = cfg.apps.find((a) => a.displayname === 'ubuntu')!;
  assert.equal(app.activate, false);
  assert.equal(app.restart?.counter, 2);
  assert.equal(app.fixedresources?.memory, 2 * 1024 * 1024);
  assert.equal(app.fixedresources?.vcpus, 4);
  assert.equal(app.fixedresources?.bootMode, VmBootMode.UEFI);
  assert.equal(Buffer.from(app.userData, 'base64').toString(), '#cloud-config\nhostname: ubuntu\n');

  const [root, scratch] = app.volumeRefList;
  assert.equal(root!.mountDir, '');
  const ct = cfg.contentInfo.find((c) => c.uuid === cfg.volumes.find((v) => v.uuid === root!.uuid)!.origin?.downloadContentTreeID)!;
  assert.deepEqual({ url: ct.URL, format: ct.iformat, sha: ct.sha256 }, { url: 'ubuntu-24.04.qcow2', format: Format.QCOW2, sha: 'ab'.repeat(32) });
  const ds = cfg.datastores.find((d) => d.id === ct.dsId)!;
  assert.deepEqual(
    { type: ds.dType, fqdn: ds.fqdn, dpath: ds.dpath, apiKey: ds.apiKey },
    { type: DsType.DsHttps, fqdn: 'https://images.example.com', dpath: 'vm', apiKey: '' },
  );
  const blank = cfg.volumes.find((v) => v.uuid === scratch!.uuid)!;
  assert.deepEqual({ origin: blank.origin?.type, size: blank.maxsizebytes }, { origin: VolumeContentOriginType.VCOT_BLANK, size: 10n * 1024n ** 3n });

  const sw = cfg.networkInstances.find((n) => n.displayname === 'sw')!;
  assert.equal(sw.instType, ZNetworkInstType.ZnetInstSwitch);
  assert.equal(sw.ipType, AddressType.First, 'a switch NI must use ipType 0');
  assert.equal(sw.ip, undefined);
  assert.equal(sw.port?.name, 'eth1');
  assert.deepEqual(
    app.interfaces[0]!.acls.map((a) => [a.id, a.matches.map((x) => `${x.type}=${x.value}`).join(','), a.actions.some((x) => x.drop)]),
    [
      [1, 'ip=192.168.0.0/16', false],
      [2, 'protocol=tcp,fport=22', true],
    ],
  );
});

test('device: base OS, reboot/shutdown counters, config items sorted, ports as EVE lists', async () => {
  const f = fixtures();
  const cfg = decoded(renderDeviceConfig((await map(f)).input).bytes);
  assert.equal(cfg.deviceName, 'dev-1');
  assert.equal(cfg.reboot?.counter, 0, 'counter 0 is sent so that the first increment reboots');
  assert.ok(cfg.reboot);
  assert.equal(cfg.shutdown?.counter, 1);
  assert.deepEqual(
    cfg.configItems.map((c) => [c.key, c.value]),
    [
      ['app.allow.vnc', 'true'],
      ['debug.enable.ssh', 'ssh-ed25519 AAAA'],
      ['timer.config.interval', '10'],
    ],
  );

  assert.equal(cfg.baseos?.baseOsVersion, '14.5.1-kvm-amd64');
  assert.equal(cfg.baseos?.activate, true);
  const ct = cfg.contentInfo.find((c) => c.uuid === cfg.baseos?.contentTreeUuid)!;
  assert.deepEqual({ url: ct.URL, format: ct.iformat }, { url: 'lfedge/eve:14.5.1-kvm-amd64', format: Format.CONTAINER });
  assert.equal(cfg.datastores.find((d) => d.id === ct.dsId)?.fqdn, 'docker://docker.io');

  assert.deepEqual(
    cfg.deviceIoList.map((p) => [p.logicallabel, p.phyaddrs.Ifname, p.usage]),
    [
      ['eth0', 'eth0', PhyIoMemberUsage.PhyIoUsageMgmtAndApps],
      ['eth1', 'eth1', PhyIoMemberUsage.PhyIoUsageShared],
      ['eth2', 'eth2', PhyIoMemberUsage.PhyIoUsageDedicated],
    ],
  );
  assert.deepEqual(
    cfg.systemAdapterList.map((s) => [s.name, s.uplink, s.addr]),
    [
      ['eth0', true, '192.168.1.10'],
      ['eth1', false, ''],
    ],
    'passthrough ports stay free',
  );
  const net = (name: string) => cfg.networks.find((n) => n.id === cfg.systemAdapterList.find((s) => s.name === name)!.networkUUID)!;
  assert.deepEqual(
    { dhcp: net('eth0').ip?.dhcp, subnet: net('eth0').ip?.subnet, gw: net('eth0').ip?.gateway, type: net('eth0').type },
    { dhcp: DHCPType.Static, subnet: '192.168.1.0/24', gw: '192.168.1.1', type: 4 },
  );
  assert.equal(net('eth1').ip?.dhcp, DHCPType.Client);
});

test('every UUID is lower-case canonical; derived UUIDs differ per device and stay stable', async () => {
  const f = fixtures();
  const a = await map(f);
  const b = await map(f);
  const other = await map(f, { deviceUuid: OTHER_DEVICE.toUpperCase() });
  const cfg = renderDeviceConfig(a.input).config;
  const uuids = [
    ...cfg.apps.flatMap((x) => [x.uuidandversion!.uuid, ...x.volumeRefList.map((v) => v.uuid), ...x.interfaces.map((i) => i.networkId)]),
    ...cfg.networkInstances.map((x) => x.uuidandversion!.uuid),
    ...cfg.volumes.flatMap((x) => [x.uuid, x.origin?.downloadContentTreeID ?? '']).filter(Boolean),
    ...cfg.contentInfo.flatMap((x) => [x.uuid, x.dsId]),
    ...cfg.datastores.map((x) => x.id),
    ...cfg.networks.map((x) => x.id),
  ];
  for (const u of uuids) assert.match(u, UUID_RE);
  assert.equal(renderDeviceConfig(b.input).hash, renderDeviceConfig(a.input).hash);
  assert.equal(other.input.uuid, OTHER_DEVICE);
  const niA = a.input.networkInstances.map((n) => n.uuid);
  const niO = other.input.networkInstances.map((n) => n.uuid);
  assert.equal(niA.filter((u) => niO.includes(u)).length, 0, 'network instance copies are per device');
  assert.equal(a.input.apps.find((x) => x.displayName === 'nginx')!.uuid, other.input.apps.find((x) => x.displayName === 'nginx')!.uuid, 'app UUID is the uid');

  // A new image is a new content tree and root volume; the app keeps its UUID.
  const f2 = fixtures();
  const moved = await map(f2);
  const f3 = { ...f2, nginx: { ...f2.nginx, spec: { ...f2.nginx.spec, image: 'library/nginx:1.28' } } };
  const upgraded = await map(f3, { apps: [f3.nginx, f2.vm] });
  const rootOf = (m: DeviceMapping) => m.input.apps.find((x) => x.displayName === 'nginx')!.volumes[0]!.uuid;
  assert.notEqual(rootOf(upgraded), rootOf(moved));
  assert.equal(upgraded.input.apps.find((x) => x.displayName === 'nginx')!.uuid, f2.nginx.metadata.uid);
});

test('missing references: the app is left out and reported, nothing of it is rendered', async () => {
  const f = fixtures();
  const noLan = f.objects.filter((o) => o !== f.lan);
  const m1 = await map(f, { objects: noLan });
  assert.deepEqual(
    m1.apps.map((a) => a.name),
    ['ubuntu'],
  );
  assert.deepEqual(m1.problems, [
    {
      object: { kind: 'AppInstance', namespace: 'default', name: 'nginx' },
      reason: 'NetworkInstanceNotFound',
      message: 'NetworkInstance default/lan not found',
      ref: { kind: 'NetworkInstance', namespace: 'default', name: 'lan' },
    },
  ]);
  const cfg1 = renderDeviceConfig(m1.input).config;
  assert.deepEqual(
    cfg1.apps.map((a) => a.displayname),
    ['ubuntu'],
  );
  assert.ok(!cfg1.datastores.some((d) => d.id === f.registry.metadata.uid), 'no datastore of the left-out app');
  assert.ok(!cfg1.volumes.some((v) => v.uuid === uuidV5(DEVICE, f.data.metadata.uid)), 'no volume of the left-out app');
  assert.equal(cfg1.contentInfo.length, 2, 'the VM image and the base OS only');
  assert.ok(
    m1.refs.some((r) => r.kind === 'NetworkInstance' && r.name === 'lan'),
    'a missing object is still a dependency',
  );
  assert.ok(!m1.owners.has(f.nginx.metadata.uid));

  const noSecret = f.objects.filter((o) => o !== f.secret);
  const m2 = await map(f, { objects: noSecret });
  assert.deepEqual(
    m2.problems.map((p) => [p.object.name, p.reason, p.ref?.kind, p.message]),
    [['nginx', 'SecretNotFound', 'Secret', 'Secret default/reg-creds of DataStore default/registry not found']],
  );

  const partial = { ...f.secret, data: { username: b64('robot') } };
  const m3 = await map(f, { objects: [...noSecret, partial] });
  assert.deepEqual(
    m3.problems.map((p) => [p.reason, p.message]),
    [['SecretKeyNotFound', 'Secret default/reg-creds of DataStore default/registry has no key "password"']],
  );

  const m4 = await map(f, { objects: f.objects.filter((o) => o !== f.files && o !== f.data && o !== f.sw) });
  assert.deepEqual(m4.apps, []);
  assert.deepEqual(m4.problems.map((p) => [p.object.name, p.reason]).sort(), [
    ['nginx', 'VolumeNotFound'],
    ['ubuntu', 'DataStoreNotFound'],
    ['ubuntu', 'NetworkInstanceNotFound'],
  ]);
  assert.equal(renderDeviceConfig(m4.input).config.apps.length, 0);
});

test('invalid device-level settings are reported and left out, never rendered broken', async () => {
  const f = fixtures();
  const node = {
    ...f.node,
    spec: {
      ...f.node.spec,
      devicePorts: [{ name: 'eth1', usage: 'app' }],
      baseOS: { version: '1', image: 'eve.img', datastoreRef: { name: 'nope', namespace: 'default' } },
    },
  };
  const m = await mapDevice({ node, deviceUuid: DEVICE, apps: [], lookup: lookupOf(f.objects), version: 1 });
  assert.deepEqual(
    m.problems.map((p) => [p.object.kind, p.reason]),
    [
      ['EdgeNode', 'NoManagementPort'],
      ['EdgeNode', 'DataStoreNotFound'],
    ],
  );
  const cfg = renderDeviceConfig(m.input).config;
  assert.equal(cfg.deviceIoList.length, 0);
  assert.equal(cfg.systemAdapterList.length, 0);
  assert.equal(cfg.baseos, undefined);

  const badNi = { ...f.lan, spec: { type: 'local', subnet: '10.0.0.0/24', gateway: '10.0.0.5', dhcpRange: { start: '10.0.0.2', end: '10.0.0.100' } } };
  const m2 = await map(f, { objects: [...f.objects.filter((o) => o !== f.lan), badNi] });
  assert.deepEqual(
    m2.problems.map((p) => [p.object.name, p.reason, p.message]),
    [['nginx', 'InvalidNetworkInstance', 'NetworkInstance default/lan: gateway 10.0.0.5 lies inside the DHCP range 10.0.0.2-10.0.0.100']],
  );
});

test('render refuses inputs that would crash or confuse EVE', () => {
  const base: DeviceRenderInput = { uuid: DEVICE, version: 1, apps: [], networkInstances: [], volumes: [], contentTrees: [], datastores: [] };
  assert.throws(() => renderDeviceConfig({ ...base, uuid: DEVICE.toUpperCase() }), RenderError);
  const app = {
    uuid: uid(),
    version: '1',
    displayName: 'a',
    type: 'container' as const,
    activate: true,
    vcpus: 1,
    memoryKiB: 1024,
    interfaces: [],
    volumes: [{ uuid: uid() }],
  };
  assert.throws(() => renderDeviceConfig({ ...base, apps: [app] }), /unknown volume/);
  const ni = { uuid: uid(), version: '1', displayName: 'n', type: 'local' as const };
  assert.throws(() => renderDeviceConfig({ ...base, networkInstances: [ni] }), /needs a subnet/);
  // Every app carries uuidandversion and fixedresources (EVE dereferences both without nil checks).
  const ok = renderDeviceConfig({ ...base, apps: [{ ...app, volumes: [] }] }).config.apps[0]!;
  assert.ok(ok.uuidandversion && ok.fixedresources);
});

test('ipv4Plan derives and checks local network addressing; image references split like a registry client', () => {
  assert.deepEqual(ipv4Plan('10.1.2.0/24'), { subnet: '10.1.2.0/24', gateway: '10.1.2.1', dhcpRange: { start: '10.1.2.2', end: '10.1.2.254' } });
  assert.deepEqual(ipv4Plan('10.1.2.7/24', '10.1.2.254'), {
    subnet: '10.1.2.0/24',
    gateway: '10.1.2.254',
    dhcpRange: { start: '10.1.2.1', end: '10.1.2.253' },
  });
  assert.match(String(ipv4Plan('10.1.2.0/30')), /too small/);
  assert.match(String(ipv4Plan('10.1.2.0/24', '10.9.9.9')), /not a host address/);
  assert.match(String(ipv4Plan('banana')), /not an IPv4 CIDR/);
  assert.deepEqual(splitImageRef('nginx'), { registry: 'docker.io', path: 'library/nginx:latest' });
  assert.deepEqual(splitImageRef('lfedge/eve:14.5.1'), { registry: 'docker.io', path: 'lfedge/eve:14.5.1' });
  assert.deepEqual(splitImageRef('ghcr.io/org/app@sha256:' + 'a'.repeat(64)), { registry: 'ghcr.io', path: 'org/app@sha256:' + 'a'.repeat(64) });
  assert.deepEqual(splitImageRef('localhost:5000/app'), { registry: 'localhost:5000', path: 'app:latest' });
});

test('a rendered config runs on the simulated device: apps reach RUNNING with an address from their network instance', async () => {
  const { DeviceModel } = await import('../../src/sim/model.ts');
  const f = fixtures();
  const m = await map(f);
  assert.deepEqual(m.problems, []);
  const hw = {
    manufacturer: 'QEMU',
    productName: 'pc',
    machineArch: 'x86_64',
    cpuArch: 'x86_64',
    platform: 'kvm',
    ncpu: 4,
    memoryMB: 4096,
    storageMB: 32768,
    ports: [{ ifname: 'eth0', mac: '02:42:00:00:00:01', ip: '192.168.1.10', subnet: '192.168.1.0/24', gateway: '192.168.1.1' }],
  };
  const device = new DeviceModel(hw, '14.5.1-kvm-amd64', {}, 0, () => 0);
  device.apply(decoded(renderDeviceConfig(m.input).bytes), DEVICE, 0);
  for (let i = 0; i < 200 && device.appStates().nginx !== 'RUNNING'; i++) device.step(i);
  assert.equal(device.appStates().nginx, 'RUNNING');
  assert.equal(device.appStates().ubuntu, 'INSTALLED', 'activate: false installs without running');
  const app = device.apps.get(f.nginx.metadata.uid)!;
  assert.match(app.nets[0]!.ip ?? '', /^10\.50\.0\.\d+$/);
});
