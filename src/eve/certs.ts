// GET /certs payload: ZControllerCert, shaped exactly as EVE validates it
// (VerifyProtoLeavesCertChainImpl with requireECDH=true):
//   - only types SIGNING(1), INTERMEDIATE(2), ECDH_EXCHANGE(3);
//   - exactly one SIGNING and at least one ECDH_EXCHANGE;
//   - cert = PEM text; certHash = first 16 bytes of SHA-256(that PEM), hashAlgo = 1 (like Adam);
//   - wrapped in an AuthContainer signed by the signing cert (EVE parses but does not verify it).
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ZControllerCertSchema, ZCertType, type ZControllerCert } from './gen/certs/certs_pb.ts';
import { HashAlgorithm } from './gen/evecommon/evecommon_pb.ts';
import { controllerCertHash, sealControllerResponse } from './envelope.ts';
import type { ControllerPki } from './pki.ts';

export function buildControllerCerts(pki: ControllerPki): ZControllerCert {
  const zcert = (pem: string, type: ZCertType) => ({
    hashAlgo: HashAlgorithm.SHA256_16BYTES,
    certHash: controllerCertHash(pem, HashAlgorithm.SHA256_16BYTES),
    type,
    cert: Buffer.from(pem, 'latin1'),
    attributes: { isMutable: false, isTpm: false },
  });
  return create(ZControllerCertSchema, {
    certs: [zcert(pki.signing.certPem, ZCertType.CERT_TYPE_CONTROLLER_SIGNING), zcert(pki.ecdh.certPem, ZCertType.CERT_TYPE_CONTROLLER_ECDH_EXCHANGE)],
  });
}

/** The complete /certs response body (computed once; it only changes with the PKI). */
export function controllerCertsBody(pki: ControllerPki): Uint8Array {
  const payload = toBinary(ZControllerCertSchema, buildControllerCerts(pki));
  return sealControllerResponse(payload, pki.signing.key, pki.signing.certPem);
}

export type CertsCheck = { ok: true; signingCertPem: string; ecdhCertPems: string[] } | { ok: false; error: string };

/**
 * Structural checks a device applies to a ZControllerCert payload (chain verification against
 * root-certificate.pem is done separately with node:crypto by the caller, see verifyLeaf).
 */
export function checkControllerCerts(payload: Uint8Array): CertsCheck {
  let msg: ZControllerCert;
  try {
    msg = fromBinary(ZControllerCertSchema, payload);
  } catch (e) {
    return { ok: false, error: `undecodable ZControllerCert: ${(e as Error).message}` };
  }
  const signing: string[] = [];
  const ecdh: string[] = [];
  for (const c of msg.certs) {
    const pem = Buffer.from(c.cert).toString('latin1');
    switch (c.type) {
      case ZCertType.CERT_TYPE_CONTROLLER_SIGNING:
        signing.push(pem);
        break;
      case ZCertType.CERT_TYPE_CONTROLLER_ECDH_EXCHANGE:
        ecdh.push(pem);
        break;
      case ZCertType.CERT_TYPE_CONTROLLER_INTERMEDIATE:
        break;
      default:
        return { ok: false, error: `certificate type ${c.type} not allowed in /certs` };
    }
  }
  if (signing.length !== 1) return { ok: false, error: `expected exactly one signing cert, got ${signing.length}` };
  if (ecdh.length === 0) return { ok: false, error: 'no ECDH exchange cert' };
  return { ok: true, signingCertPem: signing[0]!, ecdhCertPems: ecdh };
}
