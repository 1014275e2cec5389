import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { TestDevice, startTestController, tmpDir, type TestController } from './helpers.ts';
import {
  EnvelopeError,
  buildNewlogs,
  createDeviceCert,
  issueOnboardingCert,
  sealEnvelope,
  startDeviceApi,
  deviceCertHash,
  PROTO_CONTENT_TYPE,
} from '../../src/eve/index.ts';
import { EdgeDevConfigSchema, ConfigRequestSchema } from '../../src/eve/gen/config/devconfig_pb.ts';
import { ZInfoMsgSchema, ZInfoTypes, ZSwState, type ZInfoMsg } from '../../src/eve/gen/info/info_pb.ts';
import { ZMetricMsgSchema } from '../../src/eve/gen/metrics/metrics_pb.ts';
import { ZAttestReqSchema, ZAttestReqType, ZAttestResponseSchema, ZAttestRespType, ZAttestResponseCode } from '../../src/eve/gen/attest/attest_pb.ts';
import { ZCertType } from '../../src/eve/gen/certs/certs_pb.ts';
import { FlowMessageSchema } from '../../src/eve/gen/flowlog/flowlog_pb.ts';
import { ZHardwareHealthSchema } from '../../src/eve/gen/hardwarehealth/hardware_health_pb.ts';
import { AuthContainerSchema } from '../../src/eve/gen/auth/auth_pb.ts';

let c: TestController;
const infos: { uuid: string; msg: ZInfoMsg }[] = [];
const applied: string[] = [];

before(async () => {
  c = await startTestController({
    onInfo: (uuid, msg) => void infos.push({ uuid, msg }),
    configApplied: (uuid, hash) => void applied.push(`${uuid} ${hash}`),
    desiredConfig: (uuid) => create(EdgeDevConfigSchema, { id: { uuid, version: '1' } }),
  });
});
after(async () => {
  await c.api.close();
});

function cfgFor(uuid: string, version: string, items: Record<string, string> = {}) {
  return create(EdgeDevConfigSchema, {
    id: { uuid, version },
    configItems: Object.entries(items).map(([key, value]) => ({ key, value })),
  });
}

test('ping and certs answer without authentication, with the proto content type', async () => {
  const d = await TestDevice.create(c, 'x');
  const p = await d.req('ping');
  assert.equal(p.status, 200);
  assert.equal(p.headers['content-type'], PROTO_CONTENT_TYPE);
  const r = await d.req('certs');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], PROTO_CONTENT_TYPE);
  await d.fetchCerts();
  // The /certs envelope itself is signed by the signing cert it carries.
  assert.ok(d.open(r.body).length > 0);
});

test('20 devices onboard concurrently, fetch config, then poll with 304', async () => {
  for (let i = 0; i < 20; i++) c.allow.allow(c.onboard.certPem, `SN-${i}`);
  const devs = await Promise.all(Array.from({ length: 20 }, (_, i) => TestDevice.create(c, `SN-${i}`)));
  await Promise.all(devs.map((d) => d.onboardFully()));
  const uuids = new Set(devs.map((d) => d.uuid));
  assert.equal(uuids.size, 20);
  for (const u of uuids) assert.match(u, /^[0-9a-f-]{36}$/);
  // Cold start: the desiredConfig hook supplies the first config.
  const first = await Promise.all(devs.map((d) => d.pollConfig()));
  for (const [i, r] of first.entries()) {
    assert.equal(r.status, 200);
    assert.equal(r.config?.id?.uuid, devs[i]!.uuid);
    assert.ok(r.hash && r.hash.length > 0);
    assert.equal(r.config?.controllercertConfighash, c.api.pki.certsConfigHash);
  }
  const again = await Promise.all(devs.map((d) => d.pollConfig()));
  assert.deepEqual(
    again.map((r) => r.status),
    Array(20).fill(304),
  );
  assert.equal(applied.filter((a) => uuids.has(a.split(' ')[0]!)).length, 20);
  // The layer above pushes a new config: next poll is a 200 with a new hash, then 304.
  const d0 = devs[0]!;
  const old = d0.lastConfigHash;
  const set = c.api.setConfig(d0.uuid, cfgFor(d0.uuid, '2', { 'timer.config.interval': '30' }));
  assert.equal(set.changed, true);
  assert.equal(c.api.setConfig(d0.uuid, cfgFor(d0.uuid, '2', { 'timer.config.interval': '30' })).changed, false);
  const r = await d0.pollConfig();
  assert.equal(r.status, 200);
  assert.notEqual(r.hash, old);
  assert.equal(r.config?.configItems[0]?.value, '30');
  assert.equal((await d0.pollConfig()).status, 304);
  assert.equal(c.api.listDevices().filter((x) => uuids.has(x.uuid)).length, 20);
});

test('repeat registration: same cert → 200; same serial with another device cert → 409; same cert under another serial → 409', async () => {
  c.allow.allow(c.onboard.certPem, 'SN-REPEAT');
  const d = await TestDevice.create(c, 'SN-REPEAT');
  await d.fetchCerts();
  assert.equal((await d.register()).status, 201);
  assert.equal((await d.register()).status, 200);
  const other = await createDeviceCert();
  const before = c.api.deviceCount;
  assert.equal((await d.register('SN-REPEAT', other)).status, 409);
  // the same device cert claimed under another serial is a conflict too
  c.allow.allow(c.onboard.certPem, 'SN-REPEAT-2');
  assert.equal((await d.register('SN-REPEAT-2')).status, 409);
  assert.equal(c.api.deviceCount, before);
});

test('unknown onboarding cert or unknown serial → 403, nothing registered', async () => {
  const before = c.api.deviceCount;
  const d = await TestDevice.create(c, 'SN-NOT-ALLOWED');
  assert.equal((await d.register()).status, 403);
  const stranger = await issueOnboardingCert(c.api.pki);
  const d2 = new TestDevice(d.server, d.rootPem, d.dev, stranger, 'SN-0');
  assert.equal((await d2.register()).status, 403);
  assert.equal(c.api.deviceCount, before);
  // Not registered → /uuid is refused (401), the device keeps retrying.
  assert.equal((await d.getUuid()).status, 401);
});

test('wildcard onboarding admits any serial (zero-touch), pre-set UUID adopts a device', async () => {
  const zt = await issueOnboardingCert(c.api.pki);
  c.allow.allow(zt.certPem, '*');
  const d = new TestDevice(`127.0.0.1:${c.api.port}`, c.api.pki.root.certPem, await createDeviceCert(), zt, 'ANY-SERIAL-1');
  await d.onboardFully();
  const preset = crypto.randomUUID();
  c.allow.allow(c.onboard.certPem, 'SN-ADOPT', preset);
  const a = await TestDevice.create(c, 'SN-ADOPT');
  await a.onboardFully();
  assert.equal(a.uuid, preset);
});

test('unknown key or wrong signature is refused with 401 and changes nothing', async () => {
  c.allow.allow(c.onboard.certPem, 'SN-SIG');
  const d = await TestDevice.create(c, 'SN-SIG');
  await d.onboardFully();
  await d.pollConfig();
  const hashBefore = c.api.getDevice(d.uuid)!.configHash;
  const infosBefore = infos.length;
  // A key the controller has never seen.
  const stranger = await createDeviceCert();
  const info = toBinary(ZInfoMsgSchema, create(ZInfoMsgSchema, { ztype: ZInfoTypes.ZiDevice, devId: d.uuid }));
  const r1 = await d.req(`id/${d.uuid}/info`, sealEnvelope({ payload: info, signingKey: stranger.key, senderCertHash: deviceCertHash(stranger.certPem) }));
  assert.equal(r1.status, 401);
  // The right cert hash but a signature by another key.
  const r2 = await d.req(`id/${d.uuid}/info`, sealEnvelope({ payload: info, signingKey: stranger.key, senderCertHash: deviceCertHash(d.dev.certPem) }));
  assert.equal(r2.status, 401);
  // A valid envelope whose payload was altered after signing.
  const env = fromBinary(AuthContainerSchema, d.signed(info));
  env.protectedPayload!.payload = toBinary(ZInfoMsgSchema, create(ZInfoMsgSchema, { ztype: ZInfoTypes.ZiApp, devId: d.uuid }));
  const r3 = await d.req(`id/${d.uuid}/info`, toBinary(AuthContainerSchema, env));
  assert.equal(r3.status, 401);
  // A DER-encoded signature where EVE uses raw r||s, with a flipped bit.
  const sig = Buffer.from(fromBinary(AuthContainerSchema, d.signed(info)).signatureHash);
  sig[10] = sig[10]! ^ 1;
  const env4 = fromBinary(AuthContainerSchema, d.signed(info));
  env4.signatureHash = sig;
  assert.equal((await d.req(`id/${d.uuid}/info`, toBinary(AuthContainerSchema, env4))).status, 401);
  // Tampered config request must not be able to probe/ack either.
  const cfgReq = toBinary(ConfigRequestSchema, create(ConfigRequestSchema, { configHash: 'x' }));
  const r5 = await d.req(`id/${d.uuid}/config`, sealEnvelope({ payload: cfgReq, signingKey: stranger.key, senderCertHash: deviceCertHash(d.dev.certPem) }));
  assert.equal(r5.status, 401);
  assert.equal(infos.length, infosBefore);
  assert.equal(c.api.getDevice(d.uuid)!.configHash, hashBefore);
  // Signed by the device but for another device's URL → 404.
  const r6 = await d.req(`id/${crypto.randomUUID()}/info`, d.signed(info));
  assert.equal(r6.status, 404);
  assert.equal(infos.length, infosBefore);
});

test('a tampered controller response is rejected by the device-side verifier', async () => {
  c.allow.allow(c.onboard.certPem, 'SN-TAMPER');
  const d = await TestDevice.create(c, 'SN-TAMPER');
  await d.onboardFully();
  const payload = toBinary(ConfigRequestSchema, create(ConfigRequestSchema, { configHash: '' }));
  const r = await d.req(`id/${d.uuid}/config`, d.signed(payload));
  assert.equal(r.status, 200);
  assert.ok(d.open(r.body).length > 0);
  const env = fromBinary(AuthContainerSchema, r.body);
  // flip a byte of the payload
  const p = Buffer.from(env.protectedPayload!.payload);
  p[p.length - 1] = p[p.length - 1]! ^ 0xff;
  env.protectedPayload!.payload = p;
  assert.throws(
    () => d.open(toBinary(AuthContainerSchema, env)),
    (e: unknown) => e instanceof EnvelopeError && e.reason === 'sign-verify',
  );
  // a different signer hash → CertMiss (EVE would refetch /certs)
  const env2 = fromBinary(AuthContainerSchema, r.body);
  env2.senderCertHash = crypto.randomBytes(32);
  assert.throws(
    () => d.open(toBinary(AuthContainerSchema, env2)),
    (e: unknown) => e instanceof EnvelopeError && e.reason === 'cert-miss',
  );
});

test('a device deleted on the server gets 404 on config and 404 on /uuid; re-registration gives a new UUID', async () => {
  c.allow.allow(c.onboard.certPem, 'SN-DEL');
  const d = await TestDevice.create(c, 'SN-DEL');
  await d.onboardFully();
  assert.equal((await d.pollConfig()).status, 200);
  const oldUuid = d.uuid;
  assert.equal(await c.api.deleteDevice(oldUuid), true);
  const r = await d.pollConfig();
  assert.equal(r.status, 404);
  // EVE reacts to 404/400 on config by running getUuid.
  const u = await d.getUuid();
  assert.equal(u.status, 404);
  // At next boot the device registers again (onboarding cert still present) and gets a new UUID.
  assert.equal((await d.register()).status, 201);
  const u2 = await d.getUuid();
  assert.equal(u2.status, 200);
  assert.notEqual(u2.uuid, oldUuid);
  d.lastConfigHash = '';
  assert.equal((await d.pollConfig()).status, 200);
});

test('malformed protobuf, truncated envelopes and oversized bodies → clean 4xx, no state change', async () => {
  c.allow.allow(c.onboard.certPem, 'SN-BAD');
  const d = await TestDevice.create(c, 'SN-BAD');
  await d.onboardFully();
  await d.pollConfig();
  const count = c.api.deviceCount;
  const infosBefore = infos.length;
  const good = d.signed(toBinary(ZInfoMsgSchema, create(ZInfoMsgSchema, { ztype: ZInfoTypes.ZiDevice, devId: d.uuid })));
  // garbage, truncated envelope, empty body
  for (const body of [
    Buffer.from('this is not protobuf at all'),
    Buffer.from(good.subarray(0, good.length - 7)),
    Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]),
  ]) {
    const r = await d.req(`id/${d.uuid}/info`, body);
    assert.equal(r.status, 400, `body ${body.toString('hex').slice(0, 20)}`);
    const rr = await d.req('register', body);
    assert.equal(rr.status, 400);
  }
  // correctly signed envelope with a payload that is not a ZInfoMsg
  const badInner = d.signed(Buffer.from([0x08, 0x96, 0x01, 0x12, 0x50, 0x01]));
  assert.equal((await d.req(`id/${d.uuid}/info`, badInner)).status, 400);
  assert.equal((await d.req(`id/${d.uuid}/config`, badInner)).status, 400);
  // empty POST body
  const empty = await new Promise<number>((resolve, reject) => {
    const req = https.request(
      `https://${d.server}/api/v2/edgedevice/id/${d.uuid}/info`,
      { method: 'POST', agent: d.agent, headers: { 'Content-Length': 0 } },
      (res) => {
        res.resume();
        resolve(res.statusCode!);
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(empty, 400);
  // oversized (declared and streamed)
  const big = Buffer.alloc((1 << 20) + 10, 1);
  assert.equal((await d.req(`id/${d.uuid}/info`, big)).status, 413);
  const streamed = await new Promise<number>((resolve, reject) => {
    const req = https.request(
      `https://${d.server}/api/v2/edgedevice/id/${d.uuid}/info`,
      { method: 'POST', agent: d.agent, headers: { 'Transfer-Encoding': 'chunked' } },
      (res) => {
        res.resume();
        resolve(res.statusCode!);
      },
    );
    req.on('error', () => resolve(-1));
    for (let i = 0; i < 40; i++) req.write(Buffer.alloc(64 << 10));
    req.end();
  });
  assert.ok(streamed === 413 || streamed === -1, `streamed oversized → ${streamed}`);
  // wrong method, unknown path
  assert.equal((await d.req(`id/${d.uuid}/config`)).status, 405);
  assert.equal((await d.req(`id/${d.uuid}/bogus`, good)).status, 404);
  assert.equal((await d.req('nothing-here', good)).status, 404);
  // still alive and unchanged
  assert.equal(c.api.deviceCount, count);
  assert.equal(infos.length, infosBefore);
  assert.equal((await d.req('ping')).status, 200);
  assert.equal((await d.pollConfig()).status, 304);
});

test('info, metrics, flowlog, hardwarehealth reach the layer above / stores', async () => {
  c.allow.allow(c.onboard.certPem, 'SN-INFO');
  const d = await TestDevice.create(c, 'SN-INFO');
  await d.onboardFully();
  const appId = crypto.randomUUID();
  const msg = create(ZInfoMsgSchema, {
    ztype: ZInfoTypes.ZiApp,
    devId: d.uuid,
    InfoContent: { case: 'ainfo', value: { AppID: appId, AppName: 'nginx', state: ZSwState.RUNNING } },
  });
  const r = await d.post('info', toBinary(ZInfoMsgSchema, msg));
  assert.equal(r.status, 201);
  const got = infos.at(-1)!;
  assert.equal(got.uuid, d.uuid);
  assert.equal(got.msg.InfoContent.case, 'ainfo');
  assert.equal(got.msg.InfoContent.case === 'ainfo' && got.msg.InfoContent.value.state, ZSwState.RUNNING);
  const m = create(ZMetricMsgSchema, { devID: d.uuid, MetricContent: { case: 'dm', value: { deviceMemory: { memoryMB: 4096 } } } });
  assert.equal((await d.post('metrics', toBinary(ZMetricMsgSchema, m))).status, 201);
  const latest = c.api.metrics.latest(d.uuid)!;
  assert.equal(latest.msg.MetricContent.case === 'dm' && latest.msg.MetricContent.value.deviceMemory?.memoryMB, 4096);
  assert.equal((await d.post('flowlog', toBinary(FlowMessageSchema, create(FlowMessageSchema, { devId: d.uuid })))).status, 201);
  assert.equal((await d.post('hardwarehealth', toBinary(ZHardwareHealthSchema, create(ZHardwareHealthSchema, { devId: d.uuid })))).status, 200);
  assert.equal(c.api.getDevice(d.uuid)!.lastContact! > 0, true);
});

test('newlogs: device and app logs are stored and queryable', async () => {
  c.allow.allow(c.onboard.certPem, 'SN-LOGS');
  const d = await TestDevice.create(c, 'SN-LOGS');
  await d.onboardFully();
  const now = Math.floor(Date.now() / 1000);
  const devLogs = buildNewlogs(
    [
      { severity: 'info', source: 'zedagent', content: 'hello', timestamp: { seconds: now, nanos: 0 } },
      { severity: 'error', source: 'nim', content: 'port down', timestamp: { seconds: now, nanos: 5 } },
    ],
    { comment: JSON.stringify({ devID: d.uuid, image: 'IMGA', eveVersion: '14.5.0' }) },
  );
  assert.equal((await d.post('newlogs', devLogs)).status, 201);
  const app = crypto.randomUUID();
  const appLogs = buildNewlogs([{ content: 'app says hi', msgid: 1, timestamp: { seconds: now } }], { name: 'nginx' });
  assert.equal((await d.post(`apps/instanceid/${app}/newlogs`, appLogs)).status, 201);
  const dl = await c.api.logs.query({ device: d.uuid });
  assert.deepEqual(
    dl.map((e) => e.content),
    ['hello', 'port down'],
  );
  const al = await c.api.logs.query({ device: d.uuid, app });
  assert.deepEqual(
    al.map((e) => e.content),
    ['app says hi'],
  );
  assert.deepEqual(await c.api.logs.apps(d.uuid), [app]);
  // corrupt gzip → 400
  assert.equal((await d.post('newlogs', Buffer.from('not gzip'))).status, 400);
});

test('attest: certs accepted with 2xx, nonce issued, quote without TPM succeeds, keys escrowed', async () => {
  c.allow.allow(c.onboard.certPem, 'SN-ATT');
  const d = await TestDevice.create(c, 'SN-ATT');
  await d.onboardFully();
  const ecdh = await createDeviceCert();
  const certsReq = create(ZAttestReqSchema, {
    reqType: ZAttestReqType.ATTEST_REQ_CERT,
    certs: [{ hashAlgo: 1, certHash: crypto.randomBytes(16), type: ZCertType.CERT_TYPE_DEVICE_ECDH_EXCHANGE, cert: Buffer.from(ecdh.certPem) }],
  });
  const r1 = await d.post('attest', toBinary(ZAttestReqSchema, certsReq));
  assert.ok(r1.status >= 200 && r1.status < 300);
  const nonceResp = await d.post('attest', toBinary(ZAttestReqSchema, create(ZAttestReqSchema, { reqType: ZAttestReqType.ATTEST_REQ_NONCE })));
  const n = fromBinary(ZAttestResponseSchema, d.open(nonceResp.body));
  assert.equal(n.respType, ZAttestRespType.ATTEST_RESP_NONCE);
  assert.ok(n.nonce!.nonce.length >= 12 && n.nonce!.nonce.length <= 32);
  const quote = create(ZAttestReqSchema, { reqType: ZAttestReqType.ATTEST_REQ_QUOTE, quote: { versions: [{ versionType: 1, version: '14.5.0' }] } });
  const q = fromBinary(ZAttestResponseSchema, d.open((await d.post('attest', toBinary(ZAttestReqSchema, quote))).body));
  assert.equal(q.quoteResp?.response, ZAttestResponseCode.SUCCESS);
  const token = q.quoteResp!.integrityToken;
  assert.equal(token.length, 32);
  const store = create(ZAttestReqSchema, {
    reqType: ZAttestReqType.Z_ATTEST_REQ_TYPE_STORE_KEYS,
    storageKeys: { integrityToken: token, keys: [{ keyType: 1, key: Buffer.from('vault-key') }] },
  });
  const s = fromBinary(ZAttestResponseSchema, d.open((await d.post('attest', toBinary(ZAttestReqSchema, store))).body));
  assert.equal(s.storageKeysResp?.response, 1);
  // next quote returns the escrowed key
  await d.post('attest', toBinary(ZAttestReqSchema, create(ZAttestReqSchema, { reqType: ZAttestReqType.ATTEST_REQ_NONCE })));
  const q2 = fromBinary(ZAttestResponseSchema, d.open((await d.post('attest', toBinary(ZAttestReqSchema, quote))).body));
  assert.equal(Buffer.from(q2.quoteResp!.keys[0]!.key).toString(), 'vault-key');
  // TPM quote whose extraData is not our nonce → NONCE_MISMATCH
  const fake = Buffer.concat([Buffer.from([0xff, 0x54, 0x43, 0x47, 0x80, 0x18, 0, 0, 0, 4]), Buffer.from('nope')]);
  const bad = create(ZAttestReqSchema, { reqType: ZAttestReqType.ATTEST_REQ_QUOTE, quote: { attestData: fake, signature: Buffer.alloc(8) } });
  const q3 = fromBinary(ZAttestResponseSchema, d.open((await d.post('attest', toBinary(ZAttestReqSchema, bad))).body));
  assert.equal(q3.quoteResp?.response, ZAttestResponseCode.NONCE_MISMATCH);
  // wrong token → ITOKEN_MISMATCH
  const wrong = create(ZAttestReqSchema, { reqType: ZAttestReqType.Z_ATTEST_REQ_TYPE_STORE_KEYS, storageKeys: { integrityToken: Buffer.alloc(32), keys: [] } });
  const s2 = fromBinary(ZAttestResponseSchema, d.open((await d.post('attest', toBinary(ZAttestReqSchema, wrong))).body));
  assert.equal(s2.storageKeysResp?.response, 2);
});

test('state survives a restart: same PKI, devices, config hash (304 right away)', async () => {
  const dataDir = tmpDir();
  const c1 = await startTestController({}, dataDir);
  c1.allow.allow(c1.onboard.certPem, 'SN-RESTART');
  const d = await TestDevice.create(c1, 'SN-RESTART');
  await d.onboardFully();
  c1.api.setConfig(d.uuid, cfgFor(d.uuid, '7'));
  assert.equal((await d.pollConfig()).status, 200);
  const rootBefore = c1.api.pki.root.certPem;
  const signingBefore = c1.api.pki.signing.certPem;
  await c1.api.close();
  const api2 = await startDeviceApi({ dataDir, host: '127.0.0.1', port: 0, tlsHosts: ['localhost', '127.0.0.1'], hooks: { admitOnboarding: () => 'deny' } });
  try {
    assert.equal(api2.pki.root.certPem, rootBefore);
    assert.equal(api2.pki.signing.certPem, signingBefore);
    const d2 = new TestDevice(`127.0.0.1:${api2.port}`, rootBefore, d.dev, d.onboard, d.serial);
    d2.uuid = d.uuid;
    d2.signingCertPem = d.signingCertPem;
    d2.lastConfigHash = d.lastConfigHash;
    assert.equal((await d2.pollConfig()).status, 304);
    assert.equal((await d2.getUuid()).uuid, d.uuid);
    assert.ok(fs.existsSync(path.join(dataDir, 'eve', 'devices.db')));
  } finally {
    await api2.close();
  }
});

test('setConfig validates the device UUID and required app fields', () => {
  const u = crypto.randomUUID();
  assert.throws(() => c.api.setConfig(u.toUpperCase(), cfgFor(u, '1')));
  assert.throws(() => c.api.setConfig(u, cfgFor(crypto.randomUUID(), '1')));
  assert.throws(() => c.api.setConfig(u, create(EdgeDevConfigSchema, { id: { uuid: u }, apps: [{ displayname: 'x' }] })));
  // Pre-set configs for devices that have not registered yet are accepted.
  assert.equal(c.api.setConfig(u, cfgFor(u, '1')).changed, true);
});
