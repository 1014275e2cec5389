// Test-side EVE device: does what zedclient/zedagent do on the wire, nothing more.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type https from 'node:https';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  OnboardingAllowList,
  createDeviceAgent,
  createDeviceCert,
  eveRequest,
  issueOnboardingCert,
  openControllerResponse,
  sealDeviceRequest,
  sealRegisterRequest,
  startDeviceApi,
  checkControllerCerts,
  type CertAndKey,
  type DeviceApi,
  type DeviceHooks,
  type EveResponse,
} from '../../src/eve/index.ts';
import { ZRegisterMsgSchema } from '../../src/eve/gen/register/register_pb.ts';
import { UuidResponseSchema } from '../../src/eve/gen/eveuuid/eveuuid_pb.ts';
import { ConfigRequestSchema, ConfigResponseSchema } from '../../src/eve/gen/config/devconfig_pb.ts';

const created: string[] = [];
process.on('exit', () => {
  for (const d of created) fs.rmSync(d, { recursive: true, force: true });
});

/** A temporary directory removed when the test process exits. */
export function tmpDir(prefix = 'kubeve-eve-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(d);
  return d;
}

export interface TestController {
  api: DeviceApi;
  allow: OnboardingAllowList;
  onboard: CertAndKey;
  dataDir: string;
  events: string[];
}

export async function startTestController(extra: Partial<DeviceHooks> = {}, dataDir = tmpDir(), maxBodyBytes?: number): Promise<TestController> {
  const allow = new OnboardingAllowList();
  const events: string[] = [];
  const api = await startDeviceApi({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    tlsHosts: ['localhost', '127.0.0.1'],
    maxBodyBytes,
    hooks: {
      admitOnboarding: (r) => allow.admit(r),
      deviceRegistered: (d) => void events.push(`registered ${d.uuid}`),
      ...extra,
    },
  });
  const onboard = await issueOnboardingCert(api.pki);
  return { api, allow, onboard, dataDir, events };
}

/** One simulated EVE device (test-only, minimal). */
export class TestDevice {
  uuid = '';
  signingCertPem: string | null = null;
  lastConfigHash = '';
  readonly agent: https.Agent;
  constructor(
    readonly server: string,
    readonly rootPem: string,
    readonly dev: CertAndKey,
    readonly onboard: CertAndKey,
    readonly serial: string,
  ) {
    this.agent = createDeviceAgent({ ca: rootPem });
  }

  static async create(c: TestController, serial: string): Promise<TestDevice> {
    return new TestDevice(`127.0.0.1:${c.api.port}`, c.api.pki.root.certPem, await createDeviceCert(), c.onboard, serial);
  }

  req(p: string, body?: Uint8Array): Promise<EveResponse> {
    return eveRequest(this.agent, this.server, p, body);
  }

  async fetchCerts(): Promise<void> {
    const r = await this.req('certs');
    if (r.status !== 200) throw new Error(`certs ${r.status}`);
    const chk = checkControllerCerts(openControllerResponse(r.body, null, { skipVerify: true }));
    if (!chk.ok) throw new Error(chk.error);
    this.signingCertPem = chk.signingCertPem;
  }

  register(serial = this.serial, dev = this.dev): Promise<EveResponse> {
    const payload = toBinary(
      ZRegisterMsgSchema,
      create(ZRegisterMsgSchema, { pemCert: Buffer.from(Buffer.from(dev.certPem + '\n').toString('base64')), serial }),
    );
    return this.req('register', sealRegisterRequest(payload, this.onboard.key, this.onboard.certPem + '\n'));
  }

  signed(payload: Uint8Array): Uint8Array {
    return sealDeviceRequest(payload, this.dev.key, this.dev.certPem);
  }

  open(body: Uint8Array): Uint8Array {
    return openControllerResponse(body, this.signingCertPem ? { certPem: this.signingCertPem } : null);
  }

  async getUuid(): Promise<EveResponse & { uuid?: string }> {
    const r = await this.req('uuid', this.signed(new Uint8Array(0)));
    if (r.status === 200 || r.status === 201) {
      const u = fromBinary(UuidResponseSchema, this.open(r.body));
      this.uuid = u.uuid;
      return { ...r, uuid: u.uuid };
    }
    return r;
  }

  /** certs → register → uuid, as zedclient does on boot. */
  async onboardFully(): Promise<void> {
    await this.fetchCerts();
    await this.register();
    const r = await this.getUuid();
    if (!r.uuid) throw new Error(`uuid failed: ${r.status}`);
  }

  async pollConfig(): Promise<{ status: number; hash?: string; config?: ReturnType<typeof fromBinary<typeof ConfigResponseSchema>>['config'] }> {
    const payload = toBinary(ConfigRequestSchema, create(ConfigRequestSchema, { configHash: this.lastConfigHash }));
    const r = await this.req(`id/${this.uuid}/config`, this.signed(payload));
    if (r.status === 200) {
      const resp = fromBinary(ConfigResponseSchema, this.open(r.body));
      this.lastConfigHash = resp.configHash;
      return { status: 200, hash: resp.configHash, config: resp.config };
    }
    return { status: r.status };
  }

  post(action: string, payload: Uint8Array): Promise<EveResponse> {
    return this.req(`id/${this.uuid}/${action}`, this.signed(payload));
  }
}
