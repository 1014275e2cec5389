export * from './types.ts';
export { SqliteStorage, type SqliteStorageOptions } from './sqlite.ts';
export { EtcdStorage, type EtcdStorageOptions } from './etcd.ts';
export { WatchCache, type HistoryReader, type WatchCacheOptions } from './watch-cache.ts';
export { compareKeys, prefixEnd } from './sorted-keys.ts';
