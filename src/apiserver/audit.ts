// The audit log: one JSON line per mutating request (allowed or refused) in <dataDir>/audit.log,
// rotated by size into audit.log.1 … audit.log.<keep>. Writes are synchronous appends so that lines
// are complete and ordered even if the process dies; a mutating request costs one small write.

import { closeSync, existsSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface AuditEntry {
  timestamp: string;
  user: string;
  groups: string[];
  /** The identity that asked, when it impersonated `user`. */
  impersonatedBy?: string;
  verb: string;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Non-resource requests. */
  path?: string;
  code: number;
  sourceIP?: string;
}

export const MUTATING_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export interface AuditOptions {
  maxBytes?: number;
  /** Rotated files kept besides the live one. */
  keep?: number;
}

export class AuditLog {
  readonly path: string;
  private fd: number;
  private size: number;
  private maxBytes: number;
  private keep: number;

  constructor(dataDir: string, opts: AuditOptions = {}) {
    this.path = join(dataDir, 'audit.log');
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.keep = opts.keep ?? 3;
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  record(e: AuditEntry): void {
    const line = Buffer.from(JSON.stringify(e) + '\n');
    if (this.size > 0 && this.size + line.length > this.maxBytes) this.rotate();
    writeSync(this.fd, line);
    this.size += line.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    const rotated = (i: number) => `${this.path}.${i}`;
    if (existsSync(rotated(this.keep))) rmSync(rotated(this.keep));
    for (let i = this.keep - 1; i >= 1; i--) if (existsSync(rotated(i))) renameSync(rotated(i), rotated(i + 1));
    renameSync(this.path, rotated(1));
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}
