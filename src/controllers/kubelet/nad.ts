// NetworkAttachmentDefinition → EVE network instance (reference/kubelet-pods-multus.md §C.1, §F.2).
// Pure: reads the CNI JSON of spec.config and says which NetworkInstance spec it stands for, plus what
// each interface attached to it carries (access VLAN, the static IPAM address), or why EVE cannot do it.
//
// Rules (docs/support-matrix.md, "Extra networks"):
// - type bridge / macvlan / ipvlan: a local (NAT) instance when IPAM hands out addresses from a subnet
//   (host-local, or static with a CIDR address), a switch instance when IPAM is dhcp or absent;
// - type vlan, or a `vlan` / `vlanId` field on any of them: a switch instance, the VLAN as the app
//   interface's access VLAN;
// - type host-device: a switch instance on the port named by `device`;
// - uplink: the annotation kubeve.io/uplink (a device port name or a shared label: uplink, freeuplink,
//   all), else the CNI `master` / `device` field, else "uplink" (any management port);
// - kubeve.io/network-instance-type: local|switch overrides the type rule above.
// A conflist (`plugins: [...]`) is read from its first plugin (the ones after it are meta plugins).

import type { KObject } from '../../apiserver/resource.ts';
import { ipv4Plan } from '../../eve/render.ts';
import type { GVR } from '../runtime/index.ts';

export const NADS: GVR = { group: 'k8s.cni.cncf.io', version: 'v1', resource: 'network-attachment-definitions' };
export const UPLINK_ANNOTATION = 'kubeve.io/uplink';
export const NI_TYPE_ANNOTATION = 'kubeve.io/network-instance-type';
/** Label on the NetworkInstances made for a NAD: `<nad namespace>.<nad name>`. */
export const NAD_LABEL = 'kubeve.io/network-attachment-definition';

export const SUPPORTED_CNI_TYPES = ['bridge', 'macvlan', 'ipvlan', 'vlan', 'host-device'] as const;

/** What a NAD becomes on EVE. */
export interface NadNetwork {
  /** The NetworkInstance spec (same for every device). */
  spec: KObject;
  /** Access VLAN of each interface attached to it. */
  vlanId?: number;
  /** The address static IPAM gives every attached interface (a pod's `ips` wins). */
  staticIp?: string;
}

/** Why a NAD cannot be used: reason (CamelCase) and a message naming the offending part. */
export interface NadProblem {
  reason: 'UnsupportedCNIType' | 'UnsupportedIPAM' | 'InvalidConfig';
  message: string;
}

/** The NetworkInstance name (in the pod's namespace) for NAD ns/name: NAD names are DNS labels, so it is unique. */
export const nadNetworkName = (nadNamespace: string, nadName: string) => `nad.${nadNamespace}.${nadName}`;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const isIp4 = (s: string) => /^(\d{1,3})(\.\d{1,3}){3}$/.test(s) && s.split('.').every((x) => Number(x) <= 255);
const isCidr4 = (s: string) => /^[^/]+\/\d{1,2}$/.test(s) && isIp4(s.split('/')[0]!) && Number(s.split('/')[1]) <= 32;

/** The network of a host address in CIDR form ("10.1.2.3/24" → "10.1.2.0/24"). */
function networkOf(cidr: string): string {
  const [ip, bits] = cidr.split('/') as [string, string];
  const n = ip.split('.').reduce((a, x) => a * 256 + Number(x), 0);
  const size = 2 ** (32 - Number(bits));
  const base = n - (n % size);
  return `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.')}/${bits}`;
}

/** The CNI config of a NAD as EVE sees it, or the problem with it. */
export function nadNetwork(nad: KObject): NadNetwork | NadProblem {
  const name = `NetworkAttachmentDefinition ${nad.metadata?.namespace}/${nad.metadata?.name}`;
  const raw = nad.spec?.config;
  if (typeof raw !== 'string' || raw.trim() === '')
    return { reason: 'InvalidConfig', message: `${name}: spec.config is empty (kubeve reads no CNI config files from disk)` };
  let conf: KObject;
  try {
    conf = JSON.parse(raw);
  } catch (e) {
    return { reason: 'InvalidConfig', message: `${name}: spec.config is not JSON: ${(e as Error).message}` };
  }
  if (!conf || typeof conf !== 'object' || Array.isArray(conf)) return { reason: 'InvalidConfig', message: `${name}: spec.config must be a JSON object` };
  if (Array.isArray(conf.plugins)) conf = conf.plugins[0] ?? {};
  const type = str(conf.type);
  if (!type) return { reason: 'InvalidConfig', message: `${name}: spec.config has no CNI "type"` };
  if (!(SUPPORTED_CNI_TYPES as readonly string[]).includes(type)) {
    return {
      reason: 'UnsupportedCNIType',
      message: `${name}: CNI type "${type}" is not supported on EVE nodes (supported: ${SUPPORTED_CNI_TYPES.join(', ')})`,
    };
  }
  const ann: Record<string, string> = nad.metadata?.annotations ?? {};

  const vlanRaw = type === 'vlan' ? (conf.vlanId ?? conf.vlan) : (conf.vlan ?? conf.vlanId);
  let vlanId: number | undefined;
  if (vlanRaw !== undefined) {
    if (!Number.isInteger(vlanRaw) || vlanRaw < 1 || vlanRaw > 4094)
      return { reason: 'InvalidConfig', message: `${name}: VLAN ${JSON.stringify(vlanRaw)} is not an integer in 1-4094` };
    vlanId = vlanRaw;
  } else if (type === 'vlan') return { reason: 'InvalidConfig', message: `${name}: CNI type "vlan" needs "vlanId"` };
  if (type === 'host-device' && !str(ann[UPLINK_ANNOTATION]) && !str(conf.device)) {
    return { reason: 'InvalidConfig', message: `${name}: CNI type "host-device" needs "device" (the device port) or the ${UPLINK_ANNOTATION} annotation` };
  }

  // IPAM → addressing of a local instance (or the interfaces' static address).
  const ipam: KObject = conf.ipam && typeof conf.ipam === 'object' ? conf.ipam : {};
  const ipamType = str(ipam.type);
  const local: KObject = {};
  let staticIp: string | undefined;
  const routes: KObject[] = [];
  const dns: string[] = [...(conf.dns?.nameservers ?? []), ...(ipam.dns?.nameservers ?? [])].map(String);
  for (const r of ipam.routes ?? []) {
    if (str(r?.dst) === '0.0.0.0/0') continue; // the default route is the instance's own gateway
    if (!str(r?.dst) || !isCidr4(r.dst) || !str(r?.gw) || !isIp4(r.gw))
      return { reason: 'InvalidConfig', message: `${name}: IPAM route ${JSON.stringify(r)} needs an IPv4 "dst" CIDR and "gw" (EVE routes through a next hop)` };
    routes.push({ destination: r.dst, gateway: r.gw });
  }
  if (ipamType === 'host-local') {
    const range: KObject = Array.isArray(ipam.ranges) ? (ipam.ranges[0]?.[0] ?? {}) : ipam;
    const subnet = str(range.subnet);
    if (!subnet || !isCidr4(subnet)) return { reason: 'InvalidConfig', message: `${name}: host-local IPAM needs an IPv4 "subnet" (in "ranges" or at the top)` };
    local.subnet = networkOf(subnet);
    if (str(range.gateway)) local.gateway = range.gateway;
    if (str(range.rangeStart) || str(range.rangeEnd)) {
      local.dhcpRange = { start: range.rangeStart ?? '', end: range.rangeEnd ?? '' };
      if (!local.dhcpRange.start || !local.dhcpRange.end)
        return { reason: 'InvalidConfig', message: `${name}: host-local IPAM range needs both rangeStart and rangeEnd on EVE` };
    }
  } else if (ipamType === 'static') {
    const a = (ipam.addresses ?? [])[0];
    if (a !== undefined) {
      if (!str(a?.address) || !isCidr4(a.address))
        return { reason: 'InvalidConfig', message: `${name}: static IPAM address ${JSON.stringify(a?.address)} is not an IPv4 CIDR` };
      local.subnet = networkOf(a.address);
      if (str(a.gateway)) local.gateway = a.gateway;
      staticIp = a.address.split('/')[0];
    }
  } else if (ipamType !== undefined && ipamType !== 'dhcp') {
    return { reason: 'UnsupportedIPAM', message: `${name}: IPAM type "${ipamType}" is not supported on EVE nodes (supported: static, host-local, dhcp)` };
  }

  const wanted = str(ann[NI_TYPE_ANNOTATION]);
  if (wanted !== undefined && wanted !== 'local' && wanted !== 'switch')
    return { reason: 'InvalidConfig', message: `${name}: annotation ${NI_TYPE_ANNOTATION} must be local or switch, not "${wanted}"` };
  const niType = wanted ?? (type === 'vlan' || type === 'host-device' || vlanId !== undefined || !local.subnet ? 'switch' : 'local');
  if (niType === 'local' && !local.subnet)
    return { reason: 'InvalidConfig', message: `${name}: a local network instance needs a subnet from host-local or static IPAM` };
  if (niType === 'local' && vlanId !== undefined) return { reason: 'InvalidConfig', message: `${name}: a VLAN needs a switch network instance, not local` };

  const uplink = str(ann[UPLINK_ANNOTATION]) ?? str(type === 'host-device' ? conf.device : conf.master) ?? 'uplink';
  const spec: KObject = { type: niType, uplink };
  if (niType === 'local') {
    Object.assign(spec, local);
    const plan = ipv4Plan(local.subnet, local.gateway, local.dhcpRange);
    if (typeof plan === 'string') return { reason: 'InvalidConfig', message: `${name}: ${plan}` };
    if (dns.length) spec.dns = dns;
    if (routes.length) spec.staticRoutes = routes;
  }
  if (Number.isInteger(conf.mtu) && conf.mtu >= 576 && conf.mtu <= 9000) spec.mtu = conf.mtu;
  return { spec, ...(vlanId !== undefined ? { vlanId } : {}), ...(staticIp ? { staticIp } : {}) };
}

export const isNadProblem = (x: NadNetwork | NadProblem): x is NadProblem => 'reason' in x;
