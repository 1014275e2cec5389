// The simulator against the REAL device API server (src/eve/device-api.ts), in-process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { AuthContainerSchema } from '../../src/eve/gen/auth/auth_pb.ts';
import { SimFleet } from '../../src/sim/fleet.ts';
import { SimDevice } from '../../src/sim/device.ts';
import { startController, baseConfig, type SimTestController } from './helpers.ts';

let c: SimTestController;
let fleet: SimFleet;

before(async () => {
  c = await startController();
});
after(async () => {
  await fleet?.stop();
  await c.close();
});

test('20 simulated devices onboard against a fresh server and each gets a signed config', async () => {
  fleet = await SimFleet.create({
    server: c.server,
    rootCertPem: c.rootCertPem,
    onboard: c.onboard,
    count: 20,
    serialPrefix: 'fleet-',
    timeScale: 60, // config poll every 0.3–1 s real
    startSpreadMs: 500,
    stepMs: 1000,
  });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 20, 60_000, '20 configured devices');
  assert.equal(c.api.deviceCount, 20);
  const uuids = new Set(fleet.devices.map((d) => d.uuid));
  assert.equal(uuids.size, 20, 'every device has its own UUID');
  for (const d of fleet.devices) {
    assert.equal(d.counters.lastRegisterStatus, 201);
    assert.equal(d.counters.configApplied, 1, `${d.serial} applied its config once`);
    assert.equal(d.counters.envelopeRejected, 0);
    assert.equal(c.api.getDevice(d.uuid)?.serial, d.serial);
  }
  // the server sees the applied hash acknowledged (a later poll sends it and gets 304)
  await fleet.waitFor((f) => f.devices.every((d) => c.api.getDevice(d.uuid)?.configApplied), 30_000, 'configApplied on server');
  // apps reach RUNNING and the controller receives the info
  await fleet.waitFor((f) => f.devices.every((d) => d.model.appStates().nginx === 'RUNNING'), 30_000, 'apps RUNNING');
  await fleet.waitFor(
    (f) => f.devices.every((d) => (c.infos.get(d.uuid) ?? []).some((m) => m.InfoContent.case === 'ainfo' && m.InfoContent.value.state === 7)),
    30_000,
    'RUNNING reported',
  );
  // each request opens a new TLS connection; resumption works
  assert.ok(fleet.stats.tlsResumed > fleet.stats.tlsFull, `resumed ${fleet.stats.tlsResumed} vs full ${fleet.stats.tlsFull}`);
});

test('an unchanged config yields 304 and is not re-applied', async () => {
  const d = fleet.devices[0]!;
  const applied = d.counters.configApplied;
  const unchanged = d.counters.configUnchanged;
  const s304 = d.stats.status(304);
  await d.pollConfigNow();
  // The device's own timer may poll in the meantime too: every poll since is a 304, counted as unchanged.
  const polls = d.stats.status(304) - s304;
  assert.ok(polls >= 1, 'the forced poll got a 304');
  assert.equal(d.counters.configUnchanged - unchanged, polls);
  assert.equal(d.counters.configApplied, applied);
});

test('a changed config is applied exactly once', async () => {
  const d = fleet.devices[1]!;
  const applied = d.counters.configApplied;
  const cfg = baseConfig(d.uuid, {
    version: 2,
    apps: [
      { name: 'nginx', image: 'library/nginx:1.27' },
      { name: 'redis', image: 'library/redis:7' },
    ],
  });
  const { changed, hash } = c.api.setConfig(d.uuid, cfg);
  assert.ok(changed);
  await d.waitFor((x) => x.prevConfigHash === hash, 20_000, 'new hash');
  // several more polls: still one application
  for (let i = 0; i < 3; i++) await d.pollConfigNow();
  assert.equal(d.counters.configApplied, applied + 1);
  await d.waitFor((x) => x.model.appStates().redis === 'RUNNING', 20_000, 'redis RUNNING');
  const redis = [...d.model.apps.values()].find((a) => a.cfg.displayname === 'redis')!;
  assert.match(redis.nets[0]!.ip ?? '', /^10\.50\.0\.\d+$/, 'the local NI handed out an address from its DHCP range');
  // the other devices were not touched
  assert.equal(fleet.devices[2]!.counters.configApplied, 1);
});

test('a device deleted on the server gets 404 and re-fetches its UUID', async () => {
  // a single fast device so the 10-minute UUID re-check interval passes quickly
  const dev = await SimDevice.create({
    serial: 'deleted-1',
    server: c.server,
    rootCertPem: c.rootCertPem,
    onboard: c.onboard,
    timeScale: 600,
    stepMs: 1000,
    logs: false,
  });
  try {
    dev.start();
    await dev.waitFor((x) => x.phase === 'configured', 20_000, 'configured');
    const oldUuid = dev.uuid;
    const uuidRequests = dev.counters.uuidRequests;
    assert.ok(await c.api.deleteDevice(oldUuid));
    await dev.waitFor((x) => x.counters.configNotFound > 0, 20_000, 'config 404');
    await dev.waitFor((x) => x.counters.uuidRequests > uuidRequests, 20_000, 'uuid re-fetch');
    assert.equal(dev.uuid, oldUuid, 'a deleted device keeps its UUID until the controller knows it again');
    // the controller adopts the device again (e.g. by its certificate) under a new UUID
    const re = c.api.addDevice({ deviceCertPem: dev.deviceCertPem, serial: dev.serial });
    await dev.waitFor((x) => x.uuid === re.uuid, 30_000, 'new UUID adopted');
    await dev.waitFor((x) => x.counters.configApplied >= 2 && x.prevConfigHash !== '', 20_000, 'config under new UUID');
  } finally {
    await dev.stop();
  }
});

test('a tampered response signature is rejected by the simulator', async () => {
  // A TLS proxy with the controller's own TLS certificate (so the device trusts it) forwards
  // to the real server and flips one bit of the signature of config responses while armed.
  let tamper = true;
  let tampered = 0;
  const proxy = https.createServer({ key: c.api.pki.server.keyPem, cert: c.api.pki.server.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      const up = https.request(
        {
          host: '127.0.0.1',
          port: c.api.port,
          servername: 'localhost',
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent: false,
          ca: c.rootCertPem,
        },
        (ur) => {
          const rc: Buffer[] = [];
          ur.on('data', (b: Buffer) => rc.push(b));
          ur.on('end', () => {
            let body = Buffer.concat(rc);
            if (tamper && ur.statusCode === 200 && /\/config$/.test(req.url ?? '')) {
              const env = fromBinary(AuthContainerSchema, body);
              env.signatureHash[10] ^= 0x01;
              body = Buffer.from(toBinary(AuthContainerSchema, env));
              tampered++;
            }
            const headers = { ...ur.headers, 'content-length': String(body.length) };
            res.writeHead(ur.statusCode ?? 502, headers);
            res.end(body);
          });
        },
      );
      up.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const port = (proxy.address() as AddressInfo).port;
  const dev = await SimDevice.create({
    serial: 'tamper-1',
    server: `localhost:${port}`,
    rootCertPem: c.rootCertPem,
    onboard: c.onboard,
    timeScale: 60,
    stepMs: 1000,
    logs: false,
  });
  try {
    dev.start();
    await dev.waitFor((x) => x.counters.configRejected >= 2, 20_000, 'rejected configs');
    assert.ok(tampered >= 2);
    assert.equal(dev.counters.configApplied, 0, 'nothing from a tampered response is applied');
    assert.equal(dev.prevConfigHash, '');
    assert.equal(dev.model.apps.size, 0);
    assert.match(dev.lastError, /sign-verify/);
    // same bytes, untouched: accepted
    tamper = false;
    await dev.waitFor((x) => x.counters.configApplied === 1, 20_000, 'config applied once untampered');
    assert.equal(dev.model.apps.size, 1);
  } finally {
    await dev.stop();
    proxy.closeAllConnections();
    await new Promise<void>((r) => proxy.close(() => r()));
  }
});
