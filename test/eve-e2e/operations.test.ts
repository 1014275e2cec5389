// Device presence and operations through the EdgeNode: a silent device goes Online=False after the
// documented timeout and back; the reboot counter reboots it; a base OS update completes, a failing
// one falls back and the EdgeNode says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import type { SimDevice } from '../../src/sim/device.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from './helpers.ts';

const OFFLINE_MS = 3000;
let env: EveTestEnv;
let fleet: SimFleet;

const node = async (name: string) => JSON.parse(await env.ok(['get', 'edgenode', name, '-o', 'json']));
const cond = (o: any, t: string) => (o.status?.conditions ?? []).find((c: any) => c.type === t);
const dev = (serial: string): SimDevice => fleet.devices.find((d) => d.serial === serial)!;
const events = async (name: string) => env.ok(['get', 'events', '-n', 'default', '--field-selector', `involvedObject.name=${name}`]);

before(async () => {
  env = await startEveEnv({ eve: { offlineTimeoutMs: OFFLINE_MS, debounceMs: 20 } });
  await env.apply(onboardingKeyYaml('ops-key', env.onboard.certPem));
  fleet = await env.fleet({ count: 3, serialPrefix: 'ops-', knobs: { failUpdate: (v) => v === '14.6.0-broken' } });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 3, 60_000, '3 configured devices');
  await eventually(async () => cond(await node('ops-0000'), 'Online')?.status === 'True', 20_000, 'online');
});
after(async () => {
  await env?.close();
});

test('a silent device becomes Online=False after the timeout and True when it returns; its apps are untouched', async () => {
  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: NetworkInstance
metadata: {name: lan, namespace: default}
spec: {type: local, subnet: 10.70.0.0/24}
---
apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: sensor, namespace: default}
spec:
  nodeName: ops-0000
  image: library/busybox:1.36
  networks: [{networkInstanceRef: {name: lan}}]
`);
  await env.ok(['wait', '--for=condition=Ready', 'appinstance/sensor', '-n', 'default', '--timeout=60s']);
  const d = dev('ops-0000');
  const configBefore = (await node('ops-0000')).status.renderedConfigHash;
  const silentAt = Date.now();
  d.setOffline(true);
  const off = await eventually(
    async () => {
      const n = await node('ops-0000');
      return cond(n, 'Online')?.status === 'False' ? n : undefined;
    },
    20_000,
    'Online=False',
  );
  const took = Date.now() - silentAt;
  assert.ok(took >= OFFLINE_MS - 1000, `not before the timeout (${took} ms)`);
  assert.equal(cond(off, 'Online').reason, 'NoContact');
  assert.equal(off.status.phase, 'Offline');
  assert.equal(cond(await node('ops-0001'), 'Online').status, 'True', 'other devices stay online');
  // The device keeps running its last config; the controller leaves its apps and config alone.
  assert.equal(d.model.appStates().sensor, 'RUNNING');
  const app = JSON.parse(await env.ok(['get', 'appinstance', 'sensor', '-n', 'default', '-o', 'json']));
  assert.equal(cond(app, 'Ready').status, 'True');
  assert.equal(off.status.renderedConfigHash, configBefore);
  assert.match(await env.ok(['get', 'edgenodes']), /ops-0000\s+ops-0000\s+Offline\s+False/);

  d.setOffline(false);
  const on = await eventually(
    async () => {
      const n = await node('ops-0000');
      return cond(n, 'Online')?.status === 'True' ? n : undefined;
    },
    20_000,
    'Online=True again',
  );
  assert.equal(on.status.phase, 'Online');
  assert.equal(on.status.renderedConfigHash, configBefore);
  const ev = await events('ops-0000');
  assert.match(ev, /Offline/);
  assert.match(ev, /Online/);
});

test('incrementing the reboot counter reboots the device, which reports the reason', async () => {
  const d = dev('ops-0001');
  const before = await node('ops-0001');
  await env.ok(['patch', 'edgenode', 'ops-0001', '--type=merge', '-p', '{"spec":{"reboot":1}}']);
  await d.waitFor((x) => x.counters.reboots === 1, 30_000, 'reboot');
  const n = await eventually(
    async () => {
      const x = await node('ops-0001');
      return /reboot\.counter/.test(x.status.lastRebootReason ?? '') && x.status.lastRebootTime !== before.status.lastRebootTime ? x : undefined;
    },
    30_000,
    'reboot reason reported',
  );
  assert.match(n.status.lastRebootReason, /reboot\.counter changed by controller/);
  await eventually(async () => /Rebooted/.test(await events('ops-0001')), 10_000, 'Rebooted event');
});

test('a base OS update completes; a failing one falls back and the EdgeNode says so', async () => {
  const patch = (version: string) =>
    JSON.stringify({
      spec: {
        configItems: { 'timer.test.baseimage.update': '30' },
        baseOS: { version, image: `lfedge/eve:${version}`, activate: true },
      },
    });
  const good = dev('ops-0002');
  await env.ok(['patch', 'edgenode', 'ops-0002', '--type=merge', '-p', patch('14.6.0-kvm-amd64')]);
  const updating = await eventually(
    async () => {
      const x = await node('ops-0002');
      return cond(x, 'BaseOSReady')?.status === 'False' ? x : undefined;
    },
    20_000,
    'update in progress',
  );
  assert.equal(cond(updating, 'BaseOSReady').reason, 'Updating');
  const done = await eventually(
    async () => {
      const x = await node('ops-0002');
      return cond(x, 'BaseOSReady')?.reason === 'Updated' ? x : undefined;
    },
    60_000,
    'update committed',
  );
  assert.equal(done.status.eveVersion, '14.6.0-kvm-amd64');
  assert.equal(cond(done, 'BaseOSReady').status, 'True');
  assert.equal(good.model.runningVersion, '14.6.0-kvm-amd64');
  assert.match(await events('ops-0002'), /BaseOSUpdated/);

  await env.ok(['patch', 'edgenode', 'ops-0002', '--type=merge', '-p', patch('14.6.0-broken')]);
  const fell = await eventually(
    async () => {
      const x = await node('ops-0002');
      return cond(x, 'BaseOSReady')?.reason === 'Fallback' && x.status.eveVersion === '14.6.0-kvm-amd64' ? x : undefined;
    },
    60_000,
    'fallback reported, back on the previous version',
  );
  assert.equal(cond(fell, 'BaseOSReady').status, 'False');
  assert.match(cond(fell, 'BaseOSReady').message, /14\.6\.0-broken fell back to 14\.6\.0-kvm-amd64/);
  assert.equal(fell.status.eveVersion, '14.6.0-kvm-amd64', 'still running the previous version');
  assert.ok(
    fell.status.partitions.some((p: any) => p.version === '14.6.0-broken' && p.error),
    'the failed partition carries the error',
  );
  assert.match(await events('ops-0002'), /BaseOSUpdateFailed/);
});
