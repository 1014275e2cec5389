// AuthContainer (EVE API v2 signed envelope) for both directions.
//
// Device → controller: senderCertHash = SHA-256(DER of the device cert) (32 bytes, algo 2);
//   on /register the onboarding cert is used and senderCert = base64(PEM file bytes).
// Controller → device: senderCertHash = SHA-256(PEM *text* of the signing cert exactly as
//   served in /certs) — algo 2 = all 32 bytes, algo 1 = first 16 bytes.
// Signatures: ECDSA over SHA-256(payload) encoded as raw r||s (IEEE P1363), 64 bytes for
// P-256; RSA keys use PKCS#1 v1.5 / SHA-256. EVE cannot parse DER ECDSA signatures.
import crypto, { type KeyObject } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AuthContainerSchema, type AuthContainer } from './gen/auth/auth_pb.ts';
import { HashAlgorithm } from './gen/evecommon/evecommon_pb.ts';
import { checkWireFormat } from './wire-check.ts';

export const PROTO_CONTENT_TYPE = 'application/x-proto-binary';

/** Why an envelope was refused; names follow EVE's SenderStatus where one exists. */
export type EnvelopeFailure =
  | 'malformed' // not a decodable AuthContainer / missing payload
  | 'no-sender-hash' // senderCertHash empty
  | 'hash-size' // SenderStatusHashSizeError: hash neither 16 nor 32 bytes
  | 'algo' // SenderStatusAlgoFail: unknown algo
  | 'cert-miss' // SenderStatusCertMiss: hash does not match the expected certificate
  | 'sign-verify' // SenderStatusSignVerifyFail
  | 'encrypted'; // cipherData envelopes are LOC-only; not accepted here

export class EnvelopeError extends Error {
  constructor(
    readonly reason: EnvelopeFailure,
    message: string,
  ) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

export function sha256(data: Uint8Array | string): Buffer {
  return crypto.createHash('sha256').update(data).digest();
}

/** DER bytes of the first CERTIFICATE block of a PEM (or the input if it is already DER). */
export function certDer(cert: string | Uint8Array): Buffer {
  if (typeof cert !== 'string') {
    const b = Buffer.from(cert.buffer, cert.byteOffset, cert.byteLength);
    // 0x30 = ASN.1 SEQUENCE: already DER
    if (b[0] === 0x30) return b;
    cert = b.toString('latin1');
  }
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(cert);
  if (!m) throw new Error('no PEM certificate found');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

/** How a device identifies itself: SHA-256 over its certificate's DER (all 32 bytes). */
export function deviceCertHash(cert: string | Uint8Array): Buffer {
  return sha256(certDer(cert));
}

/**
 * How the controller identifies its signing cert: SHA-256 over the exact PEM bytes served in
 * /certs (ZCert.cert). One extra newline makes every device report CertMiss.
 */
export function controllerCertHash(pemBytes: string | Uint8Array, algo: HashAlgorithm = HashAlgorithm.SHA256_32BYTES): Buffer {
  const h = sha256(pemBytes);
  return algo === HashAlgorithm.SHA256_16BYTES ? h.subarray(0, 16) : h;
}

/** Sign SHA-256(payload): ECDSA → raw r||s; RSA → PKCS#1 v1.5. */
export function signPayload(key: KeyObject, payload: Uint8Array): Buffer {
  if (key.asymmetricKeyType === 'ec') return crypto.sign('sha256', payload, { key, dsaEncoding: 'ieee-p1363' });
  return crypto.sign('sha256', payload, key);
}

/**
 * A public key: a KeyObject, or the DER SubjectPublicKeyInfo of an EC key. Verifying with the
 * SPKI bytes creates no KeyObject (each costs ~2.6 KiB of native memory that is only freed by
 * a later GC), which matters for fleets larger than the controller's key cache.
 */
export type VerifyKey = KeyObject | { ecSpki: Buffer };

/**
 * Verify a signature over SHA-256(payload). ECDSA signatures must be raw r||s of twice the
 * curve size (what EVE produces); as Adam does, a DER signature is also accepted from devices.
 */
export function verifyPayloadSignature(key: VerifyKey, payload: Uint8Array, sig: Uint8Array, rawOnly = false): boolean {
  try {
    const isKeyObject = key instanceof crypto.KeyObject;
    if (!isKeyObject || key.asymmetricKeyType === 'ec') {
      const k = isKeyObject ? { key } : { key: key.ecSpki, format: 'der' as const, type: 'spki' as const };
      if (crypto.verify('sha256', payload, { ...k, dsaEncoding: 'ieee-p1363' }, sig)) return true;
      if (rawOnly) return false;
      // DER ECDSA-Sig-Value starts with SEQUENCE (0x30); raw r||s for P-256 is exactly 64 bytes.
      return sig.length !== 64 && sig[0] === 0x30 && crypto.verify('sha256', payload, { ...k, dsaEncoding: 'der' }, sig);
    }
    return crypto.verify('sha256', payload, key, sig);
  } catch {
    return false; // malformed signature bytes
  }
}

export interface SealOptions {
  /** The marshalled inner message (may be empty, e.g. UuidRequest). */
  payload: Uint8Array;
  signingKey: KeyObject;
  senderCertHash: Uint8Array;
  algo?: HashAlgorithm;
  /** base64 of the sender's PEM as ASCII bytes; set on /register only. */
  senderCert?: Uint8Array;
}

/** Build and marshal an AuthContainer. */
export function sealEnvelope(o: SealOptions): Uint8Array {
  return toBinary(
    AuthContainerSchema,
    create(AuthContainerSchema, {
      protectedPayload: { payload: o.payload },
      algo: o.algo ?? HashAlgorithm.SHA256_32BYTES,
      senderCertHash: o.senderCertHash,
      signatureHash: signPayload(o.signingKey, o.payload),
      senderCert: o.senderCert ?? new Uint8Array(0),
    }),
  );
}

/** Device side: wrap a request signed with the device key (every URL except /register). */
export function sealDeviceRequest(payload: Uint8Array, deviceKey: KeyObject, deviceCertPem: string | Uint8Array): Uint8Array {
  return sealEnvelope({ payload, signingKey: deviceKey, senderCertHash: deviceCertHash(deviceCertPem) });
}

/** Device side: /register is signed with the onboarding key and carries the onboarding cert. */
export function sealRegisterRequest(payload: Uint8Array, onboardKey: KeyObject, onboardCertPem: string | Uint8Array): Uint8Array {
  const pemBytes = typeof onboardCertPem === 'string' ? Buffer.from(onboardCertPem, 'latin1') : Buffer.from(onboardCertPem);
  return sealEnvelope({
    payload,
    signingKey: onboardKey,
    senderCertHash: deviceCertHash(onboardCertPem),
    senderCert: Buffer.from(pemBytes.toString('base64'), 'latin1'),
  });
}

/** Controller side: wrap a response with the controller signing key. */
export function sealControllerResponse(payload: Uint8Array, signingKey: KeyObject, signingCertPem: string | Uint8Array): Uint8Array {
  return sealEnvelope({ payload, signingKey, senderCertHash: controllerCertHash(signingCertPem) });
}

/** Decode an AuthContainer; throws EnvelopeError('malformed') on any wire error. */
export function parseEnvelope(bytes: Uint8Array): AuthContainer {
  let c: AuthContainer;
  try {
    checkWireFormat(AuthContainerSchema, bytes);
    c = fromBinary(AuthContainerSchema, bytes);
  } catch (e) {
    throw new EnvelopeError('malformed', `undecodable AuthContainer: ${(e as Error).message}`);
  }
  if (c.cipherData || c.cipherContext) throw new EnvelopeError('encrypted', 'encrypted envelopes are not supported');
  if (!c.protectedPayload) throw new EnvelopeError('malformed', 'AuthContainer without protectedPayload');
  return c;
}

/**
 * Throws unless the container is signed by `key`; returns the payload. `rawOnly` refuses DER
 * ECDSA signatures, as EVE does for controller responses.
 */
export function verifyEnvelope(c: AuthContainer, key: VerifyKey, rawOnly = false): Uint8Array {
  const payload = c.protectedPayload?.payload ?? new Uint8Array(0);
  if (c.signatureHash.length === 0 || !verifyPayloadSignature(key, payload, c.signatureHash, rawOnly)) {
    throw new EnvelopeError('sign-verify', 'envelope signature does not verify');
  }
  return payload;
}

/**
 * Device side: open a controller response as EVE does (VerifyAuthContainer): check hash size,
 * algo and match against the signing cert PEM from /certs, then the signature.
 * `skipVerify` mirrors EVE's handling of /certs (wrapper parsed, signature not checked).
 */
export function openControllerResponse(
  bytes: Uint8Array,
  signing: { certPem: string | Uint8Array; key?: KeyObject } | null,
  opts: { skipVerify?: boolean } = {},
): Uint8Array {
  const c = parseEnvelope(bytes);
  const payload = c.protectedPayload!.payload;
  if (opts.skipVerify) return payload;
  if (!signing) throw new EnvelopeError('cert-miss', 'no controller signing certificate known');
  const h = c.senderCertHash;
  if (h.length !== 16 && h.length !== 32) throw new EnvelopeError('hash-size', `senderCertHash has ${h.length} bytes`);
  let expected: Buffer;
  if (c.algo === HashAlgorithm.SHA256_32BYTES) expected = controllerCertHash(signing.certPem);
  else if (c.algo === HashAlgorithm.SHA256_16BYTES) expected = controllerCertHash(signing.certPem, c.algo);
  else throw new EnvelopeError('algo', `unknown hash algorithm ${c.algo}`);
  if (expected.length !== h.length || !crypto.timingSafeEqual(Buffer.from(h), expected)) {
    throw new EnvelopeError('cert-miss', 'senderCertHash does not match the controller signing certificate');
  }
  const key = signing.key ?? crypto.createPublicKey(certPemString(signing.certPem));
  return verifyEnvelope(c, key, true);
}

function certPemString(p: string | Uint8Array): string {
  return typeof p === 'string' ? p : Buffer.from(p).toString('latin1');
}

/** Public key of a certificate (PEM or DER). */
export function certPublicKey(cert: string | Uint8Array): KeyObject {
  return new crypto.X509Certificate(certDer(cert)).publicKey;
}
