// POST id/<uuid>/attest, with Adam's minimum semantics (reference §8):
//   CERT       → store the device certs, answer 2xx (anything else sends EVE to maintenance mode)
//   NONCE      → fresh random nonce (12..32 bytes for a TPM quote)
//   QUOTE      → SUCCESS + integrity token + escrowed keys. Without a TPM the quote is empty.
//                With a TPM the nonce in TPMS_ATTEST.extraData must match the last one issued;
//                the quote signature and PCR policy are NOT verified (documented gap).
//   STORE_KEYS → escrow the vault keys when the integrity token matches.
import crypto from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  AttestStorageKeysResponseCode,
  AttestStorageKeysSchema,
  ZAttestReqType,
  ZAttestResponseCode,
  ZAttestResponseSchema,
  ZAttestRespType,
  type ZAttestReq,
  type ZAttestResponse,
} from './gen/attest/attest_pb.ts';
import { ZControllerCertSchema } from './gen/certs/certs_pb.ts';
import type { DeviceRegistry } from './registry.ts';
import type { DeviceHooks } from './hooks.ts';

/** Outstanding nonces, memory only (they are re-requested after a restart anyway). */
export class NonceTable {
  private readonly map = new Map<string, { nonce: Buffer; at: number }>();
  constructor(private readonly ttlMs = 10 * 60_000) {}
  issue(uuid: string): Buffer {
    // 12 random bytes as 24 hex characters: within the TPM's 12..32-byte limit, printable like Adam's.
    const nonce = Buffer.from(crypto.randomBytes(12).toString('hex'), 'latin1');
    this.map.set(uuid, { nonce, at: Date.now() });
    this.gc();
    return nonce;
  }
  get(uuid: string): Buffer | undefined {
    const e = this.map.get(uuid);
    return e && Date.now() - e.at < this.ttlMs ? e.nonce : undefined;
  }
  delete(uuid: string): void {
    this.map.delete(uuid);
  }
  private gc(): void {
    if (this.map.size < 1024) return;
    const now = Date.now();
    for (const [k, v] of this.map) if (now - v.at >= this.ttlMs) this.map.delete(k);
  }
}

/** TPMS_ATTEST.extraData (the nonce) — magic(4) type(2) qualifiedSigner(TPM2B) extraData(TPM2B). */
export function tpmsAttestExtraData(attest: Uint8Array): Buffer | undefined {
  const b = Buffer.from(attest.buffer, attest.byteOffset, attest.byteLength);
  if (b.length < 10 || b.readUInt32BE(0) !== 0xff544347) return undefined;
  let i = 6;
  const signerLen = b.readUInt16BE(i);
  i += 2 + signerLen;
  if (i + 2 > b.length) return undefined;
  const len = b.readUInt16BE(i);
  i += 2;
  return i + len <= b.length ? b.subarray(i, i + len) : undefined;
}

export function handleAttest(uuid: string, req: ZAttestReq, deps: { registry: DeviceRegistry; nonces: NonceTable; hooks: DeviceHooks }): ZAttestResponse {
  const { registry, nonces } = deps;
  switch (req.reqType) {
    case ZAttestReqType.ATTEST_REQ_CERT: {
      registry.putAttest(uuid, { certs: toBinary(ZControllerCertSchema, create(ZControllerCertSchema, { certs: req.certs })) });
      deps.hooks.onAttestCerts?.(uuid, req.certs);
      return create(ZAttestResponseSchema, { respType: ZAttestRespType.ATTEST_RESP_CERT });
    }
    case ZAttestReqType.ATTEST_REQ_NONCE:
      return create(ZAttestResponseSchema, { respType: ZAttestRespType.ATTEST_RESP_NONCE, nonce: { nonce: nonces.issue(uuid) } });
    case ZAttestReqType.ATTEST_REQ_QUOTE: {
      const q = req.quote;
      const quoteResp = (response: ZAttestResponseCode) =>
        create(ZAttestResponseSchema, { respType: ZAttestRespType.ATTEST_RESP_QUOTE_RESP, quoteResp: { response } });
      if (q && q.attestData.length > 0) {
        const expected = nonces.get(uuid);
        const got = tpmsAttestExtraData(q.attestData);
        if (!expected || !got || !got.equals(expected)) return quoteResp(ZAttestResponseCode.NONCE_MISMATCH);
      }
      nonces.delete(uuid);
      const token = crypto.randomBytes(32);
      registry.putAttest(uuid, { token });
      const stored = registry.getAttest(uuid)?.keys;
      const keys = stored ? fromBinary(AttestStorageKeysSchema, stored).keys : [];
      return create(ZAttestResponseSchema, {
        respType: ZAttestRespType.ATTEST_RESP_QUOTE_RESP,
        quoteResp: { response: ZAttestResponseCode.SUCCESS, integrityToken: token, keys },
      });
    }
    case ZAttestReqType.Z_ATTEST_REQ_TYPE_STORE_KEYS: {
      const sk = req.storageKeys;
      const token = registry.getAttest(uuid)?.token;
      const ok = !!sk && !!token && sk.integrityToken.length > 0 && Buffer.from(token).equals(Buffer.from(sk.integrityToken));
      if (ok) registry.putAttest(uuid, { keys: toBinary(AttestStorageKeysSchema, create(AttestStorageKeysSchema, { keys: sk!.keys })) });
      return create(ZAttestResponseSchema, {
        respType: ZAttestRespType.Z_ATTEST_RESP_TYPE_STORE_KEYS,
        storageKeysResp: {
          response: ok ? AttestStorageKeysResponseCode.SUCCESS : AttestStorageKeysResponseCode.ITOKEN_MISMATCH,
        },
      });
    }
    default:
      throw new AttestError(`unsupported attest request type ${req.reqType}`);
  }
}

export class AttestError extends Error {}
