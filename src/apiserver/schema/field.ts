// field.Error construction and value rendering as k8s.io/apimachinery/pkg/util/validation/field v0.32 does it
// (the server reports 1.32), so that error texts match the real apiserver: Go's %q, %v and %#v conventions.

import type { FieldError } from '../errors.ts';

/** Passed as a value to print only the type word (apimachinery's omitValue). */
const OMIT = Symbol('omit');

const TYPE_WORDS: Record<string, string> = {
  FieldValueRequired: 'Required value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  FieldValueTypeInvalid: 'Invalid value',
};

// These types never print the bad value.
const VALUELESS = new Set(['FieldValueRequired', 'FieldValueForbidden', 'FieldValueTooLong']);

/** A bad value that is already rendered, for typed Go values (e.g. %#v of a []string). */
export class GoText {
  constructor(readonly text: string) {}
}

/** %#v of a []string; undefined is a nil slice. */
export function goStrings(list: readonly string[] | undefined): GoText {
  return new GoText(list ? `[]string{${list.map(goQuote).join(', ')}}` : '[]string(nil)');
}

/** field.Error{Type, Field, BadValue, Detail} with Detail rendered as ErrorBody(). */
function fieldError(type: string, field: string, value: unknown, detail: string): FieldError {
  let body = TYPE_WORDS[type];
  if (!VALUELESS.has(type) && value !== OMIT) body += `: ${goValue(value)}`;
  if (detail) body += `: ${detail}`;
  return { type, field, detail: body };
}

export const required = (field: string, detail = '') => fieldError('FieldValueRequired', field, '', detail);
export const forbidden = (field: string, detail: string) => fieldError('FieldValueForbidden', field, '', detail);
export const invalid = (field: string, value: unknown, detail: string) => fieldError('FieldValueInvalid', field, value, detail);
export const typeInvalid = (field: string, value: unknown, detail: string) => fieldError('FieldValueTypeInvalid', field, value, detail);
export const duplicate = (field: string, value: unknown) => fieldError('FieldValueDuplicate', field, value, '');

export function notSupported(field: string, value: unknown, supported: readonly string[]): FieldError {
  const detail = supported.length ? `supported values: ${supported.map(goQuote).join(', ')}` : '';
  return fieldError('FieldValueNotSupported', field, value, detail);
}

export function tooLong(field: string, max: number): FieldError {
  return fieldError('FieldValueTooLong', field, '', max >= 0 ? `may not be more than ${max} bytes` : 'value is too long');
}

export function tooMany(field: string, actual: number, max: number): FieldError {
  return fieldError('FieldValueTooMany', field, actual >= 0 ? actual : OMIT, max >= 0 ? `must have at most ${max} items` : 'has too many items');
}

/** A bad value as ErrorBody prints it: nil as "null", %v for numbers and bools, %q for strings, %#v otherwise. */
function goValue(v: unknown): string {
  if (v instanceof GoText) return v.text;
  if (v === null || v === undefined) return '"null"';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean') return String(v);
  return goSyntax(v);
}

/** %#v of an unstructured JSON value (map[string]interface {} / []interface {}). */
function goSyntax(v: unknown): string {
  if (v === null || v === undefined) return 'interface {}(nil)';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[]interface {}{${v.map(goSyntax).join(', ')}}`;
  const o = v as Record<string, unknown>;
  return `map[string]interface {}{${Object.keys(o)
    .sort()
    .map((k) => `${goQuote(k)}:${goSyntax(o[k])}`)
    .join(', ')}}`;
}

// Field path building, as field.Path.String() renders Child, Index and Key.
export const child = (base: string, name: string) => (base ? `${base}.${name}` : name);
export const index = (base: string, i: number) => `${base}[${i}]`;
export const key = (base: string, k: string) => `${base}[${k}]`;

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (PRINTABLE.test(ch)) out += ch;
    else if (cp >= 0xd800 && cp <= 0xdfff)
      out += '\\ufffd'; // lone surrogate: Go sees invalid UTF-8
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + '"';
}
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** %v of a JSON number as Go decodes it: integers are int64, the rest float64. */
export function goNumber(v: number): string {
  return Number.isInteger(v) && Math.abs(v) < 2 ** 63 ? BigInt(v).toString() : goFloat(v);
}

/** %v of a float64: shortest %g, with an exponent from 1e+06 up and below 1e-04. */
export function goFloat(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  const [mant, e] = v.toExponential().split('e');
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(v);
}

/** encoding/json Marshal of an unstructured value: sorted keys, HTML-safe escaping. */
export function goJSON(v: unknown): string {
  return JSON.stringify(sortKeys(v)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v === undefined ? null : v;
}
