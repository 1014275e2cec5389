// The probe and scrape endpoint of a process without an API server of its own (`kubeve operator`):
// /metrics, /livez, /readyz and /healthz (with /<endpoint>/<check>, ?verbose, ?exclude=) answered as the
// API port answers them. Plain HTTP, as kubelet probes and Prometheus in the pod network expect; it shows
// check names and metrics, no object data, and changes nothing.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.ts';
import type { Endpoint, HealthChecks } from './health.ts';
import { log } from './log.ts';

export interface ObservabilityServerOptions {
  host?: string;
  /** 0 = any free port. */
  port: number;
  health: HealthChecks;
  /** Served on /metrics when set. */
  metrics?: Metrics;
}

export interface ObservabilityServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

const HEALTH_PATH = /^\/(livez|readyz|healthz)(?:\/([^/]+))?$/;

export async function startObservabilityServer(o: ObservabilityServerOptions): Promise<ObservabilityServer> {
  const reply = (res: http.ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8') => {
    res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'X-Content-Type-Options': 'nosniff' });
    res.end(body);
  };
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        return reply(res, 405, 'method not allowed\n');
      }
      const health = HEALTH_PATH.exec(url.pathname);
      if (health) {
        const a = await o.health.answer(health[1] as Endpoint, health[2], url.searchParams);
        return a ? reply(res, a.code, a.body) : reply(res, 404, '404 page not found\n');
      }
      if (url.pathname === '/metrics' && o.metrics) {
        const { contentType, body } = await o.metrics.exposition();
        return reply(res, 200, body, contentType);
      }
      reply(res, 404, '404 page not found\n');
    } catch (e) {
      log.error('observability endpoint failed', e, { path: req.url });
      if (!res.headersSent) reply(res, 500, 'internal server error\n');
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
