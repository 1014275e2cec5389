// Events expire (kube-apiserver's --event-ttl): an Event is deleted TTL after its last write (watchers see
// DELETED; finalizers do not hold it, as with the real server's etcd lease); a write re-arms the TTL; other
// kinds never expire; Events stored before a restart expire from their recorded write time.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { startApiServer } from '../../src/server/apiserver.ts';
import { join } from 'node:path';

const TTL_MS = 3000;
let t: TestServer;

before(async () => {
  t = await startTestServer({ eventTtlMs: TTL_MS });
});
after(async () => {
  await t?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens a watch and collects its events until stopped. */
function watch(path: string) {
  const events: any[] = [];
  const req = https.request(
    t.server.url + path,
    { headers: { Authorization: `Bearer ${t.server.adminToken}`, Accept: 'application/json' }, ca: t.server.caPem },
    (res) => {
      let buf = '';
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
      });
    },
  );
  req.end();
  return { events, stop: () => req.destroy() };
}

async function until(what: string, pred: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await pred())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const coreEvent = (name: string) => `apiVersion: v1
kind: Event
metadata: {name: ${name}, namespace: default}
involvedObject: {kind: ConfigMap, name: keep, namespace: default}
reason: Tested
message: expires soon
type: Normal
`;

test('an Event disappears from kubectl get events after its TTL; the watcher sees DELETED; other kinds stay', async () => {
  await t.ok(['create', 'configmap', 'keep', '--from-literal=a=b']);
  const w = watch('/api/v1/namespaces/default/events?watch=true');
  const wV1 = watch('/apis/events.k8s.io/v1/namespaces/default/events?watch=true');
  await t.ok(['create', '-f', '-'], coreEvent('short-lived'));
  // As with kube-apiserver's etcd lease, a finalizer does not keep an expired Event.
  await t.ok(['create', '-f', '-'], coreEvent('with-finalizer').replace('namespace: default}', 'namespace: default, finalizers: [example.com/keep]}'));
  const v1 = await api(t.server, 'POST', '/apis/events.k8s.io/v1/namespaces/default/events', {
    metadata: { name: 'structured' },
    eventTime: new Date().toISOString(),
    reportingController: 'kubeve.io/test',
    reportingInstance: 'test-1',
    action: 'Testing',
    reason: 'Tested',
    regarding: { kind: 'ConfigMap', name: 'keep', namespace: 'default' },
    type: 'Normal',
    note: 'expires too',
  });
  assert.equal(v1.status, 201, JSON.stringify(v1.body));
  const created = Date.now();

  assert.match(await t.ok(['get', 'events', '-o', 'name']), /event\/short-lived/);

  await until('the core Event to be deleted', () => w.events.some((e) => e.type === 'DELETED' && e.object.metadata.name === 'short-lived'));
  await until('the Event with a finalizer to be deleted', () => w.events.some((e) => e.type === 'DELETED' && e.object.metadata.name === 'with-finalizer'));
  assert.ok(!w.events.some((e) => e.type === 'MODIFIED'), 'expiry deletes, it does not mark objects Terminating');
  await until('the events.k8s.io Event to be deleted', () => wV1.events.some((e) => e.type === 'DELETED' && e.object.metadata.name === 'structured'));
  assert.ok(Date.now() - created >= TTL_MS - 1000, 'not deleted long before its TTL'); // timestamps have whole seconds
  w.stop();
  wV1.stop();

  const r = await t.kubectl(['get', 'events', '-n', 'default']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /short-lived|with-finalizer|Tested/);
  assert.match(r.stderr, /No resources found/);
  assert.equal((await api(t.server, 'GET', '/apis/events.k8s.io/v1/namespaces/default/events/structured')).status, 404);
  // The ConfigMap the Events were about is untouched.
  assert.equal(await t.ok(['get', 'configmap', 'keep', '-o', 'jsonpath={.data.a}']), 'b');
});

test('a write to an Event re-arms its TTL', async () => {
  const path = '/api/v1/namespaces/default/events';
  const c = await api(t.server, 'POST', path, { metadata: { name: 'repeated' }, involvedObject: { kind: 'Node', name: 'n1' }, reason: 'Again', count: 1 });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  await sleep(TTL_MS * 0.6);
  const p = await api(t.server, 'PATCH', `${path}/repeated`, { count: 2 }, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(p.status, 200, JSON.stringify(p.body));
  const patched = Date.now();
  await sleep(TTL_MS * 0.6); // past the first deadline, well before the second
  const mid = await api(t.server, 'GET', `${path}/repeated`);
  assert.ok(Date.now() - patched < TTL_MS, 'the check ran before the re-armed deadline');
  assert.equal(mid.status, 200, 'the Event was written again, so it is still kept');
  await until('the re-armed Event to expire', async () => (await api(t.server, 'GET', `${path}/repeated`)).status === 404);
});

test('Events stored before a restart expire from their recorded write time; other objects survive', async () => {
  const dataDir = join(t.dir, 'restart');
  let first: Awaited<ReturnType<typeof startApiServer>> | undefined = await startApiServer({ dataDir, port: 0, eventTtlMs: 60 * 60_000 });
  let second: Awaited<ReturnType<typeof startApiServer>> | undefined;
  try {
    const e = await api(first, 'POST', '/api/v1/namespaces/default/events', {
      metadata: { name: 'old' },
      involvedObject: { kind: 'Node', name: 'n1' },
      reason: 'Before',
    });
    assert.equal(e.status, 201, JSON.stringify(e.body));
    assert.equal((await api(first, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'stays' } })).status, 201);
    await first.close();
    first = undefined;
    second = await startApiServer({ dataDir, port: 0, eventTtlMs: TTL_MS });
    const s = second;
    await until('the stored Event to expire after the restart', async () => (await api(s, 'GET', '/api/v1/namespaces/default/events/old')).status === 404);
    assert.equal((await api(s, 'GET', '/api/v1/namespaces/default/configmaps/stays')).status, 200);
  } finally {
    await first?.close();
    await second?.close();
  }
});

test('kubeve server --event-ttl sets the TTL; an invalid value is refused before anything starts', async () => {
  const { spawn, execFile } = await import('node:child_process');
  const { mkdirSync } = await import('node:fs');
  const root = join(t.dir, 'cli');
  const dataDir = join(root, 'data');
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;

  const bad = await new Promise<{ code: number | null; stderr: string }>((res) => {
    const c = execFile(process.execPath, ['--import', 'tsx', main, 'server', '--data-dir', dataDir, '--event-ttl', '10 minutes'], (err, _out, stderr) =>
      res({ code: c.exitCode, stderr }),
    );
  });
  assert.equal(bad.code, 2); // a usage error, as Go flag parsing exits
  assert.match(bad.stderr, /--event-ttl <duration>' argument '10 minutes' is invalid/);

  const server = spawn(process.execPath, ['--import', 'tsx', main, 'server', '--data-dir', dataDir, '--port', '0', '--device-port', '0', '--event-ttl', '2s'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
  });
  server.stderr.on('data', (d) => {
    out += d;
  });
  const exited = new Promise((r) => server.once('exit', r));
  try {
    await until('the server to listen', () => /API server listening on https:/.test(out) || server.exitCode !== null, 60_000);
    assert.equal(server.exitCode, null, out);
    const kubectl = (args: string[], input?: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
        const c = execFile(
          'kubectl',
          args,
          { env: { ...process.env, HOME: home, KUBECONFIG: join(dataDir, 'admin.kubeconfig'), KUBECACHEDIR: join(home, 'cache') } },
          (err, stdout, stderr) => res({ code: err ? 1 : 0, stdout, stderr }),
        );
        if (input !== undefined) c.stdin!.end(input);
      });
    const created = await kubectl(['create', '-f', '-'], coreEvent('cli-event'));
    assert.equal(created.code, 0, created.stderr);
    await until(
      'the Event to expire',
      async () => {
        const r = await kubectl(['get', 'events', '-n', 'default', '-o', 'name']);
        return r.code === 0 && !r.stdout.includes('cli-event');
      },
      20_000,
    );
  } finally {
    server.kill('SIGTERM');
    await exited;
  }
});
