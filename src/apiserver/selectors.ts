// Label and field selectors with the grammar, validation and error texts of
// k8s.io/apimachinery/pkg/labels (Parse), pkg/fields (ParseSelector) and
// metav1.LabelSelectorAsSelector. Parse errors are 400 BadRequest, as list/watch answer them.

import { badRequest } from './errors.ts';
import { goQuote, isQualifiedName, isValidLabelValue } from './validation.ts';

export type LabelOperator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export type LabelSelector = {
  matches(labels: Record<string, string> | undefined): boolean;
  /** True when the selector does not restrict anything (matches every object). */
  empty: boolean;
  toString(): string;
  /** AND-ed requirements, sorted by key; empty for both "everything" and "nothing". */
  requirements: LabelRequirement[];
};

export type FieldSelector = {
  requirements: { field: string; op: '=' | '!='; value: string }[];
  matches(get: (field: string) => string | undefined): boolean;
  empty: boolean;
  toString(): string;
};

// ---- requirements ----------------------------------------------------------------------------

function requirementMatches(r: LabelRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const val = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case '=':
    case '==':
    case 'in':
      return has && r.values.includes(val!);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(val!);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || !/^[+-]?\d+$/.test(val!)) return false;
      const l = BigInt(val!);
      const v = BigInt(r.values[0]);
      return r.operator === 'gt' ? l > v : l < v;
    }
  }
}

function requirementString(r: LabelRequirement): string {
  const values = [...r.values].sort().join(',');
  switch (r.operator) {
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
    case 'in':
      return `${r.key} in (${values})`;
    case 'notin':
      return `${r.key} notin (${values})`;
    case 'gt':
      return `${r.key}>${values}`;
    case 'lt':
      return `${r.key}<${values}`;
    default:
      return `${r.key}${r.operator}${values}`;
  }
}

/** Aggregate of field errors as utilerrors prints it: one message bare, several in brackets. */
function aggregate(msgs: string[]): string {
  const uniq = [...new Set(msgs)];
  return uniq.length === 1 ? uniq[0] : `[${uniq.join(', ')}]`;
}

const goStrings = (vs: string[] | undefined) => (vs === undefined ? '[]string(nil)' : `[]string{${vs.map(goQuote).join(', ')}}`);

/**
 * labels.NewRequirement: checks the key, the value count for the operator and each value. Error
 * paths are relative ("key", "values[0][app]") since no base path is given, as upstream.
 */
function newRequirement(key: string, operator: LabelOperator, values: string[] | undefined): LabelRequirement {
  const errs: string[] = [];
  const keyErrs = isQualifiedName(key);
  if (keyErrs.length) errs.push(`key: Invalid value: ${goQuote(key)}: ${keyErrs.join('; ')}`);
  const vals = values ?? [];
  const bad = (detail: string) => errs.push(`values: Invalid value: ${goStrings(values)}: ${detail}`);
  switch (operator) {
    case 'in':
    case 'notin':
      if (vals.length === 0) bad("for 'in', 'notin' operators, values set can't be empty");
      break;
    case '=':
    case '==':
    case '!=':
      if (vals.length !== 1) bad('exact-match compatibility requires one single value');
      break;
    case 'exists':
    case '!':
      if (vals.length !== 0) bad('values set must be empty for exists and does not exist');
      break;
    case 'gt':
    case 'lt':
      if (vals.length !== 1) bad("for 'Gt', 'Lt' operators, exactly one value is required");
      vals.forEach((v, i) => {
        if (!/^[+-]?\d+$/.test(v) || BigInt(v) > 2n ** 63n - 1n || BigInt(v) < -(2n ** 63n)) {
          errs.push(`values[${i}]: Invalid value: ${goQuote(v)}: for 'Gt', 'Lt' operators, the value must be an integer`);
        }
      });
      break;
  }
  vals.forEach((v, i) => {
    const msgs = isValidLabelValue(v);
    if (msgs.length) errs.push(`values[${i}][${key}]: Invalid value: ${goQuote(v)}: ${msgs.join('; ')}`);
  });
  if (errs.length) throw new SelectorError(aggregate(errs));
  return { key, operator, values: vals };
}

class SelectorError extends Error {}

function selectorOf(reqs: LabelRequirement[]): LabelSelector {
  // Sorted by key (stable) so String() is deterministic, like internalSelector.Add / parse.
  const requirements = [...reqs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    requirements,
    empty: requirements.length === 0,
    matches: (labels) => requirements.every((r) => requirementMatches(r, labels ?? {})),
    toString: () => requirements.map(requirementString).join(','),
  };
}

const NOTHING: LabelSelector = { requirements: [], empty: false, matches: () => false, toString: () => '' };

// ---- label selector string grammar -----------------------------------------------------------

type Tok = 'error' | 'eos' | ')' | ',' | '!' | '==' | '=' | '>' | 'id' | 'in' | '<' | '!=' | 'notin' | '(';
interface Item {
  tok: Tok;
  lit: string;
}

const TOKENS: Record<string, Tok> = { ')': ')', ',': ',', '!': '!', '==': '==', '=': '=', '>': '>', in: 'in', '<': '<', '!=': '!=', notin: 'notin', '(': '(' };
const isWhitespace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isSpecial = (c: string) => '=!(),><'.includes(c);
const has = (o: object, k: string) => Object.hasOwn(o, k);

function lex(s: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  for (;;) {
    while (pos < s.length && isWhitespace(s[pos])) pos++;
    if (pos >= s.length) {
      items.push({ tok: 'eos', lit: '' });
      return items;
    }
    if (isSpecial(s[pos])) {
      // Longest run of special characters that is still an operator ("!=" but not "=(").
      let buf = '';
      let last: Item | undefined;
      while (pos < s.length && isSpecial(s[pos])) {
        buf += s[pos];
        if (has(TOKENS, buf)) last = { tok: TOKENS[buf], lit: buf };
        else if (last) break;
        pos++;
      }
      items.push(last ?? { tok: 'error', lit: `error expected: keyword found '${buf}'` });
    } else {
      let buf = '';
      while (pos < s.length && !isSpecial(s[pos]) && !isWhitespace(s[pos])) buf += s[pos++];
      items.push(has(TOKENS, buf) ? { tok: TOKENS[buf], lit: buf } : { tok: 'id', lit: buf });
    }
  }
}

const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt';

class Parser {
  private pos = 0;
  constructor(private items: Item[]) {}

  // In a value position the keywords "in"/"notin" are plain identifiers ("x in (in)").
  private asValue(it: Item): Item {
    return it.tok === 'in' || it.tok === 'notin' ? { tok: 'id', lit: it.lit } : it;
  }
  private peek(values = true): Item {
    const it = this.items[this.pos];
    return values ? this.asValue(it) : it;
  }
  private next(values = true): Item {
    const it = this.items[this.pos++];
    return values ? this.asValue(it) : it;
  }

  parse(): LabelRequirement[] {
    const reqs: LabelRequirement[] = [];
    for (;;) {
      const { tok, lit } = this.peek();
      if (tok === 'eos') return reqs;
      if (tok !== 'id' && tok !== '!') throw new SelectorError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      try {
        reqs.push(this.requirement());
      } catch (err) {
        throw new SelectorError(`unable to parse requirement: ${(err as Error).message}`);
      }
      const t = this.next();
      if (t.tok === 'eos') return reqs;
      if (t.tok !== ',') throw new SelectorError(`found '${t.lit}', expected: ',' or 'end of string'`);
      const t2 = this.peek();
      if (t2.tok !== 'id' && t2.tok !== '!') throw new SelectorError(`found '${t2.lit}', expected: identifier after ','`);
    }
  }

  private requirement(): LabelRequirement {
    let notExists = false;
    let t = this.next();
    if (t.tok === '!') {
      notExists = true;
      t = this.next();
    }
    if (t.tok !== 'id') throw new SelectorError(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    const keyErrs = isQualifiedName(key);
    // The parser validates keys without a field path, hence Go's "<nil>" field name.
    if (keyErrs.length) throw new SelectorError(`<nil>: Invalid value: ${goQuote(key)}: ${keyErrs.join('; ')}`);
    const after = this.peek().tok;
    if (notExists) return newRequirement(key, '!', []);
    if (after === 'eos' || after === ',') return newRequirement(key, 'exists', []);

    const op = this.next(false);
    let operator: LabelOperator;
    switch (op.tok) {
      case 'in':
        operator = 'in';
        break;
      case 'notin':
        operator = 'notin';
        break;
      case '=':
        operator = '=';
        break;
      case '==':
        operator = '==';
        break;
      case '!=':
        operator = '!=';
        break;
      case '>':
        operator = 'gt';
        break;
      case '<':
        operator = 'lt';
        break;
      default:
        throw new SelectorError(`found '${op.lit}', expected: ${BINARY_OPERATORS}`);
    }
    const values = operator === 'in' || operator === 'notin' ? this.setValues() : this.exactValue();
    return newRequirement(key, operator, [...new Set(values)].sort());
  }

  private setValues(): string[] {
    const open = this.next();
    if (open.tok !== '(') throw new SelectorError(`found '${open.lit}' expected: '('`);
    const { tok, lit } = this.peek();
    if (tok === ')') {
      this.next();
      return ['']; // "()" is the set holding the empty value
    }
    if (tok !== 'id' && tok !== ',') throw new SelectorError(`found '${lit}', expected: ',', ')' or identifier`);
    const values = this.identifiers();
    // Upstream reports the first value's literal here, not the offending token.
    if (this.next().tok !== ')') throw new SelectorError(`found '${lit}', expected: ')'`);
    return values;
  }

  /** Comma-separated, possibly empty values: "(a,,b)" and "(a,)" include "". */
  private identifiers(): string[] {
    const out: string[] = [];
    for (;;) {
      const t = this.next();
      if (t.tok === 'id') {
        out.push(t.lit);
        const t2 = this.peek();
        if (t2.tok === ',') continue;
        if (t2.tok === ')') return out;
        throw new SelectorError(`found '${t2.lit}', expected: ',' or ')'`);
      }
      if (t.tok === ',') {
        if (out.length === 0) out.push('');
        const t2 = this.peek().tok;
        if (t2 === ')' || t2 === ',') out.push('');
        if (t2 === ')') return out;
        continue;
      }
      throw new SelectorError(`found '${t.lit}', expected: ',', or identifier`);
    }
  }

  private exactValue(): string[] {
    const { tok } = this.peek();
    if (tok === 'eos' || tok === ',') return [''];
    const t = this.next();
    if (t.tok === 'id') return [t.lit];
    throw new SelectorError(`found '${t.lit}', expected: identifier`);
  }
}

/** Parses `?labelSelector=`; the empty string selects everything. Syntax errors are 400. */
export function parseLabelSelector(s: string): LabelSelector {
  try {
    return selectorOf(new Parser(lex(s)).parse());
  } catch (err) {
    if (err instanceof SelectorError) throw badRequest(err.message);
    throw err;
  }
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: { key: string; operator: string; values?: string[] | null }[] | null;
}

const EXPRESSION_OPERATORS: Record<string, LabelOperator> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };

/**
 * metav1.LabelSelector -> selector, as LabelSelectorAsSelector: a null/absent selector matches
 * nothing, an empty one matches everything. Invalid keys, values or operators are 400.
 */
export function labelSelectorFromObject(sel: LabelSelectorObject | null | undefined): LabelSelector {
  if (sel === null || sel === undefined) return NOTHING;
  const matchLabels = sel.matchLabels ?? {};
  const exprs = sel.matchExpressions ?? [];
  if (Object.keys(matchLabels).length + exprs.length === 0) return selectorOf([]);
  try {
    const reqs: LabelRequirement[] = [];
    for (const k of Object.keys(matchLabels).sort()) reqs.push(newRequirement(k, '=', [String(matchLabels[k])]));
    for (const e of exprs) {
      const op = has(EXPRESSION_OPERATORS, e.operator) ? EXPRESSION_OPERATORS[e.operator] : undefined;
      if (!op) throw new SelectorError(`${goQuote(String(e.operator))} is not a valid label selector operator`);
      reqs.push(newRequirement(e.key, op, e.values?.length ? [...e.values] : undefined));
    }
    return selectorOf(reqs);
  } catch (err) {
    if (err instanceof SelectorError) throw badRequest(err.message);
    throw err;
  }
}

// ---- field selectors -------------------------------------------------------------------------

/** Backslash escapes for `\`, `,` and `=` in field selector values (fields.EscapeValue). */
export function escapeFieldValue(s: string): string {
  return s.replace(/[\\,=]/g, (c) => `\\${c}`);
}

function unescapeFieldValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') throw badRequest(`invalid field selector: invalid escape sequence: \\${c}`);
      out += c;
      inSlash = false;
    } else if (c === '\\') {
      inSlash = true;
    } else if (c === ',' || c === '=') {
      // Go prints the rune as a number here.
      throw badRequest(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    } else {
      out += c;
    }
  }
  if (inSlash) throw badRequest('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** Splits on commas that are not backslash-escaped, keeping the escapes. */
function splitTerms(s: string): string[] {
  if (s === '') return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < s.length; i++) {
    if (inSlash) inSlash = false;
    else if (s[i] === '\\') inSlash = true;
    else if (s[i] === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

/** Parses `?fieldSelector=`: `f=v`, `f==v`, `f!=v`, comma = AND. Which fields exist is the caller's business. */
export function parseFieldSelector(s: string): FieldSelector {
  const requirements: FieldSelector['requirements'] = [];
  for (const term of splitTerms(s).sort()) {
    if (term === '') continue;
    // The field name has no escaping, so the first operator found splits the term.
    const m = /^(.*?)(!=|==|=)(.*)$/s.exec(term);
    if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
    requirements.push({ field: m[1], op: m[2] === '!=' ? '!=' : '=', value: unescapeFieldValue(m[3]) });
  }
  return {
    requirements,
    empty: requirements.length === 0,
    matches: (get) => requirements.every((r) => ((get(r.field) ?? '') === r.value) === (r.op === '=')),
    toString: () => requirements.map((r) => `${r.field}${r.op}${escapeFieldValue(r.value)}`).join(','),
  };
}
