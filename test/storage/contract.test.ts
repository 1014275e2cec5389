// The storage contract (src/apiserver/storage/types.ts), one suite run against every backend:
// SQLite, a single etcd member and a 3-member etcd cluster (real Debian etcd, started here).
// Revisions are compared relative to each other: etcd's need not start at 1 or be dense.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompactedError,
  EtcdStorage,
  KeyExistsError,
  KeyNotFoundError,
  RevisionConflictError,
  SqliteStorage,
  type KeyValue,
  type Storage,
  type StorageEvent,
} from '../../src/apiserver/storage/index.ts';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.ts';

interface Backend {
  name: string;
  /** members of the etcd cluster (0 = SQLite) */
  members: number;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  open(opts?: { maxEvents?: number }): Promise<Storage>;
  cluster?: EtcdCluster;
}

let prefixes = 0;
function etcdBackend(members: number): Backend {
  const b: Backend = {
    name: `etcd (${members} member${members > 1 ? 's' : ''})`,
    members,
    async setup() {
      b.cluster = await startEtcd(members);
    },
    async teardown() {
      await b.cluster?.stop();
    },
    // Each storage gets a prefix of its own: tests share the cluster, not keys.
    open: (opts = {}) => EtcdStorage.open({ endpoints: b.cluster!.endpoints, prefix: `/contract${prefixes++}`, watchCache: { maxEvents: opts.maxEvents } }),
  };
  return b;
}

const backends: Backend[] = [
  { name: 'sqlite', members: 0, open: async (opts = {}) => SqliteStorage.open(':memory:', { watchCache: { maxEvents: opts.maxEvents } }) },
  etcdBackend(1),
  etcdBackend(3),
];

/** Collects events; until() resolves once at least n have arrived. */
function collector() {
  const events: StorageEvent[] = [];
  const errors: Error[] = [];
  let wake = () => {};
  return {
    events,
    errors,
    onEvent: (ev: StorageEvent) => {
      events.push(ev);
      wake();
    },
    onError: (err: Error) => {
      errors.push(err);
      wake();
    },
    async until(n: number, ms = 10_000): Promise<StorageEvent[]> {
      const deadline = Date.now() + ms;
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
const pad = (i: number) => String(i).padStart(4, '0');

for (const backend of backends) {
  describe(`storage contract: ${backend.name}`, { concurrency: 1 }, () => {
    const opened: Storage[] = [];
    const open = async (opts?: { maxEvents?: number }) => {
      const s = await backend.open(opts);
      opened.push(s);
      return s;
    };
    before(async () => backend.setup?.());
    after(async () => {
      for (const s of opened) await s.close();
      await backend.teardown?.();
    });

    test('create, get, update and delete are compare-and-swap on the revision', async () => {
      const s = await open();
      const r0 = await s.currentRevision();
      const r1 = await s.create('/registry/pods/ns/a', 'v1');
      assert.ok(r1 > r0);
      assert.deepEqual(await s.get('/registry/pods/ns/a'), { key: '/registry/pods/ns/a', value: 'v1', createRevision: r1, modRevision: r1 });
      assert.equal(await s.get('/registry/pods/ns/missing'), undefined);

      await assert.rejects(s.create('/registry/pods/ns/a', 'again'), KeyExistsError);
      await assert.rejects(s.update('/registry/pods/ns/a', 'v2', r1 + 1000), (e: unknown) => {
        assert.ok(e instanceof RevisionConflictError);
        assert.equal(e.actual, r1);
        assert.equal(e.expected, r1 + 1000);
        return true;
      });
      await assert.rejects(s.update('/registry/pods/ns/nope', 'v', r1), KeyNotFoundError);
      await assert.rejects(s.update('/registry/pods/ns/nope', 'v', 0), KeyNotFoundError, 'update never creates');
      assert.equal(await s.currentRevision(), r1, 'failed writes consume no revision');

      const r2 = await s.update('/registry/pods/ns/a', 'v2', r1);
      assert.ok(r2 > r1);
      assert.deepEqual(await s.get('/registry/pods/ns/a'), { key: '/registry/pods/ns/a', value: 'v2', createRevision: r1, modRevision: r2 });
      await assert.rejects(s.update('/registry/pods/ns/a', 'stale', r1), RevisionConflictError);

      await assert.rejects(s.delete('/registry/pods/ns/a', r1), RevisionConflictError);
      const del = await s.delete('/registry/pods/ns/a', r2);
      assert.ok(del.revision > r2);
      assert.deepEqual(del.prev, { key: '/registry/pods/ns/a', value: 'v2', createRevision: r1, modRevision: r2 });
      assert.equal(await s.get('/registry/pods/ns/a'), undefined);
      await assert.rejects(s.delete('/registry/pods/ns/a'), KeyNotFoundError);
      await assert.rejects(s.update('/registry/pods/ns/a', 'v', del.revision), KeyNotFoundError);

      // A new incarnation gets a new createRevision.
      const r4 = await s.create('/registry/pods/ns/a', 'again');
      assert.ok(r4 > del.revision);
      assert.equal((await s.get('/registry/pods/ns/a'))?.createRevision, r4);
      const r5 = (await s.delete('/registry/pods/ns/a')).revision;
      assert.ok(r5 > r4, 'unconditional delete');
      assert.equal(await s.currentRevision(), r5);
    });

    test('rejects keys and values UTF-8 cannot carry, and changes nothing', async () => {
      const s = await open();
      const r0 = await s.currentRevision();
      await assert.rejects(s.create('', 'v'), TypeError);
      await assert.rejects(s.create('/k/\ud800', 'v'), TypeError);
      await assert.rejects(s.create('/k/a', 'lone \udc00 surrogate'), TypeError);
      assert.equal(await s.currentRevision(), r0);
      assert.equal(await s.count(''), 0);
    });

    test('list: code-point order, startKey, limit, more, remaining, and the same at an older revision', async () => {
      const s = await open();
      const inside = ['/p/a', '/p/a/x', '/p/b', '/p/\uffff', '/p/\u{1F600}', '/p/a\u0000z', '/p/\u00e9t\u00e9'];
      for (const k of [...inside, '/pz', '/p', '/q/a', '/o/a']) await s.create(k, `v${k}`);
      const expected = [...inside].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

      const all = await s.list('/p/');
      assert.deepEqual(
        all.items.map((i) => i.key),
        expected,
      );
      assert.deepEqual(
        all.items.map((i) => i.value),
        expected.map((k) => `v${k}`),
      );
      assert.equal(all.revision, await s.currentRevision());
      assert.equal(all.more, false);
      assert.equal(await s.count('/p/'), expected.length);
      assert.equal(await s.count(''), expected.length + 4);
      assert.equal((await s.list('')).items.length, expected.length + 4);

      const first = await s.list('/p/', { limit: 2 });
      assert.deepEqual(
        first.items.map((i) => i.key),
        expected.slice(0, 2),
      );
      assert.equal(first.more, true);
      assert.equal(first.remaining, expected.length - 2);
      const rest = await s.list('/p/', { startKey: first.items[1].key + '\0', limit: 10 });
      assert.deepEqual(
        rest.items.map((i) => i.key),
        expected.slice(2),
      );
      assert.equal(rest.more, false);
      assert.equal(rest.remaining, 0);

      const at = all.revision;
      await s.create('/zzz', 'moves the revision on');
      await s.update('/p/b', 'changed', (await s.get('/p/b'))!.modRevision);
      assert.deepEqual(await s.list('/p/', { revision: at }), all);
      assert.deepEqual(await s.list('/p/', { revision: at, limit: 2 }), first);
      assert.deepEqual(await s.list('/p/', { revision: at, startKey: first.items[1].key + '\0', limit: 10 }), { ...rest, revision: at });
      await assert.rejects(s.list('/p/', { revision: (await s.currentRevision()) + 100 }), RangeError);
      assert.deepEqual((await s.list('/nothing/')).items, []);
    });

    test('a paginated list at its snapshot revision stays consistent while writes continue', async () => {
      const s = await open();
      const snapshot = new Map<string, KeyValue>();
      for (let i = 0; i < 120; i++) {
        const key = `/registry/cm/ns/k${pad(i)}`;
        const rev = await s.create(key, `v0-${i}`);
        snapshot.set(key, { key, value: `v0-${i}`, createRevision: rev, modRevision: rev });
      }
      for (let i = 0; i < 120; i += 3) {
        const key = `/registry/cm/ns/k${pad(i)}`;
        const rev = await s.update(key, `v1-${i}`, snapshot.get(key)!.modRevision);
        snapshot.set(key, { ...snapshot.get(key)!, value: `v1-${i}`, modRevision: rev });
      }
      await s.delete('/registry/cm/ns/k0107');
      snapshot.delete('/registry/cm/ns/k0107');

      const seen: KeyValue[] = [];
      let page = await s.list('/registry/cm/ns/', { limit: 25 });
      const snapRev = page.revision;
      let writes = 0;
      for (;;) {
        seen.push(...page.items);
        assert.equal(page.revision, snapRev);
        assert.equal(page.remaining, snapshot.size - seen.length);
        if (!page.more) break;
        const last = page.items[page.items.length - 1].key;
        const next = [...snapshot.keys()].find((k) => k > last)!;
        await s.update(next, 'changed after snapshot', (await s.get(next))!.modRevision);
        await s.delete(page.items[0].key);
        await s.create(`${last}-new`, 'created after snapshot');
        await s.create(`/registry/cm/ns/a-before-${writes++}`, 'created after snapshot, before the cursor');
        page = await s.list('/registry/cm/ns/', { revision: snapRev, startKey: last + '\0', limit: 25 });
      }
      assert.ok(writes >= 4, 'writes happened during pagination');
      assert.deepEqual(seen, [...snapshot.values()]);
    });

    test("a write resolves after this storage's watchers have its event (read-your-writes)", async () => {
      const s = await open();
      const seen: number[] = [];
      s.watch('/x/', await s.currentRevision(), (ev) => seen.push(ev.revision));
      for (let i = 0; i < 20; i++) {
        const rev = await s.create(`/x/${i}`, 'v');
        assert.equal(seen.at(-1), rev, `event of write ${i} delivered before the write resolved`);
      }
      const rev = await s.update('/x/3', 'u', seen[3]);
      assert.equal(seen.at(-1), rev);
      const del = await s.delete('/x/4');
      assert.equal(seen.at(-1), del.revision);
    });

    test('watch resumes exactly from any revision: the ring, older history, and the head', async () => {
      const s = await open({ maxEvents: 16 });
      const start = await s.currentRevision();
      const all = collector();
      const wall = s.watch('/w/', start, all.onEvent); // live from the start: the reference sequence
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
      const ref = all.events.slice();
      assert.equal(ref.length, 60);
      assert.deepEqual(ref.map((e) => e.type).slice(0, 9), ['create', 'create', 'create', 'create', 'create', 'create', 'create', 'update', 'update']);
      assert.ok(ref.some((e) => e.type === 'delete'));

      let i = 60;
      for (const from of [start, ref[20].revision, ref[55].revision, cur]) {
        const c = collector();
        const w = s.watch('/w/', from, c.onEvent, c.onError);
        await write(i++);
        await write(i++);
        await new Promise((r) => setImmediate(r));
        await write(i++);
        const expected = all.events.filter((e) => e.revision > from);
        await c.until(expected.length);
        await new Promise((r) => setTimeout(r, 50));
        w.stop();
        assert.deepEqual(c.errors, []);
        assert.deepEqual(revs(c.events), revs(expected), `from ${from}`);
        assert.deepEqual(c.events, expected, `replayed events equal live events (from ${from})`);
      }

      // Resume where a stopped watcher left off: nothing missed, nothing repeated.
      const a = collector();
      const wa = s.watch('/w/', ref[9].revision, a.onEvent);
      await a.until(5);
      wa.stop();
      const b = collector();
      const wb = s.watch('/w/', a.events[4].revision, b.onEvent);
      for (let j = 0; j < 20; j++) await write(i++);
      const expected = all.events.filter((e) => e.revision > ref[9].revision);
      await b.until(expected.length - 5);
      wb.stop();
      wall.stop();
      assert.deepEqual(revs([...a.events.slice(0, 5), ...b.events]), revs(expected));
    });

    test('events carry type, value and previous value; a callback that writes keeps the order', async () => {
      const s = await open();
      const from = await s.currentRevision();
      const c = collector();
      const order: string[] = [];
      s.watch('/e/', from, (ev) => {
        order.push(`a:${ev.key}`);
        if (ev.key === '/e/1' && ev.type === 'create') void s.create('/e/2', 'written from a callback');
      });
      s.watch('/e/', from, (ev) => order.push(`b:${ev.key}`));
      s.watch('/e/', from, c.onEvent);
      const r1 = await s.create('/e/1', 'one');
      const r2 = await s.update('/e/1', 'uno', r1);
      await s.delete('/e/1', r2);
      await c.until(4);
      // The callback's write races the update (etcd commits them in either order); every
      // watcher sees the order the store committed, which is revision order.
      assert.deepEqual(
        revs(c.events),
        revs(c.events).sort((x, y) => x - y),
      );
      const byKey = (key: string) => c.events.filter((e) => e.key === key).map((e) => [e.type, e.value, e.prevValue]);
      assert.deepEqual(byKey('/e/1'), [
        ['create', 'one', undefined],
        ['update', 'uno', 'one'],
        ['delete', 'uno', 'uno'],
      ]);
      assert.deepEqual(byKey('/e/2'), [['create', 'written from a callback', undefined]]);
      const seq = c.events.map((e) => e.key);
      assert.deepEqual(
        order,
        seq.flatMap((k) => [`a:${k}`, `b:${k}`]),
        'both callbacks saw each event before the next one',
      );
    });

    test('compaction: old lists and watches get CompactedError, current state stays', async () => {
      const s = await open({ maxEvents: 4 });
      const revsOf: number[] = [];
      for (let i = 0; i < 10; i++) revsOf.push(await s.create(`/c/${i}`, 'v0'));
      for (let i = 0; i < 10; i++) revsOf.push(await s.update(`/c/${i}`, 'v1', revsOf[i]));
      const middle = revsOf[14];
      assert.equal((await s.list('/c/', { revision: middle })).items.length, 10);
      for (let i = 0; i < 5; i++) await s.delete(`/c/${i}`);
      const mark = await s.currentRevision();
      const u = await s.update('/c/9', 'v2', revsOf[19]);

      await s.compact(mark);
      assert.ok(s.compactedRevision() >= mark);
      await assert.rejects(s.list('/c/', { revision: middle }), (e: unknown) => e instanceof CompactedError && e.requested === middle);
      const listed = await s.list('/c/');
      assert.deepEqual(
        listed.items.map((i) => [i.key, i.value]),
        [5, 6, 7, 8, 9].map((i) => [`/c/${i}`, i === 9 ? 'v2' : 'v1']),
      );

      // A watch from before the compaction fails, synchronously or through onError.
      const c = collector();
      let thrown: unknown;
      try {
        s.watch('/c/', middle, c.onEvent, c.onError);
      } catch (e) {
        thrown = e;
      }
      if (!thrown) {
        const deadline = Date.now() + 5000;
        while (!c.errors.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        thrown = c.errors[0];
      }
      assert.ok(thrown instanceof CompactedError, `expected CompactedError, got ${thrown}`);
      assert.deepEqual(c.events, []);

      // Watching from the compacted revision itself needs only newer events, which are kept.
      const fresh = collector();
      s.watch('/c/', mark, fresh.onEvent, fresh.onError);
      await fresh.until(1);
      assert.deepEqual(
        fresh.events.map((e) => [e.type, e.key, e.revision, e.value, e.prevValue]),
        [['update', '/c/9', u, 'v2', 'v1']],
      );
    });

    test('currentRevision: a watch from it misses nothing written afterwards', async () => {
      const s = await open();
      for (let round = 0; round < 5; round++) {
        const from = await s.currentRevision();
        const c = collector();
        const w = s.watch('/cr/', from, c.onEvent);
        const rev = await s.create(`/cr/${round}`, 'v');
        await c.until(1);
        w.stop();
        assert.deepEqual(revs(c.events), [rev]);
      }
    });

    if (backend.members > 0) {
      test('two storages on one etcd: writes through one are watched through the other, in order', async () => {
        const a = await backend.open();
        opened.push(a);
        const prefix = (a as unknown as { prefix: string }).prefix;
        const b = await EtcdStorage.open({ endpoints: backend.cluster!.endpoints.slice().reverse(), prefix });
        opened.push(b);
        const c = collector();
        b.watch('/r/', await b.currentRevision(), c.onEvent);
        const written: number[] = [];
        for (let i = 0; i < 50; i++) written.push(await a.create(`/r/${i}`, `v${i}`));
        await c.until(50);
        assert.deepEqual(revs(c.events), written);
        assert.equal((await b.get('/r/7'))?.value, 'v7');
        await assert.rejects(b.create('/r/7', 'x'), KeyExistsError, "B sees A's keys");
        assert.ok((await b.currentRevision()) >= written.at(-1)!);
      });

      test('writes outside the prefix do not stall currentRevision or watches', async () => {
        const a = await backend.open();
        opened.push(a);
        const other = await backend.open(); // another prefix on the same etcd moves the revision
        opened.push(other);
        const last = await other.create('/elsewhere', 'v');
        const cur = await a.currentRevision();
        assert.ok(cur >= last, `${cur} >= ${last}`);
        const c = collector();
        a.watch('/', cur, c.onEvent);
        const rev = await a.create('/mine', 'v');
        await c.until(1);
        assert.deepEqual(revs(c.events), [rev]);
      });
    }

    if (backend.members === 3) {
      test('killing the etcd leader under write load: writes resume after the election, nothing acknowledged is lost', async () => {
        const cluster = backend.cluster!;
        const s = await backend.open();
        opened.push(s);
        const watcher = await EtcdStorage.open({ endpoints: cluster.endpoints, prefix: (s as unknown as { prefix: string }).prefix });
        opened.push(watcher);
        const seen = collector();
        watcher.watch('/load/', await watcher.currentRevision(), seen.onEvent, seen.onError);

        const acked = new Map<string, number>();
        const failures: string[] = [];
        let stop = false;
        let n = 0;
        const worker = async () => {
          while (!stop) {
            const key = `/load/${n++}`;
            try {
              acked.set(key, await s.create(key, 'v'));
            } catch (e) {
              failures.push(e instanceof Error ? e.constructor.name : String(e));
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        };
        const workers = Array.from({ length: 8 }, worker);
        await new Promise((r) => setTimeout(r, 1000));
        const before = acked.size;
        assert.ok(before > 20, `only ${before} writes before the kill`);
        const leader = await cluster.leader();
        await cluster.kill(leader);
        const killedAt = acked.size;
        // Writes continue once a new leader is elected.
        const deadline = Date.now() + 15_000;
        while (acked.size < killedAt + 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        stop = true;
        await Promise.all(workers);
        assert.ok(acked.size >= killedAt + 200, `writes did not resume: ${acked.size - killedAt} after the kill (failures: ${failures.slice(0, 5)})`);
        const newLeader = await cluster.leader();
        assert.notEqual(newLeader.name, leader.name);

        // Every acknowledged write is there, at its revision, and was watched in order exactly once.
        const stored = new Map((await s.list('/load/')).items.map((kv) => [kv.key, kv.modRevision]));
        for (const [key, rev] of acked) assert.equal(stored.get(key), rev, `acknowledged ${key}@${rev} lost`);
        await seen.until(stored.size);
        assert.deepEqual(seen.errors, []);
        const watched = revs(seen.events);
        assert.deepEqual(
          watched,
          [...watched].sort((x, y) => x - y),
          'watched in revision order',
        );
        assert.equal(new Set(watched).size, watched.length, 'no event twice');
        assert.deepEqual(new Set(watched), new Set(stored.values()), 'every stored write watched');
        await cluster.restart(leader);
      });
    }
  });
}
