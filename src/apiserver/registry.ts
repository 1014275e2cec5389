// The registry of served resources. Built-in and CRD-defined resources live side by side; CRDs are
// added and removed at run time, and listeners (discovery, OpenAPI caches) are told of every change.

import { groupVersion, type CustomSubresource, type ResourceDefinition } from './resource.ts';

export class Registry {
  private defs = new Map<string, ResourceDefinition>(); // "group/version/resource"
  private listeners: Array<() => void> = [];
  /** Bumped on every change so caches can tell they are stale. */
  generation = 0;

  private static id(group: string, version: string, resource: string): string {
    return `${group}/${version}/${resource}`;
  }

  add(defs: ResourceDefinition[]): void {
    for (const d of defs) this.defs.set(Registry.id(d.group, d.version, d.resource), this.extended(d));
    this.changed();
  }

  /** Removes every definition created from the named CRD. */
  removeCRD(crdName: string): void {
    for (const [k, d] of this.defs) if (d.crdName === crdName) this.defs.delete(k);
    this.changed();
  }

  /** Replaces the definitions of one CRD at once (an update may add or drop versions). */
  replaceCRD(crdName: string, defs: ResourceDefinition[]): void {
    for (const [k, d] of this.defs) if (d.crdName === crdName) this.defs.delete(k);
    for (const d of defs) this.defs.set(Registry.id(d.group, d.version, d.resource), this.extended(d));
    this.changed();
  }

  // Custom subresources are kept apart from the definitions because CRD-defined ones are rebuilt
  // on every CRD change; they are re-applied to each definition of the group/resource.
  private extensions = new Map<string, Record<string, CustomSubresource>>(); // "group/resource"

  /** Serves a custom subresource on every version of group/resource (also ones added later). Returns its removal. */
  extendSubresource(group: string, resource: string, name: string, sub: CustomSubresource): () => void {
    const k = `${group}/${resource}`;
    this.extensions.set(k, { ...this.extensions.get(k), [name]: sub });
    const reapply = () => {
      for (const d of this.defs.values()) if (d.group === group && d.resource === resource) this.extended(d);
      this.changed();
    };
    reapply();
    return () => {
      const ext = this.extensions.get(k);
      if (ext?.[name] !== sub) return;
      delete ext[name];
      for (const d of this.defs.values()) if (d.group === group && d.resource === resource && d.subresources.custom) delete d.subresources.custom[name];
      this.changed();
    };
  }

  private extended(d: ResourceDefinition): ResourceDefinition {
    const ext = this.extensions.get(`${d.group}/${d.resource}`);
    if (ext) d.subresources = { ...d.subresources, custom: { ...d.subresources.custom, ...ext } };
    return d;
  }

  private terminating = new Set<string>();

  /** A CRD being deleted: its resources stay readable while instances are removed, but take no new ones. */
  setTerminating(crdName: string, on: boolean): void {
    if (on) this.terminating.add(crdName);
    else this.terminating.delete(crdName);
  }

  isTerminating(crdName: string | undefined): boolean {
    return !!crdName && this.terminating.has(crdName);
  }

  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private changed(): void {
    this.generation++;
    for (const fn of this.listeners) fn();
  }

  lookup(group: string, version: string, resource: string): ResourceDefinition | undefined {
    return this.defs.get(Registry.id(group, version, resource));
  }

  byKind(group: string, version: string, kind: string): ResourceDefinition | undefined {
    for (const d of this.defs.values()) if (d.group === group && d.version === version && d.kind === kind) return d;
    return undefined;
  }

  /** The definition used for storage of a group/resource (any served version; they share storage). */
  anyVersion(group: string, resource: string): ResourceDefinition | undefined {
    for (const d of this.defs.values()) if (d.group === group && d.resource === resource) return d;
    return undefined;
  }

  all(): ResourceDefinition[] {
    return [...this.defs.values()];
  }

  /** Group versions, grouped by group, preferred version first (Kubernetes version ordering). */
  groups(): Array<{ group: string; versions: string[] }> {
    const byGroup = new Map<string, Set<string>>();
    for (const d of this.defs.values()) {
      if (d.hidden) continue;
      if (!byGroup.has(d.group)) byGroup.set(d.group, new Set());
      byGroup.get(d.group)!.add(d.version);
    }
    return [...byGroup.entries()].map(([group, vs]) => ({ group, versions: [...vs].sort(compareKubeVersions) }));
  }

  inGroupVersion(group: string, version: string): ResourceDefinition[] {
    return this.all()
      .filter((d) => d.group === group && d.version === version && !d.hidden)
      .sort((a, b) => a.resource.localeCompare(b.resource));
  }

  gvString(d: ResourceDefinition): string {
    return groupVersion(d);
  }
}

/** Orders versions as Kubernetes does: GA > beta > alpha, higher numbers first, others last alphabetically. */
export function compareKubeVersions(a: string, b: string): number {
  const rank = (v: string): [number, number, number, string] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [3, 0, 0, v];
    const stage = m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2;
    return [stage, -Number(m[1]), -Number(m[3] ?? 0), v];
  };
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return (ra[i] as number) - (rb[i] as number);
  return ra[3].localeCompare(rb[3]);
}
