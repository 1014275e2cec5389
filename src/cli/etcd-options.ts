// `kubeve server --etcd ...`: the flags that put the API server's storage on an etcd cluster.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { EtcdStorage, type EtcdStorageOptions } from '../apiserver/storage/etcd.ts';

export interface EtcdFlags {
  etcd?: string;
  etcdPrefix: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
}

export function addEtcdOptions(cmd: Command): Command {
  return cmd
    .option('--etcd <urls>', 'store everything in etcd instead of SQLite: comma-separated client URLs (env KUBEVE_ETCD)', process.env.KUBEVE_ETCD)
    .option('--etcd-prefix <prefix>', 'etcd key prefix; replicas of one installation share it', '/kubeve')
    .option('--etcd-cafile <file>', 'CA certificate that signed the etcd servers (https:// URLs)')
    .option('--etcd-certfile <file>', 'client certificate for etcd')
    .option('--etcd-keyfile <file>', 'private key of the client certificate');
}

/** Connects to etcd when --etcd was given (undefined: use the SQLite file in the data dir). */
export async function openEtcdFromFlags(o: EtcdFlags): Promise<EtcdStorage | undefined> {
  const opts = etcdOptionsFromFlags(o);
  return opts && EtcdStorage.open(opts);
}

/** The connection --etcd and its companions describe (undefined without --etcd); throws on bad flags. */
export function etcdOptionsFromFlags(o: EtcdFlags): EtcdStorageOptions | undefined {
  if (!o.etcd) return undefined;
  const endpoints = o.etcd
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  for (const u of endpoints) {
    if (!/^https?:\/\/[^/]+\/?$/.test(u)) throw new Error(`--etcd: not an etcd client URL (http[s]://host:port): ${u}`);
  }
  const secure = endpoints.some((u) => u.startsWith('https://'));
  if (secure !== Boolean(o.etcdCafile)) throw new Error('--etcd-cafile is required with https:// etcd URLs, and only with them');
  if (Boolean(o.etcdCertfile) !== Boolean(o.etcdKeyfile)) throw new Error('--etcd-certfile and --etcd-keyfile go together');
  const read = (f?: string) => (f ? readFileSync(f) : undefined);
  return {
    endpoints,
    prefix: o.etcdPrefix,
    tls: secure ? { ca: read(o.etcdCafile), cert: read(o.etcdCertfile), key: read(o.etcdKeyfile) } : undefined,
  };
}
