// Input of the L0 render (src/eve/render.ts): the desired state of ONE device as plain EVE-level records.
// Nothing here knows Kubernetes; the mapping from custom resources lives in src/controllers/eve/mapping.ts.
// Every UUID is lower-case canonical and already final (derivation rules are the mapping's job).
// Lists may come in any order: the render sorts whatever has no inherent order.

/** Container image (OCI) or one of the VM disk image formats EVE downloads. */
export type ImageFormat = 'container' | 'qcow2' | 'qcow' | 'raw' | 'iso' | 'vhd' | 'vhdx' | 'vmdk' | 'ova';

export type DatastoreType = 'container-registry' | 'http' | 'https' | 's3';

export interface DatastoreRecord {
  uuid: string;
  type: DatastoreType;
  /** e.g. "docker://docker.io", "https://images.example.com", "s3.amazonaws.com". */
  fqdn: string;
  /** Path prefix (HTTP directory, S3 bucket); content tree URLs are relative to it. */
  path?: string;
  /** S3 region. */
  region?: string;
  /** Registry user / S3 access key id. */
  username?: string;
  /** Registry password or token / S3 secret key. */
  password?: string;
  /** Extra CA certificates (PEM) the device trusts for this datastore. */
  caCertificates?: string[];
}

export interface ContentTreeRecord {
  uuid: string;
  datastoreUuid: string;
  /** Relative to the datastore's path, e.g. "library/nginx:1.27" or "images/ubuntu.qcow2". */
  url: string;
  format: ImageFormat;
  /** Lower-case hex SHA-256 when known (containers may leave it empty: the tag is resolved). */
  sha256?: string;
  displayName: string;
  maxSizeBytes?: number;
}

export interface VolumeRecord {
  uuid: string;
  displayName: string;
  /** Blank (empty disk of maxSizeBytes) or created from a content tree in this input. */
  origin: { type: 'blank' } | { type: 'download'; contentTreeUuid: string };
  maxSizeBytes?: number;
  readonly?: boolean;
  /** Increment to re-create the volume from its origin. */
  generation?: number;
}

/** One ACL entry of an app interface; all set matches must hold. */
export interface AclRecord {
  /** Remote address in CIDR form ("0.0.0.0/0" = anywhere). */
  cidr?: string;
  /** Remote host name. */
  host?: string;
  protocol?: 'tcp' | 'udp' | 'icmp';
  /** Remote port (fport). */
  port?: number;
  /** Drop instead of allow. */
  drop?: boolean;
}

export interface PortMapRecord {
  protocol: 'tcp' | 'udp';
  /** Port on the device's uplink. */
  port: number;
  /** Port inside the app. */
  targetPort: number;
}

export interface AppInterfaceRecord {
  /** Guest NIC name, e.g. "eth0". */
  name: string;
  networkInstanceUuid: string;
  /** Static IPv4 address inside the network instance's subnet. */
  ip?: string;
  macAddress?: string;
  /** Access VLAN of the interface on a switch network instance (NetworkAdapter.access_vlan_id). */
  accessVlanId?: number;
  /** Allowed traffic. Undefined = allow everything (EVE denies anything not matched). */
  acls?: AclRecord[];
  portMaps?: PortMapRecord[];
}

export interface AppVolumeRecord {
  uuid: string;
  /** Mount point inside a container ("" for a VM disk). */
  mountDir?: string;
}

export interface PassthroughRecord {
  type: 'ethernet' | 'usb' | 'com' | 'audio' | 'hdmi' | 'wlan' | 'wwan' | 'other';
  /** PhysicalIO assignment group (assigngrp) of the adapter on the device. */
  name: string;
}

export interface AppRecord {
  uuid: string;
  /** Changes whenever the app's desired state changes (EVE restarts a running app on a version change). */
  version: string;
  displayName: string;
  type: 'container' | 'vm';
  activate: boolean;
  vcpus: number;
  memoryKiB: number;
  /** VM firmware; containers ignore it. */
  bootMode?: 'legacy' | 'uefi';
  /** Hypervisor mode; default HVM (what Eden uses on amd64 for both kinds). FML: full machine (UEFI guests). */
  virtualization?: 'hvm' | 'pv' | 'fml' | 'noHyper';
  enableVnc?: boolean;
  /** VNC display number (port 5900 + n on the device). */
  vncDisplay?: number;
  /** Pin the app's vCPUs to dedicated physical CPUs (VmConfig.pin_cpu). */
  pinCpu?: boolean;
  /** Ordered: guest NIC order. */
  interfaces: AppInterfaceRecord[];
  /** Ordered: the first is the root disk / container rootfs. */
  volumes: AppVolumeRecord[];
  adapters?: PassthroughRecord[];
  /** Container environment, rendered as KEY=value lines into userData. */
  env?: { name: string; value: string }[];
  /** Plain text cloud-init (VM) or extra env lines (container); the render base64-encodes it. */
  userData?: string;
  restartCounter?: number;
  purgeCounter?: number;
  startDelaySeconds?: number;
}

export interface NetworkInstanceRecord {
  uuid: string;
  version: string;
  displayName: string;
  type: 'local' | 'switch';
  /** Uplink port logical label or shared label ("uplink", "freeuplink", "all"); empty = air-gapped. */
  port?: string;
  /** Local only: IPv4 subnet in CIDR form; gateway, DHCP range and DNS are derived when omitted. */
  subnet?: string;
  gateway?: string;
  dhcpRange?: { start: string; end: string };
  /** DNS servers handed to apps (default: the gateway). */
  dnsServers?: string[];
  /** Static host entries served by the instance's DNS. */
  staticDns?: { hostname: string; addresses: string[] }[];
  /** Routes the instance propagates to its apps (local only). */
  staticRoutes?: { destination: string; gateway: string }[];
  mtu?: number;
}

export interface DevicePortRecord {
  /** Logical label, e.g. "eth0" (what network instances name as their port). */
  name: string;
  /** Kernel interface name; defaults to name. */
  ifname?: string;
  /** management = controller traffic and apps; app = apps only (switch NIs); passthrough = assignable to one app. */
  usage: 'management' | 'app' | 'passthrough';
  /** DHCP client (default) or a static address. */
  static?: { address: string; gateway?: string; dns?: string[] };
  cost?: number;
}

export interface BaseOsRecord {
  version: string;
  contentTreeUuid: string;
  activate: boolean;
  /** Increment to retry a failed update. */
  retryCounter?: number;
}

export interface DeviceRenderInput {
  /** Device UUID (EdgeDevConfig.id.uuid). */
  uuid: string;
  /** Config version counter (EdgeDevConfig.id.version); the caller bumps it when contentHash changes. */
  version: number;
  /** controller_epoch: a change makes EVE resend all info. */
  epoch?: number;
  deviceName?: string;
  projectName?: string;
  /** The device API's /certs hash (controllercert_confighash), so the rendered hash equals the served one. */
  controllerCertsHash?: string;
  /** Device reboot / shutdown counters; a change after the first value EVE saw triggers the operation. */
  rebootCounter?: number;
  shutdownCounter?: number;
  maintenance?: boolean;
  configItems?: Record<string, string>;
  /** Empty = leave the device's current port configuration alone. */
  ports?: DevicePortRecord[];
  baseOs?: BaseOsRecord;
  apps: AppRecord[];
  networkInstances: NetworkInstanceRecord[];
  volumes: VolumeRecord[];
  contentTrees: ContentTreeRecord[];
  datastores: DatastoreRecord[];
}
