// The documentation stands on its own in the repository: every relative link in README.md, docs/ and
// the src/ folder READMEs points at a file of this repository, and none leaves it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from '../../scripts/gen-api-docs.ts';

function markdownFiles(): string[] {
  const out = [join(ROOT, 'README.md')];
  const walk = (dir: string) => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.md')) out.push(p);
    }
  };
  walk(join(ROOT, 'docs'));
  for (const d of readdirSync(join(ROOT, 'src'))) if (existsSync(join(ROOT, 'src', d, 'README.md'))) out.push(join(ROOT, 'src', d, 'README.md'));
  return out;
}

/** Link targets outside code spans and fenced blocks. */
function links(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

test('every relative documentation link resolves to a file inside the repository', () => {
  const files = markdownFiles();
  assert.ok(
    files.some((f) => f.endsWith('docs/architecture.md')),
    'docs/architecture.md exists',
  );
  for (const f of files) {
    for (const target of links(readFileSync(f, 'utf8'))) {
      if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue; // absolute URLs, in-page anchors
      const path = resolve(dirname(f), target.split('#')[0]);
      const where = relative(ROOT, f);
      assert.ok(!relative(ROOT, path).startsWith('..'), `${where} links outside the repository: ${target}`);
      assert.ok(existsSync(path), `${where} links a missing file: ${target}`);
    }
  }
});

test('the README links the documentation in docs/', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const doc of ['docs/architecture.md', 'docs/operations.md', 'docs/support-matrix.md', 'docs/api/eve.kubeve.io-v1alpha1.md']) {
    assert.ok(links(readme).includes(doc), `README.md links ${doc}`);
  }
  assert.doesNotMatch(readme, /\.\.\/shared/, 'README.md refers to nothing outside the repository');
});
