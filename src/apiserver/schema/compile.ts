// A JSONSchemaProps tree compiled once into nodes that validation, pruning and defaulting walk. It mirrors the
// conversion apiextensions does before validating (ConvertJSONSchemaProps): int-or-string becomes the type list
// ["integer","string"], unsupported formats are dropped, patterns are compiled.

import type { JSONSchema } from '../resource.ts';
import { formatChecker } from './formats.ts';

export interface Node {
  types: string[];
  format: string;
  /** The format's checker when the format registry knows it (only strings are checked). */
  checkFormat?: (s: string) => boolean;
  nullable: boolean;
  enum?: unknown[];
  multipleOf?: number;
  maximum?: number;
  exclusiveMaximum: boolean;
  minimum?: number;
  exclusiveMinimum: boolean;
  maxLength?: number;
  minLength?: number;
  pattern?: string;
  patternRe?: RegExp;
  /** Why the pattern does not compile; reported on every value like kube-openapi does. */
  patternError?: string;
  maxItems?: number;
  minItems?: number;
  uniqueItems: boolean;
  maxProperties?: number;
  minProperties?: number;
  required: string[];
  items?: Node;
  properties?: Map<string, Node>;
  /** A schema, or a bare boolean (true: anything, false: no extra keys). */
  additionalProperties?: Node | boolean;
  allOf: Node[];
  anyOf: Node[];
  oneOf: Node[];
  not?: Node;
  preserveUnknown: boolean;
  embedded: boolean;
  listType?: string;
  listMapKeys: string[];
  hasDefault: boolean;
  default?: unknown;
  /** The structural subtree (this node included) has an embedded resource, so their checks must walk it. */
  hasEmbedded: boolean;
  /** The structural subtree has an x-kubernetes-list-type set or map. */
  hasListType: boolean;
}

/**
 * Compiles s for request validation. With asIs, the node is taken as kube-openapi gets it from
 * Structural.ToKubeOpenAPI (used for defaults at CRD time): int-or-string stays untyped, formats are kept.
 */
export function compile(s: JSONSchema, asIs = false): Node {
  const declared = typeof s.type === 'string' && s.type ? [s.type] : [];
  const types = !asIs && s['x-kubernetes-int-or-string'] === true ? ['integer', 'string'] : declared;
  const sub = (v: JSONSchema) => compile(v, asIs);
  const n: Node = {
    types,
    format: asIs ? (typeof s.format === 'string' ? s.format : '') : formatChecker(s.format) ? s.format : '',
    checkFormat: formatChecker(s.format),
    nullable: s.nullable === true,
    enum: Array.isArray(s.enum) ? s.enum : undefined,
    multipleOf: num(s.multipleOf),
    maximum: num(s.maximum),
    exclusiveMaximum: s.exclusiveMaximum === true,
    minimum: num(s.minimum),
    exclusiveMinimum: s.exclusiveMinimum === true,
    maxLength: num(s.maxLength),
    minLength: num(s.minLength),
    maxItems: num(s.maxItems),
    minItems: num(s.minItems),
    uniqueItems: s.uniqueItems === true,
    maxProperties: num(s.maxProperties),
    minProperties: num(s.minProperties),
    required: Array.isArray(s.required) ? s.required : [],
    allOf: schemas(s.allOf, asIs),
    anyOf: schemas(s.anyOf, asIs),
    oneOf: schemas(s.oneOf, asIs),
    not: isSchema(s.not) ? sub(s.not) : undefined,
    preserveUnknown: s['x-kubernetes-preserve-unknown-fields'] === true,
    embedded: s['x-kubernetes-embedded-resource'] === true,
    listType: s['x-kubernetes-list-type'],
    listMapKeys: Array.isArray(s['x-kubernetes-list-map-keys']) ? s['x-kubernetes-list-map-keys'] : [],
    hasDefault: s.default !== undefined && s.default !== null,
    default: s.default,
    hasEmbedded: false,
    hasListType: false,
  };
  if (typeof s.pattern === 'string' && s.pattern) {
    n.pattern = s.pattern;
    try {
      n.patternRe = goRegExp(s.pattern);
    } catch (e) {
      n.patternError = (e as Error).message;
    }
  }
  if (isSchema(s.items)) n.items = sub(s.items);
  if (isSchema(s.properties)) {
    n.properties = new Map();
    for (const [k, v] of Object.entries(s.properties)) if (isSchema(v)) n.properties.set(k, sub(v));
  }
  if (typeof s.additionalProperties === 'boolean') n.additionalProperties = s.additionalProperties;
  else if (isSchema(s.additionalProperties)) n.additionalProperties = sub(s.additionalProperties);
  const children = [n.items, ...(n.properties?.values() ?? []), typeof n.additionalProperties === 'object' ? n.additionalProperties : undefined];
  n.hasEmbedded = n.embedded || children.some((c) => c?.hasEmbedded);
  n.hasListType = n.listType === 'set' || n.listType === 'map' || children.some((c) => c?.hasListType);
  return n;
}

/** The structural child schema for a key of an object node (properties first, then additionalProperties). */
export function fieldSchema(n: Node | undefined, k: string): Node | undefined {
  if (!n) return undefined;
  const p = n.properties?.get(k);
  if (p) return p;
  return typeof n.additionalProperties === 'object' ? n.additionalProperties : undefined;
}

/**
 * An RE2 pattern as a JavaScript RegExp. Leading inline flags and \A, \z are translated; Unicode mode is used
 * when the pattern allows it (RE2 accepts escapes like \- that Unicode-mode JavaScript rejects).
 */
export function goRegExp(pattern: string): RegExp {
  let flags = '';
  let src = pattern;
  const m = /^\(\?([imsU]+)\)/.exec(src);
  if (m) {
    flags = [...new Set(m[1].replace('U', ''))].join('');
    src = src.slice(m[0].length);
  }
  src = src
    .replace(/\\A/g, '(?<![\\s\\S])')
    .replace(/\\z/g, '(?![\\s\\S])')
    .replace(/\(\?P</g, '(?<');
  try {
    return new RegExp(src, flags + 'u');
  } catch {
    return new RegExp(src, flags);
  }
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function schemas(v: unknown, asIs: boolean): Node[] {
  return Array.isArray(v) ? v.filter(isSchema).map((s) => compile(s, asIs)) : [];
}

/** A JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

export const isSchema = isObject as (v: unknown) => v is JSONSchema;
