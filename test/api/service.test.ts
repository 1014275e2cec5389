// core/v1 Service through the real kubectl 1.32: `kubectl create service` (protobuf bodies), kube's defaults,
// cluster IP and node port allocation (in range, unique), the printer columns, clusterIP immutability and
// validation texts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, startTestServer, type TestServer } from '../helpers/server.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { EtcdStorage } from '../../src/apiserver/storage/etcd.ts';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(async () => {
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));
const ipInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const inServiceRange = (ip: string) => ipInt(ip) > ipInt('10.96.0.0') && ipInt(ip) < ipInt('10.112.0.0') - 1;

test('kubectl create service clusterip: defaults, an allocated cluster IP and the kubectl columns', async () => {
  assert.match(await t.ok(['create', 'service', 'clusterip', 'web', '--tcp=80:8080']), /service\/web created/);
  const svc = await json(['get', 'svc', 'web']);
  assert.equal(svc.spec.type, 'ClusterIP');
  assert.ok(inServiceRange(svc.spec.clusterIP), svc.spec.clusterIP);
  assert.deepEqual(svc.spec.clusterIPs, [svc.spec.clusterIP]);
  assert.deepEqual(svc.spec.ipFamilies, ['IPv4']);
  assert.equal(svc.spec.ipFamilyPolicy, 'SingleStack');
  assert.equal(svc.spec.sessionAffinity, 'None');
  assert.equal(svc.spec.internalTrafficPolicy, 'Cluster');
  assert.equal(svc.spec.externalTrafficPolicy, undefined);
  assert.deepEqual(svc.spec.ports, [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 }]);
  assert.deepEqual(svc.spec.selector, { app: 'web' });
  assert.deepEqual(svc.status, { loadBalancer: {} });

  const table = await t.ok(['get', 'svc', 'web']);
  assert.match(table, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\n/);
  assert.match(table, new RegExp(`\\nweb\\s+ClusterIP\\s+${svc.spec.clusterIP.replace(/\./g, '\\.')}\\s+<none>\\s+80/TCP\\s+\\d+s\\n`));
  assert.match(await t.ok(['get', 'svc', 'web', '-o', 'wide']), /SELECTOR\n[\s\S]*\s+app=web\n/);
  // Service is in the `all` category.
  assert.match(await t.ok(['get', 'all']), /service\/web\s+ClusterIP/);
});

test('kubectl create service nodeport and loadbalancer: node ports allocated in 30000-32767, LoadBalancer pending', async () => {
  await t.ok(['create', 'service', 'nodeport', 'np', '--tcp=8443:443']);
  const np = await json(['get', 'svc', 'np']);
  assert.equal(np.spec.type, 'NodePort');
  assert.equal(np.spec.externalTrafficPolicy, 'Cluster');
  const port = np.spec.ports[0].nodePort;
  assert.ok(port >= 30000 && port <= 32767, String(port));
  assert.match(await t.ok(['get', 'svc', 'np']), new RegExp(`np\\s+NodePort\\s+\\S+\\s+<none>\\s+8443:${port}/TCP`));

  await t.ok(['create', 'service', 'loadbalancer', 'lb', '--tcp=80']);
  assert.match(await t.ok(['get', 'svc', 'lb']), /lb\s+LoadBalancer\s+10\.\S+\s+<pending>\s+80:3\d{4}\/TCP/);

  // Back to ClusterIP: the node port is released.
  await t.ok(['patch', 'svc', 'np', '-p', '{"spec":{"type":"ClusterIP"}}']);
  const back = await json(['get', 'svc', 'np']);
  assert.equal(back.spec.type, 'ClusterIP');
  assert.equal(back.spec.ports[0].nodePort, undefined);
  assert.equal(back.spec.clusterIP, np.spec.clusterIP);
});

test('apply of a NodePort Service gets a node port in range; re-apply keeps the allocation', async () => {
  const manifest = `apiVersion: v1
kind: Service
metadata: {name: applied}
spec:
  type: NodePort
  selector: {app: applied}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9090, protocol: TCP}
`;
  await t.ok(['apply', '-f', '-'], manifest);
  const first = await json(['get', 'svc', 'applied']);
  const ports = first.spec.ports.map((p: { nodePort: number }) => p.nodePort);
  for (const p of ports) assert.ok(p >= 30000 && p <= 32767, String(p));
  assert.notEqual(ports[0], ports[1]);
  assert.equal(first.spec.ports[0].targetPort, 'http');
  assert.equal(first.spec.ports[1].targetPort, 9090);
  await t.ok(['apply', '-f', '-'], manifest.replace('app: applied', 'app: applied2'));
  const second = await json(['get', 'svc', 'applied']);
  assert.deepEqual(
    second.spec.ports.map((p: { nodePort: number }) => p.nodePort),
    ports,
  );
  assert.equal(second.spec.clusterIP, first.spec.clusterIP);
  assert.deepEqual(second.spec.selector, { app: 'applied2' });
});

test('Services never share a cluster IP or a node port; a taken one is refused', async () => {
  for (let i = 0; i < 12; i++) await t.ok(['create', 'service', 'nodeport', `many-${i}`, '--tcp=80']);
  const list = (await json(['get', 'svc', '-A'])).items;
  const ips = list.map((s: any) => s.spec.clusterIP);
  assert.equal(new Set(ips).size, ips.length, ips.join(' '));
  const nodePorts = list.flatMap((s: any) => s.spec.ports.map((p: any) => p.nodePort).filter(Boolean));
  assert.equal(new Set(nodePorts).size, nodePorts.length);

  const taken = ips[0];
  const r = await t.kubectl(['create', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dup' }, spec: { clusterIP: taken, ports: [{ port: 80 }] } }),
  });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(
      `spec.clusterIPs: Invalid value: "${taken.replace(/\./g, '\\.')}": failed to allocate IP ${taken.replace(/\./g, '\\.')}: provided IP is already allocated`,
    ),
  );
  assert.equal((await t.kubectl(['get', 'svc', 'dup'])).code, 1);

  // A chosen free IP in range is kept; "None" makes a headless service.
  await t.ok(
    ['create', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'fixed' }, spec: { clusterIP: '10.96.200.7', ports: [{ port: 80 }] } }),
  );
  assert.equal((await json(['get', 'svc', 'fixed'])).spec.clusterIP, '10.96.200.7');
  await t.ok(['create', 'service', 'clusterip', 'headless', '--clusterip=None']);
  assert.match(await t.ok(['get', 'svc', 'headless']), /headless\s+ClusterIP\s+None\s+<none>\s+<none>/);

  await t.ok(['create', 'service', 'externalname', 'ext', '--external-name=db.example.com']);
  const ext = await json(['get', 'svc', 'ext']);
  assert.equal(ext.spec.clusterIP, undefined);
  assert.match(await t.ok(['get', 'svc', 'ext']), /ext\s+ExternalName\s+<none>\s+db\.example\.com\s+<none>/);

  // Deleting a Service releases its cluster IP for others.
  assert.match(await t.ok(['delete', 'svc', 'fixed']), /service "fixed" deleted/);
  await t.ok(
    ['create', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'fixed2' }, spec: { clusterIP: '10.96.200.7', ports: [{ port: 80 }] } }),
  );
});

test("clusterIP is immutable: 422 with kube's text, the object unchanged", async () => {
  await t.ok(['create', 'service', 'clusterip', 'imm', '--tcp=80']);
  const ip = (await json(['get', 'svc', 'imm'])).spec.clusterIP;
  const other = ip === '10.96.0.10' ? '10.96.0.11' : '10.96.0.10';
  const r = await t.kubectl(['patch', 'svc', 'imm', '-p', JSON.stringify({ spec: { clusterIP: other, clusterIPs: [other] } })]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /The Service "imm" is invalid: spec.clusterIPs\[0\]: Invalid value: "10\.96\.0\.1[01]": field is immutable/);
  assert.equal((await json(['get', 'svc', 'imm'])).spec.clusterIP, ip);
});

test("invalid ports: 422 with kube's texts, nothing stored", async () => {
  const svc = (ports: unknown) => JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'bad' }, spec: { selector: { a: 'b' }, ports } });
  const cases: Array<[unknown, RegExp]> = [
    [[{ port: 70000 }], /spec.ports\[0\].port: Invalid value: 70000: must be between 1 and 65535, inclusive/],
    [
      [
        { name: 'a', port: 80 },
        { name: 'a', port: 81 },
      ],
      /spec.ports\[1\].name: Duplicate value: "a"/,
    ],
    [[{ port: 80 }, { name: 'b', port: 81 }], /spec.ports\[0\].name: Required value/],
    [[{ name: 'x' }], /spec.ports\[0\].port: Required value/],
    [[], /spec.ports: Required value/],
    [[{ port: 80, nodePort: 30080 }], /spec.ports\[0\].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'/],
  ];
  for (const [ports, text] of cases) {
    const r = await t.kubectl(['create', '-f', '-'], { input: svc(ports) });
    assert.equal(r.code, 1, JSON.stringify(ports));
    assert.match(r.stderr, /The Service "bad" is invalid/);
    assert.match(r.stderr, text);
    assert.equal((await t.kubectl(['get', 'svc', 'bad'])).code, 1);
  }
});

test("concurrent creates asking for the same cluster IP and node port: exactly one wins, the others get kube's 422", async () => {
  // On etcd every storage call is a real network round trip, so concurrent requests interleave between
  // allocation and write (on SQLite they happen to run one by one).
  const etcd = await startEtcd(1);
  const t = await startTestServer({ storage: await EtcdStorage.open({ endpoints: etcd.endpoints, prefix: '/svc-race' }) });
  try {
    await raceAllocations(t);
  } finally {
    await t.close();
    await etcd.stop();
  }
});

async function raceAllocations(t: TestServer): Promise<void> {
  const create = (name: string, ip: string, nodePort: number) =>
    api(t.server, 'POST', '/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name },
      spec: { type: 'NodePort', clusterIP: ip, ports: [{ port: 80, nodePort }] },
    });
  const sameIp = await Promise.all(['race-a', 'race-b', 'race-c', 'race-d'].map((n, i) => create(n, '10.96.77.77', 31770 + i)));
  assert.deepEqual(sameIp.map((r) => r.status).sort(), [201, 422, 422, 422], JSON.stringify(sameIp.map((r) => r.body)));
  for (const r of sameIp.filter((x) => x.status === 422)) {
    assert.equal(r.body.details.causes[0].field, 'spec.clusterIPs');
    assert.match(r.body.message, /failed to allocate IP 10\.96\.77\.77: provided IP is already allocated/);
  }
  // Different IPs, one node port: the port is the conflict.
  const samePort = await Promise.all(['port-a', 'port-b', 'port-c'].map((n, i) => create(n, `10.96.78.${i + 1}`, 31888)));
  assert.deepEqual(samePort.map((r) => r.status).sort(), [201, 422, 422], JSON.stringify(samePort.map((r) => r.body)));
  for (const r of samePort.filter((x) => x.status === 422))
    assert.match(r.body.message, /spec\.ports\[0\]\.nodePort: Invalid value: 31888: provided port is already allocated/);
  // Kubectl sees one holder of each.
  const list = JSON.parse(await t.ok(['get', 'svc', '-o', 'json'])).items;
  assert.equal(list.filter((s: any) => s.spec.clusterIP === '10.96.77.77').length, 1);
  assert.equal(list.filter((s: any) => s.spec.ports?.some((p: any) => p.nodePort === 31888)).length, 1);
}
