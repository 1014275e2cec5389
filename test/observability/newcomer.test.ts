// What a newcomer hits first: `kubeve bootstrap` hands them an OnboardingKey manifest that kubectl
// applies as is, and moving the server to another address re-issues its certificate instead of
// breaking kubectl with an x509 error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startKubeve } from '../../src/server/kubeve.ts';
import { startApiServer } from '../../src/server/apiserver.ts';
import { writeBootstrapFiles } from '../../src/eve/cli.ts';

function kubectl(dir: string, kubeconfig: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'kubectl',
      args,
      { env: { ...process.env, HOME: join(dir, 'home'), KUBECONFIG: kubeconfig, KUBECACHEDIR: join(dir, 'home', 'cache') }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
      },
    );
  });
}

test('bootstrap writes an OnboardingKey manifest kubectl applies; a new --host re-issues the serving certificate', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-newcomer-'));
  const dataDir = join(dir, 'data');
  try {
    const k = await startKubeve({ dataDir, port: 0, devicePort: 0, deviceHost: '127.0.0.1' });
    const kubeconfig = k.api.kubeconfigPath;
    try {
      const out = join(dir, 'eve-config');
      await writeBootstrapFiles({ dataDir, server: `localhost:${k.device.port}`, out, allowSerial: ['SN-1', 'SN-2'], keyName: 'batch-1' });
      const applied = await kubectl(dir, kubeconfig, ['apply', '-f', join(out, 'onboardingkey.yaml')]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /onboardingkey\.eve\.kubeve\.io\/batch-1 created/);
      const key = JSON.parse((await kubectl(dir, kubeconfig, ['get', 'onboardingkey', 'batch-1', '-o', 'json'])).stdout);
      assert.equal(key.spec.certificate.trim(), readFileSync(join(out, 'onboard.cert.pem'), 'utf8').trim());
      assert.equal(key.spec.autoEnroll, true);
      assert.deepEqual(key.spec.serials, ['SN-1', 'SN-2']);
    } finally {
      await k.close();
    }

    // Restart on another address: the kubeconfig now points there, and the certificate names it.
    const before = new X509Certificate(readFileSync(join(dataDir, 'pki', 'apiserver.crt')));
    assert.equal(before.checkIP('127.0.0.2'), undefined);
    const moved = await startApiServer({ dataDir, host: '127.0.0.2', port: 0 });
    try {
      assert.match(moved.url, /^https:\/\/127\.0\.0\.2:/);
      const r = await kubectl(dir, moved.kubeconfigPath, ['get', 'namespaces', '-o', 'name']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /namespace\/default/);
      const after = new X509Certificate(readFileSync(join(dataDir, 'pki', 'apiserver.crt')));
      assert.equal(after.checkIP('127.0.0.2'), '127.0.0.2');
      // The names it had still work (clients with an old kubeconfig), and the CA is the same.
      assert.equal(after.checkIP('127.0.0.1'), '127.0.0.1');
      assert.equal(after.checkHost('localhost'), 'localhost');
      assert.equal(after.issuer, before.issuer);
      assert.ok(after.verify(new X509Certificate(readFileSync(join(dataDir, 'pki', 'ca.crt'))).publicKey));
    } finally {
      await moved.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
