// NodeMetrics and PodMetrics (metrics.k8s.io/v1beta1, what `kubectl top` reads) computed from the
// metrics EVE devices upload: a node's usage from the device metric (cpuMetric, memory), a pod's from
// the app metric whose AppID is the pod's UID. EVE's CPU counters are cumulative seconds, so usage is
// the rate between the last two samples (as metrics-server does between two scrapes) when they are at
// least MIN_RATE_WINDOW_MS apart (EVE's device counter counts whole seconds: over a shorter window the
// rate is mostly rounding); otherwise the average since the device or app started. Memory is the used
// MB the device reports.

import type { KObject, ReadOnlySource } from '../../apiserver/resource.ts';
import type { SharedInformerFactory } from '../runtime/index.ts';
import type { ZMetricMsg } from '../../eve/gen/metrics/metrics_pb.ts';
import { NODES, boundPods, rfc3339 } from './resources.ts';

/** What the device API keeps per device (src/eve/metrics.ts MetricsStore). */
export interface MetricsSamples {
  latest(uuid: string): { receivedAt: number; msg: ZMetricMsg } | undefined;
  previous(uuid: string): { receivedAt: number; msg: ZMetricMsg } | undefined;
}

interface Cpu {
  /** Cumulative CPU seconds. */
  seconds: number;
  /** When the counter started (ms), if reported. */
  startedMs?: number;
}

interface Sample {
  atMs: number;
  node?: { cpu?: Cpu; memoryMB?: number };
  apps: Map<string, { cpu?: Cpu; memoryMB?: number }>;
}

const tsMs = (t: { seconds: bigint; nanos: number } | undefined): number | undefined =>
  t && t.seconds > 0n ? Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) : undefined;

function cpuOf(m: { total: bigint; totalNs: bigint; upTime?: { seconds: bigint; nanos: number } } | undefined): Cpu | undefined {
  if (!m) return undefined;
  return { seconds: m.totalNs > 0n ? Number(m.totalNs) / 1e9 : Number(m.total), startedMs: tsMs(m.upTime) };
}

function sampleOf(s: { receivedAt: number; msg: ZMetricMsg }): Sample {
  const msg = s.msg;
  const dm = msg.MetricContent.case === 'dm' ? msg.MetricContent.value : undefined;
  const apps = new Map<string, { cpu?: Cpu; memoryMB?: number }>();
  for (const a of msg.am) apps.set(a.AppID.toLowerCase(), { cpu: cpuOf(a.cpu), memoryMB: a.appMemory?.usedMB });
  return { atMs: tsMs(msg.atTimeStamp) ?? s.receivedAt, node: dm && { cpu: cpuOf(dm.cpuMetric), memoryMB: dm.memory?.usedMem }, apps };
}

const MIN_RATE_WINDOW_MS = 15_000;

/** Cores used between two readings of a cumulative counter, or since it started; and the window (ms). */
function rate(now: Cpu | undefined, atMs: number, before: Cpu | undefined, beforeMs: number | undefined): { cores: number; windowMs: number } | undefined {
  if (!now) return undefined;
  if (before && beforeMs !== undefined && atMs - beforeMs >= MIN_RATE_WINDOW_MS && now.seconds >= before.seconds) {
    return { cores: (now.seconds - before.seconds) / ((atMs - beforeMs) / 1000), windowMs: atMs - beforeMs };
  }
  if (now.startedMs !== undefined && atMs > now.startedMs) return { cores: now.seconds / ((atMs - now.startedMs) / 1000), windowMs: atMs - now.startedMs };
  return undefined;
}

/** Quantities as metrics-server writes them: cpu in nanocores, memory in Ki. */
const cpuQuantity = (cores: number) => `${Math.max(0, Math.round(cores * 1e9))}n`;
const memoryQuantity = (mb: number | undefined) => `${Math.max(0, Math.round((mb ?? 0) * 1024))}Ki`;

/** A Go time.Duration string (what metav1.Duration serialises to): 1m0.5s, 10s, 250ms. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = +((ms % 60_000) / 1000).toFixed(3);
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

export interface MetricsSourceOptions {
  samples: MetricsSamples;
  /** Device UUID of an EVE node, or undefined when the node is not one. */
  deviceUuidOf(node: string): string | undefined;
}

export class DeviceMetricsSource {
  constructor(
    private readonly informers: SharedInformerFactory,
    private readonly o: MetricsSourceOptions,
  ) {
    informers.informerFor(NODES);
    boundPods(informers);
  }

  private samples(uuid: string): { now: Sample; before?: Sample } | undefined {
    const latest = this.o.samples.latest(uuid);
    if (!latest) return undefined;
    const prev = this.o.samples.previous(uuid);
    return { now: sampleOf(latest), before: prev && sampleOf(prev) };
  }

  nodeMetrics(node: KObject): KObject | undefined {
    const name = node.metadata.name as string;
    const uuid = this.o.deviceUuidOf(name);
    const s = uuid && this.samples(uuid);
    if (!s || !s.now.node) return undefined;
    const cpu = rate(s.now.node.cpu, s.now.atMs, s.before?.node?.cpu, s.before?.atMs);
    if (!cpu) return undefined;
    return {
      kind: 'NodeMetrics',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: { name, creationTimestamp: rfc3339(), labels: { ...node.metadata.labels } },
      timestamp: rfc3339(s.now.atMs),
      window: goDuration(cpu.windowMs),
      usage: { cpu: cpuQuantity(cpu.cores), memory: memoryQuantity(s.now.node.memoryMB) },
    };
  }

  podMetrics(pod: KObject): KObject | undefined {
    const node = String(pod.spec?.nodeName ?? '');
    const uuid = node ? this.o.deviceUuidOf(node) : undefined;
    const s = uuid && this.samples(uuid);
    const uid = String(pod.metadata.uid).toLowerCase();
    const app = s && s.now.apps.get(uid);
    if (!s || !app) return undefined;
    const cpu = rate(app.cpu, s.now.atMs, s.before?.apps.get(uid)?.cpu, s.before?.atMs);
    if (!cpu) return undefined;
    return {
      kind: 'PodMetrics',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, creationTimestamp: rfc3339(), labels: { ...pod.metadata.labels } },
      timestamp: rfc3339(s.now.atMs),
      window: goDuration(cpu.windowMs),
      // An EVE app is one container (pod-support.ts refuses more).
      containers: [{ name: pod.spec.containers?.[0]?.name ?? pod.metadata.name, usage: { cpu: cpuQuantity(cpu.cores), memory: memoryQuantity(app.memoryMB) } }],
    };
  }

  /** The two read-only sources metricsResources() (src/api/builtin/metrics.ts) serves. */
  sources(): { nodes: ReadOnlySource; pods: ReadOnlySource } {
    const nodes = this.informers.informerFor(NODES).store;
    const pods = boundPods(this.informers).store;
    const some = <T>(xs: (T | undefined)[]) => xs.filter((x): x is T => x !== undefined);
    return {
      nodes: {
        get: (_ns, name) => {
          const n = nodes.get(name);
          return n && this.nodeMetrics(n);
        },
        list: () => some(nodes.list().map((n) => this.nodeMetrics(n))),
      },
      pods: {
        get: (ns, name) => {
          const p = pods.getByName(ns, name);
          return p && this.podMetrics(p);
        },
        list: (ns) =>
          some(
            pods
              .list()
              .filter((p) => ns === undefined || p.metadata.namespace === ns)
              .map((p) => this.podMetrics(p)),
          ),
      },
    };
  }
}
