// Cost of the /metrics instrumentation on the create benchmark (the closed loop of `npm run bench`):
// two `kubeve server` processes, one started with --no-metrics, loaded in alternating rounds so the
// machine's drift hits both alike; the instrumented one is also scraped once a second meanwhile,
// as Prometheus would. Reports the median creates/s of each side and their ratio (target: < 3 % loss),
// and the server CPU time per create (utime+stime of each process over its rounds), which a shared,
// busy machine disturbs far less than throughput.
//
//   npm run bench:metrics            (writes nothing outside a temp directory)

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '../src/observability/metrics.ts';
import { requestLabels } from '../src/apiserver/request-metrics.ts';
import { Registry } from '../src/apiserver/registry.ts';
import { builtinResources } from '../src/api/builtin/index.ts';
import type { Attributes } from '../src/apiserver/auth/index.ts';
import type { IncomingMessage } from 'node:http';

const dir = mkdtempSync(join(tmpdir(), 'kubeve-bench-metrics-'));
const ROUNDS = Number(process.env.ROUNDS ?? 8);
const PER_ROUND = Number(process.env.PER_ROUND ?? 2000);
/** Scrape interval of the instrumented server during its rounds (0: no scraping: the instrumentation alone). */
const SCRAPE_MS = Number(process.env.SCRAPE_MS ?? 1000);

/** Pin with taskset when there is one and at least 2 cores (PIN=0 to not). */
const PIN = process.env.PIN !== '0' && availableParallelism() >= 2 && spawnSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' }).status === 0;

interface Server {
  child: ChildProcess;
  port: number;
  token: string;
  agent: https.Agent;
}

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
}

async function start(name: string, extra: string[]): Promise<Server> {
  const port = await freePort();
  const dataDir = join(dir, name);
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'server', '--data-dir', dataDir, '--port', String(port), '--device-port', '0', ...extra];
  // Both servers on the same core (and this load generator on the other), so neither gets the better placement.
  const child = PIN
    ? spawn('taskset', ['-c', '1', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('KUBECONFIG')) resolve();
    });
  });
  const token = readFileSync(join(dataDir, 'tokens.csv'), 'utf8').split(',')[0];
  const ca = readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8');
  return { child, port, token, agent: new https.Agent({ keepAlive: true, maxSockets: 64, ca }) };
}

function req(s: Server, method: string, path: string, body?: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = https.request(
      {
        host: '127.0.0.1',
        port: s.port,
        path,
        method,
        agent: s.agent,
        headers: { Authorization: `Bearer ${s.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const cpu = new Map<Server, number>();

async function round(s: Server, tag: string, r: number, scrape: boolean): Promise<number> {
  const ns = '/api/v1/namespaces/default/configmaps';
  const timer = scrape && SCRAPE_MS > 0 ? setInterval(() => void req(s, 'GET', '/metrics'), SCRAPE_MS) : undefined;
  const c0 = cpuSeconds(s.child.pid!);
  try {
    return await closedLoop(PER_ROUND, 16, (i) => req(s, 'POST', ns, cm(`${tag}-${r}-${i}`)));
  } finally {
    clearInterval(timer);
    if (tag !== 'warm') cpu.set(s, (cpu.get(s) ?? 0) + cpuSeconds(s.child.pid!) - c0);
  }
}

/**
 * The same costs without the noise of a shared machine: what one request's bookkeeping (labels,
 * counter, histogram) takes in this process, and what rendering one scrape takes.
 */
async function isolated(): Promise<{ perRequestUs: number; scrapeMs: number }> {
  const registry = new Registry();
  registry.add(builtinResources({}));
  const m = new Metrics();
  const url = new URL('https://kubeve/api/v1/namespaces/default/configmaps');
  const attrs = {
    resourceRequest: true,
    verb: 'create',
    apiGroup: '',
    apiVersion: 'v1',
    resource: 'configmaps',
    namespace: 'default',
    user: { username: 'u', groups: [] },
  } as unknown as Attributes;
  const req = { method: 'POST', headers: { 'content-type': 'application/json' } } as unknown as IncomingMessage;
  // A realistic label set: every verb on every resource once.
  for (const d of registry.all())
    for (const verb of ['GET', 'LIST', 'POST', 'PUT', 'PATCH', 'DELETE'])
      m.request(
        { verb, dry_run: '', group: d.group, version: d.version, resource: d.resource, subresource: '', scope: 'namespace', component: 'apiserver' },
        200,
        0.002,
      );
  let best = Infinity;
  for (let k = 0; k < 5; k++) {
    const n = 100_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) m.request(requestLabels(attrs, req, url, registry), 201, 0.003);
    best = Math.min(best, ((performance.now() - t) / n) * 1000);
  }
  let scrape = Infinity;
  for (let k = 0; k < 10; k++) {
    const t = performance.now();
    await m.exposition();
    scrape = Math.min(scrape, performance.now() - t);
  }
  return { perRequestUs: best, scrapeMs: scrape };
}

async function main() {
  const iso = await isolated();
  const on = await start('on', []);
  // AA=1: both servers instrumented, to see how far apart two identical sides land on this machine.
  const aa = process.env.AA === '1';
  const off = await start('off', aa ? [] : ['--no-metrics']);
  try {
    if (!aa && (await req(off, 'GET', '/metrics').catch((e: Error) => e.message)).includes('404') === false)
      throw new Error('--no-metrics server still serves /metrics');
    // Warm-up (JIT, TLS sessions), both sides.
    await round(on, 'warm', 0, false);
    await round(off, 'warm', 0, false);
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      // Alternate which side goes first so neither always gets the quieter slot.
      if (r % 2) {
        a.push(await round(on, 'c', r, true));
        b.push(await round(off, 'c', r, false));
      } else {
        b.push(await round(off, 'c', r, false));
        a.push(await round(on, 'c', r, true));
      }
    }
    const body = await req(on, 'GET', '/metrics');
    const posts = /apiserver_request_total\{[^}]*verb="POST"[^}]*resource="configmaps"[^}]*code="201"[^}]*\} (\d+)/.exec(body)?.[1];
    const ma = median(a);
    const mb = median(b);
    console.log(
      `\n/metrics overhead on the create benchmark (${ROUNDS} alternating rounds of ${PER_ROUND} creates, 16 in flight${PIN ? '; servers pinned to core 1, load generator to core 0' : ''})\n`,
    );
    console.log(`with metrics (scraped every ${SCRAPE_MS / 1000} s) : median ${ma.toFixed(0)} creates/s  rounds ${a.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(
      `${aa ? 'A/A: also with metrics          ' : 'without metrics (--no-metrics)   '}: median ${mb.toFixed(0)} creates/s  rounds ${b.map((x) => x.toFixed(0)).join(' ')}`,
    );
    console.log(`ratio with/without               : ${(ma / mb).toFixed(3)}  (throughput loss ${((1 - ma / mb) * 100).toFixed(1)} %; target < 3 %)`);
    const n = ROUNDS * PER_ROUND;
    const ca = (cpu.get(on)! / n) * 1e6;
    const cb = (cpu.get(off)! / n) * 1e6;
    console.log(
      `server CPU per create            : ${ca.toFixed(0)} µs with, ${cb.toFixed(0)} µs without  (ratio ${(ca / cb).toFixed(3)}; +${((ca / cb - 1) * 100).toFixed(1)} %)`,
    );
    const loss = (iso.perRequestUs * ma) / 1e6 + (SCRAPE_MS > 0 ? iso.scrapeMs / SCRAPE_MS : 0);
    console.log(
      `in isolation                     : ${iso.perRequestUs.toFixed(2)} µs of bookkeeping per request, ${iso.scrapeMs.toFixed(1)} ms per scrape (${ma.toFixed(0)} creates/s → ${(loss * 100).toFixed(1)} % of one core)`,
    );
    console.log(`POSTs counted by the instrumented server: ${posts}  (expected ${PER_ROUND * (ROUNDS + 1)})`);
  } finally {
    for (const s of [on, off]) {
      s.child.kill('SIGTERM');
      await new Promise((r) => s.child.once('exit', r));
      s.agent.destroy();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
