// Impersonation (k8s.io/apiserver/pkg/endpoints/filters/impersonation.go): Impersonate-User, -Group,
// -Uid and -Extra-<key> headers replace the requestor's identity, each one only if the requestor holds
// the `impersonate` verb on it (users, groups, serviceaccounts; uids and userextras in authentication.k8s.io).

import type { IncomingMessage } from 'node:http';
import { badRequest } from '../errors.ts';
import { forbiddenError } from './attributes.ts';
import {
  ANONYMOUS,
  AUTHENTICATED,
  UNAUTHENTICATED,
  parseServiceAccountUser,
  serviceAccountGroups,
  type Attributes,
  type Decision,
  type UserInfo,
} from './types.ts';

const EXTRA_PREFIX = 'impersonate-extra-';
const AUTHN_V1 = 'authentication.k8s.io/v1';

/** Extra keys are %-encoded in header names; a malformed encoding is kept as sent. */
function unescapeExtraKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

/** Go's %v of a core/v1 ObjectReference value: its fields in declaration order, space separated. */
function goObjectReference(r: { kind: string; name: string; apiVersion?: string; fieldPath?: string }): string {
  return `{${[r.kind, '', r.name, '', r.apiVersion ?? '', '', r.fieldPath ?? ''].join(' ')}}`;
}

/** The impersonated user, or undefined when the request carries no impersonation headers. */
export function impersonate(req: IncomingMessage, requestor: UserInfo, authorize: (a: Attributes) => Decision): UserInfo | undefined {
  const h = req.headersDistinct;
  // As Go's Header.Get: an empty Impersonate-User or Impersonate-Uid is no request at all.
  const username = h['impersonate-user']?.[0] || undefined;
  const groups = (h['impersonate-group'] ?? []).slice();
  const uid = h['impersonate-uid']?.[0] || undefined;
  const extra: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(EXTRA_PREFIX) && v) extra[unescapeExtraKey(k.slice(EXTRA_PREFIX.length))] = v;
  }
  if (username === undefined) {
    const requested = [
      ...groups.map((g) => goObjectReference({ kind: 'Group', name: g })),
      ...Object.entries(extra).flatMap(([key, values]) =>
        values.map((v) => goObjectReference({ kind: 'UserExtra', name: v, apiVersion: AUTHN_V1, fieldPath: key })),
      ),
      ...(uid !== undefined ? [goObjectReference({ kind: 'UID', name: uid, apiVersion: AUTHN_V1 })] : []),
    ];
    if (!requested.length) return undefined;
    // kube-apiserver ≥ 1.35 (buildImpersonationRequests): a 400 Status; older ones sent a plain-text 500.
    throw badRequest(`requested [${requested.join(' ')}] without impersonating a user`);
  }

  const check = (a: Omit<Attributes, 'user' | 'verb' | 'resourceRequest'>) => {
    const attrs: Attributes = { user: requestor, verb: 'impersonate', resourceRequest: true, apiGroup: '', ...a };
    const d = authorize(attrs);
    if (!d.allowed) throw forbiddenError(attrs, d.reason);
  };
  const sa = parseServiceAccountUser(username);
  let effectiveGroups = groups;
  if (sa) {
    check({ resource: 'serviceaccounts', namespace: sa.namespace, name: sa.name });
    // A service account's groups are a fixed mapping, added when no groups are requested.
    if (!groups.length) effectiveGroups = serviceAccountGroups(sa.namespace);
  } else {
    check({ resource: 'users', name: username });
  }
  for (const g of groups) check({ resource: 'groups', name: g });
  for (const [key, values] of Object.entries(extra))
    for (const v of values) check({ apiGroup: 'authentication.k8s.io', resource: 'userextras', subresource: key, name: v });
  if (uid !== undefined) check({ apiGroup: 'authentication.k8s.io', resource: 'uids', name: uid });

  const out = [...effectiveGroups];
  if (username !== ANONYMOUS) {
    if (!out.includes(AUTHENTICATED) && !out.includes(UNAUTHENTICATED)) out.push(AUTHENTICATED);
  } else if (!out.includes(UNAUTHENTICATED)) {
    out.push(UNAUTHENTICATED);
  }
  const user: UserInfo = { username, groups: out };
  if (uid !== undefined) user.uid = uid;
  if (Object.keys(extra).length) user.extra = extra;
  return user;
}
