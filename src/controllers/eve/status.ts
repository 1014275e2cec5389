// Status writing shared by the EVE controllers: conditions with Kubernetes semantics
// (lastTransitionTime moves only when status changes) and a read-modify-write of .status that
// writes nothing when the mutation changed nothing, retries on conflicts, and serialises writers
// of the same object inside this process (presence, info ingestion and render all touch EdgeNodes).

import { isDeepStrictEqual } from 'node:util';
import type { KObject } from '../../apiserver/resource.ts';
import { isConflict, isNotFound, type Client, type GVR } from '../runtime/index.ts';
import type { CacheStore } from '../runtime/index.ts';

export const GROUP = 'eve.kubeve.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const EDGENODES: GVR = { group: GROUP, version: VERSION, resource: 'edgenodes' };
export const ONBOARDINGKEYS: GVR = { group: GROUP, version: VERSION, resource: 'onboardingkeys' };
export const APPINSTANCES: GVR = { group: GROUP, version: VERSION, resource: 'appinstances' };
export const NETWORKINSTANCES: GVR = { group: GROUP, version: VERSION, resource: 'networkinstances' };
export const VOLUMES: GVR = { group: GROUP, version: VERSION, resource: 'volumes' };
export const DATASTORES: GVR = { group: GROUP, version: VERSION, resource: 'datastores' };
export const SECRETS: GVR = { group: '', version: 'v1', resource: 'secrets' };

export const FIELD_MANAGER = 'kubeve-eve-controller';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export const rfc3339 = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Sets a condition in `status.conditions`. Returns the previous status of that condition
 * ('' when it was absent) so callers can tell a transition from a refresh.
 */
export function setCondition(status: KObject, c: Condition, nowMs = Date.now()): ConditionStatus | '' {
  const list: KObject[] = Array.isArray(status.conditions) ? status.conditions : (status.conditions = []);
  const i = list.findIndex((x) => x.type === c.type);
  const prev = i >= 0 ? list[i]! : undefined;
  const next: KObject = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : (c.lastTransitionTime ?? rfc3339(nowMs)),
    ...(c.observedGeneration !== undefined ? { observedGeneration: c.observedGeneration } : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return (prev?.status as ConditionStatus | undefined) ?? '';
}

export function getCondition(obj: KObject | undefined, type: string): KObject | undefined {
  return (obj?.status?.conditions as KObject[] | undefined)?.find((c) => c.type === type);
}

/** What a status mutation saw and did. */
export interface StatusChange {
  /** The object after the write (or as read when nothing changed); undefined if it does not exist. */
  object?: KObject;
  /** The object before the mutation. */
  before?: KObject;
  written: boolean;
}

export class StatusWriter {
  private chains = new Map<string, Promise<unknown>>();
  /** Our writes the cache has not caught up with yet. */
  private readonly written = new Map<string, KObject>();

  /** cache: where a first read may come from instead of a GET (a synced informer's store); a conflict reads the server. */
  constructor(
    private readonly client: Client,
    private readonly cache: (r: GVR) => CacheStore | undefined = () => undefined,
  ) {}

  /**
   * Reads the object, lets `mutate` edit a copy of its status (return false to skip), and writes
   * .status only if it changed. Conflicting writers elsewhere are retried with a fresh read.
   */
  mutate(r: GVR, ns: string | undefined, name: string, mutate: (status: KObject, obj: KObject) => boolean | void): Promise<StatusChange> {
    const key = `${r.resource}/${ns ?? ''}/${name}`;
    const run = async (): Promise<StatusChange> => {
      for (let attempt = 0; ; attempt++) {
        // The cache first (no request in steady state); the server after a conflict or a miss (created just now).
        let cur: KObject | undefined = attempt === 0 ? this.cached(r, key, ns, name) : undefined;
        if (!cur) {
          try {
            cur = await this.client.get(r, ns, name);
          } catch (e) {
            if (isNotFound(e)) return { written: false };
            throw e;
          }
        }
        const status: KObject = structuredClone(cur.status ?? {});
        if (mutate(status, cur) === false || isDeepStrictEqual(status, cur.status ?? {})) return { object: cur, before: cur, written: false };
        try {
          const object = await this.client.updateStatus(r, { ...cur, status }, { fieldManager: FIELD_MANAGER });
          if (this.cache(r)) this.written.set(key, object);
          return { object, before: cur, written: true };
        } catch (e) {
          if (isNotFound(e)) return { written: false };
          if (isConflict(e) && attempt < 10) continue;
          throw e;
        }
      }
    };
    const prev = this.chains.get(key) ?? Promise.resolve();
    const p = prev.then(run, run);
    this.chains.set(key, p);
    void p
      .finally(() => {
        if (this.chains.get(key) === p) this.chains.delete(key);
      })
      .catch(() => undefined);
    return p;
  }

  /**
   * The newer of the cache's copy and our own last write (the cache may not have seen it yet: a
   * mutation compared against an older status could wrongly find nothing to change).
   */
  private cached(r: GVR, key: string, ns: string | undefined, name: string): KObject | undefined {
    const inCache = this.cache(r)?.getByName(ns, name);
    const mine = this.written.get(key);
    if (!mine) return inCache;
    if (!inCache) {
      this.written.delete(key); // gone, or not cached yet: ask the server
      return undefined;
    }
    if (Number(inCache.metadata.resourceVersion) >= Number(mine.metadata.resourceVersion)) {
      this.written.delete(key);
      return inCache;
    }
    return mine;
  }

  /** Resolves when every queued write has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.chains.size) await Promise.allSettled([...this.chains.values()]);
  }
}
