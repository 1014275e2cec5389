// `kubeve sim` as a process: bootstrap files in, devices onboard, JSON statistics out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { startController } from './helpers.ts';

/** Run `kubeve sim` with bootstrap files for controller `c`; resolves with its exit code and output. */
async function runSim(c: Awaited<ReturnType<typeof startController>>, args: string[], { viaBin = false } = {}) {
  const dir = path.join(c.dir, 'bootstrap');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'server'), `${c.server}\n`);
  fs.writeFileSync(path.join(dir, 'root-certificate.pem'), c.rootCertPem + '\n');
  fs.writeFileSync(path.join(dir, 'onboard.cert.pem'), c.onboard.certPem + '\n');
  fs.writeFileSync(path.join(dir, 'onboard.key.pem'), c.onboard.keyPem + '\n');
  const entry = path.join(import.meta.dirname, 'fixtures', 'sim-entry.ts');
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    // bin/kubeve.js is what users run: it registers tsx in-process, so child processes must add it themselves
    const cmd = viaBin ? [path.join(import.meta.dirname, '..', '..', 'bin', 'kubeve.js')] : ['--import', 'tsx', entry];
    execFile(process.execPath, [...cmd, 'sim', '--bootstrap-dir', dir, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(out.code, 0, out.stderr);
  return {
    ...out,
    summary: JSON.parse(out.stdout) as { devices: number; phases: Record<string, number>; configsApplied: number; latencyMs: { p99: number } },
  };
}

test('kubeve sim --bootstrap-dir onboards a small fleet and prints statistics', async () => {
  const c = await startController();
  try {
    const { summary, stderr } = await runSim(c, ['--count', '5', '--serial-prefix', 'cli-', '--time-scale', '30', '--duration', '6', '--json']);
    assert.equal(summary.devices, 5);
    assert.equal(summary.phases.configured, 5, stderr);
    assert.equal(summary.configsApplied, 5);
    assert.ok(summary.latencyMs.p99 > 0);
    assert.match(stderr, /config applied 5/);
    assert.equal(c.api.listDevices().filter((d) => d.serial.startsWith('cli-')).length, 5);
  } finally {
    await c.close();
  }
});

test('kubeve sim --procs 2 (bin/kubeve.js) runs the fleet in two worker processes and reports it as one', async () => {
  const c = await startController();
  try {
    const { summary, stderr } = await runSim(c, ['--count', '6', '--procs', '2', '--serial-prefix', 'mp-', '--time-scale', '30', '--duration', '8', '--json'], {
      viaBin: true,
    });
    assert.match(stderr, /2 worker processes/);
    assert.equal(summary.devices, 6);
    assert.equal(summary.phases.configured, 6, stderr);
    assert.equal(summary.configsApplied, 6);
    assert.ok(summary.latencyMs.p99 > 0);
    const serials = c.api
      .listDevices()
      .map((d) => d.serial)
      .filter((s) => s.startsWith('mp-'))
      .sort();
    assert.deepEqual(serials, ['mp-0000', 'mp-0001', 'mp-0002', 'mp-0003', 'mp-0004', 'mp-0005']);
  } finally {
    await c.close();
  }
});

test('kubeve sim explains missing bootstrap inputs', async () => {
  const entry = path.join(import.meta.dirname, 'fixtures', 'sim-entry.ts');
  const out = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', entry, 'sim', '--count', '1'], { timeout: 30_000 }, (err, _o, stderr) =>
      resolve({ code: err ? 1 : 0, stderr }),
    );
  });
  assert.notEqual(out.code, 0);
  assert.match(out.stderr, /--server/);
});
