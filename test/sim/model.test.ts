// Unit level: the device model's state machines, timers and report encoding, no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { DeviceModel } from '../../src/sim/model.ts';
import { Backoff, SimClock } from '../../src/sim/clock.ts';
import { LatencyHistogram } from '../../src/sim/stats.ts';
import { buildInfo, buildMetrics, encodeInfo, logEntryJson } from '../../src/sim/report.ts';
import { ZInfoMsgSchema, ZSwState, BootReason, BaseOsStatus } from '../../src/eve/gen/info/info_pb.ts';
import { ZMetricMsgSchema } from '../../src/eve/gen/metrics/metrics_pb.ts';
import { parseNewlogs, buildNewlogs } from '../../src/eve/newlogs.ts';
import { baseConfig, uuidFor } from './helpers.ts';

const DEV = '6b3c9f2e-1d4a-4c8e-9a11-0f2b3c4d5e6f';
const HW = {
  manufacturer: 'QEMU',
  productName: 'pc',
  machineArch: 'x86_64',
  cpuArch: 'x86_64',
  platform: 'kvm',
  ncpu: 2,
  memoryMB: 4096,
  storageMB: 32768,
  ports: [{ ifname: 'eth0', mac: '02:42:00:00:00:01', ip: '172.16.0.2', subnet: '172.16.0.0/24', gateway: '172.16.0.1' }],
};

function model(knobs = {}, sim = { t: 0 }) {
  return { m: new DeviceModel(HW, '14.5.1-kvm-amd64', knobs, 0, () => sim.t), sim };
}

function runUntil(m: DeviceModel, pred: () => boolean, max = 100): string[] {
  const seen: string[] = [];
  for (const a of m.apps.values()) seen.push(ZSwState[a.state]!);
  for (let i = 0; i < max && !pred(); i++) {
    const r = m.step(i);
    if (r.reboot) throw new Error(`unexpected reboot ${r.reboot.reason}`);
    for (const a of m.apps.values()) if (seen.at(-1) !== ZSwState[a.state]) seen.push(ZSwState[a.state]!);
  }
  assert.ok(pred(), 'condition reached');
  return seen;
}

test('an app walks EVE states to RUNNING and gets an IP from its network instance', () => {
  const { m } = model();
  m.apply(baseConfig(DEV), DEV, 0);
  const seen = runUntil(m, () => m.appStates().nginx === 'RUNNING');
  // the app reports the state of what it waits for, in EVE's order
  const order = ['INITIAL', 'DOWNLOAD_STARTED', 'VERIFYING', 'LOADING', 'CREATING_VOLUME', 'INSTALLED', 'BOOTING', 'RUNNING'];
  const idx = order.map((s) => seen.indexOf(s));
  assert.ok(
    idx.every((v, i) => v >= 0 && (i === 0 || v > idx[i - 1]!)),
    seen.join(','),
  );
  const app = [...m.apps.values()][0]!;
  assert.equal(app.nets[0]!.ip, '10.50.0.2');
  const ni = [...m.nis.values()][0]!;
  assert.equal(ni.leases.get(app.nets[0]!.mac), '10.50.0.2');
  const info = fromBinary(ZInfoMsgSchema, encodeInfo(buildInfo(m, `app:${app.uuid}`, { devUuid: DEV, serial: 's', now: 1 })!));
  assert.equal(info.InfoContent.case, 'ainfo');
  if (info.InfoContent.case === 'ainfo') {
    assert.equal(info.InfoContent.value.state, ZSwState.RUNNING);
    assert.deepEqual(info.InfoContent.value.network[0]!.IPAddrs, ['10.50.0.2']);
    assert.deepEqual(info.InfoContent.value.network[0]!.defaultRouters, ['10.50.0.1']);
  }
  const niInfo = buildInfo(m, `ni:${ni.uuid}`, { devUuid: DEV, serial: 's', now: 1 })!;
  assert.equal(niInfo.InfoContent.case === 'niinfo' && niInfo.InfoContent.value.ipAssignments[0]!.ipAddress[0], '10.50.0.2');
});

test('a failing image puts the app in ERROR; the download retry recovers it once the image works', () => {
  let failing = true;
  const { m, sim } = model({ failImage: () => failing });
  m.apply(baseConfig(DEV), DEV, 0);
  runUntil(m, () => m.appStates().nginx === 'ERROR');
  const app = [...m.apps.values()][0]!;
  assert.match(app.errs[0]!.description, /download of library\/nginx:1.27 failed/);
  const ct = [...m.cts.values()][0]!;
  assert.equal(ct.state, ZSwState.ERROR);
  failing = false;
  sim.t += 600_000; // timer.download.retry
  runUntil(m, () => m.appStates().nginx === 'RUNNING');
  assert.equal(app.errs.length, 0);
});

test('removing an app sends an ID-only deletion info and frees its lease', () => {
  const { m } = model();
  m.apply(baseConfig(DEV), DEV, 0);
  runUntil(m, () => m.appStates().nginx === 'RUNNING');
  const app = [...m.apps.values()][0]!;
  m.apply(baseConfig(DEV, { version: 2, apps: [] }), DEV, 1);
  assert.ok(m.deleted.has(`app:${app.uuid}`));
  const del = buildInfo(m, `app:${app.uuid}`, { devUuid: DEV, serial: 's', now: 1 })!;
  assert.ok(
    del.InfoContent.case === 'ainfo' &&
      del.InfoContent.value.AppID === app.uuid &&
      del.InfoContent.value.state === ZSwState.INVALID &&
      del.InfoContent.value.AppName === '',
  );
  assert.equal([...m.nis.values()][0]!.leases.size, 0);
});

test('restart and purge counters, activate=false halts', () => {
  const { m } = model();
  m.apply(baseConfig(DEV, { apps: [{ name: 'a', restart: 0, purge: 0 }] }), DEV, 0);
  runUntil(m, () => m.appStates().a === 'RUNNING');
  m.apply(baseConfig(DEV, { version: 2, apps: [{ name: 'a', restart: 1, purge: 0 }] }), DEV, 1);
  const seen = runUntil(m, () => m.appStates().a === 'RUNNING' && ![...m.apps.values()][0]!.op);
  assert.ok(seen.includes('RESTARTING'), seen.join(','));
  m.apply(baseConfig(DEV, { version: 3, apps: [{ name: 'a', restart: 1, purge: 1 }] }), DEV, 2);
  const seen2 = runUntil(m, () => m.appStates().a === 'RUNNING' && ![...m.apps.values()][0]!.op);
  assert.ok(seen2.includes('PURGING') && seen2.includes('CREATING_VOLUME'), seen2.join(','));
  m.apply(baseConfig(DEV, { version: 4, apps: [{ name: 'a', restart: 1, purge: 1, activate: false }] }), DEV, 3);
  const seen3 = runUntil(m, () => m.appStates().a === 'HALTED');
  assert.ok(seen3.includes('HALTING'));
});

test('reboot counter: the first value is stored, a change reboots and skips the rest', () => {
  const { m } = model();
  assert.equal(m.apply(baseConfig(DEV, { reboot: 5 }), DEV, 0).reboot, undefined);
  assert.equal(m.rebootCounter, 5);
  const r = m.apply(baseConfig(DEV, { reboot: 6, version: 2, apps: [{ name: 'x' }] }), DEV, 1);
  assert.equal(r.reboot, true);
  assert.equal(m.apps.has(uuidFor(DEV, 'app', 'x')), false, 'rest of config skipped');
  m.rebooted('reboot.counter', BootReason.REBOOT_CMD, 2);
  assert.equal(m.restartCounter, 1);
  assert.equal(m.bootReason, BootReason.REBOOT_CMD);
});

test('config items are absolute; out-of-range values keep the previous value and report an error', () => {
  const { m } = model();
  let r = m.apply(baseConfig(DEV, { items: { 'timer.config.interval': '10' } }), DEV, 0);
  assert.deepEqual(r.timersChanged, ['timer.config.interval']);
  assert.equal(m.seconds('timer.config.interval'), 10_000);
  r = m.apply(baseConfig(DEV, { version: 2, items: { 'timer.config.interval': '1' } }), DEV, 1);
  assert.equal(m.seconds('timer.config.interval'), 10_000);
  assert.match(m.configItemErrors.get('timer.config.interval')!.error, /out of range/);
  m.apply(baseConfig(DEV, { version: 3 }), DEV, 2);
  assert.equal(m.seconds('timer.config.interval'), 60_000, 'missing key reverts to the default');
});

test('base OS update: A/B partitions, testing, commit', () => {
  const sim = { t: 0 };
  const { m } = model({}, sim);
  m.apply(baseConfig(DEV, { baseos: { version: '14.6.0-kvm-amd64', image: 'lfedge/eve:14.6.0-kvm-amd64' } }), DEV, 0);
  let reboot: { reason: string; boot: BootReason } | undefined;
  for (let i = 0; i < 50 && !reboot; i++) reboot = m.step(i).reboot;
  assert.equal(reboot?.boot, BootReason.UPDATE);
  assert.equal(m.partitions[1].version, '14.6.0-kvm-amd64');
  m.rebooted(reboot!.reason, reboot!.boot, 100);
  assert.equal(m.current, 1);
  assert.equal(m.partitions[1].partitionState, 'inprogress');
  m.controllerContact(101);
  sim.t += 600_000; // timer.test.baseimage.update
  m.step(102);
  assert.equal(m.partitions[1].partitionState, 'active');
  assert.equal(m.partitions[0].partitionState, 'unused');
  assert.equal(m.partitions[1].userStatus, BaseOsStatus.UPDATED);
  assert.equal(m.runningVersion, '14.6.0-kvm-amd64');
  assert.equal(m.baseosUpdateCounter, 1);
  const info = buildInfo(m, 'device', { devUuid: DEV, serial: 's', now: 1 })!;
  assert.ok(info.InfoContent.case === 'dinfo');
  if (info.InfoContent.case === 'dinfo') {
    const sw = info.InfoContent.value.swList;
    assert.deepEqual(
      sw.map((p) => [p.partitionLabel, p.partitionState, p.activated, p.shortVersion]),
      [
        ['IMGA', 'unused', false, '14.5.1-kvm-amd64'],
        ['IMGB', 'active', true, '14.6.0-kvm-amd64'],
      ],
    );
    assert.equal(info.InfoContent.value.lastBootReason, BootReason.UPDATE);
  }
});

test('base OS update: a failing image falls back to the old partition', () => {
  const { m } = model({ failUpdate: (v: string) => v.startsWith('14.6') });
  m.apply(baseConfig(DEV, { baseos: { version: '14.6.0-kvm-amd64', image: 'lfedge/eve:14.6.0' } }), DEV, 0);
  let reboot: { reason: string; boot: BootReason } | undefined;
  for (let i = 0; i < 50 && !reboot; i++) reboot = m.step(i).reboot;
  m.rebooted(reboot!.reason, reboot!.boot, 100);
  const fb = m.step(101).reboot;
  assert.equal(fb?.boot, BootReason.FALLBACK);
  m.rebooted(fb!.reason, fb!.boot, 102);
  assert.equal(m.current, 0);
  assert.equal(m.runningVersion, '14.5.1-kvm-amd64');
  assert.equal(m.partitions[1].userStatus, BaseOsStatus.FALLBACK);
  assert.match(m.partitions[1].err!.description, /failed its test boot/);
  // the same version is not retried without a retry_update change
  m.apply(baseConfig(DEV, { version: 2, baseos: { version: '14.6.0-kvm-amd64', image: 'lfedge/eve:14.6.0' } }), DEV, 103);
  assert.equal(m.baseos?.phase, 'failed');
});

test('base OS update without controller contact falls back after timer.update.fallback.no.network', () => {
  const sim = { t: 0 };
  const { m } = model({}, sim);
  m.apply(baseConfig(DEV, { baseos: { version: '14.6.0-kvm-amd64', image: 'lfedge/eve:14.6.0' } }), DEV, 0);
  let reboot: { reason: string; boot: BootReason } | undefined;
  for (let i = 0; i < 50 && !reboot; i++) reboot = m.step(i).reboot;
  m.rebooted(reboot!.reason, reboot!.boot, 100);
  assert.equal(m.step(101).reboot, undefined);
  sim.t += 300_001;
  assert.equal(m.step(102).reboot?.boot, BootReason.FALLBACK);
});

test('metrics and logs encode like EVE', () => {
  const { m } = model();
  m.apply(baseConfig(DEV), DEV, 0);
  runUntil(m, () => m.appStates().nginx === 'RUNNING');
  const bytes = buildMetrics(
    m,
    { devUuid: DEV, serial: 's', now: Date.now() },
    { bootedAt: 0, ticks: 0, success: 3, failures: 1, authVerifyFailure: 0, urls: new Map() },
  );
  const msg = fromBinary(ZMetricMsgSchema, bytes);
  assert.equal(msg.devID, DEV);
  assert.equal(msg.am.length, 1);
  assert.equal(msg.nm.length, 1);
  assert.ok(msg.MetricContent.case === 'dm' && msg.MetricContent.value.zedcloud[0]!.success === 3n);
  assert.ok(toBinary(ZMetricMsgSchema, msg).length > 100);
  const entries = m.logs.map((l, i) => logEntryJson(l, i + 1));
  const gz = buildNewlogs(entries, { comment: JSON.stringify({ devID: DEV, image: 'IMGA', eveVersion: '14.5.1-kvm-amd64' }) });
  assert.equal(zlib.gunzipSync(gz).toString().split('\n').filter(Boolean).length, entries.length);
  const parsed = parseNewlogs(gz);
  assert.equal(parsed.entries.length, entries.length);
  assert.equal(parsed.bundle?.devID, DEV);
});

test('clock, backoff and latency histogram', async () => {
  const b = new Backoff(1000, 600_000);
  const seq = Array.from({ length: 12 }, () => b.next());
  assert.deepEqual(seq.slice(0, 4), [1000, 2000, 4000, 8000]);
  assert.equal(seq.at(-1), 600_000);
  const clock = new SimClock({ timeScale: 1000, random: () => 0.5 });
  assert.ok(Math.abs(clock.jitter(60_000, 0.3, 1.0) - 39_000) < 1e-6);
  const t0 = Date.now();
  await clock.sleep(60_000); // one simulated minute = 60 real ms
  assert.ok(Date.now() - t0 < 1000);
  assert.ok(clock.simNow() - Date.now() > 50_000);
  clock.stop();
  const h = new LatencyHistogram();
  for (let i = 1; i <= 1000; i++) h.record(i);
  assert.ok(Math.abs(h.quantile(0.5) - 500) / 500 < 0.03, String(h.quantile(0.5)));
  assert.ok(Math.abs(h.quantile(0.99) - 990) / 990 < 0.03, String(h.quantile(0.99)));
});
