// The default RBAC policy a cluster starts with, after kube-apiserver's bootstrappolicy: cluster-admin,
// the aggregated user-facing roles admin/edit/view, and the system roles every authenticated (or anonymous)
// client relies on for discovery, health and self-reviews. Other API groups join view/edit/admin by labelled
// ClusterRoles, as in kube: the EVE resources through deploy/rbac/aggregate-roles.yaml (src/server/kubeve.ts).

import type { PolicyRule } from './types.ts';
import { RBAC_GROUP } from './types.ts';
import { labelSelectorFromObject } from '../selectors.ts';

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const READ_WRITE = [...READ, ...WRITE];

const rule = (verbs: string[], apiGroups: string[], resources: string[]): PolicyRule => ({ apiGroups, resources, verbs });
const urls = (verbs: string[], nonResourceURLs: string[]): PolicyRule => ({ nonResourceURLs, verbs });

const AGG = (to: string) => `${RBAC_GROUP}/aggregate-to-${to}`;
const DEFAULTS = { labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' }, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } };

function clusterRole(name: string, rules: PolicyRule[], extra: { labels?: Record<string, string>; aggregateFrom?: string } = {}): Record<string, any> {
  const role: Record<string, any> = {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRole',
    metadata: { name, labels: { ...DEFAULTS.labels, ...extra.labels }, annotations: { ...DEFAULTS.annotations } },
    rules,
  };
  if (extra.aggregateFrom) role.aggregationRule = { clusterRoleSelectors: [{ matchLabels: { [AGG(extra.aggregateFrom)]: 'true' } }] };
  return role;
}

function clusterRoleBinding(name: string, role: string, subjects: Array<{ kind: string; name: string }>): Record<string, any> {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: { ...DEFAULTS.labels }, annotations: { ...DEFAULTS.annotations } },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: role },
    subjects: subjects.map((s) => ({ apiGroup: RBAC_GROUP, ...s })),
  };
}

const group = (name: string) => ({ kind: 'Group', name });

export function bootstrapPolicy(): Array<Record<string, any>> {
  const roles = [
    clusterRole('cluster-admin', [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])]),
    // The user-facing roles are empty shells filled by aggregation: view ⊂ edit ⊂ admin.
    clusterRole('admin', [], { aggregateFrom: 'admin' }),
    clusterRole('edit', [], { aggregateFrom: 'edit', labels: { [AGG('admin')]: 'true' } }),
    clusterRole('view', [], { aggregateFrom: 'view', labels: { [AGG('edit')]: 'true' } }),
    clusterRole(
      'system:aggregate-to-admin',
      [rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']), rule(READ_WRITE, [RBAC_GROUP], ['rolebindings', 'roles'])],
      { labels: { [AGG('admin')]: 'true' } },
    ),
    clusterRole(
      'system:aggregate-to-edit',
      [
        rule(['impersonate'], [''], ['serviceaccounts']),
        rule(WRITE, [''], ['pods', 'pods/attach', 'pods/proxy', 'pods/exec', 'pods/portforward']),
        rule(['create'], [''], ['pods/eviction']),
        rule(
          WRITE,
          [''],
          [
            'configmaps',
            'events',
            'persistentvolumeclaims',
            'replicationcontrollers',
            'replicationcontrollers/scale',
            'secrets',
            'serviceaccounts',
            'services',
            'services/proxy',
          ],
        ),
        rule(['create'], [''], ['serviceaccounts/token']),
        rule(
          WRITE,
          ['apps'],
          ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'replicasets', 'replicasets/scale', 'statefulsets', 'statefulsets/scale'],
        ),
        rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
        rule(WRITE, ['batch'], ['cronjobs', 'jobs']),
        rule(WRITE, ['policy'], ['poddisruptionbudgets']),
        rule(WRITE, ['networking.k8s.io'], ['ingresses', 'networkpolicies']),
        rule(WRITE, ['coordination.k8s.io'], ['leases']),
        rule(READ, [''], ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy']),
      ],
      { labels: { [AGG('edit')]: 'true' } },
    ),
    clusterRole(
      'system:aggregate-to-view',
      [
        rule(
          READ,
          [''],
          [
            'configmaps',
            'endpoints',
            'persistentvolumeclaims',
            'persistentvolumeclaims/status',
            'pods',
            'replicationcontrollers',
            'replicationcontrollers/scale',
            'serviceaccounts',
            'services',
            'services/status',
          ],
        ),
        rule(
          READ,
          [''],
          [
            'bindings',
            'events',
            'limitranges',
            'namespaces/status',
            'pods/log',
            'pods/status',
            'replicationcontrollers/status',
            'resourcequotas',
            'resourcequotas/status',
          ],
        ),
        rule(READ, [''], ['namespaces']),
        rule(READ, ['discovery.k8s.io'], ['endpointslices']),
        rule(
          READ,
          ['apps'],
          [
            'controllerrevisions',
            'daemonsets',
            'daemonsets/status',
            'deployments',
            'deployments/scale',
            'deployments/status',
            'replicasets',
            'replicasets/scale',
            'replicasets/status',
            'statefulsets',
            'statefulsets/scale',
            'statefulsets/status',
          ],
        ),
        rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
        rule(READ, ['batch'], ['cronjobs', 'cronjobs/status', 'jobs', 'jobs/status']),
        rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
        rule(READ, ['networking.k8s.io'], ['ingresses', 'ingresses/status', 'networkpolicies']),
        rule(READ, ['coordination.k8s.io'], ['leases']),
        rule(READ, ['events.k8s.io'], ['events']),
      ],
      { labels: { [AGG('view')]: 'true' } },
    ),
    clusterRole('system:basic-user', [
      rule(['create'], ['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']),
      rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews']),
    ]),
    clusterRole('system:discovery', [
      urls(['get'], ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/']),
    ]),
    clusterRole('system:public-info-viewer', [urls(['get'], ['/healthz', '/livez', '/readyz', '/version', '/version/'])]),
    // Scrapers and probes: the metrics and every single health check (kube's system:monitoring).
    clusterRole('system:monitoring', [urls(['get'], ['/healthz', '/healthz/*', '/livez', '/livez/*', '/metrics', '/metrics/slis', '/readyz', '/readyz/*'])]),
    clusterRole('system:service-account-issuer-discovery', [
      urls(['get'], ['/.well-known/openid-configuration', '/.well-known/openid-configuration/', '/openid/v1/jwks', '/openid/v1/jwks/']),
    ]),
    clusterRole('system:auth-delegator', [
      rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
    ]),
  ];
  const bindings = [
    clusterRoleBinding('cluster-admin', 'cluster-admin', [group('system:masters')]),
    clusterRoleBinding('system:basic-user', 'system:basic-user', [group('system:authenticated')]),
    clusterRoleBinding('system:discovery', 'system:discovery', [group('system:authenticated')]),
    clusterRoleBinding('system:monitoring', 'system:monitoring', [group('system:monitoring')]),
    clusterRoleBinding('system:public-info-viewer', 'system:public-info-viewer', [group('system:authenticated'), group('system:unauthenticated')]),
    clusterRoleBinding('system:service-account-issuer-discovery', 'system:service-account-issuer-discovery', [group('system:serviceaccounts')]),
  ];
  return [...aggregateAll(roles), ...bindings];
}

// ---- aggregation -------------------------------------------------------------------------------

type Obj = Record<string, any>;

function selects(sel: Obj, labels: Record<string, string> | undefined): boolean {
  try {
    return labelSelectorFromObject(sel).matches(labels ?? {});
  } catch {
    return false; // invalid selectors are refused on write; a stored one selects nothing
  }
}

/** The rules an aggregated ClusterRole gets from the roles its selectors pick, deduplicated, in name order. */
export function aggregatedRules(role: Obj, all: Obj[]): Obj[] {
  const rules: Obj[] = [];
  const seen = new Set<string>();
  const sources = all
    .filter((r) => r.metadata.name !== role.metadata.name && (role.aggregationRule?.clusterRoleSelectors ?? []).some((s: Obj) => selects(s, r.metadata.labels)))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const src of sources) {
    for (const r of src.rules ?? []) {
      const k = JSON.stringify(r);
      if (!seen.has(k)) {
        seen.add(k);
        rules.push(r);
      }
    }
  }
  return rules;
}

/** Fills every aggregated role in a set until nothing changes (chains such as view → edit → admin). */
function aggregateAll(roles: Obj[]): Obj[] {
  for (let changed = true, rounds = 0; changed && rounds < 10; rounds++) {
    changed = false;
    for (const r of roles) {
      if (!r.aggregationRule) continue;
      const next = aggregatedRules(r, roles);
      if (JSON.stringify(next) !== JSON.stringify(r.rules)) {
        r.rules = next;
        changed = true;
      }
    }
  }
  return roles;
}
