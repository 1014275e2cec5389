// Test harness for kubeve replicas on one etcd: `kubeve server --etcd` child processes (so they can
// be killed with SIGKILL), a round-robin TCP proxy in front of their device APIs (what a load
// balancer does for a fleet), and a small HTTPS client for the Kubernetes API that records what
// was acknowledged.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { freePort } from './etcd.ts';

export interface Replica {
  child: ChildProcess;
  dataDir: string;
  kubeconfig: string;
  port: number;
  devicePort: number;
  output(): string;
  /** Resolves with the time (ms since epoch) the output first matched. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<number>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export async function startReplica(o: { etcd: string[]; prefix: string; dataDir: string; args?: string[]; env?: NodeJS.ProcessEnv }): Promise<Replica> {
  const port = await freePort();
  const devicePort = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'server',
      '--etcd',
      o.etcd.join(','),
      '--etcd-prefix',
      o.prefix,
      '--data-dir',
      o.dataDir,
      '--port',
      String(port),
      '--device-port',
      String(devicePort),
      '--device-host',
      '127.0.0.1',
      ...(o.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBEVE_MALLOC: 'glibc', ...o.env } },
  );
  let out = '';
  const seen: Array<{ re: RegExp; resolve: (t: number) => void }> = [];
  const onData = (d: Buffer) => {
    out += d;
    for (const w of [...seen]) {
      if (w.re.test(out)) {
        seen.splice(seen.indexOf(w), 1);
        w.resolve(Date.now());
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const waitFor = (re: RegExp, timeoutMs = 60_000) => {
    if (re.test(out)) return Promise.resolve(Date.now());
    return new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in:\n${out.slice(-4000)}`)), timeoutMs);
      seen.push({
        re,
        resolve: (v) => {
          clearTimeout(t);
          resolve(v);
        },
      });
      void exited.then(() => setTimeout(() => reject(new Error(`server exited while waiting for ${re}:\n${out.slice(-4000)}`)), 10));
    });
  };
  await waitFor(/export KUBECONFIG=(\S+)/, 90_000);
  const kubeconfig = /export KUBECONFIG=(\S+)/.exec(out)![1]!;
  return {
    child,
    dataDir: o.dataDir,
    kubeconfig,
    port,
    devicePort,
    waitFor,
    output: () => out,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * A TCP proxy that sends each new connection to the next target in turn; a target that refuses the
 * connection is skipped (as a load balancer's health check would), so a dead replica costs a
 * device at most the connection in flight.
 */
export async function roundRobinProxy(targets: number[]): Promise<{ port: number; connections: Map<number, number>; close(): Promise<void> }> {
  let next = 0;
  const connections = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pause();
    const tryTarget = (attempt: number) => {
      if (attempt >= targets.length) return void client.destroy();
      const port = targets[next++ % targets.length]!;
      const upstream = net.connect(port, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.once('connect', () => {
        connections.set(port, (connections.get(port) ?? 0) + 1);
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
      });
      upstream.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNREFUSED') tryTarget(attempt + 1);
        else client.destroy();
      });
    };
    tryTarget(0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** The server URL, CA and bearer token of an admin kubeconfig written by kubeve. */
export function readKubeconfig(path: string): { server: string; ca: string; token: string } {
  const text = readFileSync(path, 'utf8');
  const server = /server:\s*(\S+)/.exec(text)![1]!;
  const ca = Buffer.from(/certificate-authority-data:\s*(\S+)/.exec(text)![1]!, 'base64').toString();
  const token = /token:\s*(\S+)/.exec(text)![1]!;
  return { server, ca, token };
}

/** One request to the Kubernetes API; resolves with the status and parsed body, rejects on a network error. */
export function apiRequest(
  kc: { server: string; ca: string; token: string },
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      `${kc.server}${path}`,
      {
        method,
        ca: kc.ca,
        agent: false,
        timeout: timeoutMs,
        headers: {
          Authorization: `Bearer ${kc.token}`,
          Accept: 'application/json',
          ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

/** The Lease holder of the embedded server's controllers ('' when none). */
export async function controllerLeader(kc: { server: string; ca: string; token: string }): Promise<string> {
  const r = await apiRequest(kc, 'GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubeve-controller-manager');
  return r.status === 200 ? String(r.body.spec?.holderIdentity ?? '') : '';
}
