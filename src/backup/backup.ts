// `kubeve backup`: one archive (archive.ts) of a kubeve installation, taken while it runs.
//
// Objects: on SQLite, the running server writes a consistent copy of its database (SQLite's online
// backup API, through snapshot-socket.ts), which is then read through the storage contract; with
// the server stopped, the database is read directly. On etcd, a range read of the prefix at one
// revision (store-dump.ts): an MVCC snapshot, as consistent as etcd's own, but of this
// installation's keys only and loadable into either engine (etcd's own whole-cluster snapshot,
// which only `etcdutl snapshot restore` can load into a new cluster, is saved too on request).
// Then the data dir's state
// (data-dir.ts): credentials, EVE PKI, device registry and served configs.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdStorage, type EtcdStorageOptions } from '../apiserver/storage/etcd.ts';
import { SqliteStorage } from '../apiserver/storage/sqlite.ts';
import type { KeyValue } from '../apiserver/storage/types.ts';
import { versionInfo } from '../observability/version.ts';
import { ARCHIVE_FORMAT, ARCHIVE_VERSION, writeArchive, type ArchiveHeader, type ArchiveRecord } from './archive.ts';
import { dataDirRecords, OBJECT_DB } from './data-dir.ts';
import { requestSnapshot } from './snapshot-socket.ts';
import { EtcdTarget } from './etcd-target.ts';
import { readStore } from './store-dump.ts';

export interface BackupOptions {
  dataDir: string;
  /** The object store is on etcd (else the data dir's SQLite database). */
  etcd?: EtcdStorageOptions;
  out: string;
  /** Also save etcd's own whole-cluster snapshot here (with etcd). */
  etcdSnapshot?: string;
}

export interface BackupSummary {
  engine: 'sqlite' | 'etcd';
  revision: number;
  objects: number;
  devices: number;
  /** How the SQLite objects were read: from the running server's snapshot or the file itself. */
  via?: 'running server' | 'database file';
  /** Size of etcd's own snapshot, when one was asked for. */
  etcdSnapshotBytes?: number;
}

/** The refusal of an operation on the grounds of its target or input; the CLI exits 2. */
export class RefusedError extends Error {}

export async function createBackup(o: BackupOptions): Promise<BackupSummary> {
  if (!existsSync(o.dataDir)) throw new RefusedError(`data dir ${o.dataDir} does not exist`);
  if (o.etcdSnapshot && !o.etcd) throw new RefusedError('--etcd-snapshot needs --etcd');
  const store = o.etcd ? await readEtcd(o.etcd) : await readSqlite(o.dataDir);
  // After the objects: a device the objects know of is then in the registry as well.
  const state = dataDirRecords(o.dataDir);
  const header: ArchiveHeader = {
    kind: 'header',
    format: ARCHIVE_FORMAT,
    version: ARCHIVE_VERSION,
    createdAt: new Date().toISOString(),
    source: { engine: o.etcd ? 'etcd' : 'sqlite', revision: store.revision, kubeveVersion: versionInfo().gitVersion },
  };
  function* records(): Generator<ArchiveRecord> {
    for (const kv of store.items) yield { kind: 'object', key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision };
    yield* state;
  }
  await writeArchive(o.out, header, records());
  let etcdSnapshotBytes: number | undefined;
  if (o.etcd && o.etcdSnapshot) {
    const etcd = await EtcdTarget.connect(o.etcd);
    try {
      etcdSnapshotBytes = await etcd.snapshotTo(o.etcdSnapshot);
    } finally {
      etcd.close();
    }
  }
  return {
    etcdSnapshotBytes,
    engine: header.source.engine,
    revision: store.revision,
    objects: store.items.length,
    devices: state.filter((r) => r.kind === 'device' && r.deleted_at === null).length,
    via: store.via,
  };
}

async function readEtcd(opts: EtcdStorageOptions): Promise<{ revision: number; items: KeyValue[]; via?: undefined }> {
  const storage = await EtcdStorage.open(opts);
  try {
    return await readStore(storage);
  } finally {
    await storage.close();
  }
}

async function readSqlite(dataDir: string): Promise<{ revision: number; items: KeyValue[]; via: 'running server' | 'database file' }> {
  const tmp = mkdtempSync(join(tmpdir(), 'kubeve-backup-'));
  try {
    const copy = join(tmp, OBJECT_DB);
    const fromServer = await requestSnapshot(dataDir, copy);
    const file = fromServer ? copy : join(dataDir, OBJECT_DB);
    if (!existsSync(file)) throw new RefusedError(`${dataDir} holds no object store (${OBJECT_DB}); for a server on etcd, give --etcd`);
    let storage: SqliteStorage;
    try {
      storage = SqliteStorage.open(file, { lockTimeoutMs: 1000 });
    } catch (e) {
      throw new Error(`cannot read ${file}: ${(e as Error).message}${fromServer ? '' : ' (a server holds it but does not answer on its snapshot socket)'}`);
    }
    try {
      return { ...(await readStore(storage)), via: fromServer ? 'running server' : 'database file' };
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
