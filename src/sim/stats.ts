// Fleet-wide counters and a constant-memory latency histogram (log buckets, ~2 % resolution).

const BUCKETS_PER_DOUBLING = 32;
const MIN_MS = 0.05;

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  sum = 0;
  max = 0;

  record(ms: number): void {
    const b = ms <= MIN_MS ? 0 : Math.ceil(Math.log2(ms / MIN_MS) * BUCKETS_PER_DOUBLING);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** Upper bound of the bucket holding quantile q (0..1); 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.max(1, Math.ceil(q * this.count));
    const keys = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const k of keys) {
      seen += this.counts.get(k)!;
      if (seen >= target) return Math.min(this.max, MIN_MS * 2 ** (k / BUCKETS_PER_DOUBLING));
    }
    return this.max;
  }

  get mean(): number {
    return this.count ? this.sum / this.count : 0;
  }

  reset(): void {
    this.counts.clear();
    this.count = this.sum = this.max = 0;
  }

  /** Plain-data form, for sending across processes. */
  snapshot(): HistogramSnapshot {
    return { buckets: [...this.counts], count: this.count, sum: this.sum, max: this.max };
  }

  mergeSnapshot(s: HistogramSnapshot): void {
    for (const [k, v] of s.buckets) this.counts.set(k, (this.counts.get(k) ?? 0) + v);
    this.count += s.count;
    this.sum += s.sum;
    this.max = Math.max(this.max, s.max);
  }
}

export interface HistogramSnapshot {
  buckets: [number, number][];
  count: number;
  sum: number;
  max: number;
}

export interface StatsSnapshot {
  latency: HistogramSnapshot;
  byEndpoint: [string, HistogramSnapshot][];
  statuses: [number, number][];
  counters: Record<(typeof COUNTERS)[number], number>;
}

const COUNTERS = ['requests', 'networkErrors', 'tlsResumed', 'tlsFull', 'rejectedEnvelopes', 'configsApplied', 'configsUnchanged'] as const;

/** Request outcome counters shared by all devices of a fleet (or owned by one device). */
export class SimStats {
  readonly latency = new LatencyHistogram();
  readonly byEndpoint = new Map<string, LatencyHistogram>();
  requests = 0;
  /** Requests that got no HTTP response (connection refused, TLS failure, timeout, offline). */
  networkErrors = 0;
  /** Responses by status code. */
  readonly statuses = new Map<number, number>();
  tlsResumed = 0;
  tlsFull = 0;
  /** Controller responses whose envelope failed verification (tampered, unknown signer, ...). */
  rejectedEnvelopes = 0;
  configsApplied = 0;
  configsUnchanged = 0;

  /**
   * `histograms: false` keeps the counters only: a device inside a fleet leaves latencies to the
   * fleet's stats, which saves a few KiB per device in fleets of thousands.
   */
  constructor(private readonly opts: { histograms?: boolean } = {}) {}

  record(endpoint: string, status: number | undefined, ms: number, resumed?: boolean): void {
    this.requests++;
    if (status === undefined) {
      this.networkErrors++;
      return;
    }
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (resumed === true) this.tlsResumed++;
    else if (resumed === false) this.tlsFull++;
    if (this.opts.histograms === false) return;
    this.latency.record(ms);
    let h = this.byEndpoint.get(endpoint);
    if (!h) this.byEndpoint.set(endpoint, (h = new LatencyHistogram()));
    h.record(ms);
  }

  status(code: number): number {
    return this.statuses.get(code) ?? 0;
  }

  /** Latency histograms back to empty (start of a measurement window); counters keep counting. */
  resetLatency(): void {
    this.latency.reset();
    for (const h of this.byEndpoint.values()) h.reset();
  }

  /** Plain-data form, for sending across processes. */
  snapshot(): StatsSnapshot {
    return {
      latency: this.latency.snapshot(),
      byEndpoint: [...this.byEndpoint].map(([k, h]) => [k, h.snapshot()]),
      statuses: [...this.statuses],
      counters: Object.fromEntries(COUNTERS.map((c) => [c, this[c]])) as StatsSnapshot['counters'],
    };
  }

  /** Add another process's snapshot into these stats. */
  mergeSnapshot(s: StatsSnapshot): void {
    this.latency.mergeSnapshot(s.latency);
    for (const [k, h] of s.byEndpoint) {
      let mine = this.byEndpoint.get(k);
      if (!mine) this.byEndpoint.set(k, (mine = new LatencyHistogram()));
      mine.mergeSnapshot(h);
    }
    for (const [code, n] of s.statuses) this.statuses.set(code, (this.statuses.get(code) ?? 0) + n);
    for (const c of COUNTERS) this[c] += s.counters[c];
  }
}

/** Canonical endpoint name for stats: `config`, `info`, `apps/newlogs`, ... (no UUIDs). */
export function endpointOf(path: string): string {
  const m = /\/api\/v2\/edgedevice\/(?:id\/[^/]+\/)?(.*)$/.exec(path);
  const rest = m ? m[1]! : path;
  return rest.replace(/instanceid\/[^/]+\//, '');
}
