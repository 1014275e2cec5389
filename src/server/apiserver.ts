// Assembles the embedded API server: storage, registry of built-in kinds, the REST service, the
// embedded controllers (CRDs; namespaces, garbage collection... in controller-manager.ts) and the HTTPS front.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Storage } from '../apiserver/storage/types.ts';
import { SqliteStorage } from '../apiserver/storage/sqlite.ts';
import { Registry } from '../apiserver/registry.ts';
import { ObjectStore, objectKey, encode } from '../apiserver/store.ts';
import { RestService } from '../apiserver/rest.ts';
import { HttpFront } from '../apiserver/http.ts';
import { ensureServerCredentials, kubeconfig } from '../apiserver/pki.ts';
import { builtinResources, bootstrapObjects } from '../api/builtin/index.ts';
import { ChangeFeed } from '../apiserver/change-feed.ts';
import { CRDController } from '../controllers/kube/crd.ts';
import { InProcessClient, SharedInformerFactory } from '../controllers/runtime/index.ts';
import { randomUUID } from 'node:crypto';
import { KeyExistsError } from '../apiserver/storage/types.ts';
import { Security } from '../apiserver/auth/index.ts';
import { reconcileBootstrapPolicy } from '../apiserver/auth/reconcile.ts';
import type { TokenCacheOptions } from '../apiserver/auth/index.ts';
import { AuditLog } from '../apiserver/audit.ts';
import { ControllerManager } from './controller-manager.ts';
import { syncSharedCredentials } from './shared-credentials.ts';
import { ServiceAccountTokens } from '../apiserver/auth/tokens.ts';
import { keyPrefix } from '../apiserver/store.ts';
import { Metrics } from '../observability/metrics.ts';
import { HealthChecks } from '../observability/health.ts';
import { log } from '../observability/log.ts';
import { serveSnapshots } from '../backup/snapshot-socket.ts';

export interface ApiServerOptions {
  dataDir: string;
  host?: string;
  port?: number;
  /** Name or address clients use; written into the kubeconfig and the serving certificate. */
  advertiseAddress?: string;
  /** Use this storage instead of the SQLite file in the data dir. */
  storage?: Storage;
  bookmarkIntervalMs?: number;
  /** How often history older than compactRetainMs is compacted. */
  compactIntervalMs?: number;
  compactRetainMs?: number;
  /** Events kept in memory for watches (older ones are read from the database until compacted). */
  watchCacheEvents?: number;
  /** TTLs and size of the bearer token authentication cache. */
  tokenCache?: TokenCacheOptions;
  /** How long Events are kept after their last write (kube-apiserver's --event-ttl; default one hour). */
  eventTtlMs?: number;
  /** Record and serve Prometheus metrics on /metrics (default true; false only to measure their cost). */
  metrics?: boolean;
  /**
   * Leave the kube-controller-manager part (namespaces, GC, ClusterRole aggregation, Event expiry)
   * stopped: replicas start it on the Lease holder only (`controllers.start()`).
   */
  electedControllers?: boolean;
  /** Keep the CA, ServiceAccount signing key and static tokens in the store, for replicas (shared-credentials.ts). */
  sharedCredentials?: boolean;
}

export interface ApiServer {
  url: string;
  port: number;
  kubeconfigPath: string;
  adminToken: string;
  caPem: string;
  registry: Registry;
  service: RestService;
  storage: Storage;
  feed: ChangeFeed;
  security: Security;
  audit: AuditLog;
  /** Namespace deletion, GC, ClusterRole aggregation, Event expiry: running unless electedControllers. */
  controllers: ControllerManager;
  /** Undefined when started with metrics: false. */
  metrics?: Metrics;
  /** The checks behind /livez and /readyz; other parts of the process add theirs. */
  health: HealthChecks;
  /** Marks the server unready; requests keep being served until close(). */
  beginShutdown(): void;
  /** Stops; requests in flight get up to drainMs to finish. */
  close(drainMs?: number): Promise<void>;
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  if (opts.eventTtlMs !== undefined && !(Number.isFinite(opts.eventTtlMs) && opts.eventTtlMs > 0))
    throw new TypeError(`eventTtlMs must be a positive number of milliseconds, got ${opts.eventTtlMs}`);
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const host = opts.host ?? '127.0.0.1';
  const advertise = opts.advertiseAddress ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
  const storage = opts.storage ?? SqliteStorage.open(join(dataDir, 'kubeve.db'), { watchCache: { maxEvents: opts.watchCacheEvents } });

  const registry = new Registry();
  registry.add(builtinResources({ eventTtlMs: opts.eventTtlMs }));
  const store = new ObjectStore(storage);
  const service = new RestService(store, registry);
  await bootstrap(registry, storage);
  await reconcileBootstrapPolicy(registry, service);
  if (opts.sharedCredentials) {
    await syncSharedCredentials(new InProcessClient(service, registry), dataDir, async () => {
      await ensureServerCredentials(dataDir, [advertise]);
      ServiceAccountTokens.open(dataDir);
    });
  }
  const creds = await ensureServerCredentials(dataDir, [advertise]);
  const security = new Security(
    dataDir,
    creds.tokenFile,
    async (group, resource, ns, name) => {
      const def = registry.anyVersion(group, resource);
      return def ? store.get(def, ns, name) : undefined;
    },
    opts.tokenCache,
  );
  await security.start(storage);
  const audit = new AuditLog(dataDir);

  const feed = new ChangeFeed(storage, registry);
  const informers = new SharedInformerFactory(new InProcessClient(service, registry));
  const crds = new CRDController(registry, service, informers);
  const controllers = new ControllerManager(registry, service, feed);
  const startRev = await storage.currentRevision();
  await crds.load();
  feed.start(startRev);
  informers.start();
  await crds.run();
  if (!opts.electedControllers) await controllers.start();

  const metrics = opts.metrics === false ? undefined : new Metrics();
  metrics?.gaugeFrom('apiserver_storage_objects', 'Number of stored objects at the time of last check split by kind.', ['resource'], async () => {
    const out: Array<[Record<string, string>, number]> = [];
    const seen = new Set<string>();
    for (const d of registry.all()) {
      const resource = d.group ? `${d.resource}.${d.group}` : d.resource;
      if (seen.has(resource)) continue;
      seen.add(resource);
      out.push([{ resource }, await storage.count(keyPrefix(d))]);
    }
    return out;
  });
  const health = new HealthChecks();
  // A remote store (etcd) has its own health check; its outage is not this process's, so neither check
  // is in /livez then (restarting kubeve would not bring etcd back). The local SQLite file is.
  const remoteHealth = (storage as Storage).checkHealth?.bind(storage);
  health.add(remoteHealth ? ['readyz', 'healthz'] : ['livez', 'readyz', 'healthz'], 'storage', async () => {
    await storage.currentRevision();
    return undefined;
  });
  if (remoteHealth)
    health.add(['readyz', 'healthz'], 'etcd', () =>
      remoteHealth().then(
        () => undefined,
        (e: Error) => e.message || 'failed',
      ),
    );
  health.add(['readyz', 'healthz'], 'informer-sync', () => {
    const pending = informers
      .all()
      .filter((i) => !i.hasSynced())
      .map((i) => i.resource.resource);
    return pending.length ? `not synced: ${pending.join(', ')}` : undefined;
  });
  const http = new HttpFront(registry, service, {
    host,
    port: opts.port ?? 6443,
    certPem: `${creds.serving.certPem.trim()}\n${creds.ca.certPem.trim()}\n`,
    keyPem: creds.serving.keyPem,
    caPem: creds.ca.certPem,
    bookmarkIntervalMs: opts.bookmarkIntervalMs,
    security,
    audit,
    metrics,
    health,
  });
  await http.listen();
  const url = `https://${advertise.includes(':') ? `[${advertise}]` : advertise}:${http.port}`;
  writeFileSync(creds.kubeconfigPath, kubeconfig(url, creds.ca.certPem, { name: 'kubeve-admin', token: creds.adminToken }), { mode: 0o600 });

  // `kubeve backup` asks the running server for a copy of its SQLite file (it holds it locked).
  const snapshots = await serveSnapshots(dataDir, storage instanceof SqliteStorage ? storage : undefined);
  const compaction = startCompaction(storage, opts.compactIntervalMs ?? 5 * 60_000, opts.compactRetainMs ?? 10 * 60_000);

  return {
    url,
    port: http.port,
    kubeconfigPath: creds.kubeconfigPath,
    adminToken: creds.adminToken,
    caPem: creds.ca.certPem,
    registry,
    service,
    storage,
    feed,
    security,
    audit,
    controllers,
    metrics,
    health,
    beginShutdown: () => health.shutdown(),
    async close(drainMs = 0) {
      health.shutdown();
      clearInterval(compaction);
      await snapshots?.close();
      await http.close(drainMs);
      await controllers.stop();
      security.stop();
      audit.close();
      feed.stop();
      informers.stop();
      await crds.stop();
      await feed.idle();
      await storage.close();
    },
  };
}

/** Creates the system namespaces once; they are ordinary objects after that (RBAC policy: reconcileBootstrapPolicy). */
async function bootstrap(registry: Registry, storage: Storage): Promise<void> {
  for (const obj of bootstrapObjects()) {
    const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/', 2) : ['', obj.apiVersion];
    const def = registry.byKind(group, version, obj.kind);
    if (!def) continue;
    const o = structuredClone(obj);
    o.metadata.uid ??= randomUUID();
    o.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    try {
      await storage.create(objectKey(def, o.metadata.namespace, o.metadata.name), encode(o));
    } catch (e) {
      if (!(e instanceof KeyExistsError)) throw e;
    }
  }
}

/**
 * Compacts history periodically, keeping at least `retainMs` of it so that watches and paginated
 * lists in progress can resume (kube-apiserver compacts every 5 minutes).
 */
function startCompaction(storage: Storage, intervalMs: number, retainMs: number): NodeJS.Timeout {
  const marks: Array<{ at: number; rev: number }> = [];
  const t = setInterval(async () => {
    try {
      const now = Date.now();
      marks.push({ at: now, rev: await storage.currentRevision() });
      while (marks.length > 1 && marks[1].at <= now - retainMs) marks.shift();
      if (marks[0].at <= now - retainMs && marks[0].rev > storage.compactedRevision()) await storage.compact(marks[0].rev);
    } catch (e) {
      log.error('compaction failed', e);
    }
  }, intervalMs);
  t.unref();
  return t;
}
