import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  EnvelopeError,
  KeyCache,
  LogStore,
  buildNewlogs,
  checkControllerCerts,
  controllerCertHash,
  controllerCertsBody,
  createDeviceCert,
  issueOnboardingCert,
  loadOrCreatePki,
  openControllerResponse,
  parseEnvelope,
  parseNewlogs,
  sealControllerResponse,
  sealDeviceRequest,
  sealEnvelope,
  sealRegisterRequest,
  spkiOf,
  verifyEnvelope,
  certPublicKey,
  type ControllerPki,
} from '../../src/eve/index.ts';
import { AuthContainerSchema } from '../../src/eve/gen/auth/auth_pb.ts';
import { HashAlgorithm } from '../../src/eve/gen/evecommon/evecommon_pb.ts';
import { ZControllerCertSchema, ZCertType } from '../../src/eve/gen/certs/certs_pb.ts';
import { tmpDir } from './helpers.ts';

const pkiDir = tmpDir();
let pkiP: Promise<ControllerPki> | undefined;
const pki = () => (pkiP ??= loadOrCreatePki({ dir: pkiDir, hosts: ['eve.example.test', '192.0.2.10'] }));

test('device request envelope: DER cert hash, raw r||s signature, algo 2', async () => {
  const dev = await createDeviceCert();
  const payload = Buffer.from('hello');
  const env = fromBinary(AuthContainerSchema, sealDeviceRequest(payload, dev.key, dev.certPem));
  const der = new crypto.X509Certificate(dev.certPem).raw;
  assert.deepEqual(Buffer.from(env.senderCertHash), crypto.createHash('sha256').update(der).digest());
  assert.equal(env.algo, HashAlgorithm.SHA256_32BYTES);
  assert.equal(env.signatureHash.length, 64);
  assert.equal(env.senderCert.length, 0);
  // Plain ECDSA over SHA-256(payload) in IEEE P1363 form.
  assert.ok(crypto.verify('sha256', payload, { key: certPublicKey(dev.certPem), dsaEncoding: 'ieee-p1363' }, env.signatureHash));
  // UuidRequest is empty, still signed.
  const empty = parseEnvelope(sealDeviceRequest(new Uint8Array(0), dev.key, dev.certPem));
  assert.equal(verifyEnvelope(empty, certPublicKey(dev.certPem)).length, 0);
});

test('register envelope carries base64 of the onboarding PEM file and its DER hash', async () => {
  const p = await pki();
  const ob = await issueOnboardingCert(p);
  const file = ob.certPem + '\n';
  const env = fromBinary(AuthContainerSchema, sealRegisterRequest(Buffer.from('x'), ob.key, file));
  assert.equal(Buffer.from(env.senderCert).toString('latin1'), Buffer.from(file).toString('base64'));
  assert.deepEqual(Buffer.from(env.senderCertHash), crypto.createHash('sha256').update(new crypto.X509Certificate(ob.certPem).raw).digest());
  // onboarding cert chains to the controller root
  assert.ok(new crypto.X509Certificate(ob.certPem).verify(new crypto.X509Certificate(p.root.certPem).publicKey));
});

test('device accepts DER-encoded device signatures only on the controller side', async () => {
  const dev = await createDeviceCert();
  const payload = Buffer.from('p');
  const der = crypto.sign('sha256', payload, { key: dev.key, dsaEncoding: 'der' });
  const c = parseEnvelope(
    toBinary(
      AuthContainerSchema,
      create(AuthContainerSchema, { protectedPayload: { payload }, algo: 2, senderCertHash: new Uint8Array(32), signatureHash: der }),
    ),
  );
  assert.deepEqual(Buffer.from(verifyEnvelope(c, certPublicKey(dev.certPem))), payload); // like Adam
  assert.throws(() => verifyEnvelope(c, certPublicKey(dev.certPem), true), EnvelopeError); // like EVE
});

test('controller response: hash over exact PEM bytes, 16- and 32-byte forms, EVE failure modes', async () => {
  const p = await pki();
  const payload = Buffer.from('config');
  const body = sealControllerResponse(payload, p.signing.key, p.signing.certPem);
  const env = fromBinary(AuthContainerSchema, body);
  assert.deepEqual(Buffer.from(env.senderCertHash), crypto.createHash('sha256').update(p.signing.certPem).digest());
  assert.equal(env.signatureHash.length, 64);
  const signing = { certPem: p.signing.certPem };
  assert.deepEqual(Buffer.from(openControllerResponse(body, signing)), payload);
  // algo 1 with the first 16 bytes is also valid
  const b16 = sealEnvelope({
    payload,
    signingKey: p.signing.key,
    senderCertHash: controllerCertHash(p.signing.certPem, HashAlgorithm.SHA256_16BYTES),
    algo: HashAlgorithm.SHA256_16BYTES,
  });
  assert.deepEqual(Buffer.from(openControllerResponse(b16, signing)), payload);
  const reason = (b: Uint8Array, s = signing) => {
    try {
      openControllerResponse(b, s);
      return 'ok';
    } catch (e) {
      return (e as EnvelopeError).reason;
    }
  };
  // One trailing newline of difference → CertMiss.
  assert.equal(reason(body, { certPem: p.signing.certPem + '\n' }), 'cert-miss');
  assert.equal(reason(sealEnvelope({ payload, signingKey: p.signing.key, senderCertHash: new Uint8Array(20) })), 'hash-size');
  assert.equal(
    reason(sealEnvelope({ payload, signingKey: p.signing.key, senderCertHash: controllerCertHash(p.signing.certPem), algo: HashAlgorithm.INVALID })),
    'algo',
  );
  // Signed by another key (e.g. the ECDH key) under the signing cert's hash.
  assert.equal(reason(sealEnvelope({ payload, signingKey: p.ecdh.key, senderCertHash: controllerCertHash(p.signing.certPem) })), 'sign-verify');
  assert.equal(reason(body.subarray(0, body.length - 3)), 'malformed');
});

test('/certs: exactly one signing cert, an ECDH cert, 16-byte PEM hashes, chains to the root with serverAuth', async () => {
  const p = await pki();
  const body = controllerCertsBody(p);
  const payload = openControllerResponse(body, { certPem: p.signing.certPem });
  const chk = checkControllerCerts(payload);
  assert.ok(chk.ok);
  const msg = fromBinary(ZControllerCertSchema, payload);
  assert.deepEqual(msg.certs.map((c) => c.type).sort(), [ZCertType.CERT_TYPE_CONTROLLER_SIGNING, ZCertType.CERT_TYPE_CONTROLLER_ECDH_EXCHANGE].sort());
  const root = new crypto.X509Certificate(p.root.certPem);
  assert.ok(root.ca);
  for (const c of msg.certs) {
    const pem = Buffer.from(c.cert).toString('latin1');
    assert.ok(!pem.endsWith('\n'), 'served PEM is trimmed');
    assert.equal(c.hashAlgo, HashAlgorithm.SHA256_16BYTES);
    assert.deepEqual(Buffer.from(c.certHash), crypto.createHash('sha256').update(pem).digest().subarray(0, 16));
    const x = new crypto.X509Certificate(pem);
    assert.ok(x.verify(root.publicKey));
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(x.checkIssued(root));
    assert.match(x.toLegacyObject().ext_key_usage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/);
  }
  // Structural rules EVE enforces
  const bad = (certs: { type: number }[]) => checkControllerCerts(toBinary(ZControllerCertSchema, create(ZControllerCertSchema, { certs })));
  assert.equal(bad([{ type: 1 }]).ok, false); // no ECDH
  assert.equal(bad([{ type: 1 }, { type: 1 }, { type: 3 }]).ok, false); // two signing
  assert.equal(bad([{ type: 1 }, { type: 3 }, { type: 10 }]).ok, false); // device type not allowed
});

test('TLS server cert covers the configured names and IPs; PKI persists; a new host re-issues only the TLS cert', async () => {
  const p = await pki();
  const san = new crypto.X509Certificate(p.server.certPem).subjectAltName!;
  assert.match(san, /DNS:eve\.example\.test/);
  assert.match(san, /IP Address:192\.0\.2\.10/);
  const again = await loadOrCreatePki({ dir: pkiDir, hosts: ['eve.example.test', '192.0.2.10'] });
  assert.equal(again.server.certPem, p.server.certPem);
  assert.equal(again.signing.certPem, p.signing.certPem);
  assert.equal(again.certsConfigHash, p.certsConfigHash);
  const moved = await loadOrCreatePki({ dir: pkiDir, hosts: ['other.example.test'] });
  assert.notEqual(moved.server.certPem, p.server.certPem);
  // the host list only grows: names already on install media stay valid
  assert.match(new crypto.X509Certificate(moved.server.certPem).subjectAltName!, /DNS:eve\.example\.test.*DNS:other\.example\.test/);
  assert.equal(moved.root.certPem, p.root.certPem);
  assert.equal(moved.signing.certPem, p.signing.certPem);
  assert.equal(fs.statSync(path.join(pkiDir, 'root-ca.key.pem')).mode & 0o077, 0);
});

test('newlogs gzip: header Comment/Name round trip, bad lines skipped, decompression bombs refused', () => {
  const body = buildNewlogs([{ content: 'a', severity: 'info' }, { content: 'b' }], { comment: JSON.stringify({ devID: 'd', eveVersion: '1' }) });
  // plain gunzip agrees with our header handling
  assert.equal(zlib.gunzipSync(body).toString().split('\n').filter(Boolean).length, 2);
  const p = parseNewlogs(body);
  assert.equal(p.bundle?.devID, 'd');
  assert.deepEqual(
    p.entries.map((e) => e.content),
    ['a', 'b'],
  );
  const app = parseNewlogs(buildNewlogs([{ content: 'x' }], { name: 'nginx' }));
  assert.equal(app.header.name, 'nginx');
  const mixed = Buffer.concat([Buffer.from('1f8b0800000000000003', 'hex'), zlib.deflateRawSync('{"content":"ok"}\nnot json\n[1]\n'), Buffer.alloc(8)]);
  assert.throws(() => parseNewlogs(mixed)); // bad CRC
  const bomb = zlib.gzipSync(Buffer.alloc(20 << 20));
  assert.throws(() => parseNewlogs(bomb, 1 << 20));
  assert.throws(() => parseNewlogs(Buffer.from('nope')));
});

test('log store stays within its size bound', async () => {
  const store = new LogStore(tmpDir(), 4096);
  const dev = crypto.randomUUID();
  for (let i = 0; i < 200; i++) await store.append(dev, undefined, [{ content: `line ${i} ${'x'.repeat(50)}` }]);
  const dir = path.join(store.dir, dev);
  const total = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  assert.ok(total <= 2 * 4096, `${total} bytes on disk`);
  const got = await store.query({ device: dev, limit: 5 });
  assert.equal(got.at(-1)?.content?.startsWith('line 199'), true);
  await assert.rejects(store.query({ device: '../etc' }));
});

test('key cache is bounded', async () => {
  const cache = new KeyCache(2);
  const recs = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const d = await createDeviceCert();
      return { uuid: `u${i}`, certHash: '', spki: spkiOf(d.certPem), lastContact: 0, configHash: '', configAcked: false };
    }),
  );
  for (const r of recs) cache.get(r);
  assert.equal(cache.size, 2);
  assert.ok(cache.get(recs[0]!) instanceof crypto.KeyObject);
  // beyond capacity: SPKI bytes, usable for verification, nothing cached
  const over = cache.get(recs[2]!);
  assert.ok(!(over instanceof crypto.KeyObject) && over.ecSpki.length === 91);
  assert.equal(cache.size, 2);
});
