// kill -9 of `kubeve server` and a restart on the same data directory: devices that keep polling get no
// new config (no config version change, nothing applied), and Pods on EVE nodes keep their status
// (phase, IP, start times, conditions) — the bridge rebuilds its view from storage, it does not replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimFleet } from '../../src/sim/fleet.ts';
import { loadOrCreatePki, issueOnboardingCert } from '../../src/eve/pki.ts';
import { eventually, onboardingKeyYaml } from '../eve-e2e/helpers.ts';

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
}

async function startServer(dataDir: string, port: number, devicePort: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'server',
      '--data-dir',
      dataDir,
      '--port',
      String(port),
      '--device-host',
      '127.0.0.1',
      '--device-port',
      String(devicePort),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
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

const podYaml = (name: string, node: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default}
spec:
  nodeName: ${node}
  tolerations: [{key: kubeve.io/edge-node, operator: Exists, effect: NoSchedule}]
  containers: [{name: main, image: library/nginx:1.27, resources: {limits: {cpu: "1", memory: 128Mi}}}]
`;

test('kill -9 and restart: no device config version changes, pods keep their status', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-kl-restart-'));
  const dataDir = join(dir, 'data');
  const home = join(dir, 'home');
  const [port, devicePort] = [await freePort(), await freePort()];
  let server = await startServer(dataDir, port, devicePort);
  let fleet: SimFleet | undefined;
  const kubectl = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const child = execFile(
        'kubectl',
        args,
        { env: { ...process.env, HOME: home, KUBECONFIG: join(dataDir, 'admin.kubeconfig'), KUBECACHEDIR: join(home, 'cache') }, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : resolve(stdout)),
      );
      if (input !== undefined) child.stdin!.end(input);
    });
  const json = async (args: string[]) => JSON.parse(await kubectl([...args, '-o', 'json']));
  try {
    const pki = await loadOrCreatePki({ dir: join(dataDir, 'eve', 'pki') });
    const onboard = await issueOnboardingCert(pki);
    await kubectl(['apply', '-f', '-'], onboardingKeyYaml('rs-key', onboard.certPem));
    fleet = await SimFleet.create({
      server: `localhost:${devicePort}`,
      rootCertPem: pki.root.certPem,
      onboard: { certPem: onboard.certPem, keyPem: onboard.keyPem },
      count: 2,
      serialPrefix: 'rs-',
      timeScale: 60,
      startSpreadMs: 300,
      stepMs: 1000,
      rebootMs: 2000,
      logs: false,
      metrics: false,
    });
    const f = fleet;
    f.start();
    await f.waitFor((x) => x.counts().configured === 2, 60_000, '2 configured devices');
    await kubectl(['apply', '-f', '-'], podYaml('alpha', 'rs-0000') + '---\n' + podYaml('beta', 'rs-0001'));
    await kubectl(['wait', '--for=condition=Ready', 'pod/alpha', 'pod/beta', '--timeout=60s']);
    // Settled: both devices run the config with their app (delivered = rendered).
    const settled = async () =>
      (await json(['get', 'edgenodes'])).items.every(
        (n: any) => n.status.deliveredConfigHash && n.status.deliveredConfigHash === n.status.renderedConfigHash && n.status.appCount === 1,
      );
    await eventually(settled, 30_000, 'configs delivered');
    const snapshot = async () => ({
      nodes: (await json(['get', 'edgenodes'])).items.map((n: any) => [n.metadata.name, n.status.configVersion, n.status.renderedConfigHash]),
      pods: (await json(['get', 'pods'])).items.map((p: any) => [p.metadata.name, p.metadata.uid, p.status]),
      apps: (await json(['get', 'appinstances'])).items.map((a: any) => [a.metadata.name, a.status?.uuid]),
    });
    const before = await snapshot();
    assert.ok(
      before.pods.every(([, , st]: any) => st.phase === 'Running' && st.podIP),
      JSON.stringify(before.pods),
    );
    const applied = f.devices.map((d) => d.counters.configApplied);

    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
    server = await startServer(dataDir, port, devicePort);
    // The devices reconnect and poll the restarted server several times (1 s config interval here).
    const requests = f.devices.map((d) => d.counters.configRequests);
    await eventually(() => f.devices.every((d, i) => d.counters.configRequests >= requests[i]! + 5), 60_000, 'devices polling the restarted server');
    await eventually(
      async () => (await json(['get', 'nodes'])).items.every((n: any) => n.status.conditions.find((c: any) => c.type === 'Ready')?.status === 'True'),
      30_000,
      'nodes Ready',
    );

    const after = await snapshot();
    assert.deepEqual(after.nodes, before.nodes, 'config versions and hashes unchanged');
    assert.deepEqual(after.apps, before.apps, 'same app UUIDs');
    assert.deepEqual(after.pods, before.pods, 'pod status unchanged, timestamps included');
    assert.deepEqual(
      f.devices.map((d) => d.counters.configApplied),
      applied,
      'no device applied a new config',
    );
    for (const d of f.devices) assert.deepEqual(Object.values(d.model.appStates()), ['RUNNING']);
  } finally {
    await fleet?.stop();
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
