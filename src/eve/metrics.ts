// Latest metrics sample per device, and the one before it (CPU counters are cumulative: a usage rate
// needs two samples, as `kubectl top` shows), in memory only (never in the resource store).
// Kept as the raw protobuf bytes (decoded on read) under a global byte budget: when the budget
// is exceeded the least recently updated devices lose their sample first.
import { fromBinary } from '@bufbuild/protobuf';
import { ZMetricMsgSchema, type ZMetricMsg } from './gen/metrics/metrics_pb.ts';

export interface MetricsSample {
  receivedAt: number;
  bytes: Uint8Array;
  /** The sample before this one, if any (never itself has a previous one). */
  previous?: { receivedAt: number; bytes: Uint8Array };
}

const sizeOf = (s: MetricsSample) => s.bytes.length + (s.previous?.bytes.length ?? 0);

export class MetricsStore {
  private readonly map = new Map<string, MetricsSample>();
  private total = 0;
  constructor(readonly maxBytes = 64 << 20) {}

  put(uuid: string, bytes: Uint8Array, now = Date.now()): void {
    const old = this.map.get(uuid);
    if (old) {
      this.total -= sizeOf(old);
      this.map.delete(uuid); // re-insert at the MRU end
    }
    const copy = Uint8Array.from(bytes); // do not pin the request buffer
    const sample: MetricsSample = { receivedAt: now, bytes: copy, previous: old && { receivedAt: old.receivedAt, bytes: old.bytes } };
    this.map.set(uuid, sample);
    this.total += sizeOf(sample);
    while (this.total > this.maxBytes && this.map.size > 1) {
      const [k, v] = this.map.entries().next().value!;
      this.map.delete(k);
      this.total -= sizeOf(v);
    }
  }

  /** Latest decoded sample, or undefined. */
  latest(uuid: string): { receivedAt: number; msg: ZMetricMsg } | undefined {
    const s = this.map.get(uuid);
    return s && { receivedAt: s.receivedAt, msg: fromBinary(ZMetricMsgSchema, s.bytes) };
  }

  /** The sample before the latest, decoded, or undefined. */
  previous(uuid: string): { receivedAt: number; msg: ZMetricMsg } | undefined {
    const s = this.map.get(uuid)?.previous;
    return s && { receivedAt: s.receivedAt, msg: fromBinary(ZMetricMsgSchema, s.bytes) };
  }

  delete(uuid: string): void {
    const s = this.map.get(uuid);
    if (s) {
      this.total -= sizeOf(s);
      this.map.delete(uuid);
    }
  }

  get bytes(): number {
    return this.total;
  }
  get size(): number {
    return this.map.size;
  }
}
