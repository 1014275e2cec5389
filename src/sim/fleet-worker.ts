// One worker process of a ProcessFleet: runs a SimFleet shard and answers the parent's requests
// over IPC, strictly in order (init creates the device keys before anything else is answered).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SimFleet } from './fleet.ts';
import { toFleetOptions, type FromWorker, type ToWorker, type WorkerFleetOptions, type WorkerSnapshot } from './process-fleet.ts';
import { startCpuProfile, type CpuProfile } from './cpu-profile.ts';

let fleet: SimFleet | undefined;
let baseRss = 0;
let baseHeap = 0;
let profile: CpuProfile | undefined;
// event-loop delay of this worker: a stalled simulator loop shows up as request latency
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function reply(m: FromWorker): void {
  process.send!(m);
}

async function init(o: WorkerFleetOptions): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const mem = process.memoryUsage();
  baseRss = mem.rss;
  baseHeap = mem.heapUsed;
  fleet = await SimFleet.create(toFleetOptions(o));
}

function snapshot(f: SimFleet): WorkerSnapshot {
  const mem = process.memoryUsage();
  return {
    t: 'snapshot',
    size: f.size,
    counts: f.counts(),
    stats: f.stats.snapshot(),
    quiescent: f.quiescent,
    cpu: process.cpuUsage(),
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    baseRss,
    baseHeap,
    loopDelayMs: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
  };
}

async function handle(m: ToWorker): Promise<void> {
  if (m.t === 'init') {
    await init(m.opts);
    return reply({ t: 'done' });
  }
  const f = fleet;
  if (!f) throw new Error('simulator worker: not initialised');
  switch (m.t) {
    case 'start':
      return f.start();
    case 'snapshot':
      return reply(snapshot(f));
    case 'reset':
      f.stats.resetLatency();
      loopDelay.reset();
      return reply({ t: 'done' });
    case 'offline':
      return f.offlineOnceConfigured(m.fraction, m.simMs);
    case 'profile-start':
      profile = await startCpuProfile();
      return reply({ t: 'done' });
    case 'profile-stop':
      await profile?.stop(m.file);
      profile = undefined;
      return reply({ t: 'done' });
    case 'stop':
      await f.stop();
      reply({ t: 'done' });
      process.disconnect();
      return;
  }
}

let queue = Promise.resolve();
process.on('message', (m: ToWorker) => {
  queue = queue.then(() => handle(m)).catch((e: unknown) => reply({ t: 'error', message: (e as Error)?.message ?? String(e) }));
});
// Ctrl-C reaches the whole process group: the parent stops the workers and reports, so ignore it here
process.on('SIGINT', () => {});
// the parent went away: nothing left to simulate for
process.on('disconnect', () => {
  void (fleet?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
