// End-to-end harness: the whole `kubeve server` process shape in-process (API server + CRDs +
// device API + EVE controllers, startKubeve) on free ports with a temp data dir, the real kubectl
// with its own HOME, and simulated devices over real TLS with short timers.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeve, type Kubeve, type KubeveOptions } from '../../src/server/kubeve.ts';
import { issueOnboardingCert, type CertAndKey } from '../../src/eve/pki.ts';
import { SimFleet, type SimFleetOptions } from '../../src/sim/fleet.ts';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface EveTestEnv {
  k: Kubeve;
  dir: string;
  dataDir: string;
  onboard: CertAndKey;
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
  ok(args: string[], input?: string): Promise<string>;
  apply(yaml: string): Promise<string>;
  fleet(o: Partial<SimFleetOptions> & { count: number }): Promise<SimFleet>;
  /** Stops kubeve (not the data dir) and starts it again on the same ports. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startEveEnv(opts: Partial<KubeveOptions> = {}): Promise<EveTestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-eve-e2e-'));
  const dataDir = join(dir, 'data');
  const base: KubeveOptions = { dataDir, port: 0, devicePort: 0, deviceHost: '127.0.0.1', eve: { offlineTimeoutMs: 3000, debounceMs: 20 }, ...opts };
  let k = await startKubeve(base);
  const onboard = await issueOnboardingCert(k.device.pki);
  const fleets: SimFleet[] = [];
  const home = join(dir, 'home');
  const kubectl = (args: string[], input?: string) =>
    new Promise<KubectlResult>((resolve) => {
      const child = execFile(
        'kubectl',
        args,
        {
          env: { ...process.env, HOME: home, KUBECONFIG: k.api.kubeconfigPath, KUBECACHEDIR: join(home, 'cache') },
          timeout: 90_000,
          maxBuffer: 64 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (input !== undefined) child.stdin!.end(input);
    });
  const ok = async (args: string[], input?: string) => {
    const r = await kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  return {
    get k() {
      return k;
    },
    dir,
    dataDir,
    onboard,
    kubectl,
    ok,
    apply: (yaml) => ok(['apply', '-f', '-'], yaml),
    async fleet(o) {
      const f = await SimFleet.create({
        server: `localhost:${k.device.port}`,
        rootCertPem: k.device.pki.root.certPem,
        onboard: { certPem: onboard.certPem, keyPem: onboard.keyPem },
        timeScale: 60,
        startSpreadMs: 300,
        stepMs: 1000,
        rebootMs: 2000,
        logs: false,
        metrics: false,
        ...o,
      });
      fleets.push(f);
      return f;
    },
    async restart() {
      const ports = { port: k.api.port, devicePort: k.device.port };
      await k.close();
      k = await startKubeve({ ...base, ...ports });
    },
    async close() {
      for (const f of fleets) await f.stop();
      await k.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function writeFile(dir: string, name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Polls `fn` until it returns a truthy value. */
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

/** The YAML of an OnboardingKey for the harness's onboarding certificate. */
export function onboardingKeyYaml(name: string, certPem: string, o: { autoEnroll?: boolean; labels?: Record<string, string> } = {}): string {
  const indent = certPem
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
  const labels = Object.entries(o.labels ?? {})
    .map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return `apiVersion: eve.kubeve.io/v1alpha1
kind: OnboardingKey
metadata:
  name: ${name}
spec:
  autoEnroll: ${o.autoEnroll ?? true}
  certificate: |
${indent}
${labels ? `  template:\n    labels:\n${labels}\n` : ''}`;
}
