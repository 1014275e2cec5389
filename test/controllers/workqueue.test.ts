// The work queue's client-go semantics and the Controller loop: dedupe, one worker per key at a
// time, exponential per-item backoff with a cap, forget, addAfter, shutdown; reconcile errors are
// caught and retried with backoff, never thrown out of the process.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller, ItemExponentialFailureRateLimiter, TokenBucket, WorkQueue, defaultControllerRateLimiter } from '../../src/controllers/runtime/index.ts';
import { until } from './link.ts';

test('a key added many times while queued is handed out once', async () => {
  const q = new WorkQueue<string>();
  for (let i = 0; i < 5; i++) q.add('a');
  q.add('b');
  assert.equal(q.len(), 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(q.len(), 0);
});

test('a key added while processed is queued again only after done(): never two workers on one key', async () => {
  const q = new WorkQueue<string>();
  q.add('a');
  const item = await q.get();
  q.add('a');
  q.add('a');
  assert.equal(q.len(), 0, 'not handed to another worker while processing');
  let second: string | undefined;
  void q.get().then((x) => (second = x));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(second, undefined);
  q.done(item!);
  await until(() => second === 'a', 1000, 'requeue after done');
  q.done('a');
  assert.equal(q.len(), 0, 'the two adds during processing became one');
});

test('per-item backoff doubles from 5 ms and is capped at 1000 s; forget resets it', () => {
  const rl = new ItemExponentialFailureRateLimiter<string>();
  assert.deepEqual(
    [1, 2, 3, 4].map(() => rl.when('x')),
    [5, 10, 20, 40],
  );
  assert.equal(rl.when('y'), 5, 'per item');
  for (let i = 0; i < 40; i++) rl.when('x');
  assert.equal(rl.when('x'), 1000_000);
  assert.equal(rl.numRequeues('x'), 45);
  rl.forget('x');
  assert.equal(rl.when('x'), 5);
});

test('the overall token bucket: a burst of 100 at once, then 10 per second', () => {
  let now = 0;
  const b = new TokenBucket(10, 100, () => now);
  for (let i = 0; i < 100; i++) assert.equal(b.reserve(), 0);
  assert.equal(b.reserve(), 100);
  assert.equal(b.reserve(), 200);
  now = 1000;
  // 10 new tokens, 2 of which repay the credit taken: 8 free, then the wait resumes.
  for (let i = 0; i < 8; i++) assert.equal(b.reserve(), 0);
  assert.equal(b.reserve(), 100);
  const rl = defaultControllerRateLimiter<string>();
  assert.equal(rl.when('k'), 5);
});

test('addAfter delays; the earlier of two delayed adds wins; shutDown releases waiting workers', async () => {
  const q = new WorkQueue<string>();
  const t0 = Date.now();
  q.addAfter('a', 200);
  q.addAfter('a', 50);
  assert.equal(await q.get(), 'a');
  const waited = Date.now() - t0;
  assert.ok(waited >= 45 && waited < 190, `waited ${waited} ms`);
  q.done('a');
  const pending = q.get();
  q.shutDown();
  assert.equal(await pending, undefined);
  q.add('b');
  assert.equal(await q.get(), undefined, 'nothing is taken after shutdown');
});

test('Controller: reconcile errors are logged and retried with backoff until success; keys never run concurrently', async () => {
  const attempts = new Map<string, number>();
  const running = new Set<string>();
  let overlap = false;
  const logs: string[] = [];
  const c = new Controller(
    'test',
    async (key) => {
      if (running.has(key)) overlap = true;
      running.add(key);
      await new Promise((r) => setTimeout(r, 5));
      running.delete(key);
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (key === 'poison' && n < 4) throw new Error('boom');
      if (key === 'sync') return n < 2 ? { requeueAfterMs: 30 } : undefined;
    },
    { workers: 4, log: (m) => logs.push(m) },
  );
  c.run();
  for (let i = 0; i < 20; i++) for (const k of ['a', 'b', 'poison', 'sync']) c.enqueue(k);
  await until(() => attempts.get('poison') === 4 && attempts.get('sync') === 2, 5000, 'retries');
  assert.equal(overlap, false);
  assert.equal(c.stats.errors, 3);
  assert.equal(logs.length, 3);
  assert.match(logs[0], /test: reconcile poison failed \(retry 1\): boom/);
  assert.equal(c.queue.numRequeues('poison'), 0, 'success forgets the backoff');
  assert.ok((attempts.get('a') ?? 0) <= 2, 'adds while queued are deduplicated');
  await c.stop();
});
