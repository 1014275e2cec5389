// Progress display for large simulated fleets: one updating status line on a TTY, periodic
// plain lines otherwise (CI logs, files).
import type { FleetView } from './process-fleet.ts';

export function fleetStatusLine(f: FleetView, startedAt: number): string {
  const c = f.counts();
  const s = f.stats;
  const secs = Math.round((Date.now() - startedAt) / 1000);
  const lat = s.latency.count ? `p50 ${s.latency.quantile(0.5).toFixed(1)}ms p99 ${s.latency.quantile(0.99).toFixed(1)}ms` : 'p50 - p99 -';
  const parts = [
    `${secs}s ${f.size} devices`,
    `onboarding ${c.booting + c.onboarding + c.off}`,
    `registered ${c.registered}`,
    `config applied ${c.configured}`,
    ...(c.rebooting ? [`rebooting ${c.rebooting}`] : []),
    ...(c.offline ? [`offline ${c.offline}`] : []),
    `errors ${c.errors}`,
    `req ${s.requests}${s.networkErrors ? ` (net err ${s.networkErrors})` : ''}`,
    lat,
    `applied ${s.configsApplied} unchanged ${s.configsUnchanged}${s.rejectedEnvelopes ? ` rejected ${s.rejectedEnvelopes}` : ''}`,
  ];
  return parts.join(' | ');
}

export interface Progress {
  stop(final?: boolean): void;
}

export function startProgress(f: FleetView, out: NodeJS.WriteStream = process.stderr, opts: { intervalMs?: number; plainEveryMs?: number } = {}): Progress {
  const startedAt = Date.now();
  const tty = !!out.isTTY;
  const write = (final = false) => {
    const line = fleetStatusLine(f, startedAt);
    if (tty) out.write(`\r\x1b[K${line.slice(0, Math.max(20, (out.columns ?? 200) - 1))}${final ? '\n' : ''}`);
    else out.write(line + '\n');
  };
  // a multi-process fleet fetches its workers' counters first
  const tick = () =>
    void Promise.resolve(f.refresh?.()).then(
      () => write(),
      () => {},
    );
  const t = setInterval(tick, tty ? (opts.intervalMs ?? 250) : (opts.plainEveryMs ?? 10_000));
  return {
    stop(final = true) {
      clearInterval(t);
      if (final) write(true);
    },
  };
}
