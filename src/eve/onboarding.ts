// A simple persisted onboarding allow-list, usable as DeviceHooks.admitOnboarding when kubeve
// runs the device API alone (the Kubernetes layer replaces it with OnboardingKey/EdgeNode
// resources). Entries are (onboarding cert, serial) pairs; serial "*" admits any serial
// (zero-touch enrolment). An entry may pre-set the UUID to adopt an existing device.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { certDer } from './envelope.ts';
import type { OnboardingDecision, OnboardingRequest } from './hooks.ts';

export interface AllowEntry {
  onboardCertHash: string;
  serial: string;
  uuid?: string;
}

export function onboardCertHash(pem: string): string {
  return crypto.createHash('sha256').update(certDer(pem)).digest('hex');
}

export class OnboardingAllowList {
  private entries: AllowEntry[] = [];
  constructor(private readonly file?: string) {
    if (file && fs.existsSync(file)) this.entries = (JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: AllowEntry[] }).entries;
  }

  allow(onboardCertPem: string, serial: string, uuid?: string): AllowEntry {
    const e: AllowEntry = { onboardCertHash: onboardCertHash(onboardCertPem), serial, ...(uuid ? { uuid: uuid.toLowerCase() } : {}) };
    this.entries = this.entries.filter((x) => !(x.onboardCertHash === e.onboardCertHash && x.serial === serial));
    this.entries.push(e);
    this.save();
    return e;
  }

  list(): readonly AllowEntry[] {
    return this.entries;
  }

  /** Serial first, then soft serial (like Adam), then a "*" wildcard. */
  admit(req: OnboardingRequest): OnboardingDecision {
    const mine = this.entries.filter((e) => e.onboardCertHash === req.onboardCertHash);
    const hit =
      mine.find((e) => e.serial === req.serial) ??
      (req.softSerial ? mine.find((e) => e.serial === req.softSerial) : undefined) ??
      mine.find((e) => e.serial === '*');
    if (!hit) return 'deny';
    return hit.uuid && hit.serial !== '*' ? { uuid: hit.uuid } : {};
  }

  private save(): void {
    if (this.file) fs.writeFileSync(this.file, JSON.stringify({ entries: this.entries }, null, 2) + '\n');
  }
}
