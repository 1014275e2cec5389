// Request authentication, in kube-apiserver's order: x509 client certificates signed by the server CA
// (user = CN, groups = O), then bearer tokens from the static token file, then ServiceAccount JWTs.
// A credential that is presented but not valid is refused (401) even where anonymous access would do;
// a request with no credential is anonymous and only reaches what system:unauthenticated may see.

import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { StatusError } from '../errors.ts';
import type { Storage } from '../storage/types.ts';
import { keyPrefix, objectKey } from '../store.ts';
import type { ServiceAccountTokens } from './tokens.ts';
import { TokenCache, type TokenCacheOptions, type Verified } from './token-cache.ts';
import { ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, serviceAccountGroups, type TokenReviewResult, type UserInfo } from './types.ts';

type Obj = Record<string, any>;
/** Reads an object from storage (undefined when absent). */
export type ObjectLookup = (group: string, resource: string, namespace: string | undefined, name: string) => Promise<Obj | undefined>;

export const unauthorized = () => new StatusError(401, 'Unauthorized', 'Unauthorized');

/** Parses a static token file (kube-apiserver --token-auth-file): token,user,uid,"group1,group2". */
export function loadTokenFile(path: string): Map<string, UserInfo> {
  const tokens = new Map<string, UserInfo>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([^,]+),([^,]+),([^,]*)(?:,"?([^"]*)"?)?\s*$/.exec(line.trim());
    if (!m) continue;
    tokens.set(m[1], { username: m[2], uid: m[3] || undefined, groups: m[4] ? m[4].split(',').filter(Boolean) : [] });
  }
  return tokens;
}

const SERVICE_ACCOUNTS = { group: '', resource: 'serviceaccounts', namespaced: true };
const BOUND_KINDS: Record<string, { group: string; resource: string; namespaced: boolean }> = {
  pod: { group: '', resource: 'pods', namespaced: true },
  secret: { group: '', resource: 'secrets', namespaced: true },
  node: { group: '', resource: 'nodes', namespaced: false },
};

export class Authenticator {
  private tokens: Map<string, UserInfo>;

  private cache: TokenCache;

  constructor(
    tokenFile: string,
    private sa: ServiceAccountTokens,
    private lookup: ObjectLookup,
    readonly apiAudiences: string[],
    cache: TokenCacheOptions = {},
  ) {
    this.tokens = loadTokenFile(tokenFile);
    this.cache = new TokenCache(
      cache,
      [SERVICE_ACCOUNTS, ...Object.values(BOUND_KINDS)].map((k) => keyPrefix(k)),
    );
  }

  /** The user of a request, `undefined` for an anonymous one; a bad credential throws 401. */
  async authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    const sock = req.socket as TLSSocket;
    const cert = typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : undefined;
    const presented = !!cert && Object.keys(cert).length > 0;
    if (presented && sock.authorized) {
      const cn = cert!.subject?.CN;
      if (cn) {
        const o = cert!.subject.O;
        const groups = Array.isArray(o) ? o : o ? [o] : [];
        return withAuthenticated({ username: Array.isArray(cn) ? cn[0] : cn, groups });
      }
    }
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m) throw unauthorized();
      const r = await this.authenticateToken(m[1], this.apiAudiences);
      if (!r.authenticated) throw unauthorized();
      return r.user!;
    }
    // A client certificate the server CA did not sign (or an expired one) is a bad credential.
    if (presented) throw unauthorized();
    return undefined;
  }

  /** Follows the objects ServiceAccount tokens depend on (for the token cache). */
  start(storage: Storage): Promise<void> {
    return this.cache.start(storage);
  }

  stop(): void {
    this.cache.stop();
  }

  /** Bearer token authentication, also behind TokenReview. */
  async authenticateToken(token: string, audiences: string[]): Promise<TokenReviewResult> {
    const stat = this.tokens.get(token);
    if (stat) return { authenticated: true, user: withAuthenticated(stat), audiences };
    return this.cache.authenticate(token, audiences, () => this.verifyServiceAccountToken(token, audiences));
  }

  /** Signature, claims, and the account and bound object still being the ones the token names. */
  private async verifyServiceAccountToken(token: string, audiences: string[]): Promise<Verified> {
    // Refusals after a lookup name what they read too: the cache drops them when that changes.
    const dependsOn: string[] = [];
    const refused = (error: string): Verified => ({ result: { authenticated: false, error }, dependsOn });
    const v = this.sa.verify(token);
    if (!v) return refused('[invalid bearer token, token lookup failed]');
    if (v.error) return refused(`[${v.error}]`);
    const c = v.claims!;
    const matched = audiences.filter((a) => c.aud.includes(a));
    if (!matched.length)
      return refused(`[invalid bearer token, token audiences ${JSON.stringify(c.aud)} is invalid for the target audiences ${JSON.stringify(audiences)}]`);
    const k = c['kubernetes.io'];
    // The token dies with its service account (and bound object): same name but a new uid is not enough.
    dependsOn.push(objectKey(SERVICE_ACCOUNTS, k.namespace, k.serviceaccount.name));
    const acct = await this.lookup('', 'serviceaccounts', k.namespace, k.serviceaccount.name);
    if (!acct || acct.metadata?.deletionTimestamp) return refused(`[invalid bearer token, serviceaccounts ${JSON.stringify(k.serviceaccount.name)} not found]`);
    if (acct.metadata.uid !== k.serviceaccount.uid)
      return refused(`[invalid bearer token, service account UID (${acct.metadata.uid}) does not match claim (${k.serviceaccount.uid})]`);
    const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${c.jti}`] };
    for (const [kind, where] of Object.entries(BOUND_KINDS)) {
      const ref = (k as Obj)[kind];
      if (!ref) continue;
      const ns = where.namespaced ? k.namespace : undefined;
      dependsOn.push(objectKey(where, ns, ref.name));
      const obj = await this.lookup(where.group, where.resource, ns, ref.name);
      if (!obj || obj.metadata?.deletionTimestamp || obj.metadata.uid !== ref.uid) {
        return refused(`[invalid bearer token, ${where.resource} ${JSON.stringify(ref.name)} not found or replaced]`);
      }
      extra[`authentication.kubernetes.io/${kind}-name`] = [ref.name];
      extra[`authentication.kubernetes.io/${kind}-uid`] = [ref.uid];
    }
    const user: UserInfo = { username: c.sub, uid: acct.metadata.uid, groups: [...serviceAccountGroups(k.namespace), AUTHENTICATED], extra };
    return { result: { authenticated: true, user, audiences: matched }, expiresAt: c.exp * 1000, dependsOn };
  }
}

function withAuthenticated(u: UserInfo): UserInfo {
  return { ...u, groups: u.groups.includes(AUTHENTICATED) ? [...u.groups] : [...u.groups, AUTHENTICATED] };
}

export const ANONYMOUS_USER: UserInfo = { username: ANONYMOUS, groups: [UNAUTHENTICATED] };
