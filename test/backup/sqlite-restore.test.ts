// SqliteStorage.restore, the engine-native half of `kubeve restore` on SQLite: keys come back with
// their own revisions, the store continues above the backup's revision, and older history counts
// as compacted (clients relist) instead of silently answering from a state that never existed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../../src/apiserver/storage/sqlite.ts';
import { CompactedError, type StorageEvent } from '../../src/apiserver/storage/types.ts';
import { readStore } from '../../src/backup/store-dump.ts';

test('a store restored from a dump has the same keys and revisions, continues above them, and refuses older history', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-sqlite-restore-'));
  try {
    const src = SqliteStorage.open(join(dir, 'src.db'));
    for (let i = 0; i < 1200; i++) await src.create(`/registry/core/configmaps/default/cm-${i}`, `{"i":${i}}`);
    const rev = await src.update('/registry/core/configmaps/default/cm-7', '{"i":"seven"}', 8);
    await src.delete('/registry/core/configmaps/default/cm-9');
    await src.create('/registry/core/configmaps/default/cm-9', '{"again":true}');
    const dump = await readStore(src); // paginated (500 a page) at one revision
    await src.close();
    assert.equal(dump.items.length, 1200);
    assert.ok(
      dump.items.every((kv, i) => i === 0 || dump.items[i - 1].modRevision < kv.modRevision),
      'in modRevision order',
    );

    SqliteStorage.restore(join(dir, 'dst.db'), dump.items, dump.revision);
    const dst = SqliteStorage.open(join(dir, 'dst.db'));
    try {
      assert.equal(await dst.currentRevision(), dump.revision);
      const seven = await dst.get('/registry/core/configmaps/default/cm-7');
      assert.deepEqual({ ...seven }, { key: '/registry/core/configmaps/default/cm-7', value: '{"i":"seven"}', createRevision: 8, modRevision: rev });
      assert.deepEqual(
        (await readStore(dst)).items.map((kv) => ({ ...kv })),
        dump.items.map((kv) => ({ ...kv })),
      );

      // Older history is gone: a list or watch from before the backup's revision is refused.
      await assert.rejects(dst.list('/registry/', { revision: rev }), CompactedError);
      assert.throws(() => dst.watch('/registry/', rev, () => {}), CompactedError);
      // From the backup's revision on, everything works: writes continue above it and are watched.
      const events: StorageEvent[] = [];
      const w = dst.watch('/registry/', dump.revision, (ev) => events.push(ev));
      const next = await dst.update('/registry/core/configmaps/default/cm-7', '{"i":7}', rev);
      assert.equal(next, dump.revision + 1);
      await dst.delete('/registry/core/configmaps/default/cm-0', 1);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        events.map((e) => [e.type, e.revision, e.prevValue]),
        [
          ['update', next, '{"i":"seven"}'],
          ['delete', next + 1, '{"i":0}'],
        ],
      );
      w.stop();
      await dst.compact(next + 1);
      assert.equal(await dst.count('/registry/'), 1199);
    } finally {
      await dst.close();
    }

    // A target that holds rows, or a dump whose revisions do not fit, is refused.
    assert.throws(() => SqliteStorage.restore(join(dir, 'dst.db'), dump.items, dump.revision), /is not empty/);
    assert.throws(() => SqliteStorage.restore(join(dir, 'low.db'), dump.items, 5), /do not fit below revision 5/);
    const twice = [dump.items[0], { ...dump.items[1], createRevision: dump.items[0].modRevision, modRevision: dump.items[0].modRevision }];
    assert.throws(() => SqliteStorage.restore(join(dir, 'dup.db'), twice, dump.revision), /given twice/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
