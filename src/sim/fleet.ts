// A fleet of simulated devices sharing one process: each with its own serial, device key and
// certificate, TLS session and state; one shared TLS context (unless client certs are on), one
// shared clock (unless a device has clock skew), fleet-wide stats.
import type tls from 'node:tls';
import { createDeviceCert } from '../eve/pki.ts';
import { SimClock } from './clock.ts';
import { SimDevice, type Identity, type SimDeviceOptions, type SimIntervals, type SimPhase } from './device.ts';
import type { HardwareProfile, ModelKnobs } from './model.ts';
import { SimStats } from './stats.ts';
import { createSharedContext } from './transport.ts';

export interface SimFleetOptions {
  server: string;
  rootCertPem: string;
  onboard?: Identity;
  count: number;
  /** Serial = prefix + zero-padded index (default "sim-"). */
  serialPrefix?: string;
  /** Index of the first device (default 0): lets several processes share one onboarding key. */
  firstIndex?: number;
  /** Digits of the serial's index (default: enough for this fleet, at least 4). */
  serialWidth?: number;
  timeScale?: number;
  intervals?: SimIntervals;
  knobs?: ModelKnobs;
  /** Hardware overrides by device index (e.g. passthrough adapters). */
  hardware?: (index: number) => Partial<HardwareProfile>;
  /** Fault knobs of one device (by index in this fleet), instead of the fleet's knobs. */
  knobsFor?: (index: number) => ModelKnobs | undefined;
  /** Per-device clock skew in ms (fault knob), by device index. */
  skewMs?: (index: number) => number;
  clientCerts?: boolean;
  eveVersion?: string;
  logs?: boolean;
  metrics?: boolean;
  attestation?: boolean;
  stepMs?: number;
  rebootMs?: number;
  requestTimeoutMs?: number;
  /** Spread the power-on of the fleet over this many real ms (default min(count × 5, 30 000)). */
  startSpreadMs?: number;
  /** Existing device identities by index (otherwise generated). */
  identities?: Identity[];
  /** Called while device certificates are generated. */
  onCreateProgress?: (done: number, total: number) => void;
}

export type PhaseCounts = Record<SimPhase, number> & { errors: number; offline: number };

export class SimFleet {
  readonly devices: SimDevice[];
  readonly stats = new SimStats();
  readonly clock: SimClock;
  private readonly startTimers: NodeJS.Timeout[] = [];

  private constructor(
    readonly opts: SimFleetOptions,
    devices: SimDevice[],
    clock: SimClock,
  ) {
    this.devices = devices;
    this.clock = clock;
  }

  static async create(o: SimFleetOptions): Promise<SimFleet> {
    const clock = new SimClock({ timeScale: o.timeScale });
    const shared: tls.SecureContext = createSharedContext(o.rootCertPem);
    const prefix = o.serialPrefix ?? 'sim-';
    const width = o.serialWidth ?? Math.max(4, String((o.firstIndex ?? 0) + o.count - 1).length);
    const fleet = new SimFleet(o, [], clock);
    const identities: Identity[] = [];
    const batch = 64;
    for (let i = 0; i < o.count; i += batch) {
      const n = Math.min(batch, o.count - i);
      const made = await Promise.all(
        Array.from(
          { length: n },
          (_, j) => o.identities?.[i + j] ?? createDeviceCert({ cn: `${prefix}${String((o.firstIndex ?? 0) + i + j).padStart(width, '0')}` }),
        ),
      );
      identities.push(...made.map((c) => ({ certPem: c.certPem, keyPem: c.keyPem })));
      o.onCreateProgress?.(identities.length, o.count);
    }
    for (let i = 0; i < o.count; i++) {
      const idx = (o.firstIndex ?? 0) + i;
      const skew = o.skewMs?.(i) ?? 0;
      const d: SimDeviceOptions = {
        serial: `${prefix}${String(idx).padStart(width, '0')}`,
        server: o.server,
        rootCertPem: o.rootCertPem,
        onboard: o.onboard,
        device: identities[i]!,
        clock: skew ? new SimClock({ timeScale: o.timeScale, skewMs: skew }) : clock,
        intervals: o.intervals,
        knobs: o.knobsFor?.(i) ?? o.knobs,
        hardware: o.hardware?.(i),
        fleetStats: fleet.stats,
        sharedContext: shared,
        clientCerts: o.clientCerts,
        eveVersion: o.eveVersion,
        logs: o.logs,
        metrics: o.metrics,
        attestation: o.attestation,
        stepMs: o.stepMs,
        rebootMs: o.rebootMs,
        requestTimeoutMs: o.requestTimeoutMs,
      };
      fleet.devices.push(new SimDevice(d));
    }
    return fleet;
  }

  /** Power the fleet on, spread over `startSpreadMs` real ms (devices do not all boot at once). */
  start(): void {
    const spread = this.opts.startSpreadMs ?? Math.min(this.devices.length * 5, 30_000);
    this.devices.forEach((d, i) => {
      const at = this.devices.length > 1 ? (spread * i) / (this.devices.length - 1) : 0;
      if (at <= 0) d.start();
      else {
        const t = setTimeout(() => d.start(), at);
        t.unref();
        this.startTimers.push(t);
      }
    });
  }

  async stop(): Promise<void> {
    for (const t of this.startTimers) clearTimeout(t);
    await Promise.all(this.devices.map((d) => d.stop()));
    this.clock.stop();
  }

  /** Every device configured, no model state machine running, no info queued. */
  get quiescent(): boolean {
    return this.devices.every((d) => d.phase === 'configured' && !d.model.busy() && d.pendingInfo === 0);
  }

  get size(): number {
    return this.devices.length;
  }

  byserial(serial: string): SimDevice | undefined {
    return this.devices.find((d) => d.serial === serial);
  }

  counts(): PhaseCounts {
    const c: PhaseCounts = { off: 0, booting: 0, onboarding: 0, registered: 0, configured: 0, rebooting: 0, stopped: 0, errors: 0, offline: 0 };
    for (const d of this.devices) {
      c[d.phase]++;
      if (d.lastError) c.errors++;
      if (d.offline) c.offline++;
    }
    return c;
  }

  /** Resolve when `pred()` holds for the fleet (polled every 50 ms). */
  async waitFor(pred: (f: SimFleet) => boolean, timeoutMs = 60_000, what = 'fleet condition'): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred(this)) {
      if (Date.now() > end) throw new Error(`fleet: timed out waiting for ${what}: ${JSON.stringify(this.counts())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Fault: once the first device has its config, take a random fraction offline for `simMs`. */
  offlineOnceConfigured(fraction: number, simMs: number): void {
    void this.waitFor((f) => f.counts().configured > 0, 24 * 3600_000)
      .then(() => this.offlinePeriod(fraction, simMs))
      .catch(() => {});
  }

  /** Fault: take a random fraction of the fleet offline for `simMs`. */
  offlinePeriod(fraction: number, simMs: number, random: () => number = Math.random): SimDevice[] {
    const picked = this.devices.filter(() => random() < fraction);
    for (const d of picked) d.setOffline(true, simMs);
    return picked;
  }
}
