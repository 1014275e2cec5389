// The EVE CRDs in deploy/crds/: accepted by the CRD validation, served with kubectl explain, defaults and
// validation that refuse bad specs with field paths.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { applyCRDDefaults, validateCRD } from '../../src/apiserver/crd.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const DIR = join(import.meta.dirname, '../../deploy/crds');
// The EVE kinds; deploy/crds also serves the Network Plumbing WG's NetworkAttachmentDefinition (below).
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.eve.kubeve.io.yaml'))
  .sort();
const CRDS = FILES.map((f) => parse(readFileSync(join(DIR, f), 'utf8')));
const NAD_FILE = 'network-attachment-definitions.k8s.cni.cncf.io.yaml';

// Short names of built-in kinds a real cluster (and kubectl's shortcut expander) already uses.
const BUILTIN_SHORT_NAMES = [
  'cm',
  'cs',
  'csr',
  'crd',
  'crds',
  'deploy',
  'ds',
  'ep',
  'ev',
  'hpa',
  'ing',
  'limits',
  'netpol',
  'no',
  'ns',
  'pc',
  'pdb',
  'po',
  'psp',
  'pv',
  'pvc',
  'quota',
  'rc',
  'rs',
  'sa',
  'sc',
  'sts',
  'svc',
  'cj',
  'ap',
];

test('the seven CRDs are valid, in group eve.kubeve.io v1alpha1, category eve, with status and columns', () => {
  assert.deepEqual(CRDS.map((c) => c.spec.names.kind).sort(), [
    'AppInstance',
    'BaseOSRollout',
    'DataStore',
    'EdgeNode',
    'NetworkInstance',
    'OnboardingKey',
    'Volume',
  ]);
  const shortNames = new Set<string>();
  for (const [i, crd] of CRDS.entries()) {
    applyCRDDefaults(crd);
    assert.deepEqual(validateCRD(crd), [], FILES[i]);
    assert.equal(crd.spec.group, 'eve.kubeve.io');
    assert.equal(`${crd.spec.names.plural}.eve.kubeve.io.yaml`, FILES[i]);
    assert.deepEqual(
      crd.spec.versions.map((v: any) => v.name),
      ['v1alpha1'],
    );
    assert.deepEqual(crd.spec.names.categories, ['eve']);
    const v = crd.spec.versions[0];
    assert.deepEqual(v.subresources.status, {});
    assert.ok(v.additionalPrinterColumns.length >= 2);
    for (const s of crd.spec.names.shortNames) {
      assert.ok(!BUILTIN_SHORT_NAMES.includes(s), `${s} clashes with a built-in short name`);
      assert.ok(!shortNames.has(s), `${s} used twice`);
      shortNames.add(s);
    }
    assertDescribed(v.schema.openAPIV3Schema.properties.spec, `${crd.spec.names.kind}.spec`);
    assertDescribed(v.schema.openAPIV3Schema.properties.status, `${crd.spec.names.kind}.status`);
  }
  const scope = Object.fromEntries(CRDS.map((c) => [c.spec.names.kind, c.spec.scope]));
  assert.deepEqual(scope, {
    AppInstance: 'Namespaced',
    BaseOSRollout: 'Cluster',
    DataStore: 'Namespaced',
    EdgeNode: 'Cluster',
    NetworkInstance: 'Namespaced',
    OnboardingKey: 'Cluster',
    Volume: 'Namespaced',
  });
});

test("deploy/crds holds the six EVE CRDs and the NetworkAttachmentDefinition, which keeps upstream's names and spec", () => {
  assert.deepEqual(
    readdirSync(DIR)
      .filter((f) => f.endsWith('.yaml'))
      .sort(),
    [...FILES, NAD_FILE].sort(),
  );
  const nad = parse(readFileSync(join(DIR, NAD_FILE), 'utf8'));
  applyCRDDefaults(nad);
  assert.deepEqual(validateCRD(nad), []);
  assert.equal(nad.metadata.name, 'network-attachment-definitions.k8s.cni.cncf.io');
  assert.deepEqual(
    [nad.spec.group, nad.spec.scope, nad.spec.names.kind, nad.spec.names.plural],
    ['k8s.cni.cncf.io', 'Namespaced', 'NetworkAttachmentDefinition', 'network-attachment-definitions'],
  );
  assert.deepEqual(nad.spec.names.shortNames.sort(), ['nad', 'net-attach-def']);
  const v = nad.spec.versions[0];
  assert.equal(v.name, 'v1');
  assert.equal(v.schema.openAPIV3Schema.properties.spec.properties.config.type, 'string', 'spec.config is the CNI JSON as a string, as upstream');
  for (const crd of CRDS) for (const s of crd.spec.names.shortNames) assert.ok(!nad.spec.names.shortNames.includes(s), `${s} used twice`);
});

// kubectl explain teaches the API only when every field says what it is.
function assertDescribed(s: any, path: string): void {
  assert.ok(typeof s.description === 'string' && s.description.length > 3, `${path} has no description`);
  for (const [k, p] of Object.entries<any>(s.properties ?? {})) assertDescribed(p, `${path}.${k}`);
  if (s.items?.properties) for (const [k, p] of Object.entries<any>(s.items.properties)) assertDescribed(p, `${path}[].${k}`);
  if (s.additionalProperties?.properties) assertDescribed(s.additionalProperties, `${path}{}`);
}

let t: TestServer;
before(async () => {
  t = await startTestServer();
  await t.ok(['apply', '-f', DIR]);
  await t.ok(['wait', '--for=condition=established', '--timeout=30s', ...CRDS.map((c) => `crd/${c.metadata.name}`)]);
});
after(() => t?.close());

test('kubectl explain works for a field of each kind', async () => {
  const fields: [string, RegExp][] = [
    ['edgenodes.spec.reboot', /Reboot counter: increment it to reboot the device/],
    ['onboardingkeys.spec.autoEnroll', /Create an EdgeNode for every unknown serial/],
    ['appinstances.spec.networks.portMaps.targetPort', /Port inside the app/],
    ['networkinstances.spec.type', /NAT network with DHCP/],
    ['volumes.spec.size', /Size of a blank volume/],
    ['datastores.spec.credentialsSecretRef', /Secret in this namespace with the credentials/],
  ];
  for (const [field, text] of fields) {
    const out = await t.ok(['explain', field]);
    assert.match(out, text, field);
    assert.match(out, /GROUP:\s+eve\.kubeve\.io/);
  }
});

test('defaults fill an AppInstance; short names and the eve category resolve', async () => {
  await t.ok(
    ['apply', '-f', '-'],
    `apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: web, namespace: default}
spec:
  nodeName: dev-1
  image: nginx:1.27
  networks:
  - networkInstanceRef: {name: lan}
    portMaps: [{port: 8080, targetPort: 80}]
`,
  );
  const app = JSON.parse(await t.ok(['get', 'ai', 'web', '-o', 'json']));
  assert.deepEqual(app.spec.resources, { cpus: 1, memory: '512Mi' });
  assert.equal(app.spec.type, 'container');
  assert.equal(app.spec.activate, true);
  assert.equal(app.spec.networks[0].portMaps[0].protocol, 'tcp');
  const table = await t.ok(['get', 'eve']);
  assert.match(table, /appinstance\.eve\.kubeve\.io\/web\s+dev-1\s+nginx:1\.27/);
  const en = await t.kubectl(['get', 'en']);
  assert.equal(en.code, 0);
  assert.match(en.stderr, /No resources found/);
});

test('invalid specs are refused with field paths', async () => {
  const bad = await t.kubectl(['apply', '-f', '-'], {
    input: `apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: bad, namespace: default}
spec:
  nodeName: Dev_1
  image: nginx
  type: lxc
  resources: {cpus: 0, memory: lots}
  networks:
  - networkInstanceRef: {name: lan}
    portMaps: [{port: 70000, targetPort: 80}]
  volumes:
  - {name: data, mountPath: /data}
`,
  });
  assert.notEqual(bad.code, 0);
  for (const msg of [
    /spec\.nodeName: Invalid value: "Dev_1": spec\.nodeName in body should match/,
    /spec\.type: Unsupported value: "lxc": supported values: "container", "vm"/,
    /spec\.resources\.cpus: Invalid value: 0: spec\.resources\.cpus in body should be greater than or equal to 1/,
    /spec\.resources\.memory: Invalid value: "lots"/,
    /spec\.networks\[0\]\.portMaps\[0\]\.port: Invalid value: 70000: spec\.networks\[0\]\.portMaps\[0\]\.port in body should be less than or equal to 65535/,
    /"spec\.volumes\[0\]" must validate one and only one schema \(oneOf\)\. Found none valid/,
    /spec\.volumes\[0\]\.volumeRef: Required value/,
  ])
    assert.match(bad.stderr, msg);
  const none = await t.kubectl(['get', 'ai', 'bad']);
  assert.match(none.stderr, /NotFound/);

  const node = await t.kubectl(['apply', '-f', '-'], {
    input: `apiVersion: eve.kubeve.io/v1alpha1
kind: EdgeNode
metadata: {name: n1}
spec:
  serial: "s 1"
  uuid: 6BA7B810-9DAD-11D1-80B4-00C04FD430C8
  reboot: -1
  devicePorts: [{name: eth0, usage: wan}]
`,
  });
  assert.notEqual(node.code, 0);
  for (const msg of [
    /spec\.serial: Invalid value: "s 1"/,
    /spec\.uuid: Invalid value: "6BA7B810/,
    /spec\.reboot: Invalid value: -1/,
    /spec\.devicePorts\[0\]\.usage: Unsupported value: "wan"/,
  ]) {
    assert.match(node.stderr, msg);
  }
  const ds = await t.kubectl(['apply', '-f', '-'], {
    input: 'apiVersion: eve.kubeve.io/v1alpha1\nkind: DataStore\nmetadata: {name: d, namespace: default}\nspec: {type: ftp}\n',
  });
  assert.match(ds.stderr, /spec\.url: Required value/);
  assert.match(ds.stderr, /spec\.type: Unsupported value: "ftp"/);
});
