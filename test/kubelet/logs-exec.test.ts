// kubectl logs / exec / attach / port-forward on a Pod bound to an EVE node. Logs come from the
// device log store (what devices upload via apps/instanceid/<id>/newlogs); entries are appended to
// the server's real store, as the device API does, so the assertions know the exact lines.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFleet } from '../../src/sim/fleet.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from '../eve-e2e/helpers.ts';

let env: EveTestEnv;
let fleet: SimFleet;
let device = '';
let podUid = '';
const t0 = Math.floor(Date.now() / 1000) - 600;
const entry = (sec: number, content: string) => ({ severity: 'info', source: 'app', content, timestamp: { seconds: sec, nanos: 5000 } });

before(async () => {
  env = await startEveEnv();
  await env.apply(onboardingKeyYaml('lg-key', env.onboard.certPem));
  fleet = await env.fleet({ count: 1, serialPrefix: 'lg-' });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 1, 60_000, 'configured');
  await env.apply(`apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default}
spec:
  nodeName: lg-0000
  containers: [{name: main, image: library/busybox:1.36}]
`);
  await env.ok(['wait', '--for=condition=Ready', 'pod/app', '--timeout=60s']);
  podUid = JSON.parse(await env.ok(['get', 'pod', 'app', '-o', 'json'])).metadata.uid;
  device = JSON.parse(await env.ok(['get', 'edgenode', 'lg-0000', '-o', 'json'])).status.uuid;
  await env.k.device.logs.append(device, podUid, [entry(t0, 'first'), entry(t0 + 1, 'second'), entry(t0 + 500, 'third')]);
});
after(async () => {
  await env?.close();
});

test('kubectl logs: all lines, --tail, --since, --timestamps', async () => {
  assert.equal(await env.ok(['logs', 'app']), 'first\nsecond\nthird\n');
  assert.equal(await env.ok(['logs', 'app', '--tail=1']), 'third\n');
  assert.equal(await env.ok(['logs', 'app', '--since=5m']), 'third\n');
  const ts = await env.ok(['logs', 'app', '--tail=1', '--timestamps']);
  assert.equal(ts, `${new Date((t0 + 500) * 1000).toISOString().replace('.000Z', '.000005000Z')} third\n`);
  const bad = await env.kubectl(['logs', 'app', '-c', 'nope']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /container nope is not valid for pod app/);
});

test('kubectl logs -f streams lines as the device uploads them', async () => {
  const { spawn } = await import('node:child_process');
  const { join } = await import('node:path');
  const child = spawn('kubectl', ['logs', '-f', 'app', '--tail=1'], {
    env: { ...process.env, HOME: join(env.dir, 'home'), KUBECONFIG: env.k.api.kubeconfigPath },
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  try {
    await eventually(() => out === 'third\n', 15_000, 'the tail line');
    await env.k.device.logs.append(device, podUid, [entry(Math.floor(Date.now() / 1000), 'live one')]);
    await eventually(() => out === 'third\nlive one\n', 15_000, `the new line (got ${JSON.stringify(out)})`);
  } finally {
    child.kill();
  }
});

test('kubectl exec / attach / port-forward: a clear "not supported on EVE nodes" error', async () => {
  for (const args of [
    ['exec', 'app', '--', 'ls'],
    ['attach', 'app'],
    ['port-forward', 'pod/app', '18080:80'],
  ]) {
    const r = await env.kubectl(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, /not supported on EVE nodes/, `${args[0]}: ${r.stderr}`);
  }
});

test('a ConfigMap volume reaches the device as cloud-init write_files; the pod waits for a missing ConfigMap', async () => {
  await env.apply(`apiVersion: v1
kind: Pod
metadata: {name: files, namespace: default}
spec:
  nodeName: lg-0000
  containers:
    - name: main
      image: library/busybox:1.36
      volumeMounts: [{name: cfg, mountPath: /etc/app}]
  volumes: [{name: cfg, configMap: {name: app-config}}]
`);
  const waiting = await eventually(
    async () => {
      const p = JSON.parse(await env.ok(['get', 'pod', 'files', '-o', 'json']));
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
    },
    15_000,
    'CreateContainerConfigError',
  );
  assert.match(waiting.status.containerStatuses[0].state.waiting.message, /configMap default\/app-config not found/);
  await env.ok(['create', 'configmap', 'app-config', '--from-literal=mode=fast']);
  await env.ok(['wait', '--for=condition=Ready', 'pod/files', '--timeout=60s']);
  const uid = JSON.parse(await env.ok(['get', 'pod', 'files', '-o', 'json'])).metadata.uid;
  const cfg = JSON.parse(await env.ok(['get', '--raw', '/apis/eve.kubeve.io/v1alpha1/edgenodes/lg-0000/config']));
  const app = cfg.apps.find((a: any) => a.uuidandversion.uuid === uid);
  const userData = Buffer.from(app.userData, 'base64').toString();
  assert.match(userData, /^#cloud-config\n/);
  const cc = JSON.parse(userData.split('\n')[1]!);
  assert.deepEqual(cc.write_files, [{ path: '/etc/app/mode', encoding: 'b64', content: Buffer.from('fast').toString('base64'), permissions: '0644' }]);
});
