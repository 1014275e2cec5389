// Round trip through etcd over TLS with client certificates: an archive of a SQLite server is
// restored into etcd (--etcd-cafile/--etcd-certfile/--etcd-keyfile), backed up again from etcd,
// and the second archive holds the same objects (new revisions in the same order) and state files;
// etcd's own snapshot is saved beside it on request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startApiServer } from '../../src/server/apiserver.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { api } from '../helpers/server.ts';
import { kubeve } from './helpers.ts';
import { snapshotIntact } from '../../src/backup/etcd-target.ts';

const records = (file: string) =>
  gunzipSync(readFileSync(file))
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));

test('restore into etcd over TLS with a client certificate, then back up from it: same objects in the same order, same state files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeve-backup-tls-'));
  const etcd = await startEtcd(1, { tls: true });
  try {
    const server = await startApiServer({ dataDir: join(dir, 'source'), port: 0 });
    for (let i = 0; i < 5; i++)
      assert.equal((await api(server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: `cm-${i}` } })).status, 201);
    const first = join(dir, 'first.kbk');
    const b1 = await kubeve(['backup', '--data-dir', join(dir, 'source'), '-o', first]);
    await server.close();
    assert.equal(b1.code, 0, b1.stderr);

    const tls = [
      '--etcd',
      etcd.endpoints[0],
      '--etcd-prefix',
      '/tls',
      '--etcd-cafile',
      etcd.tls!.ca,
      '--etcd-certfile',
      etcd.tls!.clientCert,
      '--etcd-keyfile',
      etcd.tls!.clientKey,
    ];
    const noCert = await kubeve(['restore', '-i', first, '--data-dir', join(dir, 'nocert'), '--etcd', etcd.endpoints[0], '--etcd-prefix', '/tls']);
    assert.equal(noCert.code, 2, 'https:// without --etcd-cafile is a usage error');
    assert.match(noCert.stderr, /--etcd-cafile is required with https:\/\/ etcd URLs/);
    const r = await kubeve(['restore', '-i', first, '--data-dir', join(dir, 'restored'), ...tls]);
    assert.equal(r.code, 0, r.stderr);
    const second = join(dir, 'second.kbk');
    const native = join(dir, 'etcd.snapshot');
    const b2 = await kubeve(['backup', '--data-dir', join(dir, 'restored'), '-o', second, '--etcd-snapshot', native, ...tls]);
    assert.equal(b2.code, 0, b2.stderr);
    // etcd's own snapshot: a bbolt file (magic at offset 16) with its SHA-256 appended, holding the keys.
    assert.match(b2.stdout, /etcd's snapshot of the whole cluster: .*etcd\.snapshot \(\d+ bytes\)/);
    const snap = readFileSync(native);
    assert.ok(snapshotIntact(snap), 'the SHA-256 trailer matches');
    assert.equal(snap.readUInt32LE(16), 0xed0cdaed, 'bbolt magic');
    assert.ok(snap.includes('/tls/registry/core/configmaps/default/cm-4'));

    const [a, b] = [records(first), records(second)];
    assert.equal(b[0].source.engine, 'etcd');
    const objects = (rs: any[]) => rs.filter((x) => x.kind === 'object');
    assert.deepEqual(
      objects(b).map((o) => [o.key, o.value]),
      objects(a).map((o) => [o.key, o.value]),
      'same keys and values, in the same revision order',
    );
    assert.ok(objects(b)[0].modRevision > a[0].source.revision, 'new revisions above the source revision');
    const files = (rs: any[]) => rs.filter((x) => x.kind === 'file').map((f) => [f.owner, f.name, f.mode, f.data]);
    assert.deepEqual(files(b), files(a), 'same credential and PKI files, same modes');
  } finally {
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
