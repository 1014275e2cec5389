// EVE device API benchmark (npm run bench:eve).
//
// 1. Config polls on the 304 path, per core: a client process opens a new TLS connection per
//    request (like EVE: no keep-alive, TLS session resumption) and POSTs a signed ConfigRequest
//    carrying the current hash. The figure is requests answered per CPU-second of the *server*
//    process (process.cpuUsage), so it is a per-core rate no matter how busy the client is.
//    Compared in the same run with (a) a bare node:https server answering 304 on the same
//    certificate, under the same client, and (b) raw ECDSA P-256 verifies per second.
// 2. Resident memory per registered device: a fresh server-only process registers N1 then N2
//    devices (each with a config, every device polling), and the RSS/heap slope between the two
//    steady states is the marginal cost per device. N1 is above the KeyObject cache size, so
//    the bounded cache (and the allocator churn it causes) is the same in both samples.
//
// Env: BENCH_SECONDS (default 5), BENCH_ROUNDS (3), BENCH_CONCURRENCY (32), BENCH_DEVICES (256),
//      BENCH_MEM_N1 (10000), BENCH_MEM_N2 (20000).
import { fork, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, toBinary } from '@bufbuild/protobuf';
import { createDeviceCert, sealDeviceRequest, startDeviceApi, PROTO_CONTENT_TYPE, API_PREFIX, type CertAndKey } from '../src/eve/index.ts';
import { ConfigRequestSchema, EdgeDevConfigSchema } from '../src/eve/gen/config/devconfig_pb.ts';

const SELF = fileURLToPath(import.meta.url);
const env = (k: string, d: number) => Number(process.env[k] ?? d);
const SECONDS = env('BENCH_SECONDS', 5);
const CONCURRENCY = env('BENCH_CONCURRENCY', 32);
const DEVICES = env('BENCH_DEVICES', 256);
const MEM_N1 = env('BENCH_MEM_N1', 10_000);
const MEM_N2 = env('BENCH_MEM_N2', 20_000);
const ROUNDS = env('BENCH_ROUNDS', 3);

type Msg = Record<string, unknown> & { type: string };

// ---- fast device certificates ------------------------------------------------------------------
// @peculiar/x509 takes ~4.5 ms per certificate; for tens of thousands of devices we clone one
// template and swap in a fresh key, a fresh serial and a new self-signature (~0.1 ms each).

function derLen(buf: Buffer, i: number): { len: number; hdr: number } {
  const b = buf[i + 1]!;
  if (b < 0x80) return { len: b, hdr: 2 };
  const n = b & 0x7f;
  let len = 0;
  for (let k = 0; k < n; k++) len = (len << 8) | buf[i + 2 + k]!;
  return { len, hdr: 2 + n };
}
function tlv(tag: number, body: Buffer): Buffer {
  const l = body.length;
  const len = l < 0x80 ? Buffer.from([l]) : l < 0x100 ? Buffer.from([0x81, l]) : Buffer.from([0x82, l >> 8, l & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

async function certFactory(): Promise<() => { certPem: string; key: crypto.KeyObject }> {
  const tpl = await createDeviceCert();
  const der = new crypto.X509Certificate(tpl.certPem).raw;
  const outer = derLen(der, 0);
  const tbsAt = outer.hdr;
  const tbsL = derLen(der, tbsAt);
  const tbs = der.subarray(tbsAt, tbsAt + tbsL.hdr + tbsL.len);
  const algAt = tbsAt + tbs.length;
  const alg = der.subarray(algAt, algAt + derLen(der, algAt).hdr + derLen(der, algAt).len);
  // serial INTEGER follows the [0] version element inside the TBS
  const verAt = tbsL.hdr;
  const serialAt = verAt + derLen(tbs, verAt).hdr + derLen(tbs, verAt).len;
  const serialL = derLen(tbs, serialAt);
  const oldSpki = crypto.createPublicKey(tpl.key).export({ type: 'spki', format: 'der' });
  const spkiAt = tbs.indexOf(oldSpki);
  if (spkiAt < 0) throw new Error('template SPKI not found');
  return () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const t = Buffer.from(tbs);
    const serial = crypto.randomBytes(serialL.len);
    serial[0] = (serial[0]! & 0x7f) | 0x01;
    serial.copy(t, serialAt + serialL.hdr);
    (publicKey.export({ type: 'spki', format: 'der' }) as Buffer).copy(t, spkiAt);
    const sig = crypto.sign('sha256', t, { key: privateKey, dsaEncoding: 'der' });
    const cert = tlv(0x30, Buffer.concat([t, alg, tlv(0x03, Buffer.concat([Buffer.alloc(1), sig]))]));
    const certPem = `-----BEGIN CERTIFICATE-----\n${cert.toString('base64').replace(/.{64}/g, '$&\n').trim()}\n-----END CERTIFICATE-----`;
    return { certPem, key: privateKey };
  };
}

function configRequestBody(dev: { certPem: string; key: crypto.KeyObject }, hash: string): Buffer {
  return Buffer.from(sealDeviceRequest(toBinary(ConfigRequestSchema, create(ConfigRequestSchema, { configHash: hash })), dev.key, dev.certPem));
}

// ---- child roles -----------------------------------------------------------------------------------

function send(m: Msg): void {
  process.send!(m);
}
function onMessage(handler: (m: Msg) => void | Promise<void>): void {
  process.on(
    'message',
    (m: Msg) =>
      void Promise.resolve(handler(m)).catch((e) => {
        console.error(e);
        process.exit(1);
      }),
  );
}
function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

/** Server under test: the real device API, or a bare node:https 304 server on the same cert. */
async function serverRole(kind: 'eve' | 'bare', dataDir: string): Promise<void> {
  let served = 0;
  let resumed = 0;
  let handshakes = 0;
  let httpsServer: https.Server;
  let cfg: { uuid: string; hash: string }[] = [];
  if (kind === 'eve') {
    const api = await startDeviceApi({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      tlsHosts: ['127.0.0.1'],
      hooks: { admitOnboarding: () => 'deny', onContact: () => void served++ },
    });
    httpsServer = api.httpsServer;
    onMessage((m) => {
      if (m.type === 'devices') {
        cfg = (m.certs as string[]).map((certPem) => {
          const d = api.addDevice({ deviceCertPem: certPem });
          const { hash } = api.setConfig(
            d.uuid,
            create(EdgeDevConfigSchema, { id: { uuid: d.uuid, version: '1' }, configItems: [{ key: 'timer.config.interval', value: '60' }] }),
          );
          return { uuid: d.uuid, hash };
        });
        send({ type: 'devices', cfg });
      }
    });
    send({ type: 'ready', port: api.port });
  } else {
    const pkiDir = path.join(dataDir, 'eve', 'pki');
    httpsServer = https.createServer(
      {
        key: fs.readFileSync(path.join(pkiDir, 'server.key.pem')),
        cert: fs.readFileSync(path.join(pkiDir, 'server.pem')),
        minVersion: 'TLSv1.2',
        sessionTimeout: 7200,
      },
      (req, res) => {
        req.on('data', () => {});
        req.on('end', () => {
          served++;
          res.writeHead(304, { 'Content-Type': PROTO_CONTENT_TYPE });
          res.end();
        });
      },
    );
    await new Promise<void>((r) => httpsServer.listen(0, '127.0.0.1', r));
    send({ type: 'ready', port: (httpsServer.address() as { port: number }).port });
  }
  httpsServer.on('secureConnection', (s) => {
    handshakes++;
    if (s.isSessionReused()) resumed++;
  });
  let cpu0 = process.cpuUsage();
  let s0 = 0;
  onMessage((m) => {
    if (m.type === 'start') {
      cpu0 = process.cpuUsage();
      s0 = served;
      handshakes = resumed = 0;
    } else if (m.type === 'stop') {
      const c = process.cpuUsage(cpu0);
      send({ type: 'stats', served: served - s0, cpuSec: (c.user + c.system) / 1e6, handshakes, resumed });
    } else if (m.type === 'exit') process.exit(0);
  });
}

/** Load generator: new TLS connection per request, session cache, fixed concurrency. */
async function clientRole(): Promise<void> {
  onMessage(async (m) => {
    if (m.type !== 'run') return;
    const reqs = (m.reqs as { path: string; body: string }[]).map((r) => ({ path: r.path, body: Buffer.from(r.body, 'base64') }));
    const agent = new https.Agent({ ca: m.ca as string, keepAlive: false, maxCachedSessions: 1000 });
    const statuses: Record<number, number> = {};
    const deadline = Date.now() + (m.ms as number);
    let next = 0;
    let done = 0;
    const one = () =>
      new Promise<void>((resolve) => {
        const r = reqs[next++ % reqs.length]!;
        const req = https.request(
          {
            host: '127.0.0.1',
            port: m.port as number,
            path: r.path,
            method: 'POST',
            agent,
            headers: { 'Content-Type': PROTO_CONTENT_TYPE, 'Content-Length': r.body.length },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              statuses[res.statusCode!] = (statuses[res.statusCode!] ?? 0) + 1;
              done++;
              resolve();
            });
          },
        );
        req.on('error', () => {
          statuses[0] = (statuses[0] ?? 0) + 1;
          resolve();
        });
        req.end(r.body);
      });
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: m.concurrency as number }, async () => {
        while (Date.now() < deadline) await one();
      }),
    );
    send({ type: 'done', done, wallSec: (Date.now() - t0) / 1000, statuses });
  });
  send({ type: 'ready' });
}

/**
 * Memory: a server-only process; the parent creates devices, registers them through this
 * process and polls each once over HTTPS, so no client-side allocation pollutes the figures.
 */
async function memRole(dataDir: string): Promise<void> {
  const api = await startDeviceApi({ dataDir, host: '127.0.0.1', port: 0, tlsHosts: ['127.0.0.1'], hooks: { admitOnboarding: () => 'deny' } });
  onMessage((m) => {
    if (m.type === 'add') {
      const cfg = (m.certs as string[]).map((certPem) => {
        const d = api.addDevice({ deviceCertPem: certPem });
        return { uuid: d.uuid, hash: api.setConfig(d.uuid, create(EdgeDevConfigSchema, { id: { uuid: d.uuid, version: '1' } })).hash };
      });
      send({ type: 'added', cfg });
    } else if (m.type === 'sample') {
      gc();
      const u = process.memoryUsage();
      send({ type: 'sample', rss: u.rss, heap: u.heapUsed, devices: api.deviceCount });
    } else if (m.type === 'exit') void api.close().then(() => process.exit(0));
  });
  send({ type: 'ready', port: api.port, ca: api.pki.root.certPem });
}

async function measureMemory(): Promise<{ base: MemSample; s1: MemSample; s2: MemSample }> {
  const memDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-eve-bench-mem-'));
  const mem = await spawn('mem', memDir);
  const make = await certFactory();
  const agent = new https.Agent({ ca: mem.first.ca as string, keepAlive: true, maxSockets: 16 });
  const poll = (p: string, body: Buffer) =>
    new Promise<number>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: mem.first.port as number,
          path: API_PREFIX + p,
          method: 'POST',
          agent,
          headers: { 'Content-Length': body.length, 'Content-Type': PROTO_CONTENT_TYPE },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const all: { path: string; body: Buffer }[] = [];
  const pollAll = async (items: { path: string; body: Buffer }[]) => {
    for (let k = 0; k < items.length; k += 500) {
      const codes = await Promise.all(items.slice(k, k + 500).map((x) => poll(x.path, x.body)));
      if (codes.some((c) => c !== 304)) throw new Error(`unexpected status ${codes.find((c) => c !== 304)}`);
    }
  };
  // Grow the fleet, then let every device poll twice more: with more devices than the
  // KeyObject cache holds, every poll is a cache miss, and the allocator's high-water mark
  // from that churn settles after about one round. Sampling after it gives the steady state.
  const grow = async (to: number) => {
    while (all.length < to) {
      const devs = Array.from({ length: Math.min(500, to - all.length) }, make);
      mem.child.send({ type: 'add', certs: devs.map((d) => d.certPem) });
      const cfg = (await mem.next('added')).cfg as { uuid: string; hash: string }[];
      const items = cfg.map((c, i) => ({ path: `id/${c.uuid}/config`, body: configRequestBody(devs[i]!, c.hash) }));
      all.push(...items);
      await pollAll(items);
    }
    await pollAll(all);
    await pollAll(all);
  };
  const sample = async () => {
    mem.child.send({ type: 'sample' });
    return (await mem.next('sample')) as unknown as MemSample;
  };
  const base = await sample();
  await grow(MEM_N1);
  const s1 = await sample();
  await grow(MEM_N2);
  const s2 = await sample();
  agent.destroy();
  mem.child.send({ type: 'exit' });
  await new Promise((r) => mem.child.once('exit', r));
  fs.rmSync(memDir, { recursive: true, force: true });
  return { base, s1, s2 };
}

interface MemSample {
  rss: number;
  heap: number;
  devices: number;
}

// ---- orchestration ----------------------------------------------------------------------------------

function spawn(role: string, ...args: string[]): Promise<{ child: ChildProcess; first: Msg; next: (type: string) => Promise<Msg> }> {
  const child = fork(SELF, [`--role=${role}`, ...args], { execArgv: [...process.execArgv, '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: Msg[] = [];
  const waiters: { take: (m: Msg) => void; fail: (e: Error) => void }[] = [];
  child.on('message', (m: Msg) => {
    const w = waiters.shift();
    if (w) w.take(m);
    else queue.push(m);
  });
  child.on('exit', (code) => {
    if (code) for (const w of waiters.splice(0)) w.fail(new Error(`${role} exited with ${code}`));
  });
  const next = (type: string) =>
    new Promise<Msg>((resolve, reject) => {
      const take = (m: Msg) => (m.type === type ? resolve(m) : reject(new Error(`expected ${type}, got ${m.type}`)));
      const q = queue.shift();
      if (q) take(q);
      else waiters.push({ take, fail: reject });
    });
  return next('ready').then((first) => ({ child, first, next }));
}

async function runLoad(
  server: Awaited<ReturnType<typeof spawn>>,
  client: Awaited<ReturnType<typeof spawn>>,
  reqs: { path: string; body: string }[],
  ca: string,
) {
  server.child.send({ type: 'start' });
  client.child.send({ type: 'run', reqs, ca, port: server.first.port, ms: SECONDS * 1000, concurrency: CONCURRENCY });
  const done = await client.next('done');
  server.child.send({ type: 'stop' });
  const stats = await server.next('stats');
  const served = stats.served as number;
  const cpuSec = stats.cpuSec as number;
  return {
    served,
    perCpuSec: served / cpuSec,
    wallRate: (done.done as number) / (done.wallSec as number),
    serverCpu: cpuSec / (done.wallSec as number),
    resumedPct: (100 * (stats.resumed as number)) / Math.max(1, stats.handshakes as number),
    statuses: done.statuses as Record<string, number>,
  };
}

function rawVerifyRate(): number {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const payload = toBinary(ConfigRequestSchema, create(ConfigRequestSchema, { configHash: 'x'.repeat(43) }));
  const sig = crypto.sign('sha256', payload, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  for (let i = 0; i < 500; i++) crypto.verify('sha256', payload, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 2000) {
    for (let i = 0; i < 100; i++) crypto.verify('sha256', payload, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
    n += 100;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-eve-bench-'));
  console.log(`EVE device API benchmark — node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
  console.log(
    `load: ${DEVICES} devices, ${CONCURRENCY} in flight, ${ROUNDS} interleaved rounds of ${SECONDS}s per server (median), new TLS connection per request (resumption on)\n`,
  );

  // Devices and their signed 304 requests.
  const make = await certFactory();
  const devs: { certPem: string; key: crypto.KeyObject }[] = Array.from({ length: DEVICES }, make);
  const eve = await spawn('server-eve', dataDir);
  eve.child.send({ type: 'devices', certs: devs.map((d) => d.certPem) });
  const cfg = (await eve.next('devices')).cfg as { uuid: string; hash: string }[];
  const reqs = cfg.map((c, i) => ({ path: `${API_PREFIX}id/${c.uuid}/config`, body: configRequestBody(devs[i]!, c.hash).toString('base64') }));
  const ca = fs.readFileSync(path.join(dataDir, 'eve', 'pki', 'root-ca.pem'), 'latin1');

  const bare = await spawn('server-bare', dataDir);
  const client = await spawn('client');
  // Interleave rounds so background load on the machine hits both servers alike; keep medians.
  await runLoad(eve, client, reqs, ca); // warm-up: JIT, TLS session cache, key cache
  await runLoad(bare, client, reqs, ca);
  const eveRuns: Awaited<ReturnType<typeof runLoad>>[] = [];
  const bareRuns: typeof eveRuns = [];
  for (let r = 0; r < ROUNDS; r++) {
    eveRuns.push(await runLoad(eve, client, reqs, ca));
    bareRuns.push(await runLoad(bare, client, reqs, ca));
  }
  const median = (runs: typeof eveRuns) => [...runs].sort((a, b) => a.perCpuSec - b.perCpuSec)[Math.floor(runs.length / 2)]!;
  const eveRes = median(eveRuns);
  const bareRes = median(bareRuns);
  for (const c of [eve, bare, client]) c.child.send({ type: 'exit' });
  client.child.kill();

  const verify = rawVerifyRate();

  const m = await measureMemory();
  const dn = m.s2.devices - m.s1.devices;
  const rssPer = (m.s2.rss - m.s1.rss) / dn;
  const heapPer = (m.s2.heap - m.s1.heap) / dn;

  const f = (x: number) => Math.round(x).toLocaleString('en-US');
  const ratioBare = eveRes.perCpuSec / bareRes.perCpuSec;
  console.log('config poll, 304 path           per server CPU-second   wall req/s   server CPU   TLS resumed   statuses');
  console.log(
    `  kubeve device API (verify+304)  ${f(eveRes.perCpuSec).padStart(10)}          ${f(eveRes.wallRate).padStart(8)}     ${eveRes.serverCpu.toFixed(2)}        ${eveRes.resumedPct.toFixed(0)}%          ${JSON.stringify(eveRes.statuses)}`,
  );
  console.log(
    `  bare node:https 304             ${f(bareRes.perCpuSec).padStart(10)}          ${f(bareRes.wallRate).padStart(8)}     ${bareRes.serverCpu.toFixed(2)}        ${bareRes.resumedPct.toFixed(0)}%          ${JSON.stringify(bareRes.statuses)}`,
  );
  console.log(`  raw ECDSA P-256 verifies/s      ${f(verify).padStart(10)}  (one core, KeyObject, ieee-p1363)`);
  console.log(`\n  ratio to bare TLS server: ${(100 * ratioBare).toFixed(1)}%  (target ≥ 50%)`);
  console.log(`  ratio to raw verifies:    ${((100 * eveRes.perCpuSec) / verify).toFixed(1)}%`);
  console.log(`\nmemory per registered device (${f(m.s1.devices)} → ${f(m.s2.devices)} devices, each with a config, all polling; steady state):`);
  console.log(`  RSS  ${f(rssPer)} B/device (target ≤ 2048)   heap ${f(heapPer)} B/device`);
  console.log(`  absolute RSS: ${f(m.base.rss / 1048576)} MiB empty, ${f(m.s2.rss / 1048576)} MiB with ${f(m.s2.devices)} devices`);
  console.log(`  average incl. fixed caches (8192 KeyObjects ≈ 21 MiB, SQLite 2 MiB): ${f((m.s2.rss - m.base.rss) / m.s2.devices)} B/device`);
  console.log(
    '\n' +
      JSON.stringify({
        bench: 'eve',
        pollsPerCpuSec: Math.round(eveRes.perCpuSec),
        bareHttps304PerCpuSec: Math.round(bareRes.perCpuSec),
        rawVerifiesPerSec: Math.round(verify),
        ratioToBare: +ratioBare.toFixed(3),
        ratioToVerify: +(eveRes.perCpuSec / verify).toFixed(3),
        rssBytesPerDevice: Math.round(rssPer),
        heapBytesPerDevice: Math.round(heapPer),
      }),
  );
  fs.rmSync(dataDir, { recursive: true, force: true });
}

const role = process.argv.find((a) => a.startsWith('--role='))?.slice(7);
if (role === 'server-eve') await serverRole('eve', process.argv[3]!);
else if (role === 'server-bare') await serverRole('bare', process.argv[3]!);
else if (role === 'client') await clientRole();
else if (role === 'mem') await memRole(process.argv[3]!);
else await main();
