// A work queue with client-go's semantics, and the Controller loop that drains it.
// - An item added while queued is queued once (dirty set); an item added while being processed is
//   queued again only after done(), so no two workers ever hold the same key.
// - addRateLimited delays an item by the worse of its own exponential backoff (5 ms doubling to
//   1000 s) and an overall token bucket (10/s, bursts of 100): client-go's default controller limiter.
// - forget() clears an item's backoff after a success; addAfter() delays; shutDown() wakes workers.

import { TokenBucket } from './rate-limit.ts';
import { log } from '../../observability/log.ts';

export interface RateLimiter<T> {
  /** How long to wait before handling this item again. */
  when(item: T): number;
  forget(item: T): void;
  numRequeues(item: T): number;
}

/** Per-item exponential backoff: base·2^failures, capped. */
export class ItemExponentialFailureRateLimiter<T> implements RateLimiter<T> {
  private readonly failures = new Map<T, number>();
  constructor(
    private readonly baseMs = 5,
    private readonly maxMs = 1000_000,
  ) {}
  when(item: T): number {
    const n = this.failures.get(item) ?? 0;
    this.failures.set(item, n + 1);
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }
  forget(item: T): void {
    this.failures.delete(item);
  }
  numRequeues(item: T): number {
    return this.failures.get(item) ?? 0;
  }
}

/** An overall limit on how fast items come back, whatever the item. */
export class BucketRateLimiter<T> implements RateLimiter<T> {
  private readonly bucket: TokenBucket;
  constructor(qps = 10, burst = 100) {
    this.bucket = new TokenBucket(qps, burst);
  }
  when(): number {
    return this.bucket.reserve();
  }
  forget(): void {}
  numRequeues(): number {
    return 0;
  }
}

/** The longest wait of several limiters. */
export class MaxOfRateLimiter<T> implements RateLimiter<T> {
  private readonly limiters: RateLimiter<T>[];
  constructor(...limiters: RateLimiter<T>[]) {
    this.limiters = limiters;
  }
  when(item: T): number {
    return Math.max(...this.limiters.map((l) => l.when(item)));
  }
  forget(item: T): void {
    for (const l of this.limiters) l.forget(item);
  }
  numRequeues(item: T): number {
    return Math.max(...this.limiters.map((l) => l.numRequeues(item)));
  }
}

/** client-go's DefaultControllerRateLimiter. */
export function defaultControllerRateLimiter<T>(o: { baseMs?: number; maxMs?: number; qps?: number; burst?: number } = {}): RateLimiter<T> {
  return new MaxOfRateLimiter<T>(
    new ItemExponentialFailureRateLimiter<T>(o.baseMs ?? 5, o.maxMs ?? 1000_000),
    new BucketRateLimiter<T>(o.qps ?? 10, o.burst ?? 100),
  );
}

export class WorkQueue<T = string> {
  private readonly queue: T[] = [];
  private head = 0;
  private readonly dirty = new Set<T>();
  private readonly processing = new Set<T>();
  private readonly waiters: Array<(item: T | undefined) => void> = [];
  private readonly delayed = new Map<T, { at: number; timer: NodeJS.Timeout }>();
  private shutdown = false;

  constructor(readonly rateLimiter: RateLimiter<T> = defaultControllerRateLimiter<T>()) {}

  add(item: T): void {
    if (this.shutdown || this.dirty.has(item)) return;
    this.dirty.add(item);
    if (this.processing.has(item)) return; // queued again by done()
    const w = this.waiters.shift();
    if (w) {
      this.dirty.delete(item);
      this.processing.add(item);
      w(item);
    } else {
      this.queue.push(item);
    }
  }

  /** Queued items (not counting those being processed or waiting for a delay). */
  len(): number {
    return this.queue.length - this.head;
  }

  /** The next item, marked as being processed until done(); undefined once the queue is shut down. */
  get(): Promise<T | undefined> {
    if (this.len() > 0) {
      const item = this.queue[this.head++];
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.dirty.delete(item);
      this.processing.add(item);
      return Promise.resolve(item);
    }
    if (this.shutdown) return Promise.resolve(undefined);
    return new Promise((r) => this.waiters.push(r));
  }

  /** The item is finished; if it was added meanwhile, it is queued now. */
  done(item: T): void {
    this.processing.delete(item);
    if (this.dirty.has(item)) {
      this.dirty.delete(item);
      this.add(item);
    }
  }

  isProcessing(item: T): boolean {
    return this.processing.has(item);
  }

  /** Adds the item after `ms` (an earlier pending add of the same item wins). */
  addAfter(item: T, ms: number): void {
    if (this.shutdown) return;
    if (ms <= 0) return this.add(item);
    const at = Date.now() + ms;
    const cur = this.delayed.get(item);
    if (cur && cur.at <= at) return;
    if (cur) clearTimeout(cur.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(item);
      this.add(item);
    }, ms); // not unref'd: shutDown() clears it
    this.delayed.set(item, { at, timer });
  }

  addRateLimited(item: T): void {
    this.addAfter(item, this.rateLimiter.when(item));
  }

  forget(item: T): void {
    this.rateLimiter.forget(item);
  }

  numRequeues(item: T): number {
    return this.rateLimiter.numRequeues(item);
  }

  /** Stops the queue: queued and delayed items are dropped, waiting workers get undefined (unlike client-go, which hands out what is queued first). */
  shutDown(): void {
    this.shutdown = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    this.queue.length = 0;
    this.head = 0;
    this.dirty.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  get shuttingDown(): boolean {
    return this.shutdown;
  }
}

export type ReconcileResult = void | { requeueAfterMs?: number };

export interface ControllerOptions {
  workers?: number;
  rateLimiter?: RateLimiter<string>;
  /** Where reconcile errors go (default: the process logger). */
  log?: (msg: string) => void;
}

/**
 * N workers over a queue of keys and a reconcile(key): a success forgets the key's backoff (and may
 * ask to come back later), a failure is logged and the key requeued with backoff. No error escapes.
 */
export class Controller {
  readonly queue: WorkQueue<string>;
  private workers: Promise<void>[] = [];
  private active = 0;
  private idleWaiters: Array<() => void> = [];
  readonly stats = { reconciles: 0, errors: 0 };

  constructor(
    readonly name: string,
    private readonly reconcile: (key: string) => Promise<ReconcileResult>,
    private readonly opts: ControllerOptions = {},
  ) {
    this.queue = new WorkQueue<string>(opts.rateLimiter);
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  run(workers = this.opts.workers ?? 1): void {
    for (let i = 0; i < workers; i++) this.workers.push(this.work());
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.active++;
      try {
        this.stats.reconciles++;
        const r = await this.reconcile(key);
        this.queue.forget(key);
        if (r && r.requeueAfterMs !== undefined) this.queue.addAfter(key, r.requeueAfterMs);
      } catch (e) {
        this.stats.errors++;
        const msg = `kubeve: ${this.name}: reconcile ${key} failed (retry ${this.queue.numRequeues(key) + 1}): ${e instanceof Error ? e.message : String(e)}`;
        try {
          if (this.opts.log) this.opts.log(msg);
          else log.error(msg);
        } catch {
          /* a failing logger must not stop the worker */
        }
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
        this.active--;
        if (!this.active && !this.queue.len()) for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  /** Resolves when nothing is queued or being reconciled (delayed retries do not count): tests. */
  idle(): Promise<void> {
    if (!this.active && !this.queue.len()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Shuts the queue down and waits for reconciles in progress to finish. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.workers);
    this.workers = [];
  }
}
