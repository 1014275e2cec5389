// core/v1 Namespace (cluster-scoped). The /status and /finalize subresources are served by the generic layer
// and the namespace controller empties spec.finalizers through /finalize; this file holds the data and the
// strategy, including the deletion rules (Terminating phase, spec.finalizers keep the object, system namespaces).

import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { forbidden as forbiddenStatus, type FieldError } from '../../apiserver/errors.ts';
import { AGE_COLUMN, child } from './common.ts';
import { condition, kindSchema, list, obj, str } from './dsl.ts';
import { dns1123Label, dns1123Subdomain, invalid, qualifiedName } from './validation.ts';

/** The finalizer the namespace controller removes once the namespace is empty. */
export const KUBERNETES_FINALIZER = 'kubernetes';
/** Label the server keeps equal to the namespace name so that selectors can match namespaces by name. */
const NAME_LABEL = 'kubernetes.io/metadata.name';
/** Namespaces the NamespaceLifecycle admission plugin refuses to delete. */
const IMMORTAL = ['default', 'kube-system', 'kube-public'];

const NamespaceCondition = condition('One condition of a namespace, e.g. NamespaceContentRemaining while it is being deleted.');

const schema = kindSchema('A scope for names; most objects live in a namespace.', {
  spec: obj('Desired state of the namespace.', {
    finalizers: list(str(), 'Finalizers that must be removed (through the finalize subresource) before the namespace is deleted.', { type: 'atomic' }),
  }),
  status: obj('Observed state of the namespace.', {
    phase: str('Active, or Terminating while the namespace and its contents are being deleted.'),
    conditions: list(NamespaceCondition, 'Current conditions of the namespace.', { map: ['type'], mergeKey: 'type', strategy: 'merge' }),
  }),
});

function labelWithName(ns: KObject): void {
  if (ns.metadata?.name) child(ns.metadata, 'labels')[NAME_LABEL] = ns.metadata.name;
}

export const namespaces: ResourceDefinition = {
  group: '',
  version: 'v1',
  resource: 'namespaces',
  singular: 'namespace',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  namespaced: false,
  shortNames: ['ns'],
  // Namespaces have no deletecollection.
  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  schema,
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: { status: true, finalize: true },
  columns: [{ name: 'Status', type: 'string', description: 'Phase of the namespace.', cell: (o) => o.status?.phase ?? '' }, AGE_COLUMN],
  fieldSelectors: { 'status.phase': (o) => o.status?.phase ?? '' },
  deleteReturnsObject: true,
  strategy: {
    prepareForCreate(ns) {
      ns.status = { phase: 'Active' };
      const spec = child(ns, 'spec');
      const finalizers: string[] = Array.isArray(spec.finalizers) ? spec.finalizers : [];
      if (!finalizers.includes(KUBERNETES_FINALIZER)) finalizers.push(KUBERNETES_FINALIZER);
      spec.finalizers = finalizers;
      labelWithName(ns);
    },
    prepareForUpdate(ns, old) {
      // spec.finalizers only change through /finalize, status only through /status.
      ns.spec = { ...(ns.spec ?? {}), finalizers: old.spec?.finalizers };
      if (ns.spec.finalizers === undefined) delete ns.spec.finalizers;
      ns.status = old.status;
      labelWithName(ns);
    },
    pendingFinalization: (ns) => Array.isArray(ns.spec?.finalizers) && ns.spec.finalizers.length > 0,
    checkDelete(ns) {
      const name = ns.metadata?.name;
      if (IMMORTAL.includes(name)) throw forbiddenStatus(`namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
    },
    prepareForDeleting(ns) {
      child(ns, 'status').phase = 'Terminating';
    },
    validate(ns) {
      const errs: FieldError[] = [];
      // The generic layer checks names as DNS subdomains; a namespace name must also be a DNS label.
      const name = ns.metadata?.name;
      if (typeof name === 'string' && name && !dns1123Subdomain(name).length) for (const m of dns1123Label(name)) errs.push(invalid('metadata.name', name, m));
      (ns.spec?.finalizers ?? []).forEach((f: unknown, i: number) => errs.push(...validateFinalizerName(String(f), `spec.finalizers[${i}]`)));
      return errs;
    },
  },
};

/** validateFinalizerName: a standard finalizer or a domain-qualified name. */
function validateFinalizerName(f: string, path: string): FieldError[] {
  const errs = qualifiedName(f).map((m) => invalid(path, f, m));
  if (!errs.length && !f.includes('/') && f !== KUBERNETES_FINALIZER) {
    errs.push(invalid(path, f, 'name is neither a standard finalizer name nor is it fully qualified'));
  }
  return errs;
}
