// `npm run build` (tsc 7 with tsconfig.build.json) compiles src/ to JavaScript that runs without
// tsx: a copy of the package with dist/ built into it and a node_modules without tsx runs
// `node bin/kubeve.js server`, which answers kubectl.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, freePort } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-build-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd: string) =>
  new Promise<{ code: number; out: string }>((resolve) => {
    execFile(cmd, args, { cwd, timeout: 180_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr }));
  });

test('npm run build compiles to dist/ and node bin/kubeve.js server runs from it without tsx', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.scripts.build, 'tsc -p tsconfig.build.json');
  assert.ok(!pkg.dependencies.tsx && pkg.devDependencies.tsx, 'tsx is a dev dependency only');
  assert.ok(pkg.files.includes('dist/'));

  // The package as installed: what `files` lists (dist/ is built below), package.json, node_modules minus dev tooling.
  const app = path.join(tmp, 'app');
  fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true });
  for (const f of pkg.files as string[]) if (f !== 'dist/') fs.cpSync(path.join(ROOT, f), path.join(app, f), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
  const real = fs.realpathSync(path.join(ROOT, 'node_modules'));
  for (const m of fs.readdirSync(real))
    if (!['tsx', 'esbuild', '@esbuild', 'typescript', '.bin'].includes(m)) fs.symlinkSync(path.join(real, m), path.join(app, 'node_modules', m));

  const tsc = path.join(real, '.bin', 'tsc');
  const b = await run(tsc, ['-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(app, 'dist')], ROOT);
  assert.equal(b.code, 0, b.out);
  const main = fs.readFileSync(path.join(app, 'dist/cli/main.js'), 'utf8');
  assert.match(main, /from '\.\.\/server\/kubeve\.js'/, 'relative .ts imports are rewritten to .js');
  assert.doesNotMatch(main, /\.ts'/);

  const port = await freePort();
  const devicePort = await freePort();
  const child = spawn(
    process.execPath,
    [
      path.join(app, 'bin/kubeve.js'),
      'server',
      '--data-dir',
      path.join(tmp, 'data'),
      '--port',
      String(port),
      '--device-port',
      String(devicePort),
      '--device-host',
      '127.0.0.1',
    ],
    { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    const deadline = Date.now() + 60_000;
    while (!out.includes('EVE device API') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /kubeve API server listening on https:\/\/127\.0\.0\.1:\d+/, out);
    const home = path.join(tmp, 'home');
    const k = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(
        'kubectl',
        ['get', 'crd/edgenodes.eve.kubeve.io', 'clusterrole/kubeve-edit', '-o', 'name'],
        {
          env: { ...process.env, HOME: home, KUBECONFIG: /export KUBECONFIG=(\S+)/.exec(out)![1]!, KUBECACHEDIR: path.join(home, 'cache') },
        },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr }),
      ),
    );
    assert.equal(k.code, 0, k.out);
    assert.match(k.out, /edgenodes\.eve\.kubeve\.io/, 'the CRDs were installed from deploy/crds by the compiled server');
    assert.match(k.out, /clusterrole\.rbac\.authorization\.k8s\.io\/kubeve-edit/, 'and the aggregated roles from deploy/rbac');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
