// The API server's security: authentication, impersonation and RBAC authorization of requests, and
// the services the review kinds, TokenRequest and the RBAC escalation checks use (SecurityServices).

import type { IncomingMessage } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import type { Storage } from '../storage/types.ts';
import { badRequest, notFound } from '../errors.ts';
import { Authenticator, type ObjectLookup } from './authenticator.ts';
import { impersonate } from './impersonation.ts';
import { RbacAuthorizer } from './rbac.ts';
import type { TokenCacheOptions } from './token-cache.ts';
import { DEFAULT_ISSUER, ServiceAccountTokens } from './tokens.ts';
import type { Attributes, Decision, RulesReview, SecurityServices, TokenRequestSpec, TokenReviewResult, UserInfo } from './types.ts';

export { requestAttributes, forbiddenError } from './attributes.ts';
export { unauthorized, ANONYMOUS_USER } from './authenticator.ts';
export type { Attributes, UserInfo, SecurityServices } from './types.ts';
export type { TokenCacheOptions } from './token-cache.ts';

type Obj = Record<string, any>;

/** Kinds a token can be bound to, and where they are stored. */
const BINDABLE: Record<string, { resource: string; namespaced: boolean }> = {
  Pod: { resource: 'pods', namespaced: true },
  Secret: { resource: 'secrets', namespaced: true },
  Node: { resource: 'nodes', namespaced: false },
};

/** Whether an update changes only what garbage collection writes (such updates skip escalation checks). */
function onlyGCFieldsChanged(obj: Obj, old: Obj): boolean {
  const strip = (o: Obj) => {
    const { ownerReferences: _o, finalizers: _f, managedFields: _m, resourceVersion: _r, generation: _g, ...meta } = o.metadata ?? {};
    return { ...o, metadata: meta };
  };
  return isDeepStrictEqual(strip(obj), strip(old));
}

export class Security implements SecurityServices {
  readonly tokens: ServiceAccountTokens;
  readonly rbac = new RbacAuthorizer();
  readonly apiAudiences = [DEFAULT_ISSUER];
  private authn: Authenticator;

  constructor(
    dataDir: string,
    tokenFile: string,
    private lookup: ObjectLookup,
    tokenCache: TokenCacheOptions = {},
  ) {
    this.tokens = ServiceAccountTokens.open(dataDir);
    this.authn = new Authenticator(tokenFile, this.tokens, lookup, this.apiAudiences, tokenCache);
  }

  /** Starts following the RBAC policy and the objects tokens depend on in storage. */
  async start(storage: Storage): Promise<void> {
    await this.rbac.start(storage);
    await this.authn.start(storage);
  }

  stop(): void {
    this.rbac.stop();
    this.authn.stop();
  }

  /** The user of a request (undefined: anonymous); throws 401 for a bad credential. */
  authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    return this.authn.authenticate(req);
  }

  /** Applies Impersonate-* headers (403 unless allowed); returns the user the request acts as. */
  impersonate(req: IncomingMessage, requestor: UserInfo): UserInfo {
    return impersonate(req, requestor, (a) => this.authorize(a)) ?? requestor;
  }

  authorize(a: Attributes): Decision {
    return this.rbac.authorize(a);
  }

  rulesFor(user: UserInfo, namespace: string): RulesReview {
    return this.rbac.rulesReview(user, namespace);
  }

  checkRoleEscalation(user: UserInfo, role: Obj, old?: Obj): void {
    if (old && onlyGCFieldsChanged(role, old)) return;
    this.rbac.checkRoleEscalation(user, role, !old);
  }

  checkBindingEscalation(user: UserInfo, binding: Obj, old?: Obj): void {
    if (old && onlyGCFieldsChanged(binding, old)) return;
    this.rbac.checkBindingEscalation(user, binding);
  }

  reviewToken(token: string, audiences: string[]): Promise<TokenReviewResult> {
    return this.authn.authenticateToken(token, audiences.length ? audiences : this.apiAudiences);
  }

  async issueServiceAccountToken(sa: Obj, spec: TokenRequestSpec): Promise<{ token: string; expirationTimestamp: string; audiences: string[] }> {
    const audiences = spec.audiences?.length ? spec.audiences : this.apiAudiences;
    const ns = sa.metadata.namespace;
    let bound: { kind: string; name: string; uid: string } | undefined;
    const ref = spec.boundObjectRef;
    if (ref) {
      const where = BINDABLE[ref.kind];
      if (!where || (ref.apiVersion && ref.apiVersion !== 'v1'))
        throw badRequest(`cannot bind token for object of type ${ref.apiVersion ?? 'v1'}, Kind=${ref.kind}`);
      const obj = await this.lookup('', where.resource, where.namespaced ? ns : undefined, ref.name);
      if (!obj) throw notFound(where.resource, '', ref.name);
      if (ref.uid && ref.uid !== obj.metadata.uid)
        throw badRequest(
          `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        );
      bound = { kind: ref.kind, name: ref.name, uid: obj.metadata.uid };
    }
    const claims = this.tokens.claims({ namespace: ns, name: sa.metadata.name, uid: sa.metadata.uid }, audiences, spec.expirationSeconds, bound);
    return { token: this.tokens.sign(claims), expirationTimestamp: new Date(claims.exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'), audiences };
  }
}
