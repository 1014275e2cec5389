// kube-scheduler's scheduling queue, reduced to what one worker needs: an active queue ordered by
// priority (higher first, then the earlier arrival, as the PrioritySort plugin), a backoff queue
// for pods that failed recently (1 s doubling to 10 s per attempt), and the unschedulable pods,
// which wait for a cluster event (or a periodic flush) to be moved back — into backoff if their
// backoff has not run out yet, else straight to the active queue.

export interface QueueOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

interface Entry {
  key: string;
  priority: number;
  /** Arrival order: ties at equal priority go first come, first served. */
  seq: number;
}

export class SchedulingQueue {
  private heap: Entry[] = [];
  private readonly active = new Map<string, Entry>();
  private readonly backoff = new Map<string, NodeJS.Timeout>();
  private readonly unschedulable = new Set<string>();
  private readonly attempts = new Map<string, { count: number; lastFailure: number }>();
  /** Keys being scheduled now, and whether a move event arrived meanwhile (then a failure retries at once). */
  private readonly inFlight = new Map<string, boolean>();
  private readonly priorities = new Map<string, number>();
  private waiter?: (key: string | undefined) => void;
  private seq = 0;
  private delivering = false;
  private closed = false;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(opts: QueueOptions = {}) {
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
  }

  get unschedulableCount(): number {
    return this.unschedulable.size;
  }

  /** A pod that wants a node (new, or changed): active unless it waits in backoff. */
  add(key: string, priority: number): void {
    this.priorities.set(key, priority);
    if (this.inFlight.has(key)) {
      this.inFlight.set(key, true);
      return;
    }
    // Already queued, or unschedulable: waits for a cluster event, not for its own status writes.
    if (this.active.has(key) || this.backoff.has(key) || this.unschedulable.has(key)) return;
    this.push(key);
  }

  /** A pod whose spec changed while unschedulable: kube re-queues it at once (backoff still applies). */
  update(key: string, priority: number): void {
    this.priorities.set(key, priority);
    if (this.unschedulable.delete(key)) this.requeue(key);
    else this.add(key, priority);
  }

  delete(key: string): void {
    const e = this.active.get(key);
    if (e) {
      this.active.delete(key);
      e.key = ''; // lazily dropped from the heap
    }
    clearTimeout(this.backoff.get(key));
    this.backoff.delete(key);
    this.unschedulable.delete(key);
    this.attempts.delete(key);
    this.priorities.delete(key);
  }

  /** The next pod to schedule (highest priority first); undefined once closed. */
  pop(): Promise<string | undefined> {
    const e = this.shift();
    if (e) return Promise.resolve(e);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** The attempt ended without a node: wait for an event, or retry after backoff if one came meanwhile. */
  failed(key: string, unschedulable: boolean): void {
    const moved = this.inFlight.get(key);
    this.inFlight.delete(key);
    const a = this.attempts.get(key) ?? { count: 0, lastFailure: 0 };
    a.count++;
    a.lastFailure = Date.now();
    this.attempts.set(key, a);
    if (!this.priorities.has(key)) return; // deleted meanwhile
    if (unschedulable && !moved) this.unschedulable.add(key);
    else this.requeue(key);
  }

  /** The pod was taken out of the queue (assumed) but its binding failed: back in after backoff. */
  retry(key: string, priority: number): void {
    this.priorities.set(key, priority);
    const a = this.attempts.get(key) ?? { count: 0, lastFailure: 0 };
    a.count++;
    a.lastFailure = Date.now();
    this.attempts.set(key, a);
    this.requeue(key);
  }

  /** The attempt placed the pod (or the pod no longer wants a node). */
  done(key: string): void {
    this.inFlight.delete(key);
    this.attempts.delete(key);
    this.priorities.delete(key);
  }

  /** A cluster event that may make unschedulable pods fit: move them all (kube's MoveAllToActiveOrBackoffQueue). */
  moveAllUnschedulable(): void {
    for (const k of this.inFlight.keys()) this.inFlight.set(k, true);
    const keys = [...this.unschedulable];
    this.unschedulable.clear();
    for (const k of keys) this.requeue(k);
  }

  close(): void {
    this.closed = true;
    for (const t of this.backoff.values()) clearTimeout(t);
    this.backoff.clear();
    this.waiter?.(undefined);
    this.waiter = undefined;
  }

  private backoffLeft(key: string): number {
    const a = this.attempts.get(key);
    if (!a) return 0;
    const d = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** (a.count - 1));
    return a.lastFailure + d - Date.now();
  }

  private requeue(key: string): void {
    if (this.active.has(key) || this.backoff.has(key) || this.closed) return;
    const left = this.backoffLeft(key);
    if (left <= 0) return this.push(key);
    const t = setTimeout(() => {
      this.backoff.delete(key);
      if (this.priorities.has(key)) this.push(key);
    }, left);
    t.unref();
    this.backoff.set(key, t);
  }

  private push(key: string): void {
    if (this.closed) return;
    const e: Entry = { key, priority: this.priorities.get(key) ?? 0, seq: this.seq++ };
    this.active.set(key, e);
    this.heap.push(e);
    this.up(this.heap.length - 1);
    // Hand over on the next microtask, so pods moved together are ordered among themselves first.
    if (this.waiter && !this.delivering) {
      this.delivering = true;
      queueMicrotask(() => {
        this.delivering = false;
        const w = this.waiter;
        const key = w && this.shift();
        if (!w || key === undefined) return;
        this.waiter = undefined;
        w(key);
      });
    }
  }

  private shift(): string | undefined {
    while (this.heap.length) {
      const top = this.heap[0];
      const last = this.heap.pop()!;
      if (this.heap.length) {
        this.heap[0] = last;
        this.down(0);
      }
      if (!top.key) continue;
      this.active.delete(top.key);
      this.inFlight.set(top.key, false);
      return top.key;
    }
    return undefined;
  }

  private before(a: Entry, b: Entry): boolean {
    return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.before(h[l], h[m])) m = l;
      if (r < h.length && this.before(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
