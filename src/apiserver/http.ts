// The HTTPS front of the API server: authentication, routing of the Kubernetes URL space onto the
// generic REST service, content negotiation (JSON / Table), body decoding and watch streaming.

import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import YAML from 'yaml';
import { StorageUnavailableError } from './storage/types.ts';
import {
  StatusError,
  badRequest,
  internalError,
  serviceUnavailable,
  invalid,
  methodNotAllowed,
  notAcceptable,
  tooLarge,
  unsupportedMediaType,
} from './errors.ts';
import type { KObject, ResourceDefinition } from './resource.ts';
import type { Registry } from './registry.ts';
import type { RestService, DeleteOptions, WriteOptions, FieldValidation, Ctx } from './rest.ts';
import { PATCH_TYPES } from './rest.ts';
import { compileFilter, parseRV, type ObjectEvent } from './store.ts';
import { Discovery, type Doc } from './discovery.ts';
import { parseIncludeObject, toTable, columnDefinitions, row, type IncludeObject } from './table.ts';
import { buildOpenAPIv3, openAPIv3Index, openAPIHash } from './openapi.ts';
import { applyJsonPatch, applyMergePatch } from './patch/index.ts';
import { decodeKubeProtobuf, PROTOBUF_CONTENT_TYPE } from './protobuf/decode.ts';
import { answerPlainHttp } from '../common/plain-http.ts';
import { wellFormedStrings } from '../common/json.ts';
import { MAX_NESTING_DEPTH, nestingExceeds, tooDeep, yamlDepth } from './nesting.ts';
import { encodeKubeProtobuf } from './protobuf/encode.ts';
import { ANONYMOUS_USER, forbiddenError, requestAttributes, unauthorized, type Attributes, type Security, type UserInfo } from './auth/index.ts';
import { MUTATING_VERBS, type AuditLog } from './audit.ts';
import { QueryParams, parseListOptions, type ListOptions } from './query.ts';
import { requestLabels } from './request-metrics.ts';
import type { Metrics } from '../observability/metrics.ts';
import { HealthChecks, type Endpoint } from '../observability/health.ts';
import { log, type Logger } from '../observability/log.ts';
import { versionInfo } from '../observability/version.ts';

/** The annotation on the bookmark that ends a streaming list's initial events (metav1.InitialEventsAnnotationKey). */
export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export type { UserInfo } from './auth/index.ts';

export interface HttpOptions {
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  caPem: string;
  /** Authentication, impersonation and authorization of every request. */
  security: Security;
  /** Mutating requests are recorded here when set. */
  audit?: AuditLog;
  /** Interval between watch bookmarks (the real server: about a minute). */
  bookmarkIntervalMs?: number;
  maxBodyBytes?: number;
  /** Request metrics are recorded here and served on /metrics when set. */
  metrics?: Metrics;
  /** The checks of /livez, /readyz and /healthz (default: ping and shutdown only). */
  health?: HealthChecks;
  logger?: Logger;
}

const NOT_FOUND = () => new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});

type Target = {
  def: ResourceDefinition;
  namespace?: string;
  name?: string;
  subresource?: string;
};

export class HttpFront {
  server: https.Server;
  private discovery: Discovery;
  private openapi?: { generation: number; docs: Map<string, { doc: object; body: string; hash: string }>; index: string };
  private watches = new Set<ServerResponse>();
  readonly health: HealthChecks;
  private readonly log: Logger;
  /** Requests being answered (watches excluded): what graceful shutdown waits for. */
  private inFlight = 0;
  private drained?: () => void;

  constructor(
    private registry: Registry,
    private service: RestService,
    private opts: HttpOptions,
  ) {
    this.discovery = new Discovery(registry, () => `${opts.host}:${this.port}`);
    this.health = opts.health ?? new HealthChecks();
    this.log = opts.logger ?? log;
    this.server = https.createServer(
      // maxHeaderSize as Go's (and kube-apiserver's) 1 MiB: names of some kinds (RBAC) have no length
      // limit, and an object that can be created must be addressable by its URL.
      { cert: opts.certPem, key: opts.keyPem, ca: opts.caPem, requestCert: true, rejectUnauthorized: false, maxHeaderSize: 1 << 20 },
      // handle() answers every error itself; should answering fail too, the request ends, never the process.
      (req, res) =>
        void this.handle(req, res).catch((e: unknown) => {
          this.log.error('failed to answer a request', e, { method: req.method, path: req.url });
          res.destroy();
        }),
    );
    this.server.keepAliveTimeout = 65_000;
    answerPlainHttp(this.server);
  }

  get port(): number {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : this.opts.port;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
  }

  /**
   * Stops accepting connections, ends watches, lets requests in flight finish for up to `drainMs`
   * (kube-apiserver's --shutdown-timeout), then closes every connection.
   */
  async close(drainMs = 0): Promise<void> {
    this.health.shutdown();
    for (const w of this.watches) w.end();
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    if (this.inFlight > 0 && drainMs > 0) {
      await this.settled(drainMs);
      if (this.inFlight > 0) this.log.info('shutdown deadline reached, closing requests still in flight', { inFlight: this.inFlight });
    }
    this.server.closeAllConnections();
    await closed;
    // Responses just cut emit 'close' once their socket is gone: let them record (audit, metrics)
    // before the caller closes the audit log.
    if (this.inFlight > 0) await this.settled(1000);
  }

  /** Resolves when no request is in flight, or after `ms`. */
  private async settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => (this.drained = r)), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  /** Counts the request in flight and records its metrics when it ends. */
  private track(req: IncomingMessage, res: ServerResponse, url: URL, audit: { attrs: Attributes }): () => void {
    const start = performance.now();
    this.inFlight++;
    let watching = false;
    const m = this.opts.metrics;
    res.once('close', () => {
      if (!watching && --this.inFlight === 0) this.drained?.();
      if (!m) return;
      const labels = requestLabels(audit.attrs, req, url, this.registry);
      if (watching) m.longrunning.dec(labels as unknown as Record<string, string>);
      m.request(labels, res.statusCode, watching ? undefined : (performance.now() - start) / 1000);
    });
    // Called once a watch is admitted: it stops counting as in flight and becomes long-running.
    return () => {
      if (watching) return;
      watching = true;
      if (--this.inFlight === 0) this.drained?.();
      m?.longrunning.inc(requestLabels(audit.attrs, req, url, this.registry) as unknown as Record<string, string>);
    };
  }

  // ---- authentication and authorization ----------------------------------------------------

  /**
   * Authenticates, applies impersonation and authorizes the request (401/403 on refusal) and puts the
   * user on the context. Anonymous requests only reach what system:unauthenticated is granted.
   */
  private async admit(req: IncomingMessage, url: URL, ctx: Ctx, audit: { attrs: Attributes; requestor?: UserInfo }): Promise<void> {
    const sec = this.opts.security;
    const method = req.method ?? 'GET';
    const authenticated = await sec.authenticate(req);
    // Without a credential a request is admitted only where system:unauthenticated may go; impersonation
    // headers then apply to the anonymous user as to anyone (kube-apiserver's filter order).
    if (!authenticated && !sec.authorize(audit.attrs).allowed) throw unauthorized();
    const requestor = authenticated ?? ANONYMOUS_USER;
    audit.requestor = requestor;
    audit.attrs = requestAttributes(method, url, requestor);
    const user = sec.impersonate(req, requestor);
    audit.attrs = requestAttributes(method, url, user);
    const d = sec.authorize(audit.attrs);
    if (!d.allowed) throw forbiddenError(audit.attrs, d.reason);
    ctx.user = user;
    ctx.security = sec;
  }

  /** One audit line per mutating resource request, refused ones included. */
  private audit(res: ServerResponse, audit: { attrs: Attributes; requestor?: UserInfo }, req: IncomingMessage): void {
    const a = audit.attrs;
    if (!this.opts.audit || !a.resourceRequest || !MUTATING_VERBS.has(a.verb)) return;
    const impersonated = audit.requestor && audit.requestor.username !== a.user.username;
    this.opts.audit.record({
      timestamp: new Date().toISOString(),
      user: a.user.username,
      groups: a.user.groups,
      impersonatedBy: impersonated ? audit.requestor!.username : undefined,
      verb: a.verb,
      apiGroup: a.apiGroup,
      resource: a.resource,
      subresource: a.subresource,
      namespace: a.namespace,
      name: a.name,
      code: res.statusCode,
      sourceIP: req.socket.remoteAddress,
    });
  }

  // ---- dispatch ---------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx: Ctx = { warnings: [] };
    try {
      const url = new URL(req.url ?? '/', 'https://kubeve');
      const path = url.pathname.replace(/\/+$/, '') || '/';
      const audit = { attrs: requestAttributes(req.method ?? 'GET', url, ANONYMOUS_USER) };
      res.once('close', () => this.audit(res, audit, req));
      const longRunning = this.track(req, res, url, audit);
      try {
        await this.admit(req, url, ctx, audit);
      } catch (e) {
        req.resume();
        throw e;
      }
      if (audit.attrs.resourceRequest && audit.attrs.verb === 'watch') longRunning();
      const health = /^\/(livez|readyz|healthz)(?:\/([^/]+))?$/.exec(path);
      if (health) return await this.healthz(res, health[1] as Endpoint, health[2], url);
      if (path === '/metrics' && this.opts.metrics) return await this.metrics(res);
      if (path === '/openid/v1/jwks') return this.json(res, 200, this.opts.security.tokens.jwks(), undefined, 'application/jwk-set+json');
      if (path === '/.well-known/openid-configuration')
        return this.json(res, 200, this.opts.security.tokens.openidConfiguration(`https://${req.headers.host ?? `${this.opts.host}:${this.port}`}`));
      if (path === '/version') return this.json(res, 200, versionInfo());
      if (path === '/api' || path === '/apis') return this.discoveryRoot(req, res, path === '/api');
      if (path.startsWith('/openapi/')) return this.openAPI(req, res, path, url);
      const parts = path.split('/').slice(1).map(decodeURIComponent);
      if (parts[0] === 'api' && parts[1] === 'v1' && parts.length === 2) return this.sendDoc(req, res, this.discovery.resourceList('', 'v1'));
      if (parts[0] === 'apis' && parts.length === 2) return this.sendDoc(req, res, this.discovery.apiGroupDoc(parts[1]));
      if (parts[0] === 'apis' && parts.length === 3) return this.sendDoc(req, res, this.discovery.resourceList(parts[1], parts[2]));
      let group: string;
      let version: string;
      let rest: string[];
      if (parts[0] === 'api' && parts[1] === 'v1') [group, version, rest] = ['', 'v1', parts.slice(2)];
      else if (parts[0] === 'apis' && parts.length > 3) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
      else throw NOT_FOUND();
      const target = this.resolve(group, version, rest);
      await this.serveResource(req, res, url, target, ctx);
    } catch (e) {
      this.fail(res, e, ctx);
    }
  }

  private resolve(group: string, version: string, rest: string[]): Target {
    const lookup = (r: string) => this.registry.lookup(group, version, r);
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const def = lookup(rest[2]);
      if (def?.namespaced && rest.length <= 5) return { def, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
    const def = lookup(rest[0] ?? '');
    if (!def || rest.length > 3) throw NOT_FOUND();
    return { def, name: rest[1], subresource: rest[2] };
  }

  private async serveResource(req: IncomingMessage, res: ServerResponse, url: URL, t: Target, ctx: Ctx): Promise<void> {
    const { def } = t;
    const q = new QueryParams(url.searchParams);
    const method = req.method ?? 'GET';
    if (t.def.namespaced && t.name !== undefined && t.namespace === undefined) throw NOT_FOUND();
    const sub = t.subresource;
    const action = sub !== undefined ? def.subresources.actions?.[sub] : undefined;
    if (sub !== undefined) {
      const known =
        (sub === 'status' && def.subresources.status) ||
        (sub === 'scale' && def.subresources.scale) ||
        (sub === 'finalize' && def.subresources.finalize) ||
        !!def.subresources.actions?.[sub];
      const custom = def.subresources.custom?.[sub];
      if (custom?.serve && t.name !== undefined) return custom.serve(await this.service.get(def, t.namespace, t.name), url.searchParams, req, res);
      if (custom && t.name !== undefined) {
        if (method !== 'GET') throw methodNotAllowed(method, `${def.resource}/${sub}`);
        this.checkAccept(req);
        return this.json(res, 200, await custom.get(await this.service.get(def, t.namespace, t.name)));
      }
      if (!known) throw NOT_FOUND();
    }
    const verb =
      t.name === undefined
        ? ({ GET: q.bool('watch') ? 'watch' : 'list', POST: 'create', DELETE: 'deletecollection' } as Record<string, string>)[method]
        : ({ GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete', POST: action ? 'create' : undefined } as Record<string, string | undefined>)[method];
    if (!verb || (sub === undefined && !def.verbs.includes(verb))) throw methodNotAllowed(method, def.resource);
    if (t.name === undefined && def.namespaced && t.namespace === undefined && (verb === 'create' || verb === 'deletecollection')) throw NOT_FOUND();

    const w = this.writeOptions(q, sub);
    w.fieldManager ??= managerFromUserAgent(req.headers['user-agent']);
    const ns = t.namespace;
    const listOpts = verb === 'list' || verb === 'watch' || verb === 'deletecollection' ? parseListOptions(q) : undefined;
    switch (verb) {
      case 'list': {
        const list = await this.service.list(def, ns, listOpts!);
        return this.sendObjectOrTable(req, res, q, def, list, true);
      }
      case 'watch':
        return this.watch(req, res, q, listOpts!, def, ns);
      case 'get': {
        parseRV(q.string('resourceVersion')); // refused like a list's, though a get reads the latest
        const obj = await this.service.get(def, ns, t.name!);
        if (sub === 'scale') return this.json(res, 200, this.service.toScale(def, obj));
        return this.sendObjectOrTable(req, res, q, def, obj, false);
      }
      case 'create': {
        const body = await this.readObject(req, sub ? undefined : def.kind);
        if (action)
          return this.json(
            res,
            201,
            await action.create(await this.service.get(def, ns, t.name!), body, { ...ctx, objects: this.service.objects, dryRun: w.dryRun }),
            ctx,
          );
        return this.json(res, 201, await this.service.create(def, ns, body, w, ctx), ctx);
      }
      case 'update': {
        const body = await this.readObject(req, sub ? undefined : def.kind);
        if (sub === 'scale') return this.json(res, 200, await this.service.updateScale(def, ns, t.name!, () => body, w, ctx), ctx);
        if (sub === 'finalize') return this.json(res, 200, await this.finalize(def, t.name!, body, w, ctx), ctx);
        return this.json(res, 200, await this.service.update(def, ns, t.name!, body, w, ctx), ctx);
      }
      case 'patch': {
        const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        const patch = await this.readBody(req, ct);
        if (ct === PATCH_TYPES.apply && sub !== 'scale') {
          // Apply needs an explicit field manager: the User-Agent fallback does not count.
          const force = q.bool('force');
          const r = await this.service.apply(def, ns, t.name!, patch, { ...w, fieldManager: q.string('fieldManager'), force }, ctx);
          return this.json(res, r.created ? 201 : 200, r.object, ctx);
        }
        if (q.has('force'))
          throw invalid('PatchOptions', 'meta.k8s.io', '', [
            { type: 'FieldValueForbidden', field: 'force', detail: 'Forbidden: may not be specified for non-apply patch' },
          ]);
        if (sub === 'scale') {
          const obj = await this.service.updateScale(
            def,
            ns,
            t.name!,
            (scale) => {
              const out =
                ct === PATCH_TYPES.json
                  ? applyJsonPatch(scale, patch)
                  : ct === PATCH_TYPES.merge || ct === PATCH_TYPES.strategic
                    ? applyMergePatch(scale, patch)
                    : undefined;
              if (out === undefined) throw unsupportedMediaType(ct, [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.strategic]);
              return out as KObject;
            },
            w,
            ctx,
          );
          return this.json(res, 200, obj, ctx);
        }
        return this.json(res, 200, await this.service.patch(def, ns, t.name!, ct, patch, w, ctx), ctx);
      }
      case 'delete': {
        const opts = await this.deleteOptions(req, q);
        const r = await this.service.delete(def, ns, t.name!, opts);
        if (r.deleted && !def.deleteReturnsObject) {
          return this.json(res, 200, {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            details: { name: t.name, group: def.group || undefined, kind: def.resource, uid: r.object.metadata.uid },
          });
        }
        return this.json(res, 200, r.object);
      }
      case 'deletecollection': {
        const opts = await this.deleteOptions(req, q);
        return this.json(res, 200, await this.service.deleteCollection(def, ns, listOpts!, opts));
      }
    }
    throw methodNotAllowed(method, def.resource);
  }

  /** namespaces/finalize: only spec.finalizers changes. */
  private async finalize(def: ResourceDefinition, name: string, body: KObject, w: WriteOptions, ctx: Ctx): Promise<KObject> {
    return this.service.guaranteedUpdate(
      def,
      undefined,
      name,
      parseRV(body?.metadata?.resourceVersion),
      (cur) => {
        cur.spec = { ...cur.spec, finalizers: body?.spec?.finalizers ?? [] };
        return cur;
      },
      { ...w, subresource: 'finalize' },
      ctx,
    );
  }

  private writeOptions(q: QueryParams, subresource?: string): WriteOptions {
    const dryRun = q.strings('dryRun');
    for (const d of dryRun) if (d !== 'All') throw badRequest(`Invalid dry run value: "${d}"; valid values are "All"`);
    const fv = q.string('fieldValidation') ?? null;
    if (fv !== null && fv !== 'Strict' && fv !== 'Warn' && fv !== 'Ignore') {
      throw badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
    }
    return { dryRun: dryRun.length > 0, fieldManager: q.string('fieldManager'), fieldValidation: (fv as FieldValidation) ?? undefined, subresource };
  }

  private async deleteOptions(req: IncomingMessage, q: QueryParams): Promise<DeleteOptions> {
    const raw = await this.readRaw(req);
    let o: KObject = {};
    if (raw.length) {
      o = this.decode(raw, req.headers['content-type'] ?? 'application/json') as KObject;
      if (!o || typeof o !== 'object') throw badRequest('DeleteOptions must be an object');
      if (o.kind !== undefined && o.kind !== 'DeleteOptions') throw badRequest(`the body of a delete must be DeleteOptions, not ${JSON.stringify(o.kind)}`);
    } else {
      o = {
        propagationPolicy: q.string('propagationPolicy'),
        gracePeriodSeconds: q.int('gracePeriodSeconds'),
        orphanDependents: q.optionalBool('orphanDependents'),
        dryRun: q.strings('dryRun'),
      };
    }
    // dryRun may come in the body (kubectl) or the query (other clients), or both.
    const dry: string[] = [...(Array.isArray(o.dryRun) ? o.dryRun : []), ...(raw.length ? q.strings('dryRun') : [])];
    for (const d of dry) if (d !== 'All') throw badRequest(`Invalid dry run value: "${d}"; valid values are "All"`);
    return {
      propagationPolicy: o.propagationPolicy,
      orphanDependents: o.orphanDependents,
      gracePeriodSeconds: o.gracePeriodSeconds,
      preconditions: o.preconditions,
      dryRun: dry.length > 0,
    };
  }

  // ---- bodies -----------------------------------------------------------------------------

  private readRaw(req: IncomingMessage): Promise<Buffer> {
    const limit = this.opts.maxBodyBytes ?? MAX_BODY_BYTES;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      return Promise.reject(tooLarge(`limit is ${limit}`));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) {
          reject(tooLarge(`limit is ${limit}`));
          req.removeAllListeners('data');
          req.resume();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  /** Decodes a body; anything nested deeper than MAX_NESTING_DEPTH is refused before the rest of the server sees it. */
  private decode(raw: Buffer, contentType: string, kind?: string): unknown {
    const ct = contentType.split(';')[0].trim().toLowerCase();
    const text = ct === PROTOBUF_CONTENT_TYPE ? '' : raw.toString('utf8');
    let value = this.parseBody(raw, text, ct, kind);
    if (nestingExceeds(value)) throw tooDeep(text, kind);
    // Only an escape (JSON "\ud800", YAML double quotes) can make a lone surrogate; UTF-8 bytes cannot.
    if (/\\u[dD][89a-fA-F]/.test(text)) value = wellFormedStrings(value);
    return value;
  }

  private parseBody(raw: Buffer, text: string, ct: string, kind?: string): unknown {
    // kubectl's typed commands POST protobuf and do not fall back to JSON on 415.
    if (ct === PROTOBUF_CONTENT_TYPE) return decodeKubeProtobuf(raw);
    if (ct === 'application/yaml' || ct === 'application/apply-patch+yaml' || ct === 'text/yaml') {
      // Composing YAML recurses: it only sees texts within the bound (plus what managedFields may add).
      if (yamlDepth(text) > MAX_NESTING_DEPTH + 5) throw tooDeep(text, kind);
      try {
        return YAML.parse(text, { version: '1.1', maxAliasCount: 100 });
      } catch (e) {
        throw badRequest(`error converting YAML to JSON: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    if (ct === '' || ct === 'application/json' || ct.endsWith('+json')) {
      try {
        return JSON.parse(text);
      } catch (e) {
        throw badRequest(`the object provided is unrecognized or malformed: ${(e as Error).message}`);
      }
    }
    throw unsupportedMediaType(ct, ['application/json', 'application/yaml', PROTOBUF_CONTENT_TYPE]);
  }

  private async readBody(req: IncomingMessage, contentType: string, kind?: string): Promise<unknown> {
    const raw = await this.readRaw(req);
    if (!raw.length) throw badRequest('the request body is empty');
    return this.decode(raw, contentType, kind);
  }

  private async readObject(req: IncomingMessage, kind?: string): Promise<KObject> {
    const body = await this.readBody(req, req.headers['content-type'] ?? 'application/json', kind);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body of the request must be a JSON object');
    return body as KObject;
  }

  // ---- responses --------------------------------------------------------------------------

  private wantsTable(req: IncomingMessage): 'v1' | 'v1beta1' | undefined {
    const accept = req.headers.accept ?? '';
    for (const part of accept.split(',')) {
      const p = part.replace(/\s+/g, '');
      if (/;as=Table/.test(p) && /;g=meta\.k8s\.io/.test(p)) {
        if (/;v=v1(;|$)/.test(p)) return 'v1';
        if (/;v=v1beta1(;|$)/.test(p)) return 'v1beta1';
      }
    }
    return undefined;
  }

  private checkAccept(req: IncomingMessage): void {
    const accept = req.headers.accept;
    if (!accept) return;
    const ok = accept.split(',').some((p) => {
      const t = p.split(';')[0].trim();
      return t === '*/*' || t === 'application/*' || t === 'application/json' || t === 'application/yaml';
    });
    if (!ok) throw notAcceptable(`only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
  }

  private sendObjectOrTable(req: IncomingMessage, res: ServerResponse, q: QueryParams, def: ResourceDefinition, obj: KObject, isList: boolean): void {
    const tv = this.wantsTable(req);
    if (!tv) {
      if (prefersProtobuf(req.headers.accept)) {
        const body = encodeKubeProtobuf(obj);
        if (body) {
          res.writeHead(200, { 'Content-Type': PROTOBUF_CONTENT_TYPE, 'Content-Length': body.length, 'Cache-Control': 'no-cache, private' });
          return void res.end(body);
        }
      }
      this.checkAccept(req);
      return this.json(res, 200, obj);
    }
    const include = parseIncludeObject(q.string('includeObject') ?? null);
    const headers = !q.bool('noHeaders');
    const table = isList
      ? toTable(def, obj.items, include, obj.metadata, headers)
      : toTable(def, [obj], include, { resourceVersion: obj.metadata.resourceVersion }, headers);
    table.apiVersion = `meta.k8s.io/${tv}`;
    return this.json(res, 200, table, undefined, `application/json;as=Table;v=${tv};g=meta.k8s.io`);
  }

  private json(res: ServerResponse, code: number, body: unknown, ctx?: Ctx, contentType = 'application/json'): void {
    const data = JSON.stringify(body);
    if (ctx?.warnings.length) res.setHeader('Warning', [...new Set(ctx.warnings)].map(warningHeader));
    res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data), 'Cache-Control': 'no-cache, private' });
    // A string body is sent together with the head in its encoding (UTF-8), which would re-encode
    // a warning's UTF-8 bytes; a Buffer body leaves the head in Latin-1.
    res.end(ctx?.warnings.length ? Buffer.from(data) : data);
  }

  /** /readyz and /healthz in kube-apiserver's format: "ok", or per check with ?verbose; 500 if one fails. */
  private text(res: ServerResponse, code: number, body: string): void {
    res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private fail(res: ServerResponse, e: unknown, ctx: Ctx): void {
    const err = e instanceof StatusError ? e : e instanceof StorageUnavailableError ? serviceUnavailable(e.message) : internalError(e);
    // A client that went away mid-request (reading its body fails with "aborted") is not a server fault.
    if (!(e instanceof StatusError) && !(e instanceof StorageUnavailableError)) {
      if (res.destroyed) this.log.v(2).info('client went away', { err: e instanceof Error ? e.message : String(e) });
      else this.log.error('internal error', e, { stack: e instanceof Error ? e.stack : undefined });
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
    this.json(res, err.code, err.toStatus(), ctx);
  }

  // ---- health and metrics -------------------------------------------------------------------

  private async healthz(res: ServerResponse, endpoint: Endpoint, single: string | undefined, url: URL): Promise<void> {
    const a = await this.health.answer(endpoint, single, url.searchParams);
    if (!a) throw NOT_FOUND();
    this.text(res, a.code, a.body);
  }

  private async metrics(res: ServerResponse): Promise<void> {
    const { contentType, body } = await this.opts.metrics!.exposition();
    res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  // ---- discovery and OpenAPI --------------------------------------------------------------

  private discoveryRoot(req: IncomingMessage, res: ServerResponse, core: boolean): void {
    const accept = (req.headers.accept ?? '').replace(/\s+/g, '');
    const m = /application\/json;g=apidiscovery\.k8s\.io;v=(v2beta1|v2);as=APIGroupDiscoveryList/.exec(accept);
    if (m) {
      const v = m[1] as 'v2' | 'v2beta1';
      return this.sendDoc(req, res, this.discovery.aggregated(core, v), `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`);
    }
    return this.sendDoc(req, res, core ? this.discovery.apiVersions() : this.discovery.apiGroupList());
  }

  private sendDoc(req: IncomingMessage, res: ServerResponse, doc: Doc | undefined, contentType = 'application/json'): void {
    if (!doc) throw NOT_FOUND();
    const headers = { 'Content-Type': contentType, ETag: doc.etag, Vary: 'Accept', 'Cache-Control': 'public' };
    if (req.headers['if-none-match'] === doc.etag) {
      res.writeHead(304, headers);
      return void res.end();
    }
    res.writeHead(200, { ...headers, 'Content-Length': Buffer.byteLength(doc.body) });
    res.end(doc.body);
  }

  private openAPIDocs() {
    if (this.openapi?.generation === this.registry.generation) return this.openapi;
    const byGV = new Map<string, ResourceDefinition[]>();
    for (const d of this.registry.all()) {
      const gv = d.group ? `apis/${d.group}/${d.version}` : `api/${d.version}`;
      if (!byGV.has(gv)) byGV.set(gv, []);
      byGV.get(gv)!.push(d);
    }
    const docs = new Map<string, { doc: object; body: string; hash: string }>();
    const raw = new Map<string, object>();
    for (const [gv, defs] of byGV) {
      const doc = buildOpenAPIv3(gv, defs);
      raw.set(gv, doc);
      docs.set(gv, { doc, body: JSON.stringify(doc), hash: openAPIHash(doc) });
    }
    this.openapi = { generation: this.registry.generation, docs, index: JSON.stringify(openAPIv3Index(raw)) };
    return this.openapi;
  }

  private openAPI(req: IncomingMessage, res: ServerResponse, path: string, url: URL): void {
    const o = this.openAPIDocs();
    if (path === '/openapi/v3') {
      return this.sendDoc(req, res, { body: o.index, etag: `"${openAPIHash(o.index)}"` });
    }
    if (path.startsWith('/openapi/v3/')) {
      const gv = path.slice('/openapi/v3/'.length);
      const d = o.docs.get(gv);
      if (!d) throw NOT_FOUND();
      const accept = req.headers.accept ?? '';
      if (accept && !/application\/json|\*\/\*/.test(accept)) throw notAcceptable('only application/json is served for OpenAPI v3');
      const h = url.searchParams.get('hash');
      if (h && h !== d.hash) {
        res.writeHead(301, { Location: `/openapi/v3/${gv}?hash=${d.hash}` });
        return void res.end();
      }
      const headers: Record<string, string> = { 'Content-Type': 'application/json', ETag: `"${d.hash}"`, Vary: 'Accept' };
      if (h) Object.assign(headers, { 'Cache-Control': 'public, immutable', Expires: new Date(Date.now() + 365 * 86400_000).toUTCString() });
      res.writeHead(200, { ...headers, 'Content-Length': Buffer.byteLength(d.body) });
      return void res.end(d.body);
    }
    throw NOT_FOUND(); // OpenAPI v2 is not served; kubectl works from v3.
  }

  // ---- watch ------------------------------------------------------------------------------

  /** A BOOKMARK carries an object of the watched kind with only a resourceVersion (and annotations). */
  private bookmarkObject(def: ResourceDefinition, rv: number, annotations?: Record<string, string>): KObject {
    const metadata: KObject = { resourceVersion: String(rv) };
    if (annotations) metadata.annotations = annotations;
    return { kind: def.kind, apiVersion: def.group ? `${def.group}/${def.version}` : def.version, metadata };
  }

  private async watch(
    req: IncomingMessage,
    res: ServerResponse,
    q: QueryParams,
    o: ListOptions,
    def: ResourceDefinition,
    ns: string | undefined,
  ): Promise<void> {
    const tv = this.wantsTable(req);
    if (!tv) this.checkAccept(req);
    const include: IncludeObject = tv ? parseIncludeObject(q.string('includeObject') ?? null) : 'Object';
    const filter = compileFilter(def, o.labelSelector, o.fieldSelector);
    const storage = this.service.store.storage;
    let from = parseRV(o.resourceVersion);
    const bookmarks = o.allowWatchBookmarks;
    // timeoutSeconds=0 means "the server's default", as in get.go.
    const timeoutS = o.timeoutSeconds || 1800 * (1 + Math.random());

    // An RV from the future: wait briefly for it, then answer like the real server.
    if (from && from > (await storage.currentRevision())) {
      const deadline = Date.now() + 3000;
      while (from > (await storage.currentRevision()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (from > (await storage.currentRevision())) {
        throw new StatusError(504, 'Timeout', `Timeout: Too large resource version: ${from}, current: ${await storage.currentRevision()}`, {
          causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
          retryAfterSeconds: 1,
        });
      }
    }

    // Synthetic ADDED events for the current state come first when asked for (a streaming list:
    // sendInitialEvents=true, at any resourceVersion) or, in the legacy protocol, when the watch starts
    // "at most recent" (no resourceVersion, or 0). sendInitialEvents=false starts after the current state.
    const initialEvents = o.sendInitialEvents ?? !from;
    let initial: KObject[] = [];
    if (initialEvents) {
      const list = await this.service.store.list(def, ns, { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector });
      initial = list.items;
      from = Number(list.resourceVersion);
    } else if (!from) {
      from = await storage.currentRevision();
    }
    const snapshotRV = from;
    const contentType = tv ? `application/json;as=Table;v=${tv};g=meta.k8s.io` : 'application/json';
    let headersSent = false;
    const sendHeaders = () => {
      if (headersSent) return;
      headersSent = true;
      res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
      res.flushHeaders();
    };
    let firstTable = true;
    let lastRV = from;
    // Until replay from `from` reaches this revision, only delivered events prove progress.
    const caughtUpAt = await storage.currentRevision();
    const encodeEvent = (type: string, obj: KObject): string => {
      if (type === 'BOOKMARK' || type === 'ERROR' || !tv)
        return JSON.stringify({ type, object: type === 'ERROR' || type === 'BOOKMARK' ? obj : this.service.forVersion(def, obj) }) + '\n';
      const table = {
        kind: 'Table',
        apiVersion: `meta.k8s.io/${tv}`,
        metadata: { resourceVersion: obj.metadata.resourceVersion },
        columnDefinitions: firstTable ? columnDefinitions(def) : [],
        rows: [row(def, this.service.forVersion(def, obj), include)],
      };
      firstTable = false;
      return JSON.stringify({ type, object: table }) + '\n';
    };
    const send = (type: string, obj: KObject) => {
      if (res.writableEnded) return;
      res.write(encodeEvent(type, obj));
      // A consumer that stops reading is dropped instead of buffering without bound.
      if (res.writableLength > 64 * 1024 * 1024) stop();
    };
    const pending: ObjectEvent[] = [];
    let live = false;
    let watcher: { stop(): void } | undefined;
    let timer: NodeJS.Timeout | undefined;
    let bookmarkTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      watcher?.stop();
      clearTimeout(timer);
      clearInterval(bookmarkTimer);
      this.watches.delete(res);
      if (!res.writableEnded) res.end();
    };
    try {
      watcher = this.service.store.watch(
        def,
        ns,
        from,
        filter,
        (ev) => {
          lastRV = Number(ev.object.metadata.resourceVersion);
          if (!live) pending.push(ev);
          else send(ev.type, ev.object);
        },
        (err) => {
          // The storage ended the watch (history compacted under it, etcd lost): an ERROR event, then EOF.
          sendHeaders();
          const status = err instanceof StatusError ? err : err instanceof StorageUnavailableError ? serviceUnavailable(err.message) : internalError(err);
          if (!res.writableEnded) res.write(JSON.stringify({ type: 'ERROR', object: status.toStatus() }) + '\n');
          stop();
        },
      );
    } catch (e) {
      if (e instanceof StatusError && e.code === 410) {
        // Delivered as an ERROR event on a 200 stream, as the watch cache does.
        sendHeaders();
        res.end(JSON.stringify({ type: 'ERROR', object: e.toStatus() }) + '\n');
        return;
      }
      throw e;
    }
    sendHeaders();
    this.watches.add(res);
    res.on('close', stop);
    for (const obj of initial) send('ADDED', obj);
    // A streaming list ends its initial state with one annotated bookmark at the snapshot's revision
    // (client-go's reflector waits for it before it reports the informer synced).
    if (o.sendInitialEvents && bookmarks) send('BOOKMARK', this.bookmarkObject(def, snapshotRV, { [INITIAL_EVENTS_END]: 'true' }));
    for (const ev of pending) send(ev.type, ev.object);
    pending.length = 0;
    live = true;
    const bookmark = async () => {
      // Live events are delivered synchronously on commit, so once caught up the store's revision is safe to report.
      const rv = lastRV >= caughtUpAt ? Math.max(lastRV, await storage.currentRevision()) : lastRV;
      send('BOOKMARK', this.bookmarkObject(def, rv));
    };
    timer = setTimeout(
      () => {
        if (bookmarks) void bookmark().finally(stop);
        else stop();
      },
      Math.max(0, timeoutS * 1000),
    );
    if (bookmarks) bookmarkTimer = setInterval(() => void bookmark(), this.opts.bookmarkIntervalMs ?? 60_000);
  }
}

/**
 * Whether the first media type the client accepts (q=0 excluded) is protobuf, as client-go's default
 * "application/vnd.kubernetes.protobuf,application/json" for built-in kinds says.
 */
function prefersProtobuf(accept: string | undefined): boolean {
  for (const part of (accept ?? '').split(',')) {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (!type || params.some((p) => /^q=0(\.0*)?$/.test(p))) continue;
    return type === PROTOBUF_CONTENT_TYPE;
  }
  return false;
}

/** The field manager of a write without ?fieldManager: the User-Agent up to its first "/" (create.go prefixFromUserAgent). */
function managerFromUserAgent(ua: string | undefined): string | undefined {
  const name = [...(ua ?? '').split('/')[0]]
    .filter((ch) => !/\p{C}/u.test(ch))
    .join('')
    .slice(0, 128);
  return name || undefined;
}

/**
 * A Warning header value (RFC 7234 `299 - "text"`). Warnings may quote client input (unknown
 * field names). Like kube-apiserver, the text goes out as UTF-8 in a quoted-string; Node writes
 * header strings as Latin-1, so the UTF-8 bytes are passed as a binary string. Control characters
 * (which a header may not carry) and lone surrogates become U+FFFD.
 */
function warningHeader(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  const quoted = `"${clean.replace(/["\\]/g, '\\$&')}"`;
  return `299 - ${Buffer.from(quoted, 'utf8').toString('latin1')}`;
}
