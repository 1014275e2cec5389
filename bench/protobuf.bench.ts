// Protobuf vs JSON responses, side by side in one run: a 10,000-ConfigMap list served over HTTPS with
// client-go's Accept ("application/vnd.kubernetes.protobuf,application/json") and with plain JSON. Reports
// bytes on the wire, wall time and this process's CPU per request (server and a client that only reads the
// bytes share the process, so the difference between the two rows is the server's serialisation), and the
// serialisation step alone. Watch events stay JSON (not measured: no protobuf watch framing yet).
//
//   npm run bench:protobuf        (writes nothing outside a temp directory)

import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer } from '../src/server/apiserver.ts';
import { encodeKubeProtobuf } from '../src/apiserver/protobuf/encode.ts';

const N = Number(process.env.BENCH_OBJECTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const dir = mkdtempSync(join(tmpdir(), 'kubeve-bench-pb-'));
const PB = 'application/vnd.kubernetes.protobuf';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const server = await startApiServer({ dataDir: join(dir, 'data'), port: 0 });
  try {
    const def = server.registry.lookup('', 'v1', 'configmaps')!;
    const ctx = { warnings: [] as string[] };
    await server.service.create(server.registry.lookup('', 'v1', 'namespaces')!, undefined, { metadata: { name: 'bench' } }, {}, ctx);
    for (let i = 0; i < N; i++) {
      await server.service.create(
        def,
        'bench',
        {
          metadata: {
            name: `cm-${String(i).padStart(5, '0')}`,
            labels: { app: 'bench', shard: String(i % 16) },
            annotations: { 'example.com/owner': 'team-a' },
          },
          data: { 'config.yaml': `key: value-${i}\nreplicas: 3\n`, mode: 'fast' },
        },
        { fieldManager: 'bench' },
        ctx,
      );
    }

    const get = (accept: string) =>
      new Promise<{ bytes: number; type: string }>((resolve, reject) => {
        const req = https.request(
          `${server.url}/api/v1/namespaces/bench/configmaps`,
          { headers: { Authorization: `Bearer ${server.adminToken}`, Accept: accept }, ca: server.caPem, agent: false },
          (res) => {
            let bytes = 0;
            res.on('data', (c: Buffer) => {
              bytes += c.length;
            });
            res.on('end', () => resolve({ bytes, type: String(res.headers['content-type']) }));
          },
        );
        req.on('error', reject);
        req.end();
      });

    const rows: Array<Record<string, string>> = [];
    for (const [label, accept] of [
      ['json', 'application/json'],
      ['protobuf (client-go Accept)', `${PB},application/json`],
    ] as const) {
      await get(accept); // warm
      const wall: number[] = [];
      const cpu: number[] = [];
      let last = { bytes: 0, type: '' };
      for (let r = 0; r < ROUNDS; r++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        last = await get(accept);
        wall.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu.push((c.user + c.system) / 1000);
      }
      rows.push({
        response: label,
        'content-type': last.type,
        bytes: String(last.bytes),
        'wall ms (median)': median(wall).toFixed(1),
        'cpu ms (median)': median(cpu).toFixed(1),
      });
    }

    // The serialisation step alone, on the list object the handler holds.
    const list = await server.service.list(def, 'bench', {});
    const step = (f: () => unknown) => {
      const times: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const t0 = performance.now();
        f();
        times.push(performance.now() - t0);
      }
      return median(times);
    };
    const jsonMs = step(() => JSON.stringify(list));
    const pbMs = step(() => encodeKubeProtobuf(list));

    console.log(`\n${N} ConfigMaps, ${ROUNDS} rounds each, one process on a shared machine\n`);
    console.table(rows);
    const [j, p] = rows;
    console.log(`bytes protobuf/json: ${(Number(p.bytes) / Number(j.bytes)).toFixed(2)}`);
    console.log(`cpu per request protobuf/json: ${(Number(p['cpu ms (median)']) / Number(j['cpu ms (median)'])).toFixed(2)}`);
    console.log(`serialisation alone: JSON.stringify ${jsonMs.toFixed(1)} ms, encodeKubeProtobuf ${pbMs.toFixed(1)} ms (ratio ${(pbMs / jsonMs).toFixed(2)})`);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
