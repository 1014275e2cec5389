// The published API reference (docs/api/) is generated from the CRDs in deploy/crds: it must be
// up to date (CI fails otherwise: run `npm run docs:api`), and it must document every field the
// schemas define, with its description, enum values and default.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { OUT_DIR, readCrds, renderApiReference, fieldPaths } from '../../scripts/gen-api-docs.ts';

const crds = readCrds();
const rendered = renderApiReference(crds);

test('the committed API reference matches the CRDs (run `npm run docs:api` after changing deploy/crds)', () => {
  assert.ok(rendered.has('eve.kubeve.io-v1alpha1.md'), 'a reference for eve.kubeve.io/v1alpha1 is rendered');
  for (const [name, text] of rendered) {
    const file = join(OUT_DIR, name);
    assert.ok(existsSync(file), `docs/api/${name} is missing: run npm run docs:api`);
    const committed = readFileSync(file, 'utf8');
    if (committed !== text) {
      const a = committed.split('\n'),
        b = text.split('\n');
      const i = a.findIndex((l, n) => l !== b[n]);
      assert.fail(`docs/api/${name} is out of date with deploy/crds (run npm run docs:api); first difference at line ${i + 1}:\n- ${a[i]}\n+ ${b[i]}`);
    }
  }
  const stale = readdirSync(OUT_DIR).filter((f) => f.endsWith('.md') && !rendered.has(f));
  assert.deepEqual(stale, [], 'no reference for a group/version the CRDs no longer define');
});

/** The table row documenting `path` in the section of `kind`. */
function rowOf(doc: string, kind: string, path: string): string | undefined {
  const start = doc.indexOf(`\n## ${kind}\n`);
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  return section.split('\n').find((l) => l.startsWith(`| \`${path}\` |`));
}

function schemaAt(schema: any, path: string): any {
  let s = schema;
  for (const part of path.replace(/\[\]/g, '.[]').split('.')) {
    s = part === '[]' ? s.items : part === '<key>' ? s.additionalProperties : s.properties[part];
  }
  return s;
}

test('every field of every kind is documented with its type, description, enum values and default', () => {
  const doc = rendered.get('eve.kubeve.io-v1alpha1.md')!;
  const eve = crds.filter((c) => c.spec.group === 'eve.kubeve.io');
  assert.equal(eve.length, 7, 'the seven EVE kinds');
  let fields = 0;
  for (const crd of eve) {
    const kind = crd.spec.names.kind;
    const schema = crd.spec.versions.find((v: any) => v.name === 'v1alpha1').schema.openAPIV3Schema;
    assert.match(doc, new RegExp(`\\| Scope \\| ${crd.spec.scope} \\|`));
    for (const col of crd.spec.versions[0].additionalPrinterColumns ?? [])
      assert.ok(doc.includes(`\`${col.jsonPath}\``), `${kind}: printer column ${col.name}`);
    for (const path of fieldPaths(schema)) {
      fields++;
      const row = rowOf(doc, kind, path);
      assert.ok(row, `${kind}: no row for ${path}`);
      const s = schemaAt(schema, path);
      if (s.description)
        assert.ok(
          row.includes(
            s.description
              .replace(/\s*\n\s*/g, ' ')
              .replace(/\|/g, '\\|')
              .replace(/</g, '&lt;')
              .trim(),
          ),
          `${kind}.${path}: description`,
        );
      for (const e of s.enum ?? []) assert.ok(row.includes(`\`${e}\``), `${kind}.${path}: enum value ${e}`);
      if (s.default !== undefined)
        assert.ok(row.includes(typeof s.default === 'string' ? `\`${s.default}\`` : JSON.stringify(s.default)), `${kind}.${path}: default`);
      if (s.maximum !== undefined) assert.ok(row.includes(String(s.maximum)), `${kind}.${path}: maximum`);
    }
  }
  assert.ok(fields > 150, `all fields documented (${fields})`);
});

test('a change to a CRD schema changes the reference (so the sync check can fail)', () => {
  const changed = structuredClone(crds);
  const vol = changed.find((c) => c.spec.names.kind === 'Volume')!;
  vol.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.imageFormat.enum.push('zstd');
  const text = renderApiReference(changed).get('eve.kubeve.io-v1alpha1.md')!;
  assert.notEqual(text, rendered.get('eve.kubeve.io-v1alpha1.md'));
  assert.match(rowOf(text, 'Volume', 'spec.imageFormat')!, /`zstd`/);
});
