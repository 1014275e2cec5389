#!/usr/bin/env node
// Runs the compiled CLI (dist/, made by `npm run build`) when there is one, as in the npm package
// and the container image; in a checkout without a build, the TypeScript sources through tsx (a
// dev dependency). KUBEVE_FROM_SOURCE=1 forces the sources when a stale dist/ is lying around.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/launch.js', import.meta.url);
if (existsSync(dist) && process.env.KUBEVE_FROM_SOURCE !== '1') {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/launch.ts');
}
