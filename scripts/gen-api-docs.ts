// Renders the API reference of the custom resources in deploy/crds (one Markdown file per group and
// version, docs/api/<group>-<version>.md) from their CRD schemas, so the published reference cannot
// drift from what the server validates. `npm run docs:api` writes it; test/docs/api-docs.test.ts
// fails when the committed files differ from what this renders.

import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';

type Schema = Record<string, any>;
type Crd = Record<string, any>;

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const CRD_DIR = join(ROOT, 'deploy/crds');
export const OUT_DIR = join(ROOT, 'docs/api');

/** Every CustomResourceDefinition in the YAML files of a directory, in file-name order. */
export function readCrds(dir = CRD_DIR): Crd[] {
  const crds: Crd[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const o = doc.toJS() as Crd | null;
      if (o?.kind === 'CustomResourceDefinition') crds.push(o);
    }
  }
  return crds;
}

/** Text safe inside a Markdown table cell: one line, pipes escaped, no raw HTML. */
function cell(text: unknown): string {
  return String(text ?? '')
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\|/g, '\\|')
    .replace(/</g, '&lt;')
    .trim();
}

/** An inline code span that survives a table cell (backticks inside get a longer fence). */
function code(text: unknown): string {
  const s = String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const fence = s.includes('`') ? '``' : '`';
  return `${fence}${s.startsWith('`') || s.endsWith('`') ? ` ${s} ` : s}${fence}`;
}

function value(v: unknown): string {
  return code(typeof v === 'string' ? v : JSON.stringify(v));
}

function typeOf(s: Schema): string {
  if (s['x-kubernetes-int-or-string']) return 'int-or-string';
  if (s.type === 'array') return `[]${s.items ? typeOf(s.items) : 'any'}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `map[string]${typeOf(s.additionalProperties)}`;
  if (s.type === 'object' && s['x-kubernetes-preserve-unknown-fields'] && !s.properties) return 'object (any fields)';
  if (s.type) return s.format ? `${s.type} (${s.format})` : s.type;
  if (s['x-kubernetes-preserve-unknown-fields']) return 'any';
  return 'any';
}

/** Keywords shown elsewhere (type, description, default, structure) or implied by the type column. */
const SHOWN = new Set([
  'type',
  'format',
  'description',
  'default',
  'properties',
  'items',
  'additionalProperties',
  'required',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
]);

/** `required: [a]` alternatives of anyOf/oneOf (the usual "one of these fields" idiom), or undefined. */
function requiredAlternatives(alts: Schema[]): string | undefined {
  if (!alts.every((a) => Object.keys(a).length === 1 && Array.isArray(a.required))) return undefined;
  return alts.map((a) => a.required.map(code).join(' + ')).join(', ');
}

/** Every validation rule of a schema node, in words; unknown keywords are shown verbatim, never dropped. */
function constraints(s: Schema): string[] {
  const out: string[] = [];
  const bound = (lo: string, hi: string, what: string, exLo?: boolean, exHi?: boolean) => {
    const l = s[lo],
      h = s[hi];
    if (l !== undefined && h !== undefined) out.push(`${l} ${exLo ? '<' : '≤'} ${what} ${exHi ? '<' : '≤'} ${h}`);
    else if (l !== undefined) out.push(`${what} ${exLo ? '>' : '≥'} ${l}`);
    else if (h !== undefined) out.push(`${what} ${exHi ? '<' : '≤'} ${h}`);
  };
  bound('minimum', 'maximum', 'value', s.exclusiveMinimum === true, s.exclusiveMaximum === true);
  bound('minLength', 'maxLength', 'length');
  bound('minItems', 'maxItems', 'items');
  bound('minProperties', 'maxProperties', 'entries');
  for (const [k, v] of Object.entries(s)) {
    if (
      SHOWN.has(k) ||
      [
        'minimum',
        'maximum',
        'exclusiveMinimum',
        'exclusiveMaximum',
        'minLength',
        'maxLength',
        'minItems',
        'maxItems',
        'minProperties',
        'maxProperties',
      ].includes(k)
    )
      continue;
    switch (k) {
      case 'enum':
        out.push(`one of ${(v as unknown[]).map(value).join(', ')}`);
        break;
      case 'pattern':
        out.push(`matches ${code(v)}`);
        break;
      case 'multipleOf':
        out.push(`multiple of ${v}`);
        break;
      case 'uniqueItems':
        if (v) out.push('items unique');
        break;
      case 'nullable':
        if (v) out.push('may be null');
        break;
      case 'x-kubernetes-list-type':
        out.push(
          v === 'map'
            ? `list keyed by ${(s['x-kubernetes-list-map-keys'] ?? []).map(code).join(', ')}`
            : v === 'set'
              ? 'list of unique values (set)'
              : `list type ${code(v)}`,
        );
        break;
      case 'x-kubernetes-list-map-keys':
        break; // with x-kubernetes-list-type
      case 'x-kubernetes-map-type':
        out.push(`map type ${code(v)}`);
        break;
      case 'x-kubernetes-embedded-resource':
        if (v) out.push('an embedded Kubernetes object');
        break;
      case 'x-kubernetes-validations':
        for (const r of v as Schema[]) out.push(`rule ${code(r.rule)}${r.message ? `: ${cell(r.message)}` : ''}`);
        break;
      case 'anyOf':
      case 'oneOf': {
        const alts = requiredAlternatives(v as Schema[]);
        if (alts) out.push(`${k === 'oneOf' ? 'exactly one of' : 'at least one of'} ${alts}`);
        else if (!(s['x-kubernetes-int-or-string'] && k === 'anyOf')) out.push(`${k} ${code(JSON.stringify(v))}`);
        break;
      }
      default:
        out.push(`${k}: ${code(JSON.stringify(v))}`);
    }
  }
  return out;
}

/** A field's rules, with those of its list items or map values (which have no row of their own). */
function rules(s: Schema): string[] {
  const out = constraints(s);
  if (s.type === 'array' && s.items) {
    const each = constraints(s.items);
    if (each.length) out.push(`each item: ${each.join(', ')}`);
  }
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    const each = constraints(s.additionalProperties);
    if (each.length) out.push(`each value: ${each.join(', ')}`);
  }
  return out;
}

interface Row {
  path: string;
  schema: Schema;
  required: boolean;
}

/** The fields of an object schema, depth first, as dotted paths (`[]` for list items, `<key>` for map values). */
function rows(s: Schema, prefix: string, out: Row[] = []): Row[] {
  const req = new Set<string>(s.required ?? []);
  for (const [name, p] of Object.entries<Schema>(s.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    out.push({ path, schema: p, required: req.has(name) });
    descend(p, path, out);
  }
  return out;
}

function descend(p: Schema, path: string, out: Row[]): void {
  if (p.properties) rows(p, path, out);
  if (p.type === 'array' && p.items) {
    if (p.items.properties) rows(p.items, `${path}[]`, out);
    else if (p.items.type === 'array' || p.items.additionalProperties) descend(p.items, `${path}[]`, out);
  }
  if (p.additionalProperties && typeof p.additionalProperties === 'object') {
    const v = p.additionalProperties as Schema;
    if (v.properties || v.additionalProperties || v.type === 'array') descend(v, `${path}.<key>`, out);
  }
}

/** Every dotted field path of a CRD version's schema (what the reference documents; the test checks it). */
export function fieldPaths(schema: Schema): string[] {
  return rows(schema, '').map((r) => r.path);
}

function fieldTable(schema: Schema): string {
  const lines = ['| Field | Type | Required | Default | Description | Validation |', '|---|---|---|---|---|---|'];
  for (const r of rows(schema, '')) {
    const s = r.schema;
    const desc = r.path === 'metadata' && !s.description ? 'Standard object metadata (ObjectMeta).' : s.description;
    lines.push(
      `| ${code(r.path)} | ${cell(typeOf(s))} | ${r.required ? 'yes' : ''} | ${s.default !== undefined ? value(s.default) : ''} | ${cell(desc)} | ${rules(s).join('; ')} |`,
    );
  }
  return lines.join('\n');
}

function columnsTable(cols: Schema[]): string {
  const lines = ['| Column | Type | JSONPath | Shown | Description |', '|---|---|---|---|---|'];
  for (const c of cols)
    lines.push(
      `| ${cell(c.name)} | ${cell(c.format ? `${c.type} (${c.format})` : c.type)} | ${code(c.jsonPath)} | ${(c.priority ?? 0) > 0 ? '`-o wide`' : 'always'} | ${cell(c.description)} |`,
    );
  return lines.join('\n');
}

function anchor(kind: string): string {
  return kind.toLowerCase().replace(/[^a-z0-9-]/g, '');
}

function firstSentence(text: string | undefined): string {
  const t = cell(text);
  const m = /^(.*?[.!?])(\s|$)/.exec(t);
  return m ? m[1] : t;
}

function subresources(v: Schema): string {
  const sub = v.subresources ?? {};
  const out: string[] = [];
  if (sub.status) out.push('`status`');
  if (sub.scale) out.push(`\`scale\` (spec ${code(sub.scale.specReplicasPath)}, status ${code(sub.scale.statusReplicasPath)})`);
  return out.length ? out.join(', ') : 'none';
}

/** The reference for one group/version: every kind defined for it in `crds`, by kind name. */
export function renderGroupVersion(crds: Crd[], group: string, version: string): string {
  const kinds = crds
    .filter((c) => c.spec.group === group)
    .map((c) => ({ crd: c, v: (c.spec.versions as Schema[]).find((x) => x.name === version) }))
    .filter((k): k is { crd: Crd; v: Schema } => !!k.v && !!k.v.served)
    .sort((a, b) => a.crd.spec.names.kind.localeCompare(b.crd.spec.names.kind));
  const gv = `${group}/${version}`;
  const out: string[] = [
    `# API reference: ${gv}`,
    '',
    `<!-- Generated by \`npm run docs:api\` (scripts/gen-api-docs.ts) from deploy/crds. Do not edit by hand: change the CRDs and regenerate. -->`,
    '',
    `The custom resources of group \`${group}\`, version \`${version}\`, as defined by the CustomResourceDefinitions in`,
    '`deploy/crds/`, which kubeve installs at start and validates, prunes and defaults every object against. Field',
    'paths are dotted: `a.b[]` is an item of list `a.b`, `a.<key>` a value of map `a`. Every object also has the standard',
    '`apiVersion`, `kind` and `metadata`. "Required" is relative to the parent: a required field must be set when its',
    'parent object is. `kubectl explain <kind>.<field>` shows the same descriptions.',
    '',
    '| Kind | Scope | Short names | Summary |',
    '|---|---|---|---|',
    ...kinds.map(
      ({ crd, v }) =>
        `| [${crd.spec.names.kind}](#${anchor(crd.spec.names.kind)}) | ${crd.spec.scope} | ${(crd.spec.names.shortNames ?? []).map(code).join(', ')} | ${firstSentence(v.schema?.openAPIV3Schema?.description)} |`,
    ),
  ];
  for (const { crd, v } of kinds) {
    const n = crd.spec.names;
    const schema: Schema = v.schema?.openAPIV3Schema ?? {};
    out.push(
      '',
      `## ${n.kind}`,
      '',
      cell(schema.description),
      '',
      '| | |',
      '|---|---|',
      `| API version | \`${gv}\` |`,
      `| Scope | ${crd.spec.scope} |`,
      `| Resource | \`${n.plural}\` (singular \`${n.singular ?? n.kind.toLowerCase()}\`, list kind \`${n.listKind ?? `${n.kind}List`}\`) |`,
      `| Short names | ${(n.shortNames ?? []).map(code).join(', ') || 'none'} |`,
      `| Categories | ${(n.categories ?? []).map(code).join(', ') || 'none'} |`,
      `| Subresources | ${subresources(v)} |`,
      `| CRD | \`${crd.metadata.name}\`${v.deprecated ? ' (deprecated)' : ''} |`,
    );
    if (v.additionalPrinterColumns?.length)
      out.push('', `### ${n.kind}: printer columns`, '', '`kubectl get` prints NAME, then:', '', columnsTable(v.additionalPrinterColumns));
    out.push('', `### ${n.kind}: fields`, '');
    const top = constraints(schema);
    if (top.length) out.push(`Object-level validation: ${top.join('; ')}.`, '');
    out.push(fieldTable(schema));
  }
  return out.join('\n') + '\n';
}

/** Every served group/version of `crds` → its file name and contents. */
export function renderApiReference(crds: Crd[]): Map<string, string> {
  const gvs = new Set<string>();
  for (const c of crds) for (const v of c.spec.versions as Schema[]) if (v.served) gvs.add(`${c.spec.group}\u0000${v.name}`);
  const files = new Map<string, string>();
  for (const gv of [...gvs].sort()) {
    const [group, version] = gv.split('\u0000');
    files.set(`${group}-${version}.md`, renderGroupVersion(crds, group, version));
  }
  return files;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  mkdirSync(OUT_DIR, { recursive: true });
  for (const [name, text] of renderApiReference(readCrds())) {
    writeFileSync(join(OUT_DIR, name), text);
    console.log(`wrote ${join('docs/api', name)}`);
  }
}
