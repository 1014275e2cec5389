// Bounded log store for device and app-instance logs uploaded via newlogs.
//
// One JSON-lines file per (device, source) under <dir>/<deviceUuid>/, where source is
// "device" or "app-<appUuid>". Each file is capped at `maxFileBytes`; when full it is rotated
// to ".1" (replacing the previous one), so a source never uses more than 2 × maxFileBytes of
// disk and the store uses no memory per device. Logs never touch the resource store.
import fs from 'node:fs';
import path from 'node:path';
import type { LogEntryJson } from './newlogs.ts';

export interface StoredLog extends LogEntryJson {
  /** Receive time at the controller, ms since epoch. */
  rx: number;
}

export interface LogQuery {
  device: string;
  /** App instance UUID; omit for device (EVE) logs. */
  app?: string;
  /** Only entries whose device timestamp (or receive time) is >= this (ms since epoch). */
  sinceMs?: number;
  /** Return at most the newest `limit` entries (default 1000). */
  limit?: number;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class LogStore {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly sizes = new Map<string, number>();

  constructor(
    readonly dir: string,
    readonly maxFileBytes = 1 << 20,
  ) {
    fs.mkdirSync(dir, { recursive: true });
  }

  private file(device: string, app?: string): string {
    if (!UUID_RE.test(device) || (app !== undefined && !UUID_RE.test(app))) throw new Error('invalid uuid');
    return path.join(this.dir, device, app ? `app-${app}.jsonl` : 'device.jsonl');
  }

  /** Append entries (serialised per file; rotation keeps the size bounded). */
  append(device: string, app: string | undefined, entries: LogEntryJson[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const f = this.file(device, app);
    const rx = Date.now();
    let chunk = '';
    for (const e of entries) {
      const line = JSON.stringify({ ...e, rx });
      // A single oversized line would defeat the cap; truncate its content.
      chunk += (line.length > this.maxFileBytes / 4 ? JSON.stringify({ ...e, content: String(e.content ?? '').slice(0, 4096), rx }) : line) + '\n';
    }
    const prev = this.queues.get(f) ?? Promise.resolve();
    const next = prev
      .then(() => this.write(f, Buffer.from(chunk, 'utf8')))
      .finally(() => {
        if (this.queues.get(f) === next) this.queues.delete(f);
      });
    this.queues.set(f, next);
    return next;
  }

  private async write(f: string, buf: Buffer): Promise<void> {
    let size = this.sizes.get(f);
    if (size === undefined) {
      await fs.promises.mkdir(path.dirname(f), { recursive: true });
      size = await fs.promises.stat(f).then(
        (s) => s.size,
        () => 0,
      );
    }
    if (size + buf.length > this.maxFileBytes && size > 0) {
      await fs.promises.rename(f, f + '.1');
      size = 0;
    }
    await fs.promises.appendFile(f, buf);
    this.sizes.set(f, size + buf.length);
  }

  /** Newest entries for a device or app instance, oldest first. */
  async query(q: LogQuery): Promise<StoredLog[]> {
    const f = this.file(q.device, q.app);
    await this.queues.get(f);
    const limit = q.limit ?? 1000;
    const out: StoredLog[] = [];
    for (const name of [f + '.1', f]) {
      let text: string;
      try {
        text = await fs.promises.readFile(name, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          const e = JSON.parse(line) as StoredLog;
          if (q.sinceMs !== undefined && entryTimeMs(e) < q.sinceMs) continue;
          out.push(e);
        } catch {
          /* torn line after a crash */
        }
      }
    }
    return out.slice(-limit);
  }

  /** App instances that have logs for a device. */
  async apps(device: string): Promise<string[]> {
    const names = await fs.promises.readdir(path.join(this.dir, device)).catch(() => [] as string[]);
    return names.filter((n) => n.startsWith('app-') && n.endsWith('.jsonl')).map((n) => n.slice(4, -6));
  }

  /** Drop every log of a device (device deleted). */
  async remove(device: string): Promise<void> {
    if (!UUID_RE.test(device)) return;
    for (const k of this.sizes.keys()) if (k.includes(device)) this.sizes.delete(k);
    await fs.promises.rm(path.join(this.dir, device), { recursive: true, force: true });
  }
}

export function entryTimeMs(e: StoredLog): number {
  const s = e.timestamp?.seconds;
  if (s === undefined) return e.rx;
  return Number(s) * 1000 + Math.floor((e.timestamp?.nanos ?? 0) / 1e6);
}
