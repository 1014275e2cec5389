// The in-memory index of EdgeNodes and OnboardingKeys the EVE controllers share: just the
// identity fields and a few scalars per device (no object copies), so that the hot paths —
// onContact, admission, info ingestion — find a device's EdgeNode in O(1).

import crypto from 'node:crypto';
import type { KObject } from '../../apiserver/resource.ts';

export interface NodeEntry {
  name: string;
  uid: string;
  /** Device UUID: status.uuid once bound, else spec.uuid to adopt. */
  uuid?: string;
  serial?: string;
  /** hex SHA-256 (DER) of spec.onboardingCertificate. */
  onboardCertHash?: string;
  onboardingKey?: string;
  /** hex SHA-256 (DER) of spec.deviceCertificate. */
  deviceCertHash?: string;
  generation: number;
  /** Config poll interval the device was given (timer.config.interval), ms. */
  pollIntervalMs: number;
  /** Last authenticated request (ms since epoch), memory only. */
  lastContact: number;
  /** Online status as last written (undefined = not known since start). */
  online?: boolean;
}

export interface KeyEntry {
  name: string;
  certHash: string;
  autoEnroll: boolean;
  serials: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export const DEFAULT_POLL_INTERVAL_MS = 60_000;

/** hex SHA-256 of a PEM certificate's DER, or undefined when it does not parse. */
export function certHashHex(pem: string | undefined): string | undefined {
  if (!pem) return undefined;
  try {
    return crypto.createHash('sha256').update(new crypto.X509Certificate(pem).raw).digest('hex');
  } catch {
    return undefined;
  }
}

export class NodeIndex {
  readonly byName = new Map<string, NodeEntry>();
  readonly byUuid = new Map<string, NodeEntry>();
  readonly bySerial = new Map<string, NodeEntry>();
  readonly byDeviceCert = new Map<string, NodeEntry>();
  readonly keys = new Map<string, KeyEntry>();
  readonly keysByCert = new Map<string, KeyEntry>();

  /** Updates the entry of an EdgeNode from the object; returns it and what changed. */
  upsertNode(obj: KObject): { entry: NodeEntry; specChanged: boolean; uuidChanged: boolean } {
    const m = obj.metadata;
    const spec = obj.spec ?? {};
    let e = this.byName.get(m.name);
    if (e && e.uid !== m.uid) {
      this.removeNode(m.name);
      e = undefined;
    }
    const uuid: string | undefined = obj.status?.uuid || spec.uuid || undefined;
    const generation = m.generation ?? 0;
    const created = !e;
    if (!e) {
      e = { name: m.name, uid: m.uid, generation: -1, pollIntervalMs: DEFAULT_POLL_INTERVAL_MS, lastContact: 0 };
      const lc = Date.parse(obj.status?.lastContact ?? '');
      if (Number.isFinite(lc)) e.lastContact = lc;
      this.byName.set(m.name, e);
    }
    const specChanged = created || e.generation !== generation;
    if (specChanged) {
      e.generation = generation;
      this.index(this.bySerial, e.serial, spec.serial, e);
      e.serial = spec.serial || undefined;
      e.onboardCertHash = certHashHex(spec.onboardingCertificate);
      e.onboardingKey = spec.onboardingKeyRef?.name || undefined;
      const dch = certHashHex(spec.deviceCertificate);
      this.index(this.byDeviceCert, e.deviceCertHash, dch, e);
      e.deviceCertHash = dch;
      const secs = Number(spec.configItems?.['timer.config.interval']);
      e.pollIntervalMs = Number.isFinite(secs) && secs > 0 ? secs * 1000 : DEFAULT_POLL_INTERVAL_MS;
    }
    const uuidChanged = e.uuid !== uuid;
    if (uuidChanged) this.bindUuid(e, uuid);
    return { entry: e, specChanged, uuidChanged };
  }

  bindUuid(e: NodeEntry, uuid: string | undefined): void {
    this.index(this.byUuid, e.uuid, uuid, e);
    e.uuid = uuid;
  }

  removeNode(name: string): NodeEntry | undefined {
    const e = this.byName.get(name);
    if (!e) return undefined;
    this.byName.delete(name);
    if (e.uuid && this.byUuid.get(e.uuid) === e) this.byUuid.delete(e.uuid);
    if (e.serial && this.bySerial.get(e.serial) === e) this.bySerial.delete(e.serial);
    if (e.deviceCertHash && this.byDeviceCert.get(e.deviceCertHash) === e) this.byDeviceCert.delete(e.deviceCertHash);
    return e;
  }

  upsertKey(obj: KObject): KeyEntry | undefined {
    this.removeKey(obj.metadata.name);
    const spec = obj.spec ?? {};
    const certHash = certHashHex(spec.certificate);
    if (!certHash) return undefined;
    const k: KeyEntry = {
      name: obj.metadata.name,
      certHash,
      autoEnroll: spec.autoEnroll === true,
      serials: spec.serials ?? [],
      labels: spec.template?.labels ?? {},
      annotations: spec.template?.annotations ?? {},
    };
    this.keys.set(k.name, k);
    this.keysByCert.set(certHash, k);
    return k;
  }

  removeKey(name: string): void {
    const k = this.keys.get(name);
    if (!k) return;
    this.keys.delete(name);
    if (this.keysByCert.get(k.certHash) === k) this.keysByCert.delete(k.certHash);
  }

  private index(map: Map<string, NodeEntry>, oldKey: string | undefined, newKey: string | undefined, e: NodeEntry): void {
    if (oldKey === newKey) return;
    if (oldKey && map.get(oldKey) === e) map.delete(oldKey);
    if (newKey) map.set(newKey, e);
  }
}
