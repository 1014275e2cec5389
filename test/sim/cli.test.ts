// `kubeve sim` as a process: bootstrap files in, devices onboard, JSON statistics out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { startController } from './helpers.ts';

test('kubeve sim --bootstrap-dir onboards a small fleet and prints statistics', async () => {
  const c = await startController();
  try {
    const dir = path.join(c.dir, 'bootstrap');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'server'), `${c.server}\n`);
    fs.writeFileSync(path.join(dir, 'root-certificate.pem'), c.rootCertPem + '\n');
    fs.writeFileSync(path.join(dir, 'onboard.cert.pem'), c.onboard.certPem + '\n');
    fs.writeFileSync(path.join(dir, 'onboard.key.pem'), c.onboard.keyPem + '\n');
    const entry = path.join(import.meta.dirname, 'fixtures', 'sim-entry.ts');
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', entry, 'sim', '--bootstrap-dir', dir, '--count', '5', '--serial-prefix', 'cli-', '--time-scale', '30', '--duration', '6', '--json'],
        { timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(out.code, 0, out.stderr);
    const summary = JSON.parse(out.stdout) as { devices: number; phases: Record<string, number>; configsApplied: number; latencyMs: { p99: number } };
    assert.equal(summary.devices, 5);
    assert.equal(summary.phases.configured, 5, out.stderr);
    assert.equal(summary.configsApplied, 5);
    assert.ok(summary.latencyMs.p99 > 0);
    assert.match(out.stderr, /config applied 5/);
    assert.equal(c.api.listDevices().filter((d) => d.serial.startsWith('cli-')).length, 5);
  } finally {
    await c.close();
  }
});

test('kubeve sim explains missing bootstrap inputs', async () => {
  const entry = path.join(import.meta.dirname, 'fixtures', 'sim-entry.ts');
  const out = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', entry, 'sim', '--count', '1'], { timeout: 30_000 }, (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr }));
  });
  assert.notEqual(out.code, 0);
  assert.match(out.stderr, /--server/);
});
