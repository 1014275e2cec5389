// The generic REST semantics of kube-apiserver's registry store, for any ResourceDefinition:
// create/update/patch/delete with metadata lifecycle, validation, pruning, defaulting, dry-run,
// optimistic concurrency, finalizers, status and scale subresources. HTTP handlers and in-process
// controllers both go through this layer, so the rules hold whoever writes.

import { randomUUID, randomInt } from 'node:crypto';
import {
  StatusError,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  notFound,
  OBJECT_MODIFIED,
  unsupportedMediaType,
  type FieldError,
} from './errors.ts';
import type { KObject, ObjectAccess, RequestContext, ResourceDefinition } from './resource.ts';
import { objectAccess } from './object-access.ts';
import { groupVersion } from './resource.ts';
import type { Registry } from './registry.ts';
import { type ObjectStore, compileFilter, encode, objectKey, parseRV, type ListQuery, type ListResult } from './store.ts';
import { KeyExistsError, KeyNotFoundError, RevisionConflictError } from './storage/types.ts';
import { compileObjectSchema, type ObjectSchema } from './schema/index.ts';
import { validateObjectMeta, validateMetadataUpdate, objectMetaTypeError, jsonType } from './validation.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch/index.ts';
import { getPath, setPath } from './jsonpath.ts';
import { nestingExceeds, tooDeep } from './nesting.ts';
import { deepClone, deepEqual } from '../common/json.ts';
import { apply as applyConfig, updateManagedFields, type FieldManagerScope } from './fieldmanager/index.ts';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  fieldValidation?: FieldValidation;
  subresource?: string;
}

export interface ApplyOptions extends WriteOptions {
  /** Take over fields other managers own instead of failing with a conflict. */
  force?: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  orphanDependents?: boolean;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface DeleteResult {
  /** The object as it is after the call: still present (finalizers/grace) or the last state. */
  object: KObject;
  /** True when the object is gone from storage. */
  deleted: boolean;
}

/** Warnings collected for the response (`Warning: 299 - "..."`), and who is asking (unset in-process). */
export interface Ctx extends RequestContext {
  warnings: string[];
}

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const MAX_RETRIES = 20;

function nowRFC3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Iterative: stored objects may nest deeper than structuredClone's native recursion allows.
const clone = deepClone;

/**
 * The REST service: kube-apiserver's generic registry semantics (its genericregistry.Store) for any
 * ResourceDefinition, behind the HTTP front and the in-process client alike. Not the core/v1 Service kind.
 */
export class RestService {
  private schemas = new WeakMap<ResourceDefinition, ObjectSchema | null>();
  /** Objects produced by server-side apply, with the managedFields apply computed for them. */
  private applied = new WeakMap<KObject, KObject[] | undefined>();
  /** Per kind with serialised writes: the end of its latest queued write. */
  private writeTurns = new Map<string, Promise<void>>();

  constructor(
    public readonly store: ObjectStore,
    public readonly registry: Registry,
  ) {}

  private access?: ObjectAccess;
  /** Other stored objects, for admission that reads them and for action subresources. */
  get objects(): ObjectAccess {
    return (this.access ??= objectAccess(this.registry, this));
  }

  private schemaOf(def: ResourceDefinition): ObjectSchema | null {
    let s = this.schemas.get(def);
    if (s === undefined) {
      s = def.schema ? compileObjectSchema(def.schema, { kind: def.kind }) : null;
      this.schemas.set(def, s);
    }
    return s;
  }

  // ---- reads -------------------------------------------------------------------------------

  async get(def: ResourceDefinition, ns: string | undefined, name: string): Promise<KObject> {
    const obj = def.source ? await def.source.get(ns, name) : await this.store.get(def, ns, name);
    if (!obj) throw notFound(def.resource, def.group, name);
    return this.forVersion(def, obj);
  }

  async list(def: ResourceDefinition, ns: string | undefined, q: ListQuery): Promise<KObject> {
    if (def.source) {
      // Computed kinds: no storage revision or pagination, only the selectors (as metrics-server).
      const filter = compileFilter(def, q.labelSelector, q.fieldSelector);
      const items = (await def.source.list(ns)).filter((o) => filter.matches(o));
      return { kind: def.listKind, apiVersion: groupVersion(def), metadata: {}, items: items.map((o) => this.forVersion(def, o)) };
    }
    const r: ListResult = await this.store.list(def, ns, q);
    const metadata: KObject = { resourceVersion: r.resourceVersion };
    if (r.continue) metadata.continue = r.continue;
    if (r.remainingItemCount !== undefined) metadata.remainingItemCount = r.remainingItemCount;
    return { kind: def.listKind, apiVersion: groupVersion(def), metadata, items: r.items.map((o) => this.forVersion(def, o)) };
  }

  /** Objects are stored in one version; reading through another served version rewrites apiVersion. */
  forVersion(def: ResourceDefinition, obj: KObject): KObject {
    obj.apiVersion = groupVersion(def);
    obj.kind = def.kind;
    return obj;
  }

  // ---- create ------------------------------------------------------------------------------

  create(def: ResourceDefinition, ns: string | undefined, body: KObject, opts: WriteOptions, ctx: Ctx): Promise<KObject> {
    return this.writeTurn(def, () => this.createNow(def, ns, body, opts, ctx));
  }

  /** Runs `write` after the kind's earlier writes when its strategy asks for serialised writes. */
  private writeTurn<T>(def: ResourceDefinition, write: () => Promise<T>): Promise<T> {
    if (!def.strategy?.serializeWrites) return write();
    const key = `${def.group}/${def.resource}`;
    const turn = (this.writeTurns.get(key) ?? Promise.resolve()).then(write, write);
    const tail = turn.then(
      () => undefined,
      () => undefined,
    );
    this.writeTurns.set(key, tail);
    void tail.then(() => {
      if (this.writeTurns.get(key) === tail) this.writeTurns.delete(key);
    });
    return turn;
  }

  private async createNow(def: ResourceDefinition, ns: string | undefined, body: KObject, opts: WriteOptions, ctx: Ctx): Promise<KObject> {
    if (this.registry.isTerminating(def.crdName)) {
      throw new StatusError(405, 'MethodNotAllowed', `create not allowed while custom resource definition is terminating`);
    }
    const obj = this.checkBody(def, ns, body);
    this.checkDecodable(def, obj);
    // Virtual kinds (access reviews, TokenReview) answer a create with a computed object and store nothing.
    if (def.strategy?.createHandler) {
      this.normalize(def, obj, opts, ctx);
      return this.forVersion(def, await def.strategy.createHandler(obj, ctx));
    }
    const meta = obj.metadata;
    if (meta.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
    if (!meta.name && !meta.generateName) {
      throw invalid(def.kind, def.group, '', [
        { type: 'FieldValueRequired', field: 'metadata.name', detail: 'Required value: name or generateName is required' },
      ]);
    }
    for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink']) delete meta[f];
    meta.uid = randomUUID();
    meta.creationTimestamp = nowRFC3339();
    if (def.generation) meta.generation = 1;
    else delete meta.generation;
    // Custom resources cannot set status on create; built-in strategies decide for their kinds (a Node registers with its status).
    if (def.crdName && def.subresources.status) delete obj.status;

    this.normalize(def, obj, opts, ctx);
    def.strategy?.prepareForCreate?.(obj);
    await def.strategy?.admitWithObjects?.(obj, undefined, this.objects);
    this.trackManagedFields(def, undefined, obj, opts);

    const generated = !meta.name;
    if (generated) meta.name = meta.generateName + Array.from({ length: 5 }, () => GENERATE_CHARS[randomInt(GENERATE_CHARS.length)]).join('');
    const errs = [
      ...validateObjectMeta(meta, { namespaced: def.namespaced, nameRule: def.nameRule ?? 'subdomain' }),
      ...this.validateBody(def, obj),
      ...(def.strategy?.validate?.(obj) ?? []),
    ];
    if (errs.length) throw invalid(def.kind, def.group, meta.name ?? '', errs);
    if (ctx.user) def.strategy?.admit?.(obj, undefined, ctx);
    if (def.namespaced) await this.admitNamespace(ns!);
    if (opts.dryRun) {
      meta.resourceVersion = '';
      return this.forVersion(def, obj);
    }
    try {
      const rev = await this.store.storage.create(objectKey(def, ns, meta.name), encode(obj));
      meta.resourceVersion = String(rev);
    } catch (e) {
      if (e instanceof KeyExistsError) {
        const err = alreadyExists(def.resource, def.group, meta.name);
        if (generated) err.message += ' (the server was not able to generate a unique name for the object)';
        throw err;
      }
      throw e;
    }
    return this.forVersion(def, obj);
  }

  /** NamespaceLifecycle admission: content may only be created in an existing, active namespace. */
  private async admitNamespace(ns: string): Promise<void> {
    const nsDef = this.registry.lookup('', 'v1', 'namespaces');
    if (!nsDef) return;
    const nsObj = await this.store.get(nsDef, undefined, ns);
    if (!nsObj) throw notFound('namespaces', '', ns);
    if (nsObj.metadata.deletionTimestamp || nsObj.status?.phase === 'Terminating') {
      throw forbidden(`unable to create new content in namespace ${ns} because it is being terminated`, {
        name: ns,
        kind: 'namespaces',
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  // ---- update / patch ----------------------------------------------------------------------

  async update(def: ResourceDefinition, ns: string | undefined, name: string, body: KObject, opts: WriteOptions, ctx: Ctx): Promise<KObject> {
    const obj = this.checkBody(def, ns, body);
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    obj.metadata.name = name;
    const wantRV = parseRV(obj.metadata.resourceVersion);
    return this.guaranteedUpdate(def, ns, name, wantRV, () => clone(obj), opts, ctx);
  }

  async patch(
    def: ResourceDefinition,
    ns: string | undefined,
    name: string,
    contentType: string,
    patch: unknown,
    opts: WriteOptions,
    ctx: Ctx,
  ): Promise<KObject> {
    const type = contentType.split(';')[0].trim().toLowerCase();
    const accepted = def.strategicMergePatch ? [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.strategic] : [PATCH_TYPES.json, PATCH_TYPES.merge];
    if (!accepted.includes(type as never)) throw unsupportedMediaType(type, [...accepted, PATCH_TYPES.apply]);
    return this.guaranteedUpdate(
      def,
      ns,
      name,
      undefined,
      (cur) => {
        const base = clone(cur);
        let out: unknown;
        if (type === PATCH_TYPES.json) out = applyJsonPatch(base, patch);
        else if (type === PATCH_TYPES.merge) out = applyMergePatch(base, patch);
        else out = applyStrategicMergePatch(base, patch, def.schema);
        if (!out || typeof out !== 'object' || Array.isArray(out)) throw badRequest('the patched object is not a JSON object');
        const patched = out as KObject;
        patched.metadata ??= {};
        // A resourceVersion or uid in the patched object is a precondition (kubectl diff, CSA→SSA upgrade).
        const rv = patched.metadata.resourceVersion;
        if (rv !== undefined && rv !== cur.metadata.resourceVersion) throw conflict(def.resource, def.group, name, OBJECT_MODIFIED);
        if (patched.metadata.uid !== undefined && patched.metadata.uid !== cur.metadata.uid) {
          throw conflict(
            def.resource,
            def.group,
            name,
            `Precondition failed: UID in precondition: ${patched.metadata.uid}, UID in object meta: ${cur.metadata.uid}`,
          );
        }
        if (patched.metadata.name !== name) throw badRequest(`metadata.name: Invalid value: ${JSON.stringify(patched.metadata.name)}: field is immutable`);
        return this.checkBody(def, ns, patched);
      },
      opts,
      ctx,
    );
  }

  /**
   * Server-side apply (PATCH application/apply-patch+yaml): merges the configuration into the live object
   * under field ownership, or creates the object when it does not exist.
   */
  async apply(
    def: ResourceDefinition,
    ns: string | undefined,
    name: string,
    body: unknown,
    opts: ApplyOptions,
    ctx: Ctx,
  ): Promise<{ object: KObject; created: boolean }> {
    const manager = opts.fieldManager ?? '';
    const optErrs: FieldError[] = [];
    if (!manager) optErrs.push({ type: 'FieldValueRequired', field: 'fieldManager', detail: 'Required value: is required for apply patch' });
    if (manager.length > 128) optErrs.push({ type: 'FieldValueTooLong', field: 'fieldManager', detail: `Too long: may not be more than 128 bytes` });
    if (optErrs.length) throw invalid('PatchOptions', 'meta.k8s.io', '', optErrs);
    const config = this.applyConfig(def, ns, name, body);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.store.get(def, ns, name);
      if (!cur) {
        const r = applyConfig(undefined, clone(config), manager, !!opts.force, this.fieldScope(def, opts));
        this.applied.set(r.object, r.managedFields);
        try {
          return { object: await this.create(def, ns, r.object, opts, ctx), created: true };
        } catch (e) {
          if (e instanceof StatusError && e.reason === 'AlreadyExists' && attempt < MAX_RETRIES) continue;
          throw e;
        }
      }
      try {
        const object = await this.guaranteedUpdate(
          def,
          ns,
          name,
          undefined,
          (live) => {
            const rv = config.metadata.resourceVersion;
            if (rv !== undefined && rv !== live.metadata.resourceVersion) throw conflict(def.resource, def.group, name, OBJECT_MODIFIED);
            const r = applyConfig(live, clone(config), manager, !!opts.force, this.fieldScope(def, opts));
            this.applied.set(r.object, r.managedFields);
            return r.object;
          },
          opts,
          ctx,
        );
        return { object, created: false };
      } catch (e) {
        // Deleted between the read and the write: apply creates it.
        if (e instanceof StatusError && e.code === 404 && attempt < MAX_RETRIES) continue;
        throw e;
      }
    }
  }

  /** Checks an apply configuration against the URL, as the apply patcher does before merging. */
  private applyConfig(def: ResourceDefinition, ns: string | undefined, name: string, body: unknown): KObject {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('error decoding YAML: the apply configuration must be an object');
    const config = body as KObject;
    const [g, v] = typeof config.apiVersion === 'string' && config.apiVersion.includes('/') ? config.apiVersion.split('/', 2) : ['', config.apiVersion ?? ''];
    if (g !== def.group || v !== def.version || config.kind !== def.kind) throw badRequest(`invalid object type: ${g}/${v}, Kind=${config.kind ?? ''}`);
    if (config.metadata === undefined || config.metadata === null) config.metadata = {};
    if (typeof config.metadata !== 'object' || Array.isArray(config.metadata)) throw badRequest('metadata must be an object');
    if (config.metadata.managedFields !== undefined) throw badRequest('metadata.managedFields must be nil');
    if (config.metadata.name !== undefined && config.metadata.name !== name) {
      throw badRequest(`the name of the object (${config.metadata.name}) does not match the name on the URL (${name})`);
    }
    config.metadata.name = name;
    if (def.namespaced) {
      if (config.metadata.namespace !== undefined && config.metadata.namespace !== ns) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      config.metadata.namespace = ns;
    }
    return config;
  }

  /**
   * Read-modify-write with optimistic concurrency. `wantRV` is a client precondition (PUT body);
   * without one, races with other writers are retried transparently as the real server does.
   */
  guaranteedUpdate(
    def: ResourceDefinition,
    ns: string | undefined,
    name: string,
    wantRV: number | undefined,
    mutate: (cur: KObject) => KObject,
    opts: WriteOptions,
    ctx: Ctx,
  ): Promise<KObject> {
    return this.writeTurn(def, () => this.updateNow(def, ns, name, wantRV, mutate, opts, ctx));
  }

  private async updateNow(
    def: ResourceDefinition,
    ns: string | undefined,
    name: string,
    wantRV: number | undefined,
    mutate: (cur: KObject) => KObject,
    opts: WriteOptions,
    ctx: Ctx,
  ): Promise<KObject> {
    const key = objectKey(def, ns, name);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.store.get(def, ns, name);
      if (!cur) throw notFound(def.resource, def.group, name);
      const curRV = Number(cur.metadata.resourceVersion);
      if (wantRV !== undefined && wantRV !== curRV) throw conflict(def.resource, def.group, name, OBJECT_MODIFIED);
      const next = this.prepareUpdate(def, mutate(clone(cur)), cur, opts, ctx);
      if (!opts.subresource) await def.strategy?.admitWithObjects?.(next, cur, this.objects);
      if (deepEqual(next, cur)) return this.forVersion(def, cur); // no-op writes are not persisted
      if (opts.dryRun) return this.forVersion(def, next);
      try {
        if (this.finalized(def, next)) {
          const { revision } = await this.store.storage.delete(key, curRV);
          next.metadata.resourceVersion = String(revision);
        } else {
          next.metadata.resourceVersion = String(await this.store.storage.update(key, encode(next), curRV));
        }
        return this.forVersion(def, next);
      } catch (e) {
        if (e instanceof KeyNotFoundError) throw notFound(def.resource, def.group, name);
        if (e instanceof RevisionConflictError && wantRV === undefined && attempt < MAX_RETRIES) continue;
        if (e instanceof RevisionConflictError) throw conflict(def.resource, def.group, name, OBJECT_MODIFIED);
        throw e;
      }
    }
  }

  /** An object marked for deletion goes away on the write that clears its last finalizer. */
  private finalized(def: ResourceDefinition, obj: KObject): boolean {
    const m = obj.metadata;
    if (!m.deletionTimestamp || (m.finalizers?.length ?? 0) > 0) return false;
    if (def.strategy?.pendingFinalization?.(obj)) return false;
    return (m.deletionGracePeriodSeconds ?? 0) === 0;
  }

  /** Applies update semantics to `next` (the client's desired object) given the stored `cur`. */
  private prepareUpdate(def: ResourceDefinition, next: KObject, cur: KObject, opts: WriteOptions, ctx: Ctx): KObject {
    next.metadata ??= {};
    this.checkDecodable(def, next);
    const applied = this.applied.has(next);
    const sub = opts.subresource;
    if (sub === 'status') {
      // Only .status changes through /status.
      const status = next.status;
      const from = next;
      next = clone(cur);
      if (applied) this.applied.set(next, this.applied.get(from));
      if (status === undefined) delete next.status;
      else next.status = status;
    } else if (def.subresources.status) {
      if (cur.status === undefined) delete next.status;
      else next.status = clone(cur.status);
    }
    const m = next.metadata;
    const c = cur.metadata;
    // Server-owned metadata is carried over, whatever the client sent.
    m.resourceVersion = c.resourceVersion;
    for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
      if (c[f] === undefined) delete m[f];
      else m[f] = c[f];
    }
    if (m.managedFields === undefined && c.managedFields !== undefined) m.managedFields = c.managedFields;
    this.normalize(def, next, opts, ctx);
    // Kind strategies govern the main resource; subresources (status, scale, binding, finalize) have their own narrow rules.
    if (!sub) def.strategy?.prepareForUpdate?.(next, cur);
    if (def.generation && this.specChanged(def, next, cur)) m.generation = (c.generation ?? 0) + 1;
    this.trackManagedFields(def, cur, next, opts);

    const errs = [
      ...validateObjectMeta(m, { namespaced: def.namespaced, nameRule: def.nameRule ?? 'subdomain' }),
      ...validateMetadataUpdate(m, c),
      ...this.validateBody(def, next),
      ...(sub ? [] : (def.strategy?.validate?.(next, cur) ?? [])),
      ...(sub === 'status' ? (def.strategy?.validateStatus?.(next, cur) ?? []) : []),
    ];
    if (errs.length) throw invalid(def.kind, def.group, m.name, errs);
    if (!sub && ctx.user) def.strategy?.admit?.(next, cur, ctx);
    return next;
  }

  private specChanged(def: ResourceDefinition, next: KObject, cur: KObject): boolean {
    if (def.strategy?.generationChanged) return def.strategy.generationChanged(next, cur);
    const strip = (o: KObject) => {
      const { metadata: _m, status: _s, ...rest } = o;
      return def.subresources.status ? rest : { ...rest, status: _s };
    };
    return !deepEqual(strip(next), strip(cur));
  }

  // ---- shared write pipeline ---------------------------------------------------------------

  /** Checks the body against the URL and fills apiVersion/kind/namespace from it. */
  private checkBody(def: ResourceDefinition, ns: string | undefined, body: unknown): KObject {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body of the request is not a JSON object');
    const obj = body as KObject;
    const gv = groupVersion(def);
    // Type meta is decoded first, as strings (JSON null decodes to "", i.e. absent).
    for (const f of ['apiVersion', 'kind'] as const) {
      if (obj[f] === null) delete obj[f];
      else if (obj[f] !== undefined && typeof obj[f] !== 'string') {
        throw badRequest(`couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonType(obj[f])} into Go struct field .${f} of type string`);
      }
    }
    if (obj.apiVersion !== undefined && obj.apiVersion !== gv && !this.sameGroup(def, obj.apiVersion)) {
      throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${gv})`);
    }
    if (obj.kind !== undefined && obj.kind !== def.kind) {
      throw badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${def.kind})`);
    }
    obj.apiVersion = gv;
    obj.kind = def.kind;
    if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
    if (typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) throw badRequest('metadata must be an object');
    if (def.namespaced) {
      if (obj.metadata.namespace && obj.metadata.namespace !== ns) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      obj.metadata.namespace = ns;
    } else {
      delete obj.metadata.namespace;
    }
    return obj;
  }

  /** Objects deeper than a body may be, and metadata of the wrong JSON type, fail decoding in kube-apiserver: 400, worded as Go's decoder words it. */
  private checkDecodable(def: ResourceDefinition, obj: KObject): void {
    // A patch or apply can deepen an object beyond what a body may carry; nothing that deep is stored.
    if (nestingExceeds(obj)) throw tooDeep(`{"apiVersion":"${obj.apiVersion}","kind":"${obj.kind}"`, def.kind);
    const err = objectMetaTypeError(obj.metadata, def.crdName ? 'ObjectMeta' : 'ObjectMeta.metadata');
    if (err) throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${err}`);
  }

  /** Another served version of the same group/kind (stored in one version, CRD conversion "None"). */
  private sameGroup(def: ResourceDefinition, apiVersion: string): boolean {
    const [g, v] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
    return g === def.group && !!this.registry.lookup(g, v, def.resource);
  }

  /** Pruning (unknown fields per fieldValidation) and schema defaulting. */
  private normalize(def: ResourceDefinition, obj: KObject, opts: WriteOptions, ctx: Ctx): void {
    const schema = this.schemaOf(def);
    if (!schema) return;
    if (def.unknownFields === 'prune') {
      const unknown = schema.prune(obj);
      if (unknown.length) {
        const msgs = unknown.map((p) => `unknown field "${p}"`);
        const mode = opts.fieldValidation ?? 'Warn';
        if (mode === 'Strict') throw badRequest(`strict decoding error: ${msgs.join(', ')}`);
        if (mode === 'Warn') ctx.warnings.push(...msgs);
      }
    }
    schema.applyDefaults(obj);
  }

  /**
   * Custom resources are validated against their schema (422). Built-in kinds are validated by their
   * strategies; from the schema they only get the type check that decoding into Go types does (400).
   */
  private validateBody(def: ResourceDefinition, obj: KObject): FieldError[] {
    const errs = this.schemaOf(def)?.validate(obj) ?? [];
    if (def.crdName) return errs;
    const typeErrors = errs.filter((e) => /must be of type/.test(e.detail));
    if (typeErrors.length)
      throw badRequest(
        `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${typeErrors.map((e) => `${e.field}: ${e.detail}`).join(', ')}`,
      );
    return [];
  }

  private fieldScope(def: ResourceDefinition, opts: WriteOptions): FieldManagerScope {
    return {
      schema: def.schema,
      apiVersion: groupVersion(def),
      subresource: opts.subresource,
      statusSubresource: !!def.subresources.status,
      now: nowRFC3339(),
    };
  }

  /** An Update operation by opts.fieldManager takes ownership of the fields it changed (live is undefined on create). */
  private trackManagedFields(def: ResourceDefinition, live: KObject | undefined, next: KObject, opts: WriteOptions): void {
    if (this.applied.has(next)) {
      const fields = this.applied.get(next);
      if (fields) next.metadata.managedFields = fields;
      else delete next.metadata.managedFields;
      return;
    }
    if (!opts.fieldManager) return;
    const fields = updateManagedFields(live, next, opts.fieldManager, this.fieldScope(def, opts));
    if (fields) next.metadata.managedFields = fields;
    else delete next.metadata.managedFields;
  }

  // ---- delete ------------------------------------------------------------------------------

  async delete(def: ResourceDefinition, ns: string | undefined, name: string, opts: DeleteOptions): Promise<DeleteResult> {
    if (opts.propagationPolicy && !['Orphan', 'Background', 'Foreground'].includes(opts.propagationPolicy)) {
      throw invalid('DeleteOptions', 'meta.k8s.io', '', [
        {
          type: 'FieldValueNotSupported',
          field: 'propagationPolicy',
          detail: `Unsupported value: "${opts.propagationPolicy}": supported values: "Foreground", "Background", "Orphan", "nil"`,
        },
      ]);
    }
    const key = objectKey(def, ns, name);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.store.get(def, ns, name);
      if (!cur) throw notFound(def.resource, def.group, name);
      const m = cur.metadata;
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== m.uid) {
        throw conflict(def.resource, def.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${m.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== m.resourceVersion) {
        throw conflict(
          def.resource,
          def.group,
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${m.resourceVersion}`,
        );
      }
      def.strategy?.checkDelete?.(cur);
      const next = clone(cur);
      const nm = next.metadata;
      const finalizers: string[] = [...(nm.finalizers ?? [])];
      const policy = opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : undefined);
      const add = (f: string) => {
        if (!finalizers.includes(f)) finalizers.push(f);
      };
      const drop = (f: string) => {
        const i = finalizers.indexOf(f);
        if (i >= 0) finalizers.splice(i, 1);
      };
      if (policy === 'Foreground') {
        add('foregroundDeletion');
        drop('orphan');
      }
      if (policy === 'Orphan') {
        add('orphan');
        drop('foregroundDeletion');
      }
      if (policy === 'Background') {
        drop('orphan');
        drop('foregroundDeletion');
      }

      const alreadyDeleting = !!nm.deletionTimestamp;
      const grace = alreadyDeleting ? this.shortenGrace(def, next, opts) : def.strategy?.gracefulDeleteSeconds?.(next, opts.gracePeriodSeconds);
      const keep = finalizers.length > 0 || def.strategy?.pendingFinalization?.(next) || (grace ?? 0) > 0;
      if (!keep) {
        if (opts.dryRun) return { object: this.forVersion(def, cur), deleted: true };
        try {
          const { revision } = await this.store.storage.delete(key, Number(m.resourceVersion));
          cur.metadata.resourceVersion = String(revision);
          return { object: this.forVersion(def, cur), deleted: true };
        } catch (e) {
          if (e instanceof RevisionConflictError && attempt < MAX_RETRIES) continue;
          if (e instanceof KeyNotFoundError) throw notFound(def.resource, def.group, name);
          throw e;
        }
      }
      if (finalizers.length) nm.finalizers = finalizers;
      else delete nm.finalizers;
      if (!alreadyDeleting) {
        nm.deletionTimestamp = new Date(Date.now() + (grace ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        nm.deletionGracePeriodSeconds = grace ?? 0;
        if (def.generation) nm.generation = (nm.generation ?? 0) + 1;
        def.strategy?.prepareForDeleting?.(next);
      } else if (grace !== undefined) {
        nm.deletionGracePeriodSeconds = grace;
      }
      if (deepEqual(next, cur)) return { object: this.forVersion(def, cur), deleted: false };
      if (opts.dryRun) return { object: this.forVersion(def, next), deleted: false };
      try {
        if (this.finalized(def, next)) {
          const { revision } = await this.store.storage.delete(key, Number(m.resourceVersion));
          next.metadata.resourceVersion = String(revision);
          return { object: this.forVersion(def, next), deleted: true };
        }
        nm.resourceVersion = String(await this.store.storage.update(key, encode(next), Number(m.resourceVersion)));
        return { object: this.forVersion(def, next), deleted: false };
      } catch (e) {
        if (e instanceof RevisionConflictError && attempt < MAX_RETRIES) continue;
        if (e instanceof KeyNotFoundError) throw notFound(def.resource, def.group, name);
        throw e;
      }
    }
  }

  /** A repeated delete of a gracefully terminating object may shorten, never extend, its grace period. */
  private shortenGrace(def: ResourceDefinition, obj: KObject, opts: DeleteOptions): number | undefined {
    if (opts.gracePeriodSeconds === undefined || !def.strategy?.gracefulDeleteSeconds) return undefined;
    const current = obj.metadata.deletionGracePeriodSeconds ?? 0;
    return Math.min(current, opts.gracePeriodSeconds);
  }

  async deleteCollection(def: ResourceDefinition, ns: string | undefined, q: ListQuery, opts: DeleteOptions): Promise<KObject> {
    const list = await this.store.list(def, ns, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
    const items: KObject[] = [];
    for (const o of list.items) {
      try {
        const r = await this.delete(def, o.metadata.namespace, o.metadata.name, opts);
        items.push(r.object);
      } catch (e) {
        if (!(e instanceof StatusError && e.code === 404)) throw e;
      }
    }
    return { kind: def.listKind, apiVersion: groupVersion(def), metadata: {}, items };
  }

  // ---- scale subresource -------------------------------------------------------------------

  toScale(def: ResourceDefinition, obj: KObject): KObject {
    const sc = def.subresources.scale!;
    const m = obj.metadata;
    const status: KObject = { replicas: Number(getPath(obj, sc.statusReplicasPath) ?? 0) };
    if (sc.labelSelectorPath || sc.selector) {
      const sel = sc.selector ? sc.selector(obj) : getPath(obj, sc.labelSelectorPath!);
      if (sel !== undefined) status.selector = sel;
    }
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
      spec: { replicas: Number(getPath(obj, sc.specReplicasPath) ?? 0) },
      status,
    };
  }

  /** Writes a Scale (after an update or patch of it) back into the object. */
  async updateScale(
    def: ResourceDefinition,
    ns: string | undefined,
    name: string,
    scaleOf: (current: KObject) => KObject,
    opts: WriteOptions,
    ctx: Ctx,
  ): Promise<KObject> {
    const sc = def.subresources.scale!;
    const obj = await this.guaranteedUpdate(
      def,
      ns,
      name,
      undefined,
      (cur) => {
        const scale = scaleOf(this.toScale(def, cur));
        if (scale.kind !== undefined && scale.kind !== 'Scale')
          throw badRequest(`the kind in the data (${scale.kind}) does not match the expected kind (Scale)`);
        const rv = scale.metadata?.resourceVersion;
        if (rv && rv !== cur.metadata.resourceVersion) throw conflict(def.resource, def.group, name, OBJECT_MODIFIED);
        const replicas = scale.spec?.replicas;
        if (!Number.isInteger(replicas) || replicas < 0) {
          throw invalid('Scale', 'autoscaling', name, [
            { type: 'FieldValueInvalid', field: 'spec.replicas', detail: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0` },
          ]);
        }
        setPath(cur, sc.specReplicasPath, replicas);
        return cur;
      },
      { ...opts, subresource: 'scale' },
      ctx,
    );
    return this.toScale(def, obj);
  }
}
