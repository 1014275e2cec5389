// ObjectAccess over the registry and the REST service: what action subresources use to reach other kinds
// in-process, with the same storage semantics (preconditions, graceful deletion) as a request would get.

import { notFound } from './errors.ts';
import type { Registry } from './registry.ts';
import type { KObject, ObjectAccess } from './resource.ts';
import type { RestService } from './rest.ts';

export function objectAccess(registry: Registry, service: RestService): ObjectAccess {
  const def = (group: string, version: string, resource: string) => {
    const d = registry.lookup(group, version, resource);
    if (!d) throw notFound(resource, group, '');
    return d;
  };
  return {
    async list(group, version, resource, namespace) {
      const list = await service.list(def(group, version, resource), namespace, {});
      return list.items as KObject[];
    },
    update(group, version, resource, namespace, name, mutate, opts) {
      return service.guaranteedUpdate(
        def(group, version, resource),
        namespace,
        name,
        undefined,
        mutate,
        { subresource: opts.subresource, dryRun: opts.dryRun },
        { warnings: [] },
      );
    },
    updateStatus(group, version, resource, namespace, name, mutate) {
      return this.update(group, version, resource, namespace, name, mutate, { subresource: 'status' });
    },
    async delete(group, version, resource, namespace, name, opts) {
      await service.delete(def(group, version, resource), namespace, name, opts);
    },
  };
}
