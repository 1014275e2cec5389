// The Client over HTTPS, for any Kubernetes API server (operator mode; tests against the embedded
// server). JSON on the wire; one keep-alive agent; every request, watches included, first takes a
// token from the client's rate limiter (client-go's QPS/burst); 429s are retried after Retry-After;
// error bodies become the same StatusError the in-process client throws.

import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { StatusError, type KObject } from './client.ts';
import type {
  Client,
  DeleteOptions,
  GVR,
  ListOptions,
  ObjectList,
  PatchOptions,
  PatchType,
  WatchEvent,
  WatchHandle,
  WatchOptions,
  WriteOptions,
} from './client.ts';
import type { HttpClientConfig } from './config.ts';
import { TokenBucket } from './rate-limit.ts';
import { log } from '../../observability/log.ts';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** Reasons for codes whose body is not a Status (a proxy's error page), as client-go names them. */
const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

const MAX_RETRIES = 10;
const TOKEN_REREAD_MS = 60_000;

/** The StatusError for a failed response: the server's metav1.Status when it sent one. */
export function decodeStatusError(code: number, text: string): StatusError {
  let body: Record<string, any> | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  if (body?.kind === 'Status') return new StatusError(body.code ?? code, body.reason ?? REASONS[code] ?? 'Unknown', body.message ?? '', body.details);
  const msg = text.trim() || `the server responded with status ${code}`;
  return new StatusError(code, REASONS[code] ?? 'Unknown', msg.slice(0, 1024), {});
}

export function resourcePath(r: GVR, namespace: string | undefined, name?: string, subresource?: string): string {
  const e = encodeURIComponent;
  return (
    (r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`) +
    (namespace ? `/namespaces/${e(namespace)}` : '') +
    `/${r.resource}` +
    (name !== undefined ? `/${e(name)}` : '') +
    (subresource ? `/${subresource}` : '')
  );
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '' && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

const writeQuery = (o: WriteOptions) => query({ fieldManager: o.fieldManager, dryRun: o.dryRun ? 'All' : undefined });

export class HttpClient implements Client {
  readonly config: HttpClientConfig;
  private readonly agent: https.Agent;
  private readonly limiter: TokenBucket;
  private readonly url: URL;
  private token?: { value: string; readAt: number };

  constructor(config: HttpClientConfig) {
    this.config = config;
    this.url = new URL(config.server);
    if (this.url.protocol !== 'https:') throw new Error(`server ${config.server}: only https is supported`);
    this.agent = new https.Agent({
      keepAlive: true,
      ca: config.ca,
      cert: config.cert,
      key: config.key,
      rejectUnauthorized: !config.insecureSkipTLSVerify,
      servername: config.tlsServerName,
    });
    this.limiter = new TokenBucket(config.qps ?? 5, config.burst ?? 10);
  }

  /** Closes idle keep-alive sockets (open watches end through their own stop()). */
  close(): void {
    this.agent.destroy();
  }

  private bearer(forceReread = false): string | undefined {
    if (this.config.bearerToken && !this.config.tokenFile) return this.config.bearerToken;
    if (!this.config.tokenFile) return undefined;
    const now = Date.now();
    if (forceReread || !this.token || now - this.token.readAt > TOKEN_REREAD_MS) {
      try {
        this.token = { value: readFileSync(this.config.tokenFile, 'utf8').trim(), readAt: now };
      } catch (e) {
        if (!this.token) throw e; // keep the last good token while a rotation is in progress
      }
    }
    return this.token!.value;
  }

  private headers(contentType?: string, rereadToken = false): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.config.userAgent ?? 'kubeve-controller/v0.1.0' };
    const token = this.bearer(rereadToken);
    if (token) h.Authorization = `Bearer ${token}`;
    if (contentType) h['Content-Type'] = contentType;
    return h;
  }

  private send(
    method: string,
    path: string,
    body: string | undefined,
    contentType: string | undefined,
    rereadToken: boolean,
    timeoutMs: number,
  ): Promise<{ res: IncomingMessage; text: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          protocol: 'https:',
          hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
          port: this.url.port || 443,
          path: this.url.pathname.replace(/\/$/, '') + path,
          method,
          agent: this.agent,
          // A declared length: some servers refuse a chunked DELETE body.
          headers: { ...this.headers(contentType, rereadToken), ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ res, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no response within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** One API call: rate-limited, retried on 429/Retry-After, the token re-read once after a 401. */
  private async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    let reread = false;
    for (let attempt = 0; ; attempt++) {
      await this.limiter.wait();
      const { res, text } = await this.send(method, path, data, data === undefined ? undefined : contentType, reread, this.config.timeoutMs ?? 60_000);
      const code = res.statusCode ?? 0;
      if (code >= 200 && code < 300) return text ? JSON.parse(text) : undefined;
      if (code === 401 && this.config.tokenFile && !reread) {
        reread = true;
        continue;
      }
      const retryAfter = Number(res.headers['retry-after']);
      if ((code === 429 || (code >= 500 && Number.isFinite(retryAfter) && retryAfter > 0)) && attempt < MAX_RETRIES) {
        await new Promise((r) => setTimeout(r, (Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 1) * 1000));
        continue;
      }
      throw decodeStatusError(code, text);
    }
  }

  get(r: GVR, ns: string | undefined, name: string): Promise<KObject> {
    return this.request('GET', resourcePath(r, ns, name));
  }

  async list(r: GVR, ns: string | undefined, o: ListOptions = {}): Promise<ObjectList> {
    const l = await this.request(
      'GET',
      resourcePath(r, ns) + query({ labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, limit: o.limit, continue: o.continue }),
    );
    const kind = String(l.kind ?? '').replace(/List$/, '');
    const apiVersion = l.apiVersion;
    // Items of a list carry no kind/apiVersion on the wire; put them back, as the in-process list has them.
    const items = (l.items ?? []).map((it: KObject) => ({ apiVersion, kind, ...it }));
    return { items, resourceVersion: l.metadata?.resourceVersion ?? '', ...(l.metadata?.continue ? { continue: l.metadata.continue } : {}) };
  }

  create(r: GVR, ns: string | undefined, obj: KObject, o: WriteOptions = {}): Promise<KObject> {
    return this.request('POST', resourcePath(r, ns ?? obj.metadata?.namespace) + writeQuery(o), obj);
  }

  update(r: GVR, obj: KObject, o: WriteOptions = {}): Promise<KObject> {
    return this.request('PUT', resourcePath(r, obj.metadata?.namespace, obj.metadata?.name) + writeQuery(o), obj);
  }

  updateStatus(r: GVR, obj: KObject, o: WriteOptions = {}): Promise<KObject> {
    return this.request('PUT', resourcePath(r, obj.metadata?.namespace, obj.metadata?.name, 'status') + writeQuery(o), obj);
  }

  patch(r: GVR, ns: string | undefined, name: string, type: PatchType, patch: unknown, o: PatchOptions = {}): Promise<KObject> {
    return this.request('PATCH', resourcePath(r, ns, name, o.subresource) + writeQuery(o), patch, PATCH_CONTENT_TYPES[type]);
  }

  async createSubresource(r: GVR, ns: string | undefined, name: string, sub: string, body: KObject, o: WriteOptions = {}): Promise<KObject> {
    return this.request('POST', resourcePath(r, ns, name, sub) + writeQuery(o), body);
  }

  async delete(r: GVR, ns: string | undefined, name: string, o: DeleteOptions = {}): Promise<void> {
    const body: KObject = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (o.propagationPolicy) body.propagationPolicy = o.propagationPolicy;
    if (o.preconditions) body.preconditions = o.preconditions;
    if (o.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = o.gracePeriodSeconds;
    await this.request('DELETE', resourcePath(r, ns, name), body);
  }

  /** A streaming GET ?watch=1: one JSON event per line; an ERROR event (e.g. 410 Expired) ends it with that error. */
  watch(r: GVR, ns: string | undefined, o: WatchOptions, onEvent: (ev: WatchEvent) => void, onEnd: (err?: Error) => void): WatchHandle {
    let stopped = false;
    let ended = false;
    let req: ReturnType<typeof https.request> | undefined;
    const end = (err?: Error) => {
      if (ended || stopped) return;
      ended = true;
      req?.destroy();
      onEnd(err);
    };
    const path =
      resourcePath(r, ns) +
      query({
        watch: 1,
        resourceVersion: o.resourceVersion,
        labelSelector: o.labelSelector,
        fieldSelector: o.fieldSelector,
        allowWatchBookmarks: o.allowWatchBookmarks,
        timeoutSeconds: o.timeoutSeconds,
      });
    const deliver = (line: string) => {
      let ev: { type: string; object: KObject };
      try {
        ev = JSON.parse(line);
      } catch {
        return end(new Error(`watch ${r.resource}: undecodable event`));
      }
      if (ev.type === 'ERROR') return end(decodeStatusError(ev.object?.code ?? 500, JSON.stringify(ev.object)));
      if (ev.type === 'BOOKMARK' && !o.allowWatchBookmarks) return;
      try {
        onEvent(ev as WatchEvent);
      } catch (e) {
        log.error('watch handler failed', e, { resource: r.resource });
      }
    };
    const open = async () => {
      await this.limiter.wait();
      if (stopped) return;
      req = https.request(
        {
          protocol: 'https:',
          hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
          port: this.url.port || 443,
          path: this.url.pathname.replace(/\/$/, '') + path,
          method: 'GET',
          agent: this.agent,
          headers: this.headers(),
        },
        (res) => {
          const code = res.statusCode ?? 0;
          if (code !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => end(decodeStatusError(code, Buffer.concat(chunks).toString('utf8'))));
            res.on('error', (e) => end(e));
            return;
          }
          res.setEncoding('utf8');
          let buf = '';
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0 && !ended && !stopped) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (line) deliver(line);
            }
          });
          res.on('end', () => end());
          res.on('aborted', () => end(new Error(`watch ${r.resource}: connection lost`)));
          res.on('error', (e) => end(e));
          res.on('close', () => end(res.complete ? undefined : new Error(`watch ${r.resource}: connection lost`)));
        },
      );
      req.on('error', (e) => end(e));
      req.end();
    };
    open().catch((e: unknown) => end(e instanceof Error ? e : new Error(String(e))));
    return {
      stop: () => {
        stopped = true;
        req?.destroy();
      },
    };
  }
}
