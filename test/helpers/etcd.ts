// Test harness: real Debian etcd (/usr/bin/etcd) on loopback, one member or a cluster, each member
// on free ports with its own temporary data directory. Members are killed when the cluster is
// stopped, and also when this process exits, so a failed test never leaves etcd running.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCA, issueCert } from '../../src/apiserver/pki.ts';

const ETCD = process.env.KUBEVE_TEST_ETCD ?? '/usr/bin/etcd';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  process?: ChildProcess;
}

/** PEM files of a TLS cluster: clients must present client.crt (signed by ca.crt). */
export interface EtcdTlsFiles {
  ca: string;
  clientCert: string;
  clientKey: string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  tls?: EtcdTlsFiles;
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

/** A POST or GET to a member's HTTP gateway (with the client certificate on a TLS cluster). */
function gateway(url: string, tls: { ca: string; cert: string; key: string } | undefined, body?: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: body === undefined ? 'GET' : 'POST', timeout: 1000, ...tls }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(data));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

async function httpJson(url: string, tls: { ca: string; cert: string; key: string } | undefined, body?: string): Promise<any> {
  if (url.startsWith('https:')) return gateway(url, tls, body);
  const r = await fetch(url, { method: body === undefined ? 'GET' : 'POST', body, signal: AbortSignal.timeout(1000) });
  return r.json();
}

/**
 * Starts `size` members (1 or 3 in practice) and resolves once every member serves clients. With
 * tls, clients connect over https and must present a certificate signed by the cluster's CA.
 */
export async function startEtcd(size = 1, opts: { tls?: boolean } = {}): Promise<EtcdCluster> {
  // A free port can be taken by another process before etcd binds it (the machine is shared):
  // a member that exits at start-up is retried on new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnce(size, opts);
    } catch (e) {
      if (attempt >= 3 || !/exited during start-up/.test((e as Error).message)) throw e;
    }
  }
}

async function startEtcdOnce(size: number, opts: { tls?: boolean }): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-etcd-'));
  const scheme = opts.tls ? 'https' : 'http';
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    members.push({ name: `m${i}`, clientUrl: `${scheme}://127.0.0.1:${await freePort()}`, peerUrl: `http://127.0.0.1:${await freePort()}` });
  }
  let tlsFiles: EtcdTlsFiles | undefined;
  let tlsArgs: string[] = [];
  let tlsPem: { ca: string; cert: string; key: string } | undefined;
  if (opts.tls) {
    const ca = await createCA('kubeve-test-etcd-ca');
    const server = await issueCert(ca, { subject: 'CN=etcd', ips: ['127.0.0.1'], dnsNames: ['localhost'], usage: 'server' });
    const client = await issueCert(ca, { subject: 'CN=kubeve', usage: 'client' });
    const write = (name: string, pem: string) => {
      const f = join(dir, name);
      writeFileSync(f, pem, { mode: 0o600 });
      return f;
    };
    tlsFiles = { ca: write('ca.crt', ca.certPem), clientCert: write('client.crt', client.certPem), clientKey: write('client.key', client.keyPem) };
    tlsArgs = [
      '--cert-file',
      write('server.crt', server.certPem),
      '--key-file',
      write('server.key', server.keyPem),
      '--trusted-ca-file',
      tlsFiles.ca,
      '--client-cert-auth',
    ];
    tlsPem = { ca: ca.certPem, cert: client.certPem, key: client.keyPem };
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const token = `kubeve-test-${process.pid}-${Date.now()}`;

  const launch = (m: EtcdMember): void => {
    const args = [
      '--name',
      m.name,
      '--data-dir',
      join(dir, m.name),
      '--listen-client-urls',
      m.clientUrl,
      '--advertise-client-urls',
      m.clientUrl,
      '--listen-peer-urls',
      m.peerUrl,
      '--initial-advertise-peer-urls',
      m.peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      token,
      '--initial-cluster-state',
      'new',
      // Short elections keep leader-failover tests quick; loopback latency is well below these.
      '--heartbeat-interval',
      '50',
      '--election-timeout',
      '500',
      '--log-level',
      'error',
      '--logger',
      'zap',
      ...tlsArgs,
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
        if ((await httpJson(`${m.clientUrl}/health`, tlsPem)).health === 'true') return;
      } catch {
        /* not up yet */
      }
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
      const j = (await httpJson(`${m.clientUrl}/v3/maintenance/status`, tlsPem, '{}')) as { header?: { member_id?: string }; leader?: string };
      return j.leader && j.header?.member_id ? { leader: j.leader, member: j.header.member_id } : undefined;
    } catch {
      return undefined;
    }
  };

  const cluster: EtcdCluster = {
    members,
    tls: tlsFiles,
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
