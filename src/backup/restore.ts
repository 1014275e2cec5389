// `kubeve restore` and `kubeve migrate --to-etcd`.
//
// Restore checks the whole archive first (archive.ts verifyArchive), then the target: no server
// may run on the data dir, and the data dir (and the etcd prefix) must be empty unless forced.
// Objects go to SQLite with their own revisions (SqliteStorage.restore: every resourceVersion
// kept) or to etcd in their revision order above the source's revisions (etcd-target.ts). The
// data dir's state is written through its owners' functions (data-dir.ts).
//
// Migrate reads a stopped server's SQLite store and data dir and writes the objects to etcd the
// same way; the data dir's credentials, EVE PKI and device registry stay where they are.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdStorageOptions } from '../apiserver/storage/etcd.ts';
import { SqliteStorage } from '../apiserver/storage/sqlite.ts';
import type { KeyValue } from '../apiserver/storage/types.ts';
import { readRecords, verifyArchive, type ArchiveHeader } from './archive.ts';
import { RefusedError } from './backup.ts';
import { clearDataDirState, dataDirEntries, DataDirWriter, OBJECT_DB } from './data-dir.ts';
import { EtcdTarget } from './etcd-target.ts';
import { serverAnswers } from './snapshot-socket.ts';
import { readStore } from './store-dump.ts';

export interface RestoreOptions {
  input: string;
  dataDir: string;
  /** Restore the objects into etcd (else into the data dir's SQLite database). */
  etcd?: EtcdStorageOptions;
  /** Replace what the target holds instead of refusing it. */
  force?: boolean;
}

export interface RestoreSummary {
  header: ArchiveHeader;
  objects: number;
  devices: number;
  /** The store's revision after the restore; on etcd, history up to compactedAt answers 410. */
  revision: number;
  compactedAt?: number;
}

export async function restoreBackup(o: RestoreOptions): Promise<RestoreSummary> {
  const { header } = await verifyArchive(o.input);
  await refuseRunningServer(o.dataDir, 'restoring');
  const etcd = o.etcd ? await EtcdTarget.connect(o.etcd) : undefined;
  try {
    const entries = dataDirEntries(o.dataDir);
    if (entries.length && !o.force) {
      throw new RefusedError(
        `data dir ${o.dataDir} is not empty (${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', ...' : ''}): restore into an empty directory, or give --force to replace its state`,
      );
    }
    const keys = etcd ? await etcd.keyCount() : 0;
    if (etcd && keys && !o.force) {
      throw new RefusedError(`etcd holds ${keys} keys under ${etcd.prefix}: restore into an empty prefix, or give --force to delete them first`);
    }
    if (o.force) {
      clearDataDirState(o.dataDir);
      await etcd?.clear();
    }
    mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });

    const items: KeyValue[] = [];
    const state = new DataDirWriter();
    for await (const r of readRecords(o.input)) {
      if (r.kind === 'object') items.push({ key: r.key, value: r.value, createRevision: r.createRevision, modRevision: r.modRevision });
      else state.add(r);
    }
    items.sort((a, b) => a.modRevision - b.modRevision);
    // Objects first: their checks are the strictest (the data dir's files are validated as written).
    let summary: RestoreSummary;
    if (etcd) {
      const { revision, compactedAt } = await etcd.load(items, header.source.revision);
      summary = { header, objects: items.length, devices: state.devices, revision, compactedAt };
    } else {
      SqliteStorage.restore(join(o.dataDir, OBJECT_DB), items, header.source.revision);
      summary = { header, objects: items.length, devices: state.devices, revision: header.source.revision };
    }
    state.write(o.dataDir);
    return summary;
  } finally {
    etcd?.close();
  }
}

export interface MigrateOptions {
  dataDir: string;
  etcd: EtcdStorageOptions;
  force?: boolean;
}

export async function migrateToEtcd(o: MigrateOptions): Promise<{ objects: number; sourceRevision: number; revision: number; compactedAt: number }> {
  await refuseRunningServer(o.dataDir, 'migrating');
  let storage: SqliteStorage;
  try {
    if (!dataDirEntries(o.dataDir).includes(OBJECT_DB)) throw new Error(`${o.dataDir} holds no ${OBJECT_DB}`);
    storage = SqliteStorage.open(join(o.dataDir, OBJECT_DB), { lockTimeoutMs: 1000 });
  } catch (e) {
    throw new RefusedError(`cannot open the SQLite store of ${o.dataDir}: ${(e as Error).message}`);
  }
  let store: { revision: number; items: KeyValue[] };
  try {
    store = await readStore(storage);
  } finally {
    await storage.close();
  }
  const etcd = await EtcdTarget.connect(o.etcd);
  try {
    const keys = await etcd.keyCount();
    if (keys && !o.force)
      throw new RefusedError(`etcd holds ${keys} keys under ${etcd.prefix}: migrate into an empty prefix, or give --force to delete them first`);
    if (keys) await etcd.clear();
    const { revision, compactedAt } = await etcd.load(store.items, store.revision);
    return { objects: store.items.length, sourceRevision: store.revision, revision, compactedAt };
  } finally {
    etcd.close();
  }
}

async function refuseRunningServer(dataDir: string, what: string): Promise<void> {
  if (await serverAnswers(dataDir)) throw new RefusedError(`a kubeve server is running on ${dataDir}: stop it before ${what}`);
}
