// CustomResourceDefinition (apiextensions.k8s.io/v1): defaulting, validation with apiextensions-apiserver 1.32's
// rules and texts, and the ResourceDefinitions a CRD serves.
//
// Validation runs on the internal form the real server validates: when every version carries the same schema,
// subresources or printer columns, the v1→internal conversion moves them to spec.validation, spec.subresources
// and spec.additionalPrinterColumns, so errors about them are reported at those paths (as kube-apiserver does).

import type { FieldError } from './errors.ts';
import type { JSONSchema, KObject, ResourceDefinition, TableColumn } from './resource.ts';
import { isSchema } from './schema/compile.ts';
import { forbidden, goStrings, GoText, index, invalid, key, notSupported, required } from './schema/field.ts';
import { CREATION_TIMESTAMP_DESCRIPTION } from './schema/meta.ts';
import { dns1035Label, dns1123Subdomain } from './schema/names.ts';
import { validateStructuralSchema } from './schema/structural.ts';
import { jsonEqual } from './schema/validate.ts';

const PRINTER_COLUMN_TYPES = ['boolean', 'date', 'integer', 'number', 'string'];
const PRINTER_COLUMN_FORMATS = ['byte', 'date', 'date-time', 'double', 'float', 'int32', 'int64', 'password'];
const CONVERSION_REVIEW_VERSIONS = ['v1', 'v1beta1'];
const APPROVAL_ANNOTATION = 'api-approved.kubernetes.io';
const CR_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const obj = (v: unknown): KObject | undefined => (isSchema(v) ? v : undefined);
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const list = (v: unknown): KObject[] => (Array.isArray(v) ? v.filter(isSchema) : []);

/** SetDefaults_CustomResourceDefinition (apiextensions v1). */
export function applyCRDDefaults(crd: KObject): void {
  // Fields of the wrong JSON type are left to the decoding check (400), which defaulting precedes here.
  const spec = (crd.spec ??= {});
  if (!isSchema(spec)) return;
  const names = (spec.names ??= {});
  if (isSchema(names) && !names.singular && typeof names.kind === 'string') names.singular = names.kind.toLowerCase();
  if (isSchema(names) && !names.listKind && names.kind) names.listKind = `${names.kind}List`;
  spec.conversion ??= { strategy: 'None' };
  const service = isSchema(spec.conversion) ? spec.conversion.webhook?.clientConfig?.service : undefined;
  if (isSchema(service)) service.port ??= 443;
  const storage = list(spec.versions).find((v) => v.storage === true);
  if (storage && (crd.status === undefined || isSchema(crd.status)) && !crd.status?.storedVersions?.length) (crd.status ??= {}).storedVersions = [storage.name];
}

/** ValidateCustomResourceDefinition (old unset) or ValidateCustomResourceDefinitionUpdate. */
export function validateCRD(crd: KObject, old?: KObject): FieldError[] {
  const spec = obj(crd.spec) ?? {};
  const names = obj(spec.names) ?? {};
  const errs: FieldError[] = [...validateName(crd, spec, names), ...validateSpec(spec, names, old)];
  if (old) {
    const oldSpec = obj(old.spec) ?? {};
    const oldNames = obj(oldSpec.names) ?? {};
    const immutable = (path: string, now: unknown, before: unknown) =>
      !jsonEqual(now ?? null, before ?? null) && errs.push(invalid(path, now ?? '', 'field is immutable'));
    // Scope and kind decide storage; once served they stay.
    if (established(old)) {
      immutable('spec.scope', spec.scope, oldSpec.scope);
      immutable('spec.names.kind', names.kind, oldNames.kind);
    }
    immutable('spec.group', spec.group, oldSpec.group);
    immutable('spec.names.plural', names.plural, oldNames.plural);
  }
  const status = obj(crd.status) ?? {};
  errs.push(...validateNames(obj(status.acceptedNames) ?? {}, 'status.acceptedNames'));
  errs.push(...validateStoredVersions(status.storedVersions, list(spec.versions)));
  errs.push(...validateAPIApproval(crd, old));
  if (spec.preserveUnknownFields === true && obj(old?.spec)?.preserveUnknownFields !== true) {
    errs.push(
      invalid('spec.preserveUnknownFields', true, 'cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead'),
    );
  }
  return errs;
}

function established(crd: KObject): boolean {
  return list(crd.status?.conditions).some((c) => c.type === 'Established' && c.status === 'True');
}

function validateName(crd: KObject, spec: KObject, names: KObject): FieldError[] {
  const name = str(crd.metadata?.name);
  if (!name) return [required('metadata.name', 'name or generateName is required')];
  const msgs = dns1123Subdomain(name);
  if (name !== `${str(names.plural)}.${str(spec.group)}`) msgs.push('must be spec.names.plural+"."+spec.group');
  return msgs.map((m) => invalid('metadata.name', name, m));
}

/** The per-version fields that v1→internal conversion hoists to the spec because all versions agree. */
interface Hoisted {
  schema: boolean;
  subresources: boolean;
  columns: boolean;
}

function hoisted(versions: KObject[]): Hoisted {
  const same = (k: string) => versions.length > 0 && versions.every((v) => jsonEqual(v[k] ?? null, versions[0][k] ?? null));
  return { schema: same('schema'), subresources: same('subresources'), columns: same('additionalPrinterColumns') };
}

function validateSpec(spec: KObject, names: KObject, old?: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const group = str(spec.group);
  if (!group) errs.push(required('spec.group'));
  else if (dns1123Subdomain(group).length) errs.push(invalid('spec.group', group, dns1123Subdomain(group).join(',')));
  else if (group.split('.').length < 2) errs.push(invalid('spec.group', group, 'should be a domain with at least one dot'));
  errs.push(...enumString('spec.scope', spec.scope, ['Cluster', 'Namespaced']));

  const versions = list(spec.versions);
  const top = hoisted(versions);
  const first = versions[0] ?? {};
  const topSchema = top.schema ? obj(first.schema) : undefined;
  const topSubresources = top.subresources ? obj(first.subresources) : undefined;

  // A CRD that already lacks schemas may keep lacking them.
  const oldVersions = list(old?.spec?.versions);
  const requireSchema = !old || oldVersions.every((v) => isSchema(v.schema?.openAPIV3Schema));
  if (requireSchema && !isSchema(topSchema?.openAPIV3Schema)) {
    versions.forEach(
      (v, i) => !isSchema(v.schema?.openAPIV3Schema) && errs.push(required(`spec.versions[${i}].schema.openAPIV3Schema`, 'schemas are required')),
    );
  }
  if (spec.preserveUnknownFields === true && versions.some((v) => hasDefaults(v.schema?.openAPIV3Schema))) {
    errs.push(invalid('spec.preserveUnknownFields', true, 'must be false in order to use defaults in the schema'));
  }

  const seen = new Set<string>();
  let unique = true;
  let storage = 0;
  versions.forEach((v, i) => {
    const path = `spec.versions[${i}]`;
    const name = str(v.name);
    if (v.storage === true) storage++;
    if (seen.has(name)) unique = false;
    seen.add(name);
    const nameErrs = dns1035Label(name);
    if (nameErrs.length) errs.push(invalid(`${path}.name`, name, nameErrs.join(',')));
    errs.push(...deprecationWarning(v, path));
    const subresources = topSubresources ?? obj(v.subresources);
    if (!top.schema) errs.push(...validateSchema(obj(v.schema), isSchema(subresources?.status), `${path}.schema`));
    if (!top.subresources) errs.push(...validateSubresources(obj(v.subresources), `${path}.subresources`));
    if (!top.columns) list(v.additionalPrinterColumns).forEach((c, j) => errs.push(...validateColumn(c, `${path}.additionalPrinterColumns[${j}]`)));
  });
  if (!unique) errs.push(invalid('spec.versions', versionsValue(versions, top), 'must contain unique version names'));
  if (storage !== 1) errs.push(invalid('spec.versions', versionsValue(versions, top), 'must have exactly one version marked as storage version'));
  // The internal spec.version is versions[0].name, and is checked again.
  if (versions.length) {
    const v0 = str(first.name);
    const v0Errs = dns1035Label(v0);
    if (v0Errs.length) errs.push(invalid('spec.version', v0, v0Errs.join(',')));
  }

  for (const k of ['plural', 'singular', 'kind', 'listKind']) if (!str(names[k])) errs.push(required(`spec.names.${k}`));
  errs.push(...validateNames(names, 'spec.names'));
  if (top.schema) {
    const anyStatus = versions.some((v) => isSchema(v.subresources?.status));
    errs.push(...validateSchema(topSchema, anyStatus, 'spec.validation'));
  }
  if (top.subresources) errs.push(...validateSubresources(topSubresources, 'spec.subresources'));
  if (top.columns) list(first.additionalPrinterColumns).forEach((c, j) => errs.push(...validateColumn(c, `spec.additionalPrinterColumns[${j}]`)));

  const conversion = obj(spec.conversion);
  if (conversion && conversion.strategy !== 'None' && spec.preserveUnknownFields === true) {
    errs.push(invalid('spec.conversion.strategy', str(conversion.strategy), 'must be None if spec.preserveUnknownFields is true'));
  }
  if (conversion) errs.push(...validateConversion(conversion, old));
  return errs;
}

// %#v of the internal versions slice, abbreviated to the fields these errors are about.
function versionsValue(versions: KObject[], top: Hoisted): GoText {
  const one = (v: KObject) =>
    `apiextensions.CustomResourceDefinitionVersion{Name:"${str(v.name)}", Served:${v.served === true}, Storage:${v.storage === true}, Deprecated:${v.deprecated === true}, ` +
    `Schema:${top.schema || !v.schema ? '(*apiextensions.CustomResourceValidation)(nil)' : '&apiextensions.CustomResourceValidation{...}'}, ...}`;
  const type = '[]apiextensions.CustomResourceDefinitionVersion';
  return new GoText(versions.length ? `${type}{${versions.map(one).join(', ')}}` : `${type}(nil)`);
}

function hasDefaults(s: unknown): boolean {
  if (!isSchema(s)) return false;
  if (s.default !== undefined && s.default !== null) return true;
  const children = [s.items, s.additionalProperties, s.not, ...Object.values(obj(s.properties) ?? {}), ...list(s.allOf), ...list(s.anyOf), ...list(s.oneOf)];
  return children.some(hasDefaults);
}

function enumString(path: string, value: unknown, accepted: string[]): FieldError[] {
  const v = str(value);
  if (!v) return [required(path)];
  return accepted.includes(v) ? [] : [notSupported(path, v, accepted)];
}

function deprecationWarning(v: KObject, path: string): FieldError[] {
  const w = v.deprecationWarning;
  if (w === undefined || w === null) return [];
  const at = `${path}.deprecationWarning`;
  if (v.deprecated !== true) return [invalid(at, w, 'can only be set for deprecated versions')];
  const msgs: string[] = [];
  const bytes = Buffer.from(str(w));
  if (bytes.length > 256) msgs.push('must be <= 256 characters long');
  if (!bytes.length) msgs.push('must not be an empty string');
  let offset = 0;
  for (const ch of str(w)) {
    if (!/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) {
      const control = /^\p{Cc}$/u.test(ch);
      msgs.push(`must only contain printable UTF-8 characters; ${control ? 'control' : 'non-printable'} character found at index ${offset}`);
      break;
    }
    offset += Buffer.byteLength(ch);
  }
  return msgs.map((m) => invalid(at, w, m));
}

function validateSchema(validation: KObject | undefined, statusEnabled: boolean, path: string): FieldError[] {
  const schema = obj(validation?.openAPIV3Schema);
  return schema ? validateStructuralSchema(schema, `${path}.openAPIV3Schema`, { statusSubresource: statusEnabled }) : [];
}

function validateSubresources(sub: KObject | undefined, path: string): FieldError[] {
  const scale = obj(sub?.scale);
  if (!scale) return [];
  const errs: FieldError[] = [];
  const jsonPath = (field: string, under: string[], what: string) => {
    const v = str(scale[field]);
    const at = `${path}.scale.${field}`;
    if (!v) return field === 'labelSelectorPath' ? undefined : errs.push(required(at));
    const simple = simpleJSONPath(v, at);
    if (simple.length) return errs.push(...simple);
    if (!under.some((p) => v.startsWith(p))) errs.push(invalid(at, v, `should be a json path under ${what}`));
  };
  jsonPath('specReplicasPath', ['.spec.'], '.spec');
  jsonPath('statusReplicasPath', ['.status.'], '.status');
  jsonPath('labelSelectorPath', ['.spec.', '.status.'], 'either .spec or .status');
  return errs;
}

function simpleJSONPath(s: string, path: string): FieldError[] {
  if (!s) return [invalid(path, s, 'must not be empty')];
  if (s[0] !== '.') return [invalid(path, s, 'must be a simple json path starting with .')];
  return [];
}

function validateColumn(col: KObject, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!str(col.name)) errs.push(required(`${path}.name`));
  const type = str(col.type);
  const typeMsg = `must be one of ${PRINTER_COLUMN_TYPES.join(',')}`;
  if (!type) errs.push(required(`${path}.type`, typeMsg));
  else if (!PRINTER_COLUMN_TYPES.includes(type)) errs.push(invalid(`${path}.type`, type, typeMsg));
  const format = str(col.format);
  if (format && !PRINTER_COLUMN_FORMATS.includes(format)) errs.push(invalid(`${path}.format`, format, `must be one of ${PRINTER_COLUMN_FORMATS.join(',')}`));
  // The internal field is JSONPath, and so is the error path.
  const jsonPath = str(col.jsonPath);
  if (!jsonPath) errs.push(required(`${path}.JSONPath`));
  else errs.push(...simpleJSONPath(jsonPath, `${path}.JSONPath`));
  return errs;
}

function validateNames(names: KObject, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const k of ['plural', 'singular']) {
    const v = str(names[k]);
    const e = v ? dns1035Label(v) : [];
    if (e.length) errs.push(invalid(`${path}.${k}`, v, e.join(',')));
  }
  for (const k of ['kind', 'listKind']) {
    const v = str(names[k]);
    const e = v ? dns1035Label(v.toLowerCase()) : [];
    if (e.length) errs.push(invalid(`${path}.${k}`, v, `may have mixed case, but should otherwise match: ${e.join(',')}`));
  }
  (Array.isArray(names.shortNames) ? names.shortNames : []).forEach((s: unknown, i: number) => {
    const e = dns1035Label(str(s));
    if (e.length) errs.push(invalid(index(`${path}.shortNames`, i), str(s), e.join(',')));
  });
  if (str(names.kind) && names.kind === names.listKind) errs.push(invalid(`${path}.listKind`, names.listKind, 'kind and listKind may not be the same'));
  (Array.isArray(names.categories) ? names.categories : []).forEach((c: unknown, i: number) => {
    const e = dns1035Label(str(c));
    if (e.length) errs.push(invalid(index(`${path}.categories`, i), str(c), e.join(',')));
  });
  return errs;
}

function validateConversion(conversion: KObject, old?: KObject): FieldError[] {
  const path = 'spec.conversion';
  const errs = enumString(`${path}.strategy`, conversion.strategy, ['None', 'Webhook']);
  const webhook = obj(conversion.webhook);
  // v1's webhook.clientConfig and webhook.conversionReviewVersions are validated as the internal fields.
  const clientConfig = obj(webhook?.clientConfig);
  const reviewVersions: unknown[] | undefined = Array.isArray(webhook?.conversionReviewVersions) ? webhook.conversionReviewVersions : undefined;
  if (conversion.strategy !== 'Webhook') {
    if (clientConfig) errs.push(forbidden(`${path}.webhookClientConfig`, 'should not be set when strategy is not set to Webhook'));
    if (reviewVersions?.length) errs.push(forbidden(`${path}.conversionReviewVersions`, 'should not be set when strategy is not set to Webhook'));
    return errs;
  }
  const cc = `${path}.webhookClientConfig`;
  if (!clientConfig) errs.push(required(cc, 'required when strategy is set to Webhook'));
  else if ((clientConfig.url === undefined) === (clientConfig.service === undefined)) errs.push(required(cc, 'exactly one of url or service is required'));
  else if (clientConfig.url !== undefined) errs.push(...webhookURL(str(clientConfig.url), `${cc}.url`));
  else errs.push(...webhookService(obj(clientConfig.service) ?? {}, `${cc}.service`));

  // An update may keep review versions the previous object already had unrecognized.
  const oldVersions = obj(old?.spec?.conversion)?.webhook?.conversionReviewVersions;
  const requireRecognized = !Array.isArray(oldVersions) || !oldVersions.length || oldVersions.some((v: unknown) => CONVERSION_REVIEW_VERSIONS.includes(str(v)));
  const rv = `${path}.conversionReviewVersions`;
  if (!reviewVersions?.length) errs.push(required(rv));
  else {
    const seen = new Set<string>();
    reviewVersions.forEach((v, i) => {
      const s = str(v);
      if (seen.has(s)) return void errs.push(invalid(index(rv, i), s, 'duplicate version'));
      seen.add(s);
      for (const m of dns1035Label(s)) errs.push(invalid(index(rv, i), s, m));
    });
    if (requireRecognized && !reviewVersions.some((v) => CONVERSION_REVIEW_VERSIONS.includes(str(v)))) {
      errs.push(invalid(rv, goStrings(reviewVersions.map(str)), `must include at least one of ${CONVERSION_REVIEW_VERSIONS.join(', ')}`));
    }
  }
  return errs;
}

function webhookURL(raw: string, path: string): FieldError[] {
  const form = '; desired format: https://host[/path]';
  let u: URL;
  try {
    u = new URL(raw);
  } catch (e) {
    return [required(path, `url must be a valid URL: ${(e as Error).message}${form}`)];
  }
  const errs: FieldError[] = [];
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'https') errs.push(invalid(path, scheme, `'https' is the only allowed URL scheme${form}`));
  if (!u.host) errs.push(invalid(path, u.host, `host must be specified${form}`));
  if (u.username || u.password)
    errs.push(invalid(path, u.password ? `${u.username}:${u.password}` : u.username, 'user information is not permitted in the URL'));
  if (u.hash.length > 1) errs.push(invalid(path, u.hash.slice(1), 'fragments are not permitted in the URL'));
  if (u.search.length > 1) errs.push(invalid(path, u.search.slice(1), 'query parameters are not permitted in the URL'));
  return errs;
}

// Upstream passes the service's name as "namespace" and its namespace as "name", so a missing namespace is
// reported on service.name and vice versa; kept for identical messages.
function webhookService(svc: KObject, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!str(svc.namespace)) errs.push(required(`${path}.name`));
  if (!str(svc.name)) errs.push(required(`${path}.namespace`));
  const port = typeof svc.port === 'number' ? svc.port : 443;
  if (port < 1 || port > 65535) errs.push(invalid(`${path}.port`, port, 'port is not valid: must be between 1 and 65535, inclusive'));
  return errs;
}

function validateStoredVersions(stored: unknown, versions: KObject[]): FieldError[] {
  const path = 'status.storedVersions';
  const names: string[] | undefined = Array.isArray(stored) ? stored.map(str) : undefined;
  if (!names?.length) return [invalid(path, goStrings(names), 'must have at least one stored version')];
  const errs: FieldError[] = [];
  const specNames = new Set(versions.map((v) => str(v.name)));
  for (const v of versions)
    if (v.storage === true && !names.includes(str(v.name))) errs.push(invalid(path, goStrings(names), `must have the storage version ${str(v.name)}`));
  names.forEach((n, i) => !specNames.has(n) && errs.push(invalid(index(path, i), n, 'must appear in spec.versions')));
  return errs;
}

// Groups under k8s.io and kubernetes.io belong to the Kubernetes project and need a recorded API review.
function validateAPIApproval(crd: KObject, old?: KObject): FieldError[] {
  const group = str(crd.spec?.group);
  if (!/(^|\.)(k8s\.io|kubernetes\.io)$/.test(group)) return [];
  const state = approvalState(crd);
  if (old && approvalState(old).state === state.state) return [];
  const path = key('metadata.annotations', APPROVAL_ANNOTATION);
  if (state.state === 'missing') return [required(path, state.reason)];
  if (state.state === 'invalid') return [invalid(path, str(crd.metadata?.annotations?.[APPROVAL_ANNOTATION]), state.reason)];
  return [];
}

function approvalState(crd: KObject): { state: 'missing' | 'bypassed' | 'approved' | 'invalid'; reason: string } {
  const a = str(crd.metadata?.annotations?.[APPROVAL_ANNOTATION]);
  if (!a)
    return {
      state: 'missing',
      reason: `protected groups must have approval annotation "${APPROVAL_ANNOTATION}", see https://github.com/kubernetes/enhancements/pull/1111`,
    };
  if (a.startsWith('unapproved')) return { state: 'bypassed', reason: '' };
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#\s]+/.test(a)) return { state: 'approved', reason: '' };
  return {
    state: 'invalid',
    reason: `protected groups must have approval annotation "${APPROVAL_ANNOTATION}" with either a URL or a reason starting with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111`,
  };
}

/** One ResourceDefinition per served version of a (defaulted, valid) CRD. */
export function resourceDefinitionsFromCRD(crd: KObject): ResourceDefinition[] {
  const spec = obj(crd.spec) ?? {};
  const names = obj(spec.names) ?? {};
  const kind = str(names.kind);
  return list(spec.versions)
    .filter((v) => v.served === true)
    .map((v) => {
      const scale = obj(v.subresources?.scale);
      return {
        group: str(spec.group),
        version: str(v.name),
        resource: str(names.plural),
        singular: str(names.singular) || kind.toLowerCase(),
        kind,
        listKind: str(names.listKind) || `${kind}List`,
        namespaced: spec.scope === 'Namespaced',
        shortNames: Array.isArray(names.shortNames) ? names.shortNames : undefined,
        categories: Array.isArray(names.categories) ? names.categories : undefined,
        verbs: CR_VERBS,
        schema: withTypeMeta(obj(v.schema?.openAPIV3Schema)),
        unknownFields: 'prune',
        strategicMergePatch: false,
        generation: true,
        subresources: {
          status: isSchema(v.subresources?.status),
          scale: scale && {
            specReplicasPath: str(scale.specReplicasPath),
            statusReplicasPath: str(scale.statusReplicasPath),
            ...(scale.labelSelectorPath ? { labelSelectorPath: str(scale.labelSelectorPath) } : {}),
          },
        },
        columns: printerColumns(list(v.additionalPrinterColumns)),
        deleteReturnsObject: true,
        crdName: str(crd.metadata?.name),
      };
    });
}

// The served schema always declares the TypeMeta and ObjectMeta fields every object has.
function withTypeMeta(schema: JSONSchema | undefined): JSONSchema {
  const s = structuredClone(schema ?? { type: 'object' });
  const properties = (s.properties ??= {});
  properties.apiVersion ??= { type: 'string' };
  properties.kind ??= { type: 'string' };
  properties.metadata ??= { type: 'object' };
  return s;
}

function printerColumns(cols: KObject[]): TableColumn[] {
  if (!cols.length) return [{ name: 'Age', type: 'date', description: CREATION_TIMESTAMP_DESCRIPTION, jsonPath: '.metadata.creationTimestamp' }];
  return cols.map((c) => ({
    name: str(c.name),
    type: c.type,
    ...(c.format ? { format: str(c.format) } : {}),
    description: str(c.description) || `Custom resource definition column (in JSONPath format): ${str(c.jsonPath)}`,
    priority: typeof c.priority === 'number' ? c.priority : 0,
    jsonPath: str(c.jsonPath),
  }));
}
