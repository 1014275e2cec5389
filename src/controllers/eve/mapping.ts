// Custom resources → L0 render input for one device. This is where Kubernetes meets EVE: object
// references are resolved, UUIDs derived (DESIGN §5), quantities converted, credentials read from
// Secrets. An app whose references cannot be resolved is left out of the config and reported as a
// problem; nothing is rendered half-way.
//
// UUIDs (lower-case canonical): AppInstance = metadata.uid; DataStore = metadata.uid; everything placed
// on a device from a namespaced template is v5(name, namespace=template uid) with the device UUID in the
// name: NetworkInstance copy = v5(device), blank Volume copy = v5(device), image-backed Volume copy and
// content trees also name their source (so a new image is a new object on the device, as EVE expects).

import type { KObject } from '../../apiserver/resource.ts';
import { parseQuantity } from '../../api/builtin/quantity.ts';
import { ipv4Plan, uuidV5 } from '../../eve/render.ts';
import type {
  AppInterfaceRecord,
  AppRecord,
  AppVolumeRecord,
  BaseOsRecord,
  ContentTreeRecord,
  DatastoreRecord,
  DevicePortRecord,
  DeviceRenderInput,
  ImageFormat,
  NetworkInstanceRecord,
  VolumeRecord,
} from '../../eve/render-types.ts';

export type RefKind = 'EdgeNode' | 'AppInstance' | 'NetworkInstance' | 'Volume' | 'DataStore' | 'Secret';

export interface ObjectRef {
  kind: RefKind;
  namespace?: string;
  name: string;
}

export interface MappingProblem {
  /** The object left out of (or degraded in) the config: an AppInstance, or the EdgeNode itself. */
  object: ObjectRef;
  /** CamelCase, fit for a condition reason. */
  reason: string;
  message: string;
  /** The referenced object that is missing or unusable, when there is one. */
  ref?: ObjectRef;
}

/** What a UUID in the device's config (and so in its info messages) stands for. */
export type UuidOwner =
  | { kind: 'app'; ns: string; name: string; node: string }
  | { kind: 'networkinstance'; ns: string; name: string; node: string }
  /** A Volume's copy on the device; `mounts`: the apps (same namespace) that mount it, by their volume name. */
  | { kind: 'volume'; ns: string; name: string; node: string; mounts: { app: string; volume: string }[] }
  | { kind: 'appvolume'; ns: string; name: string; node: string; volume: string };

export type SourceKind = 'NetworkInstance' | 'Volume' | 'DataStore' | 'Secret';

/** Reads the objects a device's resources reference (from a cache, or through a client). */
export interface ObjectLookup {
  get(kind: SourceKind, namespace: string, name: string): KObject | undefined | Promise<KObject | undefined>;
}

export interface DeviceMappingInput {
  node: KObject;
  /** The device UUID (EdgeNode status.uuid once registered). */
  deviceUuid: string;
  /** AppInstances whose spec.nodeName is this node (any order). */
  apps: KObject[];
  lookup: ObjectLookup;
  /** Config version counter (EdgeDevConfig.id.version); default 0, usually set at render time. */
  version?: number;
  epoch?: number;
  controllerCertsHash?: string;
}

export interface DeviceMapping {
  input: DeviceRenderInput;
  problems: MappingProblem[];
  /** Every object the config depends on, found or missing: a change to any of them calls for a re-render. */
  refs: ObjectRef[];
  /** AppInstances in the config. */
  apps: { namespace: string; name: string; uid: string }[];
  /** UUID in the config → the object it stands for. */
  owners: Map<string, UuidOwner>;
}

const MIN_MEMORY_BYTES = 16 * 1024 * 1024;
const DOCKER_HUB = 'docker.io';

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);
const uid = (o: KObject): string => String(o.metadata?.uid ?? '').toLowerCase();

/** The EVE app UUID of an AppInstance: its uid, or, for one a Pod controls (kubelet bridge), the Pod's uid. */
export function appUuid(app: KObject): string {
  const pod = (app.metadata?.ownerReferences ?? []).find((r: KObject) => r.controller && r.kind === 'Pod' && r.apiVersion === 'v1');
  return pod && app.metadata?.annotations?.['kubeve.io/pod-uid'] === pod.uid ? String(pod.uid).toLowerCase() : uid(app);
}
const refKey = (r: ObjectRef) => `${r.kind}/${r.namespace ?? ''}/${r.name}`;

/** Bytes of a quantity (rounded up to whole bytes), or undefined when it is not a valid non-negative quantity. */
export function quantityBytes(v: unknown): number | undefined {
  const q = parseQuantity(v);
  if (!q || q.mantissa < 0n) return undefined;
  const bytes = q.exp >= 0 ? q.mantissa * 10n ** BigInt(q.exp) : (q.mantissa + 10n ** BigInt(-q.exp) - 1n) / 10n ** BigInt(-q.exp);
  return bytes > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(bytes);
}

/** Splits a container reference without a datastore into its registry host and the path EVE asks that registry for. */
export function splitImageRef(image: string): { registry: string; path: string } {
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  const hasHost = first.includes('.') || first.includes(':') || first === 'localhost';
  const registry = hasHost ? first : DOCKER_HUB;
  let path = hasHost ? image.slice(slash + 1) : image;
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  const name = path.split('@')[0]!;
  if (!path.includes('@') && !name.slice(name.lastIndexOf('/') + 1).includes(':')) path += ':latest';
  return { registry, path };
}

class Mapper {
  readonly problems: MappingProblem[] = [];
  readonly owners = new Map<string, UuidOwner>();
  private readonly refs = new Map<string, ObjectRef>();
  private readonly datastores = new Map<string, DatastoreRecord>();
  private readonly trees = new Map<string, ContentTreeRecord>();
  private readonly volumes = new Map<string, VolumeRecord>();
  private readonly nis = new Map<string, NetworkInstanceRecord>();

  constructor(
    private readonly lookup: ObjectLookup,
    private readonly device: string,
    private readonly nodeName: string,
  ) {}

  /** Resolves a reference, remembering it as a dependency. */
  private async get(kind: SourceKind, namespace: string, name: string): Promise<KObject | undefined> {
    const ref = { kind, namespace, name };
    this.refs.set(refKey(ref), ref);
    const o = await this.lookup.get(kind, namespace, name);
    return o && !o.metadata?.deletionTimestamp ? o : undefined;
  }

  dependencies(): ObjectRef[] {
    return [...this.refs.values()].sort((a, b) => (refKey(a) < refKey(b) ? -1 : 1));
  }

  /**
   * The records one object contributes, staged: nothing is committed unless every reference resolves.
   * `fail` records the problem and returns undefined so callers can bail out in one expression.
   */
  stage(object: ObjectRef) {
    const staged = {
      datastores: new Map<string, DatastoreRecord>(),
      trees: new Map<string, ContentTreeRecord>(),
      volumes: new Map<string, VolumeRecord>(),
      nis: new Map<string, NetworkInstanceRecord>(),
      owners: new Map<string, UuidOwner>(),
    };
    const fail = (reason: string, message: string, ref?: ObjectRef): undefined => {
      this.problems.push({ object, reason, message, ...(ref ? { ref } : {}) });
      return undefined;
    };
    const commit = () => {
      for (const [k, v] of staged.datastores) this.datastores.set(k, v);
      for (const [k, v] of staged.trees) this.trees.set(k, v);
      for (const [k, v] of staged.volumes) this.volumes.set(k, v);
      for (const [k, v] of staged.nis) this.nis.set(k, v);
      for (const [k, v] of staged.owners) {
        // A Volume copy shared by several apps on the device lists all of them.
        const prev = this.owners.get(k);
        this.owners.set(k, prev?.kind === 'volume' && v.kind === 'volume' ? { ...v, mounts: [...prev.mounts, ...v.mounts] } : v);
      }
    };
    return { staged, fail, commit };
  }

  /** The datastore for an image: the referenced DataStore, or an anonymous registry named by a container reference. */
  async datastore(
    s: ReturnType<Mapper['stage']>,
    namespace: string,
    dsName: string | undefined,
    image: string,
    container: boolean,
  ): Promise<{ uuid: string; url: string; registry: boolean } | undefined> {
    if (!dsName) {
      // A VM disk may come as an OCI artifact from a registry, written with the oci:// scheme.
      const oci = /^oci:\/\//.test(image);
      if (!container && !oci)
        return s.fail('DataStoreRequired', `image ${image} needs a datastoreRef (only container images and oci:// disk references can name their registry)`);
      const { registry, path } = splitImageRef(oci ? image.slice('oci://'.length) : image);
      const uuid = uuidV5(`registry/${registry}`, this.device);
      s.staged.datastores.set(uuid, { uuid, type: 'container-registry', fqdn: `docker://${registry}` });
      return { uuid, url: path, registry: true };
    }
    const ref: ObjectRef = { kind: 'DataStore', namespace, name: dsName };
    const ds = await this.get('DataStore', namespace, dsName);
    if (!ds) return s.fail('DataStoreNotFound', `DataStore ${namespace}/${dsName} not found`, ref);
    const spec = ds.spec ?? {};
    const rec: DatastoreRecord = { uuid: uid(ds), type: spec.type, fqdn: String(spec.url ?? '') };
    if (str(spec.path)) rec.path = spec.path;
    if (str(spec.region)) rec.region = spec.region;
    if (Array.isArray(spec.caCertificates) && spec.caCertificates.length) rec.caCertificates = spec.caCertificates.map(String);
    const cred = spec.credentialsSecretRef;
    if (cred?.name) {
      const secretRef: ObjectRef = { kind: 'Secret', namespace, name: cred.name };
      const secret = await this.get('Secret', namespace, cred.name);
      if (!secret) return s.fail('SecretNotFound', `Secret ${namespace}/${cred.name} of DataStore ${namespace}/${dsName} not found`, secretRef);
      const read = (key: string) => (typeof secret.data?.[key] === 'string' ? Buffer.from(secret.data[key], 'base64').toString('utf8') : undefined);
      const userKey = cred.usernameKey ?? 'username';
      const passKey = cred.passwordKey ?? 'password';
      const username = read(userKey);
      const password = read(passKey);
      const absent = [username === undefined && userKey, password === undefined && passKey].filter(Boolean);
      if (absent.length)
        return s.fail(
          'SecretKeyNotFound',
          `Secret ${namespace}/${cred.name} of DataStore ${namespace}/${dsName} has no key ${absent.map((k) => `"${k}"`).join(' or ')}`,
          secretRef,
        );
      rec.username = username;
      rec.password = password;
    }
    s.staged.datastores.set(rec.uuid, rec);
    return { uuid: rec.uuid, url: image, registry: spec.type === 'container-registry' };
  }

  contentTree(
    s: ReturnType<Mapper['stage']>,
    namespaceUid: string,
    ds: { uuid: string; url: string },
    format: ImageFormat,
    sha: string | undefined,
    displayName: string,
  ): string {
    const uuid = uuidV5(`${this.device}/image/${ds.uuid}/${ds.url}/${sha ?? ''}`, namespaceUid);
    s.staged.trees.set(uuid, { uuid, datastoreUuid: ds.uuid, url: ds.url, format, displayName, ...(sha ? { sha256: sha } : {}) });
    return uuid;
  }

  async networkInstance(s: ReturnType<Mapper['stage']>, namespace: string, name: string): Promise<string | undefined> {
    const ref: ObjectRef = { kind: 'NetworkInstance', namespace, name };
    const ni = await this.get('NetworkInstance', namespace, name);
    if (!ni) return s.fail('NetworkInstanceNotFound', `NetworkInstance ${namespace}/${name} not found`, ref);
    const spec = ni.spec ?? {};
    const type = spec.type === 'switch' ? 'switch' : 'local';
    const rec: NetworkInstanceRecord = { uuid: uuidV5(this.device, uid(ni)), version: String(ni.metadata?.generation ?? 1), displayName: name, type };
    const port = spec.uplink ?? 'uplink';
    if (port) rec.port = port;
    if (type === 'local') {
      if (!str(spec.subnet)) return s.fail('InvalidNetworkInstance', `NetworkInstance ${namespace}/${name}: a local network instance needs spec.subnet`, ref);
      if (!spec.subnet.includes(':')) {
        const plan = ipv4Plan(spec.subnet, str(spec.gateway), spec.dhcpRange);
        if (typeof plan === 'string') return s.fail('InvalidNetworkInstance', `NetworkInstance ${namespace}/${name}: ${plan}`, ref);
      }
      rec.subnet = spec.subnet;
      if (str(spec.gateway)) rec.gateway = spec.gateway;
      if (spec.dhcpRange) rec.dhcpRange = { start: spec.dhcpRange.start, end: spec.dhcpRange.end };
      if (Array.isArray(spec.dns) && spec.dns.length) rec.dnsServers = spec.dns.map(String);
    }
    if (type === 'local' && Array.isArray(spec.staticRoutes) && spec.staticRoutes.length)
      rec.staticRoutes = spec.staticRoutes.map((r: KObject) => ({ destination: String(r.destination), gateway: String(r.gateway) }));
    if (Array.isArray(spec.staticDNS) && spec.staticDNS.length)
      rec.staticDns = spec.staticDNS.map((d: KObject) => ({ hostname: String(d.hostname), addresses: (d.addresses ?? []).map(String) }));
    if (int(spec.mtu)) rec.mtu = spec.mtu;
    s.staged.nis.set(rec.uuid, rec);
    s.staged.owners.set(rec.uuid, { kind: 'networkinstance', ns: namespace, name, node: this.nodeName });
    return rec.uuid;
  }

  /** A Volume template's copy on this device. */
  async volume(s: ReturnType<Mapper['stage']>, namespace: string, name: string): Promise<string | undefined> {
    const ref: ObjectRef = { kind: 'Volume', namespace, name };
    const vol = await this.get('Volume', namespace, name);
    if (!vol) return s.fail('VolumeNotFound', `Volume ${namespace}/${name} not found`, ref);
    const spec = vol.spec ?? {};
    const size = spec.size === undefined ? undefined : quantityBytes(spec.size);
    if (spec.size !== undefined && !size) return s.fail('InvalidVolume', `Volume ${namespace}/${name}: size ${spec.size} is not a positive quantity`, ref);
    let rec: VolumeRecord;
    if (str(spec.image)) {
      const ds = await this.datastore(s, namespace, spec.datastoreRef?.name, spec.image, spec.imageFormat === 'container');
      if (!ds) return undefined;
      const ct = this.contentTree(s, uid(vol), ds, spec.imageFormat ?? 'qcow2', str(spec.imageSha256), name);
      rec = { uuid: uuidV5(`${this.device}/${ct}`, uid(vol)), displayName: name, origin: { type: 'download', contentTreeUuid: ct } };
    } else {
      rec = { uuid: uuidV5(this.device, uid(vol)), displayName: name, origin: { type: 'blank' } };
    }
    if (size) rec.maxSizeBytes = size;
    if (spec.readOnly === true) rec.readonly = true;
    if (int(spec.generation)) rec.generation = spec.generation;
    s.staged.volumes.set(rec.uuid, rec);
    s.staged.owners.set(rec.uuid, { kind: 'volume', ns: namespace, name, node: this.nodeName, mounts: [] });
    return rec.uuid;
  }

  async app(app: KObject, arch: string | undefined): Promise<AppRecord | undefined> {
    const namespace = String(app.metadata?.namespace ?? 'default');
    const name = String(app.metadata?.name ?? '');
    const appUid = appUuid(app);
    const object: ObjectRef = { kind: 'AppInstance', namespace, name };
    const s = this.stage(object);
    const spec = app.spec ?? {};
    const container = spec.type !== 'vm';
    const owner = (volume?: string): UuidOwner =>
      volume ? { kind: 'appvolume', ns: namespace, name, node: this.nodeName, volume } : { kind: 'app', ns: namespace, name, node: this.nodeName };

    const cpus = spec.resources?.cpus ?? 1;
    const memory = quantityBytes(spec.resources?.memory ?? '512Mi');
    if (!memory || memory < MIN_MEMORY_BYTES) return s.fail('InvalidResources', `memory ${spec.resources?.memory} must be at least 16Mi`);
    if (memory / 1024 > 0xffffffff) return s.fail('InvalidResources', `memory ${spec.resources?.memory} is too large`);

    // Every reference is resolved (and every problem reported) before deciding to leave the app out.
    let ok = true;
    const volumes: AppVolumeRecord[] = [];
    const ds = await this.datastore(s, namespace, spec.datastoreRef?.name, String(spec.image ?? ''), container);
    if (!ds) ok = false;
    else {
      const format: ImageFormat = container ? 'container' : (spec.imageFormat ?? 'qcow2');
      const ct = this.contentTree(s, appUid, ds, format, str(spec.imageSha256), name);
      const root: VolumeRecord = {
        uuid: uuidV5(`${this.device}/root/${ct}`, appUid),
        displayName: `${name}-root`,
        origin: { type: 'download', contentTreeUuid: ct },
      };
      s.staged.volumes.set(root.uuid, root);
      s.staged.owners.set(root.uuid, owner('root'));
      volumes.push({ uuid: root.uuid, mountDir: container ? '/' : '' });
    }

    for (const v of spec.volumes ?? []) {
      let uuid: string | undefined;
      if (v.volumeRef?.name) {
        uuid = await this.volume(s, namespace, v.volumeRef.name);
        const o = uuid ? s.staged.owners.get(uuid) : undefined;
        if (o?.kind === 'volume') o.mounts.push({ app: name, volume: String(v.name) });
      } else {
        const size = quantityBytes(v.blank?.size);
        if (!size) {
          s.fail('InvalidVolume', `volume ${v.name}: blank size ${v.blank?.size} is not a positive quantity`);
        } else {
          uuid = uuidV5(`${this.device}/volume/${v.name}`, appUid);
          s.staged.volumes.set(uuid, { uuid, displayName: `${name}-${v.name}`, origin: { type: 'blank' }, maxSizeBytes: size });
          s.staged.owners.set(uuid, owner(v.name));
        }
      }
      if (!uuid) ok = false;
      else volumes.push({ uuid, mountDir: container ? (v.mountPath ?? '') : '' });
    }

    const interfaces: AppInterfaceRecord[] = [];
    const networks: KObject[] = spec.networks ?? [];
    for (const [i, n] of networks.entries()) {
      const ni = await this.networkInstance(s, namespace, String(n.networkInstanceRef?.name ?? ''));
      if (!ni) {
        ok = false;
        continue;
      }
      const rec: AppInterfaceRecord = { name: n.name ?? `eth${i}`, networkInstanceUuid: ni };
      if (str(n.ip)) rec.ip = n.ip;
      if (str(n.macAddress)) rec.macAddress = n.macAddress;
      if (int(n.vlanId)) rec.accessVlanId = n.vlanId;
      if (Array.isArray(n.acls)) {
        rec.acls = n.acls.map((a: KObject) => ({
          ...(str(a.cidr) ? { cidr: a.cidr } : {}),
          ...(str(a.host) ? { host: a.host } : {}),
          ...(str(a.protocol) ? { protocol: a.protocol } : {}),
          ...(int(a.port) ? { port: a.port } : {}),
          ...(a.action === 'drop' ? { drop: true } : {}),
        }));
      }
      if (Array.isArray(n.portMaps) && n.portMaps.length)
        rec.portMaps = n.portMaps.map((p: KObject) => ({ protocol: p.protocol === 'udp' ? 'udp' : 'tcp', port: p.port, targetPort: p.targetPort }));
      interfaces.push(rec);
    }
    if (!ok) return undefined;

    const rec: AppRecord = {
      uuid: appUid,
      version: String(app.metadata?.generation ?? 1),
      displayName: name,
      type: container ? 'container' : 'vm',
      activate: spec.activate !== false,
      vcpus: cpus,
      memoryKiB: Math.ceil(memory / 1024),
      interfaces,
      volumes,
    };
    // Eden's choice: HVM on amd64, PV on arm64, for containers and VMs alike.
    if (arch === 'arm64') rec.virtualization = 'pv';
    if (spec.bootMode === 'legacy' || spec.bootMode === 'uefi') rec.bootMode = spec.bootMode;
    if (spec.vnc === true) rec.enableVnc = true;
    if (spec.vnc === true && int(spec.vncDisplay)) rec.vncDisplay = spec.vncDisplay;
    if (['hvm', 'pv', 'fml', 'noHyper'].includes(spec.virtualization)) rec.virtualization = spec.virtualization;
    if (spec.pinCpu === true) rec.pinCpu = true;
    if (Array.isArray(spec.adapters) && spec.adapters.length) rec.adapters = spec.adapters.map((a: KObject) => ({ type: a.type, name: String(a.name) }));
    if (Array.isArray(spec.env) && spec.env.length) rec.env = spec.env.map((e: KObject) => ({ name: String(e.name), value: String(e.value ?? '') }));
    if (str(spec.userData)) rec.userData = spec.userData;
    if (int(spec.restart)) rec.restartCounter = spec.restart;
    if (int(spec.purge)) rec.purgeCounter = spec.purge;
    if (int(spec.startDelaySeconds)) rec.startDelaySeconds = spec.startDelaySeconds;
    s.staged.owners.set(appUid, owner());
    s.commit();
    return rec;
  }

  async baseOs(node: KObject): Promise<BaseOsRecord | undefined> {
    const b = node.spec?.baseOS;
    if (!b?.version || !b.image) return undefined;
    const s = this.stage({ kind: 'EdgeNode', name: String(node.metadata?.name ?? '') });
    const ds = await this.datastore(s, String(b.datastoreRef?.namespace ?? ''), b.datastoreRef?.name, String(b.image), true);
    if (!ds) return undefined;
    // EVE images are OCI images in registries; from a file server they are raw rootfs images.
    const ct = this.contentTree(s, this.device, ds, ds.registry ? 'container' : 'raw', str(b.sha256), `eve-${b.version}`);
    s.commit();
    return { version: String(b.version), contentTreeUuid: ct, activate: b.activate !== false, ...(int(b.retry) ? { retryCounter: b.retry } : {}) };
  }

  ports(node: KObject): DevicePortRecord[] | undefined {
    const list: KObject[] = Array.isArray(node.spec?.devicePorts) ? node.spec.devicePorts : [];
    if (!list.length) return undefined;
    const object: ObjectRef = { kind: 'EdgeNode', name: String(node.metadata?.name ?? '') };
    const ports: DevicePortRecord[] = [];
    for (const p of list) {
      const rec: DevicePortRecord = { name: String(p.name), usage: p.usage ?? 'management' };
      if (str(p.ifname)) rec.ifname = p.ifname;
      if (p.dhcp === false) {
        if (!p.static?.address) {
          this.problems.push({
            object,
            reason: 'InvalidDevicePorts',
            message: `device port ${p.name}: dhcp is false but static.address is not set; port configuration left unchanged`,
          });
          return undefined;
        }
        rec.static = {
          address: p.static.address,
          ...(str(p.static.gateway) ? { gateway: p.static.gateway } : {}),
          ...(Array.isArray(p.static.dns) ? { dns: p.static.dns.map(String) } : {}),
        };
      }
      if (int(p.cost)) rec.cost = p.cost;
      ports.push(rec);
    }
    // Without a management port EVE's port config is invalid and the device may lose the controller.
    if (!ports.some((p) => p.usage === 'management')) {
      this.problems.push({ object, reason: 'NoManagementPort', message: 'devicePorts has no port with usage "management"; port configuration left unchanged' });
      return undefined;
    }
    return ports;
  }

  records() {
    return {
      datastores: [...this.datastores.values()],
      contentTrees: [...this.trees.values()],
      volumes: [...this.volumes.values()],
      networkInstances: [...this.nis.values()],
    };
  }
}

/** Maps an EdgeNode and the AppInstances placed on it to the render input of its device. */
export async function mapDevice(m: DeviceMappingInput): Promise<DeviceMapping> {
  const device = m.deviceUuid.toLowerCase();
  const nodeName = String(m.node.metadata?.name ?? '');
  const spec = m.node.spec ?? {};
  const mapper = new Mapper(m.lookup, device, nodeName);
  const arch = str(m.node.status?.hardware?.architecture);

  const apps: AppRecord[] = [];
  const included: DeviceMapping['apps'] = [];
  const sorted = [...m.apps]
    .filter((a) => !a.metadata?.deletionTimestamp)
    .sort((a, b) => {
      const ka = `${a.metadata?.namespace}/${a.metadata?.name}`;
      const kb = `${b.metadata?.namespace}/${b.metadata?.name}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  for (const a of sorted) {
    const rec = await mapper.app(a, arch);
    if (!rec) continue;
    apps.push(rec);
    included.push({ namespace: String(a.metadata?.namespace ?? 'default'), name: String(a.metadata?.name ?? ''), uid: rec.uuid });
  }
  const ports = mapper.ports(m.node);
  const baseOs = await mapper.baseOs(m.node);

  const input: DeviceRenderInput = {
    uuid: device,
    version: m.version ?? 0,
    deviceName: nodeName,
    rebootCounter: int(spec.reboot) ?? 0,
    shutdownCounter: int(spec.shutdown) ?? 0,
    apps,
    ...mapper.records(),
  };
  if (m.epoch !== undefined) input.epoch = m.epoch;
  if (m.controllerCertsHash) input.controllerCertsHash = m.controllerCertsHash;
  if (spec.maintenance === true) input.maintenance = true;
  if (spec.configItems && typeof spec.configItems === 'object') input.configItems = { ...spec.configItems };
  if (ports) input.ports = ports;
  if (baseOs) input.baseOs = baseOs;
  return { input, problems: mapper.problems, refs: mapper.dependencies(), apps: included, owners: mapper.owners };
}
