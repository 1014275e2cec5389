// Copying a module's state files (certificates, keys, token lists) in and out of its directory,
// for backups. Each owner names its files; this only reads and writes them, keeping their modes.

import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface StateFile {
  /** Name within the owner's directory (no path separators). */
  name: string;
  data: Buffer;
  /** Permission bits (0o600 for private keys). */
  mode: number;
}

/** The named files of `dir` that exist. */
export function readStateFiles(dir: string, names: readonly string[]): StateFile[] {
  const out: StateFile[] = [];
  for (const name of names) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    out.push({ name, data: readFileSync(file), mode: statSync(file).mode & 0o777 });
  }
  return out;
}

/** Writes files into `dir` (created 0700); a name its owner does not list is refused, before anything is written. */
export function writeStateFiles(dir: string, files: readonly StateFile[], names: readonly string[]): void {
  for (const f of files) {
    if (!names.includes(f.name)) throw new Error(`${JSON.stringify(f.name)} is not one of the files kept in ${dir}`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of files) {
    const file = join(dir, f.name);
    const mode = f.mode & 0o777 || 0o600;
    writeFileSync(file, f.data, { mode });
    chmodSync(file, mode); // writeFileSync applies the mode only when it creates the file, and through the umask
  }
}
