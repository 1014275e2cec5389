// The state a kubeve data directory holds besides the object store, read and written through its
// owners' own functions: the API server's credentials (src/apiserver/pki.ts), the EVE controller
// PKI (src/eve/pki.ts) and the EVE device registry with its served configs (src/eve/registry.ts).
// Paths are those startApiServer and startDeviceApi use.

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readCredentialFiles, writeCredentialFiles } from '../apiserver/pki.ts';
import { readPkiFiles, writePkiFiles } from '../eve/pki.ts';
import { DeviceRegistry, type RegistryDump } from '../eve/registry.ts';
import type { StateFile } from '../common/state-files.ts';
import type { ArchiveRecord, FileOwner, FileRecord } from './archive.ts';

export const OBJECT_DB = 'kubeve.db';
const EVE_PKI = join('eve', 'pki');
const REGISTRY_DB = join('eve', 'devices.db');

/** The data dir's state as archive records (the registry read in one transaction, safe while a server runs). */
export function dataDirRecords(dataDir: string): ArchiveRecord[] {
  const out: ArchiveRecord[] = [];
  const files = (owner: FileOwner, list: StateFile[]) => {
    for (const f of list) out.push({ kind: 'file', owner, name: f.name, mode: f.mode, data: f.data.toString('base64') });
  };
  const creds = readCredentialFiles(dataDir);
  files('apiserver-pki', creds.pki);
  files('apiserver', creds.dataDir);
  files('eve-pki', readPkiFiles(join(dataDir, EVE_PKI)));
  const registry = join(dataDir, REGISTRY_DB);
  if (existsSync(registry)) {
    const dump = DeviceRegistry.dump(registry);
    for (const d of dump.devices) out.push({ kind: 'device', ...d });
    const b64 = (v: Uint8Array | null) => (v ? Buffer.from(v).toString('base64') : null);
    for (const c of dump.configs) out.push({ kind: 'config', uuid: c.uuid, hash: c.hash, bytes: b64(c.bytes)! });
    for (const a of dump.attest) out.push({ kind: 'attest', uuid: a.uuid, certs: b64(a.certs), token: b64(a.token), keys: b64(a.keys) });
  }
  return out;
}

/** Accumulates the data-dir records of an archive and writes them in one go. */
export class DataDirWriter {
  private readonly files = new Map<FileOwner, StateFile[]>();
  private readonly dump: RegistryDump = { devices: [], configs: [], attest: [] };

  add(r: ArchiveRecord): void {
    const bytes = (v: string | null) => (v === null ? null : Buffer.from(v, 'base64'));
    switch (r.kind) {
      case 'file': {
        const list = this.files.get(r.owner) ?? [];
        list.push({ name: r.name, mode: r.mode, data: Buffer.from((r as FileRecord).data, 'base64') });
        this.files.set(r.owner, list);
        break;
      }
      case 'device': {
        const { kind: _, ...row } = r;
        this.dump.devices.push(row);
        break;
      }
      case 'config':
        this.dump.configs.push({ uuid: r.uuid, hash: r.hash, bytes: bytes(r.bytes)! });
        break;
      case 'attest':
        this.dump.attest.push({ uuid: r.uuid, certs: bytes(r.certs), token: bytes(r.token), keys: bytes(r.keys) });
        break;
    }
  }

  get devices(): number {
    return this.dump.devices.filter((d) => d.deleted_at === null).length;
  }

  write(dataDir: string): void {
    writeCredentialFiles(dataDir, { pki: this.files.get('apiserver-pki') ?? [], dataDir: this.files.get('apiserver') ?? [] });
    writePkiFiles(join(dataDir, EVE_PKI), this.files.get('eve-pki') ?? []);
    if (this.dump.devices.length || this.dump.configs.length || this.dump.attest.length) DeviceRegistry.load(join(dataDir, REGISTRY_DB), this.dump);
  }
}

/** Entries of the data dir (none when it does not exist). */
export function dataDirEntries(dataDir: string): string[] {
  return existsSync(dataDir) ? readdirSync(dataDir) : [];
}

/**
 * Removes the state a restore writes (object database, credentials, EVE PKI and registry). Logs
 * and the audit log stay.
 */
export function clearDataDirState(dataDir: string): void {
  const paths = [OBJECT_DB, REGISTRY_DB].flatMap((f) => [f, `${f}-wal`, `${f}-shm`]);
  paths.push('pki', EVE_PKI, 'tokens.csv', 'admin.kubeconfig');
  for (const p of paths) rmSync(join(dataDir, p), { recursive: true, force: true });
}
