// In-memory event fan-out for a Storage backend, in the manner of kube-apiserver's cacher: the
// backend appends every committed event in revision order; watchers are prefix-filtered and get
// each event exactly once, in order. A watch from an older revision replays from a ring of recent
// events, or, when the ring no longer reaches back that far, from the backend's own history.
// Backend-agnostic: SQLite appends right after each commit; an etcd backend would append what
// its single etcd watch reports.

import { CompactedError, type StorageEvent, type Watcher } from './types.ts';
import { log } from '../../observability/log.ts';

/**
 * Reads events from the backend's history: every event under prefix with
 * afterRevision < revision <= toRevision, in revision order. May be async (a remote backend).
 * Throws CompactedError when part of the range is gone.
 */
export type HistoryReader = (prefix: string, afterRevision: number, toRevision: number) => Iterable<StorageEvent> | AsyncIterable<StorageEvent>;

export interface WatchCacheOptions {
  /** The backend's revision when the cache starts; appended events must be newer. */
  startRevision: number;
  /** History for watches older than the ring. Without it those watches get CompactedError. */
  history?: HistoryReader;
  /** The backend's compacted revision: its history at and below this is gone. */
  compactedRevision?: () => number;
  /** Hard cap on events kept in memory (default 100,000). */
  maxEvents?: number;
  /**
   * Events older than this are dropped once newer ones arrive (default 75 s, as upstream). Below
   * maxEvents / retentionMs writes per second the ring therefore covers at least this window.
   */
  retentionMs?: number;
  /** Receives exceptions thrown by watcher callbacks and failed history replays. */
  onError?: (err: unknown) => void;
  /** Monotonic clock in milliseconds (tests). */
  now?: () => number;
}

interface Subscription {
  prefix: string;
  onEvent: (ev: StorageEvent) => void;
  onError?: (err: Error) => void;
  /** Highest revision this watcher has been brought past; it never sees an event at or below it. */
  position: number;
  stopped: boolean;
}

export class WatchCache {
  private readonly history?: HistoryReader;
  private readonly backendCompacted: () => number;
  private readonly maxEvents: number;
  private readonly retentionMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly now: () => number;

  // The ring, addressed by sequence number (1 per append) so that positions held by replaying
  // watchers survive eviction: events[seq - base] for head <= seq < base + events.length.
  private events: StorageEvent[] = [];
  private times: number[] = [];
  private base = 0;
  private head = 0;
  /** Every event with a revision above this is in the ring. */
  private floor: number;
  private lastRevision: number;

  private readonly live = new Map<string, Set<Subscription>>();
  private readonly catchingUp = new Set<Subscription>();
  private readonly queue: StorageEvent[] = [];
  private delivering = false;
  private closed = false;

  constructor(opts: WatchCacheOptions) {
    this.history = opts.history;
    this.backendCompacted = opts.compactedRevision ?? (() => 0);
    this.maxEvents = opts.maxEvents ?? 100_000;
    this.retentionMs = opts.retentionMs ?? 75_000;
    this.onError = opts.onError ?? ((err) => log.error('storage watch failed', err));
    this.now = opts.now ?? (() => performance.now());
    this.floor = this.lastRevision = opts.startRevision;
  }

  /** Revision of the last appended event (or the start revision). */
  get revision(): number {
    return this.lastRevision;
  }

  /** Watches from this revision or later are served from memory alone. */
  get oldestReplayableRevision(): number {
    return this.floor;
  }

  /**
   * The lowest revision a watcher is still replaying from (Infinity if none). A backend must not
   * compact above it, or the replay would skip events.
   */
  minReplayRevision(): number {
    let min = Infinity;
    for (const s of this.catchingUp) min = Math.min(min, s.position);
    return min;
  }

  /**
   * Records that the backend has no event under this cache's range up to revision (etcd reports
   * progress without events), so a watch from there is served live.
   */
  progress(revision: number): void {
    if (revision <= this.lastRevision) return;
    this.lastRevision = revision;
  }

  /**
   * Ends every watcher with err (through its onError): the backend lost events the cache cannot
   * recover, so no watcher may continue as if complete. The cache stays closed.
   */
  fail(err: Error): void {
    const subs = [...this.catchingUp];
    for (const set of this.live.values()) subs.push(...set);
    this.close();
    for (const s of subs) this.report(s, err);
  }

  /** Records a committed event and delivers it to live watchers before returning. */
  append(ev: StorageEvent): void {
    if (ev.revision <= this.lastRevision) {
      throw new Error(`watch cache: event revision ${ev.revision} is not after ${this.lastRevision}`);
    }
    this.lastRevision = ev.revision;
    const now = this.now();
    this.events.push(ev);
    this.times.push(now);
    this.evict(now - this.retentionMs);
    // A callback that writes re-enters here; queue its event so every watcher still sees
    // revisions in order.
    this.queue.push(ev);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let i = 0; i < this.queue.length; i++) this.fanOut(this.queue[i]);
    } finally {
      this.queue.length = 0;
      this.delivering = false;
    }
  }

  /**
   * Delivers every event under prefix with revision > fromRevision, then live events. Replayed
   * events arrive asynchronously (never before watch() returns); live ones synchronously from
   * append(). Throws CompactedError if neither the ring nor the backend reaches back that far.
   * A callback that throws is unsubscribed (it missed that event) and the error reported.
   */
  watch(prefix: string, fromRevision: number, onEvent: (ev: StorageEvent) => void, onError?: (err: Error) => void): Watcher {
    if (this.closed) throw new Error('watch cache is closed');
    if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) {
      throw new TypeError(`watch revision must be a non-negative integer, got ${fromRevision}`);
    }
    if (fromRevision < this.floor) {
      const compacted = this.history ? this.backendCompacted() : this.floor;
      if (!this.history || fromRevision < compacted) throw new CompactedError(fromRevision, compacted);
    }
    const s: Subscription = { prefix, onEvent, onError, position: fromRevision, stopped: false };
    if (fromRevision >= this.lastRevision) this.goLive(s);
    else {
      this.catchingUp.add(s);
      void this.catchUp(s);
    }
    return { stop: () => this.unsubscribe(s) };
  }

  /** Stops every watcher; appends are still accepted. */
  close(): void {
    this.closed = true;
    for (const s of this.catchingUp) s.stopped = true;
    for (const subs of this.live.values()) for (const s of subs) s.stopped = true;
    this.catchingUp.clear();
    this.live.clear();
  }

  private async catchUp(s: Subscription): Promise<void> {
    try {
      await undefined; // the caller gets its Watcher before the first callback
      while (!s.stopped) {
        if (s.position < this.floor) {
          // The ring no longer holds everything after position: read the gap from the backend.
          if (!this.history) throw new CompactedError(s.position, this.floor);
          const to = this.floor;
          for await (const ev of this.history(s.prefix, s.position, to)) {
            if (s.stopped) return;
            this.deliver(s, ev);
          }
          if (s.stopped) return;
          s.position = Math.max(s.position, to);
          continue;
        }
        // Synchronous from here to goLive, so nothing can be appended unseen in between. Callbacks
        // that write append to the ring, which this loop then reaches too.
        let seq = this.seqAfter(s.position);
        for (; !s.stopped && seq >= this.head && seq < this.base + this.events.length; seq++) {
          const ev = this.events[seq - this.base];
          if (ev.key.startsWith(s.prefix)) this.deliver(s, ev);
          else s.position = ev.revision;
        }
        if (s.stopped) return;
        if (seq < this.head) continue; // evicted under us by a burst of writes: back to history
        this.catchingUp.delete(s);
        this.goLive(s);
        return;
      }
    } catch (err) {
      this.unsubscribe(s);
      this.report(s, err);
    }
  }

  /** A watch that ends on its own tells its owner when it asked to be told, else the log. */
  private report(s: Subscription, err: unknown): void {
    if (!s.onError) return this.onError(err);
    try {
      s.onError(err instanceof Error ? err : new Error(String(err)));
    } catch (e) {
      this.onError(e);
    }
  }

  private goLive(s: Subscription): void {
    let subs = this.live.get(s.prefix);
    if (!subs) this.live.set(s.prefix, (subs = new Set()));
    subs.add(s);
  }

  private unsubscribe(s: Subscription): void {
    s.stopped = true;
    this.catchingUp.delete(s);
    const subs = this.live.get(s.prefix);
    if (subs?.delete(s) && subs.size === 0) this.live.delete(s.prefix);
  }

  private fanOut(ev: StorageEvent): void {
    for (const [prefix, subs] of this.live) {
      if (ev.key.startsWith(prefix)) for (const s of subs) this.deliver(s, ev);
    }
  }

  private deliver(s: Subscription, ev: StorageEvent): void {
    if (s.stopped || ev.revision <= s.position) return;
    s.position = ev.revision;
    try {
      s.onEvent(ev);
    } catch (err) {
      this.unsubscribe(s);
      this.onError(err);
    }
  }

  /** Sequence number of the first retained event with a revision above rev. */
  private seqAfter(rev: number): number {
    let lo = this.head;
    let hi = this.base + this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid - this.base].revision <= rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private evict(cutoff: number): void {
    const end = this.base + this.events.length;
    while (this.head < end && (end - this.head > this.maxEvents || this.times[this.head - this.base] < cutoff)) {
      this.floor = this.events[this.head - this.base].revision;
      this.head++;
    }
    // Drop evicted slots in bulk: amortised O(1) per event instead of a shift() per eviction.
    const dead = this.head - this.base;
    if (dead > 1024 && dead * 2 > this.events.length) {
      this.events.splice(0, dead);
      this.times.splice(0, dead);
      this.base = this.head;
    }
  }
}
