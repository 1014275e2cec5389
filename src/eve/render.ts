// L0 render: one device's desired state (plain EVE records, render-types.ts) → EdgeDevConfig, its protobuf
// bytes and hash. Pure and deterministic: no clock, no randomness; every list without an inherent order is
// sorted, so equal inputs give byte-identical output. Follows the reference's minimal working shapes and
// avoids what crashes or confuses EVE (eve-device-api.md §5.6, §9): every app carries uuidandversion and
// fixedresources, UUIDs are lower-case canonical, userData is base64, ACLs allow explicitly, a switch
// network instance has ipType 0, reboot/shutdown counters are always present so the first increment acts.

import crypto from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { AppInstanceConfigSchema, InstanceOpsCmdSchema, VolumeRefSchema, type AppInstanceConfig } from './gen/config/appconfig_pb.ts';
import { BaseOSSchema } from './gen/config/baseosconfig_pb.ts';
import { AdapterSchema, ConfigItemSchema, DeviceOpsCmdSchema, UUIDandVersionSchema } from './gen/config/devcommon_pb.ts';
import { EdgeDevConfigSchema, type EdgeDevConfig } from './gen/config/devconfig_pb.ts';
import { PhysicalIOSchema, SystemAdapterSchema, type PhysicalIO, type SystemAdapter } from './gen/config/devmodel_pb.ts';
import { ACEActionSchema, ACEMatchSchema, ACESchema, type ACE } from './gen/config/fw_pb.ts';
import { NetworkAdapterSchema, NetworkConfigSchema, type NetworkConfig } from './gen/config/netconfig_pb.ts';
import { AddressType, IPRouteSchema, NetworkInstanceConfigSchema, ZNetworkInstType, type NetworkInstanceConfig } from './gen/config/netinst_pb.ts';
import {
  ContentTreeSchema,
  DatastoreConfigSchema,
  DsType,
  Format,
  VolumeContentOriginSchema,
  VolumeContentOriginType,
  VolumeSchema,
  type ContentTree,
  type DatastoreConfig,
  type Volume,
} from './gen/config/storage_pb.ts';
import { VmBootMode, VmConfigSchema, VmMode } from './gen/config/vm_pb.ts';
import { PhyIoMemberUsage, PhyIoType } from './gen/evecommon/devmodelcommon_pb.ts';
import { DHCPType, ipRangeSchema, ipspecSchema, NetworkType, ZnetStaticDNSEntrySchema } from './gen/evecommon/netcmn_pb.ts';
import { configHashOf } from './config-store.ts';
import type {
  AclRecord,
  AppInterfaceRecord,
  AppRecord,
  ContentTreeRecord,
  DatastoreRecord,
  DevicePortRecord,
  DeviceRenderInput,
  NetworkInstanceRecord,
  PassthroughRecord,
  PortMapRecord,
  VolumeRecord,
} from './render-types.ts';

export interface RenderedConfig {
  config: EdgeDevConfig;
  /** Deterministic protobuf encoding of config. */
  bytes: Uint8Array;
  /** base64url SHA-256 of bytes: the configHash devices see (when controllerCertsHash is the device API's). */
  hash: string;
  /** Hash of everything except id.version: the caller bumps the version exactly when this changes. */
  contentHash: string;
}

/** The input breaks an invariant the mapping guarantees (a bug upstream, not a user error). */
export class RenderError extends Error {}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** RFC 4122 name-based UUID (version 5, SHA-1), lower-case canonical. */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  if (ns.length !== 16) throw new RenderError(`invalid namespace UUID ${namespace}`);
  const h = crypto.createHash('sha1').update(ns).update(name, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const byUuid = <T extends { uuid: string }>(a: T, b: T) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0);
const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function checkUuid(uuid: string, what: string): string {
  if (!UUID_RE.test(uuid)) throw new RenderError(`${what}: UUID must be lower-case canonical, got "${uuid}"`);
  return uuid;
}

export function renderDeviceConfig(input: DeviceRenderInput): RenderedConfig {
  const device = checkUuid(input.uuid, 'device');
  const datastores = new Set(input.datastores.map((d) => checkUuid(d.uuid, `datastore ${d.fqdn}`)));
  const trees = new Set<string>();
  for (const ct of input.contentTrees) {
    trees.add(checkUuid(ct.uuid, `content tree ${ct.displayName}`));
    if (!datastores.has(ct.datastoreUuid)) throw new RenderError(`content tree ${ct.uuid} names unknown datastore ${ct.datastoreUuid}`);
  }
  const volumes = new Map<string, VolumeRecord>();
  for (const v of input.volumes) {
    volumes.set(checkUuid(v.uuid, `volume ${v.displayName}`), v);
    if (v.origin.type === 'download' && !trees.has(v.origin.contentTreeUuid))
      throw new RenderError(`volume ${v.uuid} names unknown content tree ${v.origin.contentTreeUuid}`);
  }
  const nis = new Set(input.networkInstances.map((n) => checkUuid(n.uuid, `network instance ${n.displayName}`)));
  if (input.baseOs && !trees.has(input.baseOs.contentTreeUuid)) throw new RenderError(`base OS names unknown content tree ${input.baseOs.contentTreeUuid}`);
  for (const a of input.apps) {
    checkUuid(a.uuid, `app ${a.displayName}`);
    for (const i of a.interfaces)
      if (!nis.has(i.networkInstanceUuid)) throw new RenderError(`app ${a.uuid} names unknown network instance ${i.networkInstanceUuid}`);
    for (const v of a.volumes) if (!volumes.has(v.uuid)) throw new RenderError(`app ${a.uuid} names unknown volume ${v.uuid}`);
  }

  const ports = renderPorts(device, [...(input.ports ?? [])].sort(byName));
  const body = create(EdgeDevConfigSchema, {
    apps: [...input.apps].sort(byUuid).map((a) => renderApp(a, volumes)),
    networks: ports.networks,
    datastores: [...input.datastores].sort(byUuid).map(renderDatastore),
    // Always present: EVE stores the first counter it sees without acting, so 0 must come first.
    reboot: create(DeviceOpsCmdSchema, { counter: input.rebootCounter ?? 0 }),
    configItems: Object.keys(input.configItems ?? {})
      .sort(cmp)
      .map((key) => create(ConfigItemSchema, { key, value: input.configItems![key] })),
    systemAdapterList: ports.systemAdapters,
    deviceIoList: ports.physical,
    networkInstances: [...input.networkInstances].sort(byUuid).map(renderNetworkInstance),
    contentInfo: [...input.contentTrees].sort(byUuid).map(renderContentTree),
    volumes: [...input.volumes].sort(byUuid).map(renderVolume),
    controllercertConfighash: input.controllerCertsHash ?? '',
    maintenanceMode: input.maintenance ?? false,
    controllerEpoch: BigInt(input.epoch ?? 0),
    baseos: input.baseOs
      ? create(BaseOSSchema, {
          contentTreeUuid: input.baseOs.contentTreeUuid,
          baseOsVersion: input.baseOs.version,
          activate: input.baseOs.activate,
          retryUpdate: create(DeviceOpsCmdSchema, { counter: input.baseOs.retryCounter ?? 0 }),
        })
      : undefined,
    shutdown: create(DeviceOpsCmdSchema, { counter: input.shutdownCounter ?? 0 }),
    deviceName: input.deviceName ?? '',
    projectName: input.projectName ?? '',
  });
  // id (field 1) is written first by toBinary, so the full encoding is the id field followed by the body:
  // one serialization gives both the version-free content hash and the final bytes.
  const bodyBytes = toBinary(EdgeDevConfigSchema, body);
  const id = create(UUIDandVersionSchema, { uuid: device, version: String(input.version) });
  const idBytes = toBinary(UUIDandVersionSchema, id);
  const head = new BinaryWriter().tag(1, WireType.LengthDelimited).uint32(idBytes.length).finish();
  const bytes = new Uint8Array(head.length + idBytes.length + bodyBytes.length);
  bytes.set(head, 0);
  bytes.set(idBytes, head.length);
  bytes.set(bodyBytes, head.length + idBytes.length);
  body.id = id;
  return { config: body, bytes, hash: configHashOf(bytes), contentHash: configHashOf(bodyBytes) };
}

const FORMATS: Record<ContentTreeRecord['format'], Format> = {
  container: Format.CONTAINER,
  qcow2: Format.QCOW2,
  qcow: Format.QCOW,
  raw: Format.RAW,
  iso: Format.ISO,
  vhd: Format.VHD,
  vhdx: Format.VHDX,
  vmdk: Format.VMDK,
  ova: Format.OVA,
};

const DS_TYPES: Record<DatastoreRecord['type'], DsType> = {
  'container-registry': DsType.DsContainerRegistry,
  http: DsType.DsHttp,
  https: DsType.DsHttps,
  s3: DsType.DsS3,
};

function renderDatastore(d: DatastoreRecord): DatastoreConfig {
  return create(DatastoreConfigSchema, {
    id: d.uuid,
    dType: DS_TYPES[d.type],
    fqdn: d.fqdn,
    dpath: d.path ?? '',
    region: d.region ?? '',
    // Clear-text credentials (deprecated in favour of cipherData, still honoured by EVE): apiKey = user.
    apiKey: d.username ?? '',
    password: d.password ?? '',
    dsCertPEM: (d.caCertificates ?? []).map((pem) => Buffer.from(pem, 'utf8')),
  });
}

function renderContentTree(ct: ContentTreeRecord): ContentTree {
  return create(ContentTreeSchema, {
    uuid: ct.uuid,
    dsId: ct.datastoreUuid,
    URL: ct.url,
    iformat: FORMATS[ct.format],
    sha256: (ct.sha256 ?? '').toLowerCase(),
    maxSizeBytes: BigInt(ct.maxSizeBytes ?? 0),
    displayName: ct.displayName,
  });
}

function renderVolume(v: VolumeRecord): Volume {
  return create(VolumeSchema, {
    uuid: v.uuid,
    origin: create(
      VolumeContentOriginSchema,
      v.origin.type === 'blank'
        ? { type: VolumeContentOriginType.VCOT_BLANK }
        : { type: VolumeContentOriginType.VCOT_DOWNLOAD, downloadContentTreeID: v.origin.contentTreeUuid },
    ),
    generationCount: BigInt(v.generation ?? 0),
    maxsizebytes: BigInt(v.maxSizeBytes ?? 0),
    readonly: v.readonly ?? false,
    displayName: v.displayName,
  });
}

const VM_MODES = { hvm: VmMode.HVM, pv: VmMode.PV, fml: VmMode.FML, noHyper: VmMode.NOHYPER } as const;
const BOOT_MODES = { legacy: VmBootMode.LEGACY, uefi: VmBootMode.UEFI } as const;
const PASSTHROUGH: Record<PassthroughRecord['type'], PhyIoType> = {
  ethernet: PhyIoType.PhyIoNetEth,
  usb: PhyIoType.PhyIoUSB,
  com: PhyIoType.PhyIoCOM,
  audio: PhyIoType.PhyIoAudio,
  hdmi: PhyIoType.PhyIoHDMI,
  wlan: PhyIoType.PhyIoNetWLAN,
  wwan: PhyIoType.PhyIoNetWWAN,
  other: PhyIoType.PhyIoOther,
};

function renderApp(a: AppRecord, volumes: Map<string, VolumeRecord>): AppInstanceConfig {
  // Containers read KEY=value lines from user data; VMs get it as cloud-init. EVE base64-decodes it.
  const lines = a.type === 'container' ? (a.env ?? []).map((e) => `${e.name}=${e.value}`) : [];
  if (a.userData) lines.push(a.userData);
  return create(AppInstanceConfigSchema, {
    uuidandversion: create(UUIDandVersionSchema, { uuid: a.uuid, version: a.version }),
    displayname: a.displayName,
    fixedresources: create(VmConfigSchema, {
      memory: a.memoryKiB,
      maxmem: a.memoryKiB,
      vcpus: a.vcpus,
      virtualizationMode: VM_MODES[a.virtualization ?? 'hvm'],
      enableVnc: a.enableVnc ?? false,
      vncDisplay: a.enableVnc ? (a.vncDisplay ?? 0) : 0,
      pinCpu: a.pinCpu ?? false,
      bootMode: a.bootMode ? BOOT_MODES[a.bootMode] : VmBootMode.UNSPECIFIED,
    }),
    activate: a.activate,
    interfaces: a.interfaces.map(renderInterface),
    adapters: (a.adapters ?? []).map((p) => create(AdapterSchema, { type: PASSTHROUGH[p.type], name: p.name })),
    restart: a.restartCounter ? create(InstanceOpsCmdSchema, { counter: a.restartCounter }) : undefined,
    purge: a.purgeCounter ? create(InstanceOpsCmdSchema, { counter: a.purgeCounter }) : undefined,
    userData: lines.length ? Buffer.from(lines.join('\n'), 'utf8').toString('base64') : '',
    volumeRefList: a.volumes.map((v) =>
      create(VolumeRefSchema, { uuid: v.uuid, mountDir: v.mountDir ?? '', generationCount: BigInt(volumes.get(v.uuid)!.generation ?? 0) }),
    ),
    startDelayInSeconds: a.startDelaySeconds ?? 0,
  });
}

function renderInterface(i: AppInterfaceRecord) {
  return create(NetworkAdapterSchema, {
    name: i.name,
    networkId: i.networkInstanceUuid,
    addr: i.ip ?? '',
    macAddress: i.macAddress ?? '',
    accessVlanId: i.accessVlanId ?? 0,
    acls: renderAcls(i.acls, i.portMaps ?? []),
  });
}

const match = (type: string, value: string) => create(ACEMatchSchema, { type, value });

// EVE ends every ACL with an implicit deny: no rules means "allow all", rendered as an explicit ip match.
function renderAcls(rules: AclRecord[] | undefined, portMaps: PortMapRecord[]): ACE[] {
  const aces: ACE[] = [];
  for (const r of rules ?? [{ cidr: '0.0.0.0/0' }]) {
    const matches = [];
    if (r.cidr) matches.push(match('ip', r.cidr));
    if (r.host) matches.push(match('host', r.host));
    if (r.protocol) matches.push(match('protocol', r.protocol));
    if (r.port) matches.push(match('fport', String(r.port)));
    if (!matches.length) matches.push(match('ip', '0.0.0.0/0'));
    aces.push(create(ACESchema, { id: aces.length + 1, matches, actions: r.drop ? [create(ACEActionSchema, { drop: true })] : [] }));
  }
  for (const p of portMaps) {
    aces.push(
      create(ACESchema, {
        id: aces.length + 1,
        matches: [match('protocol', p.protocol), match('lport', String(p.port))],
        actions: [create(ACEActionSchema, { portmap: true, appPort: p.targetPort })],
      }),
    );
  }
  return aces;
}

function renderNetworkInstance(n: NetworkInstanceRecord): NetworkInstanceConfig {
  const local = n.type === 'local';
  let ipType = AddressType.First;
  let ip;
  if (local) {
    if (!n.subnet) throw new RenderError(`local network instance ${n.uuid} needs a subnet`);
    if (n.subnet.includes(':')) {
      ipType = AddressType.IPV6;
      ip = create(ipspecSchema, {
        subnet: n.subnet,
        gateway: n.gateway ?? '',
        dns: n.dnsServers ?? [],
        dhcpRange: n.dhcpRange && create(ipRangeSchema, n.dhcpRange),
      });
    } else {
      const plan = ipv4Plan(n.subnet, n.gateway, n.dhcpRange);
      if (typeof plan === 'string') throw new RenderError(`network instance ${n.uuid}: ${plan}`);
      ipType = AddressType.IPV4;
      ip = create(ipspecSchema, {
        subnet: plan.subnet,
        gateway: plan.gateway,
        dns: n.dnsServers?.length ? n.dnsServers : [plan.gateway],
        dhcpRange: create(ipRangeSchema, plan.dhcpRange),
      });
    }
  }
  return create(NetworkInstanceConfigSchema, {
    uuidandversion: create(UUIDandVersionSchema, { uuid: n.uuid, version: n.version }),
    displayname: n.displayName,
    instType: local ? ZNetworkInstType.ZnetInstLocal : ZNetworkInstType.ZnetInstSwitch,
    activate: true,
    port: n.port ? create(AdapterSchema, { type: PhyIoType.PhyIoNetEth, name: n.port }) : undefined,
    // A switch instance must use ipType 0 (EVE forces it); only local ones get an address plan.
    ipType,
    ip,
    dns: [...(n.staticDns ?? [])]
      .sort((a, b) => cmp(a.hostname, b.hostname))
      .map((d) => create(ZnetStaticDNSEntrySchema, { HostName: d.hostname, Address: d.addresses })),
    staticRoutes: local ? (n.staticRoutes ?? []).map((r) => create(IPRouteSchema, { destinationNetwork: r.destination, gateway: r.gateway })) : [],
    mtu: n.mtu ?? 0,
  });
}

const ip4 = (s: string): number | undefined => {
  const p = s.split('.');
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return undefined;
  return p.reduce((n, x) => n * 256 + Number(x), 0);
};
const ip4s = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export interface Ipv4Plan {
  subnet: string;
  gateway: string;
  dhcpRange: { start: string; end: string };
}

/**
 * The address plan of a local IPv4 network instance: gateway (default the first host) and DHCP range
 * (default every other host address), checked the way EVE needs them (gateway inside the subnet, outside
 * the range). Returns an error message when the plan is unusable.
 */
export function ipv4Plan(subnet: string, gateway?: string, range?: { start: string; end: string }): Ipv4Plan | string {
  const [addr, bitsText] = subnet.split('/');
  const base = ip4(addr ?? '');
  const bits = Number(bitsText);
  if (base === undefined || !/^\d+$/.test(bitsText ?? '') || bits > 32) return `subnet ${subnet} is not an IPv4 CIDR`;
  if (bits > 29) return `subnet ${subnet} is too small for a gateway and DHCP addresses (at most /29)`;
  const size = 2 ** (32 - bits);
  const network = base - (base % size);
  const first = network + 1;
  const last = network + size - 2;
  const inside = (n: number) => n >= first && n <= last;
  const gw = gateway === undefined ? first : ip4(gateway);
  if (gw === undefined || !inside(gw)) return `gateway ${gateway} is not a host address of ${subnet}`;
  let start: number;
  let end: number;
  if (range) {
    const s = ip4(range.start);
    const e = ip4(range.end);
    if (s === undefined || e === undefined || !inside(s) || !inside(e) || s > e)
      return `DHCP range ${range.start}-${range.end} is not an address range inside ${subnet}`;
    if (gw >= s && gw <= e) return `gateway ${ip4s(gw)} lies inside the DHCP range ${range.start}-${range.end}`;
    [start, end] = [s, e];
  } else {
    // The larger side of the subnet around the gateway.
    [start, end] = gw - first >= last - gw ? [first, gw - 1] : [gw + 1, last];
  }
  return { subnet: `${ip4s(network)}/${bits}`, gateway: ip4s(gw), dhcpRange: { start: ip4s(start), end: ip4s(end) } };
}

const USAGE: Record<DevicePortRecord['usage'], PhyIoMemberUsage> = {
  management: PhyIoMemberUsage.PhyIoUsageMgmtAndApps,
  app: PhyIoMemberUsage.PhyIoUsageShared,
  passthrough: PhyIoMemberUsage.PhyIoUsageDedicated,
};

// Device ports as EVE's three linked lists: PhysicalIO → SystemAdapter (L3 port) → NetworkConfig (addressing).
// Passthrough ports have no SystemAdapter: they stay free for assignment to an app.
function renderPorts(device: string, ports: DevicePortRecord[]): { physical: PhysicalIO[]; systemAdapters: SystemAdapter[]; networks: NetworkConfig[] } {
  const physical: PhysicalIO[] = [];
  const systemAdapters: SystemAdapter[] = [];
  const networks: NetworkConfig[] = [];
  for (const p of ports) {
    physical.push(
      create(PhysicalIOSchema, {
        ptype: PhyIoType.PhyIoNetEth,
        phylabel: p.name,
        phyaddrs: { Ifname: p.ifname ?? p.name },
        logicallabel: p.name,
        assigngrp: p.name,
        usage: USAGE[p.usage],
      }),
    );
    if (p.usage === 'passthrough') continue;
    const id = uuidV5(`port/${p.name}`, device);
    const s = p.static;
    const [address, bits] = s ? s.address.split('/') : [];
    let subnet = '';
    if (s) {
      const n = ip4(address ?? '');
      if (n === undefined || bits === undefined) throw new RenderError(`port ${p.name}: static address ${s.address} is not an IPv4 CIDR`);
      const size = 2 ** (32 - Number(bits));
      subnet = `${ip4s(n - (n % size))}/${bits}`;
    }
    networks.push(
      create(NetworkConfigSchema, {
        id,
        type: NetworkType.V4,
        ip: s
          ? create(ipspecSchema, { dhcp: DHCPType.Static, subnet, gateway: s.gateway ?? '', dns: s.dns ?? [] })
          : create(ipspecSchema, { dhcp: DHCPType.Client }),
      }),
    );
    systemAdapters.push(
      create(SystemAdapterSchema, { name: p.name, uplink: p.usage === 'management', networkUUID: id, addr: address ?? '', cost: p.cost ?? 0 }),
    );
  }
  networks.sort((a, b) => cmp(a.id, b.id));
  return { physical, systemAdapters, networks };
}
