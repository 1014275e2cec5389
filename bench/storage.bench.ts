// Storage benchmarks: what raw better-sqlite3 commits per second on this machine, and what
// SqliteStorage achieves on top of it in the same run (so the ratio is the layer's overhead).
// Run: node --import tsx bench/storage.bench.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteStorage } from '../src/apiserver/storage/sqlite.ts';

export type SyncMode = 'NORMAL' | 'FULL';

/** A ~1 KB object, the size of a small Kubernetes resource. */
export function sampleValue(i: number): string {
  return JSON.stringify({
    apiVersion: 'eve.kubeve.io/v1alpha1',
    kind: 'EdgeNode',
    metadata: { name: `node-${i}`, namespace: 'fleet', labels: { site: `site-${i % 50}`, model: 'supermicro-e100' } },
    spec: { project: 'default', config: 'x'.repeat(700) },
  });
}

function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-bench-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * Raw better-sqlite3: n single-row INSERTs, each its own commit, into the same table, index and
 * pragmas SqliteStorage uses (WAL, exclusive lock, the given synchronous mode).
 */
export function rawSqliteCommitsPerSecond(n: number, synchronous: SyncMode = 'NORMAL'): number {
  const { dir, remove } = tempDir();
  try {
    const db = new Database(join(dir, 'raw.db'));
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.exec(`CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, created INTEGER NOT NULL,
      deleted INTEGER NOT NULL, create_revision INTEGER NOT NULL, prev_revision INTEGER NOT NULL, value TEXT NOT NULL);
      CREATE UNIQUE INDEX kine_name_prev_revision_uindex ON kine (name, prev_revision);
      CREATE INDEX kine_tombstone_index ON kine (name) WHERE deleted = 1;`);
    const insert = db.prepare('INSERT INTO kine (name, created, deleted, create_revision, prev_revision, value) VALUES (?, 1, 0, 0, 0, ?)');
    const values = Array.from({ length: n }, (_, i) => sampleValue(i));
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) insert.run(`/registry/eve.kubeve.io/edgenodes/fleet/node-${i}`, values[i]);
    const rate = n / seconds(start);
    db.close();
    return rate;
  } finally {
    remove();
  }
}

/** SqliteStorage: n creates, then one update of each key; each write is one commit. */
export async function sqliteStorageWritesPerSecond(n: number, synchronous: SyncMode = 'NORMAL'): Promise<{ create: number; update: number }> {
  const { dir, remove } = tempDir();
  try {
    const s = SqliteStorage.open(join(dir, 'storage.db'), { synchronous });
    const values = Array.from({ length: n }, (_, i) => sampleValue(i));
    const revs: number[] = [];
    let start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) revs.push(await s.create(`/registry/eve.kubeve.io/edgenodes/fleet/node-${i}`, values[i]));
    const create = n / seconds(start);
    start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await s.update(`/registry/eve.kubeve.io/edgenodes/fleet/node-${i}`, values[i], revs[i]);
    const update = n / seconds(start);
    await s.close();
    return { create, update };
  } finally {
    remove();
  }
}

/**
 * Median latency of listing `keys` keys (among as many keys of another resource): at the current
 * revision (in-memory index), at an older revision (SQL), and one 500-item page of each.
 */
export async function listLatencyMs(keys: number): Promise<{ current: number; snapshot: number; currentPage: number; snapshotPage: number }> {
  const { dir, remove } = tempDir();
  try {
    const s = SqliteStorage.open(join(dir, 'list.db'));
    for (let i = 0; i < keys; i++) {
      await s.create(`/registry/eve.kubeve.io/edgenodes/fleet/node-${String(i).padStart(6, '0')}`, sampleValue(i));
      await s.create(`/registry/eve.kubeve.io/apps/fleet/app-${String(i).padStart(6, '0')}`, sampleValue(i));
    }
    const snapshot = await s.currentRevision();
    await s.create('/registry/unrelated', 'moves the current revision on');
    const prefix = '/registry/eve.kubeve.io/edgenodes/';
    const time = async (opts: { revision?: number; limit?: number }, expect: number) => {
      const ms: number[] = [];
      for (let r = 0; r < 21; r++) {
        const start = process.hrtime.bigint();
        const res = await s.list(prefix, opts);
        ms.push(seconds(start) * 1000);
        if (res.items.length !== expect) throw new Error(`listed ${res.items.length}, expected ${expect}`);
      }
      return ms.sort((a, b) => a - b)[10]; // median
    };
    const out = {
      current: await time({}, keys),
      snapshot: await time({ revision: snapshot }, keys),
      currentPage: await time({ limit: 500 }, Math.min(500, keys)),
      snapshotPage: await time({ revision: snapshot, limit: 500 }, Math.min(500, keys)),
    };
    await s.close();
    return out;
  } finally {
    remove();
  }
}

async function main(): Promise<void> {
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  for (const [mode, n] of [
    ['NORMAL', 20_000],
    ['FULL', 3_000],
  ] as const) {
    // Alternate the two so that disk and CPU noise (shared machines) hits both alike.
    const raw: number[] = [];
    const create: number[] = [];
    const update: number[] = [];
    for (let round = 0; round < 3; round++) {
      raw.push(rawSqliteCommitsPerSecond(n, mode));
      const st = await sqliteStorageWritesPerSecond(n, mode);
      create.push(st.create);
      update.push(st.update);
    }
    const r = median(raw);
    console.log(
      `synchronous=${mode} (median of 3 x ${fmt(n)}): raw INSERT ${fmt(r)} commits/s; SqliteStorage create ${fmt(median(create))}/s ` +
        `(${(median(create) / r).toFixed(2)}x raw), update ${fmt(median(update))}/s (${(median(update) / r).toFixed(2)}x raw)`,
    );
  }
  const l = await listLatencyMs(10_000);
  console.log(
    `list 10,000 keys (median of 21): current revision ${l.current.toFixed(2)} ms, older revision (SQL) ${l.snapshot.toFixed(2)} ms; ` +
      `500-key page: ${l.currentPage.toFixed(2)} ms / ${l.snapshotPage.toFixed(2)} ms`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
