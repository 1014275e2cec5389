// Status messages a simulated device sends, shaped as EVE's zedagent builds them: ZInfoMsg per
// object (device, hardware, app, network instance, volume, content tree; deletions carry only
// the ID), ZMetricMsg, and newlogs gzip files (JSON lines, LogBundle JSON in the gzip comment,
// app name in the gzip file name).
import type { LogEntryJson } from '../eve/newlogs.ts';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  ZInfoMsgSchema,
  ZInfoTypes,
  ZSwState,
  HwSecurityModuleStatus,
  APICapability,
  type ZInfoMsg,
  type ZInfoDevSW,
  type ZInfoNetwork,
} from '../eve/gen/info/info_pb.ts';
import { Severity, type ErrorInfo } from '../eve/gen/info/common_pb.ts';
import { ZMetricMsgSchema } from '../eve/gen/metrics/metrics_pb.ts';
import { PhyIoMemberUsage, PhyIoType } from '../eve/gen/evecommon/devmodelcommon_pb.ts';
import type { DeviceModel, InfoKey, SimError, LogLine, Partition, SimAdapter } from './model.ts';

const ADAPTER_PHY_TYPES: Record<SimAdapter['type'], PhyIoType> = {
  usb: PhyIoType.PhyIoUSB,
  pci: PhyIoType.PhyIoOther,
  serial: PhyIoType.PhyIoCOM,
  gpu: PhyIoType.PhyIoHDMI,
};

/** ZInfoDevice.assignableAdapters: the management ports (used by EVE itself), then the passthrough adapters. */
function ioBundles(m: DeviceModel) {
  return [
    ...m.hw.ports.map((p) => ({
      type: PhyIoType.PhyIoNetEth,
      name: p.ifname,
      members: [p.ifname],
      usedByBaseOS: true,
      usage: PhyIoMemberUsage.PhyIoUsageMgmtAndApps,
      ioAddressList: [{ macAddress: p.mac }],
    })),
    ...(m.hw.adapters ?? []).map((a) => ({
      type: ADAPTER_PHY_TYPES[a.type],
      name: a.name,
      members: [a.address ?? a.name],
      usedByAppUUID: m.assignedAdapters.get(a.name) ?? '',
      usage: PhyIoMemberUsage.PhyIoUsageDedicated,
    })),
  ];
}

export interface ReportContext {
  devUuid: string;
  serial: string;
  now: number;
}

function errInfo(e: SimError | undefined): ErrorInfo | undefined {
  return (
    e && {
      $typeName: 'org.lfedge.eve.info.ErrorInfo',
      description: e.description,
      timestamp: timestampFromMs(e.time),
      severity: Severity.ERROR,
      entities: [],
      retryCondition: '',
    }
  );
}

function longVersion(v: string): string {
  return v ? `${v} (kubeve simulator)` : '';
}

function devSw(p: Partition, active: boolean): Omit<ZInfoDevSW, '$typeName'> {
  return {
    activated: active,
    partitionLabel: p.label,
    partitionDevice: p.label === 'IMGA' ? '/dev/sda2' : '/dev/sda3',
    partitionState: p.partitionState,
    status: p.status,
    shortVersion: p.version,
    longVersion: longVersion(p.version),
    swErr: errInfo(p.err),
    downloadProgress: p.progress,
    userStatus: p.userStatus,
    subStatusStr: p.subStatusStr,
    subStatus: p.subStatus,
    subStatusProgress: p.progress,
  };
}

/** Build the ZInfoMsg for one info key (or a deletion message when the object is gone). */
export function buildInfo(m: DeviceModel, key: InfoKey, ctx: ReportContext): ZInfoMsg | undefined {
  const base = { devId: ctx.devUuid, atTimeStamp: timestampFromMs(ctx.now) };
  const [kind, id] = key.includes(':') ? [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)] : [key, ''];
  switch (kind) {
    case 'device':
      return deviceInfo(m, ctx);
    case 'hw':
      return create(ZInfoMsgSchema, {
        ...base,
        ztype: ZInfoTypes.ZiHardware,
        InfoContent: {
          case: 'hwinfo',
          value: {
            disks: [],
            eveRelease: m.runningVersion,
            kernelFlavor: 'kvm',
            kernelVersion: '6.1.112-linuxkit',
            evePlatform: 'generic',
            partition: m.partitions[m.current].label,
            kernelCmdline: `console=ttyS0 root=PARTUUID=${m.partitions[m.current].label}`,
          },
        },
      });
    case 'app': {
      const a = m.apps.get(id);
      if (!a) return create(ZInfoMsgSchema, { ...base, ztype: ZInfoTypes.ZiApp, InfoContent: { case: 'ainfo', value: { AppID: id } } });
      const network: Partial<ZInfoNetwork>[] = a.nets.map((n) => {
        const ni = m.nis.get(n.niUuid);
        return {
          macAddr: n.mac,
          devName: n.vif,
          IPAddrs: n.ip ? [n.ip] : [],
          defaultRouters: n.ip && ni?.gateway ? [ni.gateway] : [],
          dns: n.ip && ni?.gateway ? { DNSservers: [ni.gateway], DNSdomain: '', DNSsearch: [] } : undefined,
          uplink: false,
          localName: ni?.cfg.displayname ?? '',
          alias: n.name,
        } as Partial<ZInfoNetwork>;
      });
      return create(ZInfoMsgSchema, {
        ...base,
        ztype: ZInfoTypes.ZiApp,
        InfoContent: {
          case: 'ainfo',
          value: {
            AppID: a.uuid,
            appVersion: a.cfg.uuidandversion?.version ?? '',
            AppName: a.cfg.displayname,
            bootTime: a.bootTime !== undefined && a.state === ZSwState.RUNNING ? timestampFromMs(a.bootTime) : undefined,
            appErr: a.errs.map((e) => errInfo(e)!),
            state: a.state,
            network: network as ZInfoNetwork[],
            volumeRefs: a.cfg.volumeRefList.map((v) => v.uuid),
          },
        },
      });
    }
    case 'ni': {
      const ni = m.nis.get(id);
      if (!ni) return create(ZInfoMsgSchema, { ...base, ztype: ZInfoTypes.ZiNetworkInstance, InfoContent: { case: 'niinfo', value: { networkID: id } } });
      const vifs = [...m.apps.values()].flatMap((a) =>
        a.nets.filter((n) => n.niUuid === ni.uuid).map((n) => ({ vifName: n.vif, macAddress: n.mac, appID: a.uuid })),
      );
      return create(ZInfoMsgSchema, {
        ...base,
        ztype: ZInfoTypes.ZiNetworkInstance,
        InfoContent: {
          case: 'niinfo',
          value: {
            networkID: ni.uuid,
            networkVersion: ni.cfg.uuidandversion?.version ?? '',
            instType: ni.cfg.instType,
            displayname: ni.cfg.displayname,
            activated: ni.state === 2,
            upTimeStamp: ni.upTime !== undefined ? timestampFromMs(ni.upTime) : undefined,
            ports: ni.cfg.port?.name ? [m.hw.ports[0]?.ifname ?? 'eth0'] : [],
            bridgeNum: ni.bridgeNum,
            bridgeName: `bn${ni.bridgeNum}`,
            bridgeIPAddr: ni.gateway,
            ipAssignments: [...ni.leases].map(([mac, ip]) => ({ macAddress: mac, ipAddress: [ip] })),
            vifs,
            networkErr: ni.err ? [errInfo(ni.err)!] : [],
            state: ni.state,
            mtu: ni.cfg.mtu || 1500,
          },
        },
      });
    }
    case 'vol': {
      const v = m.vols.get(id);
      if (!v) return create(ZInfoMsgSchema, { ...base, ztype: ZInfoTypes.ZiVolume, InfoContent: { case: 'vinfo', value: { uuid: id } } });
      const ct = v.cfg.origin?.downloadContentTreeID ? m.cts.get(v.cfg.origin.downloadContentTreeID) : undefined;
      const max = v.cfg.maxsizebytes > 0n ? v.cfg.maxsizebytes : (ct?.sizeBytes ?? 1n << 30n);
      return create(ZInfoMsgSchema, {
        ...base,
        ztype: ZInfoTypes.ZiVolume,
        InfoContent: {
          case: 'vinfo',
          value: {
            uuid: v.cfg.uuid,
            displayName: v.cfg.displayName,
            resources: { maxSizeBytes: max, curSizeBytes: v.state === ZSwState.CREATED_VOLUME ? (ct?.sizeBytes ?? max / 100n) : 0n },
            usage: {
              createTime: timestampFromMs(ctx.now),
              refCount: [...m.apps.values()].filter((a) => a.cfg.volumeRefList.some((r) => r.uuid === v.cfg.uuid)).length,
            },
            state: v.state,
            progressPercentage: v.progress,
            volumeErr: errInfo(v.err),
            generationCount: v.cfg.generationCount,
          },
        },
      });
    }
    case 'ct': {
      const ct = m.cts.get(id);
      if (!ct) return create(ZInfoMsgSchema, { ...base, ztype: ZInfoTypes.ZiContentTree, InfoContent: { case: 'cinfo', value: { uuid: id } } });
      return create(ZInfoMsgSchema, {
        ...base,
        ztype: ZInfoTypes.ZiContentTree,
        InfoContent: {
          case: 'cinfo',
          value: {
            uuid: ct.cfg.uuid,
            displayName: ct.cfg.displayName,
            sha256: ct.state >= ZSwState.VERIFIED && ct.state !== ZSwState.ERROR ? ct.sha256 : '',
            resources: { curSizeBytes: (ct.sizeBytes * BigInt(ct.progress)) / 100n },
            state: ct.state,
            progressPercentage: ct.progress,
            err: errInfo(ct.err),
            componentShaList: ct.state === ZSwState.LOADED ? [ct.sha256] : [],
            generationCount: ct.cfg.generationCount,
          },
        },
      });
    }
  }
  return undefined;
}

function deviceInfo(m: DeviceModel, ctx: ReportContext): ZInfoMsg {
  const hw = m.hw;
  const configItems: Record<string, { value: string; error: string }> = {};
  for (const [k, v] of m.configItems) configItems[k] = { value: String(v), error: '' };
  for (const [k, e] of m.configItemErrors) configItems[k] = e;
  const unknown: Record<string, { value: string; error: string }> = {};
  for (const [k, v] of m.unknownConfigItems) unknown[k] = { value: v, error: 'unknown config item' };
  return create(ZInfoMsgSchema, {
    devId: ctx.devUuid,
    atTimeStamp: timestampFromMs(ctx.now),
    ztype: ZInfoTypes.ZiDevice,
    InfoContent: {
      case: 'dinfo',
      value: {
        machineArch: hw.machineArch,
        cpuArch: hw.cpuArch,
        platform: hw.platform,
        ncpu: hw.ncpu,
        memory: BigInt(hw.memoryMB),
        storage: BigInt(hw.storageMB),
        powerCycleCounter: 0n,
        minfo: {
          manufacturer: m.manufacturerOverride || hw.manufacturer,
          productName: m.productOverride || hw.productName,
          version: '1.0',
          serialNumber: ctx.serial,
          UUID: ctx.devUuid,
          compatible: '',
          biosVendor: 'SeaBIOS',
          biosVersion: '1.16.3',
          biosReleaseDate: '04/01/2014',
        },
        assignableAdapters: ioBundles(m),
        storageList: [{ device: 'sda9', mountPath: '/persist', total: BigInt(hw.storageMB), storageLocation: true }],
        bootTime: timestampFromMs(m.bootTime),
        swList: [devSw(m.partitions[0], m.current === 0), devSw(m.partitions[1], m.current === 1)],
        HostName: ctx.devUuid,
        lastRebootReason: m.rebootReason,
        lastRebootTime: m.lastRebootTime !== undefined ? timestampFromMs(m.lastRebootTime) : undefined,
        systemAdapter: {
          currentIndex: 0,
          status: [
            {
              version: 1,
              key: 'zedagent',
              timePriority: timestampFromMs(m.bootTime),
              lastSucceeded: timestampFromMs(ctx.now),
              ports: hw.ports.map((p) => ({
                ifname: p.ifname,
                name: p.ifname,
                isMgmt: true,
                dhcpType: 4,
                subnet: p.subnet,
                macAddr: p.mac,
                IPAddrs: [p.ip],
                defaultRouters: [p.gateway],
                dns: { DNSservers: [p.gateway], DNSdomain: '', DNSsearch: [] },
                up: true,
                usage: PhyIoMemberUsage.PhyIoUsageMgmtAndApps,
                cost: 0,
                mtu: 1500,
              })),
              lastError: '',
            },
          ],
        },
        restartCounter: m.restartCounter,
        HSMStatus: HwSecurityModuleStatus.NOTFOUND,
        configItemStatus: { configItems, unknownConfigItems: unknown },
        appInstances: [...m.apps.values()].map((a) => ({ uuid: a.uuid, name: a.cfg.displayname, domainName: `${a.uuid}.1.1` })),
        rebootConfigCounter: m.rebootCounter ?? 0,
        lastBootReason: m.bootReason,
        maintenanceMode: m.maintenanceMode,
        baseosUpdateCounter: m.baseosUpdateCounter,
        state: m.state,
        shutdownConfigCounter: m.shutdownCounter ?? 0,
        apiCapability: APICapability.API_CAPABILITY_ENFORCED_NET_INTERFACE_ORDER,
        deviceName: m.deviceName,
        projectName: m.projectName,
        enterpriseName: m.enterpriseName,
      },
    },
  });
}

export function encodeInfo(msg: ZInfoMsg): Uint8Array {
  return toBinary(ZInfoMsgSchema, msg);
}

export interface MetricCounters {
  bootedAt: number;
  ticks: number;
  success: number;
  failures: number;
  lastSuccess?: number;
  lastFailure?: number;
  authVerifyFailure: number;
  lastReceivedConfig?: number;
  lastProcessedConfig?: number;
  urls: Map<string, { tries: number; sent: number; bytesSent: number; bytesRecv: number; msTotal: number; resumed: number }>;
}

/** ZMetricMsg with device, app, network-instance and volume metrics (monotonic counters grow per tick). */
export function buildMetrics(m: DeviceModel, ctx: ReportContext, c: MetricCounters): Uint8Array {
  const t = ++c.ticks;
  const up = Math.max(0, ctx.now - m.bootTime);
  const appMem = [...m.apps.values()].reduce((s, a) => s + (a.state === ZSwState.RUNNING ? Math.round((a.cfg.fixedresources?.memory ?? 0) / 1024) : 0), 0);
  const msg = create(ZMetricMsgSchema, {
    devID: ctx.devUuid,
    atTimeStamp: timestampFromMs(ctx.now),
    MetricContent: {
      case: 'dm',
      value: {
        memory: {
          usedMem: 600 + appMem,
          availMem: m.hw.memoryMB - 600 - appMem,
          usedPercentage: ((600 + appMem) / m.hw.memoryMB) * 100,
          availPercentage: 100 - ((600 + appMem) / m.hw.memoryMB) * 100,
        },
        deviceMemory: { memoryMB: m.hw.memoryMB, allocatedAppsMB: appMem, allocatedEveMB: 600, usedEveMB: 420 + (t % 50) },
        network: m.hw.ports.map((p) => ({
          iName: p.ifname,
          localName: p.ifname,
          txBytes: BigInt(t * 40_000),
          rxBytes: BigInt(t * 90_000),
          txPkts: BigInt(t * 300),
          rxPkts: BigInt(t * 500),
        })),
        zedcloud: m.hw.ports.slice(0, 1).map((p) => ({
          ifName: p.ifname,
          success: BigInt(c.success),
          failures: BigInt(c.failures),
          lastSuccess: c.lastSuccess !== undefined ? timestampFromMs(c.lastSuccess) : undefined,
          lastFailure: c.lastFailure !== undefined ? timestampFromMs(c.lastFailure) : undefined,
          authVerifyFailure: BigInt(c.authVerifyFailure),
          urlMetrics: [...c.urls].map(([url, u]) => ({
            url,
            tryMsgCount: BigInt(u.tries),
            sentMsgCount: BigInt(u.sent),
            sentByteCount: BigInt(u.bytesSent),
            recvMsgCount: BigInt(u.sent),
            recvByteCount: BigInt(u.bytesRecv),
            totalTimeSpent: BigInt(Math.round(u.msTotal)),
            sessResumeCount: BigInt(u.resumed),
          })),
        })),
        cpuMetric: {
          upTime: timestampFromMs(m.bootTime),
          total: BigInt(Math.round(((up / 1000) * m.hw.ncpu) / 10)),
          systemTotal: BigInt(Math.round((up / 1000) * m.hw.ncpu)),
        },
        disk: [
          {
            disk: 'sda',
            mountPath: '/persist',
            readBytes: BigInt(t * 1_000_000),
            writeBytes: BigInt(t * 2_000_000),
            total: BigInt(m.hw.storageMB),
            used: BigInt(Math.round(m.hw.storageMB / 5)),
            free: BigInt(Math.round((m.hw.storageMB * 4) / 5)),
          },
        ],
        lastReceivedConfig: c.lastReceivedConfig !== undefined ? timestampFromMs(c.lastReceivedConfig) : undefined,
        lastProcessedConfig: c.lastProcessedConfig !== undefined ? timestampFromMs(c.lastProcessedConfig) : undefined,
      },
    },
    am: [...m.apps.values()]
      .filter((a) => a.state === ZSwState.RUNNING)
      .map((a) => ({
        AppID: a.uuid,
        AppName: a.cfg.displayname,
        appVersion: a.cfg.uuidandversion?.version ?? '',
        cpu: { upTime: timestampFromMs(a.bootTime ?? ctx.now), total: BigInt(Math.round((ctx.now - (a.bootTime ?? ctx.now)) / 20_000)) },
        appMemory: { allocatedMB: Math.round((a.cfg.fixedresources?.memory ?? 0) / 1024), usedMB: Math.round((a.cfg.fixedresources?.memory ?? 0) / 3072) },
        network: a.nets.map((n) => ({ iName: n.vif, localName: n.name, txBytes: BigInt(t * 10_000), rxBytes: BigInt(t * 12_000) })),
      })),
    nm: [...m.nis.values()].map((ni) => ({
      networkID: ni.uuid,
      networkVersion: ni.cfg.uuidandversion?.version ?? '',
      instType: ni.cfg.instType,
      displayname: ni.cfg.displayname,
      activated: ni.state === 2,
      network: [{ iName: `bn${ni.bridgeNum}`, txBytes: BigInt(t * 20_000), rxBytes: BigInt(t * 22_000) }],
    })),
    vm: [...m.vols.values()]
      .filter((v) => v.state === ZSwState.CREATED_VOLUME)
      .map((v) => {
        const total = v.cfg.maxsizebytes > 0n ? v.cfg.maxsizebytes : 1n << 30n;
        return {
          uuid: v.cfg.uuid,
          displayName: v.cfg.displayName,
          totalBytes: total,
          usedBytes: total / 4n,
          freeBytes: total - total / 4n,
          readBytes: BigInt(t * 4096),
          writeBytes: BigInt(t * 8192),
        };
      }),
  });
  return toBinary(ZMetricMsgSchema, msg);
}

// ------------------------------------------------------------------------------------ logs

/** One LogEntry as Go's encoding/json writes it (omitempty; timestamp as {seconds,nanos}). */
export function logEntryJson(l: LogLine, msgid: number): LogEntryJson {
  const o: LogEntryJson = {
    severity: l.severity,
    source: l.source,
    content: l.content,
    msgid,
    timestamp: { seconds: Math.floor(l.time / 1000), nanos: (l.time % 1000) * 1e6 },
    filename: `/pillar/cmd/${l.source}/${l.source}.go:${100 + (msgid % 800)}`,
    function: `main.${l.source}Run`,
  };
  if (l.appUuid) o.iid = l.appUuid;
  return o;
}
