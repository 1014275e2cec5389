// OpenAPI v3, one document per group-version, built from ResourceDefinitions so built-in kinds and CRDs are
// published the same way. kubectl 1.32 reads it for three things:
//   - validation: a PATCH operation whose x-kubernetes-group-version-kind (object form) matches the kind and that
//     lists an inline fieldValidation parameter makes it send ?fieldValidation=Strict;
//   - the patch type of apply/edit: strategic merge is sent only if the PATCH operation offers that media type;
//   - explain: components.schemas entries carrying x-kubernetes-group-version-kind (list form), followed through
//     allOf/$ref for metadata.
// Paths, operation ids, tags and model names follow kube-apiserver and the apiextensions OpenAPI builder.

import { createHash } from 'node:crypto';
import type { JSONSchema, ResourceDefinition } from './resource.ts';
import { LIST_META_PROPERTY, META, META_SCHEMAS, OBJECT_META_PROPERTY, ref, TYPE_META_PROPERTIES } from './schema/meta.ts';

export function buildOpenAPIv3(gvPath: string, defs: ResourceDefinition[]): object {
  const paths: Record<string, object> = {};
  const schemas: Record<string, JSONSchema> = { ...META_SCHEMAS };
  for (const def of defs) {
    const kindModel = modelName(def, def.kind);
    const listModel = modelName(def, def.listKind);
    schemas[kindModel] = kindSchema(def);
    schemas[listModel] = listSchema(def, kindModel);
    Object.assign(paths, resourcePaths(`/${gvPath}`, def, kindModel, listModel));
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'unversioned' }, paths, components: { schemas } };
}

/** The hash in /openapi/v3 URLs and ETags: SHA-512 of the served bytes (JSON.stringify of a document), upper hex. */
export function openAPIHash(doc: object | string): string {
  return createHash('sha512')
    .update(typeof doc === 'string' ? doc : JSON.stringify(doc))
    .digest('hex')
    .toUpperCase();
}

/** The /openapi/v3 discovery document for documents keyed by gvPath ("api/v1", "apis/<group>/<version>"). */
export function openAPIv3Index(docs: Map<string, object>): { paths: Record<string, { serverRelativeURL: string }> } {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [gv, doc] of docs) paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${openAPIHash(doc)}` };
  return { paths };
}

// ---- model names ---------------------------------------------------------------------------------

// Built-in groups are named after the Go packages that define them; other groups by reversed domain.
const GO_PACKAGES: Record<string, string> = {
  'apiextensions.k8s.io': 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions',
  'apiregistration.k8s.io': 'io.k8s.kube-aggregator.pkg.apis.apiregistration',
};

function modelName(def: Pick<ResourceDefinition, 'group' | 'version' | 'crdName'>, kind: string): string {
  const { group, version } = def;
  const builtin = !def.crdName && (!group || !group.includes('.') || group.endsWith('.k8s.io'));
  if (!builtin) return `${group.split('.').reverse().join('.')}.${version}.${kind}`;
  const pkg = GO_PACKAGES[group] ?? `io.k8s.api.${group ? group.split('.')[0] : 'core'}`;
  return `${pkg}.${version}.${kind}`;
}

// ---- schemas ---------------------------------------------------------------------------------------

function gvk(def: ResourceDefinition, kind: string) {
  return { group: def.group, kind, version: def.version };
}

function kindSchema(def: ResourceDefinition): JSONSchema {
  const s: JSONSchema = def.schema ? structuredClone(def.schema) : { type: 'object' };
  s.properties = { ...s.properties, ...TYPE_META_PROPERTIES, metadata: OBJECT_META_PROPERTY };
  addEmbeddedMeta(s);
  s['x-kubernetes-group-version-kind'] = [gvk(def, def.kind)];
  return s;
}

// Objects marked x-kubernetes-embedded-resource are full objects: give them TypeMeta and ObjectMeta too.
function addEmbeddedMeta(s: JSONSchema): void {
  for (const p of Object.values(s.properties ?? {})) addEmbeddedMeta(p as JSONSchema);
  if (s.items && typeof s.items === 'object') addEmbeddedMeta(s.items);
  if (s.additionalProperties && typeof s.additionalProperties === 'object') addEmbeddedMeta(s.additionalProperties);
  if (s['x-kubernetes-embedded-resource'] !== true) return;
  s.properties = { ...s.properties, ...TYPE_META_PROPERTIES, metadata: OBJECT_META_PROPERTY };
  const req: string[] = Array.isArray(s.required) ? s.required : [];
  s.required = [...req, ...['kind', 'apiVersion'].filter((k) => !req.includes(k))];
}

function listSchema(def: ResourceDefinition, kindModel: string): JSONSchema {
  return {
    type: 'object',
    description: `${def.listKind} is a list of ${def.kind}`,
    required: ['items'],
    properties: {
      ...TYPE_META_PROPERTIES,
      items: { type: 'array', description: `List of ${def.resource}.`, items: ref(kindModel) },
      metadata: LIST_META_PROPERTY,
    },
    'x-kubernetes-group-version-kind': [gvk(def, def.listKind)],
  };
}

// ---- paths ----------------------------------------------------------------------------------------

type Action = 'list' | 'post' | 'deletecollection' | 'get' | 'put' | 'delete' | 'patch';

// The Kubernetes verb each action needs, and the operation-id verb it is named with.
const ACTIONS: Record<Action, { verb: string; op: string }> = {
  list: { verb: 'list', op: 'list' },
  post: { verb: 'create', op: 'create' },
  deletecollection: { verb: 'deletecollection', op: 'deletecollection' },
  get: { verb: 'get', op: 'read' },
  put: { verb: 'update', op: 'replace' },
  delete: { verb: 'delete', op: 'delete' },
  patch: { verb: 'patch', op: 'patch' },
};
const METHODS: Record<Action, string> = { list: 'get', post: 'post', deletecollection: 'delete', get: 'get', put: 'put', delete: 'delete', patch: 'patch' };

const query = (name: string, type: string, description: string) => ({ name, in: 'query', description, schema: { type, uniqueItems: true } });

const P = {
  pretty: query('pretty', 'string', "If 'true', the output is pretty printed."),
  dryRun: query(
    'dryRun',
    'string',
    'When present, modifications are not persisted. The only valid value is All: every stage of the request runs, nothing is stored.',
  ),
  fieldManager: query('fieldManager', 'string', 'The name of the actor making the change, recorded in managedFields. Required for apply patches.'),
  fieldValidation: query(
    'fieldValidation',
    'string',
    'How unknown and duplicate fields in the body are handled: Ignore (drop them), Warn (drop them and return a warning per field; the default) or Strict (fail the request).',
  ),
  force: query('force', 'boolean', 'Apply patches only: take ownership of fields that other managers own instead of failing with a conflict.'),
  allowWatchBookmarks: query('allowWatchBookmarks', 'boolean', 'Watch only: ask for BOOKMARK events that carry just a resourceVersion.'),
  continue: query('continue', 'string', 'The continue token of the previous page of a paginated list.'),
  fieldSelector: query('fieldSelector', 'string', 'Restricts the result to objects whose fields match, e.g. metadata.name=foo.'),
  labelSelector: query('labelSelector', 'string', 'Restricts the result to objects whose labels match.'),
  limit: query('limit', 'integer', 'The maximum number of items to return; a continue token is returned when more exist.'),
  resourceVersion: query('resourceVersion', 'string', 'Which version of the data to read or watch from; see resourceVersionMatch.'),
  resourceVersionMatch: query('resourceVersionMatch', 'string', 'How resourceVersion applies to a list: Exact or NotOlderThan.'),
  sendInitialEvents: query('sendInitialEvents', 'boolean', 'Watch only: start with synthetic ADDED events for the current state, ended by a bookmark.'),
  timeoutSeconds: query('timeoutSeconds', 'integer', 'Time limit for a list or watch call.'),
  watch: query('watch', 'boolean', 'Watch for changes and stream them as events instead of returning a list.'),
  gracePeriodSeconds: query('gracePeriodSeconds', 'integer', 'Seconds before the object is deleted; zero deletes immediately.'),
  orphanDependents: query('orphanDependents', 'boolean', 'Deprecated: use propagationPolicy. Whether dependents are orphaned.'),
  propagationPolicy: query('propagationPolicy', 'string', 'How dependents are garbage collected: Orphan, Background or Foreground.'),
};

const LIST_PARAMS = [
  P.allowWatchBookmarks,
  P.continue,
  P.fieldSelector,
  P.labelSelector,
  P.limit,
  P.resourceVersion,
  P.resourceVersionMatch,
  P.sendInitialEvents,
  P.timeoutSeconds,
  P.watch,
];
const WRITE_PARAMS = [P.dryRun, P.fieldManager, P.fieldValidation];
// Inline parameter objects: kubectl's query parameter verifier reads their names directly.
const PARAMS: Record<Action, object[]> = {
  list: LIST_PARAMS,
  post: WRITE_PARAMS,
  deletecollection: [
    P.continue,
    P.dryRun,
    P.fieldSelector,
    P.gracePeriodSeconds,
    P.labelSelector,
    P.limit,
    P.orphanDependents,
    P.propagationPolicy,
    P.resourceVersion,
    P.resourceVersionMatch,
    P.sendInitialEvents,
    P.timeoutSeconds,
  ],
  get: [],
  put: WRITE_PARAMS,
  delete: [P.dryRun, P.gracePeriodSeconds, P.orphanDependents, P.propagationPolicy],
  patch: [...WRITE_PARAMS, P.force],
};

const PATCH_TYPES = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'];

function resourcePaths(prefix: string, def: ResourceDefinition, kindModel: string, listModel: string): Record<string, object> {
  const paths: Record<string, object> = {};
  const add = (path: string, actions: Action[], sub = '', allNamespaces = false) => {
    const ops: Record<string, object> = {};
    for (const a of actions) if (def.verbs.includes(ACTIONS[a].verb)) ops[METHODS[a]] = operation(def, a, sub, allNamespaces, kindModel, listModel);
    if (!Object.keys(ops).length) return;
    const params: object[] = [];
    if (path.includes('{name}'))
      params.push({ name: 'name', in: 'path', required: true, description: `name of the ${def.kind}`, schema: { type: 'string', uniqueItems: true } });
    if (path.includes('{namespace}'))
      params.push({
        name: 'namespace',
        in: 'path',
        required: true,
        description: 'object name and auth scope, such as for teams and projects',
        schema: { type: 'string', uniqueItems: true },
      });
    params.push(P.pretty);
    paths[path] = { ...ops, parameters: params };
  };
  let collection = `${prefix}/${def.resource}`;
  if (def.namespaced) {
    add(collection, ['list'], '', true);
    collection = `${prefix}/namespaces/{namespace}/${def.resource}`;
  }
  add(collection, ['list', 'post', 'deletecollection']);
  add(`${collection}/{name}`, ['get', 'put', 'delete', 'patch']);
  if (def.subresources.status) add(`${collection}/{name}/status`, ['get', 'put', 'patch'], 'status');
  return paths;
}

const isVowel = (c: string) => 'aeiouAEIOU'.includes(c);

function description(def: ResourceDefinition, a: Action, sub: string): string {
  const of = sub ? ` ${sub} of` : '';
  switch (a) {
    case 'list':
      return `list${of} objects of kind ${def.kind}`;
    case 'get':
      return `read${of} the specified ${def.kind}`;
    case 'put':
      return `replace${of} the specified ${def.kind}`;
    case 'patch':
      return `partially update${of} the specified ${def.kind}`;
    case 'deletecollection':
      return `delete collection of ${def.kind}`;
    default:
      return `${a === 'post' ? 'create' : 'delete'}${of} ${isVowel(def.kind[0]) ? 'an' : 'a'} ${def.kind}`;
  }
}

/** Like ToValidOperationID: drops non-identifier characters and capitalizes what follows them. */
function identifier(s: string, capitalizeFirst: boolean): string {
  let out = '';
  let cap = capitalizeFirst;
  [...s].forEach((ch, i) => {
    if (/\p{L}|_/u.test(ch) || (i > 0 && /\p{Nd}/u.test(ch))) {
      out += cap ? ch.toUpperCase() : ch;
      cap = false;
    } else cap = true;
  });
  return out;
}

// GetOperationIDAndTags: the operation verb, then the group (without .k8s.io; core for /api) and version.
function operationIdAndTag(def: ResourceDefinition, a: Action, sub: string, allNamespaces: boolean): [string, string] {
  const group = (def.group || 'core').replace(/\.k8s\.io$/, '');
  const verb = a === 'deletecollection' ? 'delete' : ACTIONS[a].op;
  const rest = `${a === 'deletecollection' ? 'Collection' : ''}${def.namespaced && !allNamespaces ? 'Namespaced' : ''}${def.kind}${sub ? identifier(sub, true) : ''}${allNamespaces ? 'ForAllNamespaces' : ''}`;
  return [`${verb}${identifier(group, true)}${identifier(def.version, true)}${rest}`, `${identifier(group, false)}_${identifier(def.version, false)}`];
}

function operation(def: ResourceDefinition, a: Action, sub: string, allNamespaces: boolean, kindModel: string, listModel: string): object {
  const [operationId, tag] = operationIdAndTag(def, a, sub, allNamespaces);
  const body = (schema: object, types = ['*/*']) => ({ content: Object.fromEntries(types.map((t) => [t, { schema }])), required: true });
  const reply = (schema: object, description: string) => ({ description, content: { 'application/json': { schema }, 'application/yaml': { schema } } });
  const status = ref(`${META}.Status`);
  const kind = ref(kindModel);
  const op: Record<string, unknown> = { tags: [tag], description: description(def, a, sub), operationId, parameters: PARAMS[a] };
  switch (a) {
    case 'list':
      op.responses = { '200': reply(ref(listModel), 'OK') };
      break;
    case 'post':
      op.requestBody = body(kind);
      op.responses = { '200': reply(kind, 'OK'), '201': reply(kind, 'Created'), '202': reply(kind, 'Accepted') };
      break;
    case 'put':
      op.requestBody = body(kind);
      op.responses = { '200': reply(kind, 'OK'), '201': reply(kind, 'Created') };
      break;
    case 'get':
      op.responses = { '200': reply(kind, 'OK') };
      break;
    case 'patch': {
      const types = def.strategicMergePatch ? [...PATCH_TYPES, 'application/strategic-merge-patch+json'] : PATCH_TYPES;
      op.requestBody = body(ref(`${META}.Patch`), types);
      op.responses = { '200': reply(kind, 'OK'), '201': reply(kind, 'Created') };
      break;
    }
    case 'delete':
    case 'deletecollection': {
      op.requestBody = { content: { '*/*': { schema: ref(`${META}.DeleteOptions`) } } };
      const deleted = a === 'delete' && def.deleteReturnsObject ? kind : status;
      op.responses = { '200': reply(deleted, 'OK'), ...(a === 'delete' ? { '202': reply(deleted, 'Accepted') } : {}) };
      break;
    }
  }
  (op.responses as Record<string, object>)['401'] = { description: 'Unauthorized' };
  op['x-kubernetes-action'] = a;
  op['x-kubernetes-group-version-kind'] = gvk(def, def.kind);
  return op;
}
