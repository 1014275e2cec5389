// The kinds the kube fuzz suite attacks: every served built-in kind, the EVE CRDs of deploy/crds
// and a CRD that keeps unknown fields, each with a minimal valid object to mutate.

export interface FuzzKind {
  kind: string;
  apiVersion: string;
  plural: string;
  namespaced: boolean;
  /** A valid object of the kind (without metadata). */
  base(ns: string): Record<string, unknown>;
  /** Whether strategic merge patch applies (built-in kinds only). */
  smp: boolean;
}

const core = (kind: string, plural: string, namespaced: boolean, base: FuzzKind['base']): FuzzKind => ({
  kind,
  apiVersion: 'v1',
  plural,
  namespaced,
  base,
  smp: true,
});
const rbac = (kind: string, plural: string, namespaced: boolean, base: FuzzKind['base']): FuzzKind => ({
  kind,
  apiVersion: 'rbac.authorization.k8s.io/v1',
  plural,
  namespaced,
  base,
  smp: true,
});
const eve = (kind: string, plural: string, namespaced: boolean, base: FuzzKind['base']): FuzzKind => ({
  kind,
  apiVersion: 'eve.kubeve.io/v1alpha1',
  plural,
  namespaced,
  base,
  smp: false,
});

export const BLOB_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'blobs.fuzz.kubeve.io' },
  spec: {
    group: 'fuzz.kubeve.io',
    scope: 'Namespaced',
    names: { plural: 'blobs', singular: 'blob', kind: 'Blob' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
};

let crdSeq = 0;

export const KINDS: FuzzKind[] = [
  core('ConfigMap', 'configmaps', true, () => ({ data: { a: '1' } })),
  core('Secret', 'secrets', true, () => ({ type: 'Opaque', data: { a: 'MQ==' } })),
  core('ServiceAccount', 'serviceaccounts', true, () => ({})),
  core('Service', 'services', true, () => ({
    spec: {
      type: 'NodePort',
      selector: { app: 'a' },
      ports: [
        { name: 'http', port: 80 },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    },
  })),
  core('Event', 'events', true, (ns) => ({ involvedObject: { kind: 'Pod', name: 'p', namespace: ns }, reason: 'Fuzz', message: 'm', type: 'Normal' })),
  core('Pod', 'pods', true, () => ({ spec: { containers: [{ name: 'c', image: 'nginx' }] } })),
  core('Namespace', 'namespaces', false, () => ({})),
  core('Node', 'nodes', false, () => ({})),
  { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', plural: 'leases', namespaced: true, base: () => ({ spec: { holderIdentity: 'h' } }), smp: true },
  rbac('Role', 'roles', true, () => ({ rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] })),
  rbac('RoleBinding', 'rolebindings', true, () => ({
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' },
    subjects: [{ kind: 'User', name: 'u', apiGroup: 'rbac.authorization.k8s.io' }],
  })),
  rbac('ClusterRole', 'clusterroles', false, () => ({ rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] })),
  rbac('ClusterRoleBinding', 'clusterrolebindings', false, () => ({
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'r' },
    subjects: [{ kind: 'User', name: 'u', apiGroup: 'rbac.authorization.k8s.io' }],
  })),
  {
    kind: 'CustomResourceDefinition',
    apiVersion: 'apiextensions.k8s.io/v1',
    plural: 'customresourcedefinitions',
    namespaced: false,
    smp: true,
    base: () => {
      const n = `f${++crdSeq}x${Date.now().toString(36)}`;
      return {
        spec: {
          group: 'hostile.kubeve.io',
          scope: 'Namespaced',
          names: { plural: `${n}s`, singular: n, kind: `K${n}` },
          versions: [
            { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } },
          ],
        },
      };
    },
  },
  { kind: 'Blob', apiVersion: 'fuzz.kubeve.io/v1', plural: 'blobs', namespaced: true, base: () => ({ spec: { any: 'thing' } }), smp: false },
  eve('EdgeNode', 'edgenodes', false, () => ({ spec: { serial: 'fuzz-serial' } })),
  eve('OnboardingKey', 'onboardingkeys', false, () => ({ spec: { certificate: 'not-a-cert', autoEnroll: false } })),
  eve('AppInstance', 'appinstances', true, () => ({ spec: { nodeName: 'nowhere', image: 'docker://nginx:1' } })),
  eve('DataStore', 'datastores', true, () => ({ spec: { type: 'https', url: 'https://images.example.com' } })),
  eve('NetworkInstance', 'networkinstances', true, () => ({ spec: { type: 'switch' } })),
  eve('Volume', 'volumes', true, () => ({ spec: { size: '1Gi' } })),
];

export function collectionPath(k: FuzzKind, ns: string): string {
  const prefix = k.apiVersion === 'v1' ? '/api/v1' : `/apis/${k.apiVersion}`;
  return k.namespaced ? `${prefix}/namespaces/${ns}/${k.plural}` : `${prefix}/${k.plural}`;
}

/** A valid object of the kind (the CRD's name must be <plural>.<group>). */
export function baseObject(k: FuzzKind, ns: string, name: string): Record<string, unknown> {
  const body = k.base(ns);
  if (k.kind === 'CustomResourceDefinition') {
    const names = (body.spec as { names: { plural: string } }).names;
    name = `${names.plural}.hostile.kubeve.io`;
  }
  return { apiVersion: k.apiVersion, kind: k.kind, metadata: { name, ...(k.namespaced ? { namespace: ns } : {}) }, ...body };
}
