// Discovery documents (aggregated apidiscovery.k8s.io/v2 and v2beta1, and the legacy ones),
// rebuilt from the registry whenever it changes.

import { createHash } from 'node:crypto';
import type { Registry } from './registry.ts';
import type { ResourceDefinition } from './resource.ts';

const SUB_VERBS = ['get', 'patch', 'update'];

function storageVersionHash(d: ResourceDefinition): string {
  return createHash('sha256').update(`${d.group}/${d.version}/${d.kind}`).digest('base64').slice(0, 11);
}

function subresources(d: ResourceDefinition): Array<{ name: string; group: string; version: string; kind: string; verbs: string[] }> {
  const out = [];
  const self = { group: d.group, version: d.version, kind: d.kind };
  if (d.subresources.status) out.push({ name: 'status', ...self, verbs: SUB_VERBS });
  if (d.subresources.scale) out.push({ name: 'scale', group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: SUB_VERBS });
  if (d.subresources.finalize) out.push({ name: 'finalize', ...self, verbs: ['update'] });
  for (const [name, a] of Object.entries(d.subresources.actions ?? {})) out.push({ name, group: a.group, version: a.version, kind: a.kind, verbs: ['create'] });
  for (const [name, c] of Object.entries(d.subresources.custom ?? {})) {
    out.push({ name, group: c.group ?? d.group, version: c.version ?? d.version, kind: c.kind, verbs: ['get'] });
  }
  return out;
}

function aggregatedResource(d: ResourceDefinition): Record<string, unknown> {
  const r: Record<string, unknown> = {
    resource: d.resource,
    responseKind: { group: d.group, version: d.version, kind: d.kind },
    scope: d.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: d.singular,
    verbs: [...d.verbs].sort(),
  };
  if (d.shortNames?.length) r.shortNames = d.shortNames;
  if (d.categories?.length) r.categories = d.categories;
  const subs = subresources(d);
  if (subs.length) {
    r.subresources = subs.map((s) => ({ subresource: s.name, responseKind: { group: s.group, version: s.version, kind: s.kind }, verbs: s.verbs }));
  }
  return r;
}

export interface Doc {
  body: string;
  etag: string;
}

function doc(obj: unknown): Doc {
  const body = JSON.stringify(obj);
  return { body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` };
}

export class Discovery {
  private cache = new Map<string, Doc>();

  constructor(
    private registry: Registry,
    private serverAddress: () => string,
  ) {
    registry.onChange(() => this.cache.clear());
  }

  private cached(key: string, build: () => unknown): Doc {
    let d = this.cache.get(key);
    if (!d) this.cache.set(key, (d = doc(build())));
    return d;
  }

  /** APIGroupDiscoveryList for /api (core only) or /apis (named groups). */
  aggregated(core: boolean, version: 'v2' | 'v2beta1'): Doc {
    return this.cached(`agg:${core}:${version}`, () => ({
      kind: 'APIGroupDiscoveryList',
      apiVersion: `apidiscovery.k8s.io/${version}`,
      metadata: {},
      items: this.registry
        .groups()
        .filter((g) => (g.group === '') === core)
        .sort((a, b) => groupPriority(a.group) - groupPriority(b.group) || a.group.localeCompare(b.group))
        .map((g) => ({
          metadata: { name: g.group, creationTimestamp: null },
          versions: g.versions.map((v) => ({
            version: v,
            resources: this.registry.inGroupVersion(g.group, v).map(aggregatedResource),
            freshness: 'Current',
          })),
        })),
    }));
  }

  apiVersions(): Doc {
    return this.cached('api', () => ({
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.serverAddress() }],
    }));
  }

  private apiGroup(group: string, versions: string[]): Record<string, unknown> {
    const vs = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
    return { name: group, versions: vs, preferredVersion: vs[0] };
  }

  apiGroupList(): Doc {
    return this.cached('apis', () => ({
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: this.registry
        .groups()
        .filter((g) => g.group !== '')
        .sort((a, b) => groupPriority(a.group) - groupPriority(b.group) || a.group.localeCompare(b.group))
        .map((g) => this.apiGroup(g.group, g.versions)),
    }));
  }

  apiGroupDoc(group: string): Doc | undefined {
    const g = this.registry.groups().find((x) => x.group === group);
    if (!g || !group) return undefined;
    return this.cached(`group:${group}`, () => ({ kind: 'APIGroup', apiVersion: 'v1', ...this.apiGroup(group, g.versions) }));
  }

  /** Legacy APIResourceList, with kube's field order (name, singularName, namespaced, kind, verbs, ...). */
  resourceList(group: string, version: string): Doc | undefined {
    const defs = this.registry.inGroupVersion(group, version);
    if (!defs.length) return undefined;
    return this.cached(`rl:${group}/${version}`, () => {
      const resources: Record<string, unknown>[] = [];
      for (const d of defs) {
        const r: Record<string, unknown> = { name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: [...d.verbs].sort() };
        if (d.shortNames?.length) r.shortNames = d.shortNames;
        if (d.categories?.length) r.categories = d.categories;
        r.storageVersionHash = storageVersionHash(d);
        resources.push(r);
        for (const s of subresources(d)) {
          const sr: Record<string, unknown> = { name: `${d.resource}/${s.name}`, singularName: '', namespaced: d.namespaced };
          if (s.group !== d.group || s.version !== d.version) Object.assign(sr, { group: s.group, version: s.version });
          Object.assign(sr, { kind: s.kind, verbs: s.verbs });
          resources.push(sr);
        }
      }
      return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
    });
  }
}

/** Built-in groups come first, in the order kube-apiserver lists them; CRD groups after. */
const BUILTIN_ORDER = [
  '',
  'apps',
  'events.k8s.io',
  'authentication.k8s.io',
  'authorization.k8s.io',
  'autoscaling',
  'batch',
  'certificates.k8s.io',
  'networking.k8s.io',
  'policy',
  'rbac.authorization.k8s.io',
  'storage.k8s.io',
  'admissionregistration.k8s.io',
  'apiextensions.k8s.io',
  'scheduling.k8s.io',
  'coordination.k8s.io',
  'node.k8s.io',
  'discovery.k8s.io',
  'flowcontrol.apiserver.k8s.io',
];

function groupPriority(group: string): number {
  const i = BUILTIN_ORDER.indexOf(group);
  return i < 0 ? 1000 : i;
}
