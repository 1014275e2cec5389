// The small client interface controllers are written against, so they do not care which process
// shape they run in (DESIGN §3, §10). Implementations: InProcessClient (in-process.ts, the embedded
// server's REST layer) and HttpClient (http-client.ts, any Kubernetes API server over HTTPS).
// Semantics are the Kubernetes API's: errors are metav1.Status (StatusError with code/reason),
// updates are conditional on metadata.resourceVersion, watches resume from a resourceVersion and
// end with 410 Expired when it is too old.

import { StatusError } from '../../apiserver/errors.ts';
import type { KObject } from '../../apiserver/resource.ts';

export { StatusError };
export type { KObject };

/** A resource as in a URL: group ('' = core), version, plural resource name. */
export interface GVR {
  group: string;
  version: string;
  resource: string;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface ObjectList {
  items: KObject[];
  resourceVersion: string;
  continue?: string;
}

export interface WriteOptions {
  fieldManager?: string;
  dryRun?: boolean;
}

export interface PatchOptions extends WriteOptions {
  /** 'status' patches the status subresource. */
  subresource?: 'status';
}

export type PatchType = 'merge' | 'json' | 'strategic';

export interface DeleteOptions {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  /** For kinds deleted gracefully (pods): 0 = at once. */
  gracePeriodSeconds?: number;
}

/** A change to one object. */
export interface ObjectChange {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KObject;
}

export interface WatchEvent {
  /** BOOKMARK only when asked for with allowWatchBookmarks; its object carries just metadata.resourceVersion. */
  type: ObjectChange['type'] | 'BOOKMARK';
  object: KObject;
}

export interface WatchOptions {
  /** Deliver changes after this resourceVersion; unset = the current state as ADDED events first. */
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Ask for BOOKMARK events (progress marks an informer resumes from). */
  allowWatchBookmarks?: boolean;
  /** Server-side end of the watch (the caller then watches again from the last resourceVersion). */
  timeoutSeconds?: number;
}

export interface WatchHandle {
  stop(): void;
}

export interface Client {
  /** Throws a 404 StatusError when absent. */
  get(r: GVR, namespace: string | undefined, name: string): Promise<KObject>;
  list(r: GVR, namespace: string | undefined, opts?: ListOptions): Promise<ObjectList>;
  create(r: GVR, namespace: string | undefined, obj: KObject, opts?: WriteOptions): Promise<KObject>;
  /** PUT; obj.metadata.resourceVersion, when set, is a precondition (409 Conflict otherwise). */
  update(r: GVR, obj: KObject, opts?: WriteOptions): Promise<KObject>;
  /** PUT of the status subresource (only .status changes); resourceVersion as in update. */
  updateStatus(r: GVR, obj: KObject, opts?: WriteOptions): Promise<KObject>;
  patch(r: GVR, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts?: PatchOptions): Promise<KObject>;
  delete(r: GVR, namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<void>;
  /** POST to a create-only subresource of one object (pods/binding, pods/eviction); returns the response body. */
  createSubresource(r: GVR, namespace: string | undefined, name: string, subresource: string, body: KObject, opts?: WriteOptions): Promise<KObject>;
  /**
   * Events in resourceVersion order, delivered one at a time (never re-entrantly). `onEnd` is
   * called once when the watch ends by itself: with a 410 StatusError when the resourceVersion is
   * too old (relist, then watch again), with another error when the connection failed, or with
   * nothing when the server closed the stream (watch again from the last resourceVersion seen).
   * Not called after stop().
   */
  watch(r: GVR, namespace: string | undefined, opts: WatchOptions, onEvent: (ev: WatchEvent) => void, onEnd: (err?: Error) => void): WatchHandle;
}

export const isNotFound = (e: unknown): boolean => e instanceof StatusError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof StatusError && e.code === 409 && e.reason === 'Conflict';
export const isAlreadyExists = (e: unknown): boolean => e instanceof StatusError && e.code === 409 && e.reason === 'AlreadyExists';
export const isGone = (e: unknown): boolean => e instanceof StatusError && e.code === 410;

/** "group/version" or "version" for the core group. */
export const apiVersionOf = (r: GVR): string => (r.group ? `${r.group}/${r.version}` : r.version);

/** The cache key of an object, as client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" when cluster-scoped. */
export function objectKey(obj: KObject): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : String(m.name);
}

/** Splits a key made by objectKey. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export type Verb = 'get' | 'list' | 'create' | 'update' | 'updateStatus' | 'patch' | 'delete' | 'watch';

/**
 * Counts the requests a client makes, per verb and resource: how the "GETs per reconcile" figure
 * is measured (controllers that read from informers make none in steady state).
 */
export class CountingClient implements Client {
  readonly counts = new Map<string, number>();
  constructor(readonly inner: Client) {}

  private count(verb: Verb, r: GVR): void {
    for (const k of [verb, `${verb} ${r.resource}`]) this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }
  /** Requests of this verb (optionally on one resource) so far. */
  total(verb: Verb, resource?: string): number {
    return this.counts.get(resource ? `${verb} ${resource}` : verb) ?? 0;
  }
  reset(): void {
    this.counts.clear();
  }

  get(r: GVR, ns: string | undefined, name: string) {
    this.count('get', r);
    return this.inner.get(r, ns, name);
  }
  list(r: GVR, ns: string | undefined, o?: ListOptions) {
    this.count('list', r);
    return this.inner.list(r, ns, o);
  }
  create(r: GVR, ns: string | undefined, obj: KObject, o?: WriteOptions) {
    this.count('create', r);
    return this.inner.create(r, ns, obj, o);
  }
  update(r: GVR, obj: KObject, o?: WriteOptions) {
    this.count('update', r);
    return this.inner.update(r, obj, o);
  }
  updateStatus(r: GVR, obj: KObject, o?: WriteOptions) {
    this.count('updateStatus', r);
    return this.inner.updateStatus(r, obj, o);
  }
  patch(r: GVR, ns: string | undefined, name: string, t: PatchType, p: unknown, o?: PatchOptions) {
    this.count('patch', r);
    return this.inner.patch(r, ns, name, t, p, o);
  }
  delete(r: GVR, ns: string | undefined, name: string, o?: DeleteOptions) {
    this.count('delete', r);
    return this.inner.delete(r, ns, name, o);
  }
  createSubresource(r: GVR, ns: string | undefined, name: string, sub: string, body: KObject, o?: WriteOptions) {
    this.count('create', r);
    return this.inner.createSubresource(r, ns, name, sub, body, o);
  }
  watch(r: GVR, ns: string | undefined, o: WatchOptions, onEvent: (ev: WatchEvent) => void, onEnd: (err?: Error) => void) {
    this.count('watch', r);
    return this.inner.watch(r, ns, o, onEvent, onEnd);
  }
}
