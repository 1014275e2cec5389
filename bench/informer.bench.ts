// Informer start benchmark (npm run bench:informer): how long an informer takes to list (in pages
// of 500) and cache N EdgeNodes with a namespace index and one custom index, and what its cache
// costs per object, over the in-process client and over HTTPS (operator mode's client), side by side
// against the same server.
//
// Env: BENCH_NODES (default 10000).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { startApiServer } from '../src/server/apiserver.ts';
import { installCrds } from '../src/controllers/eve/install.ts';
import { EDGENODES } from '../src/controllers/eve/status.ts';
import { HttpClient, InProcessClient, Informer, byField, loadKubeconfig, type Client } from '../src/controllers/runtime/index.ts';

const N = Number(process.env.BENCH_NODES ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;

async function heap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().heapUsed;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-bench-informer-'));
const api = await startApiServer({ dataDir: dir, port: 0 });
const admin = new InProcessClient(api.service, api.registry);
await installCrds(admin);
for (let i = 0; i < N; i++) {
  await admin.create(EDGENODES, undefined, {
    metadata: { name: `node-${i}`, labels: { site: `s${i % 10}` } },
    spec: { serial: `SN${String(i).padStart(6, '0')}`, uuid: crypto.randomUUID(), configItems: { 'timer.config.interval': '60' } },
  });
}

async function measure(name: string, client: Client): Promise<void> {
  const times: number[] = [];
  let perObject = 0;
  for (let round = 0; round < 3; round++) {
    const before = await heap();
    const t0 = performance.now();
    const inf = new Informer(client, EDGENODES, { indexers: { serial: byField('spec.serial') } });
    inf.start();
    await inf.waitForSync();
    times.push(performance.now() - t0);
    if (inf.store.size !== N) throw new Error(`${name}: cached ${inf.store.size} of ${N}`);
    if (round === 0) perObject = ((await heap()) - before) / N;
    inf.stop();
    if (inf.store.size !== N) throw new Error('unreachable: keeps the cache alive until measured');
  }
  times.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(10)} list + index ${N.toLocaleString('en')} EdgeNodes: median ${(times[1]! / 1000).toFixed(2)} s (of 3: ${times.map((t) => (t / 1000).toFixed(2)).join(', ')}); cache ${(perObject / 1024).toFixed(2)} KiB per EdgeNode`,
  );
}

if (!gc) console.log('(run with --expose-gc for stable memory figures)');
const http = new HttpClient({ ...loadKubeconfig(api.kubeconfigPath), qps: 1000, burst: 1000 });
await measure('in-process', admin);
await measure('https', http);
http.close();
await api.close();
fs.rmSync(dir, { recursive: true, force: true });
