// A simulated EVE device: zedclient's onboarding (certs → register → uuid, backoff 1 s → 600 s),
// zedagent's config poll (jittered [0.3, 1.0] × timer.config.interval, no backoff, 304 =
// success, 404 → getUuid at most every 10 min, 403 → re-attest), the deferred info queue
// (coalescing per object, per-item backoff 1, 2, 4, 8, 15 min, other 4xx dropped), periodic
// device info, best-effort metrics, loguploader's newlogs with its adaptive interval, the
// /certs refresh, and optional attestation (no TPM). Every controller response is verified
// with the controller signing certificate from /certs before anything is used.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import type tls from 'node:tls';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ConfigRequestSchema, ConfigResponseSchema } from '../eve/gen/config/devconfig_pb.ts';
import { ZRegisterMsgSchema } from '../eve/gen/register/register_pb.ts';
import { UuidResponseSchema } from '../eve/gen/eveuuid/eveuuid_pb.ts';
import { ZAttestReqSchema, ZAttestResponseSchema, ZAttestReqType, ZAttestResponseCode, AttestVersionType } from '../eve/gen/attest/attest_pb.ts';
import { BootReason, ZSwState } from '../eve/gen/info/info_pb.ts';
import { EnvelopeError, openControllerResponse, sealDeviceRequest, sealRegisterRequest } from '../eve/envelope.ts';
import { buildNewlogs } from '../eve/newlogs.ts';
import { createDeviceCert } from '../eve/pki.ts';
import { Backoff, HOUR, MINUTE, SECOND, SimClock, type TimerHandle } from './clock.ts';
import { SimStats } from './stats.ts';
import { DeviceTransport, hasProtoishContentType, isProtoContentType, isSuccess, type SendResult, type HttpResponse } from './transport.ts';
import { validateControllerCerts, type ControllerCerts } from './controller-certs.ts';
import { DeviceModel, MODEL_DEFAULT_STEP_MS, REBOOT_DURATION_MS, type HardwareProfile, type ModelKnobs } from './model.ts';
import { buildInfo, buildMetrics, encodeInfo, logEntryJson, type MetricCounters } from './report.ts';

export const API = '/api/v2/edgedevice/';
export const DEFAULT_EVE_VERSION = '14.5.1-kvm-amd64';

export type SimPhase = 'off' | 'booting' | 'onboarding' | 'registered' | 'configured' | 'rebooting' | 'stopped';

/** Interval overrides in simulated ms; they win over config items (handy in tests). */
export interface SimIntervals {
  config?: number;
  metrics?: number;
  deviceInfo?: number;
  logs?: number;
  certs?: number;
  /** false = exact intervals instead of EVE's randomisation. */
  jitter?: boolean;
}

export interface Identity {
  certPem: string;
  keyPem: string;
}

export interface SimDeviceOptions {
  serial: string;
  softSerial?: string;
  /** /config/server: host:port. */
  server: string;
  /** /config/root-certificate.pem. */
  rootCertPem: string;
  /** /config/onboard.cert.pem + onboard.key.pem; without them the device only calls /uuid. */
  onboard?: Identity;
  /** The device certificate; a self-signed P-256 one is created by SimDevice.create when absent. */
  device: Identity;
  clock?: SimClock;
  timeScale?: number;
  /** Clock-skew fault, ms. */
  skewMs?: number;
  intervals?: SimIntervals;
  knobs?: ModelKnobs;
  /** Fleet-wide stats (the device keeps its own too). */
  fleetStats?: SimStats;
  sharedContext?: tls.SecureContext;
  /** Present device/onboarding certs as TLS client certs (like EVE; default false saves memory). */
  clientCerts?: boolean;
  eveVersion?: string;
  hardware?: Partial<HardwareProfile>;
  /** Upload logs (default true), send metrics (default true), attest (default false). */
  logs?: boolean;
  metrics?: boolean;
  attestation?: boolean;
  /** Model step period (simulated ms, default 2 s) and reboot duration (default 60 s). */
  stepMs?: number;
  rebootMs?: number;
  /** Real ms per request (default 120 s). */
  requestTimeoutMs?: number;
}

export interface DeviceCounters {
  certsFetched: number;
  certsFailed: number;
  registerAttempts: number;
  lastRegisterStatus: number | undefined;
  uuidRequests: number;
  configRequests: number;
  configApplied: number;
  configUnchanged: number;
  /** Responses whose signature/signer check failed (tampering, unknown signer). */
  configRejected: number;
  configNotFound: number;
  configErrors: number;
  infoSent: number;
  infoDropped: number;
  infoRetried: number;
  metricsSent: number;
  metricsFailed: number;
  logFilesSent: number;
  logFilesFailed: number;
  reboots: number;
  attestations: number;
  envelopeRejected: number;
}

function hardwareFor(serial: string, over: Partial<HardwareProfile> = {}): HardwareProfile {
  const h = crypto.createHash('sha256').update(serial).digest();
  const mac = ['02', '42', ...[...h.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
  const a = 16 + (h[4]! % 16);
  return {
    manufacturer: 'QEMU',
    productName: 'Standard PC (Q35 + ICH9, 2009)',
    machineArch: 'x86_64',
    cpuArch: 'x86_64',
    platform: 'kvm',
    ncpu: 4,
    memoryMB: 8192,
    storageMB: 65536,
    ports: [{ ifname: 'eth0', mac, ip: `172.${a}.${h[5]!}.${2 + (h[6]! % 250)}`, subnet: `172.${a}.${h[5]!}.0/24`, gateway: `172.${a}.${h[5]!}.1` }],
    ...over,
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INFO_RETRY_MIN = [1, 2, 4, 8, 15];

export class SimDevice extends EventEmitter {
  readonly serial: string;
  readonly softSerial: string;
  readonly clock: SimClock;
  readonly stats: SimStats;
  readonly transport: DeviceTransport;
  readonly model: DeviceModel;
  readonly counters: DeviceCounters = {
    certsFetched: 0,
    certsFailed: 0,
    registerAttempts: 0,
    lastRegisterStatus: undefined,
    uuidRequests: 0,
    configRequests: 0,
    configApplied: 0,
    configUnchanged: 0,
    configRejected: 0,
    configNotFound: 0,
    configErrors: 0,
    infoSent: 0,
    infoDropped: 0,
    infoRetried: 0,
    metricsSent: 0,
    metricsFailed: 0,
    logFilesSent: 0,
    logFilesFailed: 0,
    reboots: 0,
    attestations: 0,
    envelopeRejected: 0,
  };
  uuid = '';
  phase: SimPhase = 'off';
  lastError = '';
  /** Controller certs as validated from /certs (the device's checkpoint). */
  certs: ControllerCerts | undefined;
  prevConfigHash = '';
  private integrityToken: Uint8Array = new Uint8Array(0);
  private attestTried = 0;
  private readonly deviceKey: crypto.KeyObject;
  private readonly onboardKey: crypto.KeyObject | undefined;
  private bootGen = 0;
  private readonly timers = new Map<string, TimerHandle>();
  private ticking = false;
  private lastUuidCheck = -Infinity;
  private infoQueue = new Map<string, { attempts: number; notBefore: number; seq: number }>();
  private infoDraining = false;
  private readonly infoQueueBackoff = new Backoff(1 * MINUTE, 15 * MINUTE);
  private readonly metricCounters: MetricCounters;
  private logMsgId = 0;
  private logFiles: { app?: string; appName?: string; body: Buffer; failures: number }[] = [];
  private logOpenedAt = 0;
  private logSlowUntil = 0;
  private logInterval429 = 0;
  private lastControllerContact = 0;
  private offlineUntil: TimerHandle | undefined;

  constructor(readonly opts: SimDeviceOptions) {
    super();
    this.stats = new SimStats({ histograms: !opts.fleetStats });
    this.serial = opts.serial;
    this.softSerial = opts.softSerial ?? '';
    this.clock = opts.clock ?? new SimClock({ timeScale: opts.timeScale, skewMs: opts.skewMs });
    if (opts.clock && opts.skewMs !== undefined) throw new Error('skewMs needs a per-device clock');
    this.deviceKey = crypto.createPrivateKey(opts.device.keyPem);
    this.onboardKey = opts.onboard ? crypto.createPrivateKey(opts.onboard.keyPem) : undefined;
    this.transport = new DeviceTransport({
      server: opts.server,
      rootCertPem: opts.rootCertPem,
      timeoutMs: opts.requestTimeoutMs,
      clientCerts: opts.clientCerts,
      sharedContext: opts.sharedContext,
      stats: opts.fleetStats ? [this.stats, opts.fleetStats] : [this.stats],
      now: () => this.clock.now(),
    });
    this.model = new DeviceModel(hardwareFor(opts.serial, opts.hardware), opts.eveVersion ?? DEFAULT_EVE_VERSION, opts.knobs ?? {}, this.clock.now(), () =>
      this.clock.simNow(),
    );
    this.metricCounters = { bootedAt: this.clock.now(), ticks: 0, success: 0, failures: 0, authVerifyFailure: 0, urls: new Map() };
    this.setMaxListeners(100);
  }

  /** Create a device with a fresh self-signed device certificate (as EVE does on first boot). */
  static async create(o: Omit<SimDeviceOptions, 'device'> & { device?: Identity }): Promise<SimDevice> {
    const device = o.device ?? (await createDeviceCert({ cn: o.serial }));
    return new SimDevice({ ...o, device: { certPem: device.certPem, keyPem: device.keyPem } });
  }

  get deviceCertPem(): string {
    return this.opts.device.certPem;
  }

  // ------------------------------------------------------------------ lifecycle and knobs

  /** Power on. */
  start(): void {
    if (this.phase !== 'off' && this.phase !== 'stopped') return;
    const gen = ++this.bootGen;
    this.setPhase('booting');
    this.spawn('boot', this.boot(gen));
  }

  /** Power off: cancels every timer; in-flight requests finish but their results are ignored. */
  async stop(): Promise<void> {
    this.bootGen++;
    this.cancelAll();
    this.clock.cancel(this.offlineUntil);
    this.setPhase('stopped');
    for (let i = 0; i < 200 && this.transport.inflight > 0; i++) await new Promise((r) => setTimeout(r, 10));
  }

  /** Reboot now (as the reboot.counter op, the watchdog, or an update would). */
  reboot(reason = 'Reboot from agent kubeve-sim: requested', boot: BootReason = BootReason.REBOOT_CMD): void {
    const gen = ++this.bootGen;
    this.cancelAll();
    this.counters.reboots++;
    this.setPhase('rebooting');
    this.model.log('warning', 'nodeagent', reason, this.clock.now());
    this.emit('reboot', reason);
    this.after('reboot', this.opts.rebootMs ?? REBOOT_DURATION_MS, () => {
      if (gen !== this.bootGen) return;
      this.model.bootTime = this.clock.now();
      this.model.rebooted(reason, boot, this.clock.now());
      this.transport.resetSession();
      this.prevConfigHash = '';
      this.integrityToken = new Uint8Array(0);
      this.attestTried = 0;
      this.ticking = false;
      this.infoDraining = false;
      this.setPhase('booting');
      this.spawn('boot', this.boot(gen));
    });
  }

  /** Fault: no network for `simMs` (or until setOffline(false) when omitted). */
  setOffline(on: boolean, simMs?: number): void {
    this.transport.offline = on;
    this.clock.cancel(this.offlineUntil);
    if (on && simMs !== undefined) this.offlineUntil = this.clock.after(simMs, () => this.setOffline(false));
    if (!on) this.drainInfo();
    this.emit('offline', on);
  }

  get offline(): boolean {
    return this.transport.offline;
  }

  /** Fault: clock skew (affects certificate validity checks and every timestamp sent). */
  setClockSkew(ms: number): void {
    this.clock.skewMs = ms;
  }

  /** Poll config right now (tests); resolves when the poll finished. */
  async pollConfigNow(): Promise<void> {
    await this.fetchConfig(this.bootGen);
  }

  /** Resolve when `pred()` holds (checked on every device event and every 50 ms). */
  waitFor(pred: (d: SimDevice) => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      if (pred(this)) return resolve();
      const check = () => {
        if (pred(this)) {
          cleanup();
          resolve();
        }
      };
      const iv = setInterval(check, 50);
      const to = setTimeout(() => {
        cleanup();
        reject(new Error(`device ${this.serial}: timed out waiting for ${what} (phase ${this.phase}, last error: ${this.lastError})`));
      }, timeoutMs);
      const cleanup = () => {
        clearInterval(iv);
        clearTimeout(to);
        this.off('change', check);
      };
      this.on('change', check);
    });
  }

  private setPhase(p: SimPhase): void {
    if (this.phase === p) return;
    this.phase = p;
    this.emit('phase', p);
    this.emit('change');
  }

  private fail(msg: string): void {
    this.lastError = msg;
    this.emit('error-event', msg);
  }

  private after(name: string, simMs: number, fn: () => void | Promise<void>): void {
    this.clock.cancel(this.timers.get(name));
    const h = this.clock.after(simMs, () => {
      if (this.timers.get(name) === h) this.timers.delete(name);
      // a bug in one simulated device must not take the fleet down
      try {
        const p = fn();
        if (p) p.catch((e: unknown) => this.internalError(name, e));
      } catch (e) {
        this.internalError(name, e);
      }
    });
    this.timers.set(name, h);
  }

  /** Unexpected exceptions inside the simulator (counted as errors, reported once per kind). */
  internalErrors = 0;
  private internalError(where: string, e: unknown): void {
    this.internalErrors++;
    this.fail(`internal error in ${where}: ${(e as Error)?.stack ?? e}`);
    this.emit('internal-error', e);
  }

  private spawn(where: string, p: Promise<unknown>): void {
    p.catch((e: unknown) => this.internalError(where, e));
  }

  private cancelAll(): void {
    for (const h of this.timers.values()) this.clock.cancel(h);
    this.timers.clear();
  }

  private interval(key: keyof SimIntervals, item: string): number {
    const o = this.opts.intervals?.[key];
    return typeof o === 'number' ? o : this.model.seconds(item);
  }

  private jitter(ms: number, lo: number, hi: number): number {
    return this.opts.intervals?.jitter === false ? ms : this.clock.jitter(ms, lo, hi);
  }

  private path(action: string): string {
    return this.uuid ? `${API}id/${this.uuid}/${action}` : `${API}${action}`;
  }

  /** Send and keep zedcloud-style per-URL metrics. */
  private async send(action: string, body: Uint8Array | undefined, o: { register?: boolean; absolute?: boolean } = {}): Promise<SendResult> {
    const p = o.absolute ? `${API}${action}` : this.path(action);
    const identity = o.register ? this.opts.onboard : this.opts.device;
    const r = await this.transport.send(p, body, {
      identity,
      serial: this.uuid ? undefined : { serial: this.serial, softSerial: this.softSerial },
      resumable: !o.register,
    });
    const key = `${this.opts.server}${p}`.replace(/id\/[^/]+\//, 'id/<uuid>/');
    let u = this.metricCounters.urls.get(key);
    if (!u && this.metricCounters.urls.size < 32)
      this.metricCounters.urls.set(key, (u = { tries: 0, sent: 0, bytesSent: 0, bytesRecv: 0, msTotal: 0, resumed: 0 }));
    if (u) u.tries++;
    const now = this.clock.now();
    if (r.status === undefined) {
      this.metricCounters.failures++;
      this.metricCounters.lastFailure = now;
    } else {
      this.metricCounters.success++;
      this.metricCounters.lastSuccess = now;
      this.lastControllerContact = this.clock.simNow();
      if (u) {
        u.sent++;
        u.bytesSent += body?.byteLength ?? 0;
        u.bytesRecv += r.body.length;
        u.msTotal += r.ms;
        if (r.resumed) u.resumed++;
      }
    }
    return r;
  }

  /** Open a signed controller response; counts and reports rejections (EVE: SenderStatus*). */
  private open(r: HttpResponse, what: string): Uint8Array | undefined {
    try {
      return openControllerResponse(r.body, this.certs ? { certPem: this.certs.signingCertPem, key: this.certs.signingKey } : null);
    } catch (e) {
      this.counters.envelopeRejected++;
      this.stats.rejectedEnvelopes++;
      this.opts.fleetStats && this.opts.fleetStats.rejectedEnvelopes++;
      this.metricCounters.authVerifyFailure++;
      const reason = e instanceof EnvelopeError ? e.reason : 'malformed';
      this.fail(`${what}: controller response rejected (${reason}): ${(e as Error).message}`);
      this.model.log('error', 'zedagent', `${what}: ${(e as Error).message}`, this.clock.now());
      this.emit('rejected', { what, reason });
      if (reason === 'cert-miss') this.after('certs', 0, () => this.refreshCerts(this.bootGen));
      return undefined;
    }
  }

  // ------------------------------------------------------------------ onboarding (zedclient)

  private async boot(gen: number): Promise<void> {
    const backoff = new Backoff(1 * SECOND, 600 * SECOND);
    this.setPhase('onboarding');
    while (gen === this.bootGen) {
      if (!(await this.fetchCerts())) {
        if (gen !== this.bootGen) return;
        await this.sleepGen(backoff.next(), gen);
        continue;
      }
      if (gen !== this.bootGen) return;
      if (this.opts.onboard) await this.register();
      if (gen !== this.bootGen) return;
      if (await this.getUuid()) break;
      if (gen !== this.bootGen) return;
      await this.sleepGen(backoff.next(), gen);
    }
    if (gen !== this.bootGen) return;
    this.setPhase('registered');
    this.model.online();
    this.model.touchAll();
    this.emit('registered', this.uuid);
    this.startRuntime(gen);
  }

  private sleepGen(ms: number, gen: number): Promise<void> {
    return new Promise((resolve) => {
      if (gen !== this.bootGen) return resolve();
      this.after('boot', ms, resolve);
    });
  }

  /** GET /certs; zedclient accepts 200/201, zedagent exactly 200 with the proto content type. */
  private async fetchCerts(strict = false): Promise<boolean> {
    const r = await this.send('certs', undefined, { absolute: true });
    if (r.status === undefined) {
      this.counters.certsFailed++;
      this.fail(`certs: ${r.error}`);
      return false;
    }
    const okStatus = strict ? r.status === 200 : r.status === 200 || r.status === 201;
    const okType = strict ? isProtoContentType(r.headers) : hasProtoishContentType(r.headers);
    if (!okStatus || !okType) {
      this.counters.certsFailed++;
      this.fail(`certs: HTTP ${r.status} content-type ${r.headers['content-type'] ?? '(none)'}`);
      return false;
    }
    try {
      this.certs = validateControllerCerts(r.body, this.opts.rootCertPem, this.clock.now());
      this.counters.certsFetched++;
      return true;
    } catch (e) {
      this.counters.certsFailed++;
      this.fail(`certs: invalid controller certificates: ${(e as Error).message}`);
      return false;
    }
  }

  private async register(): Promise<void> {
    const onboard = this.opts.onboard!;
    const payload = toBinary(
      ZRegisterMsgSchema,
      create(ZRegisterMsgSchema, {
        pemCert: Buffer.from(Buffer.from(this.opts.device.certPem, 'latin1').toString('base64'), 'latin1'),
        serial: this.serial,
        softSerial: this.softSerial,
      }),
    );
    this.counters.registerAttempts++;
    const r = await this.send('register', sealRegisterRequest(payload, this.onboardKey!, onboard.certPem), { register: true, absolute: true });
    this.counters.lastRegisterStatus = r.status;
    // EVE only maps the outcome to an LED; /uuid decides (403 = not admitted yet, retried).
    if (r.status === undefined) this.fail(`register: ${r.error}`);
    else if (r.status === 403) this.fail('register: 403 onboarding certificate/serial not admitted (will retry)');
    else if (r.status === 409) this.model.log('warning', 'client', 'register: 409 conflict (already registered)', this.clock.now());
    else if (!isSuccess(r.status)) this.fail(`register: HTTP ${r.status}`);
  }

  /** POST /uuid with the device cert; the reply must be signed by the controller. */
  private async getUuid(): Promise<boolean> {
    this.counters.uuidRequests++;
    this.lastUuidCheck = this.clock.simNow();
    const r = await this.send('uuid', sealDeviceRequest(new Uint8Array(0), this.deviceKey, this.opts.device.certPem), { absolute: true });
    if (r.status === undefined) {
      this.fail(`uuid: ${r.error}`);
      return false;
    }
    if ((r.status !== 200 && r.status !== 201) || !hasProtoishContentType(r.headers)) {
      this.fail(`uuid: HTTP ${r.status}`);
      return false;
    }
    const payload = this.open(r, 'uuid');
    if (!payload) return false;
    let uuid: string;
    try {
      const resp = fromBinary(UuidResponseSchema, payload);
      uuid = resp.uuid;
      if (resp.manufacturer && resp.productName) {
        this.model.hw.manufacturer = resp.manufacturer;
        this.model.hw.productName = resp.productName;
      }
    } catch (e) {
      this.fail(`uuid: undecodable UuidResponse: ${(e as Error).message}`);
      return false;
    }
    if (!UUID_RE.test(uuid)) {
      this.fail(`uuid: invalid UUID ${JSON.stringify(uuid)}`);
      return false;
    }
    if (uuid !== this.uuid) {
      const old = this.uuid;
      this.uuid = uuid;
      this.prevConfigHash = '';
      this.model.touchAll();
      this.model.log('info', 'client', old ? `device UUID changed from ${old} to ${uuid}` : `device UUID ${uuid}`, this.clock.now());
      this.emit('uuid', uuid, old);
    }
    this.emit('change');
    return true;
  }

  // ------------------------------------------------------------------ runtime (zedagent & co)

  private startRuntime(gen: number): void {
    if (this.opts.attestation) this.spawn('attest', this.attest(gen));
    // zedagent: first config poll right away
    this.after('config', 0, () => this.configTick(gen));
    if (this.opts.metrics !== false)
      this.after('metrics', this.jitter(this.interval('metrics', 'timer.metric.interval'), 0.3, 1.0), () => this.metricsTick(gen));
    this.after('devinfo', this.jitter(this.interval('deviceInfo', 'timer.deviceinfo.interval'), 0.8, 1.2), () => this.periodicInfo(gen));
    this.after('certs', this.jitter(this.interval('certs', 'timer.cert.interval'), 0.3, 1.0), () => this.refreshCerts(gen));
    if (this.opts.logs !== false) {
      this.logOpenedAt = this.clock.simNow();
      this.after('logs', this.logDelay(), () => this.logTick(gen));
    }
    this.flushInfo();
    this.kick();
  }

  private async configTick(gen: number): Promise<void> {
    if (gen !== this.bootGen) return;
    await this.fetchConfig(gen);
    if (gen !== this.bootGen) return;
    // No backoff on failure: the next poll is always a fresh random fraction of the interval.
    if (!this.timers.has('config')) this.after('config', this.jitter(this.interval('config', 'timer.config.interval'), 0.3, 1.0), () => this.configTick(gen));
  }

  private async fetchConfig(gen: number): Promise<void> {
    if (!this.uuid) return;
    this.counters.configRequests++;
    const req = toBinary(ConfigRequestSchema, create(ConfigRequestSchema, { configHash: this.prevConfigHash, integrityToken: this.integrityToken }));
    const r = await this.send('config', sealDeviceRequest(req, this.deviceKey, this.opts.device.certPem));
    if (gen !== this.bootGen) return;
    if (r.status === undefined) {
      this.counters.configErrors++;
      this.fail(`config: ${r.error}`);
      return;
    }
    switch (r.status) {
      case 304:
        this.counters.configUnchanged++;
        this.stats.configsUnchanged++;
        if (this.opts.fleetStats) this.opts.fleetStats.configsUnchanged++;
        this.configContact();
        return;
      case 200:
        break;
      case 404:
      case 400:
        this.counters.configNotFound++;
        this.fail(`config: HTTP ${r.status}: device deleted in controller?`);
        this.model.log('warning', 'zedagent', 'Device deleted in controller?', this.clock.now());
        this.emit('not-found');
        await this.potentialUuidUpdate();
        return;
      case 403:
        this.counters.configErrors++;
        this.fail('config: HTTP 403 (integrity token mismatch)');
        if (this.opts.attestation && this.attestTried > 0) this.spawn('attest', this.attest(gen));
        return;
      default:
        this.counters.configErrors++;
        this.fail(`config: HTTP ${r.status}`);
        return;
    }
    if (!isProtoContentType(r.headers)) {
      this.counters.configErrors++;
      this.fail(`config: unexpected content type ${r.headers['content-type']}`);
      return;
    }
    const payload = this.open(r, 'config');
    if (!payload) {
      this.counters.configRejected++;
      return;
    }
    let resp;
    try {
      resp = fromBinary(ConfigResponseSchema, payload);
    } catch (e) {
      this.counters.configErrors++;
      this.fail(`config: undecodable ConfigResponse: ${(e as Error).message}`);
      return;
    }
    this.configContact();
    this.metricCounters.lastReceivedConfig = this.clock.now();
    if (resp.configHash === this.prevConfigHash) {
      this.counters.configUnchanged++;
      this.stats.configsUnchanged++;
      if (this.opts.fleetStats) this.opts.fleetStats.configsUnchanged++;
      return;
    }
    if (!resp.config) {
      // Real EVE dereferences the nil config and its watchdog reboots the device.
      this.counters.configErrors++;
      this.fail('config: new configHash without config (EVE would panic)');
      this.reboot('Reboot from agent watchdog: zedagent panic (nil config)', BootReason.WATCHDOG_PID);
      return;
    }
    this.prevConfigHash = resp.configHash;
    const res = this.model.apply(resp.config, this.uuid, this.clock.now());
    this.metricCounters.lastProcessedConfig = this.clock.now();
    if (res.invalid) {
      this.counters.configErrors++;
      this.fail(`config: ${res.invalid}`);
      return;
    }
    this.counters.configApplied++;
    if (this.phase === 'registered') this.setPhase('configured');
    this.stats.configsApplied++;
    if (this.opts.fleetStats) this.opts.fleetStats.configsApplied++;
    this.model.log('info', 'zedagent', `applied config ${resp.configHash} (version ${resp.config.id?.version ?? ''})`, this.clock.now());
    this.emit('config', resp.configHash, resp.config);
    if (res.reboot) return this.reboot('Reboot from agent zedagent: reboot.counter changed by controller', BootReason.REBOOT_CMD);
    if (res.certsHashChanged) this.after('certs', 0, () => this.refreshCerts(gen));
    if (res.epochChanged) this.model.touchAll();
    if (res.timersChanged?.includes('timer.config.interval')) this.after('config', 0, () => this.configTick(gen));
    if (res.timersChanged?.includes('timer.metric.interval') && this.opts.metrics !== false) {
      this.after('metrics', this.jitter(this.interval('metrics', 'timer.metric.interval'), 0.3, 1.0), () => this.metricsTick(gen));
    }
    this.flushInfo();
    this.kick();
  }

  private configContact(): void {
    if (this.phase === 'registered' && (this.prevConfigHash || this.counters.configApplied)) this.setPhase('configured');
    this.model.controllerContact(this.clock.now());
    this.model.online();
    this.emit('change');
  }

  /** zedagent's potentialUUIDUpdate: `client getUuid` at most every 10 min. */
  private async potentialUuidUpdate(): Promise<void> {
    if (this.clock.simNow() - this.lastUuidCheck < 10 * MINUTE) return;
    await this.getUuid();
  }

  private async refreshCerts(gen: number): Promise<void> {
    if (gen !== this.bootGen) return;
    const ok = await this.fetchCerts(true);
    if (gen !== this.bootGen) return;
    this.after('certs', ok ? this.jitter(this.interval('certs', 'timer.cert.interval'), 0.3, 1.0) : 120 * SECOND, () => this.refreshCerts(gen));
  }

  /** Attestation without a TPM: nonce, then a quote carrying only versions → integrity token. */
  private async attest(gen: number): Promise<void> {
    this.attestTried++;
    const call = async (req: Parameters<typeof create<typeof ZAttestReqSchema>>[1]) => {
      const body = sealDeviceRequest(toBinary(ZAttestReqSchema, create(ZAttestReqSchema, req)), this.deviceKey, this.opts.device.certPem);
      const r = await this.send('attest', body);
      if (r.status === undefined || !isSuccess(r.status)) return undefined;
      const p = this.open(r, 'attest');
      return p && fromBinary(ZAttestResponseSchema, p);
    };
    const nonce = await call({ reqType: ZAttestReqType.ATTEST_REQ_NONCE });
    if (gen !== this.bootGen) return;
    if (nonce?.nonce?.nonce.length) {
      const quote = await call({
        reqType: ZAttestReqType.ATTEST_REQ_QUOTE,
        quote: { versions: [{ versionType: AttestVersionType.EVE, version: this.model.runningVersion }] },
      });
      if (gen !== this.bootGen) return;
      if (quote?.quoteResp?.response === ZAttestResponseCode.SUCCESS) {
        this.integrityToken = quote.quoteResp.integrityToken;
        this.counters.attestations++;
        return;
      }
    }
    this.after('attest', 15 * SECOND, () => this.attest(gen));
  }

  // ------------------------------------------------------------------ model ticking and info

  private kick(): void {
    if (this.ticking || !this.model.busy()) return;
    this.ticking = true;
    const gen = this.bootGen;
    this.after('step', this.opts.stepMs ?? MODEL_DEFAULT_STEP_MS, () => this.tick(gen));
  }

  private tick(gen: number): void {
    this.ticking = false;
    if (gen !== this.bootGen) return;
    const r = this.model.step(this.clock.now());
    this.emit('change');
    this.flushInfo();
    if (r.reboot) return this.reboot(r.reboot.reason, r.reboot.boot);
    this.kick();
  }

  /** Move the model's changed objects into the deferred queue (latest state per object). */
  private flushInfo(): void {
    if (!this.uuid || (this.phase !== 'registered' && this.phase !== 'configured')) return;
    for (const k of this.model.deleted.keys()) this.enqueueInfo(k);
    this.model.deleted.clear();
    for (const k of this.model.dirty) this.enqueueInfo(k);
    this.model.dirty.clear();
    this.drainInfo();
  }

  private enqueueInfo(key: string): void {
    const item = this.infoQueue.get(key);
    // a newer message for the same object replaces the queued one
    if (item) item.seq++;
    else this.infoQueue.set(key, { attempts: 0, notBefore: 0, seq: 0 });
  }

  get pendingInfo(): number {
    return this.infoQueue.size;
  }

  private drainInfo(): void {
    if (this.infoDraining || !this.uuid || this.transport.offline) return;
    this.infoDraining = true;
    this.spawn(
      'info',
      this.drainPass(this.bootGen).finally(() => {
        this.infoDraining = false;
      }),
    );
  }

  private async drainPass(gen: number): Promise<void> {
    // priority: apps, then hardware, then everything else (EVE's deferred queue order)
    const rank = (k: string) => (k.startsWith('app:') ? 0 : k === 'hw' ? 1 : 2);
    for (;;) {
      const now = this.clock.simNow();
      const ready = [...this.infoQueue].filter(([, v]) => v.notBefore <= now).sort((a, b) => rank(a[0]) - rank(b[0]));
      if (!ready.length) break;
      for (const [key, item] of ready) {
        if (gen !== this.bootGen) return;
        if (this.infoQueue.get(key) !== item) continue;
        const seq = item.seq;
        const msg = buildInfo(this.model, key, { devUuid: this.uuid, serial: this.serial, now: this.clock.now() });
        if (!msg) {
          this.infoQueue.delete(key);
          continue;
        }
        const r = await this.send('info', sealDeviceRequest(encodeInfo(msg), this.deviceKey, this.opts.device.certPem));
        if (gen !== this.bootGen) return;
        if (r.status === undefined) {
          // no response: abort this pass; the queue timer retries (1 → 15 min)
          this.after('infoq', this.infoQueueBackoff.next(), () => this.drainInfo());
          return;
        }
        const s = r.status;
        if (s >= 200 && s < 300) {
          this.counters.infoSent++;
          this.infoQueueBackoff.reset();
          // a newer change queued meanwhile stays queued
          if (this.infoQueue.get(key) === item && item.seq === seq && !this.model.dirty.has(key)) this.infoQueue.delete(key);
          else item.attempts = 0;
        } else if ([401, 403, 407, 408, 429].includes(s) || s >= 500) {
          this.counters.infoRetried++;
          item.attempts++;
          item.notBefore = this.clock.simNow() + INFO_RETRY_MIN[Math.min(item.attempts, INFO_RETRY_MIN.length) - 1]! * MINUTE;
        } else {
          this.counters.infoDropped++;
          this.fail(`info ${key}: HTTP ${s}, message dropped`);
          this.infoQueue.delete(key);
        }
      }
      if (this.model.dirty.size || this.model.deleted.size) {
        for (const k of this.model.deleted.keys()) this.enqueueInfo(k);
        this.model.deleted.clear();
        for (const k of this.model.dirty) this.enqueueInfo(k);
        this.model.dirty.clear();
      }
    }
    if (this.infoQueue.size) {
      const next = Math.min(...[...this.infoQueue.values()].map((v) => v.notBefore));
      this.after('infoq', Math.max(1000, next - this.clock.simNow()), () => this.drainInfo());
    }
    this.emit('change');
  }

  /** Periodic device info (separate queue, discarded on failure). */
  private async periodicInfo(gen: number): Promise<void> {
    if (gen !== this.bootGen) return;
    const msg = buildInfo(this.model, 'device', { devUuid: this.uuid, serial: this.serial, now: this.clock.now() })!;
    const r = await this.send('info', sealDeviceRequest(encodeInfo(msg), this.deviceKey, this.opts.device.certPem));
    if (gen !== this.bootGen) return;
    if (r.status !== undefined && r.status >= 200 && r.status < 300) this.counters.infoSent++;
    this.after('devinfo', this.jitter(this.interval('deviceInfo', 'timer.deviceinfo.interval'), 0.8, 1.2), () => this.periodicInfo(gen));
  }

  private async metricsTick(gen: number): Promise<void> {
    if (gen !== this.bootGen) return;
    const now = this.clock.now();
    const body = buildMetrics(this.model, { devUuid: this.uuid, serial: this.serial, now }, this.metricCounters);
    for (const a of this.model.apps.values()) {
      if (a.state === ZSwState.RUNNING)
        this.model.log('info', a.cfg.displayname || 'app', `[console] ${a.cfg.displayname} heartbeat ${this.metricCounters.ticks}`, now, a.uuid);
    }
    const r = await this.send('metrics', sealDeviceRequest(body, this.deviceKey, this.opts.device.certPem));
    if (gen !== this.bootGen) return;
    // best effort: failures are dropped, the next tick sends fresh data
    if (r.status !== undefined && isSuccess(r.status)) this.counters.metricsSent++;
    else this.counters.metricsFailed++;
    this.after('metrics', this.jitter(this.interval('metrics', 'timer.metric.interval'), 0.3, 1.0), () => this.metricsTick(gen));
  }

  // ------------------------------------------------------------------ logs (newlogd + loguploader)

  private logDelay(): number {
    const override = this.opts.intervals?.logs;
    if (override !== undefined) return this.jitter(override, 0.8, 1.2);
    const now = this.clock.simNow();
    if (now - this.lastControllerContact > 20 * MINUTE && this.lastControllerContact > 0) return 180 * SECOND + this.clock.random() * 720 * SECOND;
    const n = this.logFiles.length;
    let base = n < 5 ? 90 : n < 25 ? 45 : n < 50 ? 30 : n < 200 ? 15 : n < 1000 ? 8 : 3;
    if (this.model.item('newlog.allow.fastupload') === true) base = 3;
    let ms = base * SECOND;
    if (now < this.logSlowUntil) ms = Math.max(ms, this.logInterval429);
    return this.jitter(ms, 0.8, 1.2);
  }

  /** Close the collection files that are old or big enough into gzip files. */
  private collectLogs(force = false): void {
    const now = this.clock.simNow();
    const closeAfter = this.model.item('newlog.allow.fastupload') === true ? 10 * SECOND : 300 * SECOND;
    if (!force && now - this.logOpenedAt < closeAfter && this.model.logs.length < 2000) return;
    this.logOpenedAt = now;
    const lines = this.model.logs.splice(0);
    if (!lines.length) return;
    const dev = lines.filter((l) => !l.appUuid || l.source !== (this.model.apps.get(l.appUuid)?.cfg.displayname || 'app'));
    const byApp = new Map<string, typeof lines>();
    for (const l of lines) if (l.appUuid && !dev.includes(l)) (byApp.get(l.appUuid) ?? byApp.set(l.appUuid, []).get(l.appUuid)!).push(l);
    const bundle = JSON.stringify({ devID: this.uuid, image: this.model.partitions[this.model.current].label, eveVersion: this.model.runningVersion });
    for (let i = 0; i < dev.length; i += 500) {
      const body = buildNewlogs(
        dev.slice(i, i + 500).map((l) => logEntryJson(l, ++this.logMsgId)),
        { comment: bundle, mtime: new Date(this.clock.now()) },
      );
      this.logFiles.push({ body, failures: 0 });
    }
    for (const [app, ls] of byApp) {
      const name = this.model.apps.get(app)?.cfg.displayname ?? app;
      this.logFiles.push({
        app,
        appName: name,
        body: buildNewlogs(
          ls.slice(-500).map((l) => logEntryJson(l, ++this.logMsgId)),
          { name, mtime: new Date(this.clock.now()) },
        ),
        failures: 0,
      });
    }
    // keep the backlog bounded (EVE caps gzip files on disk)
    if (this.logFiles.length > 200) this.logFiles.splice(0, this.logFiles.length - 200);
  }

  get pendingLogFiles(): number {
    return this.logFiles.length;
  }

  /** Upload one device file and one app file per tick, as loguploader does. */
  private async logTick(gen: number): Promise<void> {
    if (gen !== this.bootGen) return;
    this.collectLogs();
    const picks = [this.logFiles.find((f) => !f.app), this.logFiles.find((f) => f.app)].filter((f): f is NonNullable<typeof f> => !!f);
    for (const f of picks) {
      const action = f.app ? `apps/instanceid/${f.app}/newlogs` : 'newlogs';
      const r = await this.send(action, sealDeviceRequest(f.body, this.deviceKey, this.opts.device.certPem));
      if (gen !== this.bootGen) return;
      if (r.status === 200 || r.status === 201) {
        this.counters.logFilesSent++;
        this.logFiles.splice(this.logFiles.indexOf(f), 1);
      } else if (r.status === 429) {
        this.logInterval429 = Math.min(300 * SECOND, Math.max(this.logInterval429 || 90 * SECOND, 90 * SECOND) * 2);
        this.logSlowUntil = this.clock.simNow() + HOUR;
        break;
      } else if (r.status === undefined || r.status === 503) {
        break; // same file again later
      } else if (++f.failures >= 10) {
        this.counters.logFilesFailed++;
        this.logFiles.splice(this.logFiles.indexOf(f), 1); // → failedUpload
      }
    }
    this.after('logs', this.logDelay(), () => this.logTick(gen));
  }

  /** Close and upload what is buffered now (tests). */
  async flushLogsNow(): Promise<void> {
    this.collectLogs(true);
    const gen = this.bootGen;
    while (this.logFiles.length && gen === this.bootGen && !this.transport.offline) {
      const before = this.logFiles.length;
      this.clock.cancel(this.timers.get('logs'));
      await this.logTick(gen);
      if (this.logFiles.length >= before) break;
    }
  }
}
