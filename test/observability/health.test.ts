// /livez and /readyz as probes and operators use them: named checks, ?verbose, ?exclude=, single
// checks; not ready before kubeve's CRDs are established; unready (but still answering) from the
// moment a real `kubeve server` process gets SIGTERM, then a clean exit. /version and --version
// report kubeve's version and commit while keeping the emulated Kubernetes 1.32.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import https from 'node:https';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, api } from '../helpers/server.ts';
import { parseExposition } from '../helpers/prometheus.ts';
import { InProcessClient } from '../../src/controllers/runtime/index.ts';
import { crdsEstablishedCheck, installCrds } from '../../src/controllers/eve/install.ts';

const ROOT = join(import.meta.dirname, '..', '..');

test('/readyz is not ready before the CRDs are established; ?verbose lists each check, ?exclude skips one', async () => {
  const t = await startTestServer();
  try {
    const client = new InProcessClient(t.server.service, t.server.registry);
    t.server.health.add(['readyz'], 'eve-crds', crdsEstablishedCheck(client));
    // Probes are anonymous (system:public-info-viewer).
    let r = await api(t.server, 'GET', '/readyz', undefined, {}, null);
    assert.equal(r.status, 500);
    assert.match(r.body, /^\[-\]eve-crds failed: reason withheld$/m);
    assert.match(r.body, /readyz check failed\n$/);
    // A single check needs system:monitoring's /readyz/* (the admin has it).
    r = await api(t.server, 'GET', '/readyz/eve-crds');
    assert.equal(r.status, 500);
    r = await api(t.server, 'GET', '/readyz?exclude=eve-crds', undefined, {}, null);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    r = await api(t.server, 'GET', '/readyz?verbose&exclude=eve-crds&exclude=nope', undefined, {}, null);
    assert.equal(r.status, 200);
    assert.match(r.body, /^\[\+\]eve-crds excluded: ok$/m);
    assert.match(r.body, /^warn: some health checks cannot be excluded: no matches for "nope"$/m);
    // Liveness does not depend on the CRDs.
    assert.equal((await api(t.server, 'GET', '/livez', undefined, {}, null)).body, 'ok');

    await installCrds(client);
    r = await api(t.server, 'GET', '/readyz', undefined, {}, null);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    r = await api(t.server, 'GET', '/readyz?verbose', undefined, {}, null);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.trim().split('\n'), [
      '[+]ping ok',
      '[+]shutdown ok',
      '[+]storage ok',
      '[+]informer-sync ok',
      '[+]eve-crds ok',
      'readyz check passed',
    ]);
    r = await api(t.server, 'GET', '/livez?verbose', undefined, {}, null);
    assert.deepEqual(r.body.trim().split('\n'), ['[+]ping ok', '[+]storage ok', 'livez check passed']);
    // A single check, and one that does not exist.
    assert.equal((await api(t.server, 'GET', '/readyz/eve-crds')).body, 'ok');
    assert.equal((await api(t.server, 'GET', '/readyz/nope')).status, 404);
    // Single checks are for monitoring, as in kube: anonymous users only get the aggregate.
    assert.equal((await api(t.server, 'GET', '/livez/ping', undefined, {}, null)).status, 401);
  } finally {
    await t.close();
  }
});

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
}

function get(url: string, ca: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (c) => (body += c))
          .on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('a kubeve server process: ready with every check, unready on SIGTERM while still answering, then exits 0', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-health-'));
  const port = await freePort();
  const devicePort = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'server',
      '--data-dir',
      join(dir, 'data'),
      '--port',
      String(port),
      '--device-port',
      String(devicePort),
      '--device-host',
      '127.0.0.1',
      '--shutdown-delay',
      '2s',
      '--logging-format',
      'json',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c) => (stderr += c));
  child.stdout!.resume();
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const base = `https://127.0.0.1:${port}`;
    let ca = '';
    let ready: { status: number; body: string } | undefined;
    for (let i = 0; i < 600 && ready?.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        ca ||= readFileSync(join(dir, 'data', 'pki', 'ca.crt'), 'utf8');
        ready = await get(`${base}/readyz?verbose`, ca);
      } catch {
        /* not listening yet */
      }
    }
    assert.equal(ready?.status, 200, `${ready?.body}\n${stderr}`);
    for (const check of ['ping', 'shutdown', 'storage', 'informer-sync', 'eve-crds', 'device-api', 'eve-informer-sync']) {
      assert.match(ready!.body, new RegExp(`^\\[\\+\\]${check} ok$`, 'm'), check);
    }

    // /version: the emulated minor for clients, kubeve's own version and commit for people.
    const version = JSON.parse((await get(`${base}/version`, ca)).body);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(version.major, '1');
    assert.equal(version.minor, '32');
    assert.equal(version.gitVersion, `v1.32.0+kubeve-${pkg.version}`);
    assert.equal(version.gitCommit, execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim());

    // Device API traffic and the EVE gauges are on the same /metrics (the device port has none).
    const deviceBase = `https://127.0.0.1:${devicePort}`;
    const insecure = { rejectUnauthorized: false };
    const deviceGet = (p: string) =>
      new Promise<number>((resolve, reject) =>
        https
          .get(deviceBase + p, insecure, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject),
      );
    assert.equal(await deviceGet('/api/v2/edgedevice/ping'), 200);
    assert.equal(await deviceGet('/metrics'), 404);
    const adminToken = readFileSync(join(dir, 'data', 'tokens.csv'), 'utf8').split(',')[0];
    const metrics = parseExposition((await get(`${base}/metrics`, ca, adminToken)).body);
    assert.equal(metrics.value('kubeve_device_api_requests_total', { endpoint: 'ping', code: '200' }), 1);
    assert.equal(metrics.value('kubeve_device_api_requests_total', { endpoint: 'unknown', code: '404' }), 1);
    for (const family of ['kubeve_onboarding_total', 'kubeve_config_renders_total', 'kubeve_config_render_duration_seconds', 'kubeve_edgenodes']) {
      assert.ok(metrics.types.has(family), family);
    }

    child.kill('SIGTERM');
    let during: { status: number; body: string } | undefined;
    for (let i = 0; i < 50 && during?.status !== 500; i++) {
      await new Promise((r) => setTimeout(r, 20));
      during = await get(`${base}/readyz?verbose`, ca);
    }
    assert.equal(during?.status, 500);
    assert.match(during!.body, /^\[-\]shutdown failed: reason withheld$/m);
    assert.match(during!.body, /^\[\+\]storage ok$/m);
    // Still alive and serving while load balancers take it out of rotation.
    assert.equal((await get(`${base}/livez`, ca)).status, 200);
    assert.equal(await exited, 0);
    const lines = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(
      lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'),
      stderr,
    );
    assert.ok(
      lines.some((l) => l.msg === 'shut down'),
      stderr,
    );
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kubeve --version, and numeric flags refused with a clear message and exit code 2', () => {
  const run = (args: string[]) => {
    try {
      return {
        code: 0,
        out: execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
          cwd: ROOT,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
        err: '',
      };
    } catch (e) {
      const x = e as { status: number; stdout: string; stderr: string };
      return { code: x.status, out: x.stdout, err: x.stderr };
    }
  };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const v = run(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.out, new RegExp(`^kubeve ${pkg.version.replace(/\./g, '\\.')} \\([0-9a-f]{12}(-dirty)?\\), Kubernetes API v1\\.32\\n$`));
  for (const [args, message] of [
    [['server', '--port', 'https'], /--port <port>' argument 'https' is invalid\. must be a port number 0\.\.65535/],
    [['server', '--device-port', '70000'], /must be a port number 0\.\.65535, got "70000"/],
    [['server', '--offline-timeout', '-5'], /must be a positive number of seconds, got "-5"/],
    [['server', '--shutdown-timeout', 'soon'], /--shutdown-timeout <duration>' argument 'soon' is invalid/],
    [['server', '-v', 'loud'], /must be a log level 0\.\.10/],
  ] as const) {
    const r = run([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
  }
});

test('graceful shutdown lets a request in flight finish within the deadline, and cuts one that overruns it', async () => {
  for (const [drainMs, finishes] of [
    [10_000, true],
    [200, false],
  ] as const) {
    const t = await startTestServer();
    try {
      const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'slow' } });
      const req = https.request(`${t.server.url}/api/v1/namespaces/default/configmaps`, {
        method: 'POST',
        ca: t.server.caPem,
        headers: { Authorization: `Bearer ${t.server.adminToken}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      });
      const answer = new Promise<number | string>((resolve) => {
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', (e) => resolve(e.message));
      });
      // Half the body now: the server is reading it when shutdown starts.
      req.write(body.slice(0, 10));
      await new Promise((r) => setTimeout(r, 200));
      const started = Date.now();
      const closed = t.server.close(drainMs);
      await new Promise((r) => setTimeout(r, 400));
      if (finishes) {
        req.end(body.slice(10));
        assert.equal(await answer, 201);
        await closed;
        assert.ok(Date.now() - started < drainMs, 'close returned once the request was answered');
      } else {
        await closed;
        assert.match(String(await answer), /socket hang up|ECONNRESET/);
        req.destroy();
      }
    } finally {
      rmSync(t.dir, { recursive: true, force: true }); // the server was closed above
    }
  }
});
