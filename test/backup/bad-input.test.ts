// Bad input to `kubeve restore` / `kubeve backup` is refused with a clear message and changes
// nothing: damaged, truncated, altered or foreign archives, an archive of another format version,
// file records that would escape the data dir, a non-empty target (exit 2 unless --force), a
// server still running on the target, a non-empty etcd prefix.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { startApiServer, type ApiServer } from '../../src/server/apiserver.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { api } from '../helpers/server.ts';
import { kubeve } from './helpers.ts';
import { restoreBackup } from '../../src/backup/restore.ts';
import { ArchiveError } from '../../src/backup/archive.ts';

let dir: string;
let archive: string;
let lines: string[];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubeve-backup-bad-'));
  const server = await startApiServer({ dataDir: join(dir, 'source'), port: 0 });
  const r = await api(server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'kept' }, data: { a: '1' } });
  assert.equal(r.status, 201);
  archive = join(dir, 'good.kbk');
  await server.close();
  // A stopped server's store is read from its file (a running one's through the server: see backup-restore.test.ts).
  const b = await kubeve(['backup', '--data-dir', join(dir, 'source'), '-o', archive]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /read from the database file/);
  lines = gunzipSync(readFileSync(archive)).toString('utf8').trimEnd().split('\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** An archive of these lines; with reseal, a correct end record (checksum) for them. */
function archiveOf(name: string, body: string[], reseal = false): string {
  let out = body;
  if (reseal) {
    const recs = body.filter((l) => !l.includes('"kind":"end"'));
    const sha256 = createHash('sha256')
      .update(recs.map((l) => l + '\n').join(''))
      .digest('hex');
    out = [...recs, JSON.stringify({ kind: 'end', records: recs.length - 1, sha256 })];
  }
  const file = join(dir, name);
  writeFileSync(file, gzipSync(out.join('\n') + '\n'));
  return file;
}

/** Restore of `file` into a fresh target fails with `message` (through the CLI: also its exit code) and writes nothing. */
async function refused(file: string, message: RegExp, via: 'cli' | 'function' = 'function'): Promise<void> {
  const target = join(dir, `target-${Math.random().toString(36).slice(2)}`);
  if (via === 'cli') {
    const r = await kubeve(['restore', '-i', file, '--data-dir', target]);
    assert.equal(r.code, 1, `exit code for ${file}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'a message, not a stack trace');
  } else {
    // the function behind the command; the CLI prints the message and exits 1 for an ArchiveError
    await assert.rejects(restoreBackup({ input: file, dataDir: target }), (e: Error) => e instanceof ArchiveError && message.test(e.message));
  }
  assert.equal(existsSync(target), false, 'nothing written');
}

test('damaged, truncated, altered, foreign and future-version archives are refused before anything is written', async () => {
  const raw = readFileSync(archive);
  const text = join(dir, 'text.kbk');
  writeFileSync(text, 'hello, I am not an archive\n');
  const truncated = join(dir, 'truncated.kbk');
  writeFileSync(truncated, raw.subarray(0, Math.floor(raw.length / 2)));
  const flipped = Buffer.from(raw);
  flipped[Math.floor(raw.length / 2)] ^= 0xff;
  const corrupt = join(dir, 'corrupt.kbk');
  writeFileSync(corrupt, flipped);
  const header = JSON.parse(lines[0]);
  const altered = lines.map((l) => (l.includes('"key":"/registry/core/configmaps/default/kept"') ? l.replace('\\"a\\":\\"1\\"', '\\"a\\":\\"2\\"') : l));
  assert.notDeepEqual(altered, lines);
  const escaping = lines.map((l) => (l.includes('"name":"ca.key"') ? l.replace('"name":"ca.key"', '"name":"../../../evil"') : l));
  await Promise.all([
    refused(text, /is not a kubeve backup archive/, 'cli'),
    refused(join(dir, 'missing.kbk'), /no such file/),
    refused(truncated, /is not a kubeve backup archive or is damaged|truncated/),
    refused(corrupt, /is not a kubeve backup archive or is damaged|is damaged/),
    refused(archiveOf('altered.kbk', altered), /is damaged: checksum mismatch/),
    refused(archiveOf('no-end.kbk', lines.slice(0, -1)), /is truncated: it has no end record/),
    refused(
      archiveOf('v2.kbk', [JSON.stringify({ ...header, version: 2 }), ...lines.slice(1)], true),
      /archive of version 2; this kubeve reads version 1/,
      'cli',
    ),
    refused(
      archiveOf('foreign.kbk', [JSON.stringify({ kind: 'header', format: 'something-else', version: 1 }), ...lines.slice(1)], true),
      /is not a kubeve backup archive/,
    ),
    refused(archiveOf('escape.kbk', escaping, true), /line \d+ is not a valid file record/),
    refused(
      archiveOf('future.kbk', [JSON.stringify({ ...header, source: { ...header.source, revision: 2 } }), ...lines.slice(1)], true),
      /has a revision above the archive's \(2\)/,
    ),
    refused(archiveOf('twice.kbk', [lines[0], lines[1], lines[1], ...lines.slice(2)], true), /appears twice/),
  ]);
});

test('a non-empty data dir is refused with exit code 2 and left as it was; --force replaces its state', async () => {
  const target = join(dir, 'occupied');
  mkdirSync(target);
  writeFileSync(join(target, 'tokens.csv'), 'mine\n');
  const r = await kubeve(['restore', '-i', archive, '--data-dir', target]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /data dir .*occupied is not empty \(tokens\.csv\): restore into an empty directory, or give --force/);
  assert.deepEqual(readdirSync(target), ['tokens.csv']);
  assert.equal(readFileSync(join(target, 'tokens.csv'), 'utf8'), 'mine\n');

  const forced = await kubeve(['restore', '-i', archive, '--data-dir', target, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(readFileSync(join(target, 'tokens.csv'), 'utf8'), readFileSync(join(dir, 'source', 'tokens.csv'), 'utf8'));
  const server: ApiServer = await startApiServer({ dataDir: target, port: 0 });
  try {
    const cm = await api(server, 'GET', '/api/v1/namespaces/default/configmaps/kept');
    assert.equal(cm.status, 200);
    assert.deepEqual(cm.body.data, { a: '1' });

    // A server running on the target is refused, even with --force.
    const running = await kubeve(['restore', '-i', archive, '--data-dir', target, '--force']);
    assert.equal(running.code, 2);
    assert.match(running.stderr, /a kubeve server is running on .*: stop it before restoring/);
  } finally {
    await server.close();
  }
});

test('a non-empty etcd prefix is refused with exit code 2 and left as it was', async () => {
  const etcd = await startEtcd(1);
  const client = new Etcd3({ hosts: etcd.endpoints });
  try {
    await client.put('/occupied/registry/core/configmaps/default/x').value('{}');
    const target = join(dir, 'etcd-target');
    const r = await kubeve(['restore', '-i', archive, '--data-dir', target, '--etcd', etcd.endpoints[0], '--etcd-prefix', '/occupied']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /etcd holds 1 keys under \/occupied: restore into an empty prefix, or give --force/);
    assert.equal(await client.getAll().prefix('/occupied').count(), 1);
    assert.equal(existsSync(target), false);
  } finally {
    client.close();
    await etcd.stop();
  }
});

test('backup of a data dir without a store, and restore without an archive, are usage errors', async () => {
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const [noStore, noInput, noDir] = await Promise.all([
    kubeve(['backup', '--data-dir', empty, '-o', join(dir, 'x.kbk')]),
    kubeve(['restore', '--data-dir', empty]),
    kubeve(['backup', '--data-dir', join(dir, 'nope'), '-o', join(dir, 'y.kbk')]),
  ]);
  assert.equal(noStore.code, 2, noStore.stderr);
  assert.match(noStore.stderr, /holds no object store \(kubeve\.db\); for a server on etcd, give --etcd/);
  assert.equal(existsSync(join(dir, 'x.kbk')), false);
  assert.equal(noInput.code, 2);
  assert.match(noInput.stderr, /required option '-i, --input <file>' not specified/);
  assert.equal(noDir.code, 2);
  assert.match(noDir.stderr, /data dir .* does not exist/);
});
