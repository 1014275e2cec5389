// Request authentication, in kube-apiserver's order: x509 client certificates signed by the server CA
// (user = CN, groups = O), then bearer tokens from the static token file, then ServiceAccount JWTs.
// A credential that is presented but not valid is refused (401) even where anonymous access would do;
// a request with no credential is anonymous and only reaches what system:unauthenticated may see.

import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { StatusError } from '../errors.ts';
import type { ServiceAccountTokens } from './tokens.ts';
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

const BOUND_KINDS: Record<string, { group: string; resource: string; namespaced: boolean }> = {
  pod: { group: '', resource: 'pods', namespaced: true },
  secret: { group: '', resource: 'secrets', namespaced: true },
  node: { group: '', resource: 'nodes', namespaced: false },
};

export class Authenticator {
  private tokens: Map<string, UserInfo>;

  constructor(tokenFile: string, private sa: ServiceAccountTokens, private lookup: ObjectLookup, readonly apiAudiences: string[]) {
    this.tokens = loadTokenFile(tokenFile);
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

  /** Bearer token authentication, also behind TokenReview. */
  async authenticateToken(token: string, audiences: string[]): Promise<TokenReviewResult> {
    const stat = this.tokens.get(token);
    if (stat) return { authenticated: true, user: withAuthenticated(stat), audiences };
    const v = this.sa.verify(token);
    if (!v) return { authenticated: false, error: '[invalid bearer token, token lookup failed]' };
    if (v.error) return { authenticated: false, error: `[${v.error}]` };
    const c = v.claims!;
    const matched = audiences.filter((a) => c.aud.includes(a));
    if (!matched.length) return { authenticated: false, error: `[invalid bearer token, token audiences ${JSON.stringify(c.aud)} is invalid for the target audiences ${JSON.stringify(audiences)}]` };
    const k = c['kubernetes.io'];
    // The token dies with its service account (and bound object): same name but a new uid is not enough.
    const acct = await this.lookup('', 'serviceaccounts', k.namespace, k.serviceaccount.name);
    if (!acct || acct.metadata?.deletionTimestamp) return { authenticated: false, error: `[invalid bearer token, serviceaccounts ${JSON.stringify(k.serviceaccount.name)} not found]` };
    if (acct.metadata.uid !== k.serviceaccount.uid) return { authenticated: false, error: `[invalid bearer token, service account UID (${acct.metadata.uid}) does not match claim (${k.serviceaccount.uid})]` };
    const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${c.jti}`] };
    for (const [kind, where] of Object.entries(BOUND_KINDS)) {
      const ref = (k as Obj)[kind];
      if (!ref) continue;
      const obj = await this.lookup(where.group, where.resource, where.namespaced ? k.namespace : undefined, ref.name);
      if (!obj || obj.metadata?.deletionTimestamp || obj.metadata.uid !== ref.uid) {
        return { authenticated: false, error: `[invalid bearer token, ${where.resource} ${JSON.stringify(ref.name)} not found or replaced]` };
      }
      extra[`authentication.kubernetes.io/${kind}-name`] = [ref.name];
      extra[`authentication.kubernetes.io/${kind}-uid`] = [ref.uid];
    }
    const user: UserInfo = { username: c.sub, uid: acct.metadata.uid, groups: [...serviceAccountGroups(k.namespace), AUTHENTICATED], extra };
    return { authenticated: true, user, audiences: matched };
  }
}

function withAuthenticated(u: UserInfo): UserInfo {
  return { ...u, groups: u.groups.includes(AUTHENTICATED) ? [...u.groups] : [...u.groups, AUTHENTICATED] };
}

export const ANONYMOUS_USER: UserInfo = { username: ANONYMOUS, groups: [UNAUTHENTICATED] };
