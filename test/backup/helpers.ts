// Harness of the backup tests: a whole `kubeve server` (startKubeve) that can be stopped and
// started again on the same ports (devices keep their server address), on SQLite or on etcd;
// simulated devices over real TLS; the real kubectl; and the real `kubeve` command line.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeve, type Kubeve, type KubeveOptions } from '../../src/server/kubeve.ts';
import { EtcdStorage } from '../../src/apiserver/storage/etcd.ts';
import { issueOnboardingCert, type CertAndKey } from '../../src/eve/pki.ts';
import { SimFleet } from '../../src/sim/fleet.ts';
import type { SimDevice } from '../../src/sim/device.ts';
import { api } from '../helpers/server.ts';

const REPO = new URL('../..', import.meta.url).pathname;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the kubeve command line (src/cli/main.ts) in a process of its own. */
export function kubeve(args: string[], timeoutMs = 180_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: REPO, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface EtcdTarget {
  endpoints: string[];
  prefix: string;
}

export interface Site {
  readonly k: Kubeve;
  dir: string;
  dataDir: string;
  onboard?: CertAndKey;
  etcd?: EtcdTarget;
  kubectl(args: string[], input?: string): Promise<Run>;
  ok(args: string[], input?: string): Promise<string>;
  /** Starts kubeve on the data dir (same ports as before), on SQLite, or on etcd when given. */
  start(etcd?: EtcdTarget): Promise<void>;
  stop(): Promise<void>;
  fleet(count: number, serialPrefix: string): Promise<SimFleet>;
  /** Creates a ConfigMap through the API; resolves once it is acknowledged. */
  createConfigMap(ns: string, name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startSite(etcd?: EtcdTarget): Promise<Site> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-backup-'));
  const dataDir = join(dir, 'data');
  const home = join(dir, 'home');
  let k: Kubeve | undefined;
  let ports = { port: 0, devicePort: 0 };
  const fleets: SimFleet[] = [];
  const site: Site = {
    get k() {
      if (!k) throw new Error('kubeve is stopped');
      return k;
    },
    dir,
    dataDir,
    etcd,
    kubectl: (args, input) =>
      new Promise((resolve) => {
        const child = execFile(
          'kubectl',
          args,
          {
            env: { ...process.env, HOME: home, KUBECONFIG: join(dataDir, 'admin.kubeconfig'), KUBECACHEDIR: join(home, 'cache') },
            timeout: 90_000,
            maxBuffer: 64 << 20,
          },
          (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
        if (input !== undefined) child.stdin!.end(input);
      }),
    async ok(args, input) {
      const r = await site.kubectl(args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
      return r.stdout;
    },
    async start(target = etcd) {
      site.etcd = target;
      const storage = target ? await EtcdStorage.open({ endpoints: target.endpoints, prefix: target.prefix }) : undefined;
      const o: KubeveOptions = { dataDir, ...ports, deviceHost: '127.0.0.1', storage, eve: { offlineTimeoutMs: 5000, debounceMs: 20 } };
      k = await startKubeve(o);
      ports = { port: k.api.port, devicePort: k.device.port };
    },
    async stop() {
      await k?.close();
      k = undefined;
    },
    async fleet(count, serialPrefix) {
      site.onboard ??= await issueOnboardingCert(site.k.device.pki);
      const f = await SimFleet.create({
        server: `localhost:${site.k.device.port}`,
        rootCertPem: site.k.device.pki.root.certPem,
        onboard: { certPem: site.onboard.certPem, keyPem: site.onboard.keyPem },
        count,
        serialPrefix,
        timeScale: 60,
        startSpreadMs: 300,
        stepMs: 1000,
        rebootMs: 2000,
        logs: false,
        metrics: false,
      });
      fleets.push(f);
      return f;
    },
    async createConfigMap(ns, name) {
      const r = await api(site.k.api, 'POST', `/api/v1/namespaces/${ns}/configmaps`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name },
        data: { n: name },
      });
      if (r.status !== 201) throw new Error(`create configmap ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    },
    async close() {
      for (const f of fleets) await f.stop();
      await k?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await site.start(etcd);
  return site;
}

/** What a device's identity and config state look like to the device itself. */
export function deviceState(d: SimDevice) {
  return {
    serial: d.serial,
    uuid: d.uuid,
    configHash: d.prevConfigHash,
    registerAttempts: d.counters.registerAttempts,
    configApplied: d.counters.configApplied,
  };
}

export interface ObjectIdentity {
  uid: string;
  creationTimestamp: string;
  resourceVersion: number;
}

/** uid, creationTimestamp and resourceVersion of every object kubectl lists for these resources, by kind/ns/name. */
export async function identities(site: Site, resources: string): Promise<Map<string, ObjectIdentity>> {
  const list = JSON.parse(await site.ok(['get', resources, '-A', '-o', 'json'])) as { items: any[] };
  const out = new Map<string, ObjectIdentity>();
  for (const o of list.items) {
    out.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, {
      uid: o.metadata.uid,
      creationTimestamp: o.metadata.creationTimestamp,
      resourceVersion: Number(o.metadata.resourceVersion),
    });
  }
  return out;
}

export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An onboarding key admitting the site's devices, a network and an app on the first device. */
export function workloadYaml(site: Site, node: string): string {
  const cert = site
    .onboard!.certPem.trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
  return `apiVersion: eve.kubeve.io/v1alpha1
kind: OnboardingKey
metadata: {name: fleet-key}
spec:
  autoEnroll: true
  certificate: |
${cert}
---
apiVersion: eve.kubeve.io/v1alpha1
kind: NetworkInstance
metadata: {name: lan, namespace: default}
spec: {type: local, subnet: 10.70.0.0/24}
---
apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: sensor, namespace: default}
spec:
  nodeName: ${node}
  image: library/busybox:1.36
  networks: [{networkInstanceRef: {name: lan}}]
`;
}
