// The default start paths (`npm start`, bin/kubeve.js) run the server under jemalloc when it is
// installed, say so, and stay transparent: exit codes and signals behave as if there were no re-exec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { jemallocPath, withoutJemalloc } from '../../src/sim/allocator.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'kubeve.js');
const JEMALLOC = jemallocPath();
const noJemalloc = { skip: JEMALLOC ? false : 'libjemalloc2 is not installed' };

/** This environment without any allocator choice: what a user's shell has. */
function defaultEnv(): NodeJS.ProcessEnv {
  const env = withoutJemalloc();
  delete env.KUBEVE_MALLOC;
  delete env.KUBEVE_MALLOC_RELAUNCHED;
  return env;
}

interface Started {
  proc: ChildProcess;
  /** pid the server reports in its startup output */
  serverPid: number;
  output: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  dir: string;
}

function serverArgs(dir: string): string[] {
  return ['--data-dir', path.join(dir, 'data'), '--port', '0', '--device-port', '0', '--device-host', '127.0.0.1'];
}

/** Start a command that runs `kubeve server`; resolves once the server printed its listening line. */
async function start(cmd: string, args: (dir: string) => string[], env: NodeJS.ProcessEnv = process.env): Promise<Started> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-launch-'));
  const proc = spawn(cmd, args(dir), { cwd: ROOT, env: { ...env, HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  let output = '';
  proc.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const serverPid = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (c: Buffer) => {
      output += c.toString();
      const m = /API server listening on \S+ \(pid (\d+),/.exec(output); // the whole number, not a chunk's prefix
      if (m) resolve(Number(m[1]));
    });
    void exit.then((e) => reject(new Error(`exited before listening (${JSON.stringify(e)}):\n${output}`)));
  });
  return {
    proc,
    serverPid,
    get output() {
      return output;
    },
    exit,
    dir,
  };
}

const maps = (pid: number) => fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);

async function stopped(s: Started): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const e = await s.exit;
  fs.rmSync(s.dir, { recursive: true, force: true });
  return e;
}

test('npm start runs the server with jemalloc, says so, and exits 0 when the server is stopped with SIGTERM', noJemalloc, async () => {
  const s = await start('npm', (dir) => ['start', '--silent', '--', ...serverArgs(dir)], defaultEnv());
  try {
    assert.match(maps(s.serverPid), /libjemalloc/, 'the serving process has libjemalloc mapped');
    assert.match(s.output, /memory allocator: jemalloc \(.*MALLOC_CONF=background_thread:true/);
  } finally {
    process.kill(s.serverPid, 'SIGTERM');
  }
  const e = await stopped(s);
  assert.deepEqual(e, { code: 0, signal: null }, s.output);
});

test('bin/kubeve.js server: jemalloc by default; SIGTERM to the started process stops the server (exit 0)', noJemalloc, async () => {
  const s = await start(process.execPath, (dir) => [BIN, 'server', ...serverArgs(dir)], defaultEnv());
  assert.match(maps(s.serverPid), /libjemalloc/);
  if ((process as { execve?: unknown }).execve) assert.equal(s.serverPid, s.proc.pid, 'with process.execve the server keeps the started pid');
  s.proc.kill('SIGTERM');
  const e = await stopped(s);
  assert.deepEqual(e, { code: 0, signal: null }, s.output);
  assert.equal(alive(s.serverPid), false, 'the server process is gone');
});

test('KUBEVE_MALLOC=glibc keeps glibc malloc and says so', async () => {
  const s = await start(process.execPath, (dir) => [BIN, 'server', ...serverArgs(dir)], { ...defaultEnv(), KUBEVE_MALLOC: 'glibc' });
  try {
    assert.equal(s.serverPid, s.proc.pid, 'no re-exec');
    assert.doesNotMatch(maps(s.serverPid), /libjemalloc/);
    assert.match(s.output, /memory allocator: glibc malloc \(KUBEVE_MALLOC=glibc\)/);
  } finally {
    s.proc.kill('SIGTERM');
  }
  assert.deepEqual(await stopped(s), { code: 0, signal: null });
});

test('a server that dies of a signal makes the started process die of the same signal', noJemalloc, async () => {
  const s = await start(process.execPath, (dir) => [BIN, 'server', ...serverArgs(dir)], defaultEnv());
  process.kill(s.serverPid, 'SIGKILL');
  assert.deepEqual(await stopped(s), { code: null, signal: 'SIGKILL' });
});

test('a server that cannot start exits with the same code and message with either allocator', async () => {
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = String((busy.address() as net.AddressInfo).port);
  try {
    const runFailing = (env: NodeJS.ProcessEnv) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeve-launch-'));
        const p = spawn(
          process.execPath,
          [BIN, 'server', '--data-dir', path.join(dir, 'data'), '--port', port, '--device-port', '0', '--device-host', '127.0.0.1'],
          { env, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let stderr = '';
        p.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
        p.once('exit', (code) => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve({ code, stderr });
        });
      });
    const plain = await runFailing({ ...defaultEnv(), KUBEVE_MALLOC: 'glibc' });
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /EADDRINUSE/);
    if (JEMALLOC) {
      const relaunched = await runFailing(defaultEnv());
      assert.equal(relaunched.code, plain.code);
      assert.match(relaunched.stderr, /EADDRINUSE/);
    }
  } finally {
    busy.close();
  }
});

test('an unknown KUBEVE_MALLOC value is refused with a clear message', async () => {
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [BIN, 'server'], { env: { ...defaultEnv(), KUBEVE_MALLOC: 'tcmalloc' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    p.once('exit', (code) => resolve({ code, stderr }));
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /KUBEVE_MALLOC must be "jemalloc" \(the default\) or "glibc", not "tcmalloc"/);
});
