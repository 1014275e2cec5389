// The CNI config → EVE network instance rules (nad.ts) and the Multus selection annotation parser
// (pod-networks.ts), case by case: what each supported type and IPAM becomes, and the message a user
// gets for what EVE cannot do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nadNetwork, isNadProblem, nadNetworkName } from '../../src/controllers/kubelet/nad.ts';
import { parseNetworkSelection } from '../../src/controllers/kubelet/pod-networks.ts';

const nad = (config: unknown, annotations: Record<string, string> = {}) => ({
  metadata: { name: 'n1', namespace: 'ns1', annotations },
  spec: { config: typeof config === 'string' ? config : JSON.stringify(config) },
});
const ok = (config: unknown, annotations?: Record<string, string>) => {
  const r = nadNetwork(nad(config, annotations));
  assert.ok(!isNadProblem(r), isNadProblem(r) ? r.message : '');
  return r as Exclude<typeof r, { reason: string }>;
};
const problem = (config: unknown, annotations?: Record<string, string>) => {
  const r = nadNetwork(nad(config, annotations));
  assert.ok(isNadProblem(r), `expected a problem, got ${JSON.stringify(r)}`);
  return r as Extract<typeof r, { reason: string }>;
};

test('bridge/macvlan/ipvlan with host-local IPAM → a local NAT instance with subnet, range, gateway, routes, DNS', () => {
  const r = ok({
    type: 'macvlan',
    master: 'eth1',
    mtu: 1400,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: '10.10.0.0/16', rangeStart: '10.10.1.20', rangeEnd: '10.10.3.50', gateway: '10.10.0.254' }]],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '172.16.0.0/12', gw: '10.10.0.1' }],
      dns: { nameservers: ['1.1.1.1'] },
    },
  });
  assert.deepEqual(r.spec, {
    type: 'local',
    uplink: 'eth1',
    subnet: '10.10.0.0/16',
    gateway: '10.10.0.254',
    dhcpRange: { start: '10.10.1.20', end: '10.10.3.50' },
    dns: ['1.1.1.1'],
    staticRoutes: [{ destination: '172.16.0.0/12', gateway: '10.10.0.1' }],
    mtu: 1400,
  });
  assert.equal(r.vlanId, undefined);
  // The top-level host-local form, a host address as subnet, the default uplink.
  assert.deepEqual(ok({ type: 'bridge', ipam: { type: 'host-local', subnet: '192.168.5.7/24' } }).spec, {
    type: 'local',
    uplink: 'uplink',
    subnet: '192.168.5.0/24',
  });
  assert.equal(ok({ type: 'ipvlan', ipam: { type: 'host-local', subnet: '10.1.0.0/24' } }).spec.type, 'local');
});

test("static IPAM: the subnet of a local instance and the interfaces' address", () => {
  const r = ok({ type: 'bridge', ipam: { type: 'static', addresses: [{ address: '10.9.0.10/24', gateway: '10.9.0.1' }] } });
  assert.deepEqual(r.spec, { type: 'local', uplink: 'uplink', subnet: '10.9.0.0/24', gateway: '10.9.0.1' });
  assert.equal(r.staticIp, '10.9.0.10');
});

test('dhcp or no IPAM → switch; vlan type and vlan fields → switch with the VLAN; host-device → switch on the device', () => {
  assert.deepEqual(ok({ type: 'macvlan', master: 'eth2', ipam: { type: 'dhcp' } }).spec, { type: 'switch', uplink: 'eth2' });
  assert.deepEqual(ok({ type: 'bridge' }).spec, { type: 'switch', uplink: 'uplink' });
  const v = ok({ type: 'vlan', master: 'eth1', vlanId: 100, ipam: { type: 'dhcp' } });
  assert.deepEqual([v.spec, v.vlanId], [{ type: 'switch', uplink: 'eth1' }, 100]);
  const b = ok({ type: 'bridge', vlan: 42, ipam: { type: 'host-local', subnet: '10.0.0.0/24' } });
  assert.deepEqual([b.spec.type, b.vlanId], ['switch', 42], 'a VLAN makes it a switch even with a subnet');
  assert.deepEqual(ok({ type: 'host-device', device: 'eth3' }).spec, { type: 'switch', uplink: 'eth3' });
  // A conflist is read from its first plugin.
  assert.deepEqual(ok({ cniVersion: '0.4.0', plugins: [{ type: 'vlan', master: 'eth0', vlanId: 7 }, { type: 'tuning' }] }).vlanId, 7);
});

test('annotations choose the uplink and the instance type', () => {
  assert.equal(ok({ type: 'macvlan', master: 'eth1', ipam: { type: 'dhcp' } }, { 'kubeve.io/uplink': 'freeuplink' }).spec.uplink, 'freeuplink');
  assert.equal(
    ok({ type: 'bridge', ipam: { type: 'host-local', subnet: '10.0.0.0/24' } }, { 'kubeve.io/network-instance-type': 'switch' }).spec.type,
    'switch',
  );
  assert.match(problem({ type: 'bridge' }, { 'kubeve.io/network-instance-type': 'local' }).message, /local network instance needs a subnet/);
  assert.match(problem({ type: 'bridge' }, { 'kubeve.io/network-instance-type': 'nat' }).message, /must be local or switch, not "nat"/);
});

test('what EVE cannot do is named', () => {
  const t = problem({ type: 'sriov', vlan: 10 });
  assert.equal(t.reason, 'UnsupportedCNIType');
  assert.match(
    t.message,
    /^NetworkAttachmentDefinition ns1\/n1: CNI type "sriov" is not supported on EVE nodes \(supported: bridge, macvlan, ipvlan, vlan, host-device\)$/,
  );
  const i = problem({ type: 'macvlan', ipam: { type: 'whereabouts', range: '10.0.0.0/24' } });
  assert.equal(i.reason, 'UnsupportedIPAM');
  assert.match(i.message, /IPAM type "whereabouts"/);
  for (const [config, re] of [
    ['', /spec.config is empty/],
    ['{nope', /not JSON/],
    ['[1]', /must be a JSON object/],
    [{ cniVersion: '0.3.1' }, /no CNI "type"/],
    [{ type: 'vlan', master: 'eth0' }, /needs "vlanId"/],
    [{ type: 'vlan', vlanId: 5000 }, /not an integer in 1-4094/],
    [{ type: 'host-device' }, /needs "device"/],
    [{ type: 'bridge', ipam: { type: 'host-local' } }, /needs an IPv4 "subnet"/],
    [{ type: 'bridge', ipam: { type: 'host-local', subnet: '10.0.0.0/24', routes: [{ dst: '10.5.0.0/16' }] } }, /"gw"/],
    [
      { type: 'bridge', ipam: { type: 'host-local', subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.100' } },
      /gateway 10.0.0.1 lies inside the DHCP range/,
    ],
    [{ type: 'bridge', ipam: { type: 'static', addresses: [{ address: '10.0.0.5' }] } }, /not an IPv4 CIDR/],
  ] as const)
    assert.match(problem(config).message, re, JSON.stringify(config));
  assert.equal(nadNetworkName('ns1', 'n1'), 'nad.ns1.n1');
});

test('the selection annotation: short form and JSON form, validated as Multus does', () => {
  assert.deepEqual(parseNetworkSelection('macvlan-conf-1, testns1/macvlan-conf-3, macvlan-conf-2@macvlan1', 'default'), [
    { namespace: 'default', name: 'macvlan-conf-1' },
    { namespace: 'testns1', name: 'macvlan-conf-3' },
    { namespace: 'default', name: 'macvlan-conf-2', interface: 'macvlan1' },
  ]);
  assert.deepEqual(
    parseNetworkSelection(
      '[{"name":"a","interface":"x1","mac":"c2:b0:57:49:47:f1","ips":["10.10.1.30/16"]},{"name":"b","namespace":"other","default-route":["192.168.2.1"]},{"name":"c","interfaceRequest":"old"}]',
      'ns',
    ),
    [
      { namespace: 'ns', name: 'a', interface: 'x1', ips: ['10.10.1.30/16'], mac: 'c2:b0:57:49:47:f1' },
      { namespace: 'other', name: 'b' },
      { namespace: 'ns', name: 'c', interface: 'old' },
    ],
  );
  for (const [value, re] of [
    ['Bad_Name', /not a DNS-1123 label/],
    ['a/b/c', /expected \[namespace\/\]name\[@interface\]/],
    ['a@averyveryverylongname', /1-15 characters/],
    ['a@x@y', /at most one "@"/],
    ['[{"interface":"x"}]', /"name" is required/],
    ['{"name":"a"}', /must be a list/],
    ['[{"name":"a","mac":"zz:00"}]', /not a MAC address/],
    ['[{"name":"a","ips":["fd00::5/64"]}]', /not an IPv4 address/],
    ['[{"name":"a","ips":["10.0.0.1","10.0.0.2"]}]', /one static address/],
    ['[{"name":"a"', /not a JSON list/],
  ] as const) {
    const r = parseNetworkSelection(value, 'ns');
    assert.ok(!Array.isArray(r), value);
    assert.match((r as { error: string }).error, re, value);
  }
});
