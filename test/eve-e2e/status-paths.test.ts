// Status that flows back from devices, as a user sees it with kubectl: a Volume downloading and
// becoming ready (and the app's own volumes), an app whose image fails on the device (status,
// condition and one Warning Event, not one per info message), a device admitted by its device
// certificate alone (no /register), and the EdgeNode CRD documenting its conditions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { createDeviceCert } from '../../src/eve/pki.ts';
import type { ZInfoMsg } from '../../src/eve/gen/info/info_pb.ts';
import { startEveEnv, eventually, onboardingKeyYaml, type EveTestEnv } from './helpers.ts';

let env: EveTestEnv;

const get = async (kind: string, name: string, ns?: string) => JSON.parse(await env.ok(['get', kind, name, ...(ns ? ['-n', ns] : []), '-o', 'json']));
const cond = (o: any, t: string) => (o.status?.conditions ?? []).find((c: any) => c.type === t);
const indent = (pem: string, n: number) =>
  pem
    .trim()
    .split('\n')
    .map((l) => `${' '.repeat(n)}${l}`)
    .join('\n');

/** `kubectl get ... -w` in the background: every line it prints, as a user watching would see. */
function watch(args: string[]): { lines: string[]; stop(): void } {
  const home = join(env.dir, 'home');
  const child = spawn('kubectl', args, { env: { ...process.env, HOME: home, KUBECONFIG: env.k.api.kubeconfigPath, KUBECACHEDIR: join(home, 'cache') } });
  const lines: string[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  return { lines, stop: () => void child.kill() };
}

before(async () => {
  env = await startEveEnv();
  await env.apply(onboardingKeyYaml('status-key', env.onboard.certPem));
});
after(async () => {
  await env?.close();
});

test('a Volume referenced by an app: kubectl shows its download progress on the device, then Ready; the app lists its volumes', async () => {
  // 250 ms (real) per device step and 10 download steps: slow enough that the progress is watchable.
  const fleet = await env.fleet({ count: 1, serialPrefix: 'vol-', stepMs: 15_000, knobs: { downloadSteps: 10 } });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 1, 60_000, 'configured device');
  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: DataStore
metadata: {name: images, namespace: default}
spec: {type: https, url: "https://images.example.com"}
---
apiVersion: eve.kubeve.io/v1alpha1
kind: Volume
metadata: {name: data, namespace: default}
spec:
  image: disks/data.qcow2
  imageFormat: qcow2
  datastoreRef: {name: images}
`);
  const w = watch([
    'get',
    'volume',
    'data',
    '-n',
    'default',
    '-w',
    '-o',
    'jsonpath={.status.devices[*].nodeName} {.status.devices[*].state} {.status.devices[*].progress} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}{"\\n"}',
  ]);
  try {
    // Before any device uses it, the Volume has no per-device status.
    const fresh = await get('volume', 'data', 'default');
    assert.equal((fresh.status?.devices ?? []).length, 0);
    await eventually(() => w.lines.length > 0, 30_000, 'the watch printed the Volume as it is');
    await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: db, namespace: default}
spec:
  nodeName: vol-0000
  image: library/postgres:16
  volumes:
    - name: data
      volumeRef: {name: data}
      mountPath: /var/lib/postgresql
    - name: scratch
      blank: {size: 64Mi}
      mountPath: /scratch
`);
    await env.ok(['wait', '--for=condition=Ready', 'volume/data', '-n', 'default', '--timeout=60s']);
    await eventually(() => w.lines.some((l) => / CREATED_VOLUME 100 True Ready$/.test(l)), 10_000, 'the watch saw the ready volume');
  } finally {
    w.stop();
  }
  // What the watching user saw: the download going up on vol-0000, not yet ready, then created and Ready.
  const lines = w.lines.filter((l) => l.trim());
  const seen = lines.map((l) => l.split(' '));
  const downloading = seen.filter((s) => s[0] === 'vol-0000' && s[1] === 'DOWNLOAD_STARTED' && Number(s[2]) > 0 && Number(s[2]) < 100);
  assert.ok(downloading.length >= 2, `intermediate download progress was shown: ${lines.join(' | ')}`);
  for (const s of downloading) assert.deepEqual(s.slice(3), ['False', 'DownloadStarted'], 'Ready=False while downloading');
  const progress = downloading.map((s) => Number(s[2]));
  assert.deepEqual(
    progress,
    [...progress].sort((a, b) => a - b),
    'progress only goes up',
  );
  assert.ok(
    seen.some((s) => s[1] === 'CREATING_VOLUME' && s[3] === 'False'),
    'the creation step was shown',
  );
  assert.deepEqual(seen.at(-1), ['vol-0000', 'CREATED_VOLUME', '100', 'True', 'Ready']);
  // Status is written on change only: no two consecutive watch events are the same status.
  for (let i = 1; i < lines.length; i++) assert.notEqual(lines[i], lines[i - 1], `repeated status write: ${lines[i]}`);

  const table = await env.ok(['get', 'volumes', '-n', 'default']);
  assert.match(table, /^NAME\s+SIZE\s+IMAGE\s+READY\s+AGE/);
  assert.match(table, /\ndata\s+disks\/data\.qcow2\s+True\s+/, 'no size (an image volume), the image, Ready');

  const v = await get('volume', 'data', 'default');
  const cfg = JSON.parse(await env.ok(['get', '--raw', '/apis/eve.kubeve.io/v1alpha1/edgenodes/vol-0000/config']));
  const onDevice = cfg.volumes.find((x: any) => x.displayName === 'data');
  assert.ok(onDevice, 'the Volume is in the device config');
  assert.deepEqual(v.status.devices, [{ nodeName: 'vol-0000', uuid: onDevice.uuid, state: 'CREATED_VOLUME', progress: 100 }]);
  assert.equal(cond(v, 'Ready').status, 'True');
  assert.equal(cond(v, 'Ready').message, 'ready on 1 device(s)');
  const yaml = await env.ok(['get', 'volume', 'data', '-n', 'default', '-o', 'yaml']);
  assert.match(yaml, /devices:\n {2}- nodeName: vol-0000\n {4}progress: 100\n {4}state: CREATED_VOLUME\n/);

  // The app reports every volume it mounts: its image (root), the referenced Volume and its blank one.
  await env.ok(['wait', '--for=condition=Ready', 'appinstance/db', '-n', 'default', '--timeout=60s']);
  const app = await eventually(
    async () => {
      const a = await get('appinstance', 'db', 'default');
      return (a.status?.volumes ?? []).length === 3 && a.status.volumes.every((x: any) => x.state === 'CREATED_VOLUME') ? a : undefined;
    },
    20_000,
    'the app lists its three volumes',
  );
  assert.deepEqual(
    app.status.volumes.map((x: any) => x.name),
    ['data', 'root', 'scratch'],
  );
  assert.equal(app.status.volumes.find((x: any) => x.name === 'data').uuid, onDevice.uuid, 'the referenced Volume is the same copy');
  const cfgUuids = new Set(cfg.volumes.map((x: any) => x.uuid));
  for (const x of app.status.volumes) assert.ok(cfgUuids.has(x.uuid), `${x.name} is a volume of the device config`);

  // A volume the app no longer mounts leaves its status.
  await env.ok(['patch', 'appinstance', 'db', '-n', 'default', '--type=json', '-p', '[{"op":"remove","path":"/spec/volumes/1"}]']);
  await eventually(
    async () => {
      const a = await get('appinstance', 'db', 'default');
      return JSON.stringify(a.status.volumes.map((x: any) => x.name)) === '["data","root"]';
    },
    20_000,
    "scratch gone from the app's volumes",
  );

  // Removing the app removes the device's copy: the Volume is used by no device any more.
  await env.ok(['delete', 'appinstance', 'db', '-n', 'default']);
  const unused = await eventually(
    async () => {
      const x = await get('volume', 'data', 'default');
      return (x.status?.devices ?? []).length === 0 ? x : undefined;
    },
    20_000,
    'the Volume no longer lists vol-0000',
  );
  assert.equal(cond(unused, 'Ready').reason, 'NotUsed');
  await fleet.devices[0]!.waitFor((d) => d.model.vols.size === 0, 20_000, 'volumes removed on the device');
  await env.k.eve.idle();
  assert.equal(((await get('volume', 'data', 'default')).status.devices ?? []).length, 0, "the device's deletion report does not bring it back");
});

test("an app whose image fails on the device: Ready=False with EVE's error, one Warning Event however often the device reports", async () => {
  const fleet = await env.fleet({ count: 1, serialPrefix: 'err-', knobs: { failImage: (ct) => ct.url.includes('broken') } });
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 1, 60_000, 'configured device');
  const device = fleet.devices[0]!;
  // No download retry during the test: the error stays put and only repeats in info messages.
  await env.ok(['patch', 'edgenode', 'err-0000', '--type=merge', '-p', '{"spec":{"configItems":{"timer.download.retry":"86400"}}}']);
  await device.waitFor((d) => d.model.item('timer.download.retry') === 86400, 30_000, 'retry timer applied');

  // Count the app's info messages that reach the controller.
  const ingest = env.k.eve.ingest;
  const original = ingest.info.bind(ingest);
  let appUid = '';
  let appInfos = 0;
  ingest.info = async (uuid: string, msg: ZInfoMsg) => {
    if (msg.InfoContent.case === 'ainfo' && appUid && msg.InfoContent.value.AppID.toLowerCase() === appUid) appInfos++;
    return original(uuid, msg);
  };
  try {
    await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: broken, namespace: default}
spec:
  nodeName: err-0000
  image: library/broken:1
`);
    appUid = (await get('appinstance', 'broken', 'default')).metadata.uid;
    const failed = await eventually(
      async () => {
        const a = await get('appinstance', 'broken', 'default');
        // The app's and its volume's reports arrive separately (apps first).
        return a.status?.state === 'ERROR' && a.status.volumes?.find((x: any) => x.name === 'root')?.state === 'ERROR' ? a : undefined;
      },
      30_000,
      'the app and its image volume in ERROR',
    );
    const ready = cond(failed, 'Ready');
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'Error');
    assert.equal(ready.message, 'download of library/broken:1 failed: 404 Not Found (simulated failing image)', "the device's own error text");
    assert.equal(failed.status.errors.length, 1);
    assert.equal(failed.status.errors[0].message, ready.message);
    assert.equal(failed.status.errors[0].severity, 'Error');
    assert.match(failed.status.errors[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const root = failed.status.volumes.find((x: any) => x.name === 'root');
    assert.equal(root.state, 'ERROR');
    assert.equal(root.error, ready.message, 'the failing volume carries the error too');
    const table = await env.ok(['get', 'appinstance', 'broken', '-n', 'default']);
    assert.match(table, /broken\s+err-0000\s+library\/broken:1\s+ERROR\s+False/);

    const appEvents = async () =>
      (JSON.parse(await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=broken', '-o', 'json'])).items as any[]).filter(
        (e) => e.reason === 'AppError',
      );
    const first = await eventually(async () => ((await appEvents()).length ? appEvents() : undefined), 10_000, 'the AppError event');
    assert.equal(first.length, 1);
    assert.equal(first[0].type, 'Warning');
    assert.equal(first[0].message, ready.message);
    assert.equal(first[0].involvedObject.kind, 'AppInstance');
    assert.equal(first[0].involvedObject.uid, appUid);
    assert.equal(first[0].count, 1);
    const describe = await env.ok(['describe', 'appinstance', 'broken', '-n', 'default']);
    assert.match(describe, /Warning\s+AppError\s+.*download of library\/broken:1 failed/);

    // Every new config makes the device re-send the app's (unchanged) info: no new Event, no new write.
    const rvBefore = (await get('appinstance', 'broken', 'default')).metadata.resourceVersion;
    const infosBefore = appInfos;
    for (const level of ['debug', 'warning', 'info']) {
      const applied = device.counters.configApplied;
      await env.ok([
        'patch',
        'edgenode',
        'err-0000',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { configItems: { 'timer.download.retry': '86400', 'debug.default.loglevel': level } } }),
      ]);
      await device.waitFor((d) => d.counters.configApplied > applied, 30_000, 'the new config applied');
    }
    await eventually(() => appInfos >= infosBefore + 3, 20_000, 'three more info messages about the app');
    await env.k.eve.idle();
    assert.equal((await get('appinstance', 'broken', 'default')).metadata.resourceVersion, rvBefore, 'the unchanged status was not written again');
    const again = await appEvents();
    assert.equal(again.length, 1, 'still one AppError Event');
    assert.equal(again[0].count, 1, 'and it was not bumped by repeated reports');
    assert.equal(again[0].metadata.resourceVersion, first[0].metadata.resourceVersion);

    // Fixing the image clears the error; no further AppError Event.
    await env.ok(['patch', 'appinstance', 'broken', '-n', 'default', '--type=merge', '-p', '{"spec":{"image":"library/nginx:1.27"}}']);
    await env.ok(['wait', '--for=condition=Ready', 'appinstance/broken', '-n', 'default', '--timeout=60s']);
    const fixed = await get('appinstance', 'broken', 'default');
    assert.equal(fixed.status.state, 'RUNNING');
    assert.equal(fixed.status.errors, undefined, 'the errors are gone');
    assert.equal((await appEvents()).length, 1);
  } finally {
    ingest.info = original;
  }
});

test('an EdgeNode with only spec.deviceCertificate: the device asks /uuid without /register, gets its config and comes Online', async () => {
  const cert = await createDeviceCert({ cn: 'dc-0000' });
  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: EdgeNode
metadata: {name: edge-dc}
spec:
  serial: dc-0000
  deviceCertificate: |
${indent(cert.certPem, 4)}
`);
  // Registered from the certificate alone, before the device ever called.
  const registered = await eventually(
    async () => {
      const n = await get('edgenode', 'edge-dc');
      return cond(n, 'Registered')?.status === 'True' ? n : undefined;
    },
    20_000,
    'Registered from the device certificate',
  );
  assert.equal(cond(registered, 'Registered').reason, 'DeviceCertificate');
  assert.match(registered.status.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(registered.status.deviceCertificateHash, createHash('sha256').update(new X509Certificate(cert.certPem).raw).digest('base64'));
  // Its config is rendered before the device ever polls.
  await eventually(async () => cond(await get('edgenode', 'edge-dc'), 'ConfigRendered')?.status === 'True', 20_000, 'ConfigRendered before the device boots');
  const early = JSON.parse(await env.ok(['get', '--raw', '/apis/eve.kubeve.io/v1alpha1/edgenodes/edge-dc/config']));
  assert.equal(early.id.uuid, registered.status.uuid);

  // A device with no onboarding certificate at all (EVE without onboard.cert.pem).
  const fleet = await env.fleet({ count: 1, serialPrefix: 'dc-', onboard: undefined, identities: [{ certPem: cert.certPem, keyPem: cert.keyPem }] });
  const device = fleet.devices[0]!;
  fleet.start();
  await fleet.waitFor((f) => f.counts().configured === 1, 60_000, 'configured device');
  assert.equal(device.counters.registerAttempts, 0, 'the device never called /register');
  assert.ok(device.counters.uuidRequests >= 1);
  assert.equal(device.uuid, registered.status.uuid, "the device got the EdgeNode's UUID");

  const n = await eventually(
    async () => {
      const x = await get('edgenode', 'edge-dc');
      return cond(x, 'Online')?.status === 'True' && cond(x, 'ConfigDelivered')?.status === 'True' && x.status.hardware ? x : undefined;
    },
    30_000,
    'Online with the config delivered',
  );
  assert.equal(n.status.phase, 'Online');
  assert.equal(n.status.deliveredConfigHash, n.status.renderedConfigHash);
  assert.equal(cond(n, 'ConfigRendered').status, 'True');
  assert.equal(n.status.hardware.manufacturer, 'QEMU', 'device info reaches the EdgeNode');
  assert.equal(n.status.serial, 'dc-0000');
  assert.match(await env.ok(['get', 'edgenode', 'edge-dc']), /\nedge-dc\s+dc-0000\s+Online\s+True\s+14\.5\.1-kvm-amd64\s/);
  const cfg = JSON.parse(await env.ok(['get', '--raw', '/apis/eve.kubeve.io/v1alpha1/edgenodes/edge-dc/config']));
  assert.equal(cfg.id.uuid, device.uuid);
  assert.equal(cfg.deviceName, 'edge-dc');
  const events = await env.ok(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=edge-dc']);
  assert.match(events, /Registered/);
  assert.match(events, /Online/);

  // It runs apps like any other device.
  await env.apply(`apiVersion: eve.kubeve.io/v1alpha1
kind: AppInstance
metadata: {name: dc-app, namespace: default}
spec: {nodeName: edge-dc, image: library/busybox:1.36}
`);
  await env.ok(['wait', '--for=condition=Ready', 'appinstance/dc-app', '-n', 'default', '--timeout=60s']);
  assert.equal(device.model.appStates()['dc-app'], 'RUNNING');
});

test('kubectl explain documents every EdgeNode condition, including ConfigRendered', async () => {
  const out = await env.ok(['explain', 'edgenode.status.conditions']);
  for (const t of ['Registered', 'Online', 'ConfigRendered', 'ConfigDelivered', 'BaseOSReady']) assert.ok(out.includes(t), `${t} in:\n${out}`);
});
