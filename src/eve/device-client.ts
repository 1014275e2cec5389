// Minimal EVE-style HTTPS client (for the simulator, tests and benchmarks): a new TLS
// connection per request (EVE sets DisableKeepAlive) with a TLS session cache, POST when
// there is a body and GET otherwise, Content-Type application/x-proto-binary, X-Request-Id.
import https from 'node:https';
import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PROTO_CONTENT_TYPE } from './envelope.ts';

/** Every device endpoint lives under this path. */
export const API_PREFIX = '/api/v2/edgedevice/';

export interface EveResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface DeviceAgentOptions {
  /** Trusted root(s): the controller's root-certificate.pem. */
  ca: string | Buffer | Array<string | Buffer>;
  /** TLS session cache size (EVE uses an LRU cache; 0 disables resumption). */
  maxCachedSessions?: number;
  /** Reuse connections (EVE does not; default false). */
  keepAlive?: boolean;
}

export function createDeviceAgent(o: DeviceAgentOptions): https.Agent {
  return new https.Agent({
    ca: o.ca,
    keepAlive: o.keepAlive ?? false,
    maxCachedSessions: o.maxCachedSessions ?? 100,
    minVersion: 'TLSv1.2',
  });
}

/**
 * Call `https://<server>/api/v2/edgedevice/<path>`. `server` is the /config/server value
 * ("host:port"); `path` is e.g. "ping", "uuid" or "id/<uuid>/config".
 */
export function eveRequest(
  agent: https.Agent,
  server: string,
  path: string,
  body?: Uint8Array,
  extraHeaders: Record<string, string> = {},
): Promise<EveResponse> {
  const url = new URL(`https://${server}${API_PREFIX}${path}`);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        agent,
        method: body ? 'POST' : 'GET',
        headers: {
          'X-Request-Id': crypto.randomUUID(),
          ...(body ? { 'Content-Type': PROTO_CONTENT_TYPE, 'Content-Length': body.length } : {}),
          ...extraHeaders,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
