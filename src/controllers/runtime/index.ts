// The controller runtime (DESIGN §10): see README.md in this folder.
export * from './client.ts';
export { InProcessClient } from './in-process.ts';
export { HttpClient, decodeStatusError, resourcePath } from './http-client.ts';
export { inClusterConfig, loadKubeconfig, defaultKubeconfigPath, type HttpClientConfig } from './config.ts';
export { TokenBucket } from './rate-limit.ts';
export { CacheStore, byField, byNamespace, NAMESPACE_INDEX, type IndexFunc } from './store.ts';
export { Informer, SharedInformerFactory, Backoff, type EventHandler, type InformerOptions } from './informer.ts';
export {
  WorkQueue,
  Controller,
  defaultControllerRateLimiter,
  ItemExponentialFailureRateLimiter,
  BucketRateLimiter,
  MaxOfRateLimiter,
  type RateLimiter,
  type ReconcileResult,
} from './workqueue.ts';
export { LeaderElector, LEASES, type LeaderElectionOptions } from './leader-election.ts';
