// Test harness: a real kubeve API server on a free port with its own data directory, and the real
// kubectl binary with its own HOME and cache (kubectl caches discovery between runs).

import { execFile } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../src/server/apiserver.ts';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestServer {
  server: ApiServer;
  dir: string;
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Runs kubectl and fails with its output unless it exits 0. */
  ok(args: string[], input?: string): Promise<string>;
  /** Writes a file in the test directory and returns its path. */
  file(name: string, content: string): string;
  close(): Promise<void>;
}

export async function startTestServer(opts: Partial<ApiServerOptions> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-test-'));
  const server = await startApiServer({ dataDir: join(dir, 'data'), port: 0, ...opts });
  const home = join(dir, 'home');
  const kubectl = (args: string[], o: { input?: string; timeoutMs?: number } = {}) =>
    new Promise<KubectlResult>((resolve) => {
      const child = execFile(
        'kubectl',
        args,
        {
          env: { ...process.env, HOME: home, KUBECONFIG: server.kubeconfigPath, KUBECACHEDIR: join(home, 'cache') },
          timeout: o.timeoutMs ?? 60_000,
          maxBuffer: 64 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (o.input !== undefined) child.stdin!.end(o.input);
    });
  return {
    server,
    dir,
    kubectl,
    async ok(args, input) {
      const r = await kubectl(args, { input });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
      return r.stdout;
    },
    file(name, content) {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An HTTPS request to the server with the admin token (or another token, or none with null). */
export function api(
  server: ApiServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  token: string | null = server.adminToken,
): Promise<{ status: number; body: any; headers: Record<string, string | string[] | undefined> }> {
  const h: Record<string, string> = { Accept: 'application/json', ...headers };
  if (token !== null) h.Authorization = `Bearer ${token}`;
  const data = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  if (data !== undefined && !h['Content-Type']) h['Content-Type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = https.request(server.url + path, { method, headers: h, ca: server.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* plain text */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
