// The simulated device: what an EVE node does with a config, minus the hypervisor.
//
// Objects walk EVE's ZSwState sequences one step per model tick (the runtime ticks every
// `stepMs` simulated ms while anything is in progress):
//   content tree (container): RESOLVING_TAG → RESOLVED_TAG → DOWNLOAD_STARTED (progress) →
//     DOWNLOADED → VERIFYING → VERIFIED → LOADING → LOADED; other formats skip the tag steps.
//   volume: waits for its content tree, then CREATING_VOLUME (progress) → CREATED_VOLUME.
//   app: INITIAL → (dependency states) → AWAITNETWORKINSTANCE → INSTALLED → BOOTING → RUNNING,
//     or ERROR with appErr; restart → RESTARTING; purge → PURGING; activate=false → HALTING → HALTED.
//   network instance: INIT → ONLINE; hands out MACs and IPs (DHCP range of a local NI,
//     a simulated upstream LAN for a switch NI) to app interfaces when they boot.
//   base OS: content tree download → install on the other partition (A/B) → reboot →
//     testing (must reach the controller within timer.update.fallback.no.network, then stay
//     up for timer.test.baseimage.update) → active; or fallback to the old partition.
// Changes are recorded as dirty info keys; the runtime turns them into ZInfoMsg.
import type { EdgeDevConfig } from '../eve/gen/config/devconfig_pb.ts';
import type { AppInstanceConfig } from '../eve/gen/config/appconfig_pb.ts';
import type { ContentTree, Volume } from '../eve/gen/config/storage_pb.ts';
import { Format, VolumeContentOriginType } from '../eve/gen/config/storage_pb.ts';
import type { NetworkInstanceConfig } from '../eve/gen/config/netinst_pb.ts';
import { ZNetworkInstType } from '../eve/gen/config/netinst_pb.ts';
import { ZSwState, BootReason, ZDeviceState, BaseOsStatus, BaseOsSubStatus, ZNetworkInstanceState } from '../eve/gen/info/info_pb.ts';
import { MINUTE, SECOND } from './clock.ts';
import crypto from 'node:crypto';

export type InfoKey = string; // 'device' | 'hw' | `app:${uuid}` | `ni:${uuid}` | `vol:${uuid}` | `ct:${uuid}`

export interface ModelKnobs {
  /** Content trees whose download fails (failing app image knob). */
  failImage?: (ct: { url: string; displayName: string; uuid: string }) => boolean;
  /** Base OS versions whose new image fails its test boot (failing OS update knob). */
  failUpdate?: (version: string) => boolean;
  /** Download steps per MB (progress granularity); default: 4 progress steps per image. */
  downloadSteps?: number;
  /** EVE versions on which no app starts (apps stay in ERROR): an update that breaks the workloads. */
  appsFailOn?: (runningVersion: string) => boolean;
}

export interface SimError {
  description: string;
  time: number;
}

export interface CtState {
  cfg: ContentTree;
  state: ZSwState;
  progress: number;
  err?: SimError;
  retryAt?: number;
  sizeBytes: bigint;
  sha256: string;
}

export interface VolState {
  cfg: Volume;
  state: ZSwState;
  progress: number;
  err?: SimError;
}

export interface AppNet {
  name: string;
  niUuid: string;
  mac: string;
  ip?: string;
  vif: string;
}

export interface AppState {
  cfg: AppInstanceConfig;
  uuid: string;
  state: ZSwState;
  errs: SimError[];
  restartCounter: number;
  purgeCounter: number;
  nets: AppNet[];
  bootTime?: number;
  /** Pending operation driving the next steps. */
  op?: 'restart' | 'purge' | 'halt';
  everRan: boolean;
}

export interface NiState {
  cfg: NetworkInstanceConfig;
  uuid: string;
  state: ZNetworkInstanceState;
  bridgeNum: number;
  gateway: string;
  /** mac → ip */
  leases: Map<string, string>;
  pool: { next: number; end: number; base: number } | undefined;
  upTime?: number;
  err?: SimError;
}

export interface Partition {
  label: 'IMGA' | 'IMGB';
  version: string;
  /** EVE partition states: active, updating, inprogress, unused. */
  partitionState: 'active' | 'updating' | 'inprogress' | 'unused';
  status: ZSwState;
  userStatus: BaseOsStatus;
  subStatus: BaseOsSubStatus;
  subStatusStr: string;
  progress: number;
  err?: SimError;
}

export interface BaseOsUpdate {
  version: string;
  ctUuid: string;
  /** staged: downloaded with activate=false, waiting for a config that activates it. */
  phase: 'downloading' | 'staged' | 'installing' | 'rebooting' | 'testing' | 'done' | 'failed';
  /** Whether the config asks to activate the image (false = download only, EVE's pre-staging). */
  activate: boolean;
  /** Sim time the test boot started / must reach the controller by / commits at. */
  testStartedAt?: number;
  contactDeadline?: number;
  commitAt?: number;
  contacted?: boolean;
  retryCounter: number;
}

/** Config items the simulator understands, with EVE's defaults and ranges (seconds). */
export const CONFIG_ITEM_SPECS: Record<string, { def: number | boolean | string; min?: number; max?: number }> = {
  'timer.config.interval': { def: 60, min: 5, max: 86400 },
  'timer.metric.interval': { def: 60, min: 5, max: 3600 },
  'timer.deviceinfo.interval': { def: 600, min: 30, max: 86400 * 7 },
  'timer.cert.interval': { def: 86400, min: 60, max: 86400 * 365 },
  'timer.hardwarehealth.interval': { def: 43200, min: 21600, max: 86400 * 365 },
  'timer.update.fallback.no.network': { def: 300, min: 60, max: 86400 },
  'timer.test.baseimage.update': { def: 600, min: 30, max: 3600 },
  'timer.download.retry': { def: 600, min: 60, max: 86400 },
  'timer.reboot.no.network': { def: 604800, min: 120, max: 86400 * 365 },
  'newlog.allow.fastupload': { def: false },
  'debug.enable.ssh': { def: '' },
  'debug.enable.console': { def: false },
  'debug.enable.usb': { def: false },
  'debug.enable.vga': { def: false },
  'debug.default.loglevel': { def: 'info' },
  'debug.default.remote.loglevel': { def: 'info' },
  'app.allow.vnc': { def: false },
  'force.fallback.counter': { def: 0, min: 0, max: 2 ** 32 - 1 },
};

export type ConfigItemValue = number | boolean | string;

export interface HardwareProfile {
  manufacturer: string;
  productName: string;
  machineArch: string;
  cpuArch: string;
  platform: string;
  ncpu: number;
  memoryMB: number;
  storageMB: number;
  ports: { ifname: string; mac: string; ip: string; subnet: string; gateway: string }[];
  /** Adapters an app may be given (passthrough), reported as assignable IO bundles; default none. */
  adapters?: SimAdapter[];
}

/** A passthrough adapter of the simulated hardware: its assignment group name and kind. */
export interface SimAdapter {
  name: string;
  type: 'usb' | 'pci' | 'serial' | 'gpu';
  /** PCI address / USB bus path shown as the bundle's member (default: the name). */
  address?: string;
}

export interface LogLine {
  severity: 'info' | 'warning' | 'error' | 'debug';
  source: string;
  content: string;
  time: number;
  appUuid?: string;
}

export interface ApplyResult {
  /** The config asked for a reboot (counter changed): the rest was skipped. */
  reboot?: boolean;
  shutdown?: boolean;
  certsHashChanged?: boolean;
  epochChanged?: boolean;
  timersChanged?: string[];
  /** Why the config was refused as a whole (invalidConfig / obsoleteConfig). */
  invalid?: string;
}

const STEPS_CT_CONTAINER = [
  ZSwState.RESOLVING_TAG,
  ZSwState.RESOLVED_TAG,
  ZSwState.DOWNLOAD_STARTED,
  ZSwState.DOWNLOADED,
  ZSwState.VERIFYING,
  ZSwState.VERIFIED,
  ZSwState.LOADING,
  ZSwState.LOADED,
];
const STEPS_CT_IMAGE = STEPS_CT_CONTAINER.slice(2);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function ip4ToNum(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !(x >= 0 && x <= 255))) return NaN;
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}
function numToIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function macFor(seed: string): string {
  const h = crypto.createHash('sha256').update(seed).digest();
  return ['02', '16', '3e', h[0]!, h[1]!, h[2]!].map((x) => (typeof x === 'number' ? x.toString(16).padStart(2, '0') : x)).join(':');
}

export class DeviceModel {
  readonly cts = new Map<string, CtState>();
  readonly vols = new Map<string, VolState>();
  readonly nis = new Map<string, NiState>();
  readonly apps = new Map<string, AppState>();
  /** Passthrough adapter (assignment group) → UUID of the app it is assigned to. */
  readonly assignedAdapters = new Map<string, string>();
  readonly partitions: [Partition, Partition];
  current: 0 | 1 = 0;
  baseos: BaseOsUpdate | undefined;
  /** Info keys changed since the last drain, and deletions (sent with the ID only). */
  readonly dirty = new Set<InfoKey>();
  readonly deleted = new Map<InfoKey, string>();
  readonly logs: LogLine[] = [];
  configItems = new Map<string, ConfigItemValue>();
  configItemErrors = new Map<string, { value: string; error: string }>();
  unknownConfigItems = new Map<string, string>();
  rebootCounter: number | undefined;
  shutdownCounter: number | undefined;
  rebootReason = 'NORMAL: initial power-on';
  bootReason: BootReason = BootReason.FIRST;
  bootTime: number;
  lastRebootTime: number | undefined;
  restartCounter = 0;
  baseosUpdateCounter = 0;
  state: ZDeviceState = ZDeviceState.ZDEVICE_STATE_BOOTING;
  maintenanceMode = false;
  controllerEpoch = 0n;
  controllerCertHash = '';
  lastConfigTimestamp = 0;
  deviceName = '';
  projectName = '';
  enterpriseName = '';
  manufacturerOverride = '';
  productOverride = '';
  /** Counters for tests and progress. */
  appliedConfigs = 0;
  private nextBridge = 1;
  private nextVif = 1;
  private switchLan = 0;

  constructor(
    readonly hw: HardwareProfile,
    eveVersion: string,
    private readonly knobs: ModelKnobs,
    now: number,
    /** Simulated time (scaled) for deadlines and retries; defaults to the wall clock. */
    private readonly sim: () => number = Date.now,
  ) {
    this.bootTime = now;
    const p = (label: 'IMGA' | 'IMGB', version: string, st: Partition['partitionState']): Partition => ({
      label,
      version,
      partitionState: st,
      status: version ? ZSwState.INSTALLED : ZSwState.INITIAL,
      userStatus: BaseOsStatus.NONE,
      subStatus: BaseOsSubStatus.NONE_SUBSTATUS,
      subStatusStr: '',
      progress: 0,
    });
    this.partitions = [p('IMGA', eveVersion, 'active'), p('IMGB', '', 'unused')];
    this.partitions[0].status = ZSwState.RUNNING;
    this.switchLan = crypto
      .createHash('sha256')
      .update(hw.ports[0]?.mac ?? 'x')
      .digest()[0]!;
    this.dirty.add('device');
    this.dirty.add('hw');
  }

  get runningVersion(): string {
    return this.partitions[this.current].version;
  }

  item(key: string): ConfigItemValue {
    return this.configItems.get(key) ?? CONFIG_ITEM_SPECS[key]?.def ?? '';
  }
  /** Numeric config item in simulated ms. */
  seconds(key: string): number {
    return Number(this.item(key)) * SECOND;
  }

  log(severity: LogLine['severity'], source: string, content: string, now: number, appUuid?: string): void {
    if (this.logs.length < 20000) this.logs.push({ severity, source, content, time: now, appUuid });
  }

  private poweringOff(): boolean {
    return this.state === ZDeviceState.ZDEVICE_STATE_PREPARING_POWEROFF || this.state === ZDeviceState.ZDEVICE_STATE_PREPARED_POWEROFF;
  }

  private touch(key: InfoKey): void {
    this.dirty.add(key);
  }

  /** Anything still moving (the runtime keeps ticking while true). */
  busy(): boolean {
    for (const c of this.cts.values()) if (c.state !== ZSwState.LOADED && !(c.state === ZSwState.ERROR && c.retryAt === undefined)) return true;
    for (const v of this.vols.values()) if (v.state !== ZSwState.CREATED_VOLUME && v.state !== ZSwState.ERROR) return true;
    for (const a of this.apps.values()) {
      if (a.op) return true;
      if (a.state === ZSwState.INSTALLED ? a.cfg.activate && !this.poweringOff() : ![ZSwState.RUNNING, ZSwState.ERROR, ZSwState.HALTED].includes(a.state))
        return true;
      if (a.state === ZSwState.RUNNING && !a.cfg.activate) return true;
    }
    for (const n of this.nis.values()) if (n.state === ZNetworkInstanceState.ZNETINST_STATE_INIT) return true;
    if (this.baseos && ['downloading', 'installing', 'testing'].includes(this.baseos.phase)) return true;
    if (this.state === ZDeviceState.ZDEVICE_STATE_PREPARING_POWEROFF) return true;
    return false;
  }

  // ---------------------------------------------------------------- config

  /** Apply a new config (EVE's parseConfig order). `devUuid` is the device's own UUID. */
  apply(cfg: EdgeDevConfig, devUuid: string, now: number): ApplyResult {
    const res: ApplyResult = {};
    const id = cfg.id?.uuid ?? '';
    if (id && !UUID_RE.test(id)) return { invalid: `invalid device UUID ${JSON.stringify(id)} in config` };
    if (cfg.configTimestamp) {
      const ts = Number(cfg.configTimestamp.seconds) * 1000 + Math.floor(cfg.configTimestamp.nanos / 1e6);
      if (ts < this.lastConfigTimestamp) return { invalid: 'obsolete config (config_timestamp went backwards)' };
      this.lastConfigTimestamp = ts;
    }
    this.appliedConfigs++;
    // 1. config items (absolute: missing keys revert to defaults)
    res.timersChanged = this.applyConfigItems(cfg);
    // 2. maintenance
    if (cfg.maintenanceMode !== this.maintenanceMode) {
      this.maintenanceMode = cfg.maintenanceMode;
      this.touch('device');
    }
    // 3. device operations: the first counter ever seen is stored without acting
    const rc = cfg.reboot?.counter;
    if (rc !== undefined) {
      if (this.rebootCounter === undefined) this.rebootCounter = rc;
      else if (rc !== this.rebootCounter) {
        this.rebootCounter = rc;
        this.log('warning', 'zedagent', `reboot.counter changed to ${rc}: rebooting`, now);
        this.touch('device');
        return { ...res, reboot: true };
      }
    }
    const sc = cfg.shutdown?.counter;
    if (sc !== undefined) {
      if (this.shutdownCounter === undefined) this.shutdownCounter = sc;
      else if (sc !== this.shutdownCounter) {
        this.shutdownCounter = sc;
        this.log('warning', 'zedagent', `shutdown.counter changed to ${sc}: shutting down apps`, now);
        this.beginShutdown();
        return { ...res, shutdown: true };
      }
    }
    // 4. controller certs, identity strings
    if (cfg.controllercertConfighash && cfg.controllercertConfighash !== this.controllerCertHash) {
      if (this.controllerCertHash) res.certsHashChanged = true;
      this.controllerCertHash = cfg.controllercertConfighash;
    }
    if (cfg.controllerEpoch !== this.controllerEpoch) {
      if (this.controllerEpoch !== 0n) res.epochChanged = true;
      this.controllerEpoch = cfg.controllerEpoch;
    }
    if (
      cfg.deviceName !== this.deviceName ||
      cfg.projectName !== this.projectName ||
      cfg.enterpriseName !== this.enterpriseName ||
      cfg.manufacturer !== this.manufacturerOverride ||
      cfg.productName !== this.productOverride
    ) {
      this.deviceName = cfg.deviceName;
      this.projectName = cfg.projectName;
      this.enterpriseName = cfg.enterpriseName;
      this.manufacturerOverride = cfg.manufacturer;
      this.productOverride = cfg.productName;
      this.touch('device');
    }
    // 6. base OS, network instances, content trees, volumes
    this.applyBaseOs(cfg, now);
    this.applyNetworkInstances(cfg.networkInstances, now);
    this.applyContentTrees(cfg.contentInfo, now);
    this.applyVolumes(cfg.volumes, now);
    // 7. apps: skipped while a new base OS is being activated; ignored without a device UUID
    const activatingOs = !!this.baseos && this.baseos.activate && ['downloading', 'installing', 'rebooting'].includes(this.baseos.phase);
    if (!id) this.log('error', 'zedagent', 'received empty UUID from config: apps ignored', now);
    else if (id !== devUuid) this.log('error', 'zedagent', `config for ${id} does not match device UUID ${devUuid}: apps ignored`, now);
    else if (!activatingOs) this.applyApps(cfg.apps, now);
    return res;
  }

  private applyConfigItems(cfg: EdgeDevConfig): string[] {
    const prev = this.configItems;
    const next = new Map<string, ConfigItemValue>();
    this.configItemErrors.clear();
    this.unknownConfigItems = new Map();
    for (const ci of cfg.configItems) {
      const spec = CONFIG_ITEM_SPECS[ci.key];
      if (!spec) {
        // keys we do not model (debug.<agent>.loglevel, ...) are accepted as strings
        if (
          /^(debug|timer|newlog|network|app|netdump|gogc|process|storage|msrv|kubevirt|edgeview|maintenance|airgap|memory|vault|blob|wwan|goroutine|log|kernel)\./.test(
            ci.key,
          )
        )
          next.set(ci.key, ci.value);
        else this.unknownConfigItems.set(ci.key, ci.value);
        continue;
      }
      let v: ConfigItemValue | undefined;
      if (typeof spec.def === 'number') {
        const n = Number(ci.value);
        if (!Number.isInteger(n) || (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
          this.configItemErrors.set(ci.key, { value: ci.value, error: `value ${ci.value} out of range [${spec.min}, ${spec.max}]` });
          if (prev.has(ci.key)) next.set(ci.key, prev.get(ci.key)!);
          continue;
        }
        v = n;
      } else if (typeof spec.def === 'boolean') {
        if (ci.value !== 'true' && ci.value !== 'false') {
          this.configItemErrors.set(ci.key, { value: ci.value, error: 'not a boolean' });
          if (prev.has(ci.key)) next.set(ci.key, prev.get(ci.key)!);
          continue;
        }
        v = ci.value === 'true';
      } else v = ci.value;
      next.set(ci.key, v);
    }
    const changed: string[] = [];
    for (const k of new Set([...prev.keys(), ...next.keys()])) {
      const a = prev.get(k) ?? CONFIG_ITEM_SPECS[k]?.def;
      const b = next.get(k) ?? CONFIG_ITEM_SPECS[k]?.def;
      if (a !== b) changed.push(k);
    }
    this.configItems = next;
    if (changed.length || this.configItemErrors.size) this.touch('device');
    return changed;
  }

  private applyNetworkInstances(list: NetworkInstanceConfig[], now: number): void {
    const seen = new Set<string>();
    for (const cfg of list) {
      const uuid = cfg.uuidandversion?.uuid;
      if (!uuid) continue; // NIs without uuidandversion are skipped
      seen.add(uuid);
      const cur = this.nis.get(uuid);
      if (cur && cur.cfg.uuidandversion?.version === cfg.uuidandversion?.version && cur.cfg.displayname === cfg.displayname) {
        cur.cfg = cfg;
        continue;
      }
      const ni: NiState = cur ?? {
        cfg,
        uuid,
        state: ZNetworkInstanceState.ZNETINST_STATE_INIT,
        bridgeNum: this.nextBridge++,
        gateway: '',
        leases: new Map(),
        pool: undefined,
      };
      ni.cfg = cfg;
      ni.err = undefined;
      this.setupPool(ni);
      if (!cur) {
        this.nis.set(uuid, ni);
        this.log('info', 'zedrouter', `creating network instance ${cfg.displayname} (${uuid})`, now);
      }
      this.touch(`ni:${uuid}`);
    }
    for (const [uuid, ni] of this.nis) {
      if (seen.has(uuid)) continue;
      this.nis.delete(uuid);
      this.deleted.set(`ni:${uuid}`, uuid);
      this.dirty.delete(`ni:${uuid}`);
      this.log('info', 'zedrouter', `deleting network instance ${ni.cfg.displayname} (${uuid})`, now);
      for (const a of this.apps.values()) {
        if (a.nets.some((n) => n.niUuid === uuid)) this.appError(a, `network instance ${uuid} not found`, now);
      }
    }
  }

  private setupPool(ni: NiState): void {
    const ip = ni.cfg.ip;
    if (ni.cfg.instType === ZNetworkInstType.ZnetInstLocal && ip?.subnet) {
      const [net, bitsS] = ip.subnet.split('/');
      const base = ip4ToNum(net!);
      const bits = Number(bitsS ?? 24);
      if (Number.isNaN(base) || !(bits >= 8 && bits <= 30)) {
        ni.err = { description: `invalid subnet ${ip.subnet}`, time: Date.now() };
        ni.pool = undefined;
        return;
      }
      const size = 2 ** (32 - bits);
      const gw = ip.gateway ? ip4ToNum(ip.gateway) : base + 1;
      let start = ip.dhcpRange?.start ? ip4ToNum(ip.dhcpRange.start) : gw + 1;
      const end = ip.dhcpRange?.end ? ip4ToNum(ip.dhcpRange.end) : base + size - 2;
      if (start <= gw && gw <= end) start = gw + 1; // gateway must lie outside the range
      ni.gateway = numToIp4(gw);
      ni.pool = { next: start, end, base };
    } else if (ni.cfg.instType === ZNetworkInstType.ZnetInstSwitch) {
      // a switch NI bridges to the uplink LAN; leases come from the "upstream" DHCP server
      const base = ip4ToNum(`192.168.${this.switchLan}.0`);
      ni.gateway = numToIp4(base + 1);
      ni.pool = { next: base + 100, end: base + 250, base };
    } else {
      ni.pool = undefined;
    }
  }

  private lease(ni: NiState, mac: string): string | undefined {
    const have = ni.leases.get(mac);
    if (have) return have;
    const used = new Set(ni.leases.values());
    if (!ni.pool) return undefined;
    for (let n = ni.pool.next; n <= ni.pool.end; n++) {
      const ip = numToIp4(n);
      if (!used.has(ip)) {
        ni.leases.set(mac, ip);
        this.touch(`ni:${ni.uuid}`);
        return ip;
      }
    }
    return undefined;
  }

  private release(mac: string): void {
    for (const ni of this.nis.values()) if (ni.leases.delete(mac)) this.touch(`ni:${ni.uuid}`);
  }

  private applyContentTrees(list: ContentTree[], now: number): void {
    const seen = new Set<string>();
    for (const cfg of list) {
      if (!cfg.uuid) continue;
      seen.add(cfg.uuid);
      const cur = this.cts.get(cfg.uuid);
      if (cur && cur.cfg.URL === cfg.URL && cur.cfg.generationCount === cfg.generationCount && cur.cfg.sha256 === cfg.sha256) {
        cur.cfg = cfg;
        continue;
      }
      const steps = cfg.iformat === Format.CONTAINER ? STEPS_CT_CONTAINER : STEPS_CT_IMAGE;
      const sha = (cfg.sha256 || crypto.createHash('sha256').update(cfg.URL).digest('hex')).toLowerCase();
      const size = cfg.maxSizeBytes > 0n ? cfg.maxSizeBytes : BigInt(20_000_000 + (parseInt(sha.slice(0, 6), 16) % 200_000_000));
      this.cts.set(cfg.uuid, { cfg, state: steps[0]!, progress: 0, sizeBytes: size, sha256: sha });
      this.log('info', 'downloader', `downloading ${cfg.URL} for content tree ${cfg.displayName} (${cfg.uuid})`, now);
      this.touch(`ct:${cfg.uuid}`);
    }
    for (const [uuid, ct] of this.cts) {
      if (seen.has(uuid)) continue;
      this.cts.delete(uuid);
      this.deleted.set(`ct:${uuid}`, uuid);
      this.dirty.delete(`ct:${uuid}`);
      this.log('info', 'volumemgr', `deleting content tree ${ct.cfg.displayName} (${uuid})`, now);
    }
  }

  private applyVolumes(list: Volume[], now: number): void {
    const seen = new Set<string>();
    for (const cfg of list) {
      if (!cfg.uuid) continue;
      seen.add(cfg.uuid);
      const cur = this.vols.get(cfg.uuid);
      if (cur && cur.cfg.generationCount === cfg.generationCount && cur.cfg.origin?.downloadContentTreeID === cfg.origin?.downloadContentTreeID) {
        cur.cfg = cfg;
        continue;
      }
      this.vols.set(cfg.uuid, { cfg, state: ZSwState.INITIAL, progress: 0 });
      this.log('info', 'volumemgr', `creating volume ${cfg.displayName} (${cfg.uuid})`, now);
      this.touch(`vol:${cfg.uuid}`);
    }
    for (const [uuid, v] of this.vols) {
      if (seen.has(uuid)) continue;
      this.vols.delete(uuid);
      this.deleted.set(`vol:${uuid}`, uuid);
      this.dirty.delete(`vol:${uuid}`);
      this.log('info', 'volumemgr', `deleting volume ${v.cfg.displayName} (${uuid})`, now);
    }
  }

  private applyApps(list: AppInstanceConfig[], now: number): void {
    const seen = new Set<string>();
    for (const cfg of list) {
      const uuid = cfg.uuidandversion?.uuid;
      if (!uuid) continue;
      seen.add(uuid);
      const cur = this.apps.get(uuid);
      if (!cur) {
        const a: AppState = {
          cfg,
          uuid,
          state: ZSwState.INITIAL,
          errs: [],
          restartCounter: cfg.restart?.counter ?? 0,
          purgeCounter: cfg.purge?.counter ?? 0,
          nets: [],
          everRan: false,
        };
        this.setNets(a);
        this.apps.set(uuid, a);
        this.log('info', 'zedmanager', `app ${cfg.displayname} (${uuid}) created`, now);
        this.touch(`app:${uuid}`);
        continue;
      }
      const prev = cur.cfg;
      cur.cfg = cfg;
      const rc = cfg.restart?.counter ?? 0;
      const pc = cfg.purge?.counter ?? 0;
      const versionChanged = prev.uuidandversion?.version !== cfg.uuidandversion?.version;
      const netsChanged =
        JSON.stringify(prev.interfaces.map((i) => [i.name, i.networkId])) !== JSON.stringify(cfg.interfaces.map((i) => [i.name, i.networkId]));
      if (netsChanged) this.setNets(cur);
      if (pc > cur.purgeCounter) {
        cur.purgeCounter = pc;
        cur.restartCounter = rc;
        cur.op = 'purge';
        this.log('info', 'zedmanager', `app ${cfg.displayname} purge requested (counter ${pc})`, now);
      } else if (rc > cur.restartCounter || (versionChanged && cur.state === ZSwState.RUNNING)) {
        cur.restartCounter = rc;
        cur.op = cfg.activate ? 'restart' : 'halt';
        this.log('info', 'zedmanager', `app ${cfg.displayname} restart requested (counter ${rc})`, now);
      } else if (!cfg.activate && prev.activate) {
        cur.op = 'halt';
      } else if (cfg.activate && !prev.activate && (cur.state === ZSwState.HALTED || cur.state === ZSwState.INSTALLED)) {
        cur.op = 'restart';
      }
      if (cur.state === ZSwState.ERROR && (versionChanged || netsChanged || pc > 0 || rc > 0)) {
        // a changed config re-evaluates an app in error
        cur.errs = [];
        cur.state = ZSwState.INITIAL;
      }
      this.touch(`app:${uuid}`);
    }
    for (const [uuid, a] of this.apps) {
      if (seen.has(uuid)) continue;
      for (const n of a.nets) this.release(n.mac);
      this.releaseAdapters(a);
      this.apps.delete(uuid);
      this.deleted.set(`app:${uuid}`, uuid);
      this.dirty.delete(`app:${uuid}`);
      this.log('info', 'zedmanager', `app ${a.cfg.displayname} (${uuid}) deleted`, now);
      this.touch('device');
    }
  }

  /** Frees what an app held (EVE returns adapters to the pool when an app stops or goes). */
  private releaseAdapters(a: AppState): void {
    for (const [name, holder] of this.assignedAdapters) {
      if (holder !== a.uuid) continue;
      this.assignedAdapters.delete(name);
      this.touch('device');
    }
  }

  /** Why the app cannot have its passthrough adapters (unknown, or held by another app), else reserves them. */
  private reserveAdapters(a: AppState): string | undefined {
    const known = new Set((this.hw.adapters ?? []).map((x) => x.name));
    for (const ad of a.cfg.adapters) {
      if (!known.has(ad.name)) return `adapter ${ad.name} not found on the device`;
      const holder = this.assignedAdapters.get(ad.name);
      if (holder && holder !== a.uuid) return `adapter ${ad.name} is already assigned to app ${this.apps.get(holder)?.cfg.displayname ?? holder}`;
    }
    for (const ad of a.cfg.adapters) {
      if (this.assignedAdapters.get(ad.name) === a.uuid) continue;
      this.assignedAdapters.set(ad.name, a.uuid);
      this.touch('device');
    }
    return undefined;
  }

  private setNets(a: AppState): void {
    for (const n of a.nets) this.release(n.mac);
    a.nets = a.cfg.interfaces.map((i, idx) => ({
      name: i.name || `eth${idx}`,
      niUuid: i.networkId,
      mac: i.macAddress || macFor(`${a.uuid}/${idx}`),
      ip: undefined,
      vif: `nbu${this.nextVif++}x${idx + 1}`,
    }));
  }

  private applyBaseOs(cfg: EdgeDevConfig, now: number): void {
    const b = cfg.baseos;
    if (!b || !b.baseOsVersion) return;
    const retry = b.retryUpdate?.counter ?? 0;
    const cur = this.baseos;
    // Asking for the running version again (e.g. re-pinned after a failed update) changes nothing.
    if (
      b.baseOsVersion === this.runningVersion &&
      (!cur || cur.version === b.baseOsVersion || ['failed', 'done', 'staged', 'downloading'].includes(cur.phase))
    ) {
      // A download not yet installed is dropped, as EVE drops an image the config no longer names.
      if (cur && cur.version !== b.baseOsVersion && (cur.phase === 'staged' || cur.phase === 'downloading')) {
        this.baseos = undefined;
        Object.assign(this.partitions[1 - this.current]!, {
          version: '',
          status: ZSwState.INITIAL,
          userStatus: BaseOsStatus.NONE,
          subStatus: BaseOsSubStatus.NONE_SUBSTATUS,
          subStatusStr: '',
          progress: 0,
          err: undefined,
        });
        if (this.state === ZDeviceState.ZDEVICE_STATE_BASEOS_UPDATING) this.state = ZDeviceState.ZDEVICE_STATE_ONLINE;
        this.touch('device');
      }
      return;
    }
    if (cur && cur.version === b.baseOsVersion) {
      cur.activate = b.activate;
      // A staged image is activated by a config that now says activate=true.
      if (cur.phase === 'staged' && b.activate) {
        cur.phase = 'installing';
        this.state = ZDeviceState.ZDEVICE_STATE_BASEOS_UPDATING;
        this.touch('device');
      }
      if (cur.phase !== 'failed' || retry === cur.retryCounter) return;
    }
    if (cur && cur.phase === 'testing') return; // wait for the running test to finish
    this.baseos = { version: b.baseOsVersion, ctUuid: b.contentTreeUuid, phase: 'downloading', retryCounter: retry, activate: b.activate };
    const other = this.partitions[1 - this.current]!;
    Object.assign(other, {
      version: b.baseOsVersion,
      partitionState: 'unused',
      status: ZSwState.DOWNLOAD_STARTED,
      userStatus: BaseOsStatus.DOWNLOADING,
      subStatus: BaseOsSubStatus.DOWNLOAD_INPROGRESS,
      subStatusStr: 'Downloading',
      progress: 0,
      err: undefined,
    });
    if (b.activate) this.state = ZDeviceState.ZDEVICE_STATE_BASEOS_UPDATING;
    this.log(
      'info',
      'baseosmgr',
      `base OS ${b.activate ? 'update' : 'download (not activated)'} to ${b.baseOsVersion} requested (content tree ${b.contentTreeUuid})`,
      now,
    );
    this.touch('device');
  }

  // ---------------------------------------------------------------- ticking

  /** Advance every in-progress object by one step. Returns true when a reboot is due. */
  step(now: number): { reboot?: { reason: string; boot: BootReason } } {
    const steps = this.knobs.downloadSteps ?? 4;
    for (const ct of this.cts.values()) this.stepCt(ct, now, steps);
    for (const v of this.vols.values()) this.stepVol(v, now);
    for (const ni of this.nis.values()) {
      if (ni.state === ZNetworkInstanceState.ZNETINST_STATE_INIT) {
        ni.state = ni.err ? ZNetworkInstanceState.ZNETINST_STATE_ERROR : ZNetworkInstanceState.ZNETINST_STATE_ONLINE;
        ni.upTime = now;
        this.touch(`ni:${ni.uuid}`);
      }
    }
    for (const a of this.apps.values()) this.stepApp(a, now);
    if (this.state === ZDeviceState.ZDEVICE_STATE_PREPARING_POWEROFF) {
      if ([...this.apps.values()].every((a) => a.state === ZSwState.HALTED || a.state === ZSwState.ERROR || a.state === ZSwState.INSTALLED)) {
        this.state = ZDeviceState.ZDEVICE_STATE_PREPARED_POWEROFF;
        this.touch('device');
      }
    }
    return this.stepBaseOs(now);
  }

  private stepCt(ct: CtState, now: number, steps: number): void {
    if (ct.state === ZSwState.LOADED) return;
    if (ct.state === ZSwState.ERROR) {
      if (ct.retryAt !== undefined && this.sim() >= ct.retryAt) {
        ct.retryAt = undefined;
        ct.err = undefined;
        ct.progress = 0;
        ct.state = ct.cfg.iformat === Format.CONTAINER ? ZSwState.RESOLVING_TAG : ZSwState.DOWNLOAD_STARTED;
        this.touch(`ct:${ct.cfg.uuid}`);
      }
      return;
    }
    if (ct.state === ZSwState.DOWNLOAD_STARTED) {
      if (ct.progress >= 50 && this.knobs.failImage?.({ url: ct.cfg.URL, displayName: ct.cfg.displayName, uuid: ct.cfg.uuid })) {
        ct.state = ZSwState.ERROR;
        ct.err = { description: `download of ${ct.cfg.URL} failed: 404 Not Found (simulated failing image)`, time: now };
        ct.retryAt = this.sim() + this.seconds('timer.download.retry');
        this.log('error', 'downloader', ct.err.description, now);
        this.touch(`ct:${ct.cfg.uuid}`);
        return;
      }
      if (ct.progress < 100) {
        ct.progress = Math.min(100, ct.progress + Math.ceil(100 / steps));
        this.touch(`ct:${ct.cfg.uuid}`);
        return;
      }
    }
    const seq = ct.cfg.iformat === Format.CONTAINER ? STEPS_CT_CONTAINER : STEPS_CT_IMAGE;
    const i = seq.indexOf(ct.state);
    ct.state = seq[Math.min(seq.length - 1, i + 1)]!;
    if (ct.state === ZSwState.LOADED) {
      ct.progress = 100;
      this.log('info', 'volumemgr', `content tree ${ct.cfg.displayName} loaded`, now);
    }
    this.touch(`ct:${ct.cfg.uuid}`);
  }

  private stepVol(v: VolState, now: number): void {
    if (v.state === ZSwState.CREATED_VOLUME) return;
    const origin = v.cfg.origin;
    if (origin?.type === VolumeContentOriginType.VCOT_DOWNLOAD) {
      const ct = this.cts.get(origin.downloadContentTreeID);
      if (!ct) {
        if (v.state !== ZSwState.ERROR) this.volError(v, `content tree ${origin.downloadContentTreeID} not found`, now);
        return;
      }
      if (ct.state === ZSwState.ERROR) {
        if (v.state !== ZSwState.ERROR) this.volError(v, ct.err?.description ?? 'content tree failed', now);
        return;
      }
      if (ct.state !== ZSwState.LOADED) {
        // the volume reports the progress of what it waits for, as EVE's volumemgr does
        if (v.state !== ct.state || v.progress !== ct.progress) {
          v.state = ct.state;
          v.progress = ct.progress;
          v.err = undefined;
          this.touch(`vol:${v.cfg.uuid}`);
        }
        return;
      }
    }
    if (v.state !== ZSwState.CREATING_VOLUME) {
      v.state = ZSwState.CREATING_VOLUME;
      v.progress = 0;
      v.err = undefined;
    } else if (v.progress < 100) {
      v.progress = Math.min(100, v.progress + 50);
    } else {
      v.state = ZSwState.CREATED_VOLUME;
      this.log('info', 'volumemgr', `volume ${v.cfg.displayName} created`, now);
    }
    this.touch(`vol:${v.cfg.uuid}`);
  }

  private volError(v: VolState, description: string, now: number): void {
    v.state = ZSwState.ERROR;
    v.err = { description, time: now };
    this.touch(`vol:${v.cfg.uuid}`);
  }

  private appError(a: AppState, description: string, now: number): void {
    if (a.state === ZSwState.ERROR && a.errs.some((e) => e.description === description)) return;
    for (const n of a.nets) this.release(n.mac);
    this.releaseAdapters(a);
    a.state = ZSwState.ERROR;
    a.errs = [{ description, time: now }];
    a.op = undefined;
    this.log('error', 'zedmanager', `app ${a.cfg.displayname}: ${description}`, now, a.uuid);
    this.touch(`app:${a.uuid}`);
  }

  private dependencies(a: AppState): { error?: string; wait?: ZSwState } {
    let wait: ZSwState | undefined;
    for (const ref of a.cfg.volumeRefList) {
      const v = this.vols.get(ref.uuid);
      if (!v) return { error: `volume ${ref.uuid} not found` };
      if (v.state === ZSwState.ERROR) return { error: v.err?.description ?? `volume ${ref.uuid} failed` };
      if (v.state !== ZSwState.CREATED_VOLUME) wait = wait === undefined ? v.state : Math.min(wait, v.state);
    }
    if (wait !== undefined) return { wait };
    for (const n of a.nets) {
      const ni = this.nis.get(n.niUuid);
      if (!ni) return { error: `network instance ${n.niUuid} not found` };
      if (ni.state === ZNetworkInstanceState.ZNETINST_STATE_ERROR)
        return { error: `network instance ${ni.cfg.displayname}: ${ni.err?.description ?? 'error'}` };
      if (ni.state !== ZNetworkInstanceState.ZNETINST_STATE_ONLINE) return { wait: ZSwState.AWAITNETWORKINSTANCE };
    }
    return {};
  }

  private set(a: AppState, s: ZSwState, now: number): void {
    if (a.state === s) return;
    a.state = s;
    if (s === ZSwState.RUNNING) {
      a.bootTime = now;
      a.everRan = true;
      this.log('info', 'zedmanager', `app ${a.cfg.displayname} (${a.uuid}) is RUNNING`, now, a.uuid);
      this.touch('device');
    }
    this.touch(`app:${a.uuid}`);
  }

  private stepApp(a: AppState, now: number): void {
    const halting = a.op === 'halt' || !a.cfg.activate || this.poweringOff();
    // operations on a running (or halted) app
    if (a.op === 'restart' || a.op === 'purge') {
      if (a.state === ZSwState.RUNNING || a.state === ZSwState.BOOTING) {
        this.set(a, a.op === 'purge' ? ZSwState.PURGING : ZSwState.RESTARTING, now);
        return;
      }
      if (a.op === 'purge' && a.state === ZSwState.PURGING) {
        const first = a.cfg.volumeRefList[0] && this.vols.get(a.cfg.volumeRefList[0].uuid);
        if (first) {
          first.state = ZSwState.CREATING_VOLUME;
          first.progress = 0;
          this.touch(`vol:${first.cfg.uuid}`);
        }
      }
      a.op = undefined;
      if (a.state === ZSwState.RESTARTING || a.state === ZSwState.PURGING || a.state === ZSwState.HALTED || a.state === ZSwState.INSTALLED) {
        this.set(a, ZSwState.INITIAL, now);
      }
    }
    if (halting) {
      if (a.state === ZSwState.RUNNING || a.state === ZSwState.BOOTING) return this.set(a, ZSwState.HALTING, now);
      if (a.state === ZSwState.HALTING) {
        for (const n of a.nets) {
          this.release(n.mac);
          n.ip = undefined;
        }
        this.releaseAdapters(a);
        a.op = undefined;
        return this.set(a, ZSwState.HALTED, now);
      }
      if (a.op === 'halt') a.op = undefined;
    }
    if (a.state === ZSwState.RUNNING || a.state === ZSwState.HALTED) return;
    // dependencies: volumes (and their content trees), then network instances
    const dep = this.dependencies(a);
    if (a.state === ZSwState.ERROR) {
      // an app in error recovers when what it waits for recovers (e.g. a download retry succeeded)
      if (dep.error || !a.errs.length || a.errs[0]!.description === 'missing fixedresources' || this.appsFail()) return;
      a.errs = [];
    }
    if (dep.error) return this.appError(a, dep.error, now);
    if (dep.wait !== undefined) return this.set(a, dep.wait, now);
    if (!a.cfg.fixedresources) return this.appError(a, 'missing fixedresources', now);
    const adapterErr = this.reserveAdapters(a);
    if (adapterErr) return this.appError(a, adapterErr, now);
    if (a.state !== ZSwState.INSTALLED && a.state !== ZSwState.BOOTING) return this.set(a, ZSwState.INSTALLED, now);
    if (halting) return;
    if (a.state === ZSwState.INSTALLED) return this.set(a, ZSwState.BOOTING, now);
    if (this.appsFail()) return this.appError(a, `app did not start on EVE ${this.runningVersion} (simulated)`, now);
    // BOOTING → RUNNING: the guest gets its DHCP leases
    for (const n of a.nets) {
      const ni = this.nis.get(n.niUuid)!;
      const want = a.cfg.interfaces.find((i) => (i.name || '') === n.name)?.addr;
      n.ip = want || this.lease(ni, n.mac);
      if (want) {
        ni.leases.set(n.mac, want);
        this.touch(`ni:${ni.uuid}`);
      }
    }
    this.set(a, ZSwState.RUNNING, now);
  }

  private appsFail(): boolean {
    return this.knobs.appsFailOn?.(this.runningVersion) ?? false;
  }

  private stepBaseOs(now: number): { reboot?: { reason: string; boot: BootReason } } {
    const b = this.baseos;
    if (!b) return {};
    const other = this.partitions[1 - this.current]!;
    const cur = this.partitions[this.current]!;
    if (b.phase === 'downloading') {
      const ct = this.cts.get(b.ctUuid);
      if (!ct) return {};
      if (ct.state === ZSwState.ERROR) {
        other.status = ZSwState.ERROR;
        other.userStatus = BaseOsStatus.FAILED;
        other.err = { description: ct.err?.description ?? 'download failed', time: now };
        b.phase = 'failed';
        this.state = ZDeviceState.ZDEVICE_STATE_ONLINE;
        this.touch('device');
        return {};
      }
      const st = ct.state === ZSwState.LOADED ? ZSwState.DOWNLOADED : ct.state;
      if (other.status !== st || other.progress !== ct.progress) {
        other.status = st;
        other.progress = ct.progress;
        other.subStatus = ct.state >= ZSwState.VERIFYING ? BaseOsSubStatus.VERIFY_INPROGRESS : BaseOsSubStatus.DOWNLOAD_INPROGRESS;
        this.touch('device');
      }
      if (ct.state === ZSwState.LOADED) {
        b.phase = b.activate ? 'installing' : 'staged';
        other.partitionState = b.activate ? 'updating' : 'unused';
        other.status = b.activate ? ZSwState.INSTALLED : ZSwState.DOWNLOADED;
        other.userStatus = BaseOsStatus.DOWNLOAD_DONE;
        other.subStatus = b.activate ? BaseOsSubStatus.UPDATE_INITIALIZING : BaseOsSubStatus.NONE_SUBSTATUS;
        other.subStatusStr = b.activate ? 'Installing' : 'Downloaded, not activated';
        other.progress = 100;
        if (!b.activate) this.log('info', 'baseosmgr', `EVE image ${b.version} downloaded to ${other.label}; not activated`, now);
        this.touch('device');
      }
      return {};
    }
    if (b.phase === 'staged') return {};
    if (b.phase === 'installing') {
      other.partitionState = 'updating';
      other.status = ZSwState.INSTALLED;
      b.phase = 'rebooting';
      other.userStatus = BaseOsStatus.UPDATING;
      other.subStatus = BaseOsSubStatus.UPDATE_REBOOTING;
      other.subStatusStr = 'Rebooting into new image';
      this.state = ZDeviceState.ZDEVICE_STATE_REBOOTING;
      this.touch('device');
      return { reboot: { reason: `Reboot from agent baseosmgr for EVE image update to ${b.version}`, boot: BootReason.UPDATE } };
    }
    if (b.phase === 'testing') {
      // The test image must reach the controller before the fallback deadline, then stay up.
      const failing = this.knobs.failUpdate?.(b.version) ?? false;
      if (failing || (!b.contacted && this.sim() >= b.contactDeadline!)) {
        const why = failing
          ? `new image ${b.version} failed its test boot (simulated)`
          : `no controller connectivity within ${this.seconds('timer.update.fallback.no.network') / SECOND} s`;
        b.phase = 'failed';
        cur.partitionState = 'unused';
        cur.status = ZSwState.ERROR;
        cur.userStatus = BaseOsStatus.FALLBACK;
        cur.subStatus = BaseOsSubStatus.NONE_SUBSTATUS;
        cur.err = { description: why, time: now };
        this.log('error', 'baseosmgr', `falling back: ${why}`, now);
        this.touch('device');
        return { reboot: { reason: `Reboot from agent nodeagent: fallback from ${b.version}: ${why}`, boot: BootReason.FALLBACK } };
      }
      if (b.contacted && this.sim() >= b.commitAt!) {
        b.phase = 'done';
        cur.partitionState = 'active';
        cur.status = ZSwState.RUNNING;
        cur.userStatus = BaseOsStatus.UPDATED;
        cur.subStatus = BaseOsSubStatus.NONE_SUBSTATUS;
        cur.subStatusStr = '';
        other.partitionState = 'unused';
        other.status = ZSwState.INSTALLED;
        this.baseosUpdateCounter++;
        this.state = ZDeviceState.ZDEVICE_STATE_ONLINE;
        this.log('info', 'baseosmgr', `EVE image ${b.version} committed on ${cur.label}`, now);
        this.touch('device');
      }
    }
    return {};
  }

  /** The device reached the controller (config 200/304): used by base-OS testing. */
  controllerContact(now: number): void {
    const b = this.baseos;
    if (b?.phase === 'testing' && !b.contacted) {
      b.contacted = true;
      b.commitAt = this.sim() + this.seconds('timer.test.baseimage.update');
      this.log('info', 'nodeagent', `test image reached the controller; commit in ${this.seconds('timer.test.baseimage.update') / SECOND} s`, now);
    }
  }

  private beginShutdown(): void {
    this.state = ZDeviceState.ZDEVICE_STATE_PREPARING_POWEROFF;
    this.touch('device');
  }

  /**
   * A reboot happened: new boot time, reason, partition switch for updates/fallbacks; apps,
   * NIs and info state restart (downloads and volumes persist on disk).
   */
  rebooted(reason: string, boot: BootReason, now: number): void {
    this.lastRebootTime = now;
    this.rebootReason = reason;
    this.bootReason = boot;
    this.restartCounter++;
    const b = this.baseos;
    if (boot === BootReason.UPDATE && b?.phase === 'rebooting') {
      this.current = (1 - this.current) as 0 | 1;
      const cur = this.partitions[this.current]!;
      const old = this.partitions[1 - this.current]!;
      cur.partitionState = 'inprogress';
      cur.status = ZSwState.RUNNING;
      cur.subStatus = BaseOsSubStatus.UPDATE_TESTING;
      cur.subStatusStr = 'Testing new image';
      old.status = ZSwState.INSTALLED;
      old.partitionState = 'active';
      b.phase = 'testing';
      b.testStartedAt = now;
      b.contacted = false;
      b.contactDeadline = this.sim() + this.seconds('timer.update.fallback.no.network');
    } else if (boot === BootReason.FALLBACK) {
      this.current = (1 - this.current) as 0 | 1;
      const cur = this.partitions[this.current]!;
      cur.partitionState = 'active';
      cur.status = ZSwState.RUNNING;
    }
    if (this.state !== ZDeviceState.ZDEVICE_STATE_MAINTENANCE_MODE) this.state = ZDeviceState.ZDEVICE_STATE_BOOTING;
    if (b?.phase === 'testing') this.state = ZDeviceState.ZDEVICE_STATE_BASEOS_UPDATING;
    for (const ni of this.nis.values()) {
      ni.state = ZNetworkInstanceState.ZNETINST_STATE_INIT;
      ni.leases.clear();
      this.touch(`ni:${ni.uuid}`);
    }
    this.assignedAdapters.clear();
    for (const a of this.apps.values()) {
      a.op = undefined;
      for (const n of a.nets) n.ip = undefined;
      a.state = ZSwState.INITIAL;
      a.errs = [];
      this.touch(`app:${a.uuid}`);
    }
    for (const ct of this.cts.values()) if (ct.state === ZSwState.ERROR) ct.retryAt = this.sim();
    this.dirty.add('device');
    this.dirty.add('hw');
    this.log('info', 'nodeagent', `booted: ${reason}`, now);
  }

  /** The device is up and talking to the controller. */
  online(): void {
    if (this.state === ZDeviceState.ZDEVICE_STATE_BOOTING || this.state === ZDeviceState.ZDEVICE_STATE_REBOOTING) {
      this.state = this.baseos?.phase === 'testing' ? ZDeviceState.ZDEVICE_STATE_BASEOS_UPDATING : ZDeviceState.ZDEVICE_STATE_ONLINE;
      this.touch('device');
    }
  }

  /** Mark every object for re-sending (controller_epoch changed, or a new UUID). */
  touchAll(): void {
    this.dirty.add('device');
    this.dirty.add('hw');
    for (const k of this.apps.keys()) this.dirty.add(`app:${k}`);
    for (const k of this.nis.keys()) this.dirty.add(`ni:${k}`);
    for (const k of this.vols.keys()) this.dirty.add(`vol:${k}`);
    for (const k of this.cts.keys()) this.dirty.add(`ct:${k}`);
  }

  /** Summary for tests and progress: app states by name. */
  appStates(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const a of this.apps.values()) out[a.cfg.displayname || a.uuid] = ZSwState[a.state]!;
    return out;
  }
}

export const MODEL_DEFAULT_STEP_MS = 2 * SECOND;
export const REBOOT_DURATION_MS = 1 * MINUTE;
