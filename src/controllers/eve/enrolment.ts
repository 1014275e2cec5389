// Enrolment: which devices may register, and binding a registered device to its EdgeNode.
//
// A device registering (POST /register) with onboarding certificate C and serial S is admitted when
//   1. an EdgeNode has serial S and names C (spec.onboardingCertificate, or an OnboardingKey with C
//      in spec.onboardingKeyRef, or — for an EdgeNode that names no certificate at all — C is any
//      OnboardingKey's certificate, which is how a pending device is approved), or its
//      spec.deviceCertificate is the certificate being registered; the EdgeNode's UUID is used if set;
//   2. else an OnboardingKey with certificate C has autoEnroll (and S in its serials, if listed):
//      an EdgeNode is created from its template;
//   3. else, with an OnboardingKey for C, S is recorded in that key's status.pending and the device
//      gets 403 until an EdgeNode with serial S is created; with no key at all, 403.
// EdgeNodes with spec.deviceCertificate are registered directly (no /register needed).
// Registration writes status.uuid/serial/deviceCertificateHash and the Registered condition.

import crypto from 'node:crypto';
import type { KObject } from '../../apiserver/resource.ts';
import type { DeviceApi } from '../../eve/device-api.ts';
import type { OnboardingDecision, OnboardingRequest, RegisteredDevice } from '../../eve/hooks.ts';
import { isAlreadyExists, type Client } from '../runtime/index.ts';
import { certHashHex, type NodeEntry, type NodeIndex } from './nodes.ts';
import type { EventRecorder } from './recorder.ts';
import { API_VERSION, EDGENODES, FIELD_MANAGER, ONBOARDINGKEYS, rfc3339, setCondition, type StatusWriter } from './status.ts';

/** A DNS-1123 subdomain name for the EdgeNode of a serial. */
export function nodeNameForSerial(serial: string): string {
  let n = serial
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 200);
  n = n.replace(/[^a-z0-9]+$/, '');
  if (n && n === serial) return n;
  // Serials that are not valid names as they are get a short hash so distinct serials stay distinct.
  const h = crypto.createHash('sha256').update(serial).digest('hex').slice(0, 8);
  return n ? `${n}-${h}` : `node-${h}`;
}

export class Enrolment {
  /** UUIDs admitted but not yet reported by deviceRegistered → EdgeNode name. */
  private admitted = new Map<string, string>();
  private api?: DeviceApi;

  constructor(
    private readonly client: Client,
    private readonly index: NodeIndex,
    private readonly status: StatusWriter,
    private readonly events: EventRecorder,
  ) {}

  attach(api: DeviceApi): void {
    this.api = api;
  }

  async admit(req: OnboardingRequest): Promise<OnboardingDecision> {
    const node = this.index.bySerial.get(req.serial) ?? (req.softSerial ? this.index.bySerial.get(req.softSerial) : undefined);
    if (node) {
      if (!this.certMatches(node, req))
        return { deny: `EdgeNode ${node.name} has serial ${req.serial} but does not name onboarding certificate ${req.onboardCertHash.slice(0, 16)}…` };
      const uuid = node.uuid ?? crypto.randomUUID();
      this.admitted.set(uuid, node.name);
      return { uuid };
    }
    const byCert = this.index.byDeviceCert.get(req.deviceCertHash);
    if (byCert) {
      const uuid = byCert.uuid ?? crypto.randomUUID();
      this.admitted.set(uuid, byCert.name);
      return { uuid };
    }
    const key = this.index.keysByCert.get(req.onboardCertHash);
    if (!key) return { deny: `no OnboardingKey holds onboarding certificate ${req.onboardCertHash.slice(0, 16)}… and no EdgeNode has serial ${req.serial}` };
    if (key.autoEnroll && (!key.serials.length || key.serials.includes(req.serial))) {
      const name = await this.createNode(req.serial, key.name, key.labels, key.annotations);
      const uuid = crypto.randomUUID();
      this.admitted.set(uuid, name);
      return { uuid };
    }
    await this.recordPending(key.name, req.serial);
    return {
      deny: `serial ${req.serial} is pending on OnboardingKey ${key.name}: ${key.autoEnroll ? 'not in its spec.serials' : 'autoEnroll is off'}; create an EdgeNode with this serial to admit it`,
    };
  }

  private certMatches(node: NodeEntry, req: OnboardingRequest): boolean {
    if (node.deviceCertHash) return node.deviceCertHash === req.deviceCertHash;
    if (node.onboardCertHash) return node.onboardCertHash === req.onboardCertHash;
    if (node.onboardingKey) return this.index.keys.get(node.onboardingKey)?.certHash === req.onboardCertHash;
    return this.index.keysByCert.has(req.onboardCertHash);
  }

  private async createNode(serial: string, key: string, labels: Record<string, string>, annotations: Record<string, string>): Promise<string> {
    const name = nodeNameForSerial(serial);
    const obj: KObject = {
      apiVersion: API_VERSION,
      kind: 'EdgeNode',
      metadata: { name, ...(Object.keys(labels).length ? { labels } : {}), ...(Object.keys(annotations).length ? { annotations } : {}) },
      spec: { serial, onboardingKeyRef: { name: key } },
    };
    try {
      const created = await this.client.create(EDGENODES, undefined, obj, { fieldManager: FIELD_MANAGER });
      this.index.upsertNode(created);
      void this.events.record(created, 'Normal', 'AutoEnrolled', `created for serial ${serial} by OnboardingKey ${key}`);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      // Created meanwhile by a concurrent registration of the same serial (or by hand): use it.
      const cur = await this.client.get(EDGENODES, undefined, name);
      if (cur.spec?.serial !== serial) throw new Error(`EdgeNode ${name} exists for another serial (${cur.spec?.serial})`);
      this.index.upsertNode(cur);
    }
    return name;
  }

  private async recordPending(key: string, serial: string): Promise<void> {
    const now = Date.now();
    await this.status.mutate(ONBOARDINGKEYS, undefined, key, (st) => {
      const pending: KObject[] = Array.isArray(st.pending) ? st.pending : (st.pending = []);
      const p = pending.find((x) => x.serial === serial);
      // lastSeen is refreshed coarsely: registration retries must not become a write per attempt.
      if (p && now - Date.parse(p.lastSeen ?? '') < 60_000) return false;
      if (p) p.lastSeen = rfc3339(now);
      else pending.push({ serial, firstSeen: rfc3339(now), lastSeen: rfc3339(now) });
      st.pendingCount = pending.length;
      setCondition(st, { type: 'Ready', status: 'True', reason: 'CertificateValid', message: 'onboarding certificate accepted' }, now);
    });
  }

  /** DeviceHooks.deviceRegistered: bind the device to its EdgeNode. */
  async registered(dev: RegisteredDevice): Promise<void> {
    const name = this.admitted.get(dev.uuid) ?? this.index.byUuid.get(dev.uuid)?.name;
    this.admitted.delete(dev.uuid);
    if (!name) return;
    await this.bind(name, dev.uuid, dev.serial, dev.deviceCertHash, 'Onboarded');
  }

  private async bind(name: string, uuid: string, serial: string, deviceCertHash: string, reason: string): Promise<void> {
    const entry = this.index.byName.get(name);
    if (entry) this.index.bindUuid(entry, uuid);
    const r = await this.status.mutate(EDGENODES, undefined, name, (st) => {
      st.uuid = uuid;
      if (serial) st.serial = serial;
      st.deviceCertificateHash = Buffer.from(deviceCertHash, 'hex').toString('base64');
      if (!st.phase || st.phase === 'Pending') st.phase = 'Registered';
      setCondition(st, { type: 'Registered', status: 'True', reason, message: `device ${uuid} registered${serial ? ` with serial ${serial}` : ''}` });
    });
    if (r.written && r.before?.status?.uuid !== uuid)
      void this.events.record(r.object!, 'Normal', 'Registered', `device registered with UUID ${uuid}${serial ? `, serial ${serial}` : ''}`);
    const key = r.object?.spec?.onboardingKeyRef?.name;
    if (key && serial) await this.keyEnrolled(key, serial);
  }

  private async keyEnrolled(key: string, serial: string): Promise<void> {
    let enrolled = 0;
    for (const e of this.index.byName.values()) if (e.onboardingKey === key && e.uuid) enrolled++;
    await this.status.mutate(ONBOARDINGKEYS, undefined, key, (st) => {
      const pending = (st.pending ?? []).filter((p: KObject) => p.serial !== serial);
      if (pending.length) st.pending = pending;
      else delete st.pending;
      st.pendingCount = pending.length;
      st.enrolled = Math.max(enrolled, st.enrolled ?? 0);
    });
  }

  /** An EdgeNode that names a device certificate is registered directly, without /register. */
  async reconcileNode(obj: KObject): Promise<void> {
    const api = this.api;
    const pem: string | undefined = obj.spec?.deviceCertificate;
    if (!api || !pem || obj.metadata.deletionTimestamp) return;
    const hash = certHashHex(pem);
    if (!hash) return;
    const bound: string | undefined = obj.status?.uuid;
    const known = bound ? api.getDevice(bound) : undefined;
    if (known && known.deviceCertHash === hash) return;
    if (known) await api.deleteDevice(bound!); // the certificate was replaced
    const uuid = bound ?? obj.spec.uuid ?? crypto.randomUUID();
    const dev = api.addDevice({ deviceCertPem: pem, uuid, serial: obj.spec.serial });
    await this.bind(obj.metadata.name, dev.uuid, dev.serial, dev.deviceCertHash, 'DeviceCertificate');
  }

  /** The EdgeNode is gone: forget the device (it gets 404 and re-asks for its UUID, as EVE does). */
  async nodeDeleted(entry: NodeEntry): Promise<void> {
    if (entry.uuid && this.api?.getDevice(entry.uuid)) await this.api.deleteDevice(entry.uuid);
  }
}
