// Operator harness: a plain kubeve API server (no EVE controllers: it stands in for a cluster),
// the chart's RBAC applied to it, a ServiceAccount token from `kubectl create token`, and
// `kubeve operator` processes authenticated with that token only.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import https from 'node:https';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { layerBinaries } from '../helpers/clients.ts';
import YAML from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHART = path.join(ROOT, 'deploy/helm/kubeve');
export const NAMESPACE = 'kubeve-system';

export function helm(args: string[], home: string, kubeconfig?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const { helm: bin } = layerBinaries();
  fs.mkdirSync(home, { recursive: true });
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      {
        env: {
          ...process.env,
          HOME: home,
          HELM_CACHE_HOME: path.join(home, 'cache'),
          HELM_CONFIG_HOME: path.join(home, 'config'),
          HELM_DATA_HOME: path.join(home, 'data'),
          ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}),
        },
        timeout: 120_000,
        maxBuffer: 64 << 20,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr }),
    );
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** A `kubeve server --controllers=false` process (the Kubernetes API only), standing in for a cluster. */
export interface Cluster {
  dir: string;
  url: string;
  caPem: string;
  kubectl(args: string[], opts?: { input?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
  ok(args: string[], input?: string): Promise<string>;
  file(name: string, content: string): string;
  close(): Promise<void>;
}

export async function startCluster(): Promise<Cluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-cluster-'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'server', '--controllers=false', '--data-dir', path.join(dir, 'data'), '--port', String(port)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 60_000;
  while (!/export KUBECONFIG=\S+/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`kubeve server --controllers=false did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const kubeconfigPath = /export KUBECONFIG=(\S+)/.exec(out)![1]!;
  const kc = YAML.parse(fs.readFileSync(kubeconfigPath, 'utf8'));
  const cluster = kc.clusters[0].cluster;
  const home = path.join(dir, 'home');
  const kubectl = (args: string[], o: { input?: string } = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const c = execFile(
        'kubectl',
        args,
        { env: { ...process.env, HOME: home, KUBECONFIG: kubeconfigPath, KUBECACHEDIR: path.join(home, 'cache') }, timeout: 60_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) =>
          resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr }),
      );
      if (o.input !== undefined) c.stdin!.end(o.input);
    });
  return {
    dir,
    url: cluster.server,
    caPem: Buffer.from(cluster['certificate-authority-data'], 'base64').toString(),
    kubectl,
    async ok(args, input) {
      const r = await kubectl(args, { input });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
      return r.stdout;
    },
    file(name, content) {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content);
      return p;
    },
    async close() {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Applies the chart's ServiceAccount and RBAC (as `helm template` renders them) and returns a kubeconfig holding only that ServiceAccount's token. */
export async function operatorKubeconfig(t: Cluster, o: { applyCrdsAtStart: boolean }): Promise<string> {
  await t.ok(['create', 'namespace', NAMESPACE]);
  const r = await helm(
    [
      'template',
      'kubeve',
      CHART,
      '-n',
      NAMESPACE,
      '--set',
      `crds.applyAtStart=${o.applyCrdsAtStart}`,
      '--show-only',
      'templates/serviceaccount.yaml',
      '--show-only',
      'templates/rbac.yaml',
      '--show-only',
      'templates/aggregate-roles.yaml',
    ],
    path.join(t.dir, 'helm-home'),
  );
  if (r.code !== 0) throw new Error(`helm template: ${r.stderr}`);
  await t.ok(['apply', '-f', '-'], r.stdout);
  const token = (await t.ok(['create', 'token', 'kubeve', '-n', NAMESPACE, '--duration', '2h'])).trim();
  const ca = Buffer.from(t.caPem).toString('base64');
  return t.file(
    'operator.kubeconfig',
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: ${JSON.stringify(t.url)}, certificate-authority-data: ${ca}}
users:
- name: kubeve-operator
  user: {token: ${JSON.stringify(token)}}
contexts:
- name: operator
  context: {cluster: c, user: kubeve-operator, namespace: ${NAMESPACE}}
current-context: operator
`,
  );
}

export interface OperatorProcess {
  child: ChildProcess;
  identity: string;
  port: number;
  output(): string;
  /** Base URL of its /metrics, /livez, /readyz (from what it printed at start). */
  observabilityUrl(): string | undefined;
  /** Resolves when the process printed `text`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export function startOperatorProcess(o: {
  kubeconfig: string;
  identity: string;
  port: number;
  dataDir: string;
  extra?: string[];
  env?: NodeJS.ProcessEnv;
}): OperatorProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ROOT, 'src/cli/main.ts'),
      'operator',
      '--kubeconfig',
      o.kubeconfig,
      '--namespace',
      NAMESPACE,
      '--data-dir',
      o.dataDir,
      '--identity',
      o.identity,
      '--device-host',
      '127.0.0.1',
      '--device-port',
      String(o.port),
      '--offline-timeout',
      '5',
      '--metrics-host',
      '127.0.0.1',
      '--metrics-port',
      '0',
      ...(o.extra ?? []),
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KUBECONFIG: '', ...o.env },
    },
  );
  let out = '';
  const listeners = new Set<() => void>();
  const feed = (b: Buffer) => {
    out += b.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', feed);
  child.stderr!.on('data', feed);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    identity: o.identity,
    port: o.port,
    output: () => out,
    observabilityUrl: () => /metrics and health on (http:\/\/\S+)\/metrics/.exec(out)?.[1],
    waitFor(text, timeoutMs = 60_000) {
      const hit = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
      return new Promise((resolve, reject) => {
        if (hit()) return resolve();
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`operator ${o.identity}: no ${text} within ${timeoutMs} ms; output:\n${out}`));
        }, timeoutMs);
        const check = () => {
          if (!hit()) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
        void exited.then(() => {
          if (!hit()) {
            clearTimeout(timer);
            reject(new Error(`operator ${o.identity} exited (${child.exitCode}); output:\n${out}`));
          }
        });
      });
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** HTTP status of GET /api/v2/edgedevice/certs (unauthenticated; every replica must answer it). */
export function deviceApiStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/api/v2/edgedevice/certs', rejectUnauthorized: false, timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}
