// A token bucket with golang.org/x/time/rate's reservation semantics, as client-go uses it both for
// a client's QPS/burst and for the work queue's overall limit: the bucket holds up to `burst`
// tokens, refills at `qps` per second, and a reservation that finds it empty takes a token on
// credit and is told how long to wait for it.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly qps: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(qps > 0) || !(burst >= 1)) throw new Error(`token bucket needs qps > 0 and burst >= 1 (got ${qps}, ${burst})`);
    this.tokens = burst;
    this.last = this.now();
  }

  /** Takes one token; returns how many milliseconds the caller must wait before using it (0 = now). */
  reserve(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  /** Waits for one token. */
  async wait(): Promise<void> {
    const ms = this.reserve();
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  }
}
