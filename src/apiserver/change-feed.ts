// A process-wide feed of object changes for in-process consumers (the embedded controllers, RBAC
// aggregation): one storage watch over the whole keyspace, decoded into (resource, object) events,
// processed one at a time in order.

import type { Storage, StorageEvent, Watcher } from './storage/types.ts';
import type { Registry } from './registry.ts';
import type { KObject, ResourceDefinition } from './resource.ts';
import { decode } from './store.ts';
import { log } from '../observability/log.ts';

export interface ChangeEvent {
  type: 'create' | 'update' | 'delete';
  def: ResourceDefinition;
  object: KObject;
  previous?: KObject;
}

/** Parses "/registry/<group>/<resource>/..." back to the resource it belongs to. */
export function resourceOfKey(registry: Registry, key: string): ResourceDefinition | undefined {
  const parts = key.split('/');
  if (parts.length < 5 || parts[1] !== 'registry') return undefined;
  return registry.anyVersion(parts[2] === 'core' ? '' : parts[2], parts[3]);
}

export class ChangeFeed {
  private handlers: Array<(ev: ChangeEvent) => Promise<void> | void> = [];
  private queue: StorageEvent[] = [];
  private running = false;
  private watcher?: Watcher;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private storage: Storage,
    private registry: Registry,
  ) {}

  /** Returns what ends the subscription (controllers that run only while this replica leads). */
  subscribe(fn: (ev: ChangeEvent) => Promise<void> | void): () => void {
    this.handlers.push(fn);
    return () => {
      this.handlers = this.handlers.filter((h) => h !== fn);
    };
  }

  start(fromRevision: number): void {
    this.watcher = this.storage.watch(
      '/registry/',
      fromRevision,
      (ev) => {
        this.queue.push(ev);
        if (!this.running) void this.drain();
      },
      (err) => {
        // Only a shared store (etcd) ends a watch on its own: its history was compacted past this
        // feed while it was cut off. Follow on from now; controllers resync on their next change.
        console.error('kubeve: change feed lost events, restarting from the current revision:', err.message);
        void this.restart();
      },
    );
  }

  private async restart(): Promise<void> {
    while (!this.stopped) {
      try {
        const rev = await this.storage.currentRevision();
        if (!this.stopped) this.start(rev);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.stop();
  }

  /** Resolves once every queued event has been handled (tests and shutdown). */
  idle(): Promise<void> {
    if (!this.running && !this.queue.length) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length) {
      const ev = this.queue.shift()!;
      const def = resourceOfKey(this.registry, ev.key);
      if (!def) continue;
      const change: ChangeEvent = {
        type: ev.type,
        def,
        object: decode(ev.value, ev.revision),
        previous: ev.prevValue !== undefined ? decode(ev.prevValue, ev.revision) : undefined,
      };
      for (const h of this.handlers) {
        try {
          await h(change);
        } catch (e) {
          log.error('controller error', e, { key: ev.key });
        }
      }
    }
    this.running = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
