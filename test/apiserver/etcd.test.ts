// kubeve on etcd, end to end with the real kubectl: `kubeve server --etcd` keeps its objects in
// etcd (a second server with an empty data directory serves them), and two replicas on one etcd
// see each other's writes: what kubectl writes through A, a kubectl watch through B reports in order.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdStorage } from '../../src/apiserver/storage/etcd.ts';
import { startEtcd, freePort, type EtcdCluster } from '../helpers/etcd.ts';
import { api, startTestServer, type KubectlResult, type TestServer } from '../helpers/server.ts';

let etcd: EtcdCluster;
const cleanup: Array<() => Promise<unknown> | void> = [];
before(async () => {
  etcd = await startEtcd(1);
});
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
  await etcd.stop();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-etcd-e2e-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `kubeve server` as a child process; resolves once it printed its kubeconfig hint. */
async function startCli(args: string[]): Promise<{ child: ChildProcess; kubeconfig: string; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const kubeconfig = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', () => {
      const m = /export KUBECONFIG=(\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (c) => reject(new Error(`server exited with ${c}:\n${out}`)));
  });
  return { child, kubeconfig, output: () => out };
}

async function stopCli(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

function kubectl(kubeconfig: string, home: string, args: string[]): Promise<KubectlResult> {
  return new Promise((resolve) => {
    execFile(
      'kubectl',
      args,
      { env: { ...process.env, HOME: home, KUBECONFIG: kubeconfig, KUBECACHEDIR: join(home, 'cache') }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** A running `kubectl get -w`: its output lines so far, and until() to wait for a line. */
function kubectlWatch(t: TestServer, args: string[]) {
  const home = join(t.dir, 'home');
  const child = spawn('kubectl', args, { env: { ...process.env, HOME: home, KUBECONFIG: t.server.kubeconfigPath, KUBECACHEDIR: join(home, 'cache') } });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  cleanup.push(() => void child.kill('SIGKILL'));
  return {
    lines: () => out.split('\n').filter(Boolean),
    async until(pred: (lines: string[]) => boolean, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!pred(out.split('\n').filter(Boolean))) {
        if (Date.now() > deadline) throw new Error(`kubectl watch output so far:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: () => child.kill('SIGTERM'),
  };
}

test('kubeve server --etcd: kubectl create, list, watch and delete; the objects live in etcd, not in the data directory', async () => {
  const dir = tempDir();
  const home = join(dir, 'home');
  const common = [
    '--etcd',
    etcd.endpoints.join(','),
    '--etcd-prefix',
    '/e2e-cli',
    '--port',
    String(await freePort()),
    '--device-port',
    '0',
    '--device-host',
    '127.0.0.1',
  ];
  const a = await startCli([...common, '--data-dir', join(dir, 'a')]);
  cleanup.push(() => stopCli(a.child));
  assert.match(a.output(), /storage on etcd http:\/\/127\.0\.0\.1:\d+ under \/e2e-cli/);
  const ok = async (kc: string, args: string[]) => {
    const r = await kubectl(kc, home, args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok(a.kubeconfig, ['create', 'namespace', 'shop']);
  await ok(a.kubeconfig, ['-n', 'shop', 'create', 'configmap', 'prices', '--from-literal=apple=3']);
  const listed = JSON.parse(await ok(a.kubeconfig, ['-n', 'shop', 'get', 'configmaps', '-o', 'json']));
  const prices = listed.items.find((o: { metadata: { name: string } }) => o.metadata.name === 'prices');
  assert.equal(prices.data.apple, '3');
  await stopCli(a.child);

  // A new server with an empty data directory, on the same etcd prefix, serves the same objects.
  const b = await startCli([...common, '--data-dir', join(dir, 'b')]);
  cleanup.push(() => stopCli(b.child));
  const got = JSON.parse(await ok(b.kubeconfig, ['-n', 'shop', 'get', 'configmap', 'prices', '-o', 'json']));
  assert.equal(got.metadata.uid, prices.metadata.uid);
  assert.equal(got.metadata.resourceVersion, prices.metadata.resourceVersion);
  const watch = spawn(
    'kubectl',
    ['-n', 'shop', 'get', 'configmaps', '-w', '--output-watch-events', '-o', 'custom-columns=TYPE:.type,NAME:.object.metadata.name', '--no-headers'],
    {
      env: { ...process.env, HOME: home, KUBECONFIG: b.kubeconfig, KUBECACHEDIR: join(home, 'cache') },
    },
  );
  cleanup.push(() => void watch.kill('SIGKILL'));
  let out = '';
  watch.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const waitFor = async (re: RegExp) => {
    const deadline = Date.now() + 20_000;
    while (!re.test(out)) {
      if (Date.now() > deadline) throw new Error(`watch output: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await waitFor(/ADDED\s+prices/);
  await ok(b.kubeconfig, ['-n', 'shop', 'delete', 'configmap', 'prices']);
  await waitFor(/DELETED\s+prices/);
  watch.kill('SIGTERM');
  const after = await kubectl(b.kubeconfig, home, ['-n', 'shop', 'get', 'configmap', 'prices']);
  assert.notEqual(after.code, 0);
  assert.match(after.stderr, /NotFound|not found/);
});

test('kubeve server --etcd rejects a malformed URL with a clear message', async () => {
  const dir = tempDir();
  await assert.rejects(
    startCli(['--etcd', 'localhost:2379', '--data-dir', join(dir, 'x'), '--port', '0', '--device-port', '0']),
    /not an etcd client URL \(http\[s\]:\/\/host:port\): localhost:2379/,
  );
});

test('two replicas on one etcd: kubectl writes through A are watched through B, in order', async () => {
  const open = () => EtcdStorage.open({ endpoints: etcd.endpoints, prefix: '/e2e-replicas' });
  const a = await startTestServer({ storage: await open() });
  cleanup.push(() => a.close());
  const b = await startTestServer({ storage: await open() });
  cleanup.push(() => b.close());

  await a.ok(['create', 'namespace', 'fleet']);
  const watch = kubectlWatch(b, [
    '-n',
    'fleet',
    'get',
    'configmaps',
    '-w',
    '--output-watch-events',
    '-o',
    'custom-columns=TYPE:.type,NAME:.object.metadata.name,V:.object.data.v,RV:.object.metadata.resourceVersion',
    '--no-headers',
  ]);
  // kubectl prints nothing for an empty list: give the watch a moment to be established.
  await new Promise((r) => setTimeout(r, 1500));
  const expected: string[] = [];
  for (let i = 0; i < 10; i++) {
    await a.ok(['-n', 'fleet', 'create', 'configmap', `cm-${i}`, '--from-literal=v=0']);
    expected.push(`ADDED cm-${i} 0`);
  }
  for (let i = 0; i < 10; i += 3) {
    await a.ok(['-n', 'fleet', 'patch', 'configmap', `cm-${i}`, '-p', '{"data":{"v":"1"}}']);
    expected.push(`MODIFIED cm-${i} 1`);
  }
  await a.ok(['-n', 'fleet', 'delete', 'configmap', 'cm-4']);
  expected.push('DELETED cm-4 0');

  await watch.until((lines) => lines.length >= expected.length);
  const lines = watch.lines().map((l) => l.trim().split(/\s+/));
  watch.stop();
  assert.deepEqual(
    lines.map((l) => l.slice(0, 3).join(' ')),
    expected,
  );
  const rvs = lines.map((l) => Number(l[3]));
  assert.ok(rvs.every((rv) => rv > 0));
  assert.deepEqual(
    rvs,
    [...rvs].sort((x, y) => x - y),
    'resourceVersions increase in watch order',
  );

  // B reads A's writes directly too, and its writes are A's conflicts.
  const fromB = JSON.parse(await b.ok(['-n', 'fleet', 'get', 'configmap', 'cm-3', '-o', 'json']));
  assert.equal(fromB.data.v, '1');
  const dup = await b.kubectl(['-n', 'fleet', 'create', 'configmap', 'cm-3']);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /AlreadyExists|already exists/);
});

test('kubeve server --etcd over TLS with a client certificate; without one the server refuses to start', async () => {
  const secure = await startEtcd(1, { tls: true });
  cleanup.push(() => secure.stop());
  const tls = secure.tls!;
  const dir = tempDir();
  const home = join(dir, 'home');
  const base = ['--etcd', secure.endpoints[0], '--etcd-prefix', '/e2e-tls', '--port', '0', '--device-port', '0', '--device-host', '127.0.0.1'];

  await assert.rejects(startCli([...base, '--data-dir', join(dir, 'noca')]), /--etcd-cafile is required with https:\/\/ etcd URLs/);
  // etcd demands a client certificate: without one, kubeve reports etcd unreachable and exits.
  await assert.rejects(startCli([...base, '--data-dir', join(dir, 'nocert'), '--etcd-cafile', tls.ca]), /exited with 1[\s\S]*kubeve: cannot use etcd: etcd/);

  const s = await startCli([
    ...base,
    '--data-dir',
    join(dir, 'ok'),
    '--etcd-cafile',
    tls.ca,
    '--etcd-certfile',
    tls.clientCert,
    '--etcd-keyfile',
    tls.clientKey,
  ]);
  cleanup.push(() => stopCli(s.child));
  const created = await kubectl(s.kubeconfig, home, ['create', 'configmap', 'over-tls', '--from-literal=a=b']);
  assert.equal(created.code, 0, created.stderr);
  const got = await kubectl(s.kubeconfig, home, ['get', 'configmap', 'over-tls', '-o', 'jsonpath={.data.a}']);
  assert.equal(got.stdout, 'b');
});

test('/readyz?verbose reports etcd; when etcd goes away readyz fails, and recovers with it', async () => {
  const own = await startEtcd(1);
  cleanup.push(() => own.stop());
  const t = await startTestServer({ storage: await EtcdStorage.open({ endpoints: own.endpoints, prefix: '/e2e-readyz', requestTimeoutMs: 3000 }) });
  cleanup.push(() => t.close());
  const ready = await api(t.server, 'GET', '/readyz?verbose');
  assert.equal(ready.status, 200);
  assert.equal(ready.body, '[+]ping ok\n[+]shutdown ok\n[+]storage ok\n[+]etcd ok\n[+]informer-sync ok\nreadyz check passed\n');
  assert.equal((await api(t.server, 'GET', '/readyz')).body, 'ok');

  await own.kill(own.members[0]);
  const down = await api(t.server, 'GET', '/readyz?verbose');
  assert.equal(down.status, 500);
  assert.match(down.body, /^\[\+\]ping ok\n/);
  assert.match(down.body, /\n\[-\]etcd failed: .+\n/);
  assert.match(down.body, /\nreadyz check failed\n$/);
  const write = await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'while-down' } });
  assert.equal(write.status, 503, JSON.stringify(write.body));
  assert.equal(write.body.reason, 'ServiceUnavailable');
  assert.equal((await api(t.server, 'GET', '/livez')).status, 200, 'the process itself is alive');

  await own.restart(own.members[0]);
  const deadline = Date.now() + 20_000;
  let again = await api(t.server, 'GET', '/readyz?verbose');
  while (again.status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    again = await api(t.server, 'GET', '/readyz?verbose');
  }
  assert.equal(again.status, 200, again.body);
  assert.equal((await api(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'after' } })).status, 201);
});
