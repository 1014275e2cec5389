// A simulated fleet spread over several worker processes (src/sim/fleet-worker.ts), so a large
// fleet is not bound by one Node event loop: every worker runs a contiguous shard of device
// indexes with the same serial prefix and onboarding identity, and the parent merges their
// counters and latency histograms into one view.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PhaseCounts, SimFleetOptions } from './fleet.ts';
import { SimStats, type StatsSnapshot } from './stats.ts';
import { preferJemalloc } from './allocator.ts';
import type { SimAdapter } from './model.ts';

/** The serialisable part of SimFleetOptions, plus the fault knobs in plain form. */
export type WorkerFleetOptions = Omit<SimFleetOptions, 'knobs' | 'skewMs' | 'identities' | 'onCreateProgress' | 'hardware'> & {
  /** Passthrough adapters every device reports. */
  adapters?: SimAdapter[];
  /** Fault: downloads whose URL contains this fail. */
  failImage?: string;
  /** Fault: base OS versions containing this fail their test boot. */
  failUpdate?: string;
  /** Fault: every device clock is off by this many ms. */
  skewMs?: number;
};

/** The SimFleet options a WorkerFleetOptions stands for (fault knobs as functions again). */
export function toFleetOptions(o: WorkerFleetOptions): SimFleetOptions {
  const { failImage, failUpdate, skewMs, adapters, ...rest } = o;
  return {
    ...rest,
    ...(adapters?.length ? { hardware: () => ({ adapters }) } : {}),
    knobs: {
      ...(failImage ? { failImage: (ct: { url: string }) => ct.url.includes(failImage) } : {}),
      ...(failUpdate ? { failUpdate: (v: string) => v.includes(failUpdate) } : {}),
    },
    ...(skewMs ? { skewMs: () => skewMs } : {}),
  };
}

export type ToWorker =
  | { t: 'init'; opts: WorkerFleetOptions }
  | { t: 'start' }
  | { t: 'snapshot' }
  | { t: 'reset' }
  | { t: 'offline'; fraction: number; simMs: number }
  | { t: 'profile-start' }
  | { t: 'profile-stop'; file: string }
  | { t: 'stop' };

export interface WorkerSnapshot {
  t: 'snapshot';
  size: number;
  counts: PhaseCounts;
  stats: StatsSnapshot;
  /** No model state machine running and no info queued on any device. */
  quiescent: boolean;
  cpu: NodeJS.CpuUsage;
  rss: number;
  heapUsed: number;
  /** RSS and heap before the devices were created (after a GC when exposed). */
  baseRss: number;
  baseHeap: number;
  /** Event-loop delay since the last latency reset (ms). */
  loopDelayMs: { p99: number; max: number };
}

export type FromWorker = WorkerSnapshot | { t: 'done' } | { t: 'error'; message: string };

/** What a progress line or a benchmark needs of a fleet, in one process or many. */
export interface FleetView {
  readonly size: number;
  readonly stats: SimStats;
  counts(): PhaseCounts;
  /** Bring `stats` and `counts()` up to date (fleets in other processes). */
  refresh?(): Promise<unknown>;
}

export interface ProcessFleetOptions extends WorkerFleetOptions {
  /** Number of worker processes (devices are split as evenly as possible). */
  procs: number;
  /** Node flags for the workers (default: this process's execArgv, e.g. the tsx loader). */
  execArgv?: string[];
  /** Environment of the workers (default: this process's, with jemalloc preloaded when installed). */
  env?: NodeJS.ProcessEnv;
}

// Compiled (dist/*.js) the worker is JavaScript and needs no loader; from source it needs tsx.
const COMPILED = import.meta.url.endsWith('.js');
const WORKER = fileURLToPath(new URL(COMPILED ? './fleet-worker.js' : './fleet-worker.ts', import.meta.url));

/**
 * Node flags for a worker: this process's, minus those that must not be repeated in a child
 * (debugger, test runner), plus the tsx loader the worker's TypeScript needs when this process
 * registered it programmatically (bin/kubeve.js) rather than with --import.
 */
function inheritedFlags(): string[] {
  const flags = process.execArgv.filter((a) => !a.startsWith('--inspect') && !a.startsWith('--test'));
  const hasTsx = flags.some(
    (a, i) => /tsx/.test(a) && (a.startsWith('--import') || a.startsWith('--loader') || /^--(import|loader|require)$/.test(flags[i - 1] ?? '')),
  );
  return hasTsx || COMPILED ? flags : [...flags, '--import', 'tsx'];
}

class Worker {
  private waiters: ((m: FromWorker) => void)[] = [];
  exited = false;
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: FromWorker) => {
      const w = this.waiters.shift();
      if (w) w(m);
    });
    child.on('error', () => {}); // IPC to a dead worker; 'exit' reports it to the waiters
    child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w({ t: 'error', message: `simulator worker ${child.pid} exited` });
    });
  }

  /** Send a message and wait for the reply (workers answer requests in order). */
  ask(m: ToWorker): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`simulator worker ${this.child.pid} has exited`));
      this.waiters.push((r) => (r.t === 'error' ? reject(new Error(r.message)) : resolve(r)));
      // a worker that died between the check and the send: its exit handler answers the waiter
      this.child.send(m, () => {});
    });
  }
}

export class ProcessFleet implements FleetView {
  private merged = new SimStats();
  private last: WorkerSnapshot[] = [];
  private phaseCounts: PhaseCounts | undefined;

  private constructor(
    private readonly workers: Worker[],
    readonly size: number,
  ) {}

  /** Fork the workers and create every device's keys; resolves when all are ready to power on. */
  static async create(o: ProcessFleetOptions): Promise<ProcessFleet> {
    const procs = Math.max(1, Math.min(o.procs, o.count));
    const { procs: _p, execArgv, env, ...fleetOpts } = o;
    const workers: Worker[] = [];
    let first = o.firstIndex ?? 0;
    // every worker spreads its power-on over the same window, so the fleet's boot rate is even
    const spread = o.startSpreadMs ?? Math.min(o.count * 5, 30_000);
    // serial width of the whole fleet, so shards name devices exactly as one process would
    const serialWidth = o.serialWidth ?? Math.max(4, String(first + o.count - 1).length);
    const inits: WorkerFleetOptions[] = [];
    for (let i = 0; i < procs; i++) {
      const count = Math.floor(o.count / procs) + (i < o.count % procs ? 1 : 0);
      const child = fork(WORKER, [], { execArgv: execArgv ?? inheritedFlags(), env: env ?? preferJemalloc(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(new Worker(child));
      inits.push({ ...fleetOpts, count, firstIndex: first, startSpreadMs: spread, serialWidth });
      first += count;
    }
    const fleet = new ProcessFleet(workers, o.count);
    try {
      await Promise.all(workers.map((w, i) => w.ask({ t: 'init', opts: inits[i]! })));
    } catch (e) {
      await fleet.stop();
      throw e;
    }
    return fleet;
  }

  start(): void {
    for (const w of this.workers) w.child.send({ t: 'start' } satisfies ToWorker);
  }

  /** Fetch every worker's counters and merge them into `stats` / `counts()`. */
  async refresh(): Promise<WorkerSnapshot[]> {
    const snaps = (await Promise.all(this.workers.map((w) => w.ask({ t: 'snapshot' })))) as WorkerSnapshot[];
    const stats = new SimStats();
    const counts = { ...snaps[0]!.counts };
    for (const [i, s] of snaps.entries()) {
      stats.mergeSnapshot(s.stats);
      if (i > 0) for (const k of Object.keys(counts) as (keyof PhaseCounts)[]) counts[k] += s.counts[k];
    }
    this.merged = stats;
    this.phaseCounts = counts;
    this.last = snaps;
    return snaps;
  }

  /** The workers' stats merged, as of the last refresh(). */
  get stats(): SimStats {
    return this.merged;
  }

  counts(): PhaseCounts {
    if (!this.phaseCounts) throw new Error('ProcessFleet: refresh() first');
    return this.phaseCounts;
  }

  /** True when every device is configured and no worker has model work or info pending. */
  get quiescent(): boolean {
    return this.last.length > 0 && this.last.every((s) => s.quiescent);
  }

  /** Poll every `pollMs` until `pred` holds. */
  async waitFor(pred: (f: ProcessFleet) => boolean, timeoutMs = 60_000, what = 'fleet condition', pollMs = 1000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      await this.refresh();
      if (pred(this)) return;
      if (Date.now() > end) throw new Error(`fleet: timed out waiting for ${what}: ${JSON.stringify(this.counts())}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Latency histograms back to empty in every worker (start of a measurement window). */
  async resetLatency(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.ask({ t: 'reset' })));
  }

  offlineOnceConfigured(fraction: number, simMs: number): void {
    for (const w of this.workers) w.child.send({ t: 'offline', fraction, simMs } satisfies ToWorker);
  }

  async profile(on: boolean, fileFor: (i: number) => string = (i) => `simulator-${i}.cpuprofile`): Promise<void> {
    await Promise.all(this.workers.map((w, i) => w.ask(on ? { t: 'profile-start' } : { t: 'profile-stop', file: fileFor(i) })));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.exited) return;
        const exited = new Promise((r) => w.child.once('exit', r));
        await w.ask({ t: 'stop' }).catch(() => w.child.kill());
        await exited;
      }),
    );
  }
}
