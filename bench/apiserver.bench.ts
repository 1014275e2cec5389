// API server benchmark: create/update throughput, create latency under a fixed rate, list latency
// at 10,000 objects, watch fan-out to 100 watchers and server memory, each beside raw better-sqlite3
// operations measured in the same run. Watch delay is timed from the start of the write request.
// The server runs as its own process (as in production), the
// load generator in this one; both share the machine's cores.
//
//   npm run bench            (writes nothing outside a temp directory)

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const dir = mkdtempSync(join(tmpdir(), 'kubeve-bench-'));

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const fmt = (n: number, d = 1) => n.toFixed(d);

// ---- raw SQLite reference (same journal mode and sync level as the server) -------------------

function rawSqlite() {
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE kv (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, value BLOB); CREATE INDEX kv_name ON kv(name, id);');
  const ins = db.prepare('INSERT INTO kv (name, value) VALUES (?, ?)');
  const value = JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'x', namespace: 'bench', uid: '00000000-0000-0000-0000-000000000000' },
    data: { k: 'v'.repeat(200) },
  });
  const n = 20000;
  let t = performance.now();
  for (let i = 0; i < n; i++) db.transaction(() => ins.run(`/k/${i}`, value))();
  const commitsPerSec = n / ((performance.now() - t) / 1000);
  const sel = db.prepare('SELECT name, value FROM kv WHERE name >= ? AND name < ? ORDER BY name LIMIT 10000');
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    t = performance.now();
    const rows = sel.all('/k/', '/k0') as Array<{ value: string }>;
    JSON.stringify(rows.map((r) => JSON.parse(r.value)));
    times.push(performance.now() - t);
  }
  db.close();
  return { commitsPerSec, list10k: pct(times, 50) };
}

// ---- HTTP client -------------------------------------------------------------------------

interface Conn {
  port: number;
  token: string;
  ca: string;
  agent: https.Agent;
}

/** One request; anything but the expected 2xx aborts the benchmark (a failing request is not a fast one). */
function req(c: Conn, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  const contentType = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  return new Promise((resolve, reject) => {
    const r = https.request(
      {
        host: '127.0.0.1',
        port: c.port,
        path,
        method,
        agent: c.agent,
        headers: { Authorization: `Bearer ${c.token}`, 'Content-Type': contentType, Accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode! >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
          else resolve({ status: res.statusCode!, body: text });
        });
      },
    );
    r.on('error', reject);
    r.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const cm = (name: string) => ({ metadata: { name, labels: { app: 'bench' } }, data: { k: 'v'.repeat(200) } });

async function closedLoop(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return n / ((performance.now() - t) / 1000);
}

async function startServer(): Promise<{ child: ChildProcess; conn: Conn }> {
  const port = await freePort();
  const dataDir = join(dir, 'data');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'server', '--data-dir', dataDir, '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('KUBECONFIG')) resolve();
    });
  });
  const token = readFileSync(join(dataDir, 'tokens.csv'), 'utf8').split(',')[0];
  const ca = readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8');
  return { child, conn: { port, token, ca, agent: new https.Agent({ keepAlive: true, maxSockets: 64, ca }) } };
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main() {
  const raw = rawSqlite();
  const { child, conn } = await startServer();
  const ns = '/api/v1/namespaces/default/configmaps';
  try {
    // Warm-up (JIT, TLS sessions).
    await closedLoop(500, 16, (i) => req(conn, 'POST', ns, cm(`warm-${i}`)));

    const creates = await closedLoop(5000, 16, (i) => req(conn, 'POST', ns, cm(`c-${i}`)));
    const updates = await closedLoop(5000, 16, (i) => req(conn, 'PATCH', `${ns}/c-${i}`, { data: { k: `u${i}` } }).then(() => undefined));

    // Open loop: 500 creates/s for 5 s, latency per request.
    const lat: number[] = [];
    const rate = 500;
    const total = rate * 5;
    const start = performance.now();
    await Promise.all(
      Array.from(
        { length: total },
        (_, i) =>
          new Promise<void>((resolve) => {
            setTimeout(
              async () => {
                const t = performance.now();
                await req(conn, 'POST', ns, cm(`r-${i}`));
                lat.push(performance.now() - t);
                resolve();
              },
              (i * 1000) / rate - (performance.now() - start),
            );
          }),
      ),
    );

    // Fill to 10,000 objects in one namespace, then time full lists.
    await req(conn, 'POST', '/api/v1/namespaces', { metadata: { name: 'big' } });
    await closedLoop(10000, 16, (i) => req(conn, 'POST', '/api/v1/namespaces/big/configmaps', cm(`l-${i}`)));
    const listTimes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      const r = await req(conn, 'GET', '/api/v1/namespaces/big/configmaps');
      if (JSON.parse(r.body).items.length !== 10000) throw new Error('list size');
      listTimes.push(performance.now() - t);
    }
    const rss10k = rssMiB(child.pid!);

    // Watch fan-out: 100 watchers, events timed from the write's acknowledgement.
    const watchers = 100;
    const sent = new Map<string, number>();
    const delays: number[] = [];
    const sockets: import('node:http').ClientRequest[] = [];
    let ready = 0;
    await new Promise<void>((resolve) => {
      for (let w = 0; w < watchers; w++) {
        const r = https.request(
          {
            host: '127.0.0.1',
            port: conn.port,
            path: '/api/v1/namespaces/watched/configmaps?watch=true&resourceVersion=0',
            agent: false,
            ca: conn.ca,
            headers: { Authorization: `Bearer ${conn.token}` },
          },
          (res) => {
            if (++ready === watchers) resolve();
            let buf = '';
            res.on('data', (d) => {
              buf += d;
              let i;
              while ((i = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, i);
                buf = buf.slice(i + 1);
                const name = JSON.parse(line).object.metadata.name;
                const at = sent.get(name);
                if (at !== undefined) delays.push(performance.now() - at);
              }
            });
          },
        );
        r.end();
        sockets.push(r);
      }
    });
    await req(conn, 'POST', '/api/v1/namespaces', { metadata: { name: 'watched' } });
    for (let i = 0; i < 200; i++) {
      const name = `w-${i}`;
      const t = performance.now();
      sent.set(name, t);
      await req(conn, 'POST', '/api/v1/namespaces/watched/configmaps', cm(name));
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const s of sockets) s.destroy();

    const ratio = creates / raw.commitsPerSec;
    console.log('\nkubeve API server benchmark (server process + load generator on the same machine)\n');
    console.log(`raw better-sqlite3 single-row commits/s (WAL, NORMAL) : ${fmt(raw.commitsPerSec, 0)}`);
    console.log(`creates/s over HTTPS keep-alive (16 in flight)       : ${fmt(creates, 0)}  (${fmt(ratio * 100)} % of raw; target >= 15 %)`);
    console.log(`updates/s (merge patch, 16 in flight)                : ${fmt(updates, 0)}  (${fmt((updates / raw.commitsPerSec) * 100)} % of raw)`);
    console.log(`create latency at ${rate}/s: p50 ${fmt(pct(lat, 50))} ms, p99 ${fmt(pct(lat, 99))} ms  (target p99 < 20 ms)`);
    console.log(
      `list of 10,000 ConfigMaps: p50 ${fmt(pct(listTimes, 50))} ms, max ${fmt(Math.max(...listTimes))} ms  (raw SQLite select+parse+stringify ${fmt(raw.list10k)} ms; target < 500 ms)`,
    );
    console.log(
      `watch delivery to ${watchers} watchers: ${delays.length} events, p50 ${fmt(pct(delays, 50))} ms, p99 ${fmt(pct(delays, 99))} ms  (target p99 < 20 ms)`,
    );
    console.log(`server resident memory holding ${10000 + 5000 + total + 500} objects: ${fmt(rss10k)} MiB  (target < 250 MB)`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    conn.agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
