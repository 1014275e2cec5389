// The simulator's base OS pre-staging (activate=false) and the fault knobs rollouts use, at model
// level: download and stay staged, activate later; re-pinning to the running version cancels a
// download; apps that do not start on a given EVE version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceModel, type ModelKnobs } from '../../src/sim/model.ts';
import { BootReason, BaseOsStatus, ZSwState } from '../../src/eve/gen/info/info_pb.ts';
import { buildInfo } from '../../src/sim/report.ts';
import { baseConfig } from './helpers.ts';

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
const OLD = '14.5.1-kvm-amd64';
const NEW = '14.6.0-kvm-amd64';

const model = (knobs: ModelKnobs = {}, sim = { t: 0 }) => new DeviceModel(HW, OLD, knobs, 0, () => sim.t);
const config = (version: number, baseos: string | undefined, activate: boolean) => {
  const c = baseConfig(DEV, { version, ...(baseos ? { baseos: { version: baseos, image: `lfedge/eve:${baseos}` } } : {}) });
  if (c.baseos) c.baseos.activate = activate;
  return c;
};

test('activate=false downloads the image into the other partition and stays there; activate=true then installs and reboots', () => {
  const m = model();
  m.apply(config(1, NEW, false), DEV, 0);
  for (let i = 0; i < 50; i++) assert.equal(m.step(i).reboot, undefined, 'a staged image never reboots the device');
  assert.equal(m.baseos?.phase, 'staged');
  assert.equal(m.runningVersion, OLD);
  assert.equal(m.partitions[1].version, NEW);
  assert.equal(m.partitions[1].userStatus, BaseOsStatus.DOWNLOAD_DONE);
  assert.equal(m.partitions[1].partitionState, 'unused');
  assert.equal(m.appStates().nginx, 'RUNNING', 'apps keep running while the image downloads');
  const info = buildInfo(m, 'device', { devUuid: DEV, serial: 's', now: 1 })!;
  assert.ok(info.InfoContent.case === 'dinfo');
  if (info.InfoContent.case === 'dinfo') {
    const staged = info.InfoContent.value.swList.find((p) => p.shortVersion === NEW)!;
    assert.equal(staged.userStatus, BaseOsStatus.DOWNLOAD_DONE);
    assert.equal(staged.downloadProgress, 100);
    assert.equal(staged.activated, false);
  }

  m.apply(config(2, NEW, true), DEV, 100);
  let reboot: { reason: string; boot: BootReason } | undefined;
  for (let i = 0; i < 5 && !reboot; i++) reboot = m.step(200 + i).reboot;
  assert.equal(reboot?.boot, BootReason.UPDATE, 'activation installs the staged image at once, no new download');
  m.rebooted(reboot!.reason, reboot!.boot, 300);
  assert.equal(m.runningVersion, NEW);
  assert.equal(m.partitions[1].partitionState, 'inprogress');
});

test('asking for the running version again cancels a download in progress and ignores a failed update', () => {
  const m = model({ downloadSteps: 10 });
  m.apply(config(1, NEW, true), DEV, 0);
  m.step(0);
  m.step(1);
  assert.equal(m.baseos?.phase, 'downloading');
  m.apply(config(2, OLD, true), DEV, 2);
  assert.equal(m.baseos, undefined, 'the download is dropped');
  assert.equal(m.partitions[1].version, '');
  for (let i = 0; i < 30; i++) assert.equal(m.step(10 + i).reboot, undefined, 'no update to the running version');
  assert.equal(m.runningVersion, OLD);
});

test('appsFailOn: apps do not start on that EVE version and report why', () => {
  const sim = { t: 0 };
  const m = model({ appsFailOn: (v) => v === NEW }, sim);
  m.apply(config(1, NEW, true), DEV, 0);
  let reboot: { reason: string; boot: BootReason } | undefined;
  for (let i = 0; i < 60 && !reboot; i++) reboot = m.step(i).reboot;
  m.rebooted(reboot!.reason, reboot!.boot, 100);
  m.controllerContact(101);
  sim.t += 600_000;
  m.step(150);
  m.apply(config(2, NEW, true), DEV, 160); // the device fetches its config again after the reboot
  for (let i = 0; i < 20; i++) m.step(200 + i);
  assert.equal(m.runningVersion, NEW);
  assert.equal(m.partitions[m.current].partitionState, 'active', 'the OS itself commits');
  const app = [...m.apps.values()][0]!;
  assert.equal(app.state, ZSwState.ERROR);
  assert.match(app.errs[0]!.description, /did not start on EVE 14\.6\.0/);
});
