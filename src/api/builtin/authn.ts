// The create-only virtual kinds of authentication.k8s.io/v1 (SelfSubjectReview, TokenReview) and
// authorization.k8s.io/v1 (SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
// LocalSubjectAccessReview), answered from the server's security services and never stored; and the
// serviceaccounts/token subresource (TokenRequest) that issues ServiceAccount tokens.

import type { ActionSubresource, KObject, RequestContext, ResourceDefinition } from '../../apiserver/resource.ts';
import { StatusError, badRequest, invalid as invalidStatus, type FieldError } from '../../apiserver/errors.ts';
import type { Attributes, SecurityServices, UserInfo } from '../../apiserver/auth/types.ts';
import { isObject } from './common.ts';
import { bool, kindSchema, list, obj, str } from './dsl.ts';
import { invalid, required } from './validation.ts';

const AUTHN = 'authentication.k8s.io';
const AUTHZ = 'authorization.k8s.io';

const strings = (description: string) => list(str(), description, { type: 'atomic' });
const extraMap = (description: string) => ({ type: 'object', description, additionalProperties: strings('Values.') });

const UserInfoSchema = obj('An authenticated identity.', {
  username: str('The name that uniquely identifies the user.'),
  uid: str('A unique value that identifies the user across time.'),
  groups: strings('The groups the user belongs to.'),
  extra: extraMap('Additional information provided by the authenticator.'),
});

const ResourceAttributes = obj('A resource request, as the authorizer sees it.', {
  namespace: str('Namespace of the action; "" means all namespaces for namespaced resources.'),
  verb: str('Kubernetes verb (get, list, watch, create, update, patch, delete, ...) or "*".'),
  group: str('API group of the resource; "*" means all.'),
  version: str('API version of the resource; "*" means all.'),
  resource: str('Resource, e.g. pods; "*" means all.'),
  subresource: str('Subresource, e.g. log; "" means none.'),
  name: str('Name of the object; "" means all.'),
});

const NonResourceAttributes = obj('A non-resource request, as the authorizer sees it.', {
  path: str('URL path of the request.'),
  verb: str('HTTP verb in lower case.'),
});

const AccessReviewStatus = obj(
  'The decision.',
  {
    allowed: bool('Whether the action is allowed.'),
    denied: bool('Whether the action is explicitly denied (allowed is then false).'),
    reason: str('Why the action is allowed or denied.'),
    evaluationError: str('An error that occurred during the evaluation; the decision may be incomplete.'),
  },
  { required: ['allowed'] },
);

const createOnly = (
  group: string,
  resource: string,
  singular: string,
  kind: string,
  namespaced: boolean,
  description: string,
  spec: KObject,
  status: KObject,
  handler: NonNullable<NonNullable<ResourceDefinition['strategy']>['createHandler']>,
): ResourceDefinition => ({
  group,
  version: 'v1',
  resource,
  singular,
  kind,
  listKind: `${kind}List`,
  namespaced,
  verbs: ['create'],
  schema: kindSchema(description, { spec, status }, { required: resource === 'selfsubjectreviews' ? [] : ['spec'] }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: [],
  deleteReturnsObject: false,
  strategy: { createHandler: handler },
});

// ---- shared helpers --------------------------------------------------------------------------------

function services(ctx: RequestContext): { user: UserInfo; security: SecurityServices } {
  if (!ctx.user || !ctx.security) throw new StatusError(500, 'InternalError', 'Internal error occurred: no user on the request');
  return { user: ctx.user, security: ctx.security };
}

function refuse(kind: string, group: string, o: KObject, errs: FieldError[]): void {
  if (errs.length) throw invalidStatus(kind, group, o.metadata?.name ?? '', errs);
}

/** Exactly one of resourceAttributes / nonResourceAttributes (ValidateSubjectAccessReviewSpec). */
function attributeErrors(spec: KObject): FieldError[] {
  if (spec.resourceAttributes && spec.nonResourceAttributes)
    return [invalid('spec.nonResourceAttributes', spec.nonResourceAttributes, 'cannot be specified in combination with resourceAttributes')];
  if (!spec.resourceAttributes && !spec.nonResourceAttributes)
    return [required('spec.resourceAttributes', 'exactly one of nonResourceAttributes or resourceAttributes must be specified')];
  return [];
}

function attributesOf(spec: KObject, user: UserInfo): Attributes {
  if (isObject(spec.nonResourceAttributes)) {
    return { user, verb: spec.nonResourceAttributes.verb ?? '', resourceRequest: false, path: spec.nonResourceAttributes.path ?? '' };
  }
  const r = isObject(spec.resourceAttributes) ? spec.resourceAttributes : {};
  return {
    user,
    verb: r.verb ?? '',
    resourceRequest: true,
    apiGroup: r.group ?? '',
    apiVersion: r.version ?? '',
    resource: r.resource ?? '',
    subresource: r.subresource || undefined,
    name: r.name || undefined,
    namespace: r.namespace || undefined,
  };
}

function decide(o: KObject, security: SecurityServices, attrs: Attributes): KObject {
  const d = security.authorize(attrs);
  o.status = { allowed: d.allowed };
  if (d.reason) o.status.reason = d.reason;
  return o;
}

/** The subject of a SubjectAccessReview spec. */
function specUser(spec: KObject): UserInfo {
  const u: UserInfo = { username: spec.user ?? '', groups: Array.isArray(spec.groups) ? spec.groups : [] };
  if (spec.uid) u.uid = spec.uid;
  if (isObject(spec.extra)) u.extra = spec.extra;
  return u;
}

const userInfoOut = (u: UserInfo): KObject => {
  const out: KObject = { username: u.username, groups: u.groups };
  if (u.uid) out.uid = u.uid;
  if (u.extra && Object.keys(u.extra).length) out.extra = u.extra;
  return out;
};

// ---- authorization.k8s.io --------------------------------------------------------------------------

export const selfsubjectaccessreviews = createOnly(
  AUTHZ,
  'selfsubjectaccessreviews',
  'selfsubjectaccessreview',
  'SelfSubjectAccessReview',
  false,
  'Asks whether the current user can perform an action.',
  obj('The action to check.', { resourceAttributes: ResourceAttributes, nonResourceAttributes: NonResourceAttributes }),
  AccessReviewStatus,
  async (o, ctx) => {
    const { user, security } = services(ctx);
    const spec = isObject(o.spec) ? o.spec : {};
    refuse('SelfSubjectAccessReview', AUTHZ, o, attributeErrors(spec));
    return decide(o, security, attributesOf(spec, user));
  },
);

const subjectSpec = obj('The action to check and the user to check it for.', {
  resourceAttributes: ResourceAttributes,
  nonResourceAttributes: NonResourceAttributes,
  user: str('The user to check.'),
  groups: strings('The groups of the user.'),
  extra: extraMap('Extra attributes of the user.'),
  uid: str('UID of the user.'),
});

export const subjectaccessreviews = createOnly(
  AUTHZ,
  'subjectaccessreviews',
  'subjectaccessreview',
  'SubjectAccessReview',
  false,
  'Asks whether a given user can perform an action.',
  subjectSpec,
  AccessReviewStatus,
  async (o, ctx) => {
    const { security } = services(ctx);
    const spec = isObject(o.spec) ? o.spec : {};
    const errs = attributeErrors(spec);
    if (!spec.user && !(Array.isArray(spec.groups) && spec.groups.length))
      errs.push(invalid('spec.user', spec.user ?? '', 'at least one of user or group must be specified'));
    refuse('SubjectAccessReview', AUTHZ, o, errs);
    return decide(o, security, attributesOf(spec, specUser(spec)));
  },
);

export const localsubjectaccessreviews = createOnly(
  AUTHZ,
  'localsubjectaccessreviews',
  'localsubjectaccessreview',
  'LocalSubjectAccessReview',
  true,
  'Asks whether a given user can perform an action in one namespace.',
  subjectSpec,
  AccessReviewStatus,
  async (o, ctx) => {
    const { security } = services(ctx);
    const spec = isObject(o.spec) ? o.spec : {};
    const ns = o.metadata.namespace;
    const errs = attributeErrors(spec);
    if (!spec.user && !(Array.isArray(spec.groups) && spec.groups.length))
      errs.push(invalid('spec.user', spec.user ?? '', 'at least one of user or group must be specified'));
    if (spec.nonResourceAttributes) errs.push(invalid('spec.nonResourceAttributes', spec.nonResourceAttributes, 'disallowed on this kind of request'));
    refuse('LocalSubjectAccessReview', AUTHZ, o, errs);
    const rns = spec.resourceAttributes?.namespace ?? '';
    if (rns !== ns) throw badRequest(`spec.resourceAttributes.namespace must match namespace: ${ns}`);
    return decide(o, security, attributesOf(spec, specUser(spec)));
  },
);

export const selfsubjectrulesreviews = createOnly(
  AUTHZ,
  'selfsubjectrulesreviews',
  'selfsubjectrulesreview',
  'SelfSubjectRulesReview',
  false,
  'Lists the actions the current user can perform in a namespace.',
  obj('Where to list the rules.', { namespace: str('The namespace to evaluate rules for.') }),
  obj('The rules.', {
    resourceRules: list(
      obj('Allowed actions on resources.', {
        verbs: strings('Verbs.'),
        apiGroups: strings('API groups.'),
        resources: strings('Resources.'),
        resourceNames: strings('Names.'),
      }),
      'Rules on resources.',
      { type: 'atomic' },
    ),
    nonResourceRules: list(
      obj('Allowed actions on URLs.', { verbs: strings('Verbs.'), nonResourceURLs: strings('URL paths.') }),
      'Rules on non-resource URLs.',
      { type: 'atomic' },
    ),
    incomplete: bool('Whether the list is incomplete (some authorizer cannot enumerate its rules).'),
    evaluationError: str('Errors met while evaluating the rules.'),
  }),
  async (o, ctx) => {
    const { user, security } = services(ctx);
    const ns = isObject(o.spec) && typeof o.spec.namespace === 'string' ? o.spec.namespace : '';
    o.status = security.rulesFor(user, ns);
    return o;
  },
);

// ---- authentication.k8s.io ---------------------------------------------------------------------------

export const selfsubjectreviews = createOnly(
  AUTHN,
  'selfsubjectreviews',
  'selfsubjectreview',
  'SelfSubjectReview',
  false,
  'Returns the user attributes the server sees for the current request (kubectl auth whoami).',
  obj('Empty.', {}),
  obj('The user attributes.', { userInfo: UserInfoSchema }),
  async (o, ctx) => {
    const { user } = services(ctx);
    o.status = { userInfo: userInfoOut(user) };
    return o;
  },
);

export const tokenreviews = createOnly(
  AUTHN,
  'tokenreviews',
  'tokenreview',
  'TokenReview',
  false,
  'Authenticates a bearer token and reports the user it belongs to.',
  obj('The token to review.', {
    token: str('The opaque bearer token.'),
    audiences: strings("Audiences the token must be valid for; the API server's own by default."),
  }),
  obj('The result.', {
    authenticated: bool('Whether the token is valid.'),
    user: UserInfoSchema,
    audiences: strings('The audiences the token is valid for.'),
    error: str('Why the token is not valid.'),
  }),
  async (o, ctx) => {
    const { security } = services(ctx);
    const spec = isObject(o.spec) ? o.spec : {};
    if (!spec.token) throw badRequest('token is required for TokenReview in authentication');
    const r = await security.reviewToken(String(spec.token), Array.isArray(spec.audiences) ? spec.audiences : []);
    o.status = { authenticated: r.authenticated };
    if (r.user) o.status.user = userInfoOut(r.user);
    if (r.audiences) o.status.audiences = r.audiences;
    if (r.error) o.status.error = r.error;
    return o;
  },
);

export const reviewResources = [
  selfsubjectaccessreviews,
  selfsubjectrulesreviews,
  subjectaccessreviews,
  localsubjectaccessreviews,
  selfsubjectreviews,
  tokenreviews,
];

// ---- serviceaccounts/token -------------------------------------------------------------------------

const DEFAULT_EXPIRATION = 3600;
const MIN_EXPIRATION = 600;
const MAX_EXPIRATION = 2 ** 32;

/** POST serviceaccounts/<name>/token: issues a signed token for the (existing) service account. */
export const tokenRequest: ActionSubresource = {
  kind: 'TokenRequest',
  group: AUTHN,
  version: 'v1',
  async create(sa, body, ctx) {
    const { security } = services(ctx);
    if (body.kind !== undefined && body.kind !== 'TokenRequest')
      throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (TokenRequest)`);
    const spec = isObject(body.spec) ? body.spec : {};
    const name = sa.metadata.name;
    const errs: FieldError[] = [];
    const exp = spec.expirationSeconds ?? DEFAULT_EXPIRATION;
    if (!Number.isInteger(exp)) errs.push(invalid('spec.expirationSeconds', exp, 'must be an integer'));
    else if (exp < MIN_EXPIRATION) errs.push(invalid('spec.expirationSeconds', exp, 'may not specify a duration less than 10 minutes'));
    else if (exp > MAX_EXPIRATION) errs.push(invalid('spec.expirationSeconds', exp, 'may not specify a duration larger than 2^32 seconds'));
    if (spec.audiences !== undefined && !(Array.isArray(spec.audiences) && spec.audiences.every((a: unknown) => typeof a === 'string')))
      errs.push(invalid('spec.audiences', spec.audiences, 'must be a list of strings'));
    const ref = spec.boundObjectRef;
    if (ref !== undefined && ref !== null && (!isObject(ref) || !ref.kind || !ref.name))
      errs.push(required('spec.boundObjectRef.name', 'kind and name are required'));
    refuse('TokenRequest', AUTHN, { metadata: { name } }, errs);
    const issued = await security.issueServiceAccountToken(sa, {
      audiences: spec.audiences,
      expirationSeconds: exp,
      boundObjectRef: isObject(ref) ? (ref as never) : undefined,
    });
    return {
      kind: 'TokenRequest',
      apiVersion: `${AUTHN}/v1`,
      metadata: { name, namespace: sa.metadata.namespace, creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') },
      spec: { audiences: issued.audiences, expirationSeconds: exp, boundObjectRef: isObject(ref) ? ref : null },
      status: { token: issued.token, expirationTimestamp: issued.expirationTimestamp },
    };
  },
};
