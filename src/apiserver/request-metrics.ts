// The labels kube-apiserver puts on a request's metrics (endpoints/metrics.MonitorRequest): the
// reported verb (LIST/WATCH/APPLY beside the HTTP method), group/version/resource/subresource of
// a served resource (blank for unknown ones, so clients cannot grow the label set), and the scope.

import type { IncomingMessage } from 'node:http';
import type { Attributes } from './auth/index.ts';
import type { Registry } from './registry.ts';
import type { RequestLabels } from '../observability/metrics.ts';

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
const BUILTIN_SUBRESOURCES = new Set(['status', 'scale', 'binding', 'finalize']);
const APPLY = 'application/apply-patch+yaml';

export function requestLabels(a: Attributes, req: IncomingMessage, url: URL, registry: Registry): RequestLabels {
  const method = (req.method ?? 'GET').toUpperCase();
  let verb = METHODS.has(method) ? method : 'other';
  const l: RequestLabels = { verb, dry_run: '', group: '', version: '', resource: '', subresource: '', scope: '', component: 'apiserver' };
  if (!a.resourceRequest) return l;
  if (a.verb === 'list') verb = 'LIST';
  else if (a.verb === 'watch') verb = 'WATCH';
  else if (method === 'PATCH' && (req.headers['content-type'] ?? '').startsWith(APPLY)) verb = 'APPLY';
  l.verb = verb;
  if (url.searchParams.has('dryRun')) l.dry_run = 'All';
  l.scope = a.name !== undefined ? 'resource' : a.namespace !== undefined ? 'namespace' : 'cluster';
  const def = a.resource ? registry.lookup(a.apiGroup ?? '', a.apiVersion ?? '', a.resource) : undefined;
  if (def) {
    l.group = def.group;
    l.version = def.version;
    l.resource = def.resource;
    const sub = a.subresource;
    const s = def.subresources;
    const known = sub === undefined ? false : BUILTIN_SUBRESOURCES.has(sub) ? !!s[sub as 'status'] : !!(s.actions?.[sub] || s.custom?.[sub]);
    l.subresource = known ? sub! : '';
  }
  return l;
}
