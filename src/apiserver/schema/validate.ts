// Schema validation as the apiserver does it for custom resources: kube-openapi's SchemaValidator (the 1.32
// vintage) run over the converted schema, its errors turned into field errors by apiextensions'
// kubeOpenAPIResultToFieldErrors. The walk follows kube-openapi's validator order, messages and "match count"
// (which picks the anyOf/oneOf branch whose errors are reported), so error texts and their order come out the same.

import type { FieldError } from '../errors.ts';
import type { Node } from './compile.ts';
import { child, goFloat, goJSON, goNumber, goQuote, invalid, notSupported, required, tooLong, tooMany, typeInvalid } from './field.ts';

/** A kube-openapi errors.Validation (code + name + value), or a plain error ("composite"). */
type Raw =
  | {
      code: 'required' | 'enum' | 'tooLong' | 'maxItems' | 'tooManyProps' | 'type' | 'invalid';
      name: string;
      value?: unknown;
      valid?: number;
      values?: unknown[];
      msg: string;
    }
  | { code: 'composite'; msg: string };

type Kind = 'null' | 'boolean' | 'string' | 'int' | 'float' | 'array' | 'object';

/**
 * Validates data against n like ValidateCustomResource(base, data, validator): paths inside the data are
 * joined to base; without a base the errors that carry no field print "<nil>", as the real server does.
 */
export function validateValue(n: Node, data: unknown, base?: string): FieldError[] {
  const raws: Raw[] = [];
  walk(n, data, '', raws);
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const r of raws) {
    if (seen.has(r.msg)) continue; // Result.AddErrors keeps each message once
    seen.add(r.msg);
    out.push(toFieldError(r, base));
  }
  return out;
}

function toFieldError(r: Raw, base: string | undefined): FieldError {
  if (r.code === 'composite') return invalid(base ?? '<nil>', '', r.msg);
  const path = r.name && r.name !== '.' ? child(base ?? '', r.name.replace(/^\./, '')) : (base ?? '<nil>');
  const value = r.value === undefined ? '' : r.value;
  switch (r.code) {
    case 'required':
      return required(path);
    case 'enum':
      return notSupported(
        path,
        r.value,
        r.values!.map((v) => (typeof v === 'string' ? v : goJSON(v))),
      );
    case 'tooLong':
      return tooLong(path, r.valid!);
    case 'maxItems':
    case 'tooManyProps':
      return tooMany(path, r.value as number, r.valid!);
    case 'type':
      return typeInvalid(path, value, r.msg);
    default:
      return invalid(path, value, r.msg);
  }
}

function kindOf(v: unknown): Kind {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
  }
  return Array.isArray(v) ? 'array' : 'object';
}

// The JSON type and format kube-openapi infers from a decoded Go value (integers decode as int64).
const INFERRED: Record<Kind, [string, string]> = {
  null: ['null', ''],
  boolean: ['boolean', ''],
  string: ['string', ''],
  int: ['integer', 'int64'],
  float: ['number', 'float64'],
  array: ['array', ''],
  object: ['object', ''],
};

const typeMsg = (name: string, type: string, value: string) => `${name} in body must be of type ${type}: ${goQuote(value)}`;

/** SchemaValidator.Validate: returns the result's match count, appends errors to out. */
function walk(n: Node, data: unknown, path: string, out: Raw[]): number {
  const kind = kindOf(data);
  if (kind === 'null') {
    const c = checkType(n, kind, path, out);
    checkEnum(n, null, path, out);
    return c;
  }
  // Every applicable validator adds its own count plus one; the result adds one more.
  let count = 1;
  if (n.types.length || n.format) count += checkType(n, kind, path, out) + 1;
  count += (n.anyOf.length || n.oneOf.length || n.allOf.length || n.not ? junctors(n, data, path, out) : 1) + 1;
  if (kind === 'string') {
    checkString(n, data as string, path, out);
    count++;
    if (n.checkFormat) {
      if (!n.checkFormat(data as string)) out.push({ code: 'type', name: path, value: data, msg: typeMsg(path, n.format, data as string) });
      count++;
    }
  }
  if (kind === 'int' || kind === 'float') {
    checkNumber(n, data as number, kind === 'int', path, out);
    count += 2;
  }
  if (kind === 'array') count += checkArray(n, data as unknown[], path, out) + 1;
  checkEnum(n, data, path, out);
  count++;
  if (kind === 'object') count += checkObject(n, data as Record<string, unknown>, path, out) + 1;
  return count;
}

function checkType(n: Node, kind: Kind, path: string, out: Raw[]): number {
  if (kind === 'null') {
    if (n.types.length && !n.types.includes('null') && !n.nullable) {
      out.push({ code: 'type', name: path, value: 'null', msg: typeMsg(path, n.types.join(','), 'null') });
      return 0;
    }
    return 1;
  }
  const [schType, format] = INFERRED[kind];
  const matches = n.types.includes(schType) || (schType === 'integer' && n.types.includes('number'));
  if (kind !== 'string' && kind !== 'array' && n.format && !(matches || format === n.format)) {
    out.push({ code: 'type', name: path, value: format, msg: typeMsg(path, n.format, format) });
    return 0;
  }
  // A string format on a non-numeric type accepts strings (and, quirkily, arrays) here; the format check follows.
  if (n.format && (kind === 'string' || kind === 'array') && !n.types.includes('number') && !n.types.includes('integer')) return 1;
  if (!matches) {
    out.push({ code: 'type', name: path, value: schType, msg: typeMsg(path, n.types.join(','), schType) });
    return 0;
  }
  return 1;
}

/** allOf/anyOf/oneOf/not (schemaPropsValidator): its count is 1 plus the counts of the results it merges. */
function junctors(n: Node, data: unknown, path: string, out: Raw[]): number {
  let count = 1;
  if (n.anyOf.length) {
    let best: { errs: Raw[]; count: number } | undefined;
    let success: number | undefined;
    for (const s of n.anyOf) {
      const errs: Raw[] = [];
      const c = walk(s, data, path, errs);
      if (!errs.length) {
        success = c;
        break;
      }
      if (!best || c > best.count) best = { errs, count: c };
    }
    if (success !== undefined) count += success;
    else {
      out.push({ code: 'composite', msg: `${goQuote(path)} must validate at least one schema (anyOf)` });
      out.push(...best!.errs);
      count += best!.count;
    }
  }
  if (n.oneOf.length) {
    let best: { errs: Raw[]; count: number } | undefined;
    let first: number | undefined;
    let valid = 0;
    for (const s of n.oneOf) {
      const errs: Raw[] = [];
      const c = walk(s, data, path, errs);
      if (!errs.length) {
        valid++;
        best = undefined;
        first ??= c;
      } else if (valid === 0 && (!best || c > best.count)) best = { errs, count: c };
    }
    if (valid === 1) count += first!;
    else {
      const why = valid === 0 ? 'Found none valid' : `Found ${valid} valid alternatives`;
      out.push({ code: 'composite', msg: `${goQuote(path)} must validate one and only one schema (oneOf). ${why}` });
      if (best) {
        out.push(...best.errs);
        count += best.count;
      }
    }
  }
  if (n.allOf.length) {
    let valid = 0;
    for (const s of n.allOf) {
      const errs: Raw[] = [];
      count += walk(s, data, path, errs);
      if (!errs.length) valid++;
      out.push(...errs);
    }
    if (valid !== n.allOf.length)
      out.push({ code: 'composite', msg: `${goQuote(path)} must validate all the schemas (allOf)${valid === 0 ? '. None validated' : ''}` });
  }
  if (n.not && isValid(n.not, data, path)) out.push({ code: 'composite', msg: `${goQuote(path)} must not validate the schema (not)` });
  return count;
}

function isValid(n: Node, data: unknown, path: string): boolean {
  const errs: Raw[] = [];
  walk(n, data, path, errs);
  return errs.length === 0;
}

// kube-openapi stops at the first failing string constraint.
function checkString(n: Node, s: string, path: string, out: Raw[]): void {
  if (n.maxLength === undefined && n.minLength === undefined && n.pattern === undefined) return;
  const len = runeCount(s);
  if (n.maxLength !== undefined && len > n.maxLength) {
    out.push({ code: 'tooLong', name: path, value: s, valid: n.maxLength, msg: `${path} in body should be at most ${n.maxLength} chars long` });
  } else if (n.minLength !== undefined && len < n.minLength) {
    out.push({ code: 'invalid', name: path, value: s, msg: `${path} in body should be at least ${n.minLength} chars long` });
  } else if (n.patternError !== undefined) {
    out.push({ code: 'invalid', name: path, value: s, msg: `${path} in body should match '${n.pattern}, but pattern is invalid: ${n.patternError}'` });
  } else if (n.patternRe && !n.patternRe.test(s)) {
    out.push({ code: 'invalid', name: path, value: s, msg: `${path} in body should match '${n.pattern}'` });
  }
}

function runeCount(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * multipleOf, minimum, maximum on the decoded value's native type: integer values are compared with the
 * constraint truncated to int64 (MaximumInt & co), floating values as float64 and printed with %v.
 */
function checkNumber(n: Node, v: number, isInt: boolean, path: string, out: Raw[]): void {
  if (n.multipleOf !== undefined) {
    const factor = isInt ? Math.trunc(n.multipleOf) : n.multipleOf;
    if (factor <= 0)
      out.push({ code: 'invalid', name: path, value: factor, msg: `factor MultipleOf declared for ${path} must be positive: ${show(factor, isInt)}` });
    else if (isInt ? v % factor !== 0 : !isJSONInteger(factor < 1 ? (1 / factor) * v : v / factor)) {
      out.push({ code: 'invalid', name: path, value: v, msg: `${path} in body should be a multiple of ${show(factor, isInt)}` });
    }
  }
  if (n.minimum !== undefined) {
    const min = isInt ? Math.trunc(n.minimum) : n.minimum;
    if (n.exclusiveMinimum ? v <= min : v < min) {
      out.push({
        code: 'invalid',
        name: path,
        value: v,
        msg: `${path} in body should be greater than ${n.exclusiveMinimum ? '' : 'or equal to '}${show(min, isInt)}`,
      });
    }
  }
  if (n.maximum !== undefined) {
    const max = isInt ? Math.trunc(n.maximum) : n.maximum;
    if (n.exclusiveMaximum ? v >= max : v > max) {
      out.push({
        code: 'invalid',
        name: path,
        value: v,
        msg: `${path} in body should be less than ${n.exclusiveMaximum ? '' : 'or equal to '}${show(max, isInt)}`,
      });
    }
  }
}

const show = (bound: number, isInt: boolean) => (isInt ? goNumber(bound) : goFloat(bound));

// swag.IsFloat64AJSONInteger: integral within the exactly representable range, with a 1e-9 relative tolerance.
function isJSONInteger(f: number): boolean {
  if (!Number.isFinite(f) || Math.abs(f) > 2 ** 53) return false;
  if (Number.isInteger(f)) return true;
  const g = Math.trunc(f);
  if (g === 0) return false;
  return Math.abs(f - g) / (Math.abs(f) + Math.abs(g)) < 1e-9;
}

function checkArray(n: Node, arr: unknown[], path: string, out: Raw[]): number {
  let count = 0;
  if (n.items) for (let i = 0; i < arr.length; i++) count += walk(n.items, arr[i], `${path}[${i}]`, out);
  if (n.minItems !== undefined && arr.length < n.minItems) {
    out.push({ code: 'invalid', name: path, value: arr.length, msg: `${path} in body should have at least ${n.minItems} items` });
  }
  if (n.maxItems !== undefined && arr.length > n.maxItems) {
    out.push({ code: 'maxItems', name: path, value: arr.length, valid: n.maxItems, msg: `${path} in body should have at most ${n.maxItems} items` });
  }
  if (n.uniqueItems && new Set(arr.map(goJSON)).size !== arr.length) {
    out.push({ code: 'invalid', name: path, msg: `${path} in body shouldn't contain duplicates` });
  }
  return count + 1;
}

function checkObject(n: Node, obj: Record<string, unknown>, path: string, out: Raw[]): number {
  let count = 0;
  const ap = n.additionalProperties;
  const keys = n.minProperties !== undefined || n.maxProperties !== undefined || ap === false || typeof ap === 'object' ? Object.keys(obj) : [];
  if (n.minProperties !== undefined && keys.length < n.minProperties) {
    out.push({ code: 'invalid', name: path, value: keys.length, msg: `${path} in body should have at least ${n.minProperties} properties` });
  }
  if (n.maxProperties !== undefined && keys.length > n.maxProperties) {
    out.push({
      code: 'tooManyProps',
      name: path,
      value: keys.length,
      valid: n.maxProperties,
      msg: `${path} in body should have at most ${n.maxProperties} properties`,
    });
  }
  if (ap === false) {
    for (const k of keys) {
      if (!n.properties?.has(k)) out.push({ code: 'invalid', name: path, value: k, msg: `${path}.${k} in body is a forbidden property` });
    }
  } else if (typeof ap === 'object') {
    for (const k of keys) if (!n.properties?.has(k)) count += walk(ap, obj[k], `${path}.${k}`, out);
  }
  if (n.properties) {
    for (const [name, p] of n.properties) {
      if (Object.hasOwn(obj, name)) count += walk(p, obj[name], path ? `${path}.${name}` : name, out);
    }
  }
  for (const k of n.required) {
    if (!Object.hasOwn(obj, k)) out.push({ code: 'required', name: `${path}.${k}`, msg: `${path}.${k} in body is required` });
  }
  return count;
}

function checkEnum(n: Node, data: unknown, path: string, out: Raw[]): void {
  if (!n.enum?.length || (data !== null && n.enum.some((e) => e !== null && jsonEqual(data, e)))) return;
  out.push({ code: 'enum', name: path, value: data, values: n.enum, msg: `${path} in body should be one of ${goJSON(n.enum)}` });
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ka = Object.keys(a);
  const bo = b as Record<string, unknown>;
  return ka.length === Object.keys(bo).length && ka.every((k) => Object.hasOwn(bo, k) && jsonEqual((a as Record<string, unknown>)[k], bo[k]));
}
