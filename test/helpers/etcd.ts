// Test harness: real Debian etcd (/usr/bin/etcd) on loopback, one member or a cluster, each member
// on free ports with its own temporary data directory. Members are killed when the cluster is
// stopped, and also when this process exits, so a failed test never leaves etcd running.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ETCD = process.env.KUBEVE_TEST_ETCD ?? '/usr/bin/etcd';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  process?: ChildProcess;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of every member (whether running or not). */
  endpoints: string[];
  /** The member that currently leads, by asking each running member's /v3 maintenance status. */
  leader(): Promise<EtcdMember>;
  /** SIGKILLs a member; it stays down until restart(). */
  kill(member: EtcdMember): Promise<void>;
  /** Starts a killed member again on the same data directory and ports. */
  restart(member: EtcdMember): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `size` members (1 or 3 in practice) and resolves once every member serves clients. */
export async function startEtcd(size = 1): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-etcd-'));
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    members.push({ name: `m${i}`, clientUrl: `http://127.0.0.1:${await freePort()}`, peerUrl: `http://127.0.0.1:${await freePort()}` });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const token = `kubeve-test-${process.pid}-${Date.now()}`;

  const launch = (m: EtcdMember): void => {
    const args = [
      '--name', m.name,
      '--data-dir', join(dir, m.name),
      '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster, '--initial-cluster-token', token, '--initial-cluster-state', 'new',
      // Short elections keep leader-failover tests quick; loopback latency is well below these.
      '--heartbeat-interval', '50', '--election-timeout', '500',
      '--log-level', 'error', '--logger', 'zap',
    ];
    const p = spawn(ETCD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-4000);
    });
    p.on('exit', (code, signal) => {
      running.delete(p);
      if (code && !signal && process.env.KUBEVE_TEST_ETCD_LOG !== '0') console.error(`etcd ${m.name} exited with ${code}:\n${stderr}`);
    });
    running.add(p);
    m.process = p;
  };

  const waitHealthy = async (m: EtcdMember): Promise<void> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!m.process || m.process.exitCode !== null) throw new Error(`etcd ${m.name} exited during start-up`);
      try {
        const r = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        if (r.ok && (await r.json()).health === 'true') return;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`etcd ${m.name} did not become healthy`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stopMember = async (m: EtcdMember, signal: NodeJS.Signals): Promise<void> => {
    const p = m.process;
    m.process = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  };

  const status = async (m: EtcdMember): Promise<{ leader: string; member: string } | undefined> => {
    try {
      const r = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
      const j = (await r.json()) as { header?: { member_id?: string }; leader?: string };
      return j.leader && j.header?.member_id ? { leader: j.leader, member: j.header.member_id } : undefined;
    } catch {
      return undefined;
    }
  };

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async leader() {
      const deadline = Date.now() + 10_000;
      for (;;) {
        for (const m of members) {
          if (!m.process) continue;
          const s = await status(m);
          if (s && s.leader === s.member) return m;
        }
        if (Date.now() > deadline) throw new Error('no etcd leader');
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    kill: (m) => stopMember(m, 'SIGKILL'),
    async restart(m) {
      if (m.process) return;
      launch(m);
      await waitHealthy(m);
    },
    async stop() {
      await Promise.all(members.map((m) => stopMember(m, 'SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    for (const m of members) launch(m);
    await Promise.all(members.map(waitHealthy));
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
