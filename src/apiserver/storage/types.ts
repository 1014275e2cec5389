// The storage contract every layer above relies on. It is modelled on etcd v3 (and kine):
// one global, strictly increasing revision; every write is a compare-and-swap on the key's
// modRevision; watches resume from any revision that has not been compacted away.
// Keys are strings like "/registry/<group>/<resource>/<namespace>/<name>"; values are opaque
// strings (JSON in practice). Two implementations: SqliteStorage (embedded, one process) and
// EtcdStorage (shared by several kubeve replicas); test/storage/contract.test.ts runs the same
// suite against both.
//
// What a caller may rely on, and what it may not (the points SQLite alone would hide):
// - Revisions are opaque increasing numbers. They need not be dense and need not start at 1: etcd
//   counts writes to keys outside this storage too.
// - Read-your-writes on one Storage object: when a write resolves, every live watcher of this
//   object has been handed its event (SQLite: synchronously inside the write; etcd: once the
//   object's watch stream delivered it). Writes by other processes arrive asynchronously.
// - Watch replay is asynchronous: events never arrive before watch() returns.
// - A watch can end without stop(): when the history it needs turns out to be compacted only
//   after it started (another etcd client compacted), or when the store lost events for it. Its
//   onError then receives a CompactedError (or other error) once, and nothing after that.
// - Compaction may happen at any time, from any process sharing the store; compactedRevision()
//   is this process's lower bound of it, not the truth.
// - Any call may reject with StorageUnavailableError (the store cannot be reached or did not
//   answer in time). A write that fails this way may or may not have been committed.

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created the key (in its current incarnation). */
  createRevision: number;
  /** Revision of the last write to the key. This is the object's resourceVersion. */
  modRevision: number;
}

export type StorageEventType = 'create' | 'update' | 'delete';

export interface StorageEvent {
  type: StorageEventType;
  key: string;
  /** The value after the write; for a delete, the last value before it. */
  value: string;
  /** The value before the write (absent for create). */
  prevValue?: string;
  /** Revision of this write. */
  revision: number;
  createRevision: number;
}

export interface ListOptions {
  /** Read the state as of this revision (0/undefined = current). Throws CompactedError if compacted. */
  revision?: number;
  /** Only keys >= startKey (used for pagination continue tokens). */
  startKey?: string;
  /** At most this many items (0/undefined = all). */
  limit?: number;
}

export interface ListResult {
  items: KeyValue[];
  /** The revision the list was read at. */
  revision: number;
  /** True when more keys under the prefix follow the last returned one. */
  more: boolean;
  /** How many keys under the prefix follow the returned ones (when known). */
  remaining?: number;
}

export interface Watcher {
  stop(): void;
}

export interface Storage {
  /**
   * The revision of the latest committed write, once every event up to it has been handed to
   * this object's live watchers: a watch from the returned revision misses nothing, and a
   * bookmark may report it.
   */
  currentRevision(): Promise<number>;
  /** Events at or below this revision are known to be gone (others may have compacted further). */
  compactedRevision(): number;

  get(key: string): Promise<KeyValue | undefined>;
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  count(prefix: string): Promise<number>;

  /** Creates the key; throws KeyExistsError if it exists. Returns the new revision. */
  create(key: string, value: string): Promise<number>;
  /**
   * Replaces the value if the key's modRevision equals expectedRevision.
   * Throws KeyNotFoundError if missing, RevisionConflictError if the revision differs.
   */
  update(key: string, value: string, expectedRevision: number): Promise<number>;
  /**
   * Deletes the key (if expectedRevision is given, only when it matches).
   * Returns the revision of the delete and the last value.
   */
  delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: KeyValue }>;

  /**
   * Delivers, in revision order, every event under prefix with revision > fromRevision, then live
   * events. Throws CompactedError (synchronously) if fromRevision is known to be older than what
   * is retained; otherwise, if the store finds out later, onError gets the CompactedError and the
   * watch ends (as it does on any other error that ends it). Without onError such an error is
   * logged.
   */
  watch(prefix: string, fromRevision: number, onEvent: (ev: StorageEvent) => void, onError?: (err: Error) => void): Watcher;

  /**
   * For a store outside the process (etcd): resolves if it answers and this object's watch feed
   * is connected, rejects with the reason otherwise. Shown as the "etcd" check of /readyz.
   */
  checkHealth?(): Promise<void>;

  /**
   * Drops history at and below revision (at most the current revision). SQLite holds back for a
   * watcher still replaying older history; etcd cannot, so such a watcher ends with CompactedError.
   */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

export class KeyExistsError extends Error {
  constructor(public key: string) {
    super(`key exists: ${key}`);
  }
}
export class KeyNotFoundError extends Error {
  constructor(public key: string) {
    super(`key not found: ${key}`);
  }
}
export class RevisionConflictError extends Error {
  constructor(
    public key: string,
    public actual: number,
    public expected: number,
  ) {
    super(`revision conflict on ${key}: have ${actual}, expected ${expected}`);
  }
}
export class CompactedError extends Error {
  constructor(
    public requested: number,
    public compacted: number,
  ) {
    super(`required revision ${requested} has been compacted (compacted revision ${compacted})`);
  }
}
/** The store could not be reached or did not answer in time; a write may or may not have happened. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
