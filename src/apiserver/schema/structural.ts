// CRD-time checks of an openAPIV3Schema, as apiextensions 1.32 runs them for v1 CRDs
// (validateCustomResourceDefinitionValidation):
//   0. with a status subresource, the root may only use keywords that survive extracting properties.status;
//   1. structural invariants and completeness (schema/validation.go, complete.go), sorted like upstream;
//   2. when structural, defaults must be pruned and valid (defaulting/validation.go);
//   3. the OpenAPI rules (ValidateCustomResourceDefinitionOpenAPISchema): forbidden keywords, list/map types...;
//   4. only when nothing else failed, why the schema cannot be made structural at all.

import type { FieldError } from '../errors.ts';
import type { JSONSchema } from '../resource.ts';
import { compile, goRegExp, isSchema } from './compile.ts';
import { validateEmbedded } from './extensions.ts';
import { child, forbidden, goStrings, index, invalid, key, notSupported, required } from './field.ts';
import { pruneValue } from './prune.ts';
import { jsonEqual, validateValue } from './validate.ts';

const OPENAPI_V3_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string'];
const META_FIELDS = new Set(['metadata', 'kind', 'apiVersion']);

/** Errors for schema, the openAPIV3Schema at fieldPath (e.g. "spec.versions[0].schema.openAPIV3Schema"). */
export function validateStructuralSchema(schema: JSONSchema, fieldPath: string, opts: { statusSubresource?: boolean } = {}): FieldError[] {
  const errs = opts.statusSubresource ? statusRootRules(schema, fieldPath) : [];
  if (schema.nullable === true) errs.push(forbidden(child(fieldPath, 'nullable'), 'nullable cannot be true at the root'));
  const notStructural = whyNotStructural(schema);
  if (!notStructural) {
    const structural = [...invariants(schema, 'root', fieldPath), ...completeness(schema, schema, fieldPath, fieldPath)];
    structural.sort((a, b) => cmp(`${a.field}: ${a.detail}`, `${b.field}: ${b.detail}`));
    errs.push(...(structural.length ? structural : validateDefaults(schema, fieldPath)));
  }
  errs.push(...openAPIRules(schema, fieldPath, { allowDefaults: true, insideMeta: false }, true));
  if (!errs.length && notStructural) errs.push(invalid(fieldPath, '', notStructural));
  return errs;
}

// JSONSchemaProps fields in Go declaration order, which decides which violation is reported.
const GO_FIELDS: [string, string][] = [
  ['id', 'ID'],
  ['$schema', 'Schema'],
  ['$ref', 'Ref'],
  ['description', 'Description'],
  ['type', 'Type'],
  ['format', 'Format'],
  ['title', 'Title'],
  ['default', 'Default'],
  ['maximum', 'Maximum'],
  ['exclusiveMaximum', 'ExclusiveMaximum'],
  ['minimum', 'Minimum'],
  ['exclusiveMinimum', 'ExclusiveMinimum'],
  ['maxLength', 'MaxLength'],
  ['minLength', 'MinLength'],
  ['pattern', 'Pattern'],
  ['maxItems', 'MaxItems'],
  ['minItems', 'MinItems'],
  ['uniqueItems', 'UniqueItems'],
  ['multipleOf', 'MultipleOf'],
  ['enum', 'Enum'],
  ['maxProperties', 'MaxProperties'],
  ['minProperties', 'MinProperties'],
  ['required', 'Required'],
  ['items', 'Items'],
  ['allOf', 'AllOf'],
  ['oneOf', 'OneOf'],
  ['anyOf', 'AnyOf'],
  ['not', 'Not'],
  ['properties', 'Properties'],
  ['additionalProperties', 'AdditionalProperties'],
  ['patternProperties', 'PatternProperties'],
  ['dependencies', 'Dependencies'],
  ['additionalItems', 'AdditionalItems'],
  ['definitions', 'Definitions'],
  ['externalDocs', 'ExternalDocs'],
  ['example', 'Example'],
  ['nullable', 'Nullable'],
  ['x-kubernetes-preserve-unknown-fields', 'XPreserveUnknownFields'],
  ['x-kubernetes-embedded-resource', 'XEmbeddedResource'],
  ['x-kubernetes-int-or-string', 'XIntOrString'],
  ['x-kubernetes-list-map-keys', 'XListMapKeys'],
  ['x-kubernetes-list-type', 'XListType'],
  ['x-kubernetes-map-type', 'XMapType'],
  ['x-kubernetes-validations', 'XValidations'],
];
const ALLOWED_AT_STATUS_ROOT = [
  'Description',
  'Type',
  'Format',
  'Title',
  'Maximum',
  'ExclusiveMaximum',
  'Minimum',
  'ExclusiveMinimum',
  'MaxLength',
  'MinLength',
  'Pattern',
  'MaxItems',
  'MinItems',
  'UniqueItems',
  'MultipleOf',
  'Required',
  'Items',
  'Properties',
  'ExternalDocs',
  'Example',
  'XPreserveUnknownFields',
  'XValidations',
];

// Only the first offending keyword is reported.
function statusRootRules(s: JSONSchema, path: string): FieldError[] {
  for (const [k, goName] of GO_FIELDS) {
    if (!isSet(s[k])) continue;
    if (goName === 'Type') {
      if (s.type === 'object') continue;
      return [invalid(child(path, 'type'), s.type, 'only "object" is allowed as the type at the root of the schema if the status subresource is enabled')];
    }
    if (!ALLOWED_AT_STATUS_ROOT.includes(goName)) {
      return [invalid(path, s, `only [${ALLOWED_AT_STATUS_ROOT.join(' ')}] fields are allowed at the root of the schema if the status subresource is enabled`)];
    }
  }
  return [];
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const props = (path: string, k: string) => key(child(path, 'properties'), k);
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const schemaList = (v: unknown): JSONSchema[] => (Array.isArray(v) ? v.filter(isSchema) : []);
const propEntries = (s: JSONSchema): [string, JSONSchema][] =>
  isSchema(s.properties) ? Object.entries(s.properties).filter((e): e is [string, JSONSchema] => isSchema(e[1])) : [];
const nonEmpty = (v: unknown) => (Array.isArray(v) ? v.length > 0 : isSchema(v) ? Object.keys(v).length > 0 : false);

// ---- NewStructural: what cannot be converted at all -------------------------------------------

const UNSUPPORTED: [string, string][] = [
  ['id', 'id'],
  ['$schema', 'schema'],
  ['$ref', '$ref'],
  ['patternProperties', 'patternProperties'],
  ['dependencies', 'dependencies'],
  ['additionalItems', 'additionalItems'],
  ['definitions', 'definitions'],
];

function whyNotStructural(s: JSONSchema): string | undefined {
  for (const [k, name] of UNSUPPORTED) {
    const v = s[k];
    if (v !== undefined && v !== '' && !(isSchema(v) && !Object.keys(v).length)) return `OpenAPIV3Schema '${name}' is not supported`;
  }
  for (const sub of [s.not, ...schemaList(s.allOf), ...schemaList(s.anyOf), ...schemaList(s.oneOf)]) {
    const why = isSchema(sub) && whyNotStructural(sub);
    if (why) return why;
  }
  if (s['x-kubernetes-preserve-unknown-fields'] === false) return "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined";
  if (Array.isArray(s.items)) return "OpenAPIV3Schema 'items' must be a schema, but is an array";
  for (const sub of [s.items, ...propEntries(s).map((e) => e[1]), s.additionalProperties]) {
    const why = isSchema(sub) && whyNotStructural(sub);
    if (why) return why;
  }
  return undefined;
}

// ---- structural invariants ----------------------------------------------------------------------

type Level = 'root' | 'items' | 'field';

const INT_OR_STRING_ANY_OF = [{ type: 'integer' }, { type: 'string' }];
const isIntOrStringAnyOf = (anyOf: unknown) => Array.isArray(anyOf) && jsonEqual(anyOf, INT_OR_STRING_ANY_OF);

function invariants(s: JSONSchema, lvl: Level, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const type = str(s.type);
  const embedded = s['x-kubernetes-embedded-resource'] === true;
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  if (type === 'array' && !isSchema(s.items)) errs.push(required(child(path, 'items'), 'must be specified'));
  if (isSchema(s.items)) errs.push(...invariants(s.items, 'items', child(path, 'items')));
  for (const [k, v] of propEntries(s)) errs.push(...invariants(v, 'field', props(path, k)));
  if (s.additionalProperties !== undefined) {
    if (lvl === 'root') errs.push(forbidden(child(path, 'additionalProperties'), 'must not be used at the root'));
    if (isSchema(s.additionalProperties)) errs.push(...invariants(s.additionalProperties, 'field', child(path, 'additionalProperties')));
  }
  if (intOrString && preserve)
    errs.push(invalid(child(path, 'x-kubernetes-preserve-unknown-fields'), true, 'must be false if x-kubernetes-int-or-string is true'));
  if (intOrString && embedded) errs.push(invalid(child(path, 'x-kubernetes-embedded-resource'), true, 'must be false if x-kubernetes-int-or-string is true'));

  // The two int-or-string idioms (anyOf: [integer, string], possibly as the first allOf) may carry types.
  const allOf = schemaList(s.allOf);
  errs.push(...junctorRules(s, isIntOrStringAnyOf(s.anyOf), allOf.length > 0 && isIntOrStringAnyOf(allOf[0].anyOf), lvl, path));

  if (embedded && type !== 'object') {
    const msg = 'must be object if x-kubernetes-embedded-resource is true';
    errs.push(type ? invalid(child(path, 'type'), type, msg) : required(child(path, 'type'), msg));
  } else if (!type && !intOrString && !preserve) {
    const where = { root: 'at the root', items: 'for specified array items', field: 'for specified object fields' }[lvl];
    errs.push(required(child(path, 'type'), `must not be empty ${where}`));
  }
  if (embedded && s.additionalProperties !== undefined) {
    errs.push(forbidden(child(path, 'additionalProperties'), 'must not be used if x-kubernetes-embedded-resource is set'));
  }
  if (lvl === 'root' && type && type !== 'object') errs.push(invalid(child(path, 'type'), type, 'must be object at the root'));

  const checkMeta = lvl === 'root' || embedded;
  const properties = isSchema(s.properties) ? s.properties : {};
  for (const k of ['kind', 'apiVersion']) {
    if (checkMeta && isSchema(properties[k]) && properties[k].type !== 'string') {
      errs.push(invalid(child(props(path, k), 'type'), str(properties[k].type), 'must be string'));
    }
  }
  if (isSchema(properties.metadata)) errs.push(...metadataRules(properties.metadata, checkMeta, lvl, props(path, 'metadata')));
  if (embedded && !preserve && !nonEmpty(s.properties)) {
    errs.push(required(child(path, 'properties'), 'must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields'));
  }
  return errs;
}

// Keys of a node that are not "metadata is implicitly specified" once type, default and the name/generateName
// properties are taken out (externalDocs and example are not part of the structural schema in 1.32).
const IGNORED_AT_ROOT_METADATA = new Set(['type', 'default', 'externalDocs', 'example']);

function metadataRules(s: JSONSchema, checkMeta: boolean, lvl: Level, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (checkMeta && s.type !== 'object') errs.push(invalid(child(path, 'type'), str(s.type), 'must be object'));
  if (lvl === 'root') {
    const names = Object.keys(isSchema(s.properties) ? s.properties : {});
    const onlyNames = names.every((n) => n === 'name' || n === 'generateName');
    const extra = Object.keys(s).filter((k) => !IGNORED_AT_ROOT_METADATA.has(k) && !(k === 'properties' && onlyNames) && isSet(s[k]));
    if (extra.length) errs.push(forbidden(path, 'must not specify anything other than name and generateName, but metadata is implicitly specified'));
  }
  return errs;
}

// A keyword counts when it differs from its Go zero value.
const isSet = (v: unknown) =>
  v !== undefined && v !== null && v !== false && v !== '' && !(Array.isArray(v) && !v.length) && !(isSchema(v) && !Object.keys(v).length);

function junctorRules(s: JSONSchema, skipAnyOf: boolean, skipFirstAllOfAnyOf: boolean, lvl: Level, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!skipAnyOf) schemaList(s.anyOf).forEach((v, i) => errs.push(...nestedRules(v, false, lvl, index(child(path, 'anyOf'), i))));
  schemaList(s.allOf).forEach((v, i) => errs.push(...nestedRules(v, skipFirstAllOfAnyOf && i === 0, lvl, index(child(path, 'allOf'), i))));
  schemaList(s.oneOf).forEach((v, i) => errs.push(...nestedRules(v, false, lvl, index(child(path, 'oneOf'), i))));
  if (isSchema(s.not)) errs.push(...nestedRules(s.not, false, lvl, child(path, 'not')));
  if (typeof s.pattern === 'string' && s.pattern) {
    try {
      goRegExp(s.pattern);
    } catch (e) {
      errs.push(invalid(child(path, 'pattern'), s.pattern, `must be a valid regular expression, but isn't: ${(e as Error).message}`));
    }
  }
  return errs;
}

// Inside allOf/anyOf/oneOf/not only value validations may appear.
const NESTED_FORBIDDEN: [string, string][] = [
  ['type', 'must be empty to be structural'],
  ['additionalProperties', 'must be undefined to be structural'],
  ['default', 'must be undefined to be structural'],
  ['title', 'must be empty to be structural'],
  ['description', 'must be empty to be structural'],
  ['nullable', 'must be false to be structural'],
  ['x-kubernetes-preserve-unknown-fields', 'must be false to be structural'],
  ['x-kubernetes-embedded-resource', 'must be false to be structural'],
  ['x-kubernetes-int-or-string', 'must be false to be structural'],
  ['x-kubernetes-list-map-keys', 'must be empty to be structural'],
  ['x-kubernetes-list-type', 'must be undefined to be structural'],
  ['x-kubernetes-map-type', 'must be undefined to be structural'],
  ['x-kubernetes-validations', 'must be empty to be structural'],
];

function nestedRules(v: JSONSchema, skipAnyOf: boolean, lvl: Level, path: string): FieldError[] {
  const errs = junctorRules(v, skipAnyOf, false, lvl, path);
  if (isSchema(v.items)) errs.push(...nestedRules(v.items, false, lvl, child(path, 'items')));
  for (const [k, p] of propEntries(v)) errs.push(...nestedRules(p, false, 'field', props(path, k)));
  for (const [k, why] of NESTED_FORBIDDEN) {
    const set =
      k === 'additionalProperties'
        ? v[k] === true || isSchema(v[k])
        : k === 'x-kubernetes-list-type' || k === 'x-kubernetes-map-type'
          ? typeof v[k] === 'string'
          : isSet(v[k]);
    if (set) errs.push(forbidden(child(path, k), why));
  }
  if (isSchema(v.properties) && isSchema(v.properties.metadata)) errs.push(forbidden(props(path, 'metadata'), 'must not be specified in a nested context'));
  return errs;
}

// Every field, item or property a junctor talks about must also be specified structurally.
function completeness(v: JSONSchema, s: JSONSchema | undefined, sPath: string, vPath: string): FieldError[] {
  const errs: FieldError[] = [];
  const nested = (n: JSONSchema, p: string) => errs.push(...nestedCompleteness(n, s, sPath, p));
  if (isSchema(v.not)) nested(v.not, child(vPath, 'not'));
  schemaList(v.allOf).forEach((n, i) => nested(n, index(child(vPath, 'allOf'), i)));
  schemaList(v.anyOf).forEach((n, i) => nested(n, index(child(vPath, 'anyOf'), i)));
  schemaList(v.oneOf).forEach((n, i) => nested(n, index(child(vPath, 'oneOf'), i)));
  return errs;
}

function nestedCompleteness(v: JSONSchema, s: JSONSchema | undefined, sPath: string, vPath: string): FieldError[] {
  if (!s) return [required(sPath, `because it is defined in ${vPath}`)];
  const errs = completeness(v, s, sPath, vPath);
  if (isSchema(v.items)) errs.push(...nestedCompleteness(v.items, isSchema(s.items) ? s.items : undefined, child(sPath, 'items'), child(vPath, 'items')));
  const sProps = isSchema(s.properties) ? s.properties : {};
  for (const [k, p] of propEntries(v)) {
    if (isSchema(sProps[k])) errs.push(...nestedCompleteness(p, sProps[k], props(sPath, k), props(vPath, k)));
    else errs.push(required(props(sPath, k), `because it is defined in ${props(vPath, k)}`));
  }
  return errs;
}

// ---- defaults -----------------------------------------------------------------------------------

/** Defaults must survive pruning unchanged and validate against their own schema. */
function validateDefaults(s: JSONSchema, path: string, insideMeta = false, root = true): FieldError[] {
  const errs: FieldError[] = [];
  const embedded = root || s['x-kubernetes-embedded-resource'] === true;
  if (embedded) insideMeta = false;
  if (s.default !== undefined && s.default !== null) {
    const at = child(path, 'default');
    const node = compile(s, true);
    const pruned = structuredClone(s.default);
    if (!insideMeta) {
      pruneValue(pruned, { ...node, embedded }, '');
      if (!jsonEqual(pruned, s.default)) errs.push(invalid(at, s.default, 'must not have unknown fields'));
    }
    const metaErrs = insideMeta ? [] : validateEmbedded(s.default, { ...node, embedded, hasEmbedded: node.hasEmbedded || embedded }, at);
    errs.push(...(metaErrs.length ? metaErrs : validateValue(node, s.default, at)));
  }
  if (isSchema(s.items)) errs.push(...validateDefaults(s.items, child(path, 'items'), insideMeta, false));
  for (const [k, p] of propEntries(s)) errs.push(...validateDefaults(p, props(path, k), insideMeta || (embedded && META_FIELDS.has(k)), false));
  return errs;
}

// ---- OpenAPI rules ------------------------------------------------------------------------------

interface Ctx {
  allowDefaults: boolean;
  disallowReason?: string;
  /** Inside the TypeMeta/ObjectMeta of the resource or of an embedded resource. */
  insideMeta: boolean;
}

function openAPIRules(s: JSONSchema, path: string, ctx: Ctx, isRoot: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const at = (k: string) => child(path, k);
  const type = str(s.type);
  if (type && !OPENAPI_V3_TYPES.includes(type)) errs.push(notSupported(at('type'), type, OPENAPI_V3_TYPES));
  if (s.default !== undefined && s.default !== null && !ctx.allowDefaults)
    errs.push(forbidden(at('default'), `must not be set${ctx.disallowReason ? ` ${ctx.disallowReason}` : ''}`));
  if (str(s.id)) errs.push(forbidden(at('id'), 'id is not supported'));
  if (s.additionalItems !== undefined) errs.push(forbidden(at('additionalItems'), 'additionalItems is not supported'));
  if (nonEmpty(s.patternProperties)) errs.push(forbidden(at('patternProperties'), 'patternProperties is not supported'));
  if (nonEmpty(s.definitions)) errs.push(forbidden(at('definitions'), 'definitions is not supported'));
  if (s.dependencies !== undefined) errs.push(forbidden(at('dependencies'), 'dependencies is not supported'));
  if (s.$ref !== undefined) errs.push(forbidden(at('$ref'), '$ref is not supported'));
  if (type === 'null') errs.push(forbidden(at('type'), 'type cannot be set to null, use nullable as an alternative'));
  if (Array.isArray(s.items) && s.items.length) errs.push(forbidden(at('items'), 'items must be a schema object and not an array'));
  if (ctx.insideMeta && s['x-kubernetes-embedded-resource'] === true)
    errs.push(forbidden(at('x-kubernetes-embedded-resource'), 'must not be used inside of resource meta'));
  if (s.uniqueItems === true) errs.push(forbidden(at('uniqueItems'), 'uniqueItems cannot be set to true since the runtime complexity becomes quadratic'));

  const properties = propEntries(s);
  if (s.additionalProperties !== undefined) {
    if (properties.length && (s.additionalProperties === false || isSchema(s.additionalProperties))) {
      errs.push(forbidden(at('additionalProperties'), 'additionalProperties and properties are mutual exclusive'));
    }
    // Pruning an unknown key without a value to compare is ambiguous, so no defaults under metadata maps.
    const sub = ctx.insideMeta ? { ...ctx, allowDefaults: false, disallowReason: 'inside additionalProperties applying to object metadata' } : ctx;
    if (isSchema(s.additionalProperties)) errs.push(...openAPIRules(s.additionalProperties, at('additionalProperties'), sub, false));
  }
  for (const [k, p] of properties) {
    let sub = ctx;
    if ((isRoot || s['x-kubernetes-embedded-resource'] === true) && META_FIELDS.has(k)) {
      sub = { ...sub, insideMeta: true };
      if (isRoot) sub = { ...sub, allowDefaults: false, disallowReason: `in top-level ${k}` };
    }
    errs.push(...openAPIRules(p, props(path, k), sub, false));
  }
  if (isSchema(s.not)) errs.push(...openAPIRules(s.not, at('not'), ctx, false));
  for (const j of ['allOf', 'oneOf', 'anyOf']) schemaList(s[j]).forEach((v, i) => errs.push(...openAPIRules(v, index(at(j), i), ctx, false)));
  if (isSchema(s.definitions))
    for (const [k, v] of Object.entries(s.definitions)) if (isSchema(v)) errs.push(...openAPIRules(v, key(at('definitions'), k), ctx, false));
  if (isSchema(s.items)) errs.push(...openAPIRules(s.items, at('items'), ctx, false));
  else schemaList(s.items).forEach((v, i) => errs.push(...openAPIRules(v, index(at('items'), i), ctx, false)));
  if (isSchema(s.dependencies))
    for (const [k, v] of Object.entries(s.dependencies)) if (isSchema(v)) errs.push(...openAPIRules(v, key(at('dependencies'), k), ctx, false));
  errs.push(...extensionRules(s, path));
  return errs;
}

function extensionRules(s: JSONSchema, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const at = (k: string) => child(path, k);
  const type = str(s.type);
  const listType: unknown = s['x-kubernetes-list-type'];
  const mapType: unknown = s['x-kubernetes-map-type'];
  const mapKeys: string[] = Array.isArray(s['x-kubernetes-list-map-keys']) ? s['x-kubernetes-list-map-keys'] : [];
  const items = isSchema(s.items) ? s.items : undefined;

  if (s['x-kubernetes-preserve-unknown-fields'] === false) errs.push(invalid(at('x-kubernetes-preserve-unknown-fields'), false, 'must be true or undefined'));
  if (typeof mapType === 'string' && type !== 'object') {
    const msg = 'must be object if x-kubernetes-map-type is specified';
    errs.push(type ? invalid(at('type'), type, msg) : required(at('type'), msg));
  }
  if (typeof mapType === 'string' && mapType !== 'atomic' && mapType !== 'granular')
    errs.push(notSupported(at('x-kubernetes-map-type'), mapType, ['atomic', 'granular']));
  if (typeof listType === 'string' && type !== 'array') {
    const msg = 'must be array if x-kubernetes-list-type is specified';
    errs.push(type ? invalid(at('type'), type, msg) : required(at('type'), msg));
  } else if (listType === 'set' && items) {
    // Set items must be atomic: granular maps or non-atomic lists have no identity to compare.
    const msg = 'must be atomic as item of a list with x-kubernetes-list-type=set';
    if (items.type === 'array' && typeof items['x-kubernetes-list-type'] === 'string' && items['x-kubernetes-list-type'] !== 'atomic') {
      errs.push(invalid(child(at('items'), 'x-kubernetes-list-type'), items['x-kubernetes-list-type'], msg));
    } else if (items.type === 'object' && items['x-kubernetes-map-type'] !== 'atomic') {
      errs.push(invalid(child(at('items'), 'x-kubernetes-map-type'), items['x-kubernetes-list-type'] ?? null, msg));
    }
  }
  if (typeof listType === 'string' && !['atomic', 'set', 'map'].includes(listType))
    errs.push(notSupported(at('x-kubernetes-list-type'), listType, ['atomic', 'set', 'map']));
  if (mapKeys.length) {
    const msg = 'must be map if x-kubernetes-list-map-keys is non-empty';
    if (typeof listType !== 'string') errs.push(required(at('x-kubernetes-list-type'), msg));
    else if (listType !== 'map') errs.push(invalid(at('x-kubernetes-list-type'), listType, msg));
  }
  if (listType === 'map') {
    if (!mapKeys.length) errs.push(required(at('x-kubernetes-list-map-keys'), 'must not be empty if x-kubernetes-list-type is map'));
    if (s.items === undefined) errs.push(required(at('items'), 'must have a schema if x-kubernetes-list-type is map'));
    else if (!items) errs.push(invalid(at('items'), s.items, 'must only have a single schema if x-kubernetes-list-type is map'));
    else if (items.type !== 'object')
      errs.push(invalid(child(at('items'), 'type'), str(items.type), "must be object if parent array's x-kubernetes-list-type is map"));
    else {
      const itemProps = isSchema(items.properties) ? items.properties : {};
      const seen = new Set<string>();
      for (const k of mapKeys) {
        const p = itemProps[k];
        if (!isSchema(p)) errs.push(invalid(at('x-kubernetes-list-map-keys'), goStrings(mapKeys), 'entries must all be names of item properties'));
        else if (p.type === 'array' || p.type === 'object') {
          errs.push(invalid(child(props(at('items'), k), 'type'), str(items.type), "must be a scalar type if parent array's x-kubernetes-list-type is map"));
        }
        if (seen.has(k)) errs.push(invalid(at('x-kubernetes-list-map-keys'), goStrings(mapKeys), 'must not contain duplicate entries'));
        seen.add(k);
      }
    }
  }
  if (items && (listType === 'set' || listType === 'map')) {
    if (items.nullable === true) errs.push(forbidden(child(at('items'), 'nullable'), `cannot be nullable when x-kubernetes-list-type is ${listType}`));
    if (listType === 'map') {
      const req = new Set(Array.isArray(items.required) ? items.required : []);
      const itemProps = isSchema(items.properties) ? items.properties : {};
      for (const k of mapKeys) {
        const p = itemProps[k];
        if (!isSchema(p)) continue;
        if (!req.has(k) && (p.default === undefined || p.default === null)) {
          errs.push(
            required(
              child(props(at('items'), k), 'default'),
              'this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property',
            ),
          );
        }
        if (p.nullable === true)
          errs.push(forbidden(child(props(at('items'), k), 'nullable'), 'this property is in x-kubernetes-list-map-keys, so it cannot be nullable'));
      }
    }
  }
  return errs;
}
