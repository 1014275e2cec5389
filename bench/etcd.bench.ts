// kubeve on etcd beside raw etcd and beside kubeve on SQLite, in one run on one machine:
// - raw etcd puts/s through etcd3 (the client kubeve uses), its raw KV RPC, and a bare
//   @grpc/grpc-js client over etcd's protos (the alternative client), at equal concurrency;
// - kubeve creates/s over HTTPS at the same concurrency, on etcd and on SQLite;
// - a full list of 10,000 ConfigMaps, and watch delivery (timed from the start of the write).
// etcd (Debian, one member, temp data dir) and each kubeve server run as their own processes.
//
//   npm run bench:etcd

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdStorage } from '../src/apiserver/storage/etcd.ts';
import { freePort, startEtcd, type EtcdCluster } from '../test/helpers/etcd.ts';

const CONCURRENCY = 16;
const CREATES = 3000;
const dir = mkdtempSync(join(tmpdir(), 'kubeve-bench-etcd-'));
const fmt = (n: number, d = 0) => n.toFixed(d);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

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

const VALUE = JSON.stringify({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'x', namespace: 'bench', uid: '00000000-0000-0000-0000-000000000000' },
  data: { k: 'v'.repeat(200) },
});

// ---- raw etcd -------------------------------------------------------------------------------

async function rawEtcd(endpoints: string[]) {
  const client = new Etcd3({ hosts: endpoints });
  const value = Buffer.from(VALUE);
  await closedLoop(500, CONCURRENCY, (i) => client.put(`/raw-warm/${i}`).value(value).exec());
  const put = await closedLoop(CREATES, CONCURRENCY, (i) => client.put(`/raw/put/${i}`).value(value).exec());
  // What EtcdStorage.create sends: a transaction guarded on create_revision == 0.
  const txn = await closedLoop(CREATES, CONCURRENCY, (i) => {
    const key = Buffer.from(`/raw/txn/${i}`);
    return client.kv.txn({ compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }], success: [{ request_put: { key, value } }] });
  });
  client.close();
  return { put, txn };
}

/** The alternative: @grpc/grpc-js with etcd's protos (as shipped in etcd3) and nothing else. */
async function bareGrpc(endpoint: string): Promise<number> {
  // Both arrive with etcd3; they are resolved from it, not declared by kubeve.
  const req = createRequire(createRequire(import.meta.url).resolve('etcd3'));
  const grpc = req('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  const loader = req('@grpc/proto-loader') as { loadSync(file: string, o: object): unknown };
  const proto = join(dirname(req.resolve('etcd3')), '..', 'proto', 'rpc.proto');
  const pkg = grpc.loadPackageDefinition(
    loader.loadSync(proto, { keepCase: true, longs: String, enums: String, defaults: true }) as Parameters<typeof grpc.loadPackageDefinition>[0],
  ) as any;
  const kv = new pkg.etcdserverpb.KV(endpoint.replace(/^http:\/\//, ''), grpc.credentials.createInsecure());
  const value = Buffer.from(VALUE);
  const put = (key: string) =>
    new Promise<void>((resolve, reject) => kv.Put({ key: Buffer.from(key), value }, (err: Error | null) => (err ? reject(err) : resolve())));
  await closedLoop(500, CONCURRENCY, (i) => put(`/grpc-warm/${i}`));
  const rate = await closedLoop(CREATES, CONCURRENCY, (i) => put(`/grpc/put/${i}`));
  kv.close();
  return rate;
}

// ---- kubeve over HTTPS ----------------------------------------------------------------------

interface Conn {
  port: number;
  token: string;
  ca: string;
  agent: https.Agent;
}

function request(c: Conn, method: string, path: string, body?: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = https.request(
      {
        host: '127.0.0.1',
        port: c.port,
        path,
        method,
        agent: c.agent,
        headers: { Authorization: `Bearer ${c.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode! >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
          else resolve(text);
        });
      },
    );
    r.on('error', reject);
    r.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const cm = (name: string) => ({ metadata: { name, labels: { app: 'bench' } }, data: { k: 'v'.repeat(200) } });

async function startKubeve(name: string, extra: string[]): Promise<{ child: ChildProcess; conn: Conn }> {
  const port = await freePort();
  const dataDir = join(dir, name);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'server',
      '--data-dir',
      dataDir,
      '--port',
      String(port),
      '--device-port',
      '0',
      '--device-host',
      '127.0.0.1',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('KUBECONFIG')) resolve();
    });
    child.on('exit', (c) => reject(new Error(`kubeve exited with ${c}`)));
  });
  const token = readFileSync(join(dataDir, 'tokens.csv'), 'utf8').split(',')[0];
  const ca = readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8');
  return { child, conn: { port, token, ca, agent: new https.Agent({ keepAlive: true, maxSockets: 64, ca }) } };
}

async function kubeve(name: string, extra: string[]) {
  const { child, conn } = await startKubeve(name, extra);
  try {
    const ns = '/api/v1/namespaces/default/configmaps';
    await closedLoop(500, CONCURRENCY, (i) => request(conn, 'POST', ns, cm(`warm-${i}`)));
    const creates = await closedLoop(CREATES, CONCURRENCY, (i) => request(conn, 'POST', ns, cm(`c-${i}`)));

    await request(conn, 'POST', '/api/v1/namespaces', { metadata: { name: 'big' } });
    await closedLoop(10_000, CONCURRENCY, (i) => request(conn, 'POST', '/api/v1/namespaces/big/configmaps', cm(`l-${i}`)));
    const lists: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const r = await request(conn, 'GET', '/api/v1/namespaces/big/configmaps');
      if (JSON.parse(r).items.length !== 10_000) throw new Error('list size');
      lists.push(performance.now() - t);
    }

    // 20 watchers; each event timed from the start of the create request that caused it.
    const watchers = 20;
    const sent = new Map<string, number>();
    const delays: number[] = [];
    const sockets: import('node:http').ClientRequest[] = [];
    await request(conn, 'POST', '/api/v1/namespaces', { metadata: { name: 'watched' } });
    let ready = 0;
    await new Promise<void>((resolve) => {
      for (let w = 0; w < watchers; w++) {
        const r = https.request(
          {
            host: '127.0.0.1',
            port: conn.port,
            path: '/api/v1/namespaces/watched/configmaps?watch=true',
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
                const at = sent.get(JSON.parse(line).object.metadata.name);
                if (at !== undefined) delays.push(performance.now() - at);
              }
            });
          },
        );
        r.end();
        sockets.push(r);
      }
    });
    for (let i = 0; i < 200; i++) {
      const name = `w-${i}`;
      sent.set(name, performance.now());
      await request(conn, 'POST', '/api/v1/namespaces/watched/configmaps', cm(name));
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const s of sockets) s.destroy();
    if (delays.length !== watchers * 200) throw new Error(`watchers got ${delays.length} of ${watchers * 200} events`);
    return { creates, list: pct(lists, 50), watchP50: pct(delays, 50), watchP99: pct(delays, 99) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    conn.agent.destroy();
  }
}

/**
 * etcd leader failover seen by EtcdStorage: 8 writers run against a 3-member cluster; each time
 * the leader is SIGKILLed, a probe write is issued every 20 ms, and the pause is the time from
 * the kill to the first acknowledged probe. (Writes in flight at the kill that a follower had
 * forwarded to the dead leader fail only after etcd's request timeout, ~6 s here; the writers
 * keep the load on, the probes measure when the cluster takes writes again.) The killed member
 * is restarted before the next round.
 */
async function failover(rounds: number): Promise<number[]> {
  const cluster = await startEtcd(3);
  const storage = await EtcdStorage.open({ endpoints: cluster.endpoints, prefix: '/failover' });
  const pauses: number[] = [];
  let stop = false;
  let n = 0;
  let killedAt = Infinity;
  let resumedAt = Infinity;
  const writers = Array.from({ length: 8 }, async () => {
    while (!stop) {
      try {
        await storage.create(`/w/${n++}`, 'v');
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  });
  try {
    for (let i = 0; i < rounds; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const leader = await cluster.leader();
      resumedAt = Infinity;
      killedAt = performance.now();
      await cluster.kill(leader);
      const deadline = performance.now() + 30_000;
      while (resumedAt === Infinity && performance.now() < deadline) {
        storage.create(`/probe/${n++}`, 'v').then(
          () => {
            if (resumedAt === Infinity) resumedAt = performance.now();
          },
          () => undefined,
        );
        await new Promise((r) => setTimeout(r, 20));
      }
      pauses.push(resumedAt - killedAt);
      killedAt = Infinity;
      await cluster.restart(leader);
    }
  } finally {
    stop = true;
    await Promise.all(writers);
    await storage.close();
    await cluster.stop();
  }
  return pauses;
}

async function main() {
  let etcd: EtcdCluster | undefined;
  try {
    etcd = await startEtcd(1);
    const raw = await rawEtcd(etcd.endpoints);
    const grpc = await bareGrpc(etcd.endpoints[0]);
    const onEtcd = await kubeve('on-etcd', ['--etcd', etcd.endpoints.join(','), '--etcd-prefix', '/bench']);
    const onSqlite = await kubeve('on-sqlite', []);
    await etcd.stop();
    etcd = undefined;
    const pauses = await failover(10);

    console.log(`\nkubeve on etcd (Debian etcd ${'3.4'}, 1 member, loopback) — ${CONCURRENCY} requests in flight everywhere\n`);
    console.log(`raw etcd puts/s, etcd3 put()                  : ${fmt(raw.put)}`);
    console.log(`raw etcd puts/s, bare @grpc/grpc-js            : ${fmt(grpc)}  (etcd3 = ${fmt((raw.put / grpc) * 100)} % of it)`);
    console.log(`raw etcd create txns/s, etcd3 kv.txn()         : ${fmt(raw.txn)}`);
    console.log(
      `kubeve creates/s on etcd (HTTPS, ConfigMaps)   : ${fmt(onEtcd.creates)}  (${fmt((onEtcd.creates / raw.put) * 100)} % of raw puts; target >= 30 %)`,
    );
    console.log(`kubeve creates/s on SQLite                     : ${fmt(onSqlite.creates)}`);
    console.log(`list of 10,000 ConfigMaps, p50                 : etcd ${fmt(onEtcd.list)} ms, SQLite ${fmt(onSqlite.list)} ms`);
    const sorted = [...pauses].sort((a, b) => a - b);
    console.log(
      `etcd leader kill, 3 members, write pause (10x)  : p50 ${fmt(pct(pauses, 50))} ms, max ${fmt(sorted.at(-1)!)} ms  [${sorted.map((p) => fmt(p)).join(', ')}]`,
    );
    console.log(
      `watch delivery, 20 watchers, p50 / p99         : etcd ${fmt(onEtcd.watchP50, 1)} / ${fmt(onEtcd.watchP99, 1)} ms (target p99 < 50 ms), SQLite ${fmt(onSqlite.watchP50, 1)} / ${fmt(onSqlite.watchP99, 1)} ms`,
    );
  } finally {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
