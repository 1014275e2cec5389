// The watch cache against a fake backend whose history is asynchronous, as etcd's would be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { CompactedError, WatchCache, type StorageEvent, type WatchCacheOptions } from '../../src/apiserver/storage/index.ts';

function backend(opts: Partial<WatchCacheOptions> = {}, withHistory = true) {
  const log: StorageEvent[] = [];
  let historyReads = 0;
  const cache = new WatchCache({
    startRevision: 0,
    maxEvents: 5,
    history: withHistory
      ? async function* (prefix, after, to) {
          historyReads++;
          for (const ev of log) {
            if (ev.revision <= after || ev.revision > to || !ev.key.startsWith(prefix)) continue;
            await tick(); // let appends and other watchers interleave
            yield ev;
          }
        }
      : undefined,
    ...opts,
  });
  let rev = 0;
  return {
    cache,
    log,
    historyReads: () => historyReads,
    write(key: string): StorageEvent {
      const ev: StorageEvent = { type: 'create', key, value: `v${rev + 1}`, revision: ++rev, createRevision: rev };
      log.push(ev);
      cache.append(ev);
      return ev;
    },
  };
}

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await tick();
  }
}

test('replays history then the ring then live events exactly once while writes continue', async () => {
  const b = backend();
  for (let i = 0; i < 50; i++) b.write(`/k/${i % 3 === 0 ? 'x' : 'y'}/${i}`);
  const got: number[] = [];
  b.cache.watch('/k/x/', 0, (ev) => got.push(ev.revision));
  for (let i = 50; i < 150; i++) {
    b.write(`/k/${i % 3 === 0 ? 'x' : 'y'}/${i}`);
    if (i % 4 === 0) await tick();
  }
  const want = b.log.filter((e) => e.key.startsWith('/k/x/')).map((e) => e.revision);
  await until(() => got.length >= want.length);
  await tick();
  assert.ok(b.historyReads() >= 2, 'the ring moved on during the first history read');
  assert.deepEqual(got, want);
});

test('falls back to history when a burst of writes evicts the ring before the replay starts', async () => {
  const b = backend();
  for (let i = 0; i < 10; i++) b.write(`/k/${i}`);
  const got: number[] = [];
  b.cache.watch('/k/', 7, (ev) => got.push(ev.revision)); // in the ring now...
  for (let i = 10; i < 30; i++) b.write(`/k/${i}`); // ...but not once this has run
  assert.equal(b.cache.oldestReplayableRevision, 25);
  await until(() => got.length >= 23);
  assert.deepEqual(
    got,
    Array.from({ length: 23 }, (_, i) => i + 8),
  );
  assert.equal(b.historyReads(), 1);
});

test('falls back to history when a callback writes enough to evict the ring under the replay', async () => {
  const b = backend();
  for (let i = 0; i < 4; i++) b.write(`/k/${i}`);
  const got: number[] = [];
  b.cache.watch('/k/', 0, (ev) => {
    got.push(ev.revision);
    if (ev.revision === 1) for (let i = 0; i < 10; i++) b.write(`/k/burst/${i}`); // revisions 5..14
  });
  await until(() => got.length >= 14);
  b.write('/k/live');
  assert.deepEqual(
    got,
    Array.from({ length: 15 }, (_, i) => i + 1),
  );
});

test('without history, watches older than the ring get CompactedError', async () => {
  const errors: unknown[] = [];
  const b = backend({ onError: (e) => errors.push(e) }, false);
  for (let i = 0; i < 10; i++) b.write(`/k/${i}`);
  assert.throws(
    () => b.cache.watch('/k/', 4, () => {}),
    (e: unknown) => e instanceof CompactedError && e.requested === 4 && e.compacted === 5,
  );

  // Accepted from the ring, then evicted before the replay: reported, not silently skipped.
  const got: number[] = [];
  b.cache.watch('/k/', 6, (ev) => got.push(ev.revision));
  for (let i = 10; i < 20; i++) b.write(`/k/${i}`);
  await until(() => errors.length > 0);
  assert.ok(errors[0] instanceof CompactedError);
  b.write('/k/late');
  assert.deepEqual(got, [], 'the failed watcher receives nothing further');
});

test('with history, the backend compacted revision bounds how far back a watch may start', () => {
  let compacted = 3;
  const b = backend({ compactedRevision: () => compacted });
  for (let i = 0; i < 10; i++) b.write(`/k/${i}`);
  assert.throws(
    () => b.cache.watch('/k/', 2, () => {}),
    (e: unknown) => e instanceof CompactedError && e.compacted === 3,
  );
  b.cache.watch('/k/', 3, () => {}).stop();
  compacted = 5;
  // The ring (revisions 6..10) still serves a watch from 5 whatever the backend compacted.
  b.cache.watch('/k/', 5, () => {}).stop();
  assert.throws(() => b.cache.watch('/k/', 4, () => {}), CompactedError);
});

test('the ring keeps events for the retention window, then lets them go', () => {
  let now = 0;
  const b = backend({ maxEvents: 1000, retentionMs: 1000, now: () => now });
  b.write('/a'); // 1 at t=0
  b.write('/b'); // 2 at t=0
  now = 500;
  b.write('/c'); // 3 at t=500
  now = 1000;
  b.write('/d'); // 4 at t=1000: the first two are exactly 1000 ms old, kept
  assert.equal(b.cache.oldestReplayableRevision, 0);
  now = 1501;
  b.write('/e'); // 5: now 1 and 2 (t=0) and 3 (t=500) are older than 1000 ms
  assert.equal(b.cache.oldestReplayableRevision, 3);
});

test('replayed events never arrive before watch() returns; stop() works from inside a callback', async () => {
  const b = backend({ maxEvents: 100 });
  for (let i = 0; i < 10; i++) b.write(`/k/${i}`);
  const got: number[] = [];
  const w = b.cache.watch('/k/', 0, (ev) => {
    got.push(ev.revision);
    if (ev.revision === 3) w.stop();
  });
  assert.deepEqual(got, []);
  await until(() => got.length >= 3);
  b.write('/k/after');
  await tick();
  assert.deepEqual(got, [1, 2, 3]);
});

test('a watch from a future revision skips events up to it', async () => {
  const b = backend();
  b.write('/k/1');
  const got: number[] = [];
  b.cache.watch('/k/', 3, (ev) => got.push(ev.revision));
  for (let i = 0; i < 4; i++) b.write('/k/n');
  assert.deepEqual(got, [4, 5]);
});

test('prefix filtering, out-of-order appends and close', () => {
  const b = backend();
  const seen: Record<string, string[]> = { '/': [], '/a/': [], '/a/b/': [] };
  for (const p of Object.keys(seen)) b.cache.watch(p, 0, (ev) => seen[p].push(ev.key));
  for (const k of ['/a/1', '/a/b/2', '/ab/3', '/c/4']) b.write(k);
  assert.deepEqual(seen, { '/': ['/a/1', '/a/b/2', '/ab/3', '/c/4'], '/a/': ['/a/1', '/a/b/2'], '/a/b/': ['/a/b/2'] });

  assert.throws(() => b.cache.append({ type: 'create', key: '/x', value: '', revision: 4, createRevision: 4 }), /not after/);

  b.cache.close();
  b.write('/a/after-close');
  assert.equal(seen['/'].length, 4);
  assert.throws(() => b.cache.watch('/', 0, () => {}), /closed/);
});
