// Acknowledged writes survive kill -9 of the server process, and resourceVersions keep increasing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
}

async function startServer(dataDir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'server', '--data-dir', dataDir, '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('export KUBECONFIG=')) resolve();
    });
    child.on('exit', (c) => reject(new Error(`server exited with ${c}`)));
  });
  return child;
}

function request(port: number, token: string, ca: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, method, ca, agent: agent(ca), headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } },
      (res) => {
        let data = '';
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: data ? JSON.parse(data) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

let keepAlive: https.Agent | undefined;
function agent(ca: string) {
  return (keepAlive ??= new https.Agent({ keepAlive: true, maxSockets: 8, ca }));
}
function resetAgent() {
  keepAlive?.destroy();
  keepAlive = undefined;
}

test('every acknowledged write survives kill -9', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-dur-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  let server = await startServer(dataDir, port);
  const token = readFileSync(join(dataDir, 'tokens.csv'), 'utf8').split(',')[0];
  const ca = readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8');
  const acked = new Map<string, number>();
  let stop = false;
  let n = 0;
  const writer = async () => {
    while (!stop) {
      const name = `cm-${n++}`;
      try {
        const r = await request(port, token, ca, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name }, data: { i: name } });
        if (r.status === 201) acked.set(name, Number(r.body.metadata.resourceVersion));
      } catch {
        return; // the server is gone
      }
    }
  };
  const writers = Array.from({ length: 8 }, writer);
  await new Promise((r) => setTimeout(r, 1500));
  server.kill('SIGKILL');
  stop = true;
  await Promise.all(writers);
  resetAgent();
  assert.ok(acked.size > 100, `wrote ${acked.size} objects before the kill`);

  server = await startServer(dataDir, port);
  try {
    const list = await request(port, token, ca, 'GET', '/api/v1/namespaces/default/configmaps');
    const present = new Map<string, number>(list.body.items.map((o: any) => [o.metadata.name, Number(o.metadata.resourceVersion)]));
    const missing = [...acked.keys()].filter((k) => !present.has(k));
    assert.deepEqual(missing, [], 'acknowledged writes lost');
    for (const [name, rv] of acked) assert.equal(present.get(name), rv, `${name} keeps its resourceVersion`);
    const maxAcked = Math.max(...acked.values());
    const after = await request(port, token, ca, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'after-restart' } });
    assert.equal(after.status, 201);
    assert.ok(Number(after.body.metadata.resourceVersion) > maxAcked, 'resourceVersions keep increasing');
  } finally {
    resetAgent();
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});
