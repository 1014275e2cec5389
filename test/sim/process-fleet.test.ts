// A fleet spread over worker processes behaves as one fleet: every device onboards once with the
// serial a single process would give it, and the parent sees merged counters and latencies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessFleet } from '../../src/sim/process-fleet.ts';
import { startController } from './helpers.ts';

test('ProcessFleet: 7 devices in 2 workers onboard with contiguous serials and merged stats', async () => {
  const c = await startController();
  let fleet: ProcessFleet | undefined;
  try {
    fleet = await ProcessFleet.create({
      server: c.server,
      rootCertPem: c.rootCertPem,
      onboard: c.onboard,
      count: 7,
      procs: 2,
      serialPrefix: 'pf-',
      timeScale: 30,
      startSpreadMs: 500,
    });
    fleet.start();
    await fleet.waitFor((f) => f.counts().configured === 7, 60_000, 'all configured', 200);
    const serials = c.api
      .listDevices()
      .map((d) => d.serial)
      .filter((s) => s.startsWith('pf-'))
      .sort();
    assert.deepEqual(serials, ['pf-0000', 'pf-0001', 'pf-0002', 'pf-0003', 'pf-0004', 'pf-0005', 'pf-0006']);
    const s = fleet.stats;
    assert.equal(s.configsApplied, 7, 'each device applied its first config once');
    assert.equal(s.byEndpoint.get('register')?.count, 7, 'one registration per device across both workers');
    assert.equal(s.networkErrors, 0);
    assert.ok(s.latency.count >= 7 * 4 && s.latency.quantile(0.99) > 0, `merged latency histogram: ${s.latency.count}`);
    assert.equal(fleet.size, 7);
    // counters keep counting, latencies start over after a reset
    await fleet.resetLatency();
    await fleet.refresh();
    assert.equal(fleet.stats.latency.count <= 7 * 3, true, `latency after reset: ${fleet.stats.latency.count}`);
    assert.equal(fleet.stats.configsApplied, 7);
  } finally {
    await fleet?.stop();
    await c.close();
  }
});

test('ProcessFleet: a worker that cannot start its fleet fails create() with the reason', async () => {
  await assert.rejects(ProcessFleet.create({ server: '[::1', rootCertPem: 'x', count: 2, procs: 2 }), /bad server address/);
});
