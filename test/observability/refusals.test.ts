// A refusal a user will debug is logged once, with the device and the reason: a simulated device
// (real TLS, real envelopes) whose serial is not admitted retries its registration again and again;
// the log has one line naming its serial, the 403 and why, and /metrics counts the denials.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startEveEnv, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';
import { createLogger, setLogger, log } from '../../src/observability/log.ts';
import { parseExposition } from '../helpers/prometheus.ts';

const lines: Array<Record<string, any>> = [];
setLogger(createLogger({ format: 'json', write: (l) => lines.push(JSON.parse(l)) }));
let env: EveTestEnv;
after(async () => {
  await env?.close();
  setLogger(createLogger());
});

function scrape(): Promise<ReturnType<typeof parseExposition>> {
  const api = env.k.api;
  return new Promise((resolve, reject) => {
    https
      .get(`${api.url}/metrics`, { ca: api.caPem, headers: { Authorization: `Bearer ${api.adminToken}` } }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (c) => (body += c))
          .on('end', () => resolve(parseExposition(body)));
      })
      .on('error', reject);
  });
}

test('a denied onboarding is logged once with the serial and the reason, and counted', async () => {
  env = await startEveEnv();
  assert.ok(log.enabled(0));
  await env.apply(onboardingKeyYaml('batch-1', env.onboard.certPem, { autoEnroll: false }));
  const fleet = await env.fleet({ count: 1, serialPrefix: 'manual-' });
  fleet.start();
  const d = fleet.devices[0]!;
  // Three refusals (an attempt made while the server is still starting may get a 503 instead).
  await d.waitFor((x) => x.counters.lastRegisterStatus === 403 && x.stats.status(403) >= 3, 60_000, 'register refused three times');
  const refused = lines.filter((l) => l.msg === 'device request refused' && l.endpoint === 'register');
  assert.equal(refused.length, 1, JSON.stringify(refused));
  assert.equal(refused[0]!.serial, 'manual-0000');
  assert.equal(refused[0]!.status, 403);
  assert.match(
    refused[0]!.reason,
    /serial manual-0000 is pending on OnboardingKey batch-1: autoEnroll is off; create an EdgeNode with this serial to admit it/,
  );

  const m = await scrape();
  assert.ok(m.value('kubeve_onboarding_total', { result: 'denied' })! >= 3);
  assert.ok(m.value('kubeve_device_api_requests_total', { endpoint: 'register', code: '403' })! >= 3);
  assert.equal(m.value('kubeve_edgenodes', { phase: 'Registered' }), undefined);
});
