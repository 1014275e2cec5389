// `npm run bench:backup [-- N]`: what `kubeve backup`, `kubeve restore` and `kubeve migrate` cost
// with N objects (default 10,000) of ~1 KiB.
//
// - backup of a "running server": a SqliteStorage serving snapshots on its socket (as
//   startApiServer does) while a writer keeps creating keys; reports the backup's duration and the
//   writer's rate during it beside its rate alone (the online backup runs on the server's thread);
// - restore into SQLite (rows written with their own revisions) and into etcd (one transaction per
//   object, in revision order), and raising etcd's revision (the bump before a restore/migrate).

import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../src/apiserver/storage/sqlite.ts';
import { createBackup } from '../src/backup/backup.ts';
import { restoreBackup } from '../src/backup/restore.ts';
import { EtcdTarget } from '../src/backup/etcd-target.ts';
import { serveSnapshots } from '../src/backup/snapshot-socket.ts';
import { startEtcd } from '../test/helpers/etcd.ts';

const N = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'kubeve-bench-backup-'));
const value = (i: number) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${i}`, namespace: 'default', uid: crypto.randomUUID() },
    data: { blob: 'x'.repeat(900) },
  });
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function writeRate(storage: SqliteStorage, until: () => boolean, from: number): Promise<{ writes: number; ms: number }> {
  const start = performance.now();
  let i = from;
  while (!until()) {
    await storage.create(`/registry/core/configmaps/load/w-${i++}`, value(i));
    // A server's writes arrive as requests, between which the event loop turns (and the backup steps).
    await new Promise((r) => setImmediate(r));
  }
  return { writes: i - from, ms: performance.now() - start };
}

try {
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const storage = SqliteStorage.open(join(dataDir, 'kubeve.db'));
  for (let i = 0; i < N; i++) await storage.create(`/registry/core/configmaps/default/cm-${String(i).padStart(6, '0')}`, value(i));
  const socket = await serveSnapshots(dataDir, storage);

  // A backup with nothing else going on.
  let t0 = performance.now();
  await createBackup({ dataDir, out: join(dir, 'idle.kbk') });
  const idleMs = performance.now() - t0;

  // The writer's rate alone (after a warm-up; before and after the backup), and during a backup.
  const writeFor = async (ms: number, from: number) => {
    const start = performance.now();
    return writeRate(storage, () => performance.now() - start > ms, from);
  };
  await writeFor(1000, 0);
  const alone1 = await writeFor(2000, 100_000);
  let done = false;
  const archive = join(dir, 'backup.kbk');
  t0 = performance.now();
  const backup = createBackup({ dataDir, out: archive }).then((s) => {
    done = true;
    return s;
  });
  const during = await writeRate(storage, () => done, 1_000_000);
  const summary = await backup;
  const backupMs = performance.now() - t0;
  const alone2 = await writeFor(2000, 2_000_000);
  const alone = { writes: alone1.writes + alone2.writes, ms: alone1.ms + alone2.ms };
  await socket?.close();
  await storage.close();

  const restoreDir = join(dir, 'restored');
  t0 = performance.now();
  await restoreBackup({ input: archive, dataDir: restoreDir });
  const sqliteRestoreMs = performance.now() - t0;

  const etcd = await startEtcd(1);
  let etcdRestoreMs = 0;
  let bumpRate = 0;
  try {
    t0 = performance.now();
    const r = await restoreBackup({ input: archive, dataDir: join(dir, 'restored-etcd'), etcd: { endpoints: etcd.endpoints, prefix: '/bench' } });
    etcdRestoreMs = performance.now() - t0;
    // The bump alone: raise the revision by 20,000 with nothing to write.
    const target = await EtcdTarget.connect({ endpoints: etcd.endpoints, prefix: '/bump' });
    t0 = performance.now();
    await target.load([], r.revision + 20_000);
    bumpRate = 20_000 / ((performance.now() - t0) / 1000);
    target.close();
  } finally {
    await etcd.stop();
  }

  console.log(`objects: ${fmt(summary.objects)} (~1 KiB each), archive ${fmt(statSync(archive).size / 1024)} KiB`);
  console.log(`backup of an idle SqliteStorage (${fmt(N)} objects): ${fmt(idleMs)} ms (${fmt(N / (idleMs / 1000))} objects/s)`);
  console.log(
    `backup of a running SqliteStorage (online backup API over the snapshot socket + archive): ${fmt(backupMs)} ms (${fmt(summary.objects / (backupMs / 1000))} objects/s)`,
  );
  console.log(
    `writer alone (before and after): ${fmt(alone.writes / (alone.ms / 1000))} creates/s; during the backup: ${fmt(during.writes / (during.ms / 1000))} creates/s (${during.writes} writes, ratio ${(during.writes / during.ms / (alone.writes / alone.ms)).toFixed(2)})`,
  );
  console.log(`restore into SQLite (revisions kept): ${fmt(sqliteRestoreMs)} ms (${fmt(summary.objects / (sqliteRestoreMs / 1000))} objects/s)`);
  console.log(
    `restore into etcd (one txn per object, in revision order, after the revision bump): ${fmt(etcdRestoreMs)} ms (${fmt(summary.objects / (etcdRestoreMs / 1000))} objects/s)`,
  );
  console.log(`etcd revision bump: ${fmt(bumpRate)} revisions/s (64 puts in flight)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
