// Test harness for the simulator: the REAL device API server (src/eve) in-process on port 0
// with a temp data dir, a zero-touch onboarding allow-list and a config per device.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { startDeviceApi, type DeviceApi } from '../../src/eve/device-api.ts';
import { OnboardingAllowList } from '../../src/eve/onboarding.ts';
import { issueOnboardingCert, type CertAndKey } from '../../src/eve/pki.ts';
import type { DeviceHooks } from '../../src/eve/hooks.ts';
import { EdgeDevConfigSchema, type EdgeDevConfig } from '../../src/eve/gen/config/devconfig_pb.ts';
import { Format, DsType, VolumeContentOriginType } from '../../src/eve/gen/config/storage_pb.ts';
import { ZNetworkInstType, AddressType } from '../../src/eve/gen/config/netinst_pb.ts';
import { DHCPType, NetworkType } from '../../src/eve/gen/evecommon/netcmn_pb.ts';
import { PhyIoType, PhyIoMemberUsage } from '../../src/eve/gen/evecommon/devmodelcommon_pb.ts';
import { VmMode } from '../../src/eve/gen/config/vm_pb.ts';
import type { ZInfoMsg } from '../../src/eve/gen/info/info_pb.ts';

export interface SimTestController {
  api: DeviceApi;
  allow: OnboardingAllowList;
  onboard: CertAndKey;
  dir: string;
  server: string;
  rootCertPem: string;
  infos: Map<string, ZInfoMsg[]>;
  close(): Promise<void>;
}

export async function startController(extra: Partial<DeviceHooks> = {}): Promise<SimTestController> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-sim-'));
  const allow = new OnboardingAllowList();
  const infos = new Map<string, ZInfoMsg[]>();
  const api = await startDeviceApi({
    dataDir: dir,
    host: '127.0.0.1',
    port: 0,
    tlsHosts: ['localhost', '127.0.0.1'],
    hooks: {
      admitOnboarding: (r) => allow.admit(r),
      desiredConfig: (uuid) => baseConfig(uuid),
      onInfo: (uuid, msg) => {
        const l = infos.get(uuid) ?? [];
        if (l.length < 2000) l.push(msg);
        infos.set(uuid, l);
      },
      ...extra,
    },
  });
  const onboard = await issueOnboardingCert(api.pki);
  allow.allow(onboard.certPem, '*');
  return {
    api,
    allow,
    onboard,
    dir,
    server: `localhost:${api.port}`,
    rootCertPem: api.pki.root.certPem,
    infos,
    async close() {
      await api.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Deterministic v5-like UUID for test objects. */
export function uuidFor(...parts: string[]): string {
  const h = crypto.createHash('sha1').update(parts.join('/')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface AppSpec {
  name: string;
  image?: string;
  version?: string;
  activate?: boolean;
  restart?: number;
  purge?: number;
}

/** A realistic minimal config: one port, one local NI, apps with content tree + volume. */
export function baseConfig(
  uuid: string,
  o: { version?: number; apps?: AppSpec[]; items?: Record<string, string>; reboot?: number; baseos?: { version: string; image: string } } = {},
): EdgeDevConfig {
  const net = uuidFor(uuid, 'net');
  const ni = uuidFor(uuid, 'ni0');
  const ds = uuidFor('ds');
  const apps = o.apps ?? [{ name: 'nginx', image: 'library/nginx:1.27' }];
  const cts = apps.map((a) => ({
    uuid: uuidFor(uuid, 'ct', a.name),
    dsId: ds,
    URL: a.image ?? `library/${a.name}:latest`,
    iformat: Format.CONTAINER,
    displayName: a.name,
  }));
  if (o.baseos) cts.push({ uuid: uuidFor(uuid, 'ct', 'eve'), dsId: ds, URL: o.baseos.image, iformat: Format.CONTAINER, displayName: 'eve' });
  return create(EdgeDevConfigSchema, {
    id: { uuid, version: String(o.version ?? 1) },
    deviceIoList: [
      {
        ptype: PhyIoType.PhyIoNetEth,
        phylabel: 'eth0',
        phyaddrs: { Ifname: 'eth0' },
        logicallabel: 'eth0',
        assigngrp: 'eth0',
        usage: PhyIoMemberUsage.PhyIoUsageMgmtAndApps,
      },
    ],
    networks: [{ id: net, type: NetworkType.V4, ip: { dhcp: DHCPType.Client } }],
    systemAdapterList: [{ name: 'eth0', uplink: true, networkUUID: net }],
    datastores: [{ id: ds, dType: DsType.DsContainerRegistry, fqdn: 'docker://registry.example' }],
    networkInstances: [
      {
        uuidandversion: { uuid: ni, version: '1' },
        displayname: 'ni0',
        instType: ZNetworkInstType.ZnetInstLocal,
        activate: true,
        port: { type: PhyIoType.PhyIoNetEth, name: 'uplink' },
        ipType: AddressType.IPV4,
        ip: { subnet: '10.50.0.0/24', gateway: '10.50.0.1', dns: ['10.50.0.1'], dhcpRange: { start: '10.50.0.2', end: '10.50.0.254' } },
      },
    ],
    contentInfo: cts,
    volumes: apps.map((a) => ({
      uuid: uuidFor(uuid, 'vol', a.name),
      origin: { type: VolumeContentOriginType.VCOT_DOWNLOAD, downloadContentTreeID: uuidFor(uuid, 'ct', a.name) },
      displayName: `${a.name}_0`,
    })),
    apps: apps.map((a) => ({
      uuidandversion: { uuid: uuidFor(uuid, 'app', a.name), version: a.version ?? '1' },
      displayname: a.name,
      activate: a.activate ?? true,
      fixedresources: { memory: 512000, maxmem: 512000, vcpus: 1, virtualizationMode: VmMode.HVM },
      interfaces: [{ name: 'eth0', networkId: ni, acls: [{ id: 1, matches: [{ type: 'ip', value: '0.0.0.0/0' }] }] }],
      volumeRefList: [{ uuid: uuidFor(uuid, 'vol', a.name), mountDir: '/' }],
      ...(a.restart !== undefined ? { restart: { counter: a.restart } } : {}),
      ...(a.purge !== undefined ? { purge: { counter: a.purge } } : {}),
    })),
    configItems: Object.entries(o.items ?? {}).map(([key, value]) => ({ key, value })),
    ...(o.reboot !== undefined ? { reboot: { counter: o.reboot } } : {}),
    ...(o.baseos ? { baseos: { contentTreeUuid: uuidFor(uuid, 'ct', 'eve'), baseOsVersion: o.baseos.version, activate: true } } : {}),
  });
}
