// What a device checks on GET /certs before trusting the controller (EVE's
// VerifyProtoLeavesCertChainImpl with requireECDH=true): the envelope parses (its signature is
// not checked), only SIGNING/INTERMEDIATE/ECDH types, exactly one SIGNING and at least one
// ECDH cert, and each leaf chains to root-certificate.pem through the INTERMEDIATE certs, with
// EKU serverAuth or none, inside its validity window by the *device* clock.
import crypto from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import { ZControllerCertSchema, ZCertType } from '../eve/gen/certs/certs_pb.ts';
import { openControllerResponse, certPublicKey } from '../eve/envelope.ts';
import { checkControllerCerts } from '../eve/certs.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EKU = '2.5.29.37.0';

export interface ControllerCerts {
  /** PEM text exactly as served (hashed for senderCertHash). */
  signingCertPem: string;
  signingKey: crypto.KeyObject;
  ecdhCertPems: string[];
  /** hex certHash set, to detect changes (EVE compares the set, not the order). */
  hashSet: string;
}

function splitPemCerts(pem: string): crypto.X509Certificate[] {
  const out: crypto.X509Certificate[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) out.push(new crypto.X509Certificate(m[0]));
  return out;
}

function checkOne(cert: crypto.X509Certificate, now: number, what: string): void {
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) {
    throw new Error(`${what}: certificate is not valid at device time ${new Date(now).toISOString()}`);
  }
  // node exposes the extended key usage OIDs as `keyUsage` (undefined when there is no EKU).
  const eku = cert.keyUsage;
  if (eku && eku.length && !eku.includes(SERVER_AUTH) && !eku.includes(ANY_EKU)) {
    throw new Error(`${what}: extended key usage lacks serverAuth`);
  }
}

/** Verify `leaf` up to one of `roots`, possibly through `intermediates` (depth ≤ 5). */
export function verifyChain(leaf: crypto.X509Certificate, intermediates: crypto.X509Certificate[], roots: crypto.X509Certificate[], now: number): void {
  checkOne(leaf, now, `leaf ${leaf.subject}`);
  let cur = leaf;
  for (let depth = 0; depth < 6; depth++) {
    for (const r of roots) {
      if (cur.checkIssued(r) && cur.verify(r.publicKey)) {
        checkOne(r, now, `root ${r.subject}`);
        return;
      }
    }
    const next = intermediates.find((i) => i !== cur && cur.checkIssued(i) && cur.verify(i.publicKey));
    if (!next) break;
    if (!next.ca) throw new Error(`intermediate ${next.subject} is not a CA`);
    checkOne(next, now, `intermediate ${next.subject}`);
    cur = next;
  }
  throw new Error(`x509: certificate signed by unknown authority (${leaf.subject})`);
}

/** Parse and validate a /certs response body as EVE does; throws with EVE-like reasons. */
export function validateControllerCerts(body: Uint8Array, rootCertPem: string, now: number): ControllerCerts {
  const payload = openControllerResponse(body, null, { skipVerify: true });
  const check = checkControllerCerts(payload);
  if (!check.ok) throw new Error(check.error);
  const msg = fromBinary(ZControllerCertSchema, payload);
  const intermediates = msg.certs
    .filter((c) => c.type === ZCertType.CERT_TYPE_CONTROLLER_INTERMEDIATE)
    .map((c) => new crypto.X509Certificate(Buffer.from(c.cert)));
  const roots = splitPemCerts(rootCertPem);
  if (!roots.length) throw new Error('no root certificate');
  verifyChain(new crypto.X509Certificate(check.signingCertPem), intermediates, roots, now);
  for (const e of check.ecdhCertPems) verifyChain(new crypto.X509Certificate(e), intermediates, roots, now);
  const hashSet = msg.certs
    .map((c) => Buffer.from(c.certHash).toString('hex'))
    .sort()
    .join(',');
  return {
    signingCertPem: check.signingCertPem,
    signingKey: certPublicKey(check.signingCertPem),
    ecdhCertPems: check.ecdhCertPems,
    hashSet,
  };
}
