// EVE controller benchmark (node --expose-gc --import tsx bench/eve-controller.bench.ts).
//
// For each fleet size N (default 1,000 and 10,000 EdgeNodes, each with a device UUID and a config):
// 1. Controller memory per EdgeNode: the API server holds N EdgeNodes (plus one NetworkInstance and
//    DataStore); the heap and RSS are sampled (after GC) before the EVE controllers start and after
//    they have listed everything, indexed it and rendered every device's config. The difference / N
//    is what the controllers cost beyond the stored objects.
// 2. Apply → served latency: AppInstances are created one at a time through the HTTPS API (what
//    `kubectl apply` sends, without kubectl's own start-up), each on a different EdgeNode; the clock
//    stops when the device API serves a config for that device with the app in it (the hash it
//    would answer a poll with changed). Includes the controller's 20 ms coalescing window.
// 3. Requests the controllers make, counted on their client: GETs at start and per apply in steady
//    state (the target is 0: they read informer caches), and all requests per apply.
//
// Env: BENCH_NODES (comma list, default "1000,10000"), BENCH_APPLIES (default 200).
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { startApiServer } from '../src/server/apiserver.ts';
import { startDeviceApi } from '../src/eve/device-api.ts';
import { InProcessClient } from '../src/controllers/runtime/index.ts';
import { installCrds } from '../src/controllers/eve/install.ts';
import { EveControllers } from '../src/controllers/eve/index.ts';
import { APPINSTANCES, DATASTORES, EDGENODES, NETWORKINSTANCES } from '../src/controllers/eve/status.ts';

const SIZES = (process.env.BENCH_NODES ?? '1000,10000').split(',').map(Number);
const APPLIES = Number(process.env.BENCH_APPLIES ?? 200);
const gc = (globalThis as { gc?: () => void }).gc;

async function settle(): Promise<{ heap: number; rss: number }> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function run(n: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-bench-eve-'));
  const api = await startApiServer({ dataDir: dir, port: 0 });
  const client = new InProcessClient(api.service, api.registry);
  await installCrds(client);
  await client.create(NETWORKINSTANCES, 'default', { metadata: { name: 'lan' }, spec: { type: 'local', subnet: '10.1.0.0/16' } });
  await client.create(DATASTORES, 'default', { metadata: { name: 'hub' }, spec: { type: 'container-registry', url: 'docker://docker.io' } });
  const uuids: string[] = [];
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const uuid = crypto.randomUUID();
    uuids.push(uuid);
    await client.create(EDGENODES, undefined, {
      metadata: { name: `node-${i}`, labels: { site: `s${i % 10}` } },
      spec: { serial: `SN${String(i).padStart(6, '0')}`, uuid, configItems: { 'timer.config.interval': '60' } },
    });
  }
  const createS = (Date.now() - t0) / 1000;

  // Every call the controllers make through their client, by method.
  const calls = new Map<string, number>();
  const counted = new Proxy(client, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function'
        ? (...args: unknown[]) => {
            calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
            return v.apply(target, args);
          }
        : v;
    },
  });
  const eve = new EveControllers(counted);
  const device = await startDeviceApi({ dataDir: dir, port: 0, host: '127.0.0.1', hooks: eve.hooks });
  const before = await settle();
  const t1 = Date.now();
  await eve.start(device);
  await eve.idle();
  const startS = (Date.now() - t1) / 1000;
  const after = await settle();
  const rendered = uuids.filter((u) => device.getConfig(u)).length;
  const startGets = calls.get('get') ?? 0;
  calls.clear();

  // Apply → served, over HTTPS with the admin token (one keep-alive connection, like kubectl).
  const agent = new https.Agent({ keepAlive: true, ca: api.caPem });
  const post = (body: object) =>
    new Promise<number>((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = https.request(
        `${api.url}/apis/eve.kubeve.io/v1alpha1/namespaces/default/appinstances?fieldManager=kubectl-client-side-apply`,
        {
          method: 'POST',
          agent,
          headers: { Authorization: `Bearer ${api.adminToken}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  const lat: number[] = [];
  for (let i = 0; i < APPLIES; i++) {
    const k = Math.floor((i * n) / APPLIES);
    const uuid = uuids[k]!;
    const hashBefore = device.getConfig(uuid)?.hash;
    if (!hashBefore) throw new Error(`node-${k} has no config`);
    const start = process.hrtime.bigint();
    const code = await post({
      apiVersion: 'eve.kubeve.io/v1alpha1',
      kind: 'AppInstance',
      metadata: { name: `app-${i}`, namespace: 'default' },
      spec: {
        nodeName: `node-${k}`,
        image: 'library/nginx:1.27',
        datastoreRef: { name: 'hub' },
        networks: [{ networkInstanceRef: { name: 'lan' }, portMaps: [{ port: 8080, targetPort: 80 }] }],
      },
    });
    if (code !== 201) throw new Error(`create answered ${code}`);
    for (;;) {
      const c = device.getConfig(uuid);
      if (c && c.hash !== hashBefore) {
        if (!c.config.apps.some((a) => a.displayname.includes(`app-${i}`)))
          throw new Error(`served config lacks app-${i}: ${c.config.apps.map((a) => a.displayname)}`);
        break;
      }
      await new Promise((r) => setImmediate(r));
    }
    lat.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  await eve.idle();
  const applyCalls = new Map(calls);
  const apps = (await client.list(APPINSTANCES, 'default')).items.length;

  console.log(
    `\n== ${n.toLocaleString('en')} EdgeNodes (created in ${createS.toFixed(1)} s; controllers listed + rendered all in ${startS.toFixed(1)} s; ${rendered} configs)`,
  );
  console.log(
    `controller memory per EdgeNode: heap ${((after.heap - before.heap) / n / 1024).toFixed(2)} KiB, RSS ${((after.rss - before.rss) / n / 1024).toFixed(2)} KiB` +
      `  (heap ${(before.heap / 2 ** 20).toFixed(0)} → ${(after.heap / 2 ** 20).toFixed(0)} MiB, RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB)`,
  );
  const per = (k: string) => ((applyCalls.get(k) ?? 0) / APPLIES).toFixed(2);
  const all = [...applyCalls.values()].reduce((a, b) => a + b, 0);
  console.log(
    `client requests: ${startGets} GETs during start; per apply in steady state: ${per('get')} GETs, ${(all / APPLIES).toFixed(2)} requests in all (${[...applyCalls].map(([k, v]) => `${k} ${v}`).join(', ')})`,
  );
  console.log(
    `apply → served (${APPLIES} AppInstance creates over HTTPS, ${apps} apps): p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`,
  );

  agent.destroy();
  eve.stop();
  await device.close();
  await api.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

if (!gc) console.log('(run with --expose-gc for stable memory figures)');
for (const n of SIZES) await run(n);
