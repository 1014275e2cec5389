// Soak benchmark: resident memory of a real `kubeve server` under TLS connection churn
// (npm run bench:churn).
//
//   node --experimental-websocket --import tsx bench/churn.bench.ts [--rounds 10] [--connections 2000] [--malloc both|jemalloc|glibc] [--env K=V ...]
//
// The server is the real command (bin/kubeve.js server) in a child process, with KUBEVE_MALLOC=glibc
// or with jemalloc and the settings src/cli/launch.ts gives it (preloaded here, so the server is one
// process and the inspector is the server's). Each round opens
// `connections` new TLS connections, half to the Kubernetes API port (full handshake, an
// authenticated GET, like kubectl) and half to the EVE device API port (resumed session, a GET of
// /ping, like EVE's per-request connections), holds them all open at once (the device API closes
// idle ones after its 5 s keep-alive timeout), then closes them. After
// each round a full garbage collection runs in the server (through its inspector) and its resident
// memory (VmRSS) and process.memoryUsage() parts are sampled: JS heap, external, array buffers; the
// rest of RSS is native memory. Target: after the third round RSS stays within 5 % of its value
// there. `--env K=V` passes extra environment to the server (e.g. MALLOC_ARENA_MAX=2, MALLOC_CONF=...)
// for experiments.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { jemallocPath, loadedJemalloc, serverJemallocEnv, withoutJemalloc } from '../src/sim/allocator.ts';

const BIN = fileURLToPath(new URL('../bin/kubeve.js', import.meta.url));
/** Handshakes in flight at once while a round opens its connections. */
const OPENING_CONCURRENCY = 64;
const SETTLE_MS = 1500;

/** Minimal Chrome DevTools protocol client over the server's inspector WebSocket. */
class Inspector {
  private next = 0;
  private pending = new Map<number, (r: { result?: any; error?: { message: string } }) => void>();
  private constructor(private ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      const m = JSON.parse(String(e.data));
      this.pending.get(m.id)?.(m);
      this.pending.delete(m.id);
    });
  }
  static connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.addEventListener('open', () => resolve(new Inspector(ws)));
      ws.addEventListener('error', () => reject(new Error(`inspector ${url} unreachable`)));
    });
  }
  call(method: string, params: object = {}): Promise<any> {
    const id = ++this.next;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, (r) => (r.error ? reject(new Error(r.error.message)) : resolve(r.result))));
  }
  close(): void {
    this.ws.close();
  }
}

interface Server {
  child: ChildProcess;
  inspector: Inspector;
  pid: number;
  apiPort: number;
  devicePort: number;
  token: string;
  caPem: string;
  dir: string;
}

async function startServer(malloc: 'jemalloc' | 'glibc', extraEnv: Record<string, string>): Promise<Server> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-churn-'));
  const base = malloc === 'glibc' ? { ...withoutJemalloc(), KUBEVE_MALLOC: 'glibc' } : { ...serverJemallocEnv(), KUBEVE_MALLOC: 'jemalloc' };
  const child = spawn(
    process.execPath,
    ['--inspect=127.0.0.1:0', BIN, 'server', '--data-dir', path.join(dir, 'data'), '--port', '0', '--device-port', '0', '--device-host', '127.0.0.1'],
    {
      env: { ...base, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const inspectorUrl = new Promise<string>((resolve) => {
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
      if (!/Debugger|inspector|For help/.test(c.toString())) process.stderr.write(c);
    });
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (/EVE device API .* listening on/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`kubeve server exited ${code}:\n${out}`)));
  });
  child.stdout!.resume();
  const api = /listening on https:\/\/[^:]+:(\d+) \(pid (\d+),/.exec(out);
  const device = /EVE device API .* listening on https:\/\/[^:]+:(\d+)\//.exec(out);
  const kubeconfig = /export KUBECONFIG=(\S+)/.exec(out);
  if (!api || !device || !kubeconfig) throw new Error(`unexpected server output:\n${out}`);
  const kc = YAML.parse(fs.readFileSync(kubeconfig[1]!, 'utf8'));
  return {
    child,
    inspector: await Inspector.connect(await inspectorUrl),
    pid: Number(api[2]),
    apiPort: Number(api[1]),
    devicePort: Number(device[1]),
    token: kc.users[0].user.token,
    caPem: Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(),
    dir,
  };
}

interface Sample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** RSS minus the JS heap's committed size and external memory: the native rest (MiB). */
  native: number;
}

/** Full GC in the server, then its memory (MiB). */
async function sample(s: Server): Promise<Sample> {
  await s.inspector.call('HeapProfiler.collectGarbage');
  const r = await s.inspector.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
  const m = JSON.parse(r.result.value) as NodeJS.MemoryUsage;
  const mib = (x: number) => x / 1048576;
  const vm = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${s.pid}/status`, 'utf8'));
  const rss = Number(vm![1]) / 1024;
  return { rss, heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers), native: rss - mib(m.heapTotal) - mib(m.external) };
}

/** Open one TLS connection, send `request`, resolve once the response head arrived (connection kept open). */
function openConnection(opts: tls.ConnectionOptions, request: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect(opts, () => sock.write(request));
    let head = '';
    const onData = (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      if (!/^HTTP\/1\.1 200 /.test(head)) return reject(new Error(`unexpected response: ${head.split('\r\n')[0]}`));
      sock.on('data', () => {}); // drain the body
      sock.setTimeout(0);
      resolve(sock);
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.once('close', () => reject(new Error(`connection to port ${opts.port} closed before a response`)));
    sock.setTimeout(30_000, () => sock.destroy(new Error(`no response from port ${opts.port} within 30 s`)));
  });
}

async function churnRound(s: Server, connections: number, deviceSession: { session?: Buffer }): Promise<void> {
  const apiRequest = `GET /api/v1/namespaces/default HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${s.token}\r\nAccept: application/json\r\n\r\n`;
  const deviceRequest = 'GET /api/v2/edgedevice/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const open: tls.TLSSocket[] = [];
  let next = 0;
  const worker = async () => {
    while (next < connections) {
      const i = next++;
      if (i % 2 === 0) {
        open.push(await openConnection({ host: '127.0.0.1', port: s.apiPort, ca: s.caPem, servername: 'localhost' }, apiRequest));
      } else {
        // the device API's certificate is signed by the controller's own root; this bench measures the server, not the chain
        const sock = await openConnection({ host: '127.0.0.1', port: s.devicePort, rejectUnauthorized: false, session: deviceSession.session }, deviceRequest);
        if (!sock.isSessionReused()) sock.once('session', (b: Buffer) => (deviceSession.session = b));
        open.push(sock);
      }
    }
  };
  const progress = setInterval(() => console.error(`  ${open.length}/${connections} open`), 5000);
  try {
    await Promise.all(Array.from({ length: OPENING_CONCURRENCY }, worker));
  } catch (e) {
    console.error(`  round failed after ${open.length} connections: ${(e as Error).message}`);
    for (const sock of open) sock.destroy();
    throw e;
  } finally {
    clearInterval(progress);
  }
  // the device API closes idle connections after 5 s (keepAliveTimeout): some are already gone
  const closed = open.map((sock) => (sock.closed ? undefined : new Promise((r) => sock.once('close', r))));
  for (const sock of open) sock.end();
  await Promise.all(closed);
}

interface Run {
  malloc: string;
  allocator: string;
  start: Sample;
  rounds: Sample[];
  /** Largest growth after the third round, relative to it (%). */
  growthAfterThirdPct: number;
}

async function run(malloc: 'jemalloc' | 'glibc', rounds: number, connections: number, extraEnv: Record<string, string>): Promise<Run> {
  const s = await startServer(malloc, extraEnv);
  try {
    const allocator = loadedJemalloc(s.pid) ? 'jemalloc' : 'glibc';
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const start = await sample(s);
    const samples: Sample[] = [];
    const deviceSession: { session?: Buffer } = {};
    for (let i = 0; i < rounds; i++) {
      const t0 = Date.now();
      await churnRound(s, connections, deviceSession);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const m = await sample(s);
      samples.push(m);
      console.error(
        `[${malloc}] round ${i + 1}/${rounds}: ${connections} connections in ${((Date.now() - t0) / 1000).toFixed(1)} s; after a full GC: RSS ${m.rss.toFixed(1)} MiB, JS heap used ${m.heapUsed.toFixed(1)}, external ${m.external.toFixed(1)}, native rest ${m.native.toFixed(1)} MiB`,
      );
    }
    const rss = samples.map((x) => x.rss);
    const third = rss[Math.min(2, rss.length - 1)]!;
    const growthAfterThirdPct = (Math.max(...rss.slice(2)) / third - 1) * 100;
    return { malloc, allocator, start, rounds: samples, growthAfterThirdPct };
  } finally {
    s.inspector.close();
    const exited = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGTERM');
    await exited;
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
}

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '2000' },
    malloc: { type: 'string', default: 'both' },
    env: { type: 'string', multiple: true, default: [] },
  },
});
const extraEnv = Object.fromEntries(values.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const which = values.malloc === 'both' ? (['glibc', 'jemalloc'] as const) : [values.malloc as 'jemalloc' | 'glibc'];
if (which.includes('jemalloc') && !jemallocPath()) throw new Error('jemalloc is not installed (apt-get install libjemalloc2)');
const results: Run[] = [];
for (const m of which) results.push(await run(m, Number(values.rounds), Number(values.connections), extraEnv));
for (const r of results) {
  const verdict = r.growthAfterThirdPct <= 5 ? 'flat (target: within 5 % after round 3)' : 'GROWS (target: within 5 % after round 3)';
  const last = r.rounds.at(-1)!;
  console.log(
    `${r.malloc.padEnd(8)} (${r.allocator}): RSS start ${r.start.rss.toFixed(0)} MiB; after each round: ${r.rounds.map((x) => x.rss.toFixed(0)).join(' ')} MiB; growth after round 3: ${r.growthAfterThirdPct.toFixed(1)} % -> ${verdict}; at the end JS heap used ${last.heapUsed.toFixed(0)} MiB, native rest ${r.start.native.toFixed(0)} -> ${last.native.toFixed(0)} MiB`,
  );
}
console.log(JSON.stringify({ connectionsPerRound: Number(values.connections), extraEnv, results }));
