// Render benchmark: time to turn one device's desired state into EdgeDevConfig + protobuf bytes + hash.
// Run: node --import tsx bench/render.bench.ts   (target: render + hash < 1 ms for a device with 10 apps)
//
// The device has 10 container apps (each on a shared local network instance with a port map, one
// blank volume, env, a registry datastore with credentials), a switch network instance, 12 config
// items, two ports and a base OS. Reported per iteration, p50/p99 over BENCH_RENDERS (20000):
//   render+hash  renderDeviceConfig(input) on ready records (the L0 cost);
//   map+render   mapDevice (CR objects → records, UUID v5 derivations, Secret decoding) plus the render,
//                i.e. what a controller pays per re-render with its objects already in memory.
// Env: BENCH_RENDERS, BENCH_APPS (10).

import crypto from 'node:crypto';
import { renderDeviceConfig } from '../src/eve/render.ts';
import { mapDevice } from '../src/controllers/eve/mapping.ts';
import type { KObject } from '../src/apiserver/resource.ts';

const RENDERS = Number(process.env.BENCH_RENDERS ?? 20000);
const APPS = Number(process.env.BENCH_APPS ?? 10);
const DEVICE = crypto.randomUUID();
const b64 = (s: string) => Buffer.from(s).toString('base64');
const meta = (name: string) => ({ name, namespace: 'default', uid: crypto.randomUUID(), generation: 1 });

const objects: KObject[] = [
  { kind: 'NetworkInstance', metadata: meta('lan'), spec: { type: 'local', subnet: '10.50.0.0/24', uplink: 'uplink' } },
  { kind: 'NetworkInstance', metadata: meta('sw'), spec: { type: 'switch', uplink: 'eth1' } },
  { kind: 'Secret', metadata: meta('creds'), data: { username: b64('robot'), password: b64('a-long-registry-token-0123456789') } },
  {
    kind: 'DataStore',
    metadata: meta('registry'),
    spec: { type: 'container-registry', url: 'docker://registry.example.com', credentialsSecretRef: { name: 'creds' } },
  },
];
const apps: KObject[] = Array.from({ length: APPS }, (_, i) => ({
  kind: 'AppInstance',
  metadata: { ...meta(`app-${i}`), generation: 3 },
  spec: {
    nodeName: 'dev',
    type: 'container',
    image: `team/service-${i}:1.${i}.0`,
    datastoreRef: { name: 'registry' },
    resources: { cpus: 1, memory: '256Mi' },
    networks: [
      { networkInstanceRef: { name: 'lan' }, portMaps: [{ protocol: 'tcp', port: 8000 + i, targetPort: 80 }] },
      { networkInstanceRef: { name: 'sw' } },
    ],
    volumes: [{ name: 'data', blank: { size: '1Gi' }, mountPath: '/data' }],
    env: [
      { name: 'INDEX', value: String(i) },
      { name: 'MODE', value: 'production' },
    ],
    activate: true,
  },
}));
const node: KObject = {
  kind: 'EdgeNode',
  metadata: { name: 'dev', uid: crypto.randomUUID(), generation: 1 },
  spec: {
    serial: 'SN-1',
    reboot: 1,
    configItems: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`timer.item.${i}`, String(60 + i)])),
    devicePorts: [
      { name: 'eth0', usage: 'management' },
      { name: 'eth1', usage: 'app' },
    ],
    baseOS: { version: '14.5.1-kvm-amd64', image: 'lfedge/eve:14.5.1-kvm-amd64' },
  },
  status: { uuid: DEVICE },
};
const lookup = {
  get: (kind: string, namespace: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.namespace === namespace && o.metadata.name === name),
};
const map = () => mapDevice({ node, deviceUuid: DEVICE, apps, lookup, version: 1, controllerCertsHash: 'certs' });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(name: string, fn: () => unknown | Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.min(2000, RENDERS); i++) await fn(); // warm-up (JIT)
  const times: number[] = [];
  for (let i = 0; i < RENDERS; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(
    `${name.padEnd(12)} p50 ${percentile(times, 50).toFixed(3)} ms   p99 ${percentile(times, 99).toFixed(3)} ms   mean ${mean.toFixed(3)} ms   (${RENDERS} renders)`,
  );
}

const mapped = await map();
if (mapped.problems.length) throw new Error(`fixture problems: ${JSON.stringify(mapped.problems)}`);
const first = renderDeviceConfig(mapped.input);
console.log(
  `device with ${mapped.input.apps.length} apps: config ${first.bytes.length} bytes, ${first.config.contentInfo.length} content trees, ${first.config.volumes.length} volumes, hash ${first.hash}`,
);
await measure('render+hash', () => renderDeviceConfig(mapped.input));
await measure('map+render', async () => renderDeviceConfig((await map()).input));
