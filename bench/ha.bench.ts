// Failover of `kubeve server --etcd` replicas: two replicas on one etcd (each its own process),
// a writer alternating between them; kill -9 the replica that holds the controller Lease, time
// until the other's controllers have started, restart the killed one (it comes back as a
// follower on its data dir), and repeat. Also reported: the longest gap between acknowledged
// writes on the survivor during each failover (the API does not wait for the election).
//
//   npm run bench:ha [-- --kills 10]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd } from '../test/helpers/etcd.ts';
import { apiRequest, readKubeconfig, startReplica, type Replica } from '../test/helpers/replicas.ts';
import { DEFAULT_REPLICA_TIMINGS } from '../src/server/kubeve.ts';

const kills = Number(process.argv[process.argv.indexOf('--kills') + 1] || 10) || 10;
const LEADING = /leading: controllers started/g;
const leadCount = (r: Replica) => r.output().match(LEADING)?.length ?? 0;

const dir = mkdtempSync(join(tmpdir(), 'kubeve-bench-ha-'));
const etcd = await startEtcd(1);
const common = { etcd: etcd.endpoints, prefix: '/bench-ha' };
const replicas: Replica[] = [];
try {
  replicas[0] = await startReplica({ ...common, dataDir: join(dir, 'r0') });
  await replicas[0].waitFor(/leading: controllers started/, 30_000);
  replicas[1] = await startReplica({ ...common, dataDir: join(dir, 'r1') });
  const kc = readKubeconfig(replicas[0].kubeconfig);
  const urls = replicas.map((r) => ({ ...kc, server: `https://127.0.0.1:${r.port}` }));
  await apiRequest(kc, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });

  // One writer, alternating replicas; acknowledged write times per replica index.
  let writing = true;
  const acks: Array<{ at: number; replica: number }> = [];
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const r = i % 2;
      try {
        const res = await apiRequest(
          urls[r]!,
          'POST',
          '/api/v1/namespaces/bench/configmaps',
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c-${i}` } },
          3000,
        );
        if (res.status === 201) acks.push({ at: Date.now(), replica: r });
      } catch {
        /* that replica is down */
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  })();

  const failovers: number[] = [];
  const gaps: number[] = [];
  for (let k = 0; k < kills; k++) {
    const leader = leadCount(replicas[0]!) > leadCount(replicas[1]!) ? 0 : 1;
    const survivor = 1 - leader;
    const before = leadCount(replicas[survivor]!);
    await new Promise((r) => setTimeout(r, 1000 + Math.random() * 2000)); // kill at a random point of the renew cycle
    const killedAt = Date.now();
    await replicas[leader]!.kill9();
    while (leadCount(replicas[survivor]!) === before) {
      if (Date.now() - killedAt > 60_000) throw new Error(`no takeover within 60 s:\n${replicas[survivor]!.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const took = Date.now() - killedAt;
    failovers.push(took);
    const onSurvivor = acks.filter((a) => a.replica === survivor && a.at >= killedAt - 2000).map((a) => a.at);
    let gap = 0;
    for (let i = 1; i < onSurvivor.length; i++) gap = Math.max(gap, onSurvivor[i]! - onSurvivor[i - 1]!);
    gaps.push(gap);
    console.log(
      `kill ${k + 1}/${kills}: replica ${leader} killed, replica ${survivor} leading after ${took} ms; longest gap between writes acknowledged by the survivor ${gap} ms`,
    );
    replicas[leader] = await startReplica({ ...common, dataDir: join(dir, `r${leader}`) });
    urls[leader] = { ...kc, server: `https://127.0.0.1:${replicas[leader]!.port}` };
  }
  writing = false;
  await writer;

  const sorted = [...failovers].sort((x, y) => x - y);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  const t = DEFAULT_REPLICA_TIMINGS;
  console.log(
    `\nLease ${t.leaseDurationMs / 1000} s / renew deadline ${t.renewDeadlineMs / 1000} s / retry ${t.retryPeriodMs / 1000} s; ${kills} kills of the leading replica`,
  );
  console.log(`failover (kill -9 → the other replica's controllers started): min ${sorted[0]} ms, p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${sorted.at(-1)} ms`);
  console.log(`all: ${failovers.join(', ')} ms`);
  console.log(
    `longest gap between writes acknowledged by the survivor during a failover: max ${Math.max(...gaps)} ms (median ${[...gaps].sort((x, y) => x - y)[Math.floor(gaps.length / 2)]} ms)`,
  );
} finally {
  for (const r of replicas) await r?.stop();
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}
