// How a simulated device talks to the controller, as EVE's controllerconn does: HTTPS with
// keep-alive disabled (a new TCP+TLS connection per request) and a per-device TLS session cache
// for resumption; server verified against /config/root-certificate.pem only; TLS ≥ 1.2 with
// EVE's TLS 1.2 cipher list; X-Request-Id on every request, X-Serial-Number/X-Soft-Serial while
// the device has no UUID. Faults: offline (no network), clock skew (certificate validity is
// judged by the device clock).
import https from 'node:https';
import tls from 'node:tls';
import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PROTO_CONTENT_TYPE } from '../eve/envelope.ts';
import { type SimStats, endpointOf } from './stats.ts';

export const EVE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  ms: number;
  resumed: boolean;
}

export interface NetworkFailure {
  status: undefined;
  error: string;
  ms: number;
}

export type SendResult = HttpResponse | NetworkFailure;

export interface ClientIdentity {
  certPem: string;
  keyPem: string;
}

export interface TransportOptions {
  /** Contents of /config/server: host[:port]. */
  server: string;
  /** Root certificate(s) the device trusts (root-certificate.pem). */
  rootCertPem: string;
  /** Per request timeout in real ms (EVE: timer.send.timeout = 120 s). */
  timeoutMs?: number;
  /** Present the device/onboarding cert as TLS client certificate (EVE does; costs memory per device). */
  clientCerts?: boolean;
  /** Shared TLS context for devices that do not present client certificates. */
  sharedContext?: tls.SecureContext;
  /** Counters the transport reports into (device and fleet). */
  stats: SimStats[];
  /** Device clock, for the clock-skew fault (certificate validity checks). */
  now: () => number;
}

export function createSharedContext(rootCertPem: string): tls.SecureContext {
  return tls.createSecureContext({ ca: rootCertPem, minVersion: 'TLSv1.2', ciphers: EVE_CIPHERS });
}

export class DeviceTransport {
  /** Cached TLS session for resumption (EVE keeps an LRU session cache per client config). */
  private session: Buffer | undefined;
  private contexts = new Map<string, tls.SecureContext>();
  private readonly host: string;
  private readonly port: number;
  /** Fault: no network at all (requests fail without reaching the controller). */
  offline = false;
  inflight = 0;

  constructor(private readonly o: TransportOptions) {
    const s = o.server.trim();
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
    if (!m) throw new Error(`bad server address ${JSON.stringify(o.server)}`);
    this.host = m[1]!;
    this.port = m[2] ? Number(m[2]) : 443;
  }

  get serverHost(): string {
    return this.host;
  }

  private context(identity: ClientIdentity | undefined): tls.SecureContext {
    if (!this.o.clientCerts || !identity) {
      return this.o.sharedContext ?? (this.o.sharedContext = createSharedContext(this.o.rootCertPem));
    }
    let c = this.contexts.get(identity.certPem);
    if (!c) {
      c = tls.createSecureContext({
        ca: this.o.rootCertPem,
        cert: identity.certPem,
        key: identity.keyPem,
        minVersion: 'TLSv1.2',
        ciphers: EVE_CIPHERS,
      });
      this.contexts.set(identity.certPem, c);
    }
    return c;
  }

  /** Forget the TLS session (e.g. at reboot: EVE's cache is in memory). */
  resetSession(): void {
    this.session = undefined;
  }

  /**
   * One request on a fresh connection. A body means POST (with the proto content type), no body GET.
   * `serial` headers are sent while the device has no UUID.
   */
  send(
    path: string,
    body: Uint8Array | undefined,
    opts: { identity?: ClientIdentity; serial?: { serial: string; softSerial: string }; resumable?: boolean } = {},
  ): Promise<SendResult> {
    const start = performance.now();
    const endpoint = endpointOf(path);
    const done = (r: SendResult): SendResult => {
      for (const s of this.o.stats) s.record(endpoint, r.status, r.ms, r.status !== undefined ? (r as HttpResponse).resumed : undefined);
      return r;
    };
    if (this.offline) return Promise.resolve(done({ status: undefined, error: 'network unreachable (simulated offline)', ms: 0 }));
    const headers: Record<string, string> = { 'X-Request-Id': crypto.randomUUID(), Connection: 'close' };
    if (body) {
      headers['Content-Type'] = PROTO_CONTENT_TYPE;
      headers['Content-Length'] = String(body.byteLength);
    }
    if (opts.serial) {
      headers['X-Serial-Number'] = opts.serial.serial;
      if (opts.serial.softSerial) headers['X-Soft-Serial'] = opts.serial.softSerial;
    }
    const resumable = opts.resumable !== false;
    const now = this.o.now;
    this.inflight++;
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const finish = (r: SendResult) => {
        if (settled) return;
        settled = true;
        this.inflight--;
        resolve(done(r));
      };
      const reqOpts: https.RequestOptions & { secureContext: tls.SecureContext; session?: Buffer } = {
        host: this.host,
        port: this.port,
        method: body ? 'POST' : 'GET',
        path,
        headers,
        agent: false,
        secureContext: this.context(opts.identity),
        minVersion: 'TLSv1.2',
        session: resumable ? this.session : undefined,
        timeout: this.o.timeoutMs ?? 120_000,
        // Certificate validity is judged by the *device* clock (clock-skew fault), as Go's
        // x509.Verify does with time.Now() on the device.
        checkServerIdentity: (host, cert) => {
          const err = tls.checkServerIdentity(host, cert);
          if (err) return err;
          const t = now();
          if (t < Date.parse(cert.valid_from) || t > Date.parse(cert.valid_to)) {
            return new Error(`x509: certificate has expired or is not yet valid (device time ${new Date(t).toISOString()})`);
          }
          return undefined;
        },
      };
      const req = https.request(reqOpts);
      let sockRef: tls.TLSSocket | undefined;
      req.on('socket', (sock) => {
        sockRef = sock as tls.TLSSocket;
        if (resumable) sock.on('session', (s: Buffer) => (this.session = s));
      });
      req.on('timeout', () => req.destroy(new Error('request timeout')));
      req.on('error', (e) => finish({ status: undefined, error: e.message, ms: performance.now() - start }));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 32 * 1024 * 1024) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('error', (e) => finish({ status: undefined, error: e.message, ms: performance.now() - start }));
        res.on('end', () => {
          finish({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ms: performance.now() - start,
            resumed: !!sockRef?.isSessionReused?.(),
          });
        });
      });
      if (body) req.end(body);
      else req.end();
    });
  }
}

/** EVE's `SendOnIntf` success set. */
export function isSuccess(status: number | undefined): boolean {
  return status === 200 || status === 201 || status === 204 || status === 304;
}

/** zedclient's content-type rule: a response without Content-Type is a failure. */
export function hasProtoishContentType(h: IncomingHttpHeaders): boolean {
  const ct = String(h['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  return ct === PROTO_CONTENT_TYPE || ct === 'application/json' || ct === 'text/plain';
}

export function isProtoContentType(h: IncomingHttpHeaders): boolean {
  return (
    String(h['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase() === PROTO_CONTENT_TYPE
  );
}
