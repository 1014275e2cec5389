// Storage on embedded SQLite, kine-style: one insert-only log table whose AUTOINCREMENT id is the
// revision. Creates, updates and deletes are all INSERTs; a key's current state is its row with
// the highest id, unless that row is a tombstone. History (old revisions, watch resume) is the
// table itself until compact() prunes it.
//
// This process must be the table's only writer: the current state of every key is mirrored in
// memory (gets and lists at the current revision never touch SQL; see bench/storage.bench.ts),
// and the database is opened with an exclusive lock so that a second process cannot open it.
//
// Durability: WAL with synchronous=NORMAL (default) makes a write durable against a crash of
// this process (kill -9 included) once the INSERT returns: the commit is in the WAL file, in the
// OS page cache. A power loss or kernel crash can lose the last commits (never corrupt the file);
// synchronous=FULL fsyncs the WAL on every commit to survive that too, at ~1/4 of the write rate.

import Database from 'better-sqlite3';
import { compareKeys, prefixEnd, SortedKeys } from './sorted-keys.ts';
import {
  CompactedError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionConflictError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Storage,
  type StorageEvent,
  type Watcher,
} from './types.ts';
import { WatchCache, type WatchCacheOptions } from './watch-cache.ts';

export interface SqliteStorageOptions {
  /** 'NORMAL' (default): survives process crashes. 'FULL': also survives power loss; slower. */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long open() waits for another process to release the database (default 5000 ms). */
  lockTimeoutMs?: number;
  /** Sizing of the in-memory event ring that serves watches. */
  watchCache?: Pick<WatchCacheOptions, 'maxEvents' | 'retentionMs' | 'onError'>;
}

// One real index. Besides guarding optimistic concurrency (two writes based on the same row
// cannot both commit), (name, prev_revision) lists every row of a name in id order, because a
// row's prev_revision is the id of the row it replaced; and each index entry carries the rowid.
// So it also serves range reads at a revision, history by prefix and the successor lookup.
// kine's other four indexes would cost write rate for queries we do not run (measured with
// 1 KB values: 1 index 23k commits/s, 2 indexes 17k, kine's 5 indexes 10.5k). The partial index
// of tombstones is written by deletes only; it lets COUNT_AT skip reading every row (10x).
//
// Values are stored once: an update's previous value and a tombstone's last value are read from
// the row named by prev_revision, which compaction keeps as long as the row naming it survives
// above the compacted revision (kine's old_value column would double the bytes per update).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS kine (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  value TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex ON kine (name, prev_revision);
CREATE INDEX IF NOT EXISTS kine_tombstone_index ON kine (name) WHERE deleted = 1;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`;

// Upper bound for an unbounded name range: SQLite sorts every TEXT value before any BLOB.
const NO_END = Buffer.alloc(0);
const HISTORY_BATCH = 1000;
// Revisions per compaction transaction (kine's figure): writes wait for at most one batch.
const COMPACT_BATCH = 1000;
const LONE_SURROGATE = /\p{Cs}/u;

interface LatestRow {
  id: number;
  name: string;
  deleted: number;
  create_revision: number;
  value: string;
}

interface HistoryRow {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  value: string;
  prev_value: string | null;
}

// The row of a name that is current at @rev: id <= @rev and no successor (the row whose
// prev_revision is this id) at or below @rev. Scans the index in name order, so LIMIT stops early.
const LIST_AT = `
SELECT k.id, k.name, k.deleted, k.create_revision, k.value FROM kine k
WHERE k.name >= @start AND k.name < @end AND k.id <= @rev AND k.deleted = 0
  AND NOT EXISTS (SELECT 1 FROM kine n WHERE n.name = k.name AND n.prev_revision = k.id AND n.id <= @rev)
ORDER BY k.name LIMIT @limit`;

// Same set, counted from indexes alone: names with a row at or below @rev, minus those whose
// current row at @rev is a tombstone.
const COUNT_AT = `
SELECT (SELECT COUNT(DISTINCT name) FROM kine WHERE name >= @start AND name < @end AND id <= @rev)
     - (SELECT COUNT(*) FROM kine k WHERE k.deleted = 1 AND k.name >= @start AND k.name < @end AND k.id <= @rev
        AND NOT EXISTS (SELECT 1 FROM kine n WHERE n.name = k.name AND n.prev_revision = k.id AND n.id <= @rev))`;

const LATEST = `
SELECT k.id, k.name, k.deleted, k.create_revision, k.value FROM kine k
WHERE NOT EXISTS (SELECT 1 FROM kine n WHERE n.name = k.name AND n.prev_revision = k.id)
ORDER BY k.name`;

const HISTORY = `
SELECT k.id, k.name, k.created, k.deleted, k.create_revision, k.value, p.value AS prev_value
FROM kine k LEFT JOIN kine p ON p.id = k.prev_revision AND k.created = 0
WHERE k.id > @after AND k.id <= @to AND k.name >= @start AND k.name < @end
ORDER BY k.id LIMIT @limit`;

export class SqliteStorage implements Storage {
  private readonly insertRow: Database.Statement<[number, string, number, number, number, number, string]>;
  private readonly listAt: Database.Statement<[Record<string, unknown>], LatestRow>;
  private readonly countAt: Database.Statement<[Record<string, unknown>], number>;
  private readonly historyAt: Database.Statement<[Record<string, unknown>], HistoryRow>;
  private readonly compactBatch: (from: number, to: number) => void;

  private readonly cache: WatchCache;
  /** Current state: frozen, so callers can be handed the stored objects themselves. */
  private readonly live = new Map<string, KeyValue>();
  private readonly keys: SortedKeys;
  /** id of the tombstone of each deleted key not yet compacted: the next create's prev_revision. */
  private readonly tombstones = new Map<string, number>();
  private rev: number;
  private compactRev: number;
  private closed = false;

  /** Opens (creating if needed) the database at path; ":memory:" for a throw-away store. */
  static open(path: string, opts: SqliteStorageOptions = {}): SqliteStorage {
    const synchronous = opts.synchronous ?? 'NORMAL';
    if (synchronous !== 'NORMAL' && synchronous !== 'FULL') throw new TypeError(`invalid synchronous mode: ${synchronous}`);
    const db = new Database(path, { timeout: opts.lockTimeoutMs ?? 5000 });
    try {
      // Must precede the first access so that WAL runs without shared memory and the lock is kept.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous}`);
      db.exec(SCHEMA);
      return new SqliteStorage(db, opts);
    } catch (err) {
      db.close();
      if (err instanceof Database.SqliteError && err.code === 'SQLITE_BUSY') {
        throw new Error(`database ${path} is in use by another process or connection`, { cause: err });
      }
      throw err;
    }
  }

  private constructor(
    private readonly db: Database.Database,
    opts: SqliteStorageOptions,
  ) {
    this.insertRow = db.prepare('INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.listAt = db.prepare<[Record<string, unknown>], LatestRow>(LIST_AT);
    this.countAt = db.prepare<[Record<string, unknown>], number>(COUNT_AT).pluck();
    this.historyAt = db.prepare<[Record<string, unknown>], HistoryRow>(HISTORY);

    // Deletes rows superseded by a row in (from, to], and tombstones in (from, to]. Rows at or
    // below from were pruned by earlier batches except each key's latest, which a row in this
    // range may now supersede. The compact revision is stored in the same transaction.
    const deleteSuperseded = db.prepare('DELETE FROM kine WHERE id IN (SELECT prev_revision FROM kine WHERE id > ? AND id <= ?)');
    const deleteTombstones = db.prepare('DELETE FROM kine WHERE id > ? AND id <= ? AND deleted = 1');
    const saveCompactRev = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('compact_rev', ?)");
    this.compactBatch = db.transaction((from: number, to: number) => {
      deleteSuperseded.run(from, to);
      deleteTombstones.run(from, to);
      saveCompactRev.run(to);
    });

    // AUTOINCREMENT's sequence, not MAX(id): compaction may have removed the newest row (a
    // tombstone), and revisions must never be reused.
    this.rev = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'kine'").pluck().get() as number | undefined) ?? 0;
    this.compactRev = (db.prepare("SELECT value FROM meta WHERE key = 'compact_rev'").pluck().get() as number | undefined) ?? 0;

    const names: string[] = [];
    for (const r of db.prepare<[], LatestRow>(LATEST).iterate()) {
      if (r.deleted) {
        this.tombstones.set(r.name, r.id);
      } else {
        this.live.set(r.name, Object.freeze({ key: r.name, value: r.value, createRevision: r.create_revision, modRevision: r.id }));
        names.push(r.name);
      }
    }
    this.keys = SortedKeys.fromSorted(names); // SQL's BINARY order is compareKeys order

    this.cache = new WatchCache({
      ...opts.watchCache,
      startRevision: this.rev,
      history: (prefix, after, to) => this.readHistory(prefix, after, to),
      compactedRevision: () => this.compactRev,
    });
  }

  async currentRevision(): Promise<number> {
    this.checkOpen();
    return this.rev;
  }

  compactedRevision(): number {
    return this.compactRev;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.checkOpen();
    return this.live.get(key);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.checkOpen();
    const revision = opts.revision || this.rev;
    const limit = opts.limit ?? 0;
    if (!Number.isSafeInteger(revision) || revision < 0) throw new TypeError(`invalid list revision: ${opts.revision}`);
    if (!Number.isSafeInteger(limit) || limit < 0) throw new TypeError(`invalid list limit: ${opts.limit}`);
    if (revision > this.rev) throw new RangeError(`revision ${revision} is newer than the current revision ${this.rev}`);

    const start = opts.startKey !== undefined && compareKeys(opts.startKey, prefix) > 0 ? opts.startKey : prefix;
    const end = prefixEnd(prefix);
    if (revision === this.rev) {
      const { keys, remaining } = this.keys.range(start, end, limit);
      return { items: keys.map((k) => this.live.get(k)!), revision, more: remaining > 0, remaining };
    }

    // An older snapshot (a paginated list continuing while writes go on) comes from the log.
    if (revision <= this.compactRev) throw new CompactedError(revision, this.compactRev);
    const bounds = { start, end: end ?? NO_END, rev: revision };
    const items = this.listAt
      .all({ ...bounds, limit: limit || -1 })
      .map((r): KeyValue => ({ key: r.name, value: r.value, createRevision: r.create_revision, modRevision: r.id }));
    const remaining = limit && items.length === limit ? this.countAt.get({ ...bounds, start: items[items.length - 1].key + '\0' })! : 0;
    return { items, revision, more: remaining > 0, remaining };
  }

  async count(prefix: string): Promise<number> {
    this.checkOpen();
    return this.keys.countRange(prefix, prefixEnd(prefix));
  }

  async create(key: string, value: string): Promise<number> {
    this.checkOpen();
    if (typeof key !== 'string' || key === '' || LONE_SURROGATE.test(key)) throw new TypeError(`invalid key: ${JSON.stringify(key)}`);
    checkValue(key, value);
    if (this.live.has(key)) throw new KeyExistsError(key);
    const rev = this.rev + 1;
    this.insertRow.run(rev, key, 1, 0, rev, this.tombstones.get(key) ?? 0, value);
    this.rev = rev;
    this.live.set(key, Object.freeze({ key, value, createRevision: rev, modRevision: rev }));
    this.keys.insert(key);
    this.tombstones.delete(key);
    this.cache.append(Object.freeze({ type: 'create', key, value, revision: rev, createRevision: rev }));
    return rev;
  }

  async update(key: string, value: string, expectedRevision: number): Promise<number> {
    this.checkOpen();
    checkValue(key, value);
    const cur = this.live.get(key);
    if (!cur) throw new KeyNotFoundError(key);
    if (cur.modRevision !== expectedRevision) throw new RevisionConflictError(key, cur.modRevision, expectedRevision);
    const rev = this.rev + 1;
    this.insertRow.run(rev, key, 0, 0, cur.createRevision, cur.modRevision, value);
    this.rev = rev;
    this.live.set(key, Object.freeze({ key, value, createRevision: cur.createRevision, modRevision: rev }));
    this.cache.append(Object.freeze({ type: 'update', key, value, prevValue: cur.value, revision: rev, createRevision: cur.createRevision }));
    return rev;
  }

  async delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: KeyValue }> {
    this.checkOpen();
    const cur = this.live.get(key);
    if (!cur) throw new KeyNotFoundError(key);
    if (expectedRevision !== undefined && cur.modRevision !== expectedRevision) {
      throw new RevisionConflictError(key, cur.modRevision, expectedRevision);
    }
    const rev = this.rev + 1;
    this.insertRow.run(rev, key, 0, 1, cur.createRevision, cur.modRevision, ''); // value: see SCHEMA
    this.rev = rev;
    this.live.delete(key);
    this.keys.delete(key);
    this.tombstones.set(key, rev);
    this.cache.append(Object.freeze({ type: 'delete', key, value: cur.value, prevValue: cur.value, revision: rev, createRevision: cur.createRevision }));
    return { revision: rev, prev: cur };
  }

  watch(prefix: string, fromRevision: number, onEvent: (ev: StorageEvent) => void, onError?: (err: Error) => void): Watcher {
    this.checkOpen();
    return this.cache.watch(prefix, fromRevision, onEvent, onError);
  }

  /**
   * Drops history at and below revision (capped at the current revision), keeping each key's
   * latest row. Runs in batches that let other work in between, and never past the revision a
   * watcher is still replaying from (the rest is left for the next call).
   */
  async compact(revision: number): Promise<void> {
    this.checkOpen();
    if (!Number.isSafeInteger(revision)) throw new TypeError(`invalid compact revision: ${revision}`);
    const target = Math.min(revision, this.rev);
    while (!this.closed && this.compactRev < target) {
      const to = Math.min(target, this.compactRev + COMPACT_BATCH, this.cache.minReplayRevision());
      if (to <= this.compactRev) break;
      this.compactBatch(this.compactRev, to);
      this.compactRev = to;
      await new Promise((resolve) => setImmediate(resolve));
    }
    // A create that ran meanwhile may have used a tombstone id just pruned as its prev_revision:
    // harmless, it is still unique for the name and nothing else points to it.
    for (const [key, id] of this.tombstones) if (id <= this.compactRev) this.tombstones.delete(key);
  }

  /**
   * Writes a consistent copy of the database to `file` while this store keeps serving: SQLite's
   * online backup API, run on this connection, so writes made meanwhile are carried into the copy
   * and it ends as the state at one revision. `file` must not exist.
   */
  async backupTo(file: string): Promise<void> {
    this.checkOpen();
    await this.db.backup(file);
  }

  /**
   * Creates a database at `path` holding exactly `items` with their own revisions, whose current
   * revision is `revision` (at least every item's modRevision). History at and below it counts as
   * compacted: a watch or list from an older revision gets CompactedError, so clients relist.
   * Restoring a backup this way keeps every resourceVersion. Refuses a database that holds rows.
   */
  static restore(path: string, items: Iterable<KeyValue>, revision: number): void {
    if (!Number.isSafeInteger(revision) || revision < 0) throw new TypeError(`invalid revision: ${revision}`);
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.exec(SCHEMA);
      const used = db.prepare("SELECT (SELECT COUNT(*) FROM kine) + (SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'kine')").pluck().get() as number;
      if (used) throw new Error(`database ${path} is not empty`);
      const insert = db.prepare('INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, 0, ?, 0, ?)');
      db.transaction(() => {
        for (const kv of items) {
          if (typeof kv.key !== 'string' || kv.key === '' || LONE_SURROGATE.test(kv.key)) throw new TypeError(`invalid key: ${JSON.stringify(kv.key)}`);
          checkValue(kv.key, kv.value);
          const { modRevision: mod, createRevision: created } = kv;
          if (!Number.isSafeInteger(mod) || mod < 1 || mod > revision || !Number.isSafeInteger(created) || created < 1 || created > mod) {
            throw new RangeError(`key ${kv.key}: revisions ${created}/${mod} do not fit below revision ${revision}`);
          }
          try {
            insert.run(mod, kv.key, created === mod ? 1 : 0, created, kv.value);
          } catch (e) {
            if (e instanceof Database.SqliteError && e.code.startsWith('SQLITE_CONSTRAINT'))
              throw new Error(`key ${kv.key}: revision ${mod} or key given twice`, { cause: e });
            throw e;
          }
        }
        db.prepare("DELETE FROM sqlite_sequence WHERE name = 'kine'").run();
        db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('kine', ?)").run(revision);
        db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('compact_rev', ?)").run(revision);
      })();
    } finally {
      db.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.close();
    this.db.close();
  }

  /** Watch replay beyond the ring: the log rows in (after, to] under prefix, in batches. */
  private *readHistory(prefix: string, after: number, to: number): Generator<StorageEvent> {
    const start = prefix;
    const end = prefixEnd(prefix) ?? NO_END;
    while (after < to) {
      // compact() stops at a replaying watcher's position; this guards that a gap cannot go unnoticed.
      if (after < this.compactRev) throw new CompactedError(after, this.compactRev);
      // Batches read with all(), not iterate(): callbacks run between yields and may write.
      const rows = this.historyAt.all({ after, to, start, end, limit: HISTORY_BATCH });
      for (const r of rows) yield rowEvent(r);
      if (rows.length < HISTORY_BATCH) return;
      after = rows[rows.length - 1].id;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('storage is closed');
  }
}

// Keys and values must be strings UTF-8 can carry (no lone surrogates): SQLite would store
// U+FFFD in their place and the log would no longer match what memory holds.
function checkValue(key: string, value: string): void {
  if (typeof value !== 'string' || LONE_SURROGATE.test(value)) throw new TypeError(`invalid value for key ${key}`);
}

function rowEvent(r: HistoryRow): StorageEvent {
  if (r.created) return { type: 'create', key: r.name, value: r.value, revision: r.id, createRevision: r.create_revision };
  const prevValue = r.prev_value!;
  if (r.deleted) return { type: 'delete', key: r.name, value: prevValue, prevValue, revision: r.id, createRevision: r.create_revision };
  return { type: 'update', key: r.name, value: r.value, prevValue, revision: r.id, createRevision: r.create_revision };
}
