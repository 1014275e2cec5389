// Info ingestion: what devices report (ZInfoMsg) becomes status of the EdgeNode, AppInstance,
// Volume and NetworkInstance objects. Each message is turned into the status fields it speaks
// for; the object is written only when they differ from what is stored. Events mark the
// transitions an operator cares about (reboot, base OS update done/failed, app error).

import type { KObject } from '../../apiserver/resource.ts';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import {
  BaseOsStatus,
  ZDeviceState,
  ZNetworkInstanceState,
  ZSwState,
  type ZInfoApp,
  type ZInfoDevice,
  type ZInfoMsg,
  type ZInfoNetworkInstance,
  type ZInfoVolume,
} from '../../eve/gen/info/info_pb.ts';
import { Severity, type ErrorInfo } from '../../eve/gen/info/common_pb.ts';
import { PhyIoMemberUsage, PhyIoType } from '../../eve/gen/evecommon/devmodelcommon_pb.ts';
import type { GVR } from '../runtime/index.ts';
import type { NodeIndex } from './nodes.ts';
import { appUuid, type UuidOwner } from './mapping.ts';
import type { EventRecorder } from './recorder.ts';
import { APPINSTANCES, EDGENODES, NETWORKINSTANCES, VOLUMES, getCondition, rfc3339, setCondition, type Condition, type StatusWriter } from './status.ts';

export interface OwnerLookup {
  /** AppInstance by UUID (= metadata.uid), NetworkInstance/Volume by derived UUID, on device `nodeName`. */
  owner(uuid: string): UuidOwner | undefined;
}

/** Years 0001-9999: what a protobuf Timestamp and a Kubernetes time may hold. */
const MIN_TIME_MS = -62_135_596_800_000;
const MAX_TIME_MS = 253_402_300_799_999;
/** A device timestamp as RFC 3339; one out of range (a device's bad clock or bad data) is no time at all, not an error. */
const ts = (t: Timestamp | undefined) => {
  if (!t || t.nanos < 0 || t.nanos > 999_999_999) return undefined;
  const ms = Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);
  return ms >= MIN_TIME_MS && ms <= MAX_TIME_MS ? rfc3339(ms) : undefined;
};
const ARCH: Record<string, string> = { x86_64: 'amd64', amd64: 'amd64', aarch64: 'arm64', arm64: 'arm64', riscv64: 'riscv64' };

/** "DOWNLOAD_STARTED" → "DownloadStarted" (condition reasons are CamelCase). */
export function camel(s: string): string {
  return s
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

const swState = (s: ZSwState) => ZSwState[s] ?? String(s);

function errText(errs: (ErrorInfo | undefined)[]): string {
  return errs
    .filter((e): e is ErrorInfo => !!e && !!e.description)
    .map((e) => e.description)
    .join('; ');
}

function devicePhase(state: ZDeviceState): string | undefined {
  switch (state) {
    case ZDeviceState.ZDEVICE_STATE_ONLINE:
      return 'Online';
    case ZDeviceState.ZDEVICE_STATE_BOOTING:
    case ZDeviceState.ZDEVICE_STATE_REBOOTING:
      return 'Rebooting';
    case ZDeviceState.ZDEVICE_STATE_BASEOS_UPDATING:
      return 'Updating';
    case ZDeviceState.ZDEVICE_STATE_MAINTENANCE_MODE:
      return 'Maintenance';
    case ZDeviceState.ZDEVICE_STATE_PREPARING_POWEROFF:
    case ZDeviceState.ZDEVICE_STATE_POWERING_OFF:
    case ZDeviceState.ZDEVICE_STATE_PREPARED_POWEROFF:
      return 'PoweringOff';
    default:
      return undefined;
  }
}

/** BaseOSReady from the desired base OS (spec.baseOS) and the partitions the device reports. */
export function baseOsCondition(spec: KObject | undefined, d: ZInfoDevice): Condition {
  const active = d.swList.find((p) => p.activated) ?? d.swList[0];
  const running = active?.shortVersion ?? '';
  const want: string | undefined = spec?.version;
  if (!want) return { type: 'BaseOSReady', status: 'True', reason: 'Running', message: `running EVE ${running}` };
  const target = d.swList.find((p) => p.shortVersion === want);
  // Pre-staging (activate=false): the image is downloaded into the other partition and stays there.
  if (spec?.activate === false && running !== want) {
    if (target?.userStatus === BaseOsStatus.FAILED) {
      return {
        type: 'BaseOSReady',
        status: 'False',
        reason: 'UpdateFailed',
        message: `download of ${want} failed: ${target.swErr?.description || 'the download failed'}`,
      };
    }
    if (target && target.userStatus >= BaseOsStatus.DOWNLOAD_DONE) {
      return {
        type: 'BaseOSReady',
        status: 'True',
        reason: 'Staged',
        message: `running EVE ${running}; ${want} downloaded to ${target.partitionLabel}, not activated`,
      };
    }
    const progress = target?.downloadProgress ? ` (${target.downloadProgress}%)` : '';
    return {
      type: 'BaseOSReady',
      status: 'False',
      reason: 'Downloading',
      message: `running EVE ${running}; downloading ${want} without activating${progress}`,
    };
  }
  if (spec?.activate === false) return { type: 'BaseOSReady', status: 'True', reason: 'Running', message: `running EVE ${running}` };
  if (target && (target.userStatus === BaseOsStatus.FALLBACK || target.userStatus === BaseOsStatus.FAILED)) {
    const fell = target.userStatus === BaseOsStatus.FALLBACK;
    const why = target.swErr?.description || (fell ? 'the new image failed its test boot' : 'the update failed');
    // The other partition is what the device falls back to (it may still be booting the failed one).
    const previous = d.swList.find((p) => p !== target)?.shortVersion || running;
    return {
      type: 'BaseOSReady',
      status: 'False',
      reason: fell ? 'Fallback' : 'UpdateFailed',
      message: `update to ${want} ${fell ? `fell back to ${previous}` : 'failed'}: ${why}`,
    };
  }
  if (active && running === want && active.partitionState !== 'inprogress') {
    return { type: 'BaseOSReady', status: 'True', reason: 'Updated', message: `running EVE ${running}` };
  }
  const step = target ? target.subStatusStr || camel(BaseOsStatus[target.userStatus] ?? '') : 'update requested';
  const progress = target?.downloadProgress ? ` (${target.downloadProgress}%)` : '';
  return { type: 'BaseOSReady', status: 'False', reason: 'Updating', message: `updating from ${running} to ${want}: ${step}${progress}` };
}

const VOLUME_READY = (s: string) => s === 'CREATED_VOLUME';
const NI_READY = (s: string) => s === 'ONLINE';

/** Device IO types as the adapter kinds kubeve names (status.adapters[].type, extended resource kubeve.io/<type>). */
const ADAPTER_TYPES: Partial<Record<PhyIoType, string>> = {
  [PhyIoType.PhyIoUSB]: 'usb',
  [PhyIoType.PhyIoUSBController]: 'usb',
  [PhyIoType.PhyIoUSBDevice]: 'usb',
  [PhyIoType.PhyIoCOM]: 'serial',
  [PhyIoType.PhyIoHDMI]: 'gpu',
  [PhyIoType.PhyIoOther]: 'pci',
  [PhyIoType.PhyIoNVMEStorage]: 'pci',
  [PhyIoType.PhyIoSATAStorage]: 'pci',
  [PhyIoType.PhyIoNetEth]: 'ethernet',
  [PhyIoType.PhyIoNetEthPF]: 'ethernet',
  [PhyIoType.PhyIoAudio]: 'audio',
  [PhyIoType.PhyIoNetWLAN]: 'wlan',
  [PhyIoType.PhyIoNetWWAN]: 'wwan',
  [PhyIoType.PhyIoCAN]: 'can',
};
const NOT_ASSIGNABLE = new Set([
  PhyIoMemberUsage.PhyIoUsageMgmtAndApps,
  PhyIoMemberUsage.PhyIoUsageMgmtOnly,
  PhyIoMemberUsage.PhyIoUsageDisabled,
  PhyIoMemberUsage.PhyIoUsageShared,
]);

/** The IO bundles an app may be given: not the device's own (management) ports, sorted by name. */
function assignableAdapters(d: ZInfoDevice): KObject[] {
  return d.assignableAdapters
    .filter((b) => b.name && ADAPTER_TYPES[b.type] && !b.usedByBaseOS && !NOT_ASSIGNABLE.has(b.usage))
    .map((b) => ({
      name: b.name,
      type: ADAPTER_TYPES[b.type]!,
      ...(b.members.length ? { members: [...b.members] } : {}),
      ...(b.usedByAppUUID ? { usedByApp: b.usedByAppUUID } : {}),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export class Ingest {
  constructor(
    private readonly index: NodeIndex,
    private readonly owners: OwnerLookup,
    private readonly status: StatusWriter,
    private readonly events: EventRecorder,
  ) {}

  /** DeviceHooks.onInfo. Throws (→ 503, EVE re-queues) only if storage fails. */
  async info(uuid: string, msg: ZInfoMsg): Promise<void> {
    const node = this.index.byUuid.get(uuid);
    if (!node) return;
    const c = msg.InfoContent;
    switch (c.case) {
      case 'dinfo':
        return this.device(node.name, c.value);
      case 'ainfo':
        return this.app(node.name, c.value);
      case 'vinfo':
        return this.volume(node.name, c.value);
      case 'niinfo':
        return this.network(node.name, c.value);
    }
  }

  private async device(name: string, d: ZInfoDevice): Promise<void> {
    const r = await this.status.mutate(EDGENODES, undefined, name, (st, obj) => {
      const hw: KObject = {};
      if (d.minfo?.manufacturer) hw.manufacturer = d.minfo.manufacturer;
      if (d.minfo?.productName) hw.model = d.minfo.productName;
      const arch = ARCH[d.machineArch] ?? d.machineArch;
      if (arch) hw.architecture = arch;
      if (d.ncpu) hw.cpus = d.ncpu;
      if (d.memory) hw.memory = `${d.memory}Mi`;
      if (d.storage) hw.storage = `${d.storage}Mi`;
      st.hardware = hw;
      const adapters = assignableAdapters(d);
      if (adapters.length) st.adapters = adapters;
      else delete st.adapters;
      const active = d.swList.find((p) => p.activated);
      if (active?.shortVersion) st.eveVersion = active.shortVersion;
      st.partitions = d.swList.map((p) => ({
        label: p.partitionLabel,
        version: p.shortVersion,
        state: p.partitionState,
        ...(p.shortVersion ? { status: BaseOsStatus[p.userStatus] ?? String(p.userStatus) } : {}),
        ...(p.downloadProgress ? { progress: p.downloadProgress } : {}),
        ...(p.swErr?.description ? { error: p.swErr.description } : {}),
      }));
      const sa = d.systemAdapter;
      const ports = sa?.status[sa.currentIndex]?.ports ?? sa?.status[0]?.ports ?? [];
      st.interfaces = ports.map((p) => ({
        name: p.name || p.ifname,
        ifname: p.ifname,
        ...(p.macAddr ? { macAddress: p.macAddr } : {}),
        ipAddresses: [...p.IPAddrs],
        up: p.up,
        usage: p.isMgmt ? 'management' : 'app',
      }));
      if (d.lastRebootReason) st.lastRebootReason = d.lastRebootReason;
      const rebootTime = ts(d.lastRebootTime);
      if (rebootTime) st.lastRebootTime = rebootTime;
      const phase = devicePhase(d.state);
      if (phase && st.phase !== 'Offline') st.phase = phase;
      setCondition(st, baseOsCondition(obj.spec?.baseOS, d));
    });
    if (!r.written || !r.object) return;
    const before = r.before?.status ?? {};
    const after = r.object.status ?? {};
    // A reboot is a new lastRebootTime on a device that had reported before (not its first report).
    if (before.hardware && after.lastRebootTime && after.lastRebootTime !== before.lastRebootTime) {
      void this.events.record(r.object, 'Normal', 'Rebooted', `device rebooted: ${after.lastRebootReason ?? 'unknown reason'}`);
    }
    const was = getCondition(r.before, 'BaseOSReady');
    const now = getCondition(r.object, 'BaseOSReady')!;
    if (was && (was.status !== now.status || was.reason !== now.reason)) {
      if (now.reason === 'Updated') void this.events.record(r.object, 'Normal', 'BaseOSUpdated', now.message);
      else if (now.reason === 'Fallback' || now.reason === 'UpdateFailed') void this.events.record(r.object, 'Warning', 'BaseOSUpdateFailed', now.message);
    }
  }

  private async app(node: string, a: ZInfoApp): Promise<void> {
    const o = this.owners.owner(a.AppID.toLowerCase());
    // The deletion signal (ID only, INVALID): the AppInstance is gone or no longer on this device.
    if (!o || o.kind !== 'app' || o.node !== node || (a.state === ZSwState.INVALID && !a.AppName)) return;
    const errors = errText(a.appErr);
    const r = await this.status.mutate(APPINSTANCES, o.ns, o.name, (st, obj) => {
      st.uuid = appUuid(obj);
      st.state = swState(a.state);
      st.ipAddresses = a.network.flatMap((n) => n.IPAddrs);
      st.interfaces = a.network.map((n) => ({
        name: n.localName || n.devName,
        ...(n.macAddr ? { macAddress: n.macAddr } : {}),
        ipAddresses: [...n.IPAddrs],
      }));
      // The device lists the volumes the app uses now: entries of volumes it no longer mounts go.
      if (a.volumeRefs.length && Array.isArray(st.volumes)) {
        const refs = new Set(a.volumeRefs.map((u) => u.toLowerCase()));
        st.volumes = st.volumes.filter((x: KObject) => refs.has(x.uuid));
      }
      if (a.appErr.length) {
        st.errors = a.appErr.map((e) => ({
          message: e.description,
          severity: camel(Severity[e.severity] ?? 'UNSPECIFIED'),
          ...(ts(e.timestamp) ? { time: ts(e.timestamp) } : {}),
        }));
      } else delete st.errors;
      const gen = obj.metadata.generation;
      const ready: Condition =
        a.state === ZSwState.RUNNING
          ? { type: 'Ready', status: 'True', reason: 'Running', message: 'the app instance is running' }
          : a.state === ZSwState.ERROR
            ? { type: 'Ready', status: 'False', reason: 'Error', message: errors || 'EVE reports an error' }
            : { type: 'Ready', status: 'False', reason: camel(swState(a.state)), message: errors || `EVE reports ${swState(a.state)}` };
      setCondition(st, { ...ready, ...(gen !== undefined ? { observedGeneration: gen } : {}) });
    });
    if (r.written && r.object && a.state === ZSwState.ERROR && r.before?.status?.state !== 'ERROR') {
      void this.events.record(r.object, 'Warning', 'AppError', errors || 'EVE reports an error');
    }
  }

  private async volume(node: string, v: ZInfoVolume): Promise<void> {
    const o = this.owners.owner(v.uuid.toLowerCase());
    if (!o || o.node !== node) return;
    const gone = v.state === ZSwState.INVALID && !v.displayName;
    const entry = {
      uuid: v.uuid.toLowerCase(),
      state: swState(v.state),
      ...(v.progressPercentage ? { progress: v.progressPercentage } : {}),
      ...(v.volumeErr?.description ? { error: v.volumeErr.description } : {}),
    };
    if (o.kind === 'appvolume') {
      await this.appVolume(o.ns, o.name, o.volume, gone ? undefined : entry);
    } else if (o.kind === 'volume') {
      await this.perDevice(VOLUMES, o.ns, o.name, node, gone ? undefined : entry, VOLUME_READY);
      // The apps mounting this copy list it among their volumes too.
      for (const m of o.mounts) await this.appVolume(o.ns, m.app, m.volume, gone ? undefined : entry);
    }
  }

  /** One entry of an AppInstance's status.volumes (removed when `entry` is undefined). */
  private async appVolume(ns: string, app: string, volume: string, entry: KObject | undefined): Promise<void> {
    await this.status.mutate(APPINSTANCES, ns, app, (st) => {
      const vols: KObject[] = (st.volumes ?? []).filter((x: KObject) => x.name !== volume);
      if (entry) vols.push({ name: volume, ...entry });
      vols.sort((x, y) => String(x.name).localeCompare(String(y.name)));
      st.volumes = vols;
    });
  }

  /**
   * The render no longer places `uuid` on the device (its app or node is gone): the template's
   * per-device entry goes now, since the device's deletion report can no longer be attributed.
   */
  async released(uuid: string, o: UuidOwner): Promise<void> {
    if (o.kind === 'volume') await this.perDevice(VOLUMES, o.ns, o.name, o.node, undefined, VOLUME_READY, uuid);
    else if (o.kind === 'networkinstance') await this.perDevice(NETWORKINSTANCES, o.ns, o.name, o.node, undefined, NI_READY, uuid);
  }

  private async network(node: string, n: ZInfoNetworkInstance): Promise<void> {
    const o = this.owners.owner(n.networkID.toLowerCase());
    if (!o || o.kind !== 'networkinstance' || o.node !== node) return;
    const gone = !n.displayname && n.state === ZNetworkInstanceState.ZNETINST_STATE_UNSPECIFIED;
    const err = errText(n.networkErr);
    const state = (ZNetworkInstanceState[n.state] ?? '').replace('ZNETINST_STATE_', '');
    const entry = { uuid: n.networkID.toLowerCase(), state, ...(err ? { error: err } : {}) };
    await this.perDevice(NETWORKINSTANCES, o.ns, o.name, node, gone ? undefined : entry, NI_READY);
  }

  /**
   * status.devices[nodeName] of a per-device template (Volume, NetworkInstance) and its Ready condition.
   * With `onlyUuid`, the node's entry is removed only if it is that copy.
   */
  private async perDevice(
    r: GVR,
    ns: string,
    name: string,
    node: string,
    entry: KObject | undefined,
    ok: (state: string) => boolean,
    onlyUuid?: string,
  ): Promise<void> {
    await this.status.mutate(r, ns, name, (st, obj) => {
      if (onlyUuid && !(st.devices ?? []).some((d: KObject) => d.nodeName === node && d.uuid === onlyUuid)) return false;
      const devices: KObject[] = (st.devices ?? []).filter((d: KObject) => d.nodeName !== node);
      if (entry) devices.push({ nodeName: node, ...entry });
      devices.sort((a, b) => String(a.nodeName).localeCompare(String(b.nodeName)));
      st.devices = devices;
      const bad = devices.filter((d) => !ok(d.state));
      const errored = bad.find((d) => d.error);
      const gen = obj.metadata.generation;
      setCondition(st, {
        ...(bad.length === 0
          ? {
              type: 'Ready',
              status: 'True',
              reason: devices.length ? 'Ready' : 'NotUsed',
              message: devices.length ? `ready on ${devices.length} device(s)` : 'no device uses it',
            }
          : errored
            ? { type: 'Ready', status: 'False', reason: 'Error', message: `${errored.nodeName}: ${errored.error}` }
            : { type: 'Ready', status: 'False', reason: camel(bad[0]!.state), message: `${bad[0]!.nodeName}: ${bad[0]!.state}` }),
        ...(gen !== undefined ? { observedGeneration: gen } : {}),
      } as Condition);
    });
  }
}
