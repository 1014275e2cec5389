// The scenario both engines go through: a populated server with devices, a backup taken by the
// real CLI while writes go on, the data wiped, a restore by the CLI, the server started again.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { SimFleet } from '../../src/sim/fleet.ts';
import { deviceState, eventually, identities, kubeve, workloadYaml, type ObjectIdentity, type Site } from './helpers.ts';

export const RESOURCES =
  'namespaces,configmaps,serviceaccounts,clusterroles,clusterrolebindings,customresourcedefinitions,edgenodes,appinstances,networkinstances,onboardingkeys';

/** Devices onboarded and configured (one runs an app), and 20 ConfigMaps. */
export async function populate(site: Site, serialPrefix: string): Promise<SimFleet> {
  const fleet = await site.fleet(3, serialPrefix);
  await site.ok(['apply', '-f', '-'], workloadYaml(site, `${serialPrefix}0000`));
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 3, 90_000, '3 configured devices');
  await site.ok(['wait', '--for=condition=Ready', 'appinstance/sensor', '-n', 'default', '--timeout=90s']);
  // A second config version for the app's device: a restore must keep serving version 2 (the
  // served-config state), not render a fresh version 1 whose hash the device has never seen.
  const appDevice = fleet.devices[0];
  const v1 = appDevice.prevConfigHash;
  await site.ok(['patch', 'appinstance', 'sensor', '-n', 'default', '--type', 'merge', '-p', '{"spec":{"image":"library/busybox:1.37"}}']);
  await eventually(() => appDevice.prevConfigHash !== v1, 60_000, "the app's device to apply config version 2");
  for (let i = 0; i < 20; i++) await site.createConfigMap('default', `before-${i}`);
  // The app's config has reached its device: what is served now is what must be served after.
  await eventually(() => fleet.devices.every((d) => d.counters.configUnchanged > 0 && d.phase === 'configured'), 30_000, 'devices polling with 304');
  return fleet;
}

export interface BackupUnderLoad {
  /** Objects as kubectl listed them before the backup started. */
  before: Map<string, ObjectIdentity>;
  /** ConfigMaps load-0..load-(ackedBefore-1) were acknowledged before the backup started. */
  ackedBefore: number;
  ackedTotal: number;
  stdout: string;
}

/** Runs `kubeve backup` while ConfigMaps load-0, load-1, ... are being created one after another. */
export async function backupUnderLoad(site: Site, archive: string, extraArgs: string[]): Promise<BackupUnderLoad> {
  let stop = false;
  let acked = 0;
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      await site.createConfigMap('default', `load-${i}`);
      acked = i + 1;
    }
  })();
  await eventually(() => acked >= 10, 30_000, 'write load');
  const before = await identities(site, RESOURCES);
  const ackedBefore = acked;
  const r = await kubeve(['backup', '--data-dir', site.dataDir, '-o', archive, ...extraArgs]);
  const ackedDuring = acked;
  stop = true;
  await load;
  assert.equal(r.code, 0, `kubeve backup failed:\n${r.stderr}\n${r.stdout}`);
  assert.ok(ackedDuring > ackedBefore, `writes went on during the backup (${ackedBefore} → ${ackedDuring})`);
  return { before, ackedBefore, ackedTotal: acked, stdout: r.stdout };
}

/** Stops the server, removes its data dir (the caller wipes etcd), restores, starts it again; returns the restore's output. */
export async function wipeAndRestore(site: Site, archive: string, extraArgs: string[], wipeStore?: () => Promise<void>): Promise<string> {
  await site.stop();
  rmSync(site.dataDir, { recursive: true, force: true });
  await wipeStore?.();
  const r = await kubeve(['restore', '-i', archive, '--data-dir', site.dataDir, ...extraArgs]);
  assert.equal(r.code, 0, `kubeve restore failed:\n${r.stderr}\n${r.stdout}`);
  await site.start();
  return r.stdout;
}

/**
 * After a restore or migration: every device keeps its UUID and config hash, never registers
 * again, is never sent a new config, and its polls are answered 304 by the new server.
 */
export async function assertDevicesCarryOn(fleet: SimFleet, before: ReturnType<typeof deviceState>[]): Promise<void> {
  const unchangedAt = fleet.devices.map((d) => d.counters.configUnchanged);
  await eventually(
    () => fleet.devices.every((d, i) => d.counters.configUnchanged >= unchangedAt[i] + 3),
    60_000,
    'three 304 answers per device from the restored server',
  );
  assert.deepEqual(fleet.devices.map(deviceState), before, 'devices: same UUID, same config hash, no new registration, no new config');
}

/** Restored ConfigMaps load-*: all acknowledged before the backup, and a gap-free prefix of the sequence (one consistent snapshot). */
export function assertLoadPrefix(after: Map<string, ObjectIdentity>, b: BackupUnderLoad): number {
  const restored = [...after.keys()]
    .filter((k) => k.startsWith('ConfigMap/default/load-'))
    .map((k) => Number(k.slice('ConfigMap/default/load-'.length)))
    .sort((x, y) => x - y);
  assert.ok(restored.length >= b.ackedBefore, `every write acknowledged before the backup is restored (${restored.length} < ${b.ackedBefore})`);
  assert.deepEqual(
    restored,
    restored.map((_, i) => i),
    'restored writes are a prefix of the sequence: no write is missing between restored ones',
  );
  assert.ok(restored.length <= b.ackedTotal);
  return restored.length;
}

/** Every object listed before the backup is back with its UID and creationTimestamp. */
export function assertSameIdentities(before: Map<string, ObjectIdentity>, after: Map<string, ObjectIdentity>): void {
  for (const [key, id] of before) {
    const got = after.get(key);
    assert.ok(got, `${key} is restored`);
    assert.equal(got.uid, id.uid, `${key}: same UID`);
    assert.equal(got.creationTimestamp, id.creationTimestamp, `${key}: same creationTimestamp`);
  }
}
