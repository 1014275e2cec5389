// Prometheus metrics of one kubeve process (prom-client), under kube-apiserver's names where kube has
// one (apiserver_request_total, apiserver_request_duration_seconds, apiserver_longrunning_requests,
// apiserver_storage_objects) and kubeve_* for the device side. One Registry per server (not the
// library's global one), so several servers in one process (tests) do not share counters.
//
// Everything is served on the API server's /metrics, behind authentication and RBAC (nonResourceURLs
// "/metrics", verb get: the system:monitoring group has it). The device API port serves only EVE's
// API: devices authenticate with signed envelopes, not bearer tokens, and that port usually faces
// the whole fleet, so it exposes no metrics at all.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

/** kube-apiserver's buckets for apiserver_request_duration_seconds. */
const REQUEST_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const REQUEST_LABELS = ['verb', 'dry_run', 'group', 'version', 'resource', 'subresource', 'scope', 'component'] as const;

/** The labels kube puts on one API request (endpoints/metrics: cleaned verb, scope, ...). */
export interface RequestLabels {
  verb: string;
  dry_run: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  scope: string;
  component: string;
}

/** What the device API reports about itself. */
export interface DeviceApiMetrics {
  request(endpoint: string, code: number, seconds: number): void;
  onboarding(result: OnboardingResult): void;
}

/** registered: new device; repeat: same device again (every boot); denied: 403; conflict: 409; invalid: 4xx on the request itself. */
export type OnboardingResult = 'registered' | 'repeat' | 'denied' | 'conflict' | 'invalid';

/** One label set's request count by code and latency buckets (non-cumulative until exposition). */
interface RequestSeries {
  labels: RequestLabels;
  codes: Map<number, number>;
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * apiserver_request_total and apiserver_request_duration_seconds, kept as plain numbers by label
 * set and exposed through the registry at scrape time. prom-client hashes the label object on every
 * inc()/observe(), which on the request path cost several times the rest of the bookkeeping.
 */
class RequestMetrics {
  private readonly series = new Map<string, RequestSeries>();

  constructor(registry: Registry) {
    const counter = {
      name: 'apiserver_request_total',
      help: 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.',
      get: async () => ({
        name: counter.name,
        help: counter.help,
        type: 'counter',
        aggregator: 'sum',
        values: [...this.series.values()].flatMap((s) => [...s.codes].map(([code, value]) => ({ labels: { ...s.labels, code: String(code) }, value }))),
      }),
    };
    const histogram = {
      name: 'apiserver_request_duration_seconds',
      help: 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component (watches excluded).',
      get: async () => ({
        name: histogram.name,
        help: histogram.help,
        type: 'histogram',
        aggregator: 'sum',
        values: [...this.series.values()]
          .filter((s) => s.count > 0)
          .flatMap((s) => {
            // sharedLabels: formatted once per series by prom-client, as its own histograms do.
            let cumulative = 0;
            const shared = { sharedLabels: s.labels };
            const out: Array<{ metricName: string; labels: Record<string, string | number>; sharedLabels: RequestLabels; value: number }> = REQUEST_BUCKETS.map(
              (le, i) => ({ metricName: `${histogram.name}_bucket`, labels: { le }, ...shared, value: (cumulative += s.buckets[i]!) }),
            );
            out.push({ metricName: `${histogram.name}_bucket`, labels: { le: '+Inf' }, ...shared, value: s.count });
            out.push(
              { metricName: `${histogram.name}_sum`, labels: {}, ...shared, value: s.sum },
              { metricName: `${histogram.name}_count`, labels: {}, ...shared, value: s.count },
            );
            return out;
          }),
      }),
    };
    registry.registerMetric(counter as unknown as Metric);
    registry.registerMetric(histogram as unknown as Metric);
  }

  record(l: RequestLabels, code: number, seconds: number | undefined): void {
    const key = `${l.verb}|${l.dry_run}|${l.group}|${l.version}|${l.resource}|${l.subresource}|${l.scope}|${l.component}`;
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: { ...l }, codes: new Map(), buckets: new Float64Array(REQUEST_BUCKETS.length), sum: 0, count: 0 }));
    s.codes.set(code, (s.codes.get(code) ?? 0) + 1);
    if (seconds === undefined) return;
    s.count++;
    s.sum += seconds;
    let i = 0;
    while (i < REQUEST_BUCKETS.length && seconds > REQUEST_BUCKETS[i]!) i++;
    if (i < REQUEST_BUCKETS.length) s.buckets[i]!++;
  }
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: RequestMetrics;
  readonly longrunning: Gauge<string>;
  private readonly deviceRequests: Counter<string>;
  private readonly deviceLatency: Histogram<string>;
  private readonly onboardings: Counter<string>;
  private readonly renders: Counter<string>;
  private readonly renderLatency: Histogram<string>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new RequestMetrics(this.registry);
    this.longrunning = new Gauge({
      name: 'apiserver_longrunning_requests',
      help: 'Gauge of all active long-running apiserver requests (watches) broken out by verb, group, version, resource, scope and component.',
      labelNames: [...REQUEST_LABELS],
      registers,
    });
    this.deviceRequests = new Counter({
      name: 'kubeve_device_api_requests_total',
      help: 'Requests to the EVE device API by endpoint and HTTP status code.',
      labelNames: ['endpoint', 'code'],
      registers,
    });
    this.deviceLatency = new Histogram({
      name: 'kubeve_device_api_request_duration_seconds',
      help: 'Latency of EVE device API requests by endpoint.',
      labelNames: ['endpoint'],
      buckets: FAST_BUCKETS,
      registers,
    });
    this.onboardings = new Counter({
      name: 'kubeve_onboarding_total',
      help: 'Device registrations (onboarding) by result: registered, repeat, denied, conflict, invalid.',
      labelNames: ['result'],
      registers,
    });
    this.renders = new Counter({
      name: 'kubeve_config_renders_total',
      help: 'EdgeNode config renders by result: ok, problems (rendered, some references missing), error.',
      labelNames: ['result'],
      registers,
    });
    this.renderLatency = new Histogram({
      name: 'kubeve_config_render_duration_seconds',
      help: 'Time to render one EdgeNode config.',
      buckets: FAST_BUCKETS,
      registers,
    });
  }

  /** One finished API request (watches too: counted when they end, never in the latency histogram). */
  request(l: RequestLabels, code: number, seconds: number | undefined): void {
    this.requests.record(l, code, seconds);
  }

  deviceRequest(endpoint: string, code: number, seconds: number): void {
    this.deviceRequests.inc({ endpoint, code: String(code) });
    this.deviceLatency.observe({ endpoint }, seconds);
  }

  /** The view the device API is handed. */
  deviceApi(): DeviceApiMetrics {
    return { request: (e, c, s) => this.deviceRequest(e, c, s), onboarding: (r) => this.onboarding(r) };
  }

  onboarding(result: OnboardingResult): void {
    this.onboardings.inc({ result });
  }

  render(result: 'ok' | 'problems' | 'error', seconds: number): void {
    this.renders.inc({ result });
    this.renderLatency.observe(seconds);
  }

  /** A gauge whose values are computed at scrape time. */
  gaugeFrom(
    name: string,
    help: string,
    labelNames: string[],
    values: () => Promise<Array<[Record<string, string>, number]>> | Array<[Record<string, string>, number]>,
  ): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [labels, v] of await values()) this.set(labels, v);
      },
    });
  }

  /** The text exposition format (version 0.0.4). */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
