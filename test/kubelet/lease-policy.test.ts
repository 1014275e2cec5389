// The Lease policy a real cluster needs (operator mode): the bridge vouches for an in-contact device
// every renew interval (renewTime = now, leaseDurationSeconds = a kubelet's 40), so a node-lifecycle
// controller with a 40–50 s grace period never sees a polling device as dead; a silent device's Lease is
// left to expire. (The embedded default, renewTime = last contact at most once a minute, is covered by
// nodes-pods.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';

let env: EveTestEnv;
let fleet: SimFleet;
const lease = async (n: string) => JSON.parse(await env.ok(['get', 'lease', n, '-n', 'kube-node-lease', '-o', 'json']));

before(async () => {
  // Renewals only when the test ticks (a real-time pass in between would race the counts).
  env = await startEveEnv({ kubelet: { leasePolicy: 'vouch', tickMs: 3_600_000 } });
  await env.apply(onboardingKeyYaml('lp-key', env.onboard.certPem));
  fleet = await env.fleet({ count: 2, serialPrefix: 'lp-' });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 2, 60_000, '2 configured devices');
});
after(async () => {
  await env?.close();
});

test('vouch policy: renewed every 10 s to "now" while the device is in contact, 40 s duration; a silent device is not vouched for', async () => {
  const l0 = await eventually(
    async () => (await env.kubectl(['get', 'lease', 'lp-0000', '-n', 'kube-node-lease'])).code === 0 && lease('lp-0000'),
    20_000,
    'lease',
  );
  assert.equal(l0.spec.leaseDurationSeconds, 40);
  const leases = env.k.kubelet!.leases;
  await env.k.kubelet!.idle();
  const w0 = leases.writes;
  const t = Date.now();
  await leases.tick(t + 11_000);
  assert.equal(leases.writes - w0, 2, 'one renewal per device after 10 s');
  assert.equal(Date.parse((await lease('lp-0000')).spec.renewTime), t + 11_000, 'renewTime is the time of the renewal, not the last poll');
  await leases.tick(t + 15_000);
  assert.equal(leases.writes - w0, 2, 'not again within 10 s');
  await leases.tick(t + 22_000);
  assert.equal(leases.writes - w0, 4, 'again after 10 s more: 6 writes per device per minute');
  fleet.devices.find((d) => d.serial === 'lp-0001')!.setOffline(true);
  await eventually(
    async () =>
      (await env.ok(['get', 'node', 'lp-0001'])).includes('NotReady') ||
      (await env.ok(['get', 'node', 'lp-0001', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])) === 'Unknown',
    20_000,
    'lp-0001 Unknown',
  );
  await env.k.kubelet!.idle();
  const w1 = leases.writes;
  await leases.tick(t + 40_000);
  assert.equal(leases.writes - w1, 1, 'only the device in contact is vouched for');
});
