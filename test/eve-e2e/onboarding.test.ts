// Zero-touch enrolment with an OnboardingKey, pending approval, and the EdgeNode table, driven by
// the real kubectl against `kubeve server` with simulated devices over TLS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from './helpers.ts';

let env: EveTestEnv;
before(async () => {
  env = await startEveEnv();
});
after(async () => {
  await env?.close();
});

test('kubectl apply of an auto-enrol OnboardingKey: 5 devices become EdgeNodes with hardware info', async () => {
  await env.apply(onboardingKeyYaml('batch-1', env.onboard.certPem, { labels: { site: 'lab', 'kubeve.io/batch': 'one' } }));
  const fleet = await env.fleet({ count: 5, serialPrefix: 'auto-' });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 5, 60_000, '5 configured devices');

  const nodes = await eventually(
    async () => {
      const l = JSON.parse(await env.ok(['get', 'edgenodes', '-o', 'json'])).items as any[];
      return l.length === 5 && l.every((n) => n.status?.hardware?.model && n.status?.eveVersion && n.status?.uuid) ? l : undefined;
    },
    30_000,
    '5 EdgeNodes with hardware info',
  );
  for (const n of nodes) {
    const d = fleet.devices.find((x) => x.serial === n.spec.serial)!;
    assert.ok(d, `EdgeNode ${n.metadata.name} is one of the devices`);
    assert.equal(n.status.uuid, d.uuid, 'status.uuid is the UUID the device got');
    assert.deepEqual(n.metadata.labels, { site: 'lab', 'kubeve.io/batch': 'one' }, 'labels from the key template');
    assert.equal(n.spec.onboardingKeyRef.name, 'batch-1');
    assert.equal(n.status.hardware.manufacturer, 'QEMU');
    assert.equal(n.status.hardware.architecture, 'amd64');
    assert.equal(n.status.hardware.cpus, 4);
    assert.equal(n.status.hardware.memory, '8192Mi');
    assert.equal(n.status.eveVersion, '14.5.1-kvm-amd64');
    assert.ok(
      n.status.partitions.some((p: any) => p.label === 'IMGA'),
      'A/B partitions',
    );
    assert.ok(n.status.interfaces[0].ipAddresses.length > 0, 'interfaces with addresses');
    const cond = (t: string) => n.status.conditions.find((c: any) => c.type === t);
    assert.equal(cond('Registered')?.status, 'True');
    assert.equal(cond('BaseOSReady')?.status, 'True');
    assert.match(n.status.deviceCertificateHash, /^[A-Za-z0-9+/]{43}=$/);
  }
  // Online and delivered once the device polled its rendered config again.
  await eventually(
    async () => {
      const l = JSON.parse(await env.ok(['get', 'edgenodes', '-o', 'json'])).items as any[];
      return l.every(
        (n) =>
          n.status.conditions.some((c: any) => c.type === 'Online' && c.status === 'True') &&
          n.status.conditions.some((c: any) => c.type === 'ConfigDelivered' && c.status === 'True') &&
          n.status.deliveredConfigHash === n.status.renderedConfigHash,
      );
    },
    30_000,
    'Online and ConfigDelivered',
  );

  const table = await env.ok(['get', 'edgenodes']);
  const [header, ...rows] = table.trim().split('\n');
  assert.match(header!, /^NAME\s+SERIAL\s+PHASE\s+ONLINE\s+EVE\s+MODEL\s+APPS\s+AGE$/);
  assert.equal(rows.length, 5);
  for (const r of rows) assert.match(r, /^auto-\d{4}\s+auto-\d{4}\s+Online\s+True\s+14\.5\.1-kvm-amd64\s+Standard PC \(Q35 \+ ICH9, 2009\)\s+0\s+\S+$/);
  const wide = await env.ok(['get', 'en', 'auto-0000', '-o', 'wide']);
  assert.match(wide, /UUID\s+LAST-CONTACT/);
  assert.ok(wide.includes(fleet.devices[0]!.uuid));
  const events = await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=auto-0000']);
  assert.match(events, /Registered/);

  // The rendered config is readable through the API.
  const cfg = JSON.parse(await env.ok(['get', '--raw', '/apis/eve.kubeve.io/v1alpha1/edgenodes/auto-0000/config']));
  assert.equal(cfg.id.uuid, fleet.devices[0]!.uuid);
  const key = JSON.parse(await env.ok(['get', 'onboardingkey', 'batch-1', '-o', 'json']));
  assert.equal(key.status.enrolled, 5);
});

test('without autoEnroll a device waits in the key status (403) until its EdgeNode is created', async () => {
  await env.apply(onboardingKeyYaml('batch-1', env.onboard.certPem, { autoEnroll: false }));
  const fleet = await env.fleet({ count: 1, serialPrefix: 'manual-' });
  fleet.start();
  const d = fleet.devices[0]!;
  await d.waitFor((x) => x.counters.lastRegisterStatus === 403, 30_000, 'register refused');
  const pending = await eventually(
    async () => {
      const key = JSON.parse(await env.ok(['get', 'onboardingkey', 'batch-1', '-o', 'json']));
      return key.status?.pending?.find((p: any) => p.serial === 'manual-0000') ? key : undefined;
    },
    20_000,
    'serial pending in key status',
  );
  assert.equal(pending.status.pendingCount, 1);
  assert.equal((await env.kubectl(['get', 'edgenode', 'manual-0000'])).code, 1, 'no EdgeNode was created');

  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: EdgeNode
metadata:
  name: approved-1
spec:
  serial: manual-0000
  onboardingKeyRef:
    name: batch-1
`);
  await d.waitFor((x) => x.phase === 'configured', 60_000, 'device onboarded after approval');
  const n = await eventually(
    async () => {
      const o = JSON.parse(await env.ok(['get', 'edgenode', 'approved-1', '-o', 'json']));
      return o.status?.uuid === d.uuid ? o : undefined;
    },
    20_000,
    'approved EdgeNode bound',
  );
  assert.equal(n.status.conditions.find((c: any) => c.type === 'Registered').status, 'True');
  await eventually(
    async () => {
      const key = JSON.parse(await env.ok(['get', 'onboardingkey', 'batch-1', '-o', 'json']));
      return !key.status.pending?.length && key.status.pendingCount === 0;
    },
    20_000,
    'pending list cleared',
  );
});
