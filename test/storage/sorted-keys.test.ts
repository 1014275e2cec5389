import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareKeys, prefixEnd, SortedKeys } from '../../src/apiserver/storage/sorted-keys.ts';

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

// A deterministic PRNG so that failures reproduce.
function rng(seed: number): () => number {
  return () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

const ALPHABET = ['a', 'b', '/', '\u0000', '\uffff', '\ue000', '\u{1F600}', '\u{10FFFF}', 'é'];
function randomKey(r: () => number): string {
  let s = '';
  for (let n = 1 + Math.floor(r() * 4); n > 0; n--) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

test('compareKeys orders like UTF-8 bytes (SQLite BINARY, etcd)', () => {
  const r = rng(1);
  for (let i = 0; i < 5000; i++) {
    const a = randomKey(r);
    const b = randomKey(r);
    assert.equal(Math.sign(compareKeys(a, b)), Math.sign(byUtf8(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
});

test('prefixEnd bounds exactly the keys that start with the prefix', () => {
  const r = rng(2);
  assert.equal(prefixEnd(''), undefined);
  assert.equal(prefixEnd('\u{10FFFF}'), undefined);
  assert.equal(prefixEnd('/a/'), '/a0');
  assert.equal(prefixEnd('a\ud7ff'), 'a\ue000');
  assert.equal(prefixEnd('a\u{10FFFF}'), 'b');
  for (let i = 0; i < 5000; i++) {
    const prefix = randomKey(r).slice(0, 3);
    const key = randomKey(r);
    const end = prefixEnd(prefix);
    const inRange = compareKeys(key, prefix) >= 0 && (end === undefined || compareKeys(key, end) < 0);
    assert.equal(inRange, key.startsWith(prefix), `${JSON.stringify(key)} in ${JSON.stringify(prefix)}`);
  }
});

test('SortedKeys matches a sorted array through inserts, deletes and range reads', () => {
  const r = rng(3);
  const model = new Set<string>();
  let s = new SortedKeys();
  for (let step = 0; step < 30_000; step++) {
    const key = `/k/${Math.floor(r() * 5000)}`;
    if (model.has(key)) {
      model.delete(key);
      s.delete(key);
    } else {
      model.add(key);
      s.insert(key);
    }
    if (step === 15_000) s = SortedKeys.fromSorted([...model].sort(compareKeys)); // bulk load mid-way
    if (step % 500 === 0) {
      const sorted = [...model].sort(compareKeys);
      assert.equal(s.size, sorted.length);
      const start = `/k/${Math.floor(r() * 5000)}`;
      const end = r() < 0.2 ? undefined : `/k/${Math.floor(r() * 5000)}`;
      const limit = Math.floor(r() * 50);
      const inRange = sorted.filter((k) => compareKeys(k, start) >= 0 && (end === undefined || compareKeys(k, end) < 0));
      const got = s.range(start, end, limit);
      const want = limit ? inRange.slice(0, limit) : inRange;
      assert.deepEqual(got.keys, want);
      assert.equal(got.remaining, inRange.length - want.length);
      assert.equal(s.countRange(start, end), inRange.length);
      assert.deepEqual(s.range('', undefined, 0).keys, sorted);
    }
  }
  // Deleting nearly everything must not leave a trail of tiny chunks behind.
  for (const k of [...model].slice(100)) s.delete(k);
  assert.ok(s['chunks'].length <= 2, `${s['chunks'].length} chunks for 100 keys`);
});
