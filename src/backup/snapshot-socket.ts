// The running server's side of `kubeve backup` on SQLite: the object store's database is held
// with an exclusive lock (one writer, see storage/sqlite.ts), so only the server itself can copy
// it. It listens on <dataDir>/kubeve.sock (mode 0600: whoever may read the data dir's keys may
// ask) for one request per connection:
//
//   → {"snapshot":"/abs/path/new-file"}\n     ← {"ok":true}\n  or  {"error":"..."}\n
//   → {"ping":true}\n                          ← {"ok":true}\n
//
// and answers a snapshot once SQLite's online backup API has written a consistent copy to that
// path. A server on etcd listens too (without a source), so that `kubeve restore` can tell that a
// server still runs on the data dir.

import { chmodSync, existsSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { log } from '../observability/log.ts';

export const SNAPSHOT_SOCKET = 'kubeve.sock';

export interface SnapshotSource {
  backupTo(file: string): Promise<void>;
}

export interface SnapshotService {
  close(): Promise<void>;
}

/**
 * Serves snapshots of `source` on <dataDir>/kubeve.sock; a stale socket file (left by a crash) is
 * replaced. Undefined when another live process answers there already.
 */
export async function serveSnapshots(dataDir: string, source: SnapshotSource | undefined): Promise<SnapshotService | undefined> {
  const path = join(dataDir, SNAPSHOT_SOCKET);
  if (await serverAnswers(dataDir)) {
    log.info('another kubeve process serves snapshots of this data dir; not listening', { socket: path });
    return undefined;
  }
  rmSync(path, { force: true });
  const server: Server = createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', () => {});
    conn.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 4096) conn.destroy();
        return;
      }
      conn.pause();
      void answer(buf.slice(0, nl)).then((reply) => conn.end(JSON.stringify(reply) + '\n'));
    });
  });
  const answer = async (line: string): Promise<{ ok: true } | { error: string }> => {
    try {
      const req = JSON.parse(line) as { snapshot?: unknown; ping?: unknown };
      if (req.ping === true) return { ok: true };
      if (!source) return { error: 'this server keeps its objects in etcd: back them up with --etcd' };
      const file = req.snapshot;
      if (typeof file !== 'string' || !isAbsolute(file)) return { error: 'expected {"snapshot": "<absolute path>"}' };
      if (existsSync(file)) return { error: `${file} exists` };
      const started = Date.now();
      await source.backupTo(file);
      log.info('wrote a snapshot of the object store', { file, ms: Date.now() - started });
      return { ok: true };
    } catch (e) {
      return { error: (e as Error).message };
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    // e.g. a data dir path longer than a socket address allows (108 bytes)
    log.error('cannot listen on the snapshot socket; `kubeve backup` of this running server will fail', { socket: path, err: (e as Error).message });
    return undefined;
  }
  chmodSync(path, 0o600);
  return {
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Asks the server running on `dataDir` for a snapshot of its object store into `file`. Resolves
 * false when no server listens there (nothing holds the socket), true once the file is written.
 */
export function requestSnapshot(dataDir: string, file: string, timeoutMs = 600_000): Promise<boolean> {
  const path = join(dataDir, SNAPSHOT_SOCKET);
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve, reject) => {
    const conn = createConnection(path);
    let buf = '';
    conn.setEncoding('utf8');
    conn.setTimeout(timeoutMs, () => conn.destroy(new Error(`the server did not answer within ${timeoutMs / 1000} s`)));
    conn.on('connect', () => conn.write(JSON.stringify({ snapshot: file }) + '\n'));
    conn.on('data', (c: string) => (buf += c));
    conn.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') resolve(false);
      else reject(new Error(`snapshot socket ${path}: ${e.message}`));
    });
    conn.on('end', () => {
      let reply: { ok?: boolean; error?: string };
      try {
        reply = JSON.parse(buf) as typeof reply;
      } catch {
        return reject(new Error(`snapshot socket ${path}: unexpected answer ${JSON.stringify(buf.slice(0, 200))}`));
      }
      if (reply.ok) resolve(true);
      else reject(new Error(`the server could not write a snapshot: ${reply.error}`));
    });
  });
}

/** Whether a live kubeve server answers on <dataDir>/kubeve.sock. */
export function serverAnswers(dataDir: string): Promise<boolean> {
  const path = join(dataDir, SNAPSHOT_SOCKET);
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const conn = createConnection(path);
    conn.setTimeout(5000, () => conn.destroy());
    conn.on('connect', () => conn.end(JSON.stringify({ ping: true }) + '\n'));
    conn.on('data', () => {});
    conn.on('end', () => resolve(true));
    conn.on('error', () => resolve(false));
    conn.on('close', () => resolve(false));
  });
}
