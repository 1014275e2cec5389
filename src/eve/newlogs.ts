// newlogs upload format: one gzip member whose content is JSON lines of LogEntry, with
// metadata in the gzip *header*: device logs put LogBundle JSON {devID,image,eveVersion} in
// the Comment, app logs put the app name in the Name field. node:zlib neither reads nor
// writes those header fields, so the header is handled here by hand (RFC 1952).
import zlib from 'node:zlib';
import { depthExceeds } from '../common/json.ts';

/** Log lines nested deeper than this are counted as bad lines (the API server's body bound). */
const MAX_LINE_NESTING = 512;

const FTEXT = 1,
  FHCRC = 2,
  FEXTRA = 4,
  FNAME = 8,
  FCOMMENT = 16;

/** LogEntry as EVE's Go encoding/json writes it (all keys optional). */
export interface LogEntryJson {
  severity?: string;
  source?: string;
  iid?: string;
  content?: string;
  msgid?: number | string;
  tags?: Record<string, string>;
  timestamp?: { seconds?: number | string; nanos?: number };
  filename?: string;
  function?: string;
}

export interface GzipHeader {
  name?: string;
  comment?: string;
  mtime: number;
}

export class NewlogsError extends Error {}

/** Parse the RFC 1952 header; returns it with the offset of the deflate data. */
export function parseGzipHeader(buf: Uint8Array): GzipHeader & { offset: number } {
  if (buf.length < 10 || buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 8) throw new NewlogsError('not a gzip stream');
  const flg = buf[3]!;
  const mtime = (buf[4]! | (buf[5]! << 8) | (buf[6]! << 16) | (buf[7]! << 24)) >>> 0;
  let i = 10;
  const need = (n: number) => {
    if (i + n > buf.length) throw new NewlogsError('truncated gzip header');
  };
  if (flg & FEXTRA) {
    need(2);
    const xlen = buf[i]! | (buf[i + 1]! << 8);
    i += 2;
    need(xlen);
    i += xlen;
  }
  const zstr = (): string => {
    const end = buf.indexOf(0, i);
    if (end < 0) throw new NewlogsError('unterminated gzip header string');
    const s = Buffer.from(buf.subarray(i, end)).toString('latin1'); // RFC 1952: ISO 8859-1
    i = end + 1;
    return s;
  };
  const h: GzipHeader & { offset: number } = { mtime, offset: 0 };
  if (flg & FNAME) h.name = zstr();
  if (flg & FCOMMENT) h.comment = zstr();
  if (flg & FHCRC) {
    need(2);
    i += 2;
  }
  h.offset = i;
  return h;
}

export interface ParsedNewlogs {
  header: GzipHeader;
  /** LogBundle metadata from the Comment (device logs). */
  bundle?: { devID?: string; image?: string; eveVersion?: string };
  entries: LogEntryJson[];
  /** Lines that were not valid JSON objects (skipped). */
  badLines: number;
}

/** Decode a newlogs body (after the AuthContainer is opened). */
export function parseNewlogs(body: Uint8Array, maxOutputBytes = 8 << 20): ParsedNewlogs {
  const header = parseGzipHeader(body);
  let text: string;
  try {
    text = zlib.gunzipSync(body, { maxOutputLength: maxOutputBytes }).toString('utf8');
  } catch (e) {
    throw new NewlogsError(`bad gzip data: ${(e as Error).message}`);
  }
  let bundle: ParsedNewlogs['bundle'];
  if (header.comment) {
    try {
      const j = JSON.parse(header.comment) as unknown;
      if (j && typeof j === 'object' && !depthExceeds(j, MAX_LINE_NESTING)) bundle = j as ParsedNewlogs['bundle'];
    } catch {
      /* comment is informational only */
    }
  }
  const entries: LogEntryJson[] = [];
  let badLines = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as unknown;
      // A log entry is flat; one nested past the API server's bound is garbage, not something to store.
      if (e && typeof e === 'object' && !Array.isArray(e) && !depthExceeds(e, MAX_LINE_NESTING)) entries.push(toLogEntry(e as Record<string, unknown>));
      else badLines++;
    } catch {
      badLines++;
    }
  }
  return { header, bundle, entries, badLines };
}

const STRING_KEYS = ['severity', 'source', 'iid', 'content', 'filename', 'function'] as const;

/**
 * Keeps what LogEntry can hold, with its types: a device's line is stored and served as given,
 * so a hostile one (objects nested thousands deep, huge numbers, keys like __proto__) must not
 * reach the log store or its readers in any other shape.
 */
export function toLogEntry(j: Record<string, unknown>): LogEntryJson {
  const e: LogEntryJson = {};
  for (const k of STRING_KEYS) if (typeof j[k] === 'string') e[k] = j[k];
  const id = j.msgid;
  if ((typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < 2 ** 64) || (typeof id === 'string' && /^\d{1,20}$/.test(id))) e.msgid = id;
  const tags = j.tags;
  if (tags && typeof tags === 'object' && !Array.isArray(tags)) {
    const kept = Object.entries(tags).filter((kv): kv is [string, string] => typeof kv[1] === 'string');
    if (kept.length) e.tags = Object.fromEntries(kept);
  }
  const ts = j.timestamp as Record<string, unknown> | null | undefined;
  if (ts && typeof ts === 'object' && !Array.isArray(ts)) {
    const t: NonNullable<LogEntryJson['timestamp']> = {};
    if ((typeof ts.seconds === 'number' && Number.isFinite(ts.seconds)) || (typeof ts.seconds === 'string' && /^-?\d{1,20}$/.test(ts.seconds)))
      t.seconds = ts.seconds;
    if (typeof ts.nanos === 'number' && Number.isInteger(ts.nanos) && ts.nanos >= 0 && ts.nanos < 1e9) t.nanos = ts.nanos;
    e.timestamp = t;
  }
  return e;
}

/**
 * Build a newlogs gzip body the way EVE's newlogd does (for the simulator and tests):
 * JSON lines, BestCompression, metadata in the header Comment (device) or Name (app).
 */
export function buildNewlogs(entries: LogEntryJson[], meta: { comment?: string; name?: string; mtime?: Date } = {}): Buffer {
  const data = Buffer.from(entries.map((e) => JSON.stringify(e)).join('\n') + (entries.length ? '\n' : ''), 'utf8');
  const deflated = zlib.deflateRawSync(data, { level: 9 });
  let flg = 0;
  const parts: Buffer[] = [];
  if (meta.name !== undefined) {
    flg |= FNAME;
    parts.push(Buffer.from(meta.name, 'latin1'), Buffer.alloc(1));
  }
  if (meta.comment !== undefined) {
    flg |= FCOMMENT;
    parts.push(Buffer.from(meta.comment, 'latin1'), Buffer.alloc(1));
  }
  const hdr = Buffer.alloc(10);
  hdr[0] = 0x1f;
  hdr[1] = 0x8b;
  hdr[2] = 8;
  hdr[3] = flg & ~FTEXT;
  hdr.writeUInt32LE(Math.floor((meta.mtime ?? new Date()).getTime() / 1000) >>> 0, 4);
  hdr[8] = 2; // XFL: maximum compression
  hdr[9] = 3; // OS: Unix
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.length >>> 0, 4);
  return Buffer.concat([hdr, ...parts, deflated, trailer]);
}
