// Storage on etcd v3, shared by every kubeve replica pointed at the same cluster. etcd already is
// the model of the contract: its revision is the resourceVersion, writes are transactions that
// compare the key's mod_revision, lists read at a revision, and watches resume from one.
//
// Keys live under a prefix (default "/kubeve"), so one etcd can hold several installations.
// The etcd key that is the prefix itself is never a storage key (those are non-empty): it serves
// as a progress marker (see currentRevision).
//
// One etcd watch over the whole prefix feeds a WatchCache, which fans events out to this
// process's watchers; a watch older than the cache's ring gets an etcd watch of its own, which
// replays from etcd's history. Both resume after a lost connection from the revision after the
// last event they delivered, so no event is skipped or repeated.
//
// Client: etcd3 (the maintained npm client), through its raw KV and Watch RPC clients: the
// high-level Watcher resumes from the header revision of the create response, which skips
// events when a replay is cut off, and does not surface compact_revision. bench/etcd.bench.ts
// measures what the client costs against raw gRPC.

import { Etcd3, isRecoverableError, type IKeyValue, type IOptions, type IRangeResponse, type IWatchResponse, type IEvent } from 'etcd3';
import { compareKeys } from './sorted-keys.ts';
import {
  CompactedError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionConflictError,
  StorageUnavailableError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Storage,
  type StorageEvent,
  type Watcher,
} from './types.ts';
import { WatchCache, type WatchCacheOptions } from './watch-cache.ts';

export interface EtcdStorageOptions {
  /** Client URLs of the etcd members, e.g. http://127.0.0.1:2379 (https:// with tls). */
  endpoints: string[];
  /** Every key is stored under this prefix (default "/kubeve"); must not be empty. */
  prefix?: string;
  /** PEM contents: the CA that signed the etcd servers, and this client's certificate and key. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Deadline of each request, and how long a write waits for its own watch event (default 10 s). */
  requestTimeoutMs?: number;
  /** Sizing of the in-memory event ring that serves watches. */
  watchCache?: Pick<WatchCacheOptions, 'maxEvents' | 'retentionMs' | 'onError'>;
}

type Duplex = Awaited<ReturnType<Etcd3['watchClient']['watch']>>;
const LONE_SURROGATE = /\p{Cs}/u;
/** How often the feed checks that it heard from etcd (it asks for progress after two quiet periods). */
const PROGRESS_INTERVAL_MS = 500;

export class EtcdStorage implements Storage {
  private cache: WatchCache;
  private feed: ResumingWatch;
  private readonly direct = new Set<ResumingWatch>();
  private readonly waiters = new Set<{ rev: number; done: (ok: boolean) => void }>();
  private compactRev = 0;
  private closed = false;
  private readonly marker: Buffer;
  private readonly timeoutMs: number;

  /** Connects to etcd and starts following the prefix; fails if etcd does not answer. */
  static async open(opts: EtcdStorageOptions): Promise<EtcdStorage> {
    const prefix = opts.prefix ?? '/kubeve';
    if (!prefix || LONE_SURROGATE.test(prefix)) throw new TypeError(`invalid etcd key prefix: ${JSON.stringify(prefix)}`);
    if (!opts.endpoints.length) throw new TypeError('no etcd endpoints given');
    const timeoutMs = opts.requestTimeoutMs ?? 10_000;
    const options: IOptions = {
      hosts: opts.endpoints,
      dialTimeout: timeoutMs,
      // Unary calls get a deadline; the watch stream lives as long as it is wanted.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      // Notice a member that vanished without closing the connection.
      // gRPC's 4 MiB default would fail a list of a few thousand objects (kube-apiserver lifts it too).
      faultHandling: faultHandling(),
      grpcOptions: {
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.max_receive_message_length': 2 ** 31 - 1,
      },
    };
    if (opts.tls) {
      if (!opts.tls.ca) throw new TypeError('etcd TLS needs the CA certificate');
      options.credentials = { rootCertificate: opts.tls.ca, certChain: opts.tls.cert, privateKey: opts.tls.key };
    }
    const client = new Etcd3(options);
    try {
      const start = await unavailableOnError(client.kv.range({ key: Buffer.from(prefix), count_only: true }));
      const s = new EtcdStorage(client, prefix, Number(start.header.revision), timeoutMs, opts);
      const ready = await Promise.race([s.feed.ready.then(() => true), delay(timeoutMs).then(() => false)]);
      if (!ready) {
        await s.close();
        throw new StorageUnavailableError(`etcd at ${opts.endpoints.join(',')} did not accept a watch within ${timeoutMs} ms`);
      }
      return s;
    } catch (e) {
      client.close();
      throw e;
    }
  }

  private constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    startRevision: number,
    timeoutMs: number,
    private readonly opts: EtcdStorageOptions,
  ) {
    this.marker = Buffer.from(prefix);
    this.timeoutMs = timeoutMs;
    this.cache = new WatchCache({ ...opts.watchCache, startRevision });
    this.feed = this.follow(startRevision);
  }

  /** The single etcd watch over the prefix (marker included) that feeds the cache. */
  private follow(fromRevision: number): ResumingWatch {
    const cache = this.cache;
    return new ResumingWatch(this.client, this.marker, bytesPrefixEnd(this.marker), fromRevision, PROGRESS_INTERVAL_MS, {
      events: (evs) => {
        for (const ev of evs) {
          if (ev.kv.key.equals(this.marker)) cache.progress(Number(ev.kv.mod_revision));
          else cache.append(this.toEvent(ev));
        }
        this.wake();
      },
      progress: (rev) => {
        cache.progress(rev);
        this.wake();
      },
      // Compacted past our position while disconnected: the cache lost events. Its watchers end
      // with 410 (clients re-list); a fresh cache follows from the current revision.
      fatal: (err) => {
        if (this.closed) return;
        cache.fail(err);
        void this.restartFeed();
      },
    });
  }

  private async restartFeed(): Promise<void> {
    while (!this.closed) {
      try {
        const res = await this.client.kv.range({ key: this.marker, count_only: true });
        if (this.closed) return;
        const rev = Number(res.header.revision);
        this.cache = new WatchCache({ ...this.opts.watchCache, startRevision: rev });
        this.feed = this.follow(rev);
        return;
      } catch {
        await delay(500);
      }
    }
  }

  async currentRevision(): Promise<number> {
    const res = await this.call(() => this.client.kv.range({ key: this.marker, count_only: true }));
    const rev = Number(res.header.revision);
    if (await this.delivered(rev, 200)) return this.cache.revision;
    // etcd's revision also counts writes outside the prefix, which the feed never reports. A write
    // to the marker key arrives through the feed after every earlier event: proof of progress.
    const put = await this.call(() => this.client.kv.put({ key: this.marker, value: Buffer.alloc(0) }));
    if (await this.delivered(Number(put.header.revision), this.timeoutMs)) return this.cache.revision;
    throw new StorageUnavailableError('etcd watch stream is not delivering events');
  }

  compactedRevision(): number {
    return this.compactRev;
  }

  async checkHealth(): Promise<void> {
    this.checkOpen();
    await unavailableOnError(this.client.kv.range({ key: this.marker, count_only: true }, { deadline: Date.now() + 2000 }));
    if (!this.feed.connected) throw new StorageUnavailableError('the etcd watch stream is reconnecting');
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(() => this.client.kv.range({ key: this.etcdKey(key) }));
    return res.kvs.length ? this.toKeyValue(res.kvs[0]) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const revision = opts.revision ?? 0;
    const limit = opts.limit ?? 0;
    if (!Number.isSafeInteger(revision) || revision < 0) throw new TypeError(`invalid list revision: ${opts.revision}`);
    if (!Number.isSafeInteger(limit) || limit < 0) throw new TypeError(`invalid list limit: ${opts.limit}`);
    const start = opts.startKey !== undefined && compareKeys(opts.startKey, prefix) > 0 ? opts.startKey : prefix;
    let res: IRangeResponse;
    try {
      res = await this.call(() => this.client.kv.range({ ...this.range(start, prefix), revision, limit }));
    } catch (e) {
      throw this.revisionError(e, revision);
    }
    const items = res.kvs.map((kv) => this.toKeyValue(kv));
    const remaining = Number(res.count) - items.length;
    return { items, revision: revision || Number(res.header.revision), more: res.more, remaining };
  }

  async count(prefix: string): Promise<number> {
    const res = await this.call(() => this.client.kv.range({ ...this.range(prefix, prefix), count_only: true }));
    return Number(res.count);
  }

  async create(key: string, value: string): Promise<number> {
    if (typeof key !== 'string' || key === '' || LONE_SURROGATE.test(key)) throw new TypeError(`invalid key: ${JSON.stringify(key)}`);
    checkValue(key, value);
    const k = this.etcdKey(key);
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: k, value: Buffer.from(value) } }],
      }),
    );
    if (!res.succeeded) throw new KeyExistsError(key);
    return this.written(Number(res.header.revision));
  }

  async update(key: string, value: string, expectedRevision: number): Promise<number> {
    checkValue(key, value);
    const k = this.etcdKey(key);
    const res = await this.call(() =>
      this.client.kv.txn({
        // A missing key has mod_revision 0; the create_revision guard keeps update from creating it.
        compare: [
          { key: k, target: 'Mod', result: 'Equal', mod_revision: expectedRevision },
          { key: k, target: 'Create', result: 'Greater', create_revision: 0 },
        ],
        success: [{ request_put: { key: k, value: Buffer.from(value) } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    if (!res.succeeded) throw this.conflict(key, res.responses[0]?.response_range?.kvs[0], expectedRevision);
    return this.written(Number(res.header.revision));
  }

  async delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: KeyValue }> {
    const k = this.etcdKey(key);
    const exists = { key: k, target: 'Create' as const, result: 'Greater' as const, create_revision: 0 };
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: expectedRevision === undefined ? [exists] : [exists, { key: k, target: 'Mod', result: 'Equal', mod_revision: expectedRevision }],
        success: [{ request_delete_range: { key: k, prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    if (!res.succeeded) throw this.conflict(key, res.responses[0]?.response_range?.kvs[0], expectedRevision ?? 0);
    const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
    if (!prev) throw new StorageUnavailableError(`etcd returned no previous value for the delete of ${key}`);
    return { revision: await this.written(Number(res.header.revision)), prev: this.toKeyValue(prev) };
  }

  watch(prefix: string, fromRevision: number, onEvent: (ev: StorageEvent) => void, onError?: (err: Error) => void): Watcher {
    this.checkOpen();
    if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) {
      throw new TypeError(`watch revision must be a non-negative integer, got ${fromRevision}`);
    }
    if (fromRevision < this.compactRev) throw new CompactedError(fromRevision, this.compactRev);
    if (fromRevision >= this.cache.oldestReplayableRevision) return this.cache.watch(prefix, fromRevision, onEvent, onError);

    // Older than the ring: etcd replays its own history to a watch of this watcher's own.
    const report = onError ?? ((err: Error) => (this.opts.watchCache?.onError ?? console.error)(err));
    const { key, range_end } = this.range(prefix, prefix);
    let stopped = false;
    const w: ResumingWatch = new ResumingWatch(this.client, key, range_end, fromRevision, 0, {
      events: (evs) => {
        for (const ev of evs) {
          if (stopped) return;
          try {
            onEvent(this.toEvent(ev));
          } catch (err) {
            end();
            return report(err instanceof Error ? err : new Error(String(err)));
          }
        }
      },
      progress: () => {},
      fatal: (err) => {
        end();
        if (err instanceof CompactedError) this.compactRev = Math.max(this.compactRev, err.compacted);
        report(err);
      },
    });
    const end = () => {
      stopped = true;
      this.direct.delete(w);
      w.stop();
    };
    this.direct.add(w);
    return { stop: end };
  }

  /**
   * Compacts etcd's history (all of it, keys outside the prefix included, as kube-apiserver does).
   * Another replica may have compacted further already: that counts as done.
   */
  async compact(revision: number): Promise<void> {
    if (!Number.isSafeInteger(revision)) throw new TypeError(`invalid compact revision: ${revision}`);
    const target = Math.min(revision, this.cache.revision);
    if (target <= this.compactRev) return;
    try {
      await this.call(() => this.client.kv.compact({ revision: target }));
    } catch (e) {
      if (!isCompactedError(e)) throw e;
    }
    this.compactRev = Math.max(this.compactRev, target);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.feed.stop();
    for (const w of this.direct) w.stop();
    this.direct.clear();
    this.cache.close();
    for (const w of this.waiters) w.done(false);
    this.waiters.clear();
    this.client.close();
  }

  // ---- helpers ------------------------------------------------------------------------------

  /** Resolves with the revision of a write once this process's watchers have its event. */
  private async written(rev: number): Promise<number> {
    await this.delivered(rev, this.timeoutMs); // committed either way: a slow feed only delays others' view
    return rev;
  }

  private delivered(rev: number, timeoutMs: number): Promise<boolean> {
    if (this.cache.revision >= rev) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = {
        rev,
        done: (ok: boolean) => {
          clearTimeout(timer);
          this.waiters.delete(w);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => w.done(false), timeoutMs);
      this.waiters.add(w);
    });
  }

  private wake(): void {
    const at = this.cache.revision;
    for (const w of this.waiters) if (w.rev <= at) w.done(true);
  }

  private etcdKey(key: string): Buffer {
    return Buffer.from(this.prefix + key);
  }

  /** The etcd range [start, end of prefix); an empty start skips the marker key. */
  private range(start: string, prefix: string): { key: Buffer; range_end: Buffer } {
    const key = start === '' ? Buffer.concat([this.marker, Buffer.from([0])]) : this.etcdKey(start);
    return { key, range_end: bytesPrefixEnd(this.etcdKey(prefix)) };
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return Object.freeze({
      key: kv.key.subarray(this.marker.length).toString(),
      value: kv.value.toString(),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
    });
  }

  private toEvent(ev: IEvent): StorageEvent {
    const key = ev.kv.key.subarray(this.marker.length).toString();
    const revision = Number(ev.kv.mod_revision);
    const prevValue = ev.prev_kv ? ev.prev_kv.value.toString() : undefined;
    if (ev.type === 'Delete') {
      // prev_kv is missing only if its revision was compacted in the meantime.
      return Object.freeze({ type: 'delete', key, value: prevValue ?? '', prevValue, revision, createRevision: Number(ev.prev_kv?.create_revision ?? 0) });
    }
    const createRevision = Number(ev.kv.create_revision);
    const value = ev.kv.value.toString();
    if (createRevision === revision) return Object.freeze({ type: 'create', key, value, revision, createRevision });
    return Object.freeze({ type: 'update', key, value, prevValue, revision, createRevision });
  }

  private conflict(key: string, current: IKeyValue | undefined, expected: number): Error {
    if (!current) return new KeyNotFoundError(key);
    return new RevisionConflictError(key, Number(current.mod_revision), expected);
  }

  private revisionError(e: unknown, revision: number): unknown {
    const cause = e instanceof StorageUnavailableError ? e.cause : e;
    if (isCompactedError(cause)) {
      this.compactRev = Math.max(this.compactRev, revision);
      return new CompactedError(revision, this.compactRev);
    }
    if (cause instanceof Error && /future revision/.test(cause.message)) {
      return new RangeError(`revision ${revision} is newer than the current revision`);
    }
    return e;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    this.checkOpen();
    return unavailableOnError(fn());
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('storage is closed');
  }
}

/** Thrown instead of calling a member that failed a moment ago; the pool then tries another. */
class MemberResting extends Error {}

/**
 * etcd3's default per-member circuit breaker stays open for 5 s after 3 failures, and during an
 * election every member fails, so calls kept failing for seconds after a new leader was up.
 * Instead: a member that failed at the connection level rests for 1 s, and a call that found no
 * usable member is retried with backoff for about 3 s. Only connection-level failures are retried
 * (those that did not reach etcd); an answer from etcd, even an error, is final.
 */
function faultHandling(): NonNullable<IOptions['faultHandling']> {
  type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
  const member = () => {
    let restUntil = 0;
    return {
      async execute<T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => Promise<T> | T): Promise<T> {
        if (Date.now() < restUntil) throw new MemberResting('etcd member resting after a failure');
        try {
          return await fn({ signal: new AbortController().signal, attempt: 0 });
        } catch (e) {
          if (e instanceof Error && isRecoverableError(e)) restUntil = Date.now() + 1000;
          throw e;
        }
      },
    } as unknown as Policy;
  };
  const global = {
    async execute<T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => Promise<T> | T): Promise<T> {
      for (let attempt = 0, wait = 50; ; attempt++, wait = Math.min(wait * 2, 1000)) {
        try {
          return await fn({ signal: new AbortController().signal, attempt });
        } catch (e) {
          const retriable = e instanceof MemberResting || (e instanceof Error && isRecoverableError(e));
          if (!retriable || attempt >= 6) throw e;
          await delay(wait);
        }
      }
    },
  } as unknown as Policy;
  return { host: member, global };
}

interface WatchHandlers {
  events(evs: IEvent[]): void;
  /** etcd reports that the watch has seen everything up to this revision. */
  progress(revision: number): void;
  /** The watch cannot continue (compacted past its position, or refused); it has stopped. */
  fatal(err: Error): void;
}

/**
 * One etcd watch of [key, rangeEnd) delivering every event after a revision, exactly once and in
 * order: after a lost stream it reconnects, from any member, at the revision after the last one
 * it delivered.
 */
class ResumingWatch {
  /** Resolves once etcd has accepted the first watch request. */
  readonly ready: Promise<void>;
  private next: number;
  private stream?: Duplex;
  private stopped = false;
  private markReady!: () => void;
  /** True while etcd has accepted the watch on the current stream. */
  connected = false;
  private pendingProgress?: NodeJS.Timeout;

  constructor(
    private readonly client: Etcd3,
    private readonly key: Buffer,
    private readonly rangeEnd: Buffer,
    afterRevision: number,
    private readonly progressIntervalMs: number,
    private readonly handlers: WatchHandlers,
  ) {
    this.next = afterRevision + 1;
    this.ready = new Promise((r) => (this.markReady = r));
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.pendingProgress);
    this.markReady();
    this.stream?.cancel();
  }

  private async run(): Promise<void> {
    // Short: writes wait for their event on this feed, so a reconnect is on their critical path.
    let backoff = 20;
    while (!this.stopped) {
      let stream: Duplex;
      try {
        stream = await this.client.watchClient.watch();
      } catch {
        await delay(backoff);
        backoff = Math.min(backoff * 2, 500);
        continue;
      }
      if (this.stopped) return stream.cancel();
      this.stream = stream;
      const ended = new Promise<Error | undefined>((resolve) => {
        stream.on('data', (res: IWatchResponse) => {
          backoff = 20;
          const fatal = this.onResponse(res);
          if (fatal) resolve(fatal);
        });
        stream.on('error', () => resolve(undefined));
        stream.on('end', () => resolve(undefined));
      });
      stream.write({
        create_request: { key: this.key, range_end: this.rangeEnd, start_revision: this.next, prev_kv: true, progress_notify: true },
      });
      // An idle watch asks for progress now and then, so that its resume revision keeps up with
      // etcd's: otherwise a compaction (by any client) would leave it unable to reconnect.
      let quiet = 0;
      const ticker = this.progressIntervalMs
        ? setInterval(() => {
            if (++quiet >= 2) stream.write({ progress_request: {} });
          }, this.progressIntervalMs)
        : undefined;
      stream.on('data', () => (quiet = 0));
      const fatal = await ended;
      this.connected = false;
      clearInterval(ticker);
      clearTimeout(this.pendingProgress);
      stream.on('error', () => {}); // cancel() reports a CANCELLED status as an error
      stream.cancel();
      if (fatal) {
        this.stopped = true;
        this.markReady();
        return this.handlers.fatal(fatal);
      }
      if (!this.stopped) await delay(backoff);
      backoff = Math.min(backoff * 2, 500);
    }
  }

  /** Returns an error that ends the watch for good. */
  private onResponse(res: IWatchResponse): Error | undefined {
    if (this.stopped) return undefined;
    const compacted = Number(res.compact_revision);
    if (compacted) return new CompactedError(this.next - 1, compacted);
    if (res.canceled) return new StorageUnavailableError(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`);
    if (res.created) {
      this.connected = true;
      this.markReady();
      return undefined;
    }
    if (res.events.length) {
      clearTimeout(this.pendingProgress);
      this.next = Number(res.events[res.events.length - 1].kv.mod_revision) + 1;
      this.handlers.events(res.events);
    } else if (res.watch_id === '-1') {
      // The answer to progress_request. etcd 3.4 may send it ahead of events still queued for the
      // watch, so it counts only if no event follows within a moment.
      const rev = Number(res.header.revision);
      clearTimeout(this.pendingProgress);
      this.pendingProgress = setTimeout(() => {
        if (this.stopped || rev < this.next) return;
        this.next = rev + 1;
        this.handlers.progress(rev);
      }, 100);
    } else {
      // A progress notification: nothing under the range up to the header's revision.
      const rev = Number(res.header.revision);
      if (rev >= this.next) {
        this.next = rev + 1;
        this.handlers.progress(rev);
      }
    }
    return undefined;
  }
}

/** The smallest key greater than every key starting with prefix (etcd's "\0" means no end). */
function bytesPrefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function isCompactedError(e: unknown): boolean {
  return e instanceof Error && /required revision has been compacted/.test(e.message);
}

async function unavailableOnError<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (isCompactedError(e) || (e instanceof Error && /future revision/.test(e.message))) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new StorageUnavailableError(`etcd: ${msg}`, { cause: e });
  }
}

function checkValue(key: string, value: string): void {
  if (typeof value !== 'string' || LONE_SURROGATE.test(value)) throw new TypeError(`invalid value for key ${key}`);
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
