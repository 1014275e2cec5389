// Fuzz: the EVE device API (real kubeve: API server + EVE controllers + device API over TLS) under
// hostile device traffic. Invariants: every refused request gets the 4xx real EVE expects (400
// malformed, 401 unknown/bad signer, 413 too large, never a 5xx for the client's bytes); a refused
// request changes nothing (registry, EdgeNode, log and metrics stores); the server stays up; a
// well-formed message with hostile field values never crashes ingestion nor poisons the EdgeNode
// (kubectl still decodes it and a following good report still lands).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';
import { TestDevice } from '../eve/helpers.ts';
import { api } from '../helpers/server.ts';
import { buildNewlogs, createDeviceCert, deviceCertHash, sealEnvelope } from '../../src/eve/index.ts';
import { AuthContainerSchema } from '../../src/eve/gen/auth/auth_pb.ts';
import { CipherBlockSchema } from '../../src/eve/gen/evecommon/acipherinfo_pb.ts';
import {
  ZInfoAppSchema,
  ZInfoDeviceSchema,
  ZInfoMsgSchema,
  ZInfoNetworkInstanceSchema,
  ZInfoTypes,
  ZInfoVolumeSchema,
} from '../../src/eve/gen/info/info_pb.ts';
import { ZMetricMsgSchema } from '../../src/eve/gen/metrics/metrics_pb.ts';
import { FlowMessageSchema } from '../../src/eve/gen/flowlog/flowlog_pb.ts';
import { ZHardwareHealthSchema } from '../../src/eve/gen/hardwarehealth/hardware_health_pb.ts';
import { ZAttestReqSchema } from '../../src/eve/gen/attest/attest_pb.ts';
import { ConfigRequestSchema } from '../../src/eve/gen/config/devconfig_pb.ts';
import { check, fuzzParams, garbageBytes, labelled, MALFORMED_PROTOBUF } from './arbitraries.ts';
import { protoMessage, randomMessageBytes } from './proto-arbitrary.ts';

let env: EveTestEnv;
let dev: TestDevice;
let nodeName = '';
const APP = crypto.randomUUID();
const ACTIONS = ['config', 'info', 'metrics', 'flowlog', 'hardwarehealth', 'attest', 'newlogs', `apps/instanceid/${APP}/newlogs`, 'logs'];

before(async () => {
  // The device API logs every 5xx with its cause on stderr (the process logger): shown when a property fails.
  env = await startEveEnv({ eve: { offlineTimeoutMs: 3_600_000, debounceMs: 20 } });
  await env.apply(onboardingKeyYaml('fuzz-key', env.onboard.certPem));
  const k = env.k;
  dev = new TestDevice(`127.0.0.1:${k.device.port}`, k.device.pki.root.certPem, await createDeviceCert(), env.onboard, 'fuzz-0001');
  await dev.fetchCerts();
  assert.equal((await dev.register()).status, 201);
  await dev.getUuid();
  assert.ok(dev.uuid);
  nodeName = await eventually(
    async () => {
      const l = JSON.parse(await env.ok(['get', 'edgenodes', '-o', 'json'])).items as any[];
      return l.find((n) => n.status?.uuid === dev.uuid)?.metadata.name as string | undefined;
    },
    20_000,
    'the EdgeNode of the fuzz device',
  );
  assert.equal((await dev.pollConfig()).status, 200);
  const info = create(ZInfoMsgSchema, { ztype: ZInfoTypes.ZiDevice, devId: dev.uuid, InfoContent: { case: 'dinfo', value: { ncpu: 2, memory: 1024n } } });
  assert.equal((await dev.post('info', toBinary(ZInfoMsgSchema, info))).status, 201);
  await eventually(async () => (await edgeNode()).status?.hardware?.cpus === 2, 10_000, 'first info landed');
});
after(async () => {
  await env?.close();
});

async function edgeNode(): Promise<any> {
  const r = await api(env.k.api, 'GET', `/apis/eve.kubeve.io/v1alpha1/edgenodes/${nodeName}`);
  assert.equal(r.status, 200, `EdgeNode readable: ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

/** What a refused request must leave untouched. */
async function snapshot(): Promise<string> {
  await env.k.eve.status.idle();
  const devs = env.k.device.listDevices().map(({ lastContact: _l, ...d }) => d);
  const logs = (await env.k.device.logs.query({ device: dev.uuid })).length + (await env.k.device.logs.query({ device: dev.uuid, app: APP })).length;
  const metrics = env.k.device.metrics.latest(dev.uuid);
  return JSON.stringify({
    devs,
    rv: (await edgeNode()).metadata.resourceVersion,
    logs,
    metrics: metrics ? Buffer.from(toBinary(ZMetricMsgSchema, metrics.msg)).toString('base64') : null,
  });
}

async function alive(): Promise<void> {
  assert.equal((await dev.req('ping')).status, 200, 'device API answers');
  const cfg = await dev.pollConfig();
  assert.ok(cfg.status === 200 || cfg.status === 304, `config poll still works: ${cfg.status}`);
}

const is4xx = (s: number, allowed: number[], what: string) => assert.ok(allowed.includes(s), `${what} → ${s}, expected one of ${allowed.join('/')}`);

test('garbage bodies on every device endpoint: 400/401, nothing changes', async () => {
  const before = await snapshot();
  await check(
    fc.asyncProperty(garbageBytes(), fc.constantFrom('register', 'uuid', ...ACTIONS.map((a) => `id/${dev.uuid}/${a}`)), async (body, p) => {
      const r = await dev.req(p, body);
      is4xx(r.status, [400, 401], `garbage ${Buffer.from(body.subarray(0, 16)).toString('hex')} → ${p}`);
    }),
    fuzzParams('device garbage', 200),
  );
  assert.equal(await snapshot(), before);
  await alive();
});

type Mutation = { kind: string; apply(c: ReturnType<typeof fromBinary<typeof AuthContainerSchema>>): void; expect: number[] };

const envelopeMutation = (): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(
      ([i, bit]): Mutation => ({
        kind: `payload bit ${bit} of byte ${i}`,
        apply: (c) => {
          const p = Buffer.from(c.protectedPayload!.payload.length ? c.protectedPayload!.payload : Buffer.alloc(1));
          p[i % p.length] ^= 1 << bit;
          c.protectedPayload!.payload = p;
        },
        expect: [401],
      }),
    ),
    fc.uint8Array({ maxLength: 200 }).map((sig): Mutation => ({ kind: 'signature replaced', apply: (c) => void (c.signatureHash = sig), expect: [401] })),
    fc
      .nat({ max: 63 })
      .map((n): Mutation => ({ kind: `signature truncated to ${n}`, apply: (c) => void (c.signatureHash = c.signatureHash.subarray(0, n)), expect: [401] })),
    fc.uint8Array({ maxLength: 64 }).map((h): Mutation => ({ kind: 'unknown cert hash', apply: (c) => void (c.senderCertHash = h), expect: [401] })),
    fc
      .nat({ max: 31 })
      .map((n): Mutation => ({ kind: `cert hash truncated to ${n}`, apply: (c) => void (c.senderCertHash = c.senderCertHash.subarray(0, n)), expect: [401] })),
    fc
      .uint8Array({ minLength: 1, maxLength: 64 })
      .map((d): Mutation => ({ kind: 'cipherData set', apply: (c) => void (c.cipherData = create(CipherBlockSchema, { cipherData: d })), expect: [400] })),
    fc.constant<Mutation>({ kind: 'no protectedPayload', apply: (c) => void (c.protectedPayload = undefined), expect: [400] }),
  );

test("mutated AuthContainers (payload, signature, cert hash, encryption) are refused with EVE's code, nothing changes", async () => {
  const stranger = await createDeviceCert();
  const info = toBinary(
    ZInfoMsgSchema,
    create(ZInfoMsgSchema, { ztype: ZInfoTypes.ZiDevice, devId: dev.uuid, InfoContent: { case: 'dinfo', value: { ncpu: 64 } } }),
  );
  const before = await snapshot();
  await check(
    fc.asyncProperty(envelopeMutation(), fc.constantFrom(...ACTIONS, 'uuid'), fc.boolean(), async (m, action, signedByStranger) => {
      const payload = action === 'newlogs' || action.endsWith('/newlogs') ? buildNewlogs([{ content: 'mutated' }]) : info;
      const c = fromBinary(
        AuthContainerSchema,
        signedByStranger ? sealEnvelope({ payload, signingKey: stranger.key, senderCertHash: deviceCertHash(dev.dev.certPem) }) : dev.signed(payload),
      );
      m.apply(c);
      const r = await dev.req(action === 'uuid' ? 'uuid' : `id/${dev.uuid}/${action}`, toBinary(AuthContainerSchema, c));
      // A valid signature by someone else is a 401 whatever else was changed, unless the envelope is malformed first.
      is4xx(r.status, signedByStranger ? [...new Set([...m.expect, 401])] : m.expect, `${m.kind} on ${action}${signedByStranger ? ' (stranger key)' : ''}`);
    }),
    fuzzParams('device envelope mutations', 200),
  );
  assert.equal(await snapshot(), before);
  await alive();
});

test('malformed protobuf payloads inside a valid envelope are a 400 on every endpoint, nothing changes', async () => {
  const before = await snapshot();
  for (const p of MALFORMED_PROTOBUF) {
    for (const action of ['config', 'info', 'metrics', 'flowlog', 'hardwarehealth', 'attest']) {
      const r = await dev.post(action, p);
      is4xx(r.status, [400], `malformed ${Buffer.from(p.subarray(0, 8)).toString('hex')} on ${action}`);
    }
    // the register payload (ZRegisterMsg) behind a valid onboarding signature
    const { sealRegisterRequest } = await import('../../src/eve/index.ts');
    const rr = await dev.req('register', sealRegisterRequest(p, env.onboard.key, env.onboard.certPem + '\n'));
    is4xx(rr.status, [400], 'malformed ZRegisterMsg');
  }
  assert.equal(await snapshot(), before);
  await alive();
});

test('random garbage payloads inside a valid envelope: 2xx/304 only if they decode, else 400; never 5xx', async () => {
  await check(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 512 }),
      fc.constantFrom('config', 'info', 'metrics', 'flowlog', 'hardwarehealth', 'attest', 'newlogs'),
      async (p, action) => {
        const r = await dev.post(action, p);
        assert.ok(r.status < 500, `${action} with ${Buffer.from(p.subarray(0, 16)).toString('hex')} → ${r.status}`);
        assert.ok([200, 201, 304, 400].includes(r.status), `${action} → ${r.status}`);
      },
    ),
    fuzzParams('device garbage payloads', 150),
  );
  await alive();
});

const SCHEMAS = {
  info: ZInfoMsgSchema,
  metrics: ZMetricMsgSchema,
  flowlog: FlowMessageSchema,
  hardwarehealth: ZHardwareHealthSchema,
  attest: ZAttestReqSchema,
  config: ConfigRequestSchema,
} as const;

test('well-formed messages with hostile field values: accepted or a 4xx, never a 5xx; the EdgeNode stays readable by kubectl', async () => {
  const action = fc.constantFrom(...(Object.keys(SCHEMAS) as (keyof typeof SCHEMAS)[]));
  await check(
    fc.asyncProperty(
      action.chain((a) => fc.tuple(fc.constant(a), protoMessage(SCHEMAS[a]))),
      async ([a, { seed, bytes }]) => {
        const r = await dev.post(a, bytes);
        assert.ok(r.status < 500, `${a} random message seed=${seed} (${bytes.length} bytes) → ${r.status}`);
        if (bytes.length > 1 << 20) assert.equal(r.status, 413);
      },
    ),
    fuzzParams('device hostile messages', 120),
  );
  await env.k.eve.status.idle();
  // Whatever landed in the status, kubectl decodes it and the controller still takes a good report.
  const out = JSON.parse(await env.ok(['get', 'edgenode', nodeName, '-o', 'json']));
  assert.equal(out.metadata.name, nodeName);
  const good = create(ZInfoMsgSchema, { ztype: ZInfoTypes.ZiDevice, devId: dev.uuid, InfoContent: { case: 'dinfo', value: { ncpu: 7, memory: 2048n } } });
  assert.equal((await dev.post('info', toBinary(ZInfoMsgSchema, good))).status, 201);
  await eventually(async () => (await edgeNode()).status?.hardware?.cpus === 7, 10_000, 'a good info after the fuzz lands');
  await alive();
});

const INFO_CONTENT = {
  dinfo: [ZInfoTypes.ZiDevice, ZInfoDeviceSchema],
  ainfo: [ZInfoTypes.ZiApp, ZInfoAppSchema],
  vinfo: [ZInfoTypes.ZiVolume, ZInfoVolumeSchema],
  niinfo: [ZInfoTypes.ZiNetworkInstance, ZInfoNetworkInstanceSchema],
} as const;

test('info reports of every kind with hostile contents reach ingestion: never a 5xx, the EdgeNode stays valid for kubectl', async () => {
  await check(
    fc.asyncProperty(fc.constantFrom(...(Object.keys(INFO_CONTENT) as (keyof typeof INFO_CONTENT)[])), fc.integer(), async (which, seed) => {
      const [ztype, schema] = INFO_CONTENT[which];
      const value = fromBinary(schema as typeof ZInfoDeviceSchema, randomMessageBytes(schema, seed));
      const msg = create(ZInfoMsgSchema, { ztype, devId: dev.uuid, InfoContent: { case: which, value } as never });
      const bytes = toBinary(ZInfoMsgSchema, msg);
      const r = await dev.post('info', bytes);
      assert.ok(r.status < 500 || bytes.length > 1 << 20, `${which} seed=${seed} (${bytes.length} bytes) → ${r.status}`);
    }),
    fuzzParams('device info contents', 120),
  );
  await env.k.eve.status.idle();
  const out = await env.kubectl(['get', 'edgenode', nodeName, '-o', 'json']);
  assert.equal(out.code, 0, out.stderr);
  const table = await env.kubectl(['get', 'edgenode', nodeName, '-o', 'wide']);
  assert.equal(table.code, 0, table.stderr);
  await alive();
});

test('a device timestamp beyond year 9999 is ignored, not a 503 that EVE would retry forever (found by this suite)', async () => {
  const info = create(ZInfoMsgSchema, {
    ztype: ZInfoTypes.ZiDevice,
    devId: dev.uuid,
    InfoContent: { case: 'dinfo', value: { ncpu: 3, lastRebootReason: 'far future', lastRebootTime: { seconds: 2n ** 62n, nanos: 0 } } },
  });
  assert.equal((await dev.post('info', toBinary(ZInfoMsgSchema, info))).status, 201);
  const n = await eventually(async () => ((await edgeNode()).status?.hardware?.cpus === 3 ? edgeNode() : undefined), 10_000, 'the info landed');
  assert.equal(n.status.lastRebootReason, 'far future');
  assert.notEqual(n.status.lastRebootTime?.startsWith('+'), true, 'no out-of-range time written');
});

/** A gzip member whose header is EVE's, holding `data` (deflated at level 9). */
function gzipOf(data: Buffer, name?: string): Buffer {
  const z = zlib.gzipSync(data, { level: 9 });
  if (name === undefined) return z;
  // set FNAME and splice the name in after the 10-byte header
  const hdr = Buffer.from(z.subarray(0, 10));
  hdr[3]! |= 8;
  return Buffer.concat([hdr, Buffer.from(name + '\0', 'latin1'), z.subarray(10)]);
}

/** Hostile newlogs bodies (built once: a bomb takes a moment to compress). */
function hostileNewlogBodies(): { kind: string; body: Buffer; expect?: number[] }[] {
  const small = gzipOf(Buffer.from('{"content":"x"}\n'));
  const badCrc = Buffer.from(small);
  badCrc[badCrc.length - 6]! ^= 0xff;
  return [
    ...[64, 256].map((mib) => ({ kind: `gzip bomb ${mib} MiB of zeros`, body: gzipOf(Buffer.alloc(mib << 20)) })),
    { kind: 'gzip bomb of JSON lines', body: gzipOf(Buffer.from('{"content":"x"}\n'.repeat(4 << 20))) },
    // the outer layer holds 256 KiB of binary: no JSON line, nothing stored; a 201 or a 400 is fine
    { kind: 'nested gzip bomb', body: gzipOf(gzipOf(Buffer.alloc(256 << 20))), expect: [201, 400] },
    { kind: 'two gzip members, the second a bomb', body: Buffer.concat([small, gzipOf(Buffer.alloc(128 << 20))]) },
    ...[0, 3, 9, 12].map((n) => ({ kind: `truncated gzip (${n} bytes)`, body: small.subarray(0, n) })),
    { kind: 'FEXTRA longer than the body', body: Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 1, 2]) },
    { kind: 'unterminated FNAME', body: Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3]), Buffer.alloc(5000, 0x41)]) },
    { kind: 'bad CRC', body: badCrc },
    { kind: 'deflate garbage', body: Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), crypto.randomBytes(300)]) },
  ];
}

test('newlogs and app newlogs: gzip bombs and broken gzip are a 4xx, nothing stored, server up', async () => {
  const bodies = hostileNewlogBodies();
  const before = await snapshot();
  await check(
    fc.asyncProperty(
      fc.constantFrom(...bodies.map((b) => labelled(b.kind, b))),
      fc.constantFrom('newlogs', `apps/instanceid/${APP}/newlogs`),
      async ({ value: { kind, body, expect } }, action) => {
        const r = await dev.post(action, body);
        is4xx(r.status, expect ?? [400, 413], `${kind} on ${action}`);
      },
    ),
    fuzzParams('device newlogs bombs', 24),
  );
  assert.equal(await snapshot(), before);
  await alive();
});

test('newlogs lines with hostile JSON (deep nesting, huge numbers, odd unicode) never give a 5xx and the logs stay queryable', async () => {
  const line = fc
    .oneof(
      fc.constantFrom(1000, 5000, 50_000).map((d) => labelled(`content: [] nested ${d} deep`, '{"content":' + '['.repeat(d) + ']'.repeat(d) + '}')),
      fc.constantFrom(1000, 5000, 50_000).map((d) => labelled(`tags: {} nested ${d} deep`, '{"tags":' + '{"a":'.repeat(d) + '1' + '}'.repeat(d) + '}')),
      fc.constant('{"msgid":123456789012345678901234567890,"timestamp":{"seconds":1e400,"nanos":-1}}'),
      fc.constant('{"content":"\\ud800\\u0000\\u202e","severity":{"x":1},"source":[1,2]}'),
      fc.constant('{"content":"a","content":"b"}'),
      fc.constant('{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}},"tags":{"__proto__":"x"}}'),
      fc.string({ unit: 'binary', maxLength: 64 }),
    )
    .map((l) => (typeof l === 'string' ? labelled(l, l) : l));
  await check(
    fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 4 }), fc.constantFrom('newlogs', `apps/instanceid/${APP}/newlogs`), async (lines, action) => {
      const r = await dev.post(action, gzipOf(Buffer.from(lines.map((l) => l.value).join('\n') + '\n'), action === 'newlogs' ? undefined : 'app'));
      assert.ok([200, 201, 400, 413].includes(r.status), `${action} with ${lines.map((l) => l.label).join(' | ')} → ${r.status}`);
    }),
    fuzzParams('device newlogs lines', 60),
  );
  assert.equal(({} as any).polluted, undefined, 'no prototype pollution');
  await env.k.device.logs.query({ device: dev.uuid });
  await env.k.device.logs.query({ device: dev.uuid, app: APP });
  await alive();
});

/** Raw HTTP/1.1 over TLS, for headers an HTTP client refuses to send. Resolves the status, or 0 if the connection closed without one. */
function rawRequest(head: string, body: Buffer = Buffer.alloc(0)): Promise<number> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: env.k.device.port, ca: env.k.device.pki.root.certPem, servername: 'localhost' }, () => {
      s.write(head);
      s.end(body);
    });
    let buf = '';
    s.on('data', (d: Buffer) => (buf += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(buf)?.[1] ?? 0)));
    s.setTimeout(10_000, () => s.destroy());
  });
}

test('huge or bogus declared lengths: 413/400 answered, never a hang or a dropped connection without a status', async () => {
  const path = `/api/v2/edgedevice/id/${dev.uuid}/info`;
  const cases: [string, number[]][] = [
    ['Content-Length: 1099511627776', [413]],
    ['Content-Length: 18446744073709551616', [400, 413]],
    ['Content-Length: 1048577', [413]],
    ['Content-Length: -1', [400]],
    ['Content-Length: abc', [400]],
    ['Content-Length: 5\r\nContent-Length: 6', [400]],
    ['Transfer-Encoding: chunked\r\nContent-Length: 5', [400]],
  ];
  const before = await snapshot();
  for (const [h, want] of cases) {
    const st = await rawRequest(`POST ${path} HTTP/1.1\r\nHost: localhost\r\n${h}\r\nConnection: close\r\n\r\n`, Buffer.from('xxxxx'));
    assert.ok(want.includes(st), `${h.replace(/\r\n/g, ' | ')} → ${st}, expected ${want.join('/')}`);
  }
  // A chunked body whose chunk size is absurd.
  const st = await rawRequest(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nffffffffffffffff\r\nxx`);
  assert.ok([400, 413].includes(st), `absurd chunk size → ${st}`);
  assert.equal(await snapshot(), before);
  await alive();
});

test('the Kubernetes API is still healthy after the device fuzz', async () => {
  const r = await new Promise<number>((resolve, reject) => {
    https
      .get(`${env.k.api.url}/readyz`, { ca: env.k.api.caPem, headers: { Authorization: `Bearer ${env.k.api.adminToken}` } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      })
      .on('error', reject);
  });
  assert.equal(r, 200);
  assert.match(await env.ok(['get', 'edgenodes']), new RegExp(nodeName));
});
