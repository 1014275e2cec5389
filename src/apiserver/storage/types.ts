// The storage contract every layer above relies on. It is modelled on etcd v3 (and kine):
// one global, strictly increasing revision; every write is a compare-and-swap on the key's
// modRevision; watches resume from any revision that has not been compacted away.
// Keys are strings like "/registry/<group>/<resource>/<namespace>/<name>"; values are opaque
// strings (JSON in practice). An implementation must be drop-in replaceable by an etcd one.

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
  /** The revision of the latest committed write. */
  currentRevision(): Promise<number>;
  /** Events at or below this revision may no longer be available. */
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
   * events. Throws CompactedError (synchronously) if fromRevision is older than what is retained.
   */
  watch(prefix: string, fromRevision: number, onEvent: (ev: StorageEvent) => void): Watcher;

  /** Drops history at and below revision. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

export class KeyExistsError extends Error {
  constructor(public key: string) { super(`key exists: ${key}`); }
}
export class KeyNotFoundError extends Error {
  constructor(public key: string) { super(`key not found: ${key}`); }
}
export class RevisionConflictError extends Error {
  constructor(public key: string, public actual: number, public expected: number) {
    super(`revision conflict on ${key}: have ${actual}, expected ${expected}`);
  }
}
export class CompactedError extends Error {
  constructor(public requested: number, public compacted: number) {
    super(`required revision ${requested} has been compacted (compacted revision ${compacted})`);
  }
}
