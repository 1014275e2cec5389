// A short-lived cache of bearer token authentication results, like kube-apiserver's cached token
// authenticator (10 s for a success there), so that repeated requests with one ServiceAccount token do
// not redo the signature check and the account / bound object lookups.
//
// Entries are keyed by an HMAC of audiences and token under a per-process random key: the raw token is
// never kept. A success lives at most successTtlMs and never past the token's own expiry; a failure lives
// failureTtlMs. A result also names the storage keys of the objects it read (account, bound object): any
// write to one of them drops it at once, so a deleted ServiceAccount, Pod or Secret revokes its tokens on
// the next request rather than after the TTL.

import { createHmac, randomBytes } from 'node:crypto';
import type { Storage, Watcher } from '../storage/types.ts';
import type { TokenReviewResult } from './types.ts';

export interface TokenCacheOptions {
  /** How long a successful authentication is reused (kube-apiserver: 10 s). */
  successTtlMs?: number;
  /** How long a refusal is reused (kube-apiserver: 0, not cached; refusals here are permanent anyway). */
  failureTtlMs?: number;
  /** Most entries kept; the least recently used one goes first. */
  maxEntries?: number;
}

/** A fresh verification: the result, when the token expires (ms) and which stored objects it read. */
export interface Verified {
  result: TokenReviewResult;
  expiresAt?: number;
  dependsOn?: string[];
}

interface Entry {
  /** Shared by concurrent requests with the same token while the first one verifies it. */
  result: Promise<TokenReviewResult>;
  expiresAt: number;
  dependsOn: string[];
}

export class TokenCache {
  private readonly hmacKey = randomBytes(32);
  private entries = new Map<string, Entry>();
  /** storage key -> cache keys of the results that read that object */
  private byObject = new Map<string, Set<string>>();
  /** Counts writes to watched objects, so a verification that raced one is not cached. */
  private writes = 0;
  private watchers: Watcher[] = [];
  private readonly successTtlMs: number;
  private readonly failureTtlMs: number;
  private readonly maxEntries: number;

  constructor(
    opts: TokenCacheOptions = {},
    private readonly watchedPrefixes: string[] = [],
  ) {
    this.successTtlMs = opts.successTtlMs ?? 10_000;
    this.failureTtlMs = opts.failureTtlMs ?? 3_000;
    this.maxEntries = opts.maxEntries ?? 4096;
  }

  /** Follows writes to the objects tokens depend on. */
  async start(storage: Storage): Promise<void> {
    const rev = await storage.currentRevision();
    for (const prefix of this.watchedPrefixes) {
      this.watchers.push(
        storage.watch(prefix, rev, (ev) => {
          this.writes++;
          this.invalidate(ev.key);
        }),
      );
    }
  }

  stop(): void {
    for (const w of this.watchers) w.stop();
    this.watchers = [];
  }

  /** The cached result for this token and audiences, or `verify()`'s, cached for next time. */
  async authenticate(token: string, audiences: string[], verify: () => Promise<Verified>): Promise<TokenReviewResult> {
    const key = createHmac('sha256', this.hmacKey).update(JSON.stringify(audiences)).update('\0').update(token).digest('base64url');
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) {
      this.entries.delete(key); // re-inserted: most recently used last
      this.entries.set(key, hit);
      return structuredClone(await hit.result);
    }
    if (hit) this.drop(key);

    const writesBefore = this.writes;
    const pending = verify();
    const entry: Entry = { result: pending.then((v) => v.result), expiresAt: Infinity, dependsOn: [] };
    this.insert(key, entry);
    let v: Verified;
    try {
      v = await pending;
    } catch (e) {
      this.drop(key);
      throw e;
    }
    if (this.entries.get(key) === entry) {
      const ttl = v.result.authenticated ? this.successTtlMs : this.failureTtlMs;
      // A result that read objects which may have changed meanwhile is not reused.
      if (ttl <= 0 || (v.dependsOn?.length && this.writes !== writesBefore)) this.drop(key);
      else {
        entry.expiresAt = Math.min(Date.now() + ttl, v.expiresAt ?? Infinity);
        entry.dependsOn = v.dependsOn ?? [];
        for (const dep of entry.dependsOn) {
          if (!this.byObject.has(dep)) this.byObject.set(dep, new Set());
          this.byObject.get(dep)!.add(key);
        }
      }
    }
    return structuredClone(v.result);
  }

  /** Drops every result that read the object stored under this key. */
  invalidate(objectKey: string): void {
    const keys = this.byObject.get(objectKey);
    if (keys) for (const k of [...keys]) this.drop(k);
  }

  get size(): number {
    return this.entries.size;
  }

  private insert(key: string, entry: Entry): void {
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.drop(oldest);
    }
    this.entries.set(key, entry);
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    for (const dep of e.dependsOn) {
      const set = this.byObject.get(dep);
      set?.delete(key);
      if (set?.size === 0) this.byObject.delete(dep);
    }
  }
}
