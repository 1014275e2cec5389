// Time for simulated devices: a time-scale knob (durations shrink, wall-clock timestamps do not),
// per-device clock skew, EVE-style randomised intervals and exponential backoff.

/** Durations in this module are *simulated* milliseconds; `timeScale` converts them to real ones. */
export interface SimClockOptions {
  /** Simulated seconds per real second (default 1). 60 makes a 60 s config poll fire every second. */
  timeScale?: number;
  /** Offset of the device clock from the host clock, ms (clock-skew fault). */
  skewMs?: number;
  /** Deterministic randomness (tests); defaults to Math.random. */
  random?: () => number;
}

export type TimerHandle = { readonly id: number };

export class SimClock {
  readonly timeScale: number;
  skewMs: number;
  readonly random: () => number;
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private nextId = 1;
  private stopped = false;

  constructor(o: SimClockOptions = {}) {
    this.timeScale = o.timeScale && o.timeScale > 0 ? o.timeScale : 1;
    this.skewMs = o.skewMs ?? 0;
    this.random = o.random ?? Math.random;
  }

  /** Device wall clock (ms since epoch), including skew. */
  now(): number {
    return Date.now() + this.skewMs;
  }

  private readonly base = Date.now();
  /** Simulated time: runs `timeScale` times faster than the host clock (deadlines, retries). */
  simNow(): number {
    return this.base + (Date.now() - this.base) * this.timeScale + this.skewMs;
  }

  /** Real milliseconds for a simulated duration. */
  real(simMs: number): number {
    return Math.max(0, simMs / this.timeScale);
  }

  /** Run `fn` after `simMs` simulated milliseconds. */
  after(simMs: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    if (this.stopped) return { id };
    const t = setTimeout(
      () => {
        this.timers.delete(id);
        fn();
      },
      Math.min(this.real(simMs), 2 ** 31 - 1),
    );
    this.timers.set(id, t);
    return { id };
  }

  cancel(h: TimerHandle | undefined): void {
    if (!h) return;
    const t = this.timers.get(h.id);
    if (t) {
      clearTimeout(t);
      this.timers.delete(h.id);
    }
  }

  /** Resolves after `simMs` simulated ms (or immediately once stopped). */
  sleep(simMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      this.after(simMs, resolve);
    });
  }

  /** Cancel every pending timer; later `after` calls become no-ops. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  get pending(): number {
    return this.timers.size;
  }

  /** EVE's config/metrics ticker: uniform in [lo×, hi×] of the interval (zedagent: 0.3–1.0). */
  jitter(intervalMs: number, lo: number, hi: number): number {
    return intervalMs * (lo + (hi - lo) * this.random());
  }
}

/** Exponential backoff with a cap (EVE: onboarding 1 s → 600 s; deferred queue 1,2,4,8,15 min). */
export class Backoff {
  private cur: number;
  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly factor = 2,
  ) {
    this.cur = initialMs;
  }
  /** The delay to wait now; the next one grows. */
  next(): number {
    const d = this.cur;
    this.cur = Math.min(this.maxMs, this.cur * this.factor);
    return d;
  }
  peek(): number {
    return this.cur;
  }
  reset(): void {
    this.cur = this.initialMs;
  }
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
