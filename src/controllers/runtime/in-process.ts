// The Client over the embedded server's REST layer: the same validation, admission and concurrency
// rules as HTTP, without serialisation or sockets.

import { StatusError } from '../../apiserver/errors.ts';
import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import type { Registry } from '../../apiserver/registry.ts';
import { PATCH_TYPES, type RestService } from '../../apiserver/rest.ts';
import { compileFilter, parseRV, type ObjectEvent } from '../../apiserver/store.ts';
import { deepClone } from '../../common/json.ts';
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
import { log } from '../../observability/log.ts';

export class InProcessClient implements Client {
  constructor(
    private readonly service: RestService,
    private readonly registry: Registry,
  ) {}

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
    return this.service.guaranteedUpdate(
      def,
      m.namespace,
      m.name,
      parseRV(m.resourceVersion),
      (cur) => {
        cur.status = status;
        return cur;
      },
      { ...opts, subresource: 'status' },
      { warnings: [] },
    );
  }

  async patch(r: GVR, ns: string | undefined, name: string, type: PatchType, patch: unknown, opts: PatchOptions = {}): Promise<KObject> {
    return this.service.patch(this.def(r), ns, name, PATCH_TYPES[type], deepClone(patch), opts, { warnings: [] });
  }

  async delete(r: GVR, ns: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    await this.service.delete(this.def(r), ns, name, opts);
  }

  async createSubresource(r: GVR, ns: string | undefined, name: string, sub: string, body: KObject, opts: WriteOptions = {}): Promise<KObject> {
    const def = this.def(r);
    const action = def.subresources.actions?.[sub];
    if (!action) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
    return action.create(await this.service.get(def, ns, name), deepClone(body), { objects: this.service.objects, dryRun: opts.dryRun });
  }

  watch(r: GVR, ns: string | undefined, opts: WatchOptions, onEvent: (ev: WatchEvent) => void, onEnd: (err?: Error) => void): WatchHandle {
    // Storage delivers events synchronously inside the committing write; a queue hands them to
    // the handler afterwards, in order, so a handler may write without re-entering storage.
    // In-process watches never time out or drop, so they carry no bookmarks.
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
          log.error('watch handler failed', e, { resource: r.resource });
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
      inner = this.service.store.watch(def, ns, from, filter, (ev: ObjectEvent) =>
        push({ type: ev.type, object: this.service.forVersion(def, deepClone(ev.object)) }),
      );
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
