// Golden tests: kubeve's protobuf schema must put every field on EVE's field number.
//  1. Wire walk: encode messages with our generated code, then parse the raw bytes by hand and
//     compare tag numbers, wire types and enum values with numbers written out here from EVE's
//     published protos (lf-edge/eve-api proto/**; see the reference doc tables).
//  2. Descriptor check: every field and enum value we define is compared with a table
//     extracted from lf-edge/eve-api (test/eve/fixtures/eve-api-numbers.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, createRegistry, toBinary, type DescFile } from '@bufbuild/protobuf';
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { AuthContainerSchema } from '../../src/eve/gen/auth/auth_pb.ts';
import { ZCertSchema, ZControllerCertSchema } from '../../src/eve/gen/certs/certs_pb.ts';
import { ZRegisterMsgSchema } from '../../src/eve/gen/register/register_pb.ts';
import { UuidResponseSchema } from '../../src/eve/gen/eveuuid/eveuuid_pb.ts';
import { ConfigRequestSchema, ConfigResponseSchema, EdgeDevConfigSchema } from '../../src/eve/gen/config/devconfig_pb.ts';
import { ZInfoMsgSchema } from '../../src/eve/gen/info/info_pb.ts';
import { ZMetricMsgSchema } from '../../src/eve/gen/metrics/metrics_pb.ts';
import { ZAttestReqSchema, ZAttestResponseSchema } from '../../src/eve/gen/attest/attest_pb.ts';
import { LogEntrySchema } from '../../src/eve/gen/logs/log_pb.ts';
import { FlowMessageSchema } from '../../src/eve/gen/flowlog/flowlog_pb.ts';
import { ZHardwareHealthSchema } from '../../src/eve/gen/hardwarehealth/hardware_health_pb.ts';
import { encodeConfigResponse } from '../../src/eve/config-store.ts';

type WT = 'VARINT' | 'I64' | 'LEN' | 'I32';
const WT_NAMES: Record<number, WT> = { 0: 'VARINT', 1: 'I64', 2: 'LEN', 5: 'I32' };

interface RawField {
  no: number;
  wt: WT;
  varint?: bigint;
  bytes?: Uint8Array;
}

/** Independent protobuf wire parser (no generated code involved). */
function walk(buf: Uint8Array): RawField[] {
  const out: RawField[] = [];
  let i = 0;
  const varint = (): bigint => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const no = tag >>> 3;
    const wt = WT_NAMES[tag & 7];
    if (!wt) throw new Error(`bad wire type ${tag & 7}`);
    const f: RawField = { no, wt };
    if (wt === 'VARINT') f.varint = varint();
    else if (wt === 'I64') i += 8;
    else if (wt === 'I32') i += 4;
    else {
      const len = Number(varint());
      f.bytes = buf.subarray(i, i + len);
      i += len;
    }
    out.push(f);
  }
  return out;
}

/** Assert the set of (field number, wire type) present on the wire is exactly `expected`. */
function expectWire(bytes: Uint8Array, expected: Record<number, WT>, what: string): RawField[] {
  const fields = walk(bytes);
  const seen: Record<number, WT> = {};
  for (const f of fields) seen[f.no] = f.wt;
  assert.deepEqual(seen, expected, what);
  return fields;
}

function sub(fields: RawField[], no: number, idx = 0): Uint8Array {
  const f = fields.filter((x) => x.no === no)[idx];
  assert.ok(f?.bytes, `field ${no} present`);
  return f.bytes;
}
function varintOf(fields: RawField[], no: number): number {
  const f = fields.find((x) => x.no === no);
  assert.ok(f?.varint !== undefined, `varint field ${no}`);
  return Number(f.varint);
}

const U = '0f6c6ad0-5f55-4e3b-a7a8-3d3d8a3e9f01';

test('AuthContainer / AuthBody wire numbers', () => {
  const b = toBinary(
    AuthContainerSchema,
    create(AuthContainerSchema, {
      protectedPayload: { payload: new Uint8Array([1]) },
      algo: 2,
      senderCertHash: new Uint8Array(32),
      signatureHash: new Uint8Array(64),
      senderCert: new Uint8Array([65]),
      cipherContext: { contextId: 'c' },
      cipherData: { cipherContextId: 'c' },
    }),
  );
  const f = expectWire(b, { 1: 'LEN', 2: 'VARINT', 3: 'LEN', 4: 'LEN', 5: 'LEN', 6: 'LEN', 7: 'LEN' }, 'AuthContainer');
  assert.equal(varintOf(f, 2), 2); // HASH_ALGORITHM_SHA256_32BYTES
  expectWire(sub(f, 1), { 1: 'LEN' }, 'AuthBody');
});

test('certs, register, uuid wire numbers', () => {
  const z = toBinary(
    ZControllerCertSchema,
    create(ZControllerCertSchema, {
      certs: [
        {
          hashAlgo: 1,
          certHash: new Uint8Array(16),
          type: 3,
          cert: new Uint8Array([1]),
          attributes: { isMutable: true, isTpm: true },
          metaDataItems: [{ type: 1, metaData: new Uint8Array([1]) }],
        },
      ],
    }),
  );
  const zc = expectWire(z, { 1: 'LEN' }, 'ZControllerCert');
  const cert = expectWire(sub(zc, 1), { 1: 'VARINT', 2: 'LEN', 3: 'VARINT', 4: 'LEN', 5: 'LEN', 6: 'LEN' }, 'ZCert');
  assert.equal(varintOf(cert, 3), 3); // CERT_TYPE_CONTROLLER_ECDH_EXCHANGE
  expectWire(sub(cert, 5), { 1: 'VARINT', 2: 'VARINT' }, 'ZCertAttr');
  expectWire(sub(cert, 6), { 1: 'VARINT', 2: 'LEN' }, 'ZCertMetaData');
  for (const [name, v] of [
    ['SIGNING', 1],
    ['INTERMEDIATE', 2],
    ['ECDH_EXCHANGE', 3],
  ] as const) {
    const one = walk(toBinary(ZCertSchema, create(ZCertSchema, { type: v })));
    assert.equal(varintOf(one, 3), v, name);
  }
  const reg = toBinary(ZRegisterMsgSchema, create(ZRegisterMsgSchema, { onBoardKey: 'k', pemCert: new Uint8Array([1]), serial: 's', softSerial: 't' }));
  expectWire(reg, { 1: 'LEN', 2: 'LEN', 3: 'LEN', 4: 'LEN' }, 'ZRegisterMsg');
  const uu = toBinary(UuidResponseSchema, create(UuidResponseSchema, { uuid: U, manufacturer: 'm', productName: 'p' }));
  expectWire(uu, { 1: 'LEN', 2: 'LEN', 3: 'LEN' }, 'UuidResponse');
});

test('ConfigRequest / ConfigResponse / EdgeDevConfig wire numbers', () => {
  expectWire(
    toBinary(ConfigRequestSchema, create(ConfigRequestSchema, { configHash: 'h', integrityToken: new Uint8Array([1]) })),
    { 1: 'LEN', 2: 'LEN' },
    'ConfigRequest',
  );
  const cfg = create(EdgeDevConfigSchema, {
    id: { uuid: U, version: '3' },
    apps: [
      {
        uuidandversion: { uuid: U, version: '1' },
        displayname: 'app',
        fixedresources: { memory: 512000, maxmem: 512000, vcpus: 1, virtualizationMode: 4, bootMode: 2 },
        activate: true,
        interfaces: [
          {
            name: 'eth0',
            networkId: U,
            addr: '10.0.0.2',
            acls: [{ matches: [{ type: 'ip', value: '0.0.0.0/0' }], actions: [{ portmap: true, appPort: 80 }], name: 'a', id: 1, dir: 1 }],
          },
        ],
        adapters: [{ type: 2, name: 'USB' }],
        restart: { counter: 1 },
        purge: { counter: 1 },
        userData: 'dQ==',
        remoteConsole: true,
        cipherData: { cipherContextId: 'x' },
        collectStatsIPAddr: '1.2.3.4',
        volumeRefList: [{ uuid: U, generationCount: 1n, mountDir: '/' }],
        metaDataType: 3,
        profileList: ['p'],
        startDelayInSeconds: 5,
        service: true,
        cloudInitVersion: 1,
        snapshot: { maxSnapshots: 1 },
        patchRef: { name: 'n' },
        designatedNodeId: 'n',
        vmResolution: '800x600',
        runtimeType: 1,
        affinity: 1,
      },
    ],
    networks: [
      {
        id: U,
        type: 4,
        ip: {
          dhcp: 4,
          subnet: '10.0.0.0/24',
          gateway: '10.0.0.1',
          domain: 'd',
          ntp: 'n',
          dns: ['1.1.1.1'],
          dhcpRange: { start: 'a', end: 'b' },
          moreNtp: ['m'],
        },
        dns: [{ HostName: 'h' }],
        entProxy: { networkProxyEnable: true },
        wireless: { type: 1 },
        mtu: 1500,
      },
    ],
    datastores: [{ id: U, dType: 5, fqdn: 'docker://x', dpath: 'p', region: 'r' }],
    reboot: { counter: 2, desiredState: true, opsTime: 't' },
    backup: { counter: 1 },
    configItems: [{ key: 'timer.config.interval', value: '60' }],
    systemAdapterList: [{ name: 'eth0', uplink: true, networkUUID: U, cost: 1 }],
    deviceIoList: [{ ptype: 1, phylabel: 'eth0', phyaddrs: { Ifname: 'eth0' }, logicallabel: 'eth0', assigngrp: 'eth0', usage: 1 }],
    manufacturer: 'm',
    productName: 'p',
    networkInstances: [
      {
        uuidandversion: { uuid: U, version: '1' },
        displayname: 'ni',
        instType: 2,
        activate: true,
        port: { type: 1, name: 'uplink' },
        stp: { portsWithBpduGuard: 'x' },
        ipType: 1,
        ip: { subnet: '10.1.0.0/24' },
        dns: [{ HostName: 'h' }],
        propagateConnectedRoutes: true,
        staticRoutes: [{ destinationNetwork: 'd' }],
        mtu: 1400,
        disableFlowlog: true,
        vlanAccessPorts: [{ vlanId: 1 }],
        forwardLldp: true,
        clusterWide: true,
      },
    ],
    cipherContexts: [{ contextId: 'c' }],
    contentInfo: [
      {
        uuid: U,
        dsId: U,
        URL: 'library/nginx:latest',
        iformat: 8,
        sha256: 'ab',
        maxSizeBytes: 1n,
        displayName: 'nginx',
        generationCount: 1n,
        customMetaData: 'c',
        dsIdsList: [U],
        designatedNodeId: 'n',
      },
    ],
    volumes: [
      {
        uuid: U,
        origin: { type: 2, downloadContentTreeID: U },
        protocols: [1],
        generationCount: 1n,
        maxsizebytes: 1n,
        readonly: true,
        displayName: 'v',
        clearText: true,
        target: 1,
        designatedNodeId: 'n',
      },
    ],
    controllercertConfighash: 'c',
    maintenanceMode: true,
    controllerEpoch: 1n,
    baseos: { contentTreeUuid: U, retryUpdate: { counter: 1 }, activate: true, baseOsVersion: '14.5.0' },
    globalProfile: 'g',
    localProfileServer: 'l',
    profileServerToken: 't',
    vlans: [{ logicallabel: 'v' }],
    bonds: [{ logicallabel: 'b' }],
    edgeview: { token: 't' },
    disks: { arrayType: 1 },
    shutdown: { counter: 1 },
    deviceName: 'd',
    projectName: 'p',
    projectId: 'p',
    enterpriseName: 'e',
    enterpriseId: 'e',
    configTimestamp: timestampFromDate(new Date()),
    locConfig: { locUrl: 'u' },
  });
  const bytes = toBinary(EdgeDevConfigSchema, cfg);
  const L = 'LEN',
    V = 'VARINT';
  const top = expectWire(
    bytes,
    {
      1: L,
      4: L,
      5: L,
      6: L,
      9: L,
      10: L,
      11: L,
      12: L,
      13: L,
      14: L,
      15: L,
      16: L,
      19: L,
      20: L,
      21: L,
      22: L,
      24: V,
      25: V,
      26: L,
      27: L,
      28: L,
      29: L,
      30: L,
      31: L,
      32: L,
      33: L,
      34: L,
      35: L,
      36: L,
      37: L,
      38: L,
      39: L,
      40: L,
      41: L,
    },
    'EdgeDevConfig',
  );
  expectWire(sub(top, 1), { 1: L, 2: L }, 'UUIDandVersion');
  const app = expectWire(
    sub(top, 4),
    {
      1: L,
      2: L,
      3: L,
      5: V,
      6: L,
      7: L,
      9: L,
      10: L,
      11: L,
      12: V,
      13: L,
      15: L,
      16: L,
      17: V,
      18: L,
      19: V,
      20: V,
      21: V,
      22: L,
      23: L,
      26: L,
      27: L,
      28: V,
      29: V,
    },
    'AppInstanceConfig',
  );
  const vm = expectWire(sub(app, 3), { 3: V, 4: V, 5: V, 15: V, 23: V }, 'VmConfig');
  assert.equal(varintOf(vm, 15), 4); // NOHYPER
  const nic = expectWire(sub(app, 6), { 1: L, 3: L, 4: L, 40: L }, 'NetworkAdapter');
  const ace = expectWire(sub(nic, 40), { 1: L, 2: L, 3: L, 4: V, 5: V }, 'ACE');
  expectWire(sub(ace, 1), { 1: L, 2: L }, 'ACEMatch');
  expectWire(sub(ace, 2), { 6: V, 7: V }, 'ACEAction');
  expectWire(sub(app, 16), { 1: L, 2: V, 3: L }, 'VolumeRef');
  expectWire(sub(app, 9), { 2: V }, 'InstanceOpsCmd');
  expectWire(sub(app, 23), { 23: L }, 'PatchEnvelopeRef');
  const net = expectWire(sub(top, 5), { 1: L, 5: V, 6: L, 7: L, 8: L, 10: L, 11: V }, 'NetworkConfig');
  assert.equal(varintOf(net, 5), 4); // NetworkType V4
  const ip = expectWire(sub(net, 6), { 2: V, 3: L, 5: L, 6: L, 7: L, 8: L, 9: L, 10: L }, 'ipspec');
  assert.equal(varintOf(ip, 2), 4); // DHCPType Client
  expectWire(sub(top, 6), { 100: L, 1: V, 2: L, 5: L, 6: L }, 'DatastoreConfig');
  assert.equal(varintOf(walk(sub(top, 6)), 1), 5); // DsContainerRegistry
  expectWire(sub(top, 9), { 2: V, 3: V, 4: L }, 'DeviceOpsCmd');
  expectWire(sub(top, 11), { 1: L, 2: L }, 'ConfigItem');
  expectWire(sub(top, 12), { 1: L, 3: V, 4: L, 9: V }, 'SystemAdapter');
  const pio = expectWire(sub(top, 13), { 1: V, 2: L, 3: L, 4: L, 5: L, 6: V }, 'PhysicalIO');
  expectWire(sub(pio, 3), { 1: L, 2: L }, 'PhysicalIO.phyaddrs entry');
  const ni = expectWire(
    sub(top, 16),
    { 1: L, 2: L, 4: V, 5: V, 20: L, 21: L, 39: V, 40: L, 41: L, 42: V, 43: L, 44: V, 50: V, 51: L, 52: V, 53: V },
    'NetworkInstanceConfig',
  );
  assert.equal(varintOf(ni, 4), 2); // ZnetInstLocal
  const ct = expectWire(sub(top, 20), { 1: L, 2: L, 3: L, 4: V, 5: L, 6: V, 8: L, 9: V, 10: L, 11: L, 12: L }, 'ContentTree');
  assert.equal(varintOf(ct, 4), 8); // CONTAINER
  const vol = expectWire(sub(top, 21), { 1: L, 2: L, 3: L, 4: V, 5: V, 6: V, 7: L, 8: V, 9: V, 10: L }, 'Volume');
  const origin = expectWire(sub(vol, 2), { 1: V, 2: L }, 'VolumeContentOrigin');
  assert.equal(varintOf(origin, 1), 2); // VCOT_DOWNLOAD
  expectWire(sub(top, 26), { 1: L, 2: L, 3: V, 4: L }, 'BaseOS');
  expectWire(sub(top, 40), { 1: V, 2: V }, 'Timestamp');
  // ConfigResponse encoded by hand in the server must match the generated encoding.
  const viaGen = toBinary(ConfigResponseSchema, create(ConfigResponseSchema, { config: cfg, configHash: 'abc' }));
  assert.deepEqual(Buffer.from(encodeConfigResponse(bytes, 'abc')), Buffer.from(viaGen));
  expectWire(viaGen, { 1: L, 2: L }, 'ConfigResponse');
});

test('info, metrics, attest, logs, flowlog, hardwarehealth wire numbers', () => {
  const ts = timestampFromDate(new Date());
  const dev = toBinary(
    ZInfoMsgSchema,
    create(ZInfoMsgSchema, {
      ztype: 1,
      devId: U,
      atTimeStamp: ts,
      InfoContent: {
        case: 'dinfo',
        value: {
          machineArch: 'x86_64',
          ncpu: 4,
          memory: 8192n,
          minfo: { serialNumber: 's' },
          swList: [{ activated: true, partitionLabel: 'IMGA', status: 7, shortVersion: '14.5.0', userStatus: 4 }],
          HostName: 'h',
          systemAdapter: { currentIndex: 0, status: [{ ports: [{ ifname: 'eth0', isMgmt: true, up: true }] }] },
          rebootConfigCounter: 3,
          lastBootReason: 1,
          state: 1,
          apiCapability: 21,
          deviceName: 'd',
        },
      },
    }),
  );
  const top = expectWire(dev, { 1: 'VARINT', 2: 'LEN', 3: 'LEN', 6: 'LEN' }, 'ZInfoMsg(dinfo)');
  const d = expectWire(
    sub(top, 3),
    { 4: 'LEN', 7: 'VARINT', 8: 'VARINT', 11: 'LEN', 19: 'LEN', 20: 'LEN', 24: 'LEN', 33: 'VARINT', 34: 'VARINT', 44: 'VARINT', 51: 'VARINT', 54: 'LEN' },
    'ZInfoDevice',
  );
  const sw = expectWire(sub(d, 19), { 2: 'VARINT', 3: 'LEN', 6: 'VARINT', 7: 'LEN', 11: 'VARINT' }, 'ZInfoDevSW');
  assert.equal(varintOf(sw, 6), 7); // ZSwState RUNNING
  const sa = expectWire(sub(d, 24), { 2: 'LEN' }, 'SystemAdapterInfo');
  const dps = expectWire(sub(sa, 2), { 6: 'LEN' }, 'DevicePortStatus');
  expectWire(sub(dps, 6), { 1: 'LEN', 3: 'VARINT', 26: 'VARINT' }, 'DevicePort');
  const app = toBinary(
    ZInfoMsgSchema,
    create(ZInfoMsgSchema, {
      ztype: 3,
      devId: U,
      InfoContent: {
        case: 'ainfo',
        value: {
          AppID: U,
          appVersion: '1',
          AppName: 'a',
          state: 21,
          appErr: [{ description: 'x', severity: 3 }],
          network: [{ macAddr: 'm', IPAddrs: ['1.2.3.4'] }],
          volumeRefs: [U],
          bootTime: ts,
        },
      },
    }),
  );
  const at = walk(app);
  assert.equal(varintOf(at, 1), 3); // ZiApp
  const a = expectWire(sub(at, 5), { 1: 'LEN', 2: 'LEN', 7: 'LEN', 12: 'LEN', 14: 'LEN', 15: 'VARINT', 16: 'LEN', 17: 'LEN' }, 'ZInfoApp');
  assert.equal(varintOf(a, 15), 21); // ERROR
  expectWire(sub(a, 14), { 1: 'LEN', 3: 'VARINT' }, 'ErrorInfo');
  expectWire(sub(a, 16), { 3: 'LEN', 5: 'LEN' }, 'ZInfoNetwork');
  for (const [kase, no, ztype] of [
    ['niinfo', 12, 6],
    ['vinfo', 13, 7],
    ['cinfo', 14, 8],
    ['binfo', 15, 9],
    ['amdinfo', 16, 10],
    ['hwinfo', 18, 11],
    ['locinfo', 19, 13],
  ] as const) {
    const m = create(ZInfoMsgSchema, { ztype, InfoContent: { case: kase, value: {} } as never });
    const w = walk(toBinary(ZInfoMsgSchema, m));
    assert.ok(
      w.some((f) => f.no === no && f.wt === 'LEN'),
      `${kase} = ${no}`,
    );
    assert.equal(varintOf(w, 1), ztype);
  }
  const ni = toBinary(
    ZInfoMsgSchema,
    create(ZInfoMsgSchema, {
      InfoContent: {
        case: 'niinfo',
        value: { networkID: U, networkVersion: '1', instType: 2, displayname: 'n', activated: true, bridgeName: 'bn1', state: 2, mtu: 1500 },
      },
    }),
  );
  expectWire(sub(walk(ni), 12), { 2: 'LEN', 3: 'LEN', 5: 'VARINT', 6: 'LEN', 7: 'VARINT', 21: 'LEN', 41: 'VARINT', 42: 'VARINT' }, 'ZInfoNetworkInstance');
  const vi = toBinary(
    ZInfoMsgSchema,
    create(ZInfoMsgSchema, {
      InfoContent: {
        case: 'vinfo',
        value: { uuid: U, displayName: 'v', resources: { maxSizeBytes: 1n, curSizeBytes: 1n }, state: 15, progressPercentage: 100, generationCount: 1n },
      },
    }),
  );
  expectWire(sub(walk(vi), 13), { 1: 'LEN', 2: 'LEN', 4: 'LEN', 5: 'VARINT', 6: 'VARINT', 8: 'VARINT' }, 'ZInfoVolume');
  const ci = toBinary(
    ZInfoMsgSchema,
    create(ZInfoMsgSchema, {
      InfoContent: { case: 'cinfo', value: { uuid: U, displayName: 'c', sha256: 's', state: 19, progressPercentage: 5, generationCount: 1n } },
    }),
  );
  expectWire(sub(walk(ci), 14), { 1: 'LEN', 2: 'LEN', 3: 'LEN', 6: 'VARINT', 7: 'VARINT', 10: 'VARINT' }, 'ZInfoContentTree');

  const met = toBinary(
    ZMetricMsgSchema,
    create(ZMetricMsgSchema, {
      devID: U,
      atTimeStamp: ts,
      MetricContent: {
        case: 'dm',
        value: {
          memory: { usedMem: 1 },
          network: [{ iName: 'eth0', txBytes: 1n }],
          cpuMetric: { total: 1n },
          deviceMemory: { memoryMB: 1 },
          dormantTimeInSeconds: 60n,
        },
      },
      am: [{ AppID: U, AppName: 'a', cpu: { total: 1n }, appMemory: { usedMB: 1 } }],
      nm: [{ networkID: U }],
      vm: [{ uuid: U }],
    }),
  );
  const mt = expectWire(met, { 1: 'LEN', 3: 'LEN', 4: 'LEN', 5: 'LEN', 7: 'LEN', 8: 'LEN' }, 'ZMetricMsg');
  expectWire(sub(mt, 4), { 2: 'LEN', 3: 'LEN', 7: 'LEN', 17: 'LEN', 22: 'VARINT' }, 'deviceMetric');
  expectWire(sub(mt, 5), { 1: 'LEN', 2: 'LEN', 3: 'LEN', 8: 'LEN' }, 'appMetric');

  const areq = toBinary(
    ZAttestReqSchema,
    create(ZAttestReqSchema, {
      reqType: 3,
      quote: {
        attestData: new Uint8Array([1]),
        signature: new Uint8Array([1]),
        pcrValues: [{ index: 1, hashAlgo: 2, value: new Uint8Array([1]) }],
        versions: [{ versionType: 3, version: 'v' }],
        tpmBinaryEventLog: new Uint8Array([1]),
      },
      certs: [{ type: 13 }],
      storageKeys: { integrityToken: new Uint8Array([1]) },
    }),
  );
  const ar = expectWire(areq, { 1: 'VARINT', 2: 'LEN', 3: 'LEN', 4: 'LEN' }, 'ZAttestReq');
  const q = expectWire(sub(ar, 2), { 1: 'LEN', 2: 'LEN', 3: 'LEN', 5: 'LEN', 7: 'LEN' }, 'ZAttestQuote');
  expectWire(sub(q, 3), { 1: 'VARINT', 2: 'VARINT', 3: 'LEN' }, 'TpmPCRValue');
  assert.equal(varintOf(walk(sub(q, 5)), 1), 3); // ATTEST_VERSION_TYPE_EVE_ORIGIN (EVE's vendored API)
  const aresp = toBinary(
    ZAttestResponseSchema,
    create(ZAttestResponseSchema, {
      respType: 3,
      nonce: { nonce: new Uint8Array([1]) },
      quoteResp: {
        response: 1,
        integrityToken: new Uint8Array([1]),
        keys: [{ keyType: 1, key: new Uint8Array([1]), hasPolicyPcrList: true, policyPcrList: { pcrIndices: [1] } }],
      },
      storageKeysResp: { response: 2 },
    }),
  );
  const rs = expectWire(aresp, { 1: 'VARINT', 2: 'LEN', 3: 'LEN', 4: 'LEN' }, 'ZAttestResponse');
  const qr = expectWire(sub(rs, 3), { 1: 'VARINT', 2: 'LEN', 3: 'LEN' }, 'ZAttestQuoteResp');
  expectWire(sub(qr, 3), { 1: 'VARINT', 2: 'LEN', 4: 'VARINT', 5: 'LEN' }, 'AttestVolumeKey');

  const le = toBinary(
    LogEntrySchema,
    create(LogEntrySchema, { severity: 's', source: 's', iid: 'i', content: 'c', msgid: 1n, tags: { a: 'b' }, timestamp: ts, filename: 'f', function: 'f' }),
  );
  expectWire(le, { 1: 'LEN', 2: 'LEN', 3: 'LEN', 4: 'LEN', 5: 'VARINT', 6: 'LEN', 7: 'LEN', 8: 'LEN', 9: 'LEN' }, 'LogEntry');
  const fl = toBinary(
    FlowMessageSchema,
    create(FlowMessageSchema, {
      devId: U,
      scope: { uuid: U, netInstUUID: U },
      flows: [{ flow: { src: 'a', srcPort: 1, dest: 'b', destPort: 2, protocol: 6 }, inbound: true, aclId: 1, startTime: ts, txBytes: 1n, action: 2 }],
      dnsReqs: [{ hostName: 'h' }],
    }),
  );
  const ft = expectWire(fl, { 1: 'LEN', 2: 'LEN', 3: 'LEN', 4: 'LEN' }, 'FlowMessage');
  expectWire(sub(ft, 3), { 1: 'LEN', 2: 'VARINT', 3: 'VARINT', 6: 'LEN', 8: 'VARINT', 12: 'VARINT' }, 'FlowRecord');
  expectWire(sub(ft, 2), { 1: 'LEN', 4: 'LEN' }, 'ScopeInfo');
  const hh = toBinary(
    ZHardwareHealthSchema,
    create(ZHardwareHealthSchema, {
      devId: U,
      atTimeStamp: ts,
      mr: { memoryControllers: [{ controllerName: 'c', ceCount: 1n }] },
      disks: [{ diskName: 'sda', smartAttr: [{ id: 5 }] }],
    }),
  );
  const ht = expectWire(hh, { 1: 'LEN', 2: 'LEN', 3: 'LEN', 4: 'LEN' }, 'ZHardwareHealth');
  expectWire(sub(ht, 4), { 1: 'LEN', 8: 'LEN' }, 'StorageDiskInfo');
});

// ---- descriptor table -------------------------------------------------------------------------

interface Golden {
  messages: Record<string, Record<string, string>>;
  enums: Record<string, Record<string, number>>;
}

async function allFiles(): Promise<DescFile[]> {
  const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../src/eve/gen');
  const files: DescFile[] = [];
  for (const dir of fs.readdirSync(root)) {
    for (const f of fs.readdirSync(path.join(root, dir))) {
      const mod = (await import(path.join(root, dir, f))) as Record<string, unknown>;
      for (const [k, v] of Object.entries(mod)) if (k.startsWith('file_')) files.push(v as DescFile);
    }
  }
  return files;
}

test('every field and enum value matches lf-edge/eve-api (descriptor table)', async () => {
  const golden = JSON.parse(fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/eve-api-numbers.json'), 'utf8')) as Golden;
  const reg = createRegistry(...(await allFiles()));
  let fields = 0;
  let values = 0;
  for (const t of reg) {
    if (t.kind === 'message') {
      if (t.typeName.startsWith('google.')) continue;
      const want = golden.messages[t.typeName];
      assert.ok(want, `message ${t.typeName} exists in EVE's API`);
      for (const f of t.fields) {
        const p = f.proto;
        const type = FieldDescriptorProto_Type[p.type].toLowerCase();
        const rep = p.label === FieldDescriptorProto_Label.REPEATED ? 'repeated ' : '';
        const got = `${p.number} ${rep}${type}${p.typeName ? ' ' + p.typeName : ''}`;
        assert.equal(got, want[p.name], `${t.typeName}.${p.name}`);
        fields++;
      }
    } else if (t.kind === 'enum') {
      const want = golden.enums[t.typeName];
      assert.ok(want, `enum ${t.typeName} exists in EVE's API`);
      for (const v of t.values) {
        assert.equal(v.number, want[v.name], `${t.typeName}.${v.name}`);
        values++;
      }
    }
  }
  // Both directions: nothing in the table is left unchecked (no message silently dropped).
  const tableFields = Object.values(golden.messages).reduce((n, m) => n + Object.keys(m).length, 0);
  const tableValues = Object.values(golden.enums).reduce((n, e) => n + Object.keys(e).length, 0);
  assert.equal(fields, tableFields, 'fields checked');
  assert.equal(values, tableValues, 'enum values checked');
  assert.ok(fields > 800, `checked ${fields} fields, ${values} enum values`);
});

test('decoders tolerate unknown fields, unknown oneof cases and unknown enum values (and keep them)', async () => {
  const { fromBinary } = await import('@bufbuild/protobuf');
  const { BinaryWriter, WireType } = await import('@bufbuild/protobuf/wire');
  // ZInfoMsg{ztype=99 (unknown enum), devId, ntp_sources=23 (oneof case we do not model),
  //          dinfo=3{ state=44: 42 (unknown enum), enrolled_certs=60 (unmodelled field) }}
  const dinfo = new BinaryWriter()
    .tag(44, WireType.Varint)
    .int32(42)
    .tag(60, WireType.LengthDelimited)
    .bytes(new Uint8Array([10, 1, 65]))
    .finish();
  const bytes = new BinaryWriter()
    .tag(1, WireType.Varint)
    .int32(99)
    .tag(2, WireType.LengthDelimited)
    .string(U)
    .tag(23, WireType.LengthDelimited)
    .bytes(new Uint8Array([8, 1]))
    .tag(3, WireType.LengthDelimited)
    .bytes(dinfo)
    .finish();
  const msg = fromBinary(ZInfoMsgSchema, bytes);
  assert.equal(msg.ztype, 99);
  assert.equal(msg.devId, U);
  assert.equal(msg.InfoContent.case, 'dinfo');
  assert.equal(msg.InfoContent.case === 'dinfo' && msg.InfoContent.value.state, 42);
  // unknown fields survive a re-encode
  const again = walk(toBinary(ZInfoMsgSchema, msg));
  assert.ok(again.some((f) => f.no === 23));
  assert.ok(walk(sub(again, 3)).some((f) => f.no === 60));
});
