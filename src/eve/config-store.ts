// Desired configs and their signed responses.
//
// setConfig() canonicalises a config (device UUID check, controllercert_confighash), hashes it
// (base64url SHA-256 of the protobuf bytes, like Adam's hash format) and persists it only when
// the hash changed. The 304 path needs nothing but the in-memory hash on the device record.
// The signed ConfigResponse bodies are kept in a byte-bounded LRU so a changed config is signed
// once, not once per poll.
import crypto from 'node:crypto';
import { clone, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { EdgeDevConfigSchema, type EdgeDevConfig } from './gen/config/devconfig_pb.ts';
import { UUIDandVersionSchema } from './gen/config/devcommon_pb.ts';
import { sealControllerResponse } from './envelope.ts';
import type { ControllerPki } from './pki.ts';
import type { DeviceRegistry } from './registry.ts';
import type { DesiredConfig } from './hooks.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class ConfigError extends Error {}

/** Encode ConfigResponse{config=1, configHash=2} around already-marshalled config bytes. */
export function encodeConfigResponse(configBytes: Uint8Array, hash: string): Uint8Array {
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(configBytes).tag(2, WireType.LengthDelimited).string(hash).finish();
}

export function configHashOf(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('base64url');
}

export class ConfigStore {
  private readonly signed = new Map<string, { hash: string; body: Uint8Array }>();
  private signedBytes = 0;

  constructor(
    private readonly registry: DeviceRegistry,
    private readonly pki: ControllerPki,
    private readonly maxSignedBytes = 32 << 20,
  ) {}

  /** Canonical bytes + hash of a desired config for `uuid`. Throws ConfigError if invalid. */
  canonical(uuid: string, cfg: DesiredConfig): { bytes: Uint8Array; hash: string; config: EdgeDevConfig } {
    if (!UUID_RE.test(uuid)) throw new ConfigError(`device UUID must be lower-case canonical: ${uuid}`);
    let msg: EdgeDevConfig;
    try {
      msg = cfg instanceof Uint8Array ? fromBinary(EdgeDevConfigSchema, cfg) : clone(EdgeDevConfigSchema, cfg);
    } catch (e) {
      throw new ConfigError(`undecodable EdgeDevConfig: ${(e as Error).message}`);
    }
    if (!msg.id) msg.id = create(UUIDandVersionSchema, { uuid, version: '0' });
    else if (!msg.id.uuid) msg.id.uuid = uuid;
    // EVE ignores apps without an id and treats an invalid one as an invalid config.
    if (msg.id!.uuid !== uuid) throw new ConfigError(`config id.uuid ${msg.id!.uuid} does not match device ${uuid}`);
    for (const a of msg.apps) {
      // EVE dereferences both without nil checks (zedagent panic → boot loop).
      if (!a.uuidandversion || !a.fixedresources) throw new ConfigError('every app needs uuidandversion and fixedresources');
    }
    // A cert rotation must change the config hash so devices refetch /certs (Adam does the same).
    if (!msg.controllercertConfighash) msg.controllercertConfighash = this.pki.certsConfigHash;
    const bytes = toBinary(EdgeDevConfigSchema, msg);
    return { bytes, hash: configHashOf(bytes), config: msg };
  }

  /** Set the desired config of a device (registered or not yet). Writes only on change. */
  set(uuid: string, cfg: DesiredConfig): { hash: string; changed: boolean } {
    const { bytes, hash } = this.canonical(uuid, cfg);
    const current = this.registry.get(uuid)?.configHash ?? this.registry.getConfig(uuid)?.hash;
    if (current === hash) return { hash, changed: false };
    this.registry.putConfig(uuid, hash, bytes);
    this.dropSigned(uuid);
    return { hash, changed: true };
  }

  /** The signed ConfigResponse body for the device's current config, or undefined if none. */
  signedResponse(uuid: string, hash: string): Uint8Array | undefined {
    const hit = this.signed.get(uuid);
    if (hit && hit.hash === hash) {
      this.signed.delete(uuid);
      this.signed.set(uuid, hit);
      return hit.body;
    }
    const stored = this.registry.getConfig(uuid);
    if (!stored || stored.hash !== hash) return undefined;
    const body = sealControllerResponse(encodeConfigResponse(stored.bytes, hash), this.pki.signing.key, this.pki.signing.certPem);
    this.dropSigned(uuid);
    this.signed.set(uuid, { hash, body });
    this.signedBytes += body.length;
    while (this.signedBytes > this.maxSignedBytes && this.signed.size > 1) {
      const k = this.signed.keys().next().value!;
      this.dropSigned(k);
    }
    return body;
  }

  /** Current desired config, decoded (for inspection). */
  get(uuid: string): { hash: string; config: EdgeDevConfig } | undefined {
    const s = this.registry.getConfig(uuid);
    return s && { hash: s.hash, config: fromBinary(EdgeDevConfigSchema, s.bytes) };
  }

  dropSigned(uuid: string): void {
    const e = this.signed.get(uuid);
    if (e) {
      this.signedBytes -= e.body.length;
      this.signed.delete(uuid);
    }
  }
}
