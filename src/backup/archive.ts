// The backup archive: gzip-compressed JSON lines, one record per line.
//
//   {"kind":"header","format":"kubeve-backup","version":1,"createdAt":...,"source":{...}}
//   {"kind":"object",...}  every key of the object store, in modRevision order
//   {"kind":"file",...}    credential files (API server PKI, token file, EVE controller PKI)
//   {"kind":"device",...}, {"kind":"config",...}, {"kind":"attest",...}  the EVE device registry
//   {"kind":"end","records":N,"sha256":"..."}  N records before it; SHA-256 of every line before it
//
// The end record makes a truncated or altered archive detectable before anything is restored
// (gzip's CRC alone says nothing about a file cut at a member boundary). docs/operations.md
// documents the format for operators.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { pipeline as nodePipeline, Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

export const ARCHIVE_FORMAT = 'kubeve-backup';
export const ARCHIVE_VERSION = 1;

export interface ArchiveHeader {
  kind: 'header';
  format: typeof ARCHIVE_FORMAT;
  version: number;
  createdAt: string;
  source: {
    /** The engine the objects were read from. */
    engine: 'sqlite' | 'etcd';
    /** The store's revision the objects were read at: every object's modRevision is at most this. */
    revision: number;
    kubeveVersion: string;
  };
}

/** A key of the object store with its revisions (the value is the stored JSON, without resourceVersion). */
export interface ObjectRecord {
  kind: 'object';
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}
/** A state file; owner says whose directory it belongs in. Data is base64. */
export interface FileRecord {
  kind: 'file';
  owner: FileOwner;
  name: string;
  mode: number;
  data: string;
}
export type FileOwner = 'apiserver-pki' | 'apiserver' | 'eve-pki';
export interface DeviceRecordLine {
  kind: 'device';
  uuid: string;
  cert_hash: string;
  cert_pem: string;
  serial: string;
  soft_serial: string;
  onboard_hash: string;
  created_at: number;
  deleted_at: number | null;
}
/** A served config (bytes base64): its hash is what devices compare, so a 304 survives a restore. */
export interface ConfigRecord {
  kind: 'config';
  uuid: string;
  hash: string;
  bytes: string;
}
export interface AttestRecord {
  kind: 'attest';
  uuid: string;
  certs: string | null;
  token: string | null;
  keys: string | null;
}
export type ArchiveRecord = ObjectRecord | FileRecord | DeviceRecordLine | ConfigRecord | AttestRecord;

interface EndRecord {
  kind: 'end';
  records: number;
  sha256: string;
}

/** The archive cannot be used: not one, damaged, or of a version this kubeve does not read. */
export class ArchiveError extends Error {}

/** Writes the archive to `file` (through a temporary file, so a failed backup leaves no partial archive). */
export async function writeArchive(file: string, header: ArchiveHeader, records: Iterable<ArchiveRecord>): Promise<number> {
  const tmp = `${file}.partial`;
  let count = 0;
  function* lines(): Generator<string> {
    const hash = createHash('sha256');
    const emit = (o: object) => {
      const line = JSON.stringify(o) + '\n';
      hash.update(line);
      return line;
    };
    yield emit(header);
    for (const r of records) {
      count++;
      yield emit(r);
    }
    const end: EndRecord = { kind: 'end', records: count, sha256: hash.digest('hex') };
    yield JSON.stringify(end) + '\n';
  }
  try {
    await pipeline(Readable.from(lines()), createGzip(), createWriteStream(tmp, { mode: 0o600 }));
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return count;
}

/** Lines of the (gunzipped) archive; gzip and read errors become ArchiveErrors. */
async function* rawLines(file: string): AsyncGenerator<string> {
  // stream.pipeline returns its last stream and destroys it with any stage's error, so iterating it throws.
  const gunzipped = nodePipeline(createReadStream(file), createGunzip(), () => {});
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of gunzipped) {
      rest += decoder.write(chunk as Buffer);
      const lines = rest.split('\n');
      rest = lines.pop()!;
      yield* lines;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ArchiveError(`${file}: no such file`);
    if (code?.startsWith('Z_')) throw new ArchiveError(`${file} is not a kubeve backup archive or is damaged (gzip: ${(e as Error).message})`);
    throw new ArchiveError(`cannot read ${file}: ${(e as Error).message}`);
  }
  rest += decoder.end();
  if (rest) yield rest;
}

/**
 * Reads the whole archive once and checks it: header, version, every record's shape, record count
 * and checksum. Nothing should be restored from an archive before this passes.
 */
export async function verifyArchive(file: string): Promise<{ header: ArchiveHeader; counts: Record<ArchiveRecord['kind'], number> }> {
  const hash = createHash('sha256');
  let header: ArchiveHeader | undefined;
  let end: EndRecord | undefined;
  let n = 0;
  const counts = { object: 0, file: 0, device: 0, config: 0, attest: 0 };
  const keys = new Set<string>();
  for await (const line of rawLines(file)) {
    if (end) throw new ArchiveError(`${file} is damaged: data after the end record`);
    const rec = parseLine(file, line, n + 1);
    if (!header) {
      header = checkHeader(file, rec);
    } else if (rec.kind === 'end') {
      end = rec as unknown as EndRecord;
      continue;
    } else {
      checkRecord(file, rec, n + 1);
      if (rec.kind === 'object') {
        // What a restore would trip over half way is refused here, before anything is written.
        const o = rec as unknown as ObjectRecord;
        if (o.modRevision > header.source.revision)
          throw new ArchiveError(`${file} is damaged: line ${n + 1} has a revision above the archive's (${header.source.revision})`);
        if (keys.has(o.key)) throw new ArchiveError(`${file} is damaged: key ${o.key} appears twice`);
        keys.add(o.key);
      }
      counts[(rec as unknown as ArchiveRecord).kind]++;
    }
    hash.update(line + '\n');
    n++;
  }
  if (!header) throw new ArchiveError(`${file} is empty: not a kubeve backup archive`);
  if (!end) throw new ArchiveError(`${file} is truncated: it has no end record`);
  if (end.records !== n - 1) throw new ArchiveError(`${file} is damaged: ${n - 1} records, the end record says ${end.records}`);
  if (end.sha256 !== hash.digest('hex')) throw new ArchiveError(`${file} is damaged: checksum mismatch`);
  return { header, counts };
}

/** The records of an archive verifyArchive has passed, in order. */
export async function* readRecords(file: string): AsyncGenerator<ArchiveRecord> {
  let first = true;
  for await (const line of rawLines(file)) {
    const rec = JSON.parse(line) as ArchiveRecord | ArchiveHeader | EndRecord;
    if (first) {
      first = false;
      continue;
    }
    if (rec.kind === 'end') return;
    yield rec as ArchiveRecord;
  }
}

function parseLine(file: string, line: string, n: number): { kind?: unknown } & Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ArchiveError(n === 1 ? `${file} is not a kubeve backup archive` : `${file} is damaged: line ${n} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ArchiveError(`${file} is damaged: line ${n} is not a record`);
  return v as Record<string, unknown>;
}

function checkHeader(file: string, rec: Record<string, unknown>): ArchiveHeader {
  if (rec.kind !== 'header' || rec.format !== ARCHIVE_FORMAT) throw new ArchiveError(`${file} is not a kubeve backup archive`);
  if (rec.version !== ARCHIVE_VERSION) {
    throw new ArchiveError(`${file} is a kubeve backup archive of version ${JSON.stringify(rec.version)}; this kubeve reads version ${ARCHIVE_VERSION}`);
  }
  const src = rec.source as Record<string, unknown> | undefined;
  if (!src || (src.engine !== 'sqlite' && src.engine !== 'etcd') || !isRevision(src.revision)) throw new ArchiveError(`${file} is damaged: bad header`);
  return rec as unknown as ArchiveHeader;
}

const isRevision = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isString = (v: unknown): v is string => typeof v === 'string';
const isBase64OrNull = (v: unknown) => v === null || (isString(v) && /^[A-Za-z0-9+/]*={0,2}$/.test(v));

function checkRecord(file: string, r: Record<string, unknown>, n: number): void {
  let ok: boolean;
  switch (r.kind) {
    case 'object':
      ok =
        isString(r.key) && r.key !== '' && isString(r.value) && isRevision(r.createRevision) && isRevision(r.modRevision) && r.createRevision <= r.modRevision;
      break;
    case 'file':
      ok =
        (r.owner === 'apiserver-pki' || r.owner === 'apiserver' || r.owner === 'eve-pki') &&
        isString(r.name) &&
        /^[\w.-]+$/.test(r.name) &&
        Number.isInteger(r.mode) &&
        (r.mode as number) >= 0 &&
        (r.mode as number) <= 0o777 &&
        isString(r.data) &&
        isBase64OrNull(r.data);
      break;
    case 'device':
      ok =
        [r.uuid, r.cert_hash, r.cert_pem, r.serial, r.soft_serial, r.onboard_hash].every(isString) &&
        typeof r.created_at === 'number' &&
        (r.deleted_at === null || typeof r.deleted_at === 'number');
      break;
    case 'config':
      ok = isString(r.uuid) && isString(r.hash) && isString(r.bytes) && isBase64OrNull(r.bytes);
      break;
    case 'attest':
      ok = isString(r.uuid) && isBase64OrNull(r.certs) && isBase64OrNull(r.token) && isBase64OrNull(r.keys);
      break;
    default:
      throw new ArchiveError(`${file}: line ${n} holds a record of unknown kind ${JSON.stringify(r.kind)}`);
  }
  if (!ok) throw new ArchiveError(`${file} is damaged: line ${n} is not a valid ${String(r.kind)} record`);
}
