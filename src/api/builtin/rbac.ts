// rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding, ClusterRoleBinding: schemas, kubectl's
// columns, defaulting and validation (pkg/apis/rbac/validation), roleRef immutability, and escalation
// prevention as an admission hook that asks the server's RBAC authorizer about the requesting user.

import type { KObject, ResourceDefinition, Strategy, TableColumn } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { goQuote, isValidPathSegmentName } from '../../apiserver/validation.ts';
import { labelSelectorFromObject } from '../../apiserver/selectors.ts';
import { RBAC_GROUP } from '../../apiserver/auth/types.ts';
import { AGE_COLUMN, STANDARD_VERBS, isObject } from './common.ts';
import { kindSchema, labelSelector, list, obj, str } from './dsl.ts';
import { invalid, notSupported, required, dns1123Subdomain } from './validation.ts';

const strings = (description: string) => list(str(), description, { type: 'atomic' });

const PolicyRule = obj(
  'One permission: verbs on resources (optionally by name) in API groups, or on non-resource URLs.',
  {
    verbs: strings('Verbs allowed, e.g. get, list, create; "*" means all.'),
    apiGroups: strings('API groups of the resources; "" is the core group, "*" all groups.'),
    resources: strings('Resources, "pods/log" for a subresource, "*" for all, "*/scale" for a subresource of all.'),
    resourceNames: strings('Object names the rule is restricted to; empty means all.'),
    nonResourceURLs: strings('URL paths (a trailing "*" is a prefix match); only in ClusterRoles bound cluster-wide.'),
  },
  { required: ['verbs'] },
);

const rules = list(PolicyRule, 'The permissions the role grants.', { type: 'atomic' });

const Subject = obj(
  'Who a binding grants the role to: a User, a Group or a ServiceAccount.',
  {
    kind: str('User, Group or ServiceAccount.'),
    apiGroup: str('rbac.authorization.k8s.io for User and Group, "" for ServiceAccount.'),
    name: str('Name of the user, group or service account.'),
    namespace: str("Namespace of a ServiceAccount subject (defaults to the binding's namespace in a RoleBinding)."),
  },
  { required: ['kind', 'name'], atomic: true },
);

const RoleRef = obj(
  'The role a binding grants; cannot change after creation.',
  {
    apiGroup: str('Group of the role: rbac.authorization.k8s.io.'),
    kind: str('Role or ClusterRole.'),
    name: str('Name of the role.'),
  },
  { required: ['apiGroup', 'kind', 'name'], atomic: true },
);

const bindingSchema = (description: string) =>
  kindSchema(
    description,
    {
      subjects: list(Subject, 'Who is granted the role.', { type: 'atomic' }),
      roleRef: RoleRef,
    },
    { required: ['roleRef'] },
  );

// ---- validation ----------------------------------------------------------------------------------

const arr = (v: unknown): any[] => (Array.isArray(v) ? v : []);

function validateRules(list: unknown, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  arr(list).forEach((r, i) => {
    const p = `rules[${i}]`;
    if (!arr(r?.verbs).length) errs.push(required(`${p}.verbs`, 'verbs must contain at least one value'));
    if (arr(r?.nonResourceURLs).length) {
      if (namespaced) errs.push(invalid(`${p}.nonResourceURLs`, r.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'));
      if (arr(r.apiGroups).length || arr(r.resources).length || arr(r.resourceNames).length) {
        errs.push(invalid(`${p}.nonResourceURLs`, r.nonResourceURLs, 'rules cannot apply to both regular resources and non-resource URLs'));
      }
      return;
    }
    if (!arr(r?.apiGroups).length) errs.push(required(`${p}.apiGroups`, 'resource rules must supply at least one api group'));
    if (!arr(r?.resources).length) errs.push(required(`${p}.resources`, 'resource rules must supply at least one resource'));
  });
  return errs;
}

function validateAggregationRule(role: KObject): FieldError[] {
  const rule = role.aggregationRule;
  if (rule === undefined || rule === null) return [];
  const selectors = arr(rule.clusterRoleSelectors);
  if (!selectors.length) return [required('aggregationRule.clusterRoleSelectors', 'at least one clusterRoleSelector required if aggregationRule is non-nil')];
  const errs: FieldError[] = [];
  selectors.forEach((s, i) => {
    try {
      labelSelectorFromObject(s);
    } catch (e) {
      errs.push(invalid(`aggregationRule.clusterRoleSelectors[${i}]`, s, (e as Error).message));
    }
  });
  return errs;
}

/**
 * SetDefaults_Subject / SetDefaults_RoleBinding: fill the apiGroups kubectl and users leave out. A subject's
 * apiGroup is omitempty in kube, so a ServiceAccount's (always "") is never written out.
 */
function defaultBinding(b: KObject): void {
  if (isObject(b.roleRef) && !b.roleRef.apiGroup) b.roleRef.apiGroup = RBAC_GROUP;
  for (const s of arr(b.subjects)) {
    if (!isObject(s)) continue;
    if (!s.apiGroup && (s.kind === 'User' || s.kind === 'Group')) s.apiGroup = RBAC_GROUP;
    if (s.apiGroup === '' || s.apiGroup === null) delete s.apiGroup;
  }
}

function validateBinding(b: KObject, old: KObject | undefined, cluster: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const ref = isObject(b.roleRef) ? b.roleRef : {};
  if (ref.apiGroup !== RBAC_GROUP) errs.push(notSupported('roleRef.apiGroup', ref.apiGroup ?? '', [RBAC_GROUP]));
  const kinds = cluster ? ['ClusterRole'] : ['Role', 'ClusterRole'];
  if (!kinds.includes(ref.kind)) errs.push(notSupported('roleRef.kind', ref.kind ?? '', kinds));
  if (!ref.name) errs.push(required('roleRef.name'));
  else for (const m of isValidPathSegmentName(ref.name)) errs.push(invalid('roleRef.name', ref.name, m));
  arr(b.subjects).forEach((s, i) => {
    const p = `subjects[${i}]`;
    if (!s?.name) errs.push(required(`${p}.name`));
    switch (s?.kind) {
      case 'ServiceAccount':
        if (s.name) for (const m of dns1123Subdomain(s.name)) errs.push(invalid(`${p}.name`, s.name, m));
        if (s.apiGroup) errs.push(notSupported(`${p}.apiGroup`, s.apiGroup, ['']));
        if (cluster && !s.namespace) errs.push(required(`${p}.namespace`));
        break;
      case 'User':
      case 'Group':
        if (s.apiGroup !== RBAC_GROUP) errs.push(notSupported(`${p}.apiGroup`, s.apiGroup ?? '', [RBAC_GROUP]));
        break;
      default:
        errs.push(notSupported(`${p}.kind`, s?.kind ?? '', ['ServiceAccount', 'User', 'Group']));
    }
  });
  if (old && JSON.stringify(roleRefOf(old)) !== JSON.stringify(roleRefOf(b))) {
    const r = roleRefOf(b);
    errs.push({
      type: 'FieldValueInvalid',
      field: 'roleRef',
      detail: `Invalid value: rbac.RoleRef{APIGroup:${goQuote(r.apiGroup)}, Kind:${goQuote(r.kind)}, Name:${goQuote(r.name)}}: cannot change roleRef`,
    });
  }
  return errs;
}

const roleRefOf = (b: KObject) => ({ apiGroup: String(b.roleRef?.apiGroup ?? ''), kind: String(b.roleRef?.kind ?? ''), name: String(b.roleRef?.name ?? '') });

// ---- columns (kubectl's printers) ----------------------------------------------------------------

function subjectNames(o: KObject, kind: string): string {
  return arr(o.subjects)
    .filter((s) => s?.kind === kind)
    .map((s) => (kind === 'ServiceAccount' && s.namespace ? `${s.namespace}/${s.name}` : s.name))
    .join(', ');
}

const BINDING_COLUMNS: TableColumn[] = [
  { name: 'Role', type: 'string', description: 'Role referenced by this binding.', cell: (o) => `${o.roleRef?.kind ?? ''}/${o.roleRef?.name ?? ''}` },
  AGE_COLUMN,
  { name: 'Users', type: 'string', priority: 1, description: 'Users in the binding.', cell: (o) => subjectNames(o, 'User') },
  { name: 'Groups', type: 'string', priority: 1, description: 'Groups in the binding.', cell: (o) => subjectNames(o, 'Group') },
  { name: 'ServiceAccounts', type: 'string', priority: 1, description: 'ServiceAccounts in the binding.', cell: (o) => subjectNames(o, 'ServiceAccount') },
];

// ---- definitions -----------------------------------------------------------------------------------

const common = {
  group: RBAC_GROUP,
  version: 'v1',
  verbs: STANDARD_VERBS,
  nameRule: 'path' as const,
  unknownFields: 'prune' as const,
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  deleteReturnsObject: false,
};

const roleStrategy = (namespaced: boolean): Strategy => ({
  validate: (role) => [...validateRules(role.rules, namespaced), ...(namespaced ? [] : validateAggregationRule(role))],
  admit: (role, old, ctx) => ctx.security?.checkRoleEscalation(ctx.user!, role, old),
});

const bindingStrategy = (cluster: boolean): Strategy => ({
  prepareForCreate: defaultBinding,
  prepareForUpdate: defaultBinding,
  validate: (b, old) => validateBinding(b, old, cluster),
  admit: (b, old, ctx) => ctx.security?.checkBindingEscalation(ctx.user!, b, old),
});

export const roles: ResourceDefinition = {
  ...common,
  resource: 'roles',
  singular: 'role',
  kind: 'Role',
  listKind: 'RoleList',
  namespaced: true,
  schema: kindSchema('A namespaced set of permissions, granted by RoleBindings in its namespace.', { rules }),
  columns: [],
  strategy: roleStrategy(true),
};

export const clusterroles: ResourceDefinition = {
  ...common,
  resource: 'clusterroles',
  singular: 'clusterrole',
  kind: 'ClusterRole',
  listKind: 'ClusterRoleList',
  namespaced: false,
  schema: kindSchema('A cluster-wide set of permissions, granted by ClusterRoleBindings, or by RoleBindings within a namespace.', {
    rules,
    aggregationRule: obj('When set, the rules are managed by the controller: the union of the ClusterRoles the selectors pick.', {
      clusterRoleSelectors: list(labelSelector(), 'Selectors of the ClusterRoles to aggregate.', { type: 'atomic' }),
    }),
  }),
  columns: [],
  strategy: roleStrategy(false),
};

export const rolebindings: ResourceDefinition = {
  ...common,
  resource: 'rolebindings',
  singular: 'rolebinding',
  kind: 'RoleBinding',
  listKind: 'RoleBindingList',
  namespaced: true,
  schema: bindingSchema('Grants the permissions of a Role or ClusterRole to subjects within one namespace.'),
  columns: BINDING_COLUMNS,
  strategy: bindingStrategy(false),
};

export const clusterrolebindings: ResourceDefinition = {
  ...common,
  resource: 'clusterrolebindings',
  singular: 'clusterrolebinding',
  kind: 'ClusterRoleBinding',
  listKind: 'ClusterRoleBindingList',
  namespaced: false,
  schema: bindingSchema('Grants the permissions of a ClusterRole to subjects in every namespace.'),
  columns: BINDING_COLUMNS,
  strategy: bindingStrategy(true),
};

export const rbacResources = [roles, clusterroles, rolebindings, clusterrolebindings];
