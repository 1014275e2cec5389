// BaseOSRollout end to end: the embedded server with the rollout controller, simulated EVE devices
// over real TLS (short timers: time scale 60, the 30 s test boot is 0.5 s), real kubectl for what a
// user reads. Each test has its own fleet and label so they do not see each other's devices.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import type { ModelKnobs } from '../../src/sim/model.ts';
import { DEFAULT_EVE_VERSION } from '../../src/sim/device.ts';
import { InProcessClient, type Client } from '../../src/controllers/runtime/index.ts';
import { EDGENODES } from '../../src/controllers/eve/status.ts';
import { BASEOSROLLOUTS } from '../../src/controllers/rollout/index.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';

const OLD = DEFAULT_EVE_VERSION;
let env: EveTestEnv;
let client: Client;

before(async () => {
  env = await startEveEnv();
  client = new InProcessClient(env.k.api.service, env.k.api.registry);
  await env.apply(onboardingKeyYaml('roll-key', env.onboard.certPem));
});
after(async () => {
  await env?.close();
});

/**
 * A started fleet whose EdgeNodes carry label group=<prefix> and are pinned to the version they run.
 * timer.update.fallback.no.network is raised (3600 s = 60 s real): on a loaded machine a rebooted
 * simulator can take longer than EVE's default 300 s (5 s real) to reach the controller, and would
 * rightly fall back.
 */
async function fleetOf(prefix: string, count: number, knobsFor?: (i: number) => ModelKnobs | undefined, firstIndex = 0): Promise<SimFleet> {
  const f = await env.fleet({ count, serialPrefix: `${prefix}-`, stepMs: 400, rebootMs: 1000, startSpreadMs: 500, knobsFor, firstIndex });
  f.start();
  await f.waitFor((x) => x.counts().configured === count, 90_000, `${count} configured devices`);
  for (const d of f.devices) {
    await eventually(
      async () => {
        await client.patch(EDGENODES, undefined, d.serial, 'merge', {
          metadata: { labels: { group: prefix } },
          spec: {
            configItems: { 'timer.test.baseimage.update': '30', 'timer.update.fallback.no.network': '3600' },
            baseOS: { version: OLD, image: `lfedge/eve:${OLD}` },
          },
        });
        return true;
      },
      20_000,
      `label ${d.serial}`,
    );
  }
  return f;
}

const rollout = (name: string) => client.get(BASEOSROLLOUTS, undefined, name);
const create = (name: string, spec: Record<string, unknown>) =>
  client.create(BASEOSROLLOUTS, undefined, { apiVersion: 'eve.kubeve.io/v1alpha1', kind: 'BaseOSRollout', metadata: { name }, spec });
const setSpec = (name: string, spec: Record<string, unknown>) => client.patch(BASEOSROLLOUTS, undefined, name, 'merge', { spec });
/** Waits until `pred` holds for the rollout; on timeout the error shows where the rollout stood. */
async function until(name: string, pred: (r: any) => boolean, ms: number, what: string, fleet?: SimFleet): Promise<any> {
  let last: any;
  try {
    return await eventually(
      async () => {
        last = await rollout(name);
        return pred(last) ? last : undefined;
      },
      ms,
      `rollout ${name}: ${what}`,
    );
  } catch (e) {
    const st = last?.status ?? {};
    const states: Record<string, number> = {};
    for (const d of st.devices ?? []) states[d.state] = (states[d.state] ?? 0) + 1;
    if (last) {
      states.Pending = names(last, 'pendingDevices').length;
      states.Updated = names(last, 'updatedDevices').length;
    }
    throw new Error(
      `${(e as Error).message}; phase ${st.phase}, batch ${st.batch}, message ${JSON.stringify(st.message)}, devices ${JSON.stringify(states)}, first ${JSON.stringify((st.devices ?? []).filter((d: any) => d.state !== 'Pending' && d.state !== 'Updated').slice(0, 3))}${fleet ? `; simulated: ${JSON.stringify(fleet.devices.filter((d) => d.model.baseos && d.model.baseos.phase !== 'done').map((d) => ({ serial: d.serial, phase: d.phase, offline: d.offline, baseos: d.model.baseos, parts: d.model.partitions.map((p) => [p.version, p.partitionState, p.userStatus]) })))}` : ''}`,
    );
  }
}
const waitPhase = (name: string, phase: string, ms = 120_000, fleet?: SimFleet) => until(name, (r) => r.status?.phase === phase, ms, phase, fleet);
/** A device's entry: detailed in status.devices, or by name in its batch's pendingDevices / updatedDevices. */
function dev(r: any, name: string): any {
  const d = (r.status.devices ?? []).find((x: any) => x.name === name);
  if (d) return d;
  for (const b of r.status.batches ?? []) {
    if (b.pendingDevices?.includes(name)) return { name, batch: b.index, state: 'Pending' };
    if (b.updatedDevices?.includes(name)) return { name, batch: b.index, state: 'Updated' };
  }
  return undefined;
}
const names = (r: any, key: 'pendingDevices' | 'updatedDevices'): string[] => (r.status.batches ?? []).flatMap((b: any) => b[key] ?? []);
/** Devices whose simulated EVE is between "activate" and commit/fallback. */
const activating = (f: SimFleet) =>
  f.devices.filter((d) => d.model.baseos?.activate && ['downloading', 'installing', 'rebooting', 'testing'].includes(d.model.baseos.phase)).length;

test('50 devices, batches 1/10/rest, maxUnavailable 10: completes, never more than 10 updating, all committed; a device joining mid-rollout goes in the last batch; kubectl shows progress', async () => {
  const NEW = '14.6.0-kvm-amd64';
  const f = await fleetOf('a', 50);
  let peak = 0;
  const watch = setInterval(() => (peak = Math.max(peak, activating(f))), 20);
  try {
    await create('fleet-a', {
      version: NEW,
      image: `lfedge/eve:${NEW}`,
      selector: { matchLabels: { group: 'a' } },
      batches: [{ size: 1 }, { size: 10 }],
      maxUnavailable: 10,
      healthWindowSeconds: 10,
    });
    const mid = await until('fleet-a', (r) => r.status?.batches?.[1]?.phase === 'Progressing', 120_000, 'second batch running');
    assert.equal(mid.status.batches[0].phase, 'Succeeded', 'the canary went first');
    assert.deepEqual(
      mid.status.batches.map((b: any) => b.size),
      [1, 10, 39],
    );
    const table = await env.ok(['get', 'baseosrollouts']);
    assert.match(table.split('\n')[0]!, /NAME\s+VERSION\s+PHASE\s+BATCH\s+UPDATED\s+UPDATING\s+FAILED\s+TOTAL\s+AGE/);
    assert.match(table, new RegExp(`fleet-a\\s+${NEW}\\s+Progressing\\s+2/3\\s+\\d+\\s+\\d+\\s+0\\s+50`));
    // A device that starts matching now joins the last batch.
    const late = await fleetOf('a', 1, undefined, 50);
    const joined = await until('fleet-a', (r) => r.status?.total === 51, 60_000, 'a-0050 joins');
    assert.equal(dev(joined, 'a-0050').batch, 2);
    assert.equal(joined.status.batches[2].size, 40);
    const done = await waitPhase('fleet-a', 'Completed', 240_000, f);
    assert.equal(done.status.updated, 51);
    assert.equal(done.status.failed, 0);
    assert.ok(peak <= 10, `at most 10 devices updating at once (saw ${peak})`);
    assert.ok(peak >= 5, `batches ran in parallel (peak ${peak})`);
    for (const d of [...f.devices, ...late.devices]) assert.equal(d.model.runningVersion, NEW, `${d.serial} runs ${NEW}`);
    const nodes = (await client.list(EDGENODES, undefined, { labelSelector: 'group=a' })).items;
    for (const n of nodes) {
      assert.equal(n.status.eveVersion, NEW);
      assert.equal(n.status.partitions.find((p: any) => p.version === NEW).state, 'active', `${n.metadata.name} committed`);
    }
    assert.match(await env.ok(['get', 'baseosrollout', 'fleet-a']), /fleet-a\s+\S+\s+Completed\s+3\/3\s+51\s+0\s+0\s+51/);
    const events = await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=fleet-a']);
    for (const reason of ['Started', 'DevicesJoined', 'BatchStarted', 'BatchSucceeded', 'Completed']) assert.match(events, new RegExp(reason));
  } finally {
    clearInterval(watch);
  }
});

test('3 of the second batch fall back: the rollout halts after that batch naming them, the batch is re-pinned, later batches untouched', async () => {
  const NEW = '14.7.0-kvm-amd64';
  const failing = new Set([3, 6, 9]); // b-0003, b-0006, b-0009: all in batch 2 (b-0001..b-0010)
  const f = await fleetOf('b', 50, (i) => (failing.has(i) ? { failUpdate: (v) => v === NEW } : undefined));
  const sawUpdated = new Set<string>();
  const failedNames = [...failing].map((i) => `b-${String(i).padStart(4, '0')}`);
  const watch = setInterval(() => {
    void rollout('fleet-b').then(
      (r) => {
        if (!r.status) return;
        for (const n of names(r, 'updatedDevices')) sawUpdated.add(n);
        for (const d of r.status.devices ?? []) if (d.state === 'Updated') sawUpdated.add(d.name);
      },
      () => {},
    );
  }, 50);
  try {
    await create('fleet-b', {
      version: NEW,
      image: `lfedge/eve:${NEW}`,
      selector: { matchLabels: { group: 'b' } },
      batches: [{ size: 1 }, { size: 10 }],
      maxUnavailable: 10,
      healthWindowSeconds: 10,
    });
    const failed = await waitPhase('fleet-b', 'Failed', 180_000);
    clearInterval(watch);
    assert.equal(failed.status.batches[1].phase, 'Failed');
    assert.equal(failed.status.batches[2].phase, 'Pending');
    assert.equal(failed.status.failed, 3);
    const halted = failed.status.conditions.find((c: any) => c.type === 'Halted');
    assert.equal(halted.status, 'True');
    assert.equal(halted.reason, 'BatchFailed');
    for (const n of failedNames) {
      assert.match(halted.message, new RegExp(n), `the reason names ${n}`);
      assert.equal(dev(failed, n).state, 'FellBack');
      assert.match(dev(failed, n).message, /failed its test boot/, "EVE's error text");
      assert.ok(!sawUpdated.has(n), `${n} was never shown as updated`);
    }
    // The batch goes back to the previous version (committed ones are downgraded by EVE again).
    const batch2 = f.devices.slice(1, 11);
    await f.waitFor(
      () => batch2.every((d) => d.model.runningVersion === OLD && !['downloading', 'installing', 'rebooting', 'testing'].includes(d.model.baseos?.phase ?? '')),
      90_000,
      'batch 2 back on the old version',
    );
    for (const d of batch2) {
      const n = await client.get(EDGENODES, undefined, d.serial);
      assert.equal(n.spec.baseOS.version, OLD, `${d.serial} re-pinned`);
    }
    // The third batch never received the new image.
    for (const d of f.devices.slice(11)) {
      assert.equal(d.model.runningVersion, OLD);
      assert.ok(!d.model.partitions.some((p) => p.version === NEW), `${d.serial} never downloaded ${NEW}`);
      assert.equal((await client.get(EDGENODES, undefined, d.serial)).spec.baseOS.version, OLD);
    }
    assert.match(await env.ok(['get', 'baseosrollout', 'fleet-b']), /fleet-b\s+\S+\s+Failed\s+2\/3\s+\d+\s+0\s+3\s+50/);
  } finally {
    clearInterval(watch);
  }
});

test("an app that does not come back Ready after the reboot fails its device's health gate", async () => {
  const NEW = '14.8.0-kvm-amd64';
  const f = await fleetOf('c', 2, (i) => (i === 1 ? { appsFailOn: (v) => v === NEW } : undefined));
  for (const d of f.devices) {
    await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: app-${d.serial}, namespace: default}
spec: {nodeName: ${d.serial}, image: library/busybox:1.36}
`);
    await env.ok(['wait', '--for=condition=Ready', `appinstance/app-${d.serial}`, '-n', 'default', '--timeout=60s']);
  }
  await create('fleet-c', {
    version: NEW,
    image: `lfedge/eve:${NEW}`,
    selector: { matchLabels: { group: 'c' } },
    batches: [{ size: 1 }],
    maxUnavailable: 2,
    healthWindowSeconds: 4,
    failureBudget: 0,
  });
  const r = await waitPhase('fleet-c', 'Failed', 90_000);
  assert.equal(dev(r, 'c-0000').state, 'Updated');
  const bad = dev(r, 'c-0001');
  assert.equal(bad.state, 'Failed');
  assert.match(bad.message, /health gate: apps not Ready .*default\/app-c-0001/);
  assert.match(r.status.message, /c-0001/);
  assert.equal(r.status.batches[1].phase, 'Failed');
  assert.equal(r.status.updated, 1);
});

test('pre-stage: every device downloads and stays staged while the window is closed; opening the window activates', async () => {
  const NEW = '14.9.0-kvm-amd64';
  const f = await fleetOf('d', 4);
  const closedHour = (new Date().getUTCHours() + 12) % 24;
  await create('fleet-d', {
    version: NEW,
    image: `lfedge/eve:${NEW}`,
    selector: { matchLabels: { group: 'd' } },
    prestage: true,
    maxUnavailable: 4,
    maintenanceWindow: { schedule: `0 ${closedHour} * * *`, durationMinutes: 60, timeZone: 'UTC' },
  });
  const staged = await eventually(
    async () => {
      const r = await rollout('fleet-d');
      return r.status?.staged === 4 ? r : undefined;
    },
    60_000,
    'all staged',
  );
  assert.equal(staged.status.readyToActivate, '100%');
  assert.equal(staged.status.windowOpen, false);
  assert.equal(staged.status.updating, 0);
  for (const d of f.devices) {
    assert.equal(d.model.runningVersion, OLD, 'nothing activated');
    assert.equal(d.model.baseos?.phase, 'staged');
  }
  const n = await client.get(EDGENODES, undefined, 'd-0000');
  assert.equal(n.status.conditions.find((c: any) => c.type === 'BaseOSReady').reason, 'Staged');
  assert.match(await env.ok(['get', 'baseosrollout', 'fleet-d', '-o', 'wide']), /fleet-d\s+\S+\s+Progressing\s+1\/1\s+0\s+0\s+0\s+4\s+100%/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(
    f.devices.every((d) => d.model.runningVersion === OLD),
    'still nothing activated',
  );

  await setSpec('fleet-d', { maintenanceWindow: { schedule: '* * * * *', durationMinutes: 60, timeZone: 'Europe/Berlin' } });
  const done = await waitPhase('fleet-d', 'Completed', 90_000, f);
  assert.equal(done.status.updated, 4);
  for (const d of f.devices) assert.equal(d.model.runningVersion, NEW);
});

test('pause stops new activations while in-flight devices finish; resume continues; abort re-pins what is in flight and stops for good', async () => {
  const NEW = '14.10.0-kvm-amd64';
  const f = await fleetOf('e', 6);
  await create('fleet-e', { version: NEW, image: `lfedge/eve:${NEW}`, selector: { matchLabels: { group: 'e' } }, maxUnavailable: 1 });
  await eventually(async () => (await rollout('fleet-e')).status?.updating === 1, 30_000, 'first device in flight');
  await setSpec('fleet-e', { paused: true });
  const paused = await waitPhase('fleet-e', 'Paused', 30_000);
  assert.equal(paused.status.conditions.find((c: any) => c.type === 'Halted').reason, 'Paused');
  // The device in flight finishes; no other starts.
  await eventually(async () => (await rollout('fleet-e')).status?.updated === 1, 60_000, 'in-flight device finishes');
  await new Promise((r) => setTimeout(r, 2000));
  let r = await rollout('fleet-e');
  assert.equal(r.status.updated, 1);
  assert.equal(r.status.updating, 0, 'nothing new started while paused');
  assert.equal(f.devices.filter((d) => d.model.runningVersion === NEW).length, 1);

  await setSpec('fleet-e', { paused: false });
  await eventually(async () => (await rollout('fleet-e')).status?.updating === 1, 30_000, 'resumed: next device in flight');
  const inFlight = (await rollout('fleet-e')).status.devices.find((d: any) => d.activatedTime).name;
  await setSpec('fleet-e', { abort: true });
  r = await waitPhase('fleet-e', 'Aborted', 30_000);
  assert.ok(['RePinned', 'Updated'].includes(dev(r, inFlight).state), `in-flight device re-pinned (${dev(r, inFlight).state})`);
  const untouched = names(r, 'pendingDevices');
  assert.ok(untouched.length >= 3, 'devices not started stay untouched');
  await new Promise((res) => setTimeout(res, 2000));
  for (const name of untouched) {
    const n = await client.get(EDGENODES, undefined, name);
    assert.equal(n.spec.baseOS.version, OLD, `${name} never pinned to ${NEW}`);
    assert.equal(f.byserial(name)!.model.runningVersion, OLD);
  }
  assert.equal((await client.get(EDGENODES, undefined, inFlight)).spec.baseOS.version, OLD, 'the in-flight device is back on the old pin');
  assert.equal((await rollout('fleet-e')).status.phase, 'Aborted', 'abort is final');
});

test('a downgrade below the floor is refused unless forced; one device is driven by one rollout at a time', async () => {
  await create('floor', { version: '13.0.0', image: 'lfedge/eve:13.0.0', selector: { matchLabels: { group: 'a' } }, minVersion: '14.0.0' });
  const r = await waitPhase('floor', 'Rejected', 10_000);
  assert.equal(r.status.conditions.find((c: any) => c.type === 'Halted').reason, 'DowngradeRefused');
  assert.match(r.status.message, /below spec\.minVersion 14\.0\.0/);
  assert.equal((await client.get(EDGENODES, undefined, 'a-0000')).spec.baseOS.version, '14.6.0-kvm-amd64', 'nothing touched');
  // fleet-b is Failed (not running): its devices are free; fleet-e is Aborted. A running rollout's devices are skipped.
  await create('hold-d', { version: '14.9.0-kvm-amd64', image: 'lfedge/eve:14.9.0-kvm-amd64', selector: { matchLabels: { group: 'd' } }, paused: true });
  await eventually(async () => (await rollout('hold-d')).status?.total === 4, 10_000, 'hold-d lists its devices');
  await create('steal-d', { version: '14.9.0-kvm-amd64', image: 'lfedge/eve:14.9.0-kvm-amd64', selector: { matchLabels: { group: 'd' } } });
  const steal = await eventually(
    async () => {
      const x = await rollout('steal-d');
      return x.status?.phase ? x : undefined;
    },
    10_000,
    'steal-d status',
  );
  assert.equal(steal.status.total, 0, 'every device belongs to hold-d');
  assert.match(steal.status.message, /4 matching devices belong to other running rollouts: d-0000 \(rollout hold-d\)/);
});
