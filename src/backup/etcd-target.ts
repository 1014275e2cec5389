// Writing a backup's objects into etcd (restore, migrate). etcd assigns revisions itself, so the
// objects cannot keep their resourceVersions; what is kept is their order, and every new
// revision is above every old one:
//
// 1. The cluster's revision is first raised above the source's (writes to the prefix's
//    marker key, which EtcdStorage uses as its progress marker anyway).
// 2. History up to there is compacted: a client resuming a watch or a paginated list with a
//    resourceVersion from before gets 410 Expired and relists, as after an etcd restore with
//    `etcdutl snapshot restore --bump-revision --mark-compacted`.
// 3. The objects are written one per transaction in their old modRevision order, each only if
//    its key does not exist.

import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync, renameSync, rmSync } from 'node:fs';
import { Etcd3, type IOptions, type ISnapshotResponse } from 'etcd3';
import type { EtcdStorageOptions } from '../apiserver/storage/etcd.ts';
import type { KeyValue } from '../apiserver/storage/types.ts';

const BUMP_CONCURRENCY = 64;

export class EtcdTarget {
  private readonly marker: Buffer;

  private constructor(
    private readonly client: Etcd3,
    readonly prefix: string,
  ) {
    this.marker = Buffer.from(prefix);
  }

  static async connect(opts: EtcdStorageOptions): Promise<EtcdTarget> {
    const prefix = opts.prefix ?? '/kubeve';
    const timeoutMs = opts.requestTimeoutMs ?? 10_000;
    const options: IOptions = {
      hosts: opts.endpoints,
      dialTimeout: timeoutMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      grpcOptions: { 'grpc.max_receive_message_length': 2 ** 31 - 1 },
    };
    if (opts.tls) options.credentials = { rootCertificate: opts.tls.ca!, certChain: opts.tls.cert, privateKey: opts.tls.key };
    const client = new Etcd3(options);
    try {
      await client.kv.range({ key: Buffer.from(prefix), count_only: true });
    } catch (e) {
      client.close();
      throw new Error(`etcd at ${opts.endpoints.join(',')}: ${(e as Error).message}`);
    }
    return new EtcdTarget(client, prefix);
  }

  /** How many keys are stored under the prefix (its marker key included). */
  async keyCount(): Promise<number> {
    const res = await this.client.kv.range({ key: this.marker, range_end: prefixEnd(this.marker), count_only: true });
    return Number(res.count);
  }

  /** Deletes every key under the prefix. */
  async clear(): Promise<void> {
    await this.client.kv.deleteRange({ key: this.marker, range_end: prefixEnd(this.marker) });
  }

  /**
   * Writes `items` (in modRevision order) so that each gets a revision above `sourceRevision`.
   * Returns the compacted revision and the revision of the last object written.
   */
  async load(items: readonly KeyValue[], sourceRevision: number): Promise<{ compactedAt: number; revision: number }> {
    let rev = Number((await this.client.kv.range({ key: this.marker, count_only: true })).header.revision);
    // Strictly above: etcd still answers a read at the compacted revision itself, which must not
    // be one a client could hold from the source.
    while (rev <= sourceRevision) {
      const n = Math.min(BUMP_CONCURRENCY, sourceRevision + 1 - rev);
      const puts = await Promise.all(Array.from({ length: n }, () => this.client.kv.put({ key: this.marker, value: Buffer.alloc(0) })));
      rev = Math.max(...puts.map((p) => Number(p.header.revision)));
    }
    await this.client.kv.compact({ revision: rev });
    const compactedAt = rev;
    for (const kv of items) {
      const key = Buffer.concat([this.marker, Buffer.from(kv.key)]);
      const res = await this.client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value: Buffer.from(kv.value) } }],
      });
      if (!res.succeeded) throw new Error(`etcd already holds ${kv.key} under ${this.prefix}`);
      rev = Number(res.header.revision);
    }
    return { compactedAt, revision: rev };
  }

  /**
   * Saves etcd's own snapshot of the whole cluster (every prefix, bbolt file with its SHA-256
   * appended) to `file`, for `etcdutl snapshot restore` into a new cluster. Returns its size.
   */
  async snapshotTo(file: string): Promise<number> {
    const stream = await this.client.maintenance.snapshot();
    const tmp = `${file}.partial`;
    const out = createWriteStream(tmp, { mode: 0o600 });
    let size = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (r: ISnapshotResponse) => {
          size += r.blob.length;
          out.write(r.blob);
        });
        stream.on('error', reject);
        stream.on('end', resolve);
      });
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
      if (!snapshotIntact(readFileSync(tmp))) throw new Error('etcd sent a snapshot whose SHA-256 does not match');
      renameSync(tmp, file);
      return size;
    } catch (e) {
      out.destroy();
      rmSync(tmp, { force: true });
      throw new Error(`etcd snapshot: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.client.close();
  }
}

/** An etcd snapshot ends with the SHA-256 of everything before it (what `etcdutl snapshot restore` checks). */
export function snapshotIntact(bytes: Buffer): boolean {
  if (bytes.length <= 32) return false;
  const body = bytes.subarray(0, bytes.length - 32);
  return createHash('sha256')
    .update(body)
    .digest()
    .equals(bytes.subarray(bytes.length - 32));
}

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
