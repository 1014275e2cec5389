// Request attributes from method and URL (k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory) and
// the Forbidden error the real server sends when the authorizer says no.

import { StatusError } from '../errors.ts';
import type { Attributes, UserInfo } from './types.ts';
import { QueryParams } from '../query.ts';

const VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
/** Subresources of a namespace (everything else after /namespaces/<ns>/ is a namespaced resource). */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function requestAttributes(method: string, url: URL, user: UserInfo): Attributes {
  const path = url.pathname;
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((p) => decodeURIComponent(p));
  const nonResource = (): Attributes => ({ user, verb: method.toLowerCase(), resourceRequest: false, path });
  let rest: string[];
  let apiGroup: string;
  let apiVersion: string;
  if (parts[0] === 'api' && parts.length >= 3) [apiGroup, apiVersion, rest] = ['', parts[1], parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 4) [apiGroup, apiVersion, rest] = [parts[1], parts[2], parts.slice(3)];
  else return nonResource();
  if (!VERBS[method]) return nonResource();
  let verb = VERBS[method];
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2])) rest = rest.slice(2);
  }
  const a: Attributes = { user, verb, resourceRequest: true, apiGroup, apiVersion, resource: rest[0], namespace };
  if (rest.length >= 2) a.name = rest[1];
  if (rest.length >= 3) a.subresource = rest[2];
  const q = new QueryParams(url.searchParams);
  if (a.name === undefined) {
    // The same reading of ?watch as the handler's, or `watch=True` would be authorized as a list.
    if (verb === 'get') verb = q.bool('watch') ? 'watch' : 'list';
    else if (verb === 'delete') verb = 'deletecollection';
    // A list or watch of one object by name (kubectl get x -w) is authorized for that name.
    if (verb === 'list' || verb === 'watch') {
      const m = /^metadata\.name==?([^,]*)$/.exec(q.string('fieldSelector') ?? '');
      if (m) a.name = m[1];
    }
  }
  a.verb = verb;
  return a;
}

/** Go's %q of a string (ASCII) */
const q = (s: string | undefined) => JSON.stringify(s ?? '');

/** The 403 of responsewriters.Forbidden: `<res> "<name>" is forbidden: User "u" cannot <verb> resource ...`. */
export function forbiddenError(a: Attributes, reason: string): StatusError {
  let msg: string;
  if (!a.resourceRequest) {
    msg = `User ${q(a.user.username)} cannot ${a.verb} path ${q(a.path)}`;
  } else {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    msg = a.namespace
      ? `User ${q(a.user.username)} cannot ${a.verb} resource ${q(resource)} in API group ${q(a.apiGroup)} in the namespace ${q(a.namespace)}`
      : `User ${q(a.user.username)} cannot ${a.verb} resource ${q(resource)} in API group ${q(a.apiGroup)} at the cluster scope`;
  }
  if (reason) msg += `: ${reason}`;
  const group = a.resourceRequest ? (a.apiGroup ?? '') : '';
  const res = a.resourceRequest ? (a.resource ?? '') : '';
  const qualified = group ? `${res}.${group}` : res;
  const message = !res ? `forbidden: ${msg}` : a.name ? `${qualified} ${q(a.name)} is forbidden: ${msg}` : `${qualified} is forbidden: ${msg}`;
  const details: Record<string, string> = {};
  if (a.name) details.name = a.name;
  if (group) details.group = group;
  if (res) details.kind = res;
  return new StatusError(403, 'Forbidden', message, details);
}
