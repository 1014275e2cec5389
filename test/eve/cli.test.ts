import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Command } from 'commander';
import { registerEveCommands, splitServer } from '../../src/eve/cli.ts';
import { OnboardingAllowList, createDeviceCert, startDeviceApi, onboardCertHash } from '../../src/eve/index.ts';
import { TestDevice, tmpDir } from './helpers.ts';

test('splitServer', () => {
  assert.deepEqual(splitServer('ctrl.example:8443'), { host: 'ctrl.example', port: 8443 });
  assert.deepEqual(splitServer('[::1]:9'), { host: '::1', port: 9 });
  assert.deepEqual(splitServer('10.0.0.1'), { host: '10.0.0.1' });
});

test('kubeve bootstrap writes a working EVE /config set; a device using only those files onboards', async () => {
  const dataDir = tmpDir();
  const out = path.join(tmpDir(), 'config');
  const admit = {
    admitOnboarding: (r: Parameters<OnboardingAllowList['admit']>[0]) => new OnboardingAllowList(path.join(dataDir, 'eve', 'onboarding.json')).admit(r),
  };
  // Start the device API first to learn a free port, then bootstrap for that address.
  const api = await startDeviceApi({ dataDir, host: '127.0.0.1', port: 0, tlsHosts: ['127.0.0.1'], hooks: admit });
  try {
    const program = new Command().exitOverride();
    registerEveCommands(program);
    const log = console.log;
    console.log = () => {};
    try {
      await program.parseAsync(['bootstrap', '--data-dir', dataDir, '--server', `localhost:${api.port}`, '--out', out, '--allow-serial', 'SN-BOOT'], {
        from: 'user',
      });
    } finally {
      console.log = log;
    }
    assert.deepEqual(fs.readdirSync(out).sort(), ['onboard.cert.pem', 'onboard.key.pem', 'onboardingkey.yaml', 'root-certificate.pem', 'server']);
    assert.equal(fs.readFileSync(path.join(out, 'server'), 'utf8').trim(), `localhost:${api.port}`);
    assert.equal(fs.statSync(path.join(out, 'onboard.key.pem')).mode & 0o077, 0);
    assert.equal(fs.readFileSync(path.join(out, 'root-certificate.pem'), 'latin1').trim(), api.pki.root.certPem);
    const obPem = fs.readFileSync(path.join(out, 'onboard.cert.pem'), 'latin1');
    assert.equal(new OnboardingAllowList(path.join(dataDir, 'eve', 'onboarding.json')).list()[0]?.onboardCertHash, onboardCertHash(obPem));
  } finally {
    await api.close();
  }
  // Restart so the TLS cert now also covers "localhost" (bootstrap added it), as an operator would.
  const api2 = await startDeviceApi({ dataDir, host: '127.0.0.1', port: 0, hooks: admit });
  try {
    const rootPem = fs.readFileSync(path.join(out, 'root-certificate.pem'), 'latin1');
    const obPem = fs.readFileSync(path.join(out, 'onboard.cert.pem'), 'latin1');
    const obKey = crypto.createPrivateKey(fs.readFileSync(path.join(out, 'onboard.key.pem'), 'latin1'));
    const d = new TestDevice(`localhost:${api2.port}`, rootPem, await createDeviceCert(), { certPem: obPem, keyPem: '', key: obKey }, 'SN-BOOT');
    await d.onboardFully(); // TLS verified against root-certificate.pem with host name "localhost"
    assert.match(d.uuid, /^[0-9a-f-]{36}$/);
  } finally {
    await api2.close();
  }
});
