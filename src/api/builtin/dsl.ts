// Small builders for the structural OpenAPI schemas of the built-in kinds. They keep the schema files close
// to the shape of the Go API types: one builder per Go field type, list/map semantics as named options.

import type { JSONSchema } from '../../apiserver/resource.ts';

const withDescription = (description?: string): JSONSchema => (description ? { description } : {});

export const str = (description?: string): JSONSchema => ({ type: 'string', ...withDescription(description) });
export const bool = (description?: string): JSONSchema => ({ type: 'boolean', ...withDescription(description) });
export const int32 = (description?: string): JSONSchema => ({ type: 'integer', format: 'int32', ...withDescription(description) });
export const int64 = (description?: string): JSONSchema => ({ type: 'integer', format: 'int64', ...withDescription(description) });
/** []byte: base64 in JSON. */
export const bytes = (description?: string): JSONSchema => ({ type: 'string', format: 'byte', ...withDescription(description) });
/** metav1.Time / MicroTime: a zero time is serialized as null by the real server, so null must round-trip. */
export const time = (description?: string): JSONSchema => ({ type: 'string', format: 'date-time', nullable: true, ...withDescription(description) });
export const intOrString = (description?: string): JSONSchema => ({ 'x-kubernetes-int-or-string': true, ...withDescription(description) });
/**
 * resource.Quantity: the real server accepts JSON strings and numbers (cpu: 0.5) and stores the canonical string.
 * No structural type can say "string or any number", so the node is left open and the strategies parse and
 * canonicalize quantities themselves (see quantity.ts).
 */
export const quantity = (description?: string): JSONSchema => ({ 'x-kubernetes-preserve-unknown-fields': true, ...withDescription(description) });
/** metav1.ObjectMeta: handled by the generic layer, so the schema only says it is an object. */
export const objectMeta = (): JSONSchema => ({ type: 'object' });

export const desc = (schema: JSONSchema, description: string): JSONSchema => ({ ...schema, description });

export interface ObjOptions {
  required?: string[];
  /** +structType=atomic: the object is replaced as a whole by apply and strategic merge patch. */
  atomic?: boolean;
}

export function obj(description: string | undefined, properties: Record<string, JSONSchema>, opts: ObjOptions = {}): JSONSchema {
  const s: JSONSchema = { type: 'object', ...withDescription(description), properties };
  if (opts.required?.length) s.required = opts.required;
  if (opts.atomic) s['x-kubernetes-map-type'] = 'atomic';
  return s;
}

export const strMap = (description?: string): JSONSchema => ({ type: 'object', additionalProperties: { type: 'string' }, ...withDescription(description) });
export const atomicMap = (schema: JSONSchema): JSONSchema => ({ ...schema, 'x-kubernetes-map-type': 'atomic' });
export const resourceList = (description?: string): JSONSchema => ({ type: 'object', additionalProperties: quantity(), ...withDescription(description) });

export interface ListOptions {
  /** x-kubernetes-list-type atomic or set (map is implied by `map`). */
  type?: 'atomic' | 'set';
  /** x-kubernetes-list-type map with these x-kubernetes-list-map-keys. */
  map?: string[];
  /** Strategic merge patch: merge key and strategy ("merge", "merge,retainKeys", ...). */
  mergeKey?: string;
  strategy?: string;
}

export function list(items: JSONSchema, description?: string, o: ListOptions = {}): JSONSchema {
  const s: JSONSchema = { type: 'array', ...withDescription(description), items };
  if (o.map) {
    s['x-kubernetes-list-type'] = 'map';
    s['x-kubernetes-list-map-keys'] = o.map;
  } else if (o.type) {
    s['x-kubernetes-list-type'] = o.type;
  }
  if (o.mergeKey) s['x-kubernetes-patch-merge-key'] = o.mergeKey;
  if (o.strategy) s['x-kubernetes-patch-strategy'] = o.strategy;
  return s;
}

/** metav1.LabelSelector. */
export const labelSelector = (description?: string): JSONSchema =>
  obj(
    description ?? 'A label query; requirements are ANDed, an empty selector matches everything.',
    {
      matchLabels: strMap('Labels that must match exactly.'),
      matchExpressions: list(
        obj(
          'A label key, an operator and values.',
          {
            key: str('Label key.'),
            operator: str('In, NotIn, Exists or DoesNotExist.'),
            values: list(str(), 'Values; empty for Exists and DoesNotExist.', { type: 'atomic' }),
          },
          { required: ['key', 'operator'] },
        ),
        'Label requirements.',
        { type: 'atomic' },
      ),
    },
    { atomic: true },
  );

/** The schema of a whole kind: apiVersion, kind and metadata followed by the kind's own fields. */
export function kindSchema(description: string, properties: Record<string, JSONSchema>, opts: ObjOptions = {}): JSONSchema {
  return obj(
    description,
    {
      apiVersion: str('Versioned schema of this representation of the object.'),
      kind: str('REST resource kind of this object.'),
      metadata: objectMeta(),
      ...properties,
    },
    opts,
  );
}

/** A status condition in the common shape (type, status, lastTransitionTime, reason, message). */
export const condition = (description: string): JSONSchema =>
  obj(
    description,
    {
      type: str('Condition type.'),
      status: str('True, False or Unknown.'),
      lastTransitionTime: time('When the status last changed.'),
      reason: str('Short CamelCase reason for the last transition.'),
      message: str('Human-readable details.'),
    },
    { required: ['type', 'status'] },
  );
