// Where an HttpClient finds its server and credentials: a kubeconfig file (a context in it, or the
// current one) or, inside a pod, the service account that Kubernetes mounts (in-cluster config).

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';

export interface HttpClientConfig {
  /** https://host:port of the API server. */
  server: string;
  /** PEM bundle the server certificate must chain to (system roots when unset). */
  ca?: string;
  /** Client certificate and key (PEM) for TLS client authentication. */
  cert?: string;
  key?: string;
  bearerToken?: string;
  /** A file holding the bearer token; read again when it may have rotated (every minute, and after a 401). */
  tokenFile?: string;
  insecureSkipTLSVerify?: boolean;
  /** Name to check the server certificate against, when it differs from the URL's host. */
  tlsServerName?: string;
  /** The namespace of the context (or of the pod's service account). */
  namespace?: string;
  /** Client-side rate limit: client-go's rest.Config defaults are 5 requests/s with bursts of 10. */
  qps?: number;
  burst?: number;
  userAgent?: string;
  /** Timeout of every request but watches (ms; 0 = none). */
  timeoutMs?: number;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The config of a pod's service account, from KUBERNETES_SERVICE_HOST/PORT and the mounted token, CA and namespace. */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, dir = SA_DIR): HttpClientConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set');
  const tokenFile = join(dir, 'token');
  readFileSync(tokenFile); // fail now, with the path, when there is no service account token
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    /* optional */
  }
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    tokenFile,
    namespace,
  };
}

/** The kubeconfig path kubectl would use: $KUBECONFIG's first entry, else ~/.kube/config. */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const first = (env.KUBECONFIG ?? '').split(':').find((p) => p);
  return first ?? join(homedir(), '.kube', 'config');
}

interface Named<T> {
  name: string;
  [k: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

/** Reads a kubeconfig file: the given context, or its current-context. */
export function loadKubeconfig(path: string = defaultKubeconfigPath(), context?: string): HttpClientConfig {
  const file = resolve(path);
  const doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
  const pick = <T>(list: unknown, name: string | undefined, what: string): T => {
    const found = ((list as Named<T>[] | undefined) ?? []).find((e) => e.name === name);
    if (!found) throw new Error(`kubeconfig ${file}: ${what} ${JSON.stringify(name ?? '')} not found`);
    return (found.cluster ?? found.user ?? found.context ?? {}) as T;
  };
  const ctxName = context ?? (doc['current-context'] as string | undefined);
  if (!ctxName) throw new Error(`kubeconfig ${file}: no context given and no current-context`);
  const ctx = pick<Record<string, string>>(doc.contexts, ctxName, 'context');
  const cluster = pick<Record<string, unknown>>(doc.clusters, ctx.cluster, 'cluster');
  const user = ctx.user ? pick<Record<string, unknown>>(doc.users, ctx.user, 'user') : {};
  // File references are relative to the kubeconfig's own directory, as in kubectl.
  const rel = (p: unknown) => (isAbsolute(String(p)) ? String(p) : join(dirname(file), String(p)));
  const material = (data: unknown, ref: unknown): string | undefined =>
    typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : typeof ref === 'string' ? readFileSync(rel(ref), 'utf8') : undefined;
  if (typeof cluster.server !== 'string') throw new Error(`kubeconfig ${file}: cluster ${ctx.cluster} has no server`);
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ca: material(cluster['certificate-authority-data'], cluster['certificate-authority']),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    tlsServerName: typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined,
    cert: material(user['client-certificate-data'], user['client-certificate']),
    key: material(user['client-key-data'], user['client-key']),
    bearerToken: typeof user.token === 'string' ? user.token : undefined,
    tokenFile: typeof user.tokenFile === 'string' ? rel(user.tokenFile) : undefined,
    namespace: ctx.namespace,
  };
}
