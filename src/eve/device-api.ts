// EVE API v2 device-facing HTTPS server (https://<host>:<port>/api/v2/edgedevice/...).
//
// Status codes follow how real EVE reacts (reference §2.1):
//   400 malformed envelope/body   401 unknown sender cert or bad signature
//   403 onboarding cert/serial not admitted   404 device deleted, or URL UUID ≠ signer
//   409 conflicting registration   413 body too large   503 layer above not ready (retry)
// Every response carries Content-Type application/x-proto-binary (zedclient rejects a 2xx
// without one). Every enveloped response is signed with the controller signing cert.
import https from 'node:https';
import path from 'node:path';
import fs from 'node:fs';
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { ConfigRequestSchema } from './gen/config/devconfig_pb.ts';
import { ZRegisterMsgSchema } from './gen/register/register_pb.ts';
import { UuidResponseSchema } from './gen/eveuuid/eveuuid_pb.ts';
import { ZInfoMsgSchema } from './gen/info/info_pb.ts';
import { ZMetricMsgSchema } from './gen/metrics/metrics_pb.ts';
import { FlowMessageSchema } from './gen/flowlog/flowlog_pb.ts';
import { ZHardwareHealthSchema } from './gen/hardwarehealth/hardware_health_pb.ts';
import { ZAttestReqSchema, ZAttestResponseSchema } from './gen/attest/attest_pb.ts';
import type { AuthContainer } from './gen/auth/auth_pb.ts';
import { type EnvelopeError, PROTO_CONTENT_TYPE, certDer, parseEnvelope, sealControllerResponse, verifyEnvelope, type VerifyKey } from './envelope.ts';
import { loadOrCreatePki, type ControllerPki } from './pki.ts';
import { API_PREFIX } from './device-client.ts';
import { controllerCertsBody } from './certs.ts';
import { DeviceRegistry, KeyCache, certHashB64, spkiOf, type DeviceDetails, type DeviceRecord } from './registry.ts';
import { ConfigError, ConfigStore } from './config-store.ts';
import { MetricsStore } from './metrics.ts';
import { LogStore } from './logstore.ts';
import { NewlogsError, parseNewlogs } from './newlogs.ts';
import { AttestError, NonceTable, handleAttest } from './attest.ts';
import { checkWireFormat } from './wire-check.ts';
import { NotReadyError, type DesiredConfig, type DeviceHooks, type RegisteredDevice } from './hooks.ts';
import type { EdgeDevConfig } from './gen/config/devconfig_pb.ts';
import { answerPlainHttp } from '../common/plain-http.ts';
import type { DeviceApiMetrics } from '../observability/metrics.ts';
import { log as processLog, type Logger } from '../observability/log.ts';

export const DEFAULT_DEVICE_API_PORT = 8443;

export interface DeviceApiOptions {
  dataDir: string;
  /** Listen address (default all interfaces). */
  host?: string;
  /** 0 = any free port. */
  port: number;
  hooks: DeviceHooks;
  /** Request body limit (default 1 MiB; EVE's largest bodies — attestation quotes, logs — are < 70 KB). */
  maxBodyBytes?: number;
  /** Names/IPs for the TLS certificate SAN (what devices put in /config/server). */
  tlsHosts?: string[];
  /** Device KeyObjects kept (default 8192 ≈ 21 MiB); devices beyond verify ~130 µs slower. */
  keyCacheSize?: number;
  /** Bound of the signed-config-response cache (default 32 MiB). */
  maxSignedConfigBytes?: number;
  /** Bound of the latest-metrics store (default 64 MiB). */
  maxMetricsBytes?: number;
  /** Per log file cap (default 1 MiB; two files per device/app). */
  maxLogFileBytes?: number;
  /** Request counts/latency by endpoint and status, onboarding results. */
  metrics?: DeviceApiMetrics;
  logger?: Logger;
}

export interface DeviceSummary extends DeviceDetails {
  lastContact?: number;
  configHash?: string;
  configApplied: boolean;
}

export interface DeviceApi {
  readonly port: number;
  /** The underlying HTTPS server (diagnostics, e.g. TLS resumption counters). */
  readonly httpsServer: https.Server;
  /** What devices put in /config/server, e.g. "localhost:8443". */
  serverAddress(host?: string): string;
  readonly pki: ControllerPki;
  readonly metrics: MetricsStore;
  readonly logs: LogStore;
  /** Push the desired config of a device (registered or pre-set UUID). Cheap when unchanged. */
  setConfig(uuid: string, cfg: DesiredConfig): { hash: string; changed: boolean };
  getConfig(uuid: string): { hash: string; config: EdgeDevConfig } | undefined;
  /** Register a device directly by its device certificate (no onboarding). */
  addDevice(d: { deviceCertPem: string; uuid?: string; serial?: string; softSerial?: string; onboardCertHash?: string }): RegisteredDevice;
  /** Forget a device: it then gets 404 and re-runs getUuid, like EVE after a controller-side delete. */
  deleteDevice(uuid: string): Promise<boolean>;
  getDevice(uuid: string): DeviceSummary | undefined;
  listDevices(): DeviceSummary[];
  readonly deviceCount: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Who a request came from, as far as it got: what a refusal is logged with. */
interface Sender {
  device?: string;
  serial?: string;
}

/** The endpoint label of a device API path (bounded: UUIDs never appear). */
function endpointOf(rest: string): string {
  if (rest === 'ping' || rest === 'certs' || rest === 'register' || rest === 'uuid') return rest;
  const m = /^id\/[^/]+\/(.+)$/.exec(rest);
  if (!m) return 'unknown';
  if (/^apps\/instanceid\/[^/]+\/newlogs$/.test(m[1]!)) return 'apps/newlogs';
  return ['config', 'attest', 'info', 'metrics', 'flowlog', 'hardwarehealth', 'newlogs'].includes(m[1]!) ? m[1]! : 'unknown';
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SOFT_SERIAL_RE = /^[a-zA-Z0-9_-]*$/;

function decode<D extends DescMessage>(schema: D, bytes: Uint8Array, what: string): MessageShape<D> {
  try {
    // Go's proto.Unmarshal refuses what the lenient JS decoder would skip (EVE/Adam parity).
    checkWireFormat(schema, bytes);
    return fromBinary(schema, bytes);
  } catch (e) {
    throw new HttpError(400, `malformed ${what}: ${(e as Error).message}`);
  }
}

export async function startDeviceApi(opts: DeviceApiOptions): Promise<DeviceApi> {
  const dir = path.join(opts.dataDir, 'eve');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = await loadOrCreatePki({ dir: path.join(dir, 'pki'), hosts: opts.tlsHosts });
  const registry = new DeviceRegistry(path.join(dir, 'devices.db'));
  const configs = new ConfigStore(registry, pki, opts.maxSignedConfigBytes);
  const keys = new KeyCache(opts.keyCacheSize ?? 8192);
  const metrics = new MetricsStore(opts.maxMetricsBytes);
  const logs = new LogStore(path.join(dir, 'logs'), opts.maxLogFileBytes);
  const nonces = new NonceTable();
  const hooks = opts.hooks;
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  const logger = opts.logger ?? processLog;
  const stats = opts.metrics;
  // A refusal a device repeats (every poll) is logged once a minute, not on every retry.
  const lastRefusal = new Map<string, number>();
  function logRefusal(method: string, endpoint: string, status: number, reason: string, who: Sender): void {
    const key = `${who.device ?? who.serial ?? ''}|${endpoint}|${status}|${reason}`;
    const now = Date.now();
    if ((lastRefusal.get(key) ?? -Infinity) > now - 60_000) return;
    if (lastRefusal.size > 10_000) lastRefusal.clear();
    lastRefusal.set(key, now);
    logger.info('device request refused', { device: who.device, serial: who.serial, method, endpoint, status, reason });
  }
  const certsBody = controllerCertsBody(pki);
  const sign = (payload: Uint8Array) => sealControllerResponse(payload, pki.signing.key, pki.signing.certPem);

  // ---- request plumbing -------------------------------------------------------------------

  function send(res: ServerResponse, status: number, body?: Uint8Array): void {
    if (res.headersSent) return;
    res.writeHead(status, {
      'Content-Type': PROTO_CONTENT_TYPE,
      ...(body && status !== 304 ? { 'Content-Length': body.length } : { 'Content-Length': 0 }),
    });
    res.end(status === 304 ? undefined : body);
  }

  function readBody(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (declared > maxBody) return reject(new HttpError(413, `body of ${declared} bytes exceeds ${maxBody}`));
      const chunks: Buffer[] = [];
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
        if (n > maxBody) {
          req.removeAllListeners('data');
          req.pause();
          reject(new HttpError(413, `body exceeds ${maxBody} bytes`));
        } else chunks.push(c);
      });
      req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n)));
      req.on('error', (e) => reject(new HttpError(400, `request body: ${e.message}`)));
    });
  }

  /** Authenticate an enveloped device request: returns the device and the verified payload. */
  function authenticate(body: Uint8Array, urlUuid: string | undefined, who: Sender): { rec: DeviceRecord; payload: Uint8Array } {
    let c: AuthContainer;
    try {
      c = parseEnvelope(body);
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
    if (c.senderCertHash.length === 0) throw new HttpError(401, 'empty senderCertHash');
    const hashKey = Buffer.from(c.senderCertHash).toString('base64');
    const rec = registry.byCertHash(hashKey);
    who.device = rec?.uuid ?? urlUuid ?? `certHash:${hashKey}`;
    if (!rec) {
      // A device we deleted still signs with its old cert: prove it, then say 404 so EVE
      // concludes "device deleted in controller?" and re-fetches its UUID.
      const gone = registry.deletedByCertHash(hashKey);
      if (gone) {
        verifyOrThrow(c, { ecSpki: Buffer.from(spkiOf(gone.deviceCertPem), 'latin1') });
        throw new HttpError(404, `device ${gone.uuid} was deleted`);
      }
      throw new HttpError(401, 'unknown sender certificate');
    }
    const payload = verifyOrThrow(c, keys.get(rec));
    // Adam trusts the signer and ignores the URL UUID; we insist they agree.
    if (urlUuid !== undefined && urlUuid !== rec.uuid) throw new HttpError(404, `URL device ${urlUuid} is not the signer`);
    const now = Date.now();
    rec.lastContact = now;
    hooks.onContact?.(rec.uuid, now);
    return { rec, payload };
  }

  function verifyOrThrow(c: AuthContainer, key: VerifyKey): Uint8Array {
    try {
      return verifyEnvelope(c, key);
    } catch (e) {
      throw new HttpError(401, (e as EnvelopeError).message);
    }
  }

  // ---- endpoints ----------------------------------------------------------------------------

  async function register(body: Uint8Array, who: Sender): Promise<number> {
    try {
      const code = await registerOnce(body, who);
      stats?.onboarding(code === 201 ? 'registered' : code === 200 ? 'repeat' : 'conflict');
      if (code === 409)
        logRefusal(
          'POST',
          'register',
          409,
          'conflicting registration: the device certificate or onboarding certificate/serial is registered to another device',
          who,
        );
      return code;
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (status < 500) stats?.onboarding(status === 403 ? 'denied' : status === 409 ? 'conflict' : 'invalid');
      throw e;
    }
  }

  async function registerOnce(body: Uint8Array, who: Sender): Promise<number> {
    let c: AuthContainer;
    try {
      c = parseEnvelope(body);
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
    if (c.senderCert.length === 0) throw new HttpError(400, 'register without senderCert');
    let onboardPem: string;
    let onboardDer: Buffer;
    let onboardKey: crypto.KeyObject;
    try {
      onboardPem = Buffer.from(Buffer.from(c.senderCert).toString('latin1'), 'base64').toString('latin1');
      onboardDer = certDer(onboardPem);
      onboardKey = new crypto.X509Certificate(onboardDer).publicKey;
    } catch {
      throw new HttpError(400, 'senderCert is not a base64 PEM certificate');
    }
    const onboardHash = crypto.createHash('sha256').update(onboardDer).digest();
    if (!onboardHash.equals(Buffer.from(c.senderCertHash))) throw new HttpError(401, 'senderCertHash does not match senderCert');
    const payload = verifyOrThrow(c, onboardKey);
    const msg = decode(ZRegisterMsgSchema, payload, 'ZRegisterMsg');
    // EVE's own validation rules for ZRegisterMsg (protoc-gen-validate in eve-api).
    if (msg.pemCert.length < 100 || msg.pemCert.length > 10240) throw new HttpError(422, 'pemCert must be 100..10240 bytes');
    if (msg.serial.length > 256 || msg.softSerial.length > 256) throw new HttpError(422, 'serial too long');
    if (!SOFT_SERIAL_RE.test(msg.softSerial)) throw new HttpError(422, 'softSerial has invalid characters');
    const raw = Buffer.from(msg.pemCert).toString('latin1');
    // EVE sends base64(PEM); accept a bare PEM too.
    const deviceCertPem = (raw.includes('-----BEGIN') ? raw : Buffer.from(raw, 'base64').toString('latin1')).trim();
    let deviceHash: string;
    try {
      deviceHash = certHashB64(deviceCertPem);
      spkiOf(deviceCertPem);
    } catch {
      throw new HttpError(422, 'pemCert is not a certificate');
    }
    const serial = msg.serial.trim();
    const softSerial = msg.softSerial.trim();
    who.serial = serial || softSerial || undefined;
    const onboardHex = onboardHash.toString('hex');

    // Repeat registrations happen on every boot: same cert → 200, different cert → 409.
    const existing = registry.byCertHash(deviceHash);
    if (existing) {
      const d = registry.details(existing.uuid)!;
      const same = d.onboardCertHash === onboardHex && (d.serial === serial || (softSerial !== '' && d.softSerial === softSerial));
      return same ? 200 : 409;
    }
    if (registry.findByOnboarding(onboardHex, serial, softSerial)) return 409;

    const decision = await hooks.admitOnboarding({
      onboardCertPem: onboardPem,
      onboardCertHash: onboardHex,
      serial,
      softSerial,
      deviceCertPem,
      deviceCertHash: Buffer.from(deviceHash, 'base64').toString('hex'),
    });
    if (decision === 'deny') throw new HttpError(403, 'onboarding certificate/serial not admitted');
    if ('deny' in decision) throw new HttpError(403, decision.deny);
    const uuid = ((decision as { uuid?: string }).uuid ?? crypto.randomUUID()).toLowerCase();
    if (!UUID_RE.test(uuid)) throw new HttpError(500, `admitOnboarding returned an invalid UUID ${uuid}`);
    // Re-check after the await: a concurrent request may have registered meanwhile.
    if (registry.byCertHash(deviceHash)) return 200;
    if (registry.get(uuid)) return 409;
    registry.insert({ uuid, deviceCertPem, serial, softSerial, onboardCertHash: onboardHex });
    await hooks.deviceRegistered?.(toRegistered(registry.details(uuid)!));
    who.device = uuid;
    logger.info('registered device', { device: uuid, serial, softSerial: softSerial || undefined });
    return 201;
  }

  async function config(rec: DeviceRecord, payload: Uint8Array, res: ServerResponse): Promise<void> {
    const req = decode(ConfigRequestSchema, payload, 'ConfigRequest');
    if (!rec.configHash) {
      const cfg = await hooks.desiredConfig?.(rec.uuid);
      if (!cfg) throw new HttpError(503, `no config for ${rec.uuid} yet`);
      try {
        configs.set(rec.uuid, cfg);
      } catch (e) {
        throw new HttpError(503, `desired config rejected: ${(e as Error).message}`);
      }
    }
    const hash = rec.configHash;
    if (req.configHash === hash) {
      // The 304 path: no storage access, no signing.
      if (!rec.configAcked) {
        rec.configAcked = true;
        hooks.configApplied?.(rec.uuid, hash);
      }
      return send(res, 304);
    }
    const body = configs.signedResponse(rec.uuid, hash);
    if (!body) throw new HttpError(503, 'config not available');
    send(res, 200, body);
  }

  async function deviceAction(action: string, rec: DeviceRecord, payload: Uint8Array, res: ServerResponse): Promise<void> {
    switch (action) {
      case 'config':
        return config(rec, payload, res);
      case 'attest': {
        const req = decode(ZAttestReqSchema, payload, 'ZAttestReq');
        let resp;
        try {
          resp = handleAttest(rec.uuid, req, { registry, nonces, hooks });
        } catch (e) {
          if (e instanceof AttestError) throw new HttpError(400, e.message);
          throw e;
        }
        return send(res, 201, sign(toBinary(ZAttestResponseSchema, resp)));
      }
      case 'info': {
        const msg = decode(ZInfoMsgSchema, payload, 'ZInfoMsg');
        try {
          await hooks.onInfo?.(rec.uuid, msg);
        } catch (e) {
          // 5xx keeps the item in EVE's deferred queue; a 4xx would drop it for good.
          throw new HttpError(503, `info not accepted: ${(e as Error).message}`);
        }
        return send(res, 201);
      }
      case 'metrics': {
        const msg = decode(ZMetricMsgSchema, payload, 'ZMetricMsg');
        metrics.put(rec.uuid, payload);
        hooks.onMetrics?.(rec.uuid, msg);
        return send(res, 201);
      }
      case 'flowlog': {
        const msg = decode(FlowMessageSchema, payload, 'FlowMessage');
        hooks.onFlowLog?.(rec.uuid, msg);
        return send(res, 201);
      }
      case 'hardwarehealth': {
        const msg = decode(ZHardwareHealthSchema, payload, 'ZHardwareHealth');
        hooks.onHardwareHealth?.(rec.uuid, msg);
        return send(res, 200);
      }
      case 'newlogs':
        return newlogs(rec.uuid, undefined, payload, res);
    }
    const m = /^apps\/instanceid\/([^/]+)\/newlogs$/.exec(action);
    if (m) {
      const app = m[1]!.toLowerCase();
      if (!UUID_RE.test(app)) throw new HttpError(400, 'invalid app instance UUID');
      return newlogs(rec.uuid, app, payload, res);
    }
    throw new HttpError(404, `unknown endpoint ${action}`);
  }

  async function newlogs(uuid: string, app: string | undefined, payload: Uint8Array, res: ServerResponse): Promise<void> {
    let parsed;
    try {
      parsed = parseNewlogs(payload);
    } catch (e) {
      if (e instanceof NewlogsError) throw new HttpError(400, e.message);
      throw e;
    }
    try {
      await logs.append(uuid, app, parsed.entries);
    } catch (e) {
      throw new HttpError(503, `log store: ${(e as Error).message}`); // EVE retries the file later
    }
    hooks.onLogs?.(uuid, app, parsed.entries);
    send(res, 201);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, rest: string | undefined, who: Sender): Promise<void> {
    if (rest === undefined) throw new HttpError(404, 'not found');
    const method = req.method ?? 'GET';

    if (rest === 'ping') {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method not allowed');
      return send(res, 200);
    }
    if (rest === 'certs') {
      // zedagent needs exactly 200 here. Adam also serves POST.
      if (method === 'POST') await readBody(req);
      else if (method !== 'GET') throw new HttpError(405, 'method not allowed');
      return send(res, 200, certsBody);
    }
    if (method !== 'POST') throw new HttpError(405, 'method not allowed');
    if (rest === 'register') return send(res, await register(await readBody(req), who));
    if (rest === 'uuid') {
      const { rec } = authenticate(await readBody(req), undefined, who);
      return send(res, 200, sign(toBinary(UuidResponseSchema, create(UuidResponseSchema, { uuid: rec.uuid }))));
    }
    const m = /^id\/([^/]+)\/(.+)$/.exec(rest);
    if (!m) throw new HttpError(404, 'not found');
    const urlUuid = m[1]!.toLowerCase();
    const body = await readBody(req);
    const { rec, payload } = authenticate(body, urlUuid, who);
    return deviceAction(m[2]!, rec, payload, res);
  }

  const server = https.createServer(
    {
      key: pki.server.keyPem,
      cert: pki.server.certPem,
      minVersion: 'TLSv1.2',
      // EVE reconnects for every request with a TLS session cache: resumption via tickets.
      sessionTimeout: 7200,
    },
    (req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const p = q < 0 ? url : url.slice(0, q);
      const rest = p.startsWith(API_PREFIX) ? p.slice(API_PREFIX.length) : undefined;
      const endpoint = rest === undefined ? 'unknown' : endpointOf(rest);
      const who: Sender = {};
      if (stats) {
        const start = performance.now();
        res.once('close', () => stats.request(endpoint, res.statusCode, (performance.now() - start) / 1000));
      }
      handle(req, res, rest, who).catch((e: unknown) => {
        const status = e instanceof HttpError ? e.status : e instanceof NotReadyError ? 503 : 500;
        const reason = (e as Error)?.message ?? String(e);
        if (status === 503 && e instanceof NotReadyError)
          logger.info('device request deferred: this replica does not lead', { device: who.device, serial: who.serial, endpoint });
        else if (status >= 500 || !(e instanceof HttpError))
          logger.error('device request failed', e, { device: who.device, serial: who.serial, method: req.method, endpoint, status });
        else logRefusal(req.method ?? 'GET', endpoint, status, reason, who);
        if (status === 413) res.setHeader('Connection', 'close');
        send(res, status);
        if (status === 413) res.on('finish', () => req.destroy());
      });
    },
  );
  server.headersTimeout = 30_000;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 5_000;
  answerPlainHttp(server);
  // An unparseable request (bogus Content-Length, bad chunk size...) gets a status, as Node's
  // default would send, rather than a silent close the device cannot tell from a network fault.
  server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) return void socket.destroy();
    const status = e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: ${PROTO_CONTENT_TYPE}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  function summary(d: DeviceDetails): DeviceSummary {
    const rec = registry.get(d.uuid);
    return {
      ...d,
      ...(rec?.lastContact ? { lastContact: rec.lastContact } : {}),
      ...(rec?.configHash ? { configHash: rec.configHash } : {}),
      configApplied: rec?.configAcked ?? false,
    };
  }

  return {
    port,
    httpsServer: server,
    pki,
    metrics,
    logs,
    serverAddress: (host = pki.hosts[0]!) => `${host.includes(':') ? `[${host}]` : host}:${port}`,
    setConfig(uuid, cfg) {
      try {
        return configs.set(uuid, cfg);
      } catch (e) {
        if (e instanceof ConfigError) throw e;
        throw new ConfigError((e as Error).message);
      }
    },
    getConfig: (uuid) => configs.get(uuid),
    addDevice(d) {
      const uuid = (d.uuid ?? crypto.randomUUID()).toLowerCase();
      if (!UUID_RE.test(uuid)) throw new Error(`invalid UUID ${uuid}`);
      registry.insert({ uuid, deviceCertPem: d.deviceCertPem.trim(), serial: d.serial, softSerial: d.softSerial, onboardCertHash: d.onboardCertHash });
      return toRegistered(registry.details(uuid)!);
    },
    async deleteDevice(uuid) {
      const ok = registry.delete(uuid);
      if (ok) {
        keys.drop(uuid);
        configs.dropSigned(uuid);
        metrics.delete(uuid);
        nonces.delete(uuid);
        await logs.remove(uuid);
      }
      return ok;
    },
    getDevice(uuid) {
      const d = registry.details(uuid);
      return d && !d.deletedAt ? summary(d) : undefined;
    },
    listDevices: () => registry.list().map(summary),
    get deviceCount() {
      return registry.size;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      registry.close();
    },
  };
}

function toRegistered(d: DeviceDetails): RegisteredDevice {
  return {
    uuid: d.uuid,
    serial: d.serial,
    softSerial: d.softSerial,
    onboardCertHash: d.onboardCertHash,
    deviceCertPem: d.deviceCertPem,
    deviceCertHash: d.deviceCertHash,
  };
}
