// The small client interface controllers are written against, so they do not care which process
// shape they run in (DESIGN §3): in the embedded server they call the REST layer in-process
// (InProcessClient, below); in operator mode an HTTP implementation of the same interface talks
// to a real kube-apiserver. Semantics are the Kubernetes API's: errors are metav1.Status
// (StatusError with code/reason), updates are conditional on metadata.resourceVersion, watches
// resume from a resourceVersion and end with 410 Expired when it is too old.

import { StatusError } from '../apiserver/errors.ts';
import type { KObject, ResourceDefinition } from '../apiserver/resource.ts';
import type { Registry } from '../apiserver/registry.ts';
import { PATCH_TYPES, type ResourceService } from '../apiserver/rest.ts';
import { compileFilter, parseRV, type ObjectEvent } from '../apiserver/store.ts';
import { deepClone } from '../apiserver/nesting.ts';

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

export type PatchType = 'merge' | 'json';

export interface DeleteOptions {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KObject;
}

export interface WatchOptions {
  /** Deliver changes after this resourceVersion; unset = the current state as ADDED events first. */
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
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
  /**
   * Events in resourceVersion order, delivered one at a time (never re-entrantly). `onEnd` is
   * called once when the watch ends by itself (e.g. a 410 StatusError: relist and watch again).
   */
  watch(r: GVR, namespace: string | undefined, opts: WatchOptions, onEvent: (ev: WatchEvent) => void, onEnd: (err?: Error) => void): WatchHandle;
}

export const isNotFound = (e: unknown): boolean => e instanceof StatusError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof StatusError && e.code === 409 && e.reason === 'Conflict';
export const isAlreadyExists = (e: unknown): boolean => e instanceof StatusError && e.code === 409 && e.reason === 'AlreadyExists';

/** The Client over the in-process REST layer: the same validation, admission and concurrency rules as HTTP. */
export class InProcessClient implements Client {
  constructor(private readonly service: ResourceService, private readonly registry: Registry) {}

  private def(r: GVR): ResourceDefinition {
    const d = this.registry.lookup(r.group, r.version, r.resource);
    if (!d) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
    return d;
  }

  async get(r: GVR, ns: string | undefined, name: string): Promise<KObject> {
    return this.service.get(this.def(r), ns, name);
  }

  async list(r: GVR, ns: string | undefined, opts: ListOptions = {}): Promise<ObjectList> {
    const l = await this.service.list(this.def(r), ns, opts);
    return { items: l.items, resourceVersion: l.metadata.resourceVersion, ...(l.metadata.continue ? { continue: l.metadata.continue } : {}) };
  }

  async create(r: GVR, ns: string | undefined, obj: KObject, opts: WriteOptions = {}): Promise<KObject> {
    return this.service.create(this.def(r), ns, deepClone(obj), opts, { warnings: [] });
  }

  async update(r: GVR, obj: KObject, opts: WriteOptions = {}): Promise<KObject> {
    const m = obj.metadata ?? {};
    return this.service.update(this.def(r), m.namespace, m.name, deepClone(obj), opts, { warnings: [] });
  }

  async updateStatus(r: GVR, obj: KObject, opts: WriteOptions = {}): Promise<KObject> {
    const def = this.def(r);
    const m = obj.metadata ?? {};
    const status = deepClone(obj.status);
    return this.service.guaranteedUpdate(def, m.namespace, m.name, parseRV(m.resourceVersion), (cur) => {
      cur.status = status;
      return cur;
    }, { ...opts, subresource: 'status' }, { warnings: [] });
  }

  async patch(r: GVR, ns: string | undefined, name: string, type: PatchType, patch: unknown, opts: PatchOptions = {}): Promise<KObject> {
    return this.service.patch(this.def(r), ns, name, PATCH_TYPES[type], deepClone(patch), opts, { warnings: [] });
  }

  async delete(r: GVR, ns: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    await this.service.delete(this.def(r), ns, name, opts);
  }

  watch(r: GVR, ns: string | undefined, opts: WatchOptions, onEvent: (ev: WatchEvent) => void, onEnd: (err?: Error) => void): WatchHandle {
    // Storage delivers events synchronously inside the committing write; a queue hands them to
    // the handler afterwards, in order, so a handler may write without re-entering storage.
    const queue: WatchEvent[] = [];
    let stopped = false;
    let scheduled = false;
    let inner: { stop(): void } | undefined;
    const drain = () => {
      scheduled = false;
      while (queue.length && !stopped) {
        try {
          onEvent(queue.shift()!);
        } catch (e) {
          console.error(`kubeve: watch handler for ${r.resource} failed:`, e instanceof Error ? e.message : e);
        }
      }
    };
    const push = (ev: WatchEvent) => {
      queue.push(ev);
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(drain);
      }
    };
    const end = (err?: Error) => {
      if (stopped) return;
      stopped = true;
      inner?.stop();
      queueMicrotask(() => onEnd(err));
    };
    const start = async () => {
      const def = this.def(r);
      const filter = compileFilter(def, opts.labelSelector, opts.fieldSelector);
      let from = parseRV(opts.resourceVersion);
      if (!from) {
        const l = await this.service.store.list(def, ns, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector });
        for (const o of l.items) push({ type: 'ADDED', object: this.service.forVersion(def, o) });
        from = Number(l.resourceVersion);
      }
      if (stopped) return;
      inner = this.service.store.watch(def, ns, from, filter, (ev: ObjectEvent) => push({ type: ev.type, object: this.service.forVersion(def, deepClone(ev.object)) }));
    };
    start().catch((e: unknown) => end(e instanceof Error ? e : new Error(String(e))));
    return {
      stop: () => {
        stopped = true;
        inner?.stop();
      },
    };
  }
}

export interface Reflector {
  /** Resolves once the initial list has been delivered. */
  readonly synced: Promise<void>;
  stop(): void;
}

/**
 * List, then watch from the list's resourceVersion, forever: the informer loop without a cache.
 * `onEvent` sees every object once as ADDED at start; after a watch ends (410, connection loss)
 * the resource is listed again and objects that vanished meanwhile are reported DELETED.
 * Keeps only the set of object keys it has seen.
 */
export function reflect(client: Client, r: GVR, onEvent: (ev: WatchEvent) => void, o: { namespace?: string; retryMs?: number } = {}): Reflector {
  const seen = new Set<string>();
  const keyOf = (obj: KObject) => `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
  let stopped = false;
  let handle: WatchHandle | undefined;
  let timer: NodeJS.Timeout | undefined;
  let markSynced!: () => void;
  const synced = new Promise<void>((res) => (markSynced = res));
  const deliver = (ev: WatchEvent) => {
    const k = keyOf(ev.object);
    if (ev.type === 'DELETED') seen.delete(k);
    else seen.add(k);
    try {
      onEvent(ev);
    } catch (e) {
      // One object a handler cannot process must neither stop the others nor block the initial sync.
      console.error(`kubeve: handling ${ev.type} ${r.resource} ${k} failed:`, e instanceof Error ? e.message : e);
    }
  };
  const run = async () => {
    if (stopped) return;
    try {
      const l = await client.list(r, o.namespace);
      const now = new Set(l.items.map(keyOf));
      for (const k of [...seen]) {
        if (now.has(k)) continue;
        const [ns, name] = k.split('/');
        deliver({ type: 'DELETED', object: { metadata: { name, ...(ns ? { namespace: ns } : {}) } } });
      }
      for (const obj of l.items) deliver({ type: seen.has(keyOf(obj)) ? 'MODIFIED' : 'ADDED', object: obj });
      markSynced();
      if (stopped) return;
      handle = client.watch(r, o.namespace, { resourceVersion: l.resourceVersion }, deliver, () => {
        if (!stopped) timer = setTimeout(() => void run(), 0);
      });
    } catch (e) {
      if (!stopped) {
        console.error(`kubeve: list ${r.resource} failed, retrying:`, e instanceof Error ? e.message : e);
        timer = setTimeout(() => void run(), o.retryMs ?? 1000);
      }
    }
  };
  void run();
  return {
    synced,
    stop() {
      stopped = true;
      clearTimeout(timer);
      handle?.stop();
    },
  };
}
