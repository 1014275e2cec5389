// What replicas share through the store, in-process: the first replica of an installation
// publishes its data directory's device PKI, devices and API credentials; a second replica on an
// empty data directory adopts them (same device root, same devices, same admin token and CA) and
// follows; a clean stop of the leader hands the controllers over at once.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.ts';
import { EtcdStorage } from '../../src/apiserver/storage/etcd.ts';
import { startDeviceApi } from '../../src/eve/device-api.ts';
import { issueOnboardingCert } from '../../src/eve/pki.ts';
import { startKubeve, type Kubeve } from '../../src/server/kubeve.ts';
import { InProcessClient } from '../../src/controllers/runtime/index.ts';
import { eventually } from '../eve-e2e/helpers.ts';

let etcd: EtcdCluster;
let dir: string;
const running: Kubeve[] = [];
before(async () => {
  etcd = await startEtcd(1);
  dir = mkdtempSync(join(tmpdir(), 'kubeve-ha-state-'));
});
after(async () => {
  for (const k of running) await k.close().catch(() => undefined);
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
});

const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const b64 = (s: string) => Buffer.from(s, 'base64').toString();

async function replica(dataDir: string): Promise<Kubeve> {
  const storage = await EtcdStorage.open({ endpoints: etcd.endpoints, prefix: '/shared-state' });
  const k = await startKubeve({ dataDir, storage, port: 0, devicePort: 0, deviceHost: '127.0.0.1', replicas: {} });
  running.push(k);
  return k;
}

test('the first replica publishes its device PKI, devices and API credentials; a second one adopts them and follows; a clean stop hands over at once', async () => {
  // A data directory that already serves a device (as a single server's would).
  const dataA = join(dir, 'a');
  const local = await startDeviceApi({ dataDir: dataA, port: 0, host: '127.0.0.1', hooks: { admitOnboarding: () => 'deny' } });
  const cert = await issueOnboardingCert(local.pki);
  const dev = local.addDevice({ deviceCertPem: cert.certPem, serial: 'before-etcd' });
  const root = local.pki.root.certPem;
  await local.close();

  const a = await replica(dataA);
  await eventually(() => a.leading(), 20_000, 'A leads');
  const client = new InProcessClient(a.api.service, a.api.registry);
  const pki = await client.get(SECRETS, 'kube-system', 'kubeve-pki');
  assert.ok(
    Object.values(pki.data as Record<string, string>).some((v) => b64(v).trim() === root.trim()),
    "the published PKI is the data directory's: devices keep their pinned root",
  );
  const state = await client.get(SECRETS, 'kube-system', `eve-device-${dev.uuid}`);
  assert.equal(b64(state.data.serial), 'before-etcd');
  assert.equal(b64(state.data.deviceCertificate).trim(), cert.certPem.trim());
  await client.get(SECRETS, 'kube-system', 'kubeve-apiserver-credentials');

  const b = await replica(join(dir, 'b'));
  assert.equal(b.device.pki.root.certPem, root, 'B serves devices with the same root');
  assert.equal(b.device.getDevice(dev.uuid)?.serial, 'before-etcd', 'B knows the device');
  assert.equal(b.api.adminToken, a.api.adminToken, 'one admin token');
  assert.equal(b.api.caPem, a.api.caPem, 'one CA');
  assert.equal(
    readFileSync(join(dir, 'b', 'pki', 'sa.key'), 'utf8'),
    readFileSync(join(dataA, 'pki', 'sa.key'), 'utf8'),
    'ServiceAccount tokens are valid on both',
  );
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(b.leading(), false, 'B follows while A leads');
  assert.equal(b.eve, undefined, 'no EVE controllers on the follower');

  const stoppedAt = Date.now();
  await a.close();
  running.splice(running.indexOf(a), 1);
  await eventually(() => b.leading(), 10_000, "B leads after A's clean stop");
  assert.ok(Date.now() - stoppedAt < 5_000, `a clean stop hands over within a few retry periods (${Date.now() - stoppedAt} ms)`);
});

test('kubeve server refuses Lease timings that cannot work, with exit code 2 and the rule', async () => {
  const { execFile } = await import('node:child_process');
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'server', '--data-dir', join(dir, 'never'), '--leader-elect-lease-duration', '5s'],
      (err, _out, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
      },
    );
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--leader-elect-lease-duration \(5s\) must be longer than --leader-elect-renew-deadline \(7s\)/);
});
