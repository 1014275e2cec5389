// Identities, request attributes and the security services the HTTP front and the review/token
// resources share. kube-apiserver's shapes: user.Info, authorizer.Attributes, rbacv1.PolicyRule.

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** What a request does, as the authorizer sees it (k8s.io/apiserver/pkg/authorization/authorizer.Attributes). */
export interface Attributes {
  user: UserInfo;
  verb: string;
  /** Resource requests: */
  resourceRequest: boolean;
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  namespace?: string;
  /** Non-resource requests: the URL path. */
  path?: string;
}

export interface Decision {
  allowed: boolean;
  /** Why (RBAC: which binding allowed it, or resolution errors on a denial). */
  reason: string;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface RoleRef {
  apiGroup?: string;
  kind: string;
  name: string;
}

export interface RulesReview {
  resourceRules: Array<{ verbs: string[]; apiGroups: string[]; resources: string[]; resourceNames?: string[] }>;
  nonResourceRules: Array<{ verbs: string[]; nonResourceURLs: string[] }>;
  incomplete: boolean;
  evaluationError?: string;
}

export interface TokenReviewResult {
  authenticated: boolean;
  user?: UserInfo;
  audiences?: string[];
  error?: string;
}

export interface TokenRequestSpec {
  audiences?: string[];
  expirationSeconds: number;
  boundObjectRef?: { kind: string; apiVersion?: string; name: string; uid: string };
}

/**
 * The server's authentication and authorization services, handed to strategies through the request
 * context so that data-defined kinds (access reviews, TokenRequest, RBAC escalation checks) can use them.
 */
export interface SecurityServices {
  authorize(attrs: Attributes): Decision;
  rulesFor(user: UserInfo, namespace: string): RulesReview;
  /** Throws a 403 StatusError when `user` may not create (no `old`) or update this Role or ClusterRole. */
  checkRoleEscalation(user: UserInfo, role: Record<string, any>, old?: Record<string, any>): void;
  /** Throws a 403 StatusError when `user` may not create (no `old`) or update this RoleBinding or ClusterRoleBinding. */
  checkBindingEscalation(user: UserInfo, binding: Record<string, any>, old?: Record<string, any>): void;
  reviewToken(token: string, audiences: string[]): Promise<TokenReviewResult>;
  issueServiceAccountToken(sa: Record<string, any>, spec: TokenRequestSpec): Promise<{ token: string; expirationTimestamp: string; audiences: string[] }>;
  /** The audiences a token gets when the request names none (the API server's own). */
  apiAudiences: string[];
}

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
export const SYSTEM_MASTERS = 'system:masters';
export const AUTHENTICATED = 'system:authenticated';
export const UNAUTHENTICATED = 'system:unauthenticated';
export const ANONYMOUS = 'system:anonymous';
export const SA_PREFIX = 'system:serviceaccount:';

/** "system:serviceaccount:<ns>:<name>" → {namespace, name}. */
export function parseServiceAccountUser(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SA_PREFIX)) return undefined;
  const parts = username.slice(SA_PREFIX.length).split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { namespace: parts[0], name: parts[1] };
}

export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`];
}
