// Informers: list a resource, keep a cache of it up to date from a watch, and tell handlers what
// changed (client-go's reflector + DeltaFIFO + shared informer, folded into one small class).
// - The list is paged and its resourceVersion starts the watch; bookmarks advance that version.
// - A watch that ends (server timeout, dropped connection) resumes from the last version seen,
//   after a backoff when it failed; a 410 Expired (history compacted) relists instead.
// - A relist replaces the cache: objects that vanished during the gap are reported deleted with
//   finalStateUnknown (client-go's DeletedFinalStateUnknown tombstone).
// - A SharedInformerFactory hands every controller the same informer per resource: one list+watch.

import { isGone, objectKey, type Client, type GVR, type KObject, type WatchEvent, type WatchHandle } from './client.ts';
import { CacheStore, type IndexFunc } from './store.ts';
import { log } from '../../observability/log.ts';

export interface EventHandler {
  onAdd?(obj: KObject): void;
  /** Also called on resync, with old === new. */
  onUpdate?(oldObj: KObject, newObj: KObject): void;
  /** finalStateUnknown: the deletion was noticed by a relist, `obj` is the last state the cache had. */
  onDelete?(obj: KObject, finalStateUnknown: boolean): void;
}

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Every resyncMs, onUpdate(obj, obj) for every cached object (0 = never). */
  resyncMs?: number;
  indexers?: Record<string, IndexFunc>;
  /** Objects per list page (client-go: 500). */
  pageSize?: number;
  /** Backoff after a failed list or watch: client-go's reflector starts at 800 ms and caps at 30 s. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Server-side watch timeout; client-go picks 5-10 minutes at random. */
  watchTimeoutSeconds?: number;
}

/** Exponential backoff with jitter, reset after a success. */
export class Backoff {
  private next: number;
  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.next = initialMs;
  }
  delay(): number {
    const d = this.next * (1 + Math.random() * 0.2);
    this.next = Math.min(this.maxMs, this.next * 2);
    return Math.min(this.maxMs, d);
  }
  reset(): void {
    this.next = this.initialMs;
  }
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Relists forced by 410 Expired. */
  expired: number;
  /** Watches that ended with an error other than 410 (dropped connections). */
  watchErrors: number;
}

export class Informer {
  readonly store: CacheStore;
  readonly stats: InformerStats = { lists: 0, watches: 0, expired: 0, watchErrors: 0 };
  private readonly handlers: EventHandler[] = [];
  private started = false;
  private stopped = false;
  private synced = false;
  private markSynced!: () => void;
  private readonly syncedPromise = new Promise<void>((r) => (this.markSynced = r));
  private watch?: WatchHandle;
  private wake?: () => void;
  private resyncTimer?: NodeJS.Timeout;
  private readonly backoff: Backoff;
  /** The resourceVersion the cache is at (the watch resumes from it). */
  lastResourceVersion = '';

  constructor(
    readonly client: Client,
    readonly resource: GVR,
    readonly opts: InformerOptions = {},
  ) {
    this.store = new CacheStore();
    if (opts.indexers) this.store.addIndexers(opts.indexers);
    this.backoff = new Backoff(opts.backoffInitialMs ?? 800, opts.backoffMaxMs ?? 30_000);
  }

  /** Registers handlers; once started, they first see every cached object as added (as client-go does). */
  addEventHandler(h: EventHandler): void {
    this.handlers.push(h);
    if (this.started) for (const o of this.store.list()) this.call('onAdd', () => h.onAdd?.(o));
  }

  addIndexers(indexers: Record<string, IndexFunc>): void {
    this.store.addIndexers(indexers);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list is in the cache and handlers have seen it. */
  waitForSync(): Promise<void> {
    return this.syncedPromise;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.run();
    if (this.opts.resyncMs) {
      this.resyncTimer = setInterval(() => {
        if (this.synced) for (const o of this.store.list()) this.emit('onUpdate', (h) => h.onUpdate?.(o, o));
      }, this.opts.resyncMs);
      this.resyncTimer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.watch?.stop();
    this.wake?.();
  }

  /** A handler that throws is logged; the other handlers and the informer carry on. */
  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      log.error('informer handler failed', e, { resource: this.resource.resource, handler: what });
    }
  }

  private emit(what: keyof EventHandler, fn: (h: EventHandler) => void): void {
    for (const h of this.handlers) this.call(what, () => fn(h));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.relist();
      } catch (e) {
        if (this.stopped) return;
        log.error('list failed, retrying', e, { resource: this.resource.resource });
        await this.sleep(this.backoff.delay());
        continue;
      }
      // Watch, resuming from the last version seen, until the history we need is gone.
      while (!this.stopped) {
        const err = await this.watchOnce();
        if (this.stopped) return;
        if (isGone(err)) {
          this.stats.expired++;
          break;
        }
        if (err) {
          this.stats.watchErrors++;
          await this.sleep(this.backoff.delay());
        }
      }
    }
  }

  /** Lists (paged) and replaces the cache with the result. */
  private async relist(): Promise<void> {
    const o = this.opts;
    this.stats.lists++;
    let items: KObject[] = [];
    let rv = '';
    let cont: string | undefined;
    let limit: number | undefined = o.pageSize ?? 500;
    do {
      try {
        const l = await this.client.list(this.resource, o.namespace, { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, limit, continue: cont });
        items = items.concat(l.items);
        rv = l.resourceVersion;
        cont = l.continue;
      } catch (e) {
        // The continue token expired between pages: list everything in one go.
        if (!cont || !isGone(e)) throw e;
        items = [];
        cont = undefined;
        limit = undefined;
        const l = await this.client.list(this.resource, o.namespace, { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector });
        items = l.items;
        rv = l.resourceVersion;
      }
    } while (cont && !this.stopped);
    if (this.stopped) return;
    this.replace(items, rv);
    this.backoff.reset();
  }

  private replace(items: KObject[], rv: string): void {
    const fresh = new Set(items.map(objectKey));
    for (const key of this.store.keys()) {
      if (fresh.has(key)) continue;
      const old = this.store.remove(key)!;
      this.emit('onDelete', (h) => h.onDelete?.(old, true));
    }
    for (const obj of items) this.apply(obj, true);
    this.lastResourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      this.markSynced();
    }
  }

  /** Puts an object in the cache and tells handlers (unchanged objects of a relist are not news). */
  private apply(obj: KObject, fromList: boolean): void {
    const old = this.store.upsert(obj);
    if (!old) this.emit('onAdd', (h) => h.onAdd?.(obj));
    else if (!fromList || old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('onUpdate', (h) => h.onUpdate?.(old, obj));
  }

  private onWatchEvent(ev: WatchEvent): void {
    const rv = ev.object?.metadata?.resourceVersion;
    if (ev.type === 'BOOKMARK') {
      if (rv) this.lastResourceVersion = rv;
      return;
    }
    if (ev.type === 'DELETED') {
      const old = this.store.remove(objectKey(ev.object));
      this.emit('onDelete', (h) => h.onDelete?.(ev.object ?? old, false));
    } else {
      this.apply(ev.object, false);
    }
    if (rv) this.lastResourceVersion = rv;
  }

  /** One watch from lastResourceVersion; resolves with how it ended. */
  private watchOnce(): Promise<Error | undefined> {
    this.stats.watches++;
    const o = this.opts;
    return new Promise((resolve) => {
      let events = 0;
      this.wake = () => resolve(undefined);
      this.watch = this.client.watch(
        this.resource,
        o.namespace,
        {
          resourceVersion: this.lastResourceVersion,
          labelSelector: o.labelSelector,
          fieldSelector: o.fieldSelector,
          allowWatchBookmarks: true,
          timeoutSeconds: o.watchTimeoutSeconds ?? Math.floor(300 * (1 + Math.random())),
        },
        (ev) => {
          if (events++ === 0) this.backoff.reset();
          this.onWatchEvent(ev);
        },
        (err) => resolve(err),
      );
    });
  }
}

export interface InformerFor {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  indexers?: Record<string, IndexFunc>;
}

/** One informer per resource (and namespace/selectors) for every controller of a process. */
export class SharedInformerFactory {
  private readonly informers = new Map<string, Informer>();
  private started = false;

  constructor(
    readonly client: Client,
    private readonly defaults: Omit<InformerOptions, 'indexers' | 'labelSelector' | 'fieldSelector'> = {},
  ) {}

  informerFor(r: GVR, o: InformerFor = {}): Informer {
    const ns = o.namespace ?? this.defaults.namespace;
    const key = [r.group, r.version, r.resource, ns ?? '', o.labelSelector ?? '', o.fieldSelector ?? ''].join('|');
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer(this.client, r, { ...this.defaults, namespace: ns, labelSelector: o.labelSelector, fieldSelector: o.fieldSelector });
      this.informers.set(key, inf);
      if (this.started) inf.start();
    }
    if (o.indexers) inf.addIndexers(o.indexers);
    return inf;
  }

  /** Starts every informer asked for so far (and any asked for later). */
  start(): void {
    this.started = true;
    for (const inf of this.informers.values()) inf.start();
  }

  async waitForCacheSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
  }

  /** The cache of a synced, unfiltered, all-namespaces informer for r: what a controller may read instead of a GET. */
  cacheFor(r: GVR): CacheStore | undefined {
    const inf = this.informers.get([r.group, r.version, r.resource, '', '', ''].join('|'));
    return inf?.hasSynced() ? inf.store : undefined;
  }

  all(): Informer[] {
    return [...this.informers.values()];
  }

  stop(): void {
    for (const inf of this.informers.values()) inf.stop();
  }
}
