import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import {
  CompactedError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionConflictError,
  SqliteStorage,
  type KeyValue,
  type SqliteStorageOptions,
  type StorageEvent,
} from '../../src/apiserver/storage/index.ts';

function tempDb(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-storage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'state.db');
}

function open(t: { after: (fn: () => Promise<void>) => void }, path = ':memory:', opts?: SqliteStorageOptions): SqliteStorage {
  const s = SqliteStorage.open(path, opts);
  t.after(() => s.close());
  return s;
}

/** Collects events; until() resolves once at least n have arrived. */
function collector() {
  const events: StorageEvent[] = [];
  let wake = () => {};
  return {
    events,
    onEvent: (ev: StorageEvent) => {
      events.push(ev);
      wake();
    },
    async until(n: number): Promise<StorageEvent[]> {
      const deadline = Date.now() + 5000;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`timed out with ${events.length}/${n} events`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 20);
        });
      }
      return events;
    },
  };
}

const revs = (evs: StorageEvent[]) => evs.map((e) => e.revision);

test('create, get, update and delete follow compare-and-swap semantics', async (t) => {
  const s = open(t);
  assert.equal(await s.currentRevision(), 0);
  const r1 = await s.create('/registry/pods/ns/a', 'v1');
  assert.equal(r1, 1);
  assert.deepEqual(await s.get('/registry/pods/ns/a'), { key: '/registry/pods/ns/a', value: 'v1', createRevision: 1, modRevision: 1 });
  assert.equal(await s.get('/registry/pods/ns/missing'), undefined);

  await assert.rejects(s.create('/registry/pods/ns/a', 'again'), KeyExistsError);
  await assert.rejects(s.update('/registry/pods/ns/a', 'v2', 7), (e: unknown) => {
    assert.ok(e instanceof RevisionConflictError);
    assert.equal(e.actual, 1);
    assert.equal(e.expected, 7);
    return true;
  });
  await assert.rejects(s.update('/registry/pods/ns/nope', 'v', 1), KeyNotFoundError);
  assert.equal(await s.currentRevision(), 1, 'failed writes consume no revision');

  const r2 = await s.update('/registry/pods/ns/a', 'v2', r1);
  assert.equal(r2, 2);
  assert.deepEqual(await s.get('/registry/pods/ns/a'), { key: '/registry/pods/ns/a', value: 'v2', createRevision: 1, modRevision: 2 });
  await assert.rejects(s.update('/registry/pods/ns/a', 'stale', r1), RevisionConflictError);

  await assert.rejects(s.delete('/registry/pods/ns/a', r1), RevisionConflictError);
  const del = await s.delete('/registry/pods/ns/a', r2);
  assert.deepEqual(del, { revision: 3, prev: { key: '/registry/pods/ns/a', value: 'v2', createRevision: 1, modRevision: 2 } });
  assert.equal(await s.get('/registry/pods/ns/a'), undefined);
  await assert.rejects(s.delete('/registry/pods/ns/a'), KeyNotFoundError);
  await assert.rejects(s.update('/registry/pods/ns/a', 'v', 3), KeyNotFoundError);

  // A new incarnation gets a new createRevision (and passes the (name, prev_revision) guard).
  assert.equal(await s.create('/registry/pods/ns/a', 'again'), 4);
  assert.equal((await s.get('/registry/pods/ns/a'))?.createRevision, 4);
  assert.equal((await s.delete('/registry/pods/ns/a')).revision, 5, 'unconditional delete');
  assert.equal(await s.currentRevision(), 5);
});

test('rejects keys and values that SQLite cannot store faithfully, and stored objects are immutable', async (t) => {
  const s = open(t);
  await assert.rejects(s.create('', 'v'), TypeError);
  await assert.rejects(s.create('/k/\ud800', 'v'), TypeError);
  await assert.rejects(s.create('/k/a', 'lone \udc00 surrogate'), TypeError);
  assert.equal(await s.currentRevision(), 0);

  await s.create('/k/a', '{"x":1}');
  const kv = (await s.get('/k/a'))!;
  assert.throws(() => {
    (kv as { value: string }).value = 'mutated';
  }, TypeError);
  assert.equal((await s.get('/k/a'))!.value, '{"x":1}');
});

test('list returns keys under the prefix in code-point order with startKey, limit, more and remaining', async (t) => {
  const s = open(t);
  // U+FFFF sorts before an astral character in code-point (UTF-8) order but after it in UTF-16.
  const inside = ['/p/a', '/p/a/x', '/p/b', '/p/\uffff', '/p/\u{1F600}', '/p/a\u0000z'];
  for (const k of [...inside, '/pz', '/p', '/q/a', '/o/a']) await s.create(k, `v${k}`);
  const expected = ['/p/a', '/p/a\u0000z', '/p/a/x', '/p/b', '/p/\uffff', '/p/\u{1F600}'];
  assert.deepEqual(
    [...inside].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    expected,
  );

  const all = await s.list('/p/');
  assert.deepEqual(
    all.items.map((i) => i.key),
    expected,
  );
  assert.equal(all.revision, await s.currentRevision());
  assert.equal(all.more, false);
  assert.equal(await s.count('/p/'), 6);
  assert.equal(await s.count(''), 10);

  const first = await s.list('/p/', { limit: 2 });
  assert.deepEqual(
    first.items.map((i) => i.key),
    expected.slice(0, 2),
  );
  assert.equal(first.more, true);
  assert.equal(first.remaining, 4);
  const rest = await s.list('/p/', { startKey: first.items[1].key + '\0', limit: 10 });
  assert.deepEqual(
    rest.items.map((i) => i.key),
    expected.slice(2),
  );
  assert.equal(rest.more, false);
  assert.equal(rest.remaining, 0);

  // The same reads at an older revision come from SQL and must agree item for item.
  const at = all.revision;
  await s.create('/zzz', 'moves the current revision on');
  assert.deepEqual(await s.list('/p/', { revision: at }), all);
  assert.deepEqual(await s.list('/p/', { revision: at, limit: 2 }), first);
  assert.deepEqual(await s.list('/p/', { revision: at, startKey: first.items[1].key + '\0', limit: 10 }), rest);

  await assert.rejects(s.list('/p/', { revision: at + 100 }), RangeError);
  assert.deepEqual((await s.list('/nothing/')).items, []);
});

test('a paginated list at a snapshot revision stays consistent while writes continue', async (t) => {
  const s = open(t);
  const snapshot = new Map<string, KeyValue>();
  for (let i = 0; i < 200; i++) {
    const key = `/registry/cm/ns/k${String(i).padStart(4, '0')}`;
    const rev = await s.create(key, `v0-${i}`);
    snapshot.set(key, { key, value: `v0-${i}`, createRevision: rev, modRevision: rev });
  }
  // Some history before the snapshot, so that older rows must be skipped.
  for (let i = 0; i < 200; i += 3) {
    const key = `/registry/cm/ns/k${String(i).padStart(4, '0')}`;
    const rev = await s.update(key, `v1-${i}`, snapshot.get(key)!.modRevision);
    snapshot.set(key, { ...snapshot.get(key)!, value: `v1-${i}`, modRevision: rev });
  }
  await s.delete('/registry/cm/ns/k0107');
  snapshot.delete('/registry/cm/ns/k0107');
  await s.delete('/registry/cm/ns/k0151'); // deleted and re-created: live again
  const recreated = await s.create('/registry/cm/ns/k0151', 'reborn');
  snapshot.set('/registry/cm/ns/k0151', { key: '/registry/cm/ns/k0151', value: 'reborn', createRevision: recreated, modRevision: recreated });

  const seen: KeyValue[] = [];
  let page = await s.list('/registry/cm/ns/', { limit: 30 });
  const snapRev = page.revision;
  let writes = 0;
  for (;;) {
    seen.push(...page.items);
    assert.equal(page.revision, snapRev);
    assert.equal(page.remaining, snapshot.size - seen.length);
    if (!page.more) break;
    // Between pages: change keys already listed, keys not yet listed, and add and remove keys.
    const last = page.items[page.items.length - 1].key;
    const next = [...snapshot.keys()].find((k) => k > last)!;
    await s.update(next, 'changed after snapshot', (await s.get(next))!.modRevision);
    await s.delete(page.items[0].key);
    await s.create(`${last}-new`, 'created after snapshot');
    await s.create(`/registry/cm/ns/a-before-${writes++}`, 'created after snapshot, before the cursor');
    page = await s.list('/registry/cm/ns/', { revision: snapRev, startKey: last + '\0', limit: 30 });
  }
  assert.ok(writes > 3, 'writes happened during pagination');
  assert.deepEqual(seen, [...snapshot.values()]);
});

test('watch from a revision resumes exactly, from the ring and from history beyond it', async (t) => {
  const s = open(t, ':memory:', { watchCache: { maxEvents: 16 } });
  const all = collector();
  s.watch('/w/', 0, all.onEvent); // live from the start: the reference sequence
  const keyRev = new Map<string, number>();
  const write = async (i: number) => {
    const key = `/w/${i % 7}`;
    const rev = keyRev.get(key);
    if (rev === undefined) keyRev.set(key, await s.create(key, `c${i}`));
    else if (i % 5 === 0) {
      await s.delete(key, rev);
      keyRev.delete(key);
    } else keyRev.set(key, await s.update(key, `u${i}`, rev));
    await s.create(`/other/${i}`, 'not under the prefix');
  };
  for (let i = 0; i < 60; i++) await write(i);
  const cur = await s.currentRevision();
  assert.ok(s['cache'].oldestReplayableRevision > 40, 'most of the history has left the ring');

  // From the start, from the middle (history, then ring), from inside the ring, from the head.
  let i = 60;
  for (const from of [0, 37, cur - 6, cur]) {
    const c = collector();
    const w = s.watch('/w/', from, c.onEvent);
    // Writes racing the replay: issued before it has delivered anything, and while it runs.
    await write(i++);
    await write(i++);
    await new Promise((r) => setImmediate(r));
    await write(i++);
    const expected = all.events.filter((e) => e.revision > from);
    await c.until(expected.length);
    await new Promise((r) => setTimeout(r, 10));
    w.stop();
    assert.deepEqual(revs(c.events), revs(expected), `from ${from}`);
    assert.deepEqual(c.events, expected, `history events equal live events (from ${from})`);
  }

  // Resume where a stopped watcher left off: nothing missed, nothing repeated.
  const a = collector();
  const wa = s.watch('/w/', 10, a.onEvent);
  await a.until(5);
  wa.stop();
  const last = a.events.at(-1)!.revision;
  const b = collector();
  s.watch('/w/', last, b.onEvent); // below the ring: history, then the ring, then live
  for (let j = 0; j < 40; j++) await write(i++);
  const expected = all.events.filter((e) => e.revision > 10);
  await b.until(expected.length - 5);
  assert.deepEqual(revs([...a.events.slice(0, 5), ...b.events]), revs(expected));
});

test('events are delivered synchronously after commit, in order even when a callback writes', async (t) => {
  const s = open(t);
  const order: string[] = [];
  s.watch('/x/', 0, (ev) => {
    order.push(`a:${ev.revision}`);
    if (ev.key === '/x/1') void s.create('/x/2', 'written from a callback');
  });
  s.watch('/x/', 0, (ev) => order.push(`b:${ev.revision}`));
  const rev = await s.create('/x/1', 'v');
  // Both watchers saw 1 before 2, although /x/2 was committed while 1 was being delivered.
  assert.deepEqual(order, ['a:1', 'b:1', 'a:2', 'b:2']);
  assert.equal(rev, 1);
});

test('a throwing watcher is dropped without affecting the writer or other watchers', async (t) => {
  const errors: unknown[] = [];
  const s = open(t, ':memory:', { watchCache: { onError: (e) => errors.push(e) } });
  let badCalls = 0;
  s.watch('/e/', 0, () => {
    badCalls++;
    throw new Error('consumer bug');
  });
  const good = collector();
  s.watch('/e/', 0, good.onEvent);
  for (let i = 0; i < 5; i++) await s.create(`/e/${i}`, 'v');
  assert.equal(badCalls, 1);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /consumer bug/);
  assert.deepEqual(revs(good.events), [1, 2, 3, 4, 5]);
});

test('compaction drops history, keeps current state, and too-old reads get CompactedError', async (t) => {
  const path = tempDb(t);
  let s = SqliteStorage.open(path, { watchCache: { maxEvents: 4 } });
  for (let i = 0; i < 10; i++) await s.create(`/c/${i}`, 'v0'); // revisions 1..10
  for (let i = 0; i < 10; i++) await s.update(`/c/${i}`, 'v1', i + 1); // 11..20
  for (let i = 0; i < 5; i++) await s.delete(`/c/${i}`); // 21..25
  await s.update('/c/9', 'v2', 20); // 26
  assert.equal((await s.list('/c/', { revision: 15 })).items.length, 10);

  await s.compact(22);
  assert.equal(s.compactedRevision(), 22);
  await assert.rejects(s.list('/c/', { revision: 15 }), CompactedError);
  await assert.rejects(s.list('/c/', { revision: 22 }), (e: unknown) => e instanceof CompactedError && e.requested === 22 && e.compacted === 22);
  const at23 = await s.list('/c/', { revision: 23 });
  assert.deepEqual(
    at23.items.map((i) => [i.key, i.value, i.modRevision]),
    [3, 4, 5, 6, 7, 8, 9].map((i) => [`/c/${i}`, 'v1', 11 + i]),
  );
  assert.throws(() => s.watch('/c/', 21, () => {}), CompactedError);

  // Watching from the compacted revision itself needs only newer events, which are kept.
  const expected = [
    ['delete', '/c/2', 23, 'v1', 'v1'],
    ['delete', '/c/3', 24, 'v1', 'v1'],
    ['delete', '/c/4', 25, 'v1', 'v1'],
    ['update', '/c/9', 26, 'v2', 'v1'],
  ];
  const fromRing = collector();
  s.watch('/c/', 22, fromRing.onEvent);
  await fromRing.until(4);
  assert.deepEqual(
    fromRing.events.map((e) => [e.type, e.key, e.revision, e.value, e.prevValue]),
    expected,
  );
  await s.close();

  // The log now holds each key's latest row as of 22 (superseded rows and tombstones are gone)
  // plus everything above 22.
  const db = new Database(path, { readonly: true });
  assert.deepEqual(db.prepare('SELECT id FROM kine ORDER BY id').pluck().all(), [13, 14, 15, 16, 17, 18, 19, 20, 23, 24, 25, 26]);
  db.close();

  s = SqliteStorage.open(path);
  t.after(() => s.close());
  assert.equal(s.compactedRevision(), 22, 'the compact revision survives a restart');
  await assert.rejects(s.list('/c/', { revision: 20 }), CompactedError);
  assert.throws(() => s.watch('/c/', 10, () => {}), CompactedError);
  assert.deepEqual(
    (await s.list('/c/')).items.map((i) => [i.key, i.value]),
    [
      ['/c/5', 'v1'],
      ['/c/6', 'v1'],
      ['/c/7', 'v1'],
      ['/c/8', 'v1'],
      ['/c/9', 'v2'],
    ],
  );
  // After the restart the ring is empty: the same events come from the compacted log.
  const fromLog = collector();
  s.watch('/c/', 22, fromLog.onEvent);
  await fromLog.until(4);
  assert.deepEqual(
    fromLog.events.map((e) => [e.type, e.key, e.revision, e.value, e.prevValue]),
    expected,
  );
});

test('a watcher replaying from the log holds compaction back until it has caught up', async (t) => {
  const path = tempDb(t);
  let s = SqliteStorage.open(path);
  for (let i = 0; i < 5; i++) await s.create(`/h/${i}`, 'v');
  for (let i = 0; i < 30; i++) {
    const kv = (await s.get(`/h/${i % 5}`))!;
    await s.update(kv.key, `u${i}`, kv.modRevision);
  }
  const head = await s.currentRevision(); // 35
  await s.close();
  s = SqliteStorage.open(path); // empty ring: a watch from 0 must read the log
  t.after(() => s.close());
  const c = collector();
  s.watch('/h/', 0, c.onEvent);
  await s.compact(head); // issued before the replay has started
  assert.equal(s.compactedRevision(), 0, 'compaction waited for the replaying watcher');
  await c.until(head);
  assert.deepEqual(
    revs(c.events),
    Array.from({ length: head }, (_, i) => i + 1),
  );
  await s.compact(head);
  assert.equal(s.compactedRevision(), head);
});

test('revisions keep increasing across restarts, even after compaction removed the newest row', async (t) => {
  const path = tempDb(t);
  let s = SqliteStorage.open(path);
  await s.create('/r/a', 'v');
  await s.create('/r/b', 'v');
  const { revision } = await s.delete('/r/b'); // the newest row is a tombstone...
  await s.compact(revision); // ...which compaction deletes
  assert.deepEqual(
    (await s.list('/r/')).items.map((i) => i.key),
    ['/r/a'],
    'the current revision stays readable',
  );
  await s.close();

  const db = new Database(path, { readonly: true });
  assert.equal(db.prepare('SELECT MAX(id) FROM kine').pluck().get(), 1);
  db.close();

  s = SqliteStorage.open(path);
  t.after(() => s.close());
  assert.equal(await s.currentRevision(), revision);
  assert.equal((await s.list('/r/', { revision })).items.length, 1);
  const c = collector();
  s.watch('/r/', revision, c.onEvent);
  assert.equal(await s.create('/r/b', 'again'), revision + 1);
  assert.deepEqual(revs(await c.until(1)), [revision + 1]);
});

test('state and history persist across close and reopen', async (t) => {
  const path = tempDb(t);
  let s = SqliteStorage.open(path);
  const live = collector();
  s.watch('/', 0, live.onEvent);
  for (let i = 0; i < 20; i++) await s.create(`/p/${i}`, JSON.stringify({ i }));
  for (let i = 0; i < 20; i += 2) await s.update(`/p/${i}`, JSON.stringify({ i, updated: true }), i + 1);
  for (let i = 0; i < 20; i += 5) await s.delete(`/p/${i}`);
  const listed = await s.list('/p/');
  const atTen = await s.list('/p/', { revision: 10 });
  const rev = await s.currentRevision();
  await s.close();
  await assert.rejects(s.get('/p/1'), /closed/);

  s = SqliteStorage.open(path);
  t.after(() => s.close());
  assert.equal(await s.currentRevision(), rev);
  assert.deepEqual(await s.list('/p/'), listed);
  assert.deepEqual(await s.list('/p/', { revision: 10 }), atTen);
  assert.equal(await s.count('/p/'), 16);
  const replay = collector();
  s.watch('/', 0, replay.onEvent);
  await replay.until(live.events.length);
  assert.deepEqual(replay.events, live.events);
});

test('the database cannot be opened twice', async (t) => {
  const path = tempDb(t);
  open(t, path);
  assert.throws(() => SqliteStorage.open(path, { lockTimeoutMs: 50 }), /in use by another process/);
});

test('every acknowledged write survives SIGKILL of the writing process', async (t) => {
  const path = tempDb(t);
  const script = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let killTimer: NodeJS.Timeout | undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    killTimer ??= setTimeout(() => child.kill('SIGKILL'), 1000); // ~1 s of writing
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, sig) => resolve([c, sig])));
  assert.equal(signal, 'SIGKILL', `writer exited on its own (code ${code})`);

  // A line is an acknowledgement only once complete; the kill may have cut the last one.
  const acked = out
    .split('\n')
    .slice(0, -1)
    .map((line) => {
      const [rev, key] = line.split(' ');
      return { rev: Number(rev), key };
    });
  assert.ok(acked.length > 500, `only ${acked.length} writes acknowledged`);
  assert.deepEqual(
    acked.map((a) => a.rev),
    Array.from({ length: acked.length }, (_, i) => i + 1),
  );

  const s = open(t, path);
  for (const { rev, key } of acked) {
    const kv = await s.get(key);
    assert.equal(kv?.modRevision, rev, `acknowledged ${key}@${rev} lost`);
  }
  const current = await s.currentRevision();
  assert.ok(current >= acked.length);
  assert.equal(await s.count('/crash/'), current, 'every committed create is present, acknowledged or not');
  assert.equal(await s.create('/after-crash', 'v'), current + 1);
});
