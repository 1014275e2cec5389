// Entry point of the kubeve command. The server runs under jemalloc when it is installed: with
// glibc's malloc its resident memory keeps growing under TLS connection churn (bench/churn.bench.ts),
// and an allocator can only be chosen before the process starts, so the command re-executes itself
// once with LD_PRELOAD set (and MALLOC_CONF, unless set: see SERVER_JEMALLOC_CONF).
// KUBEVE_MALLOC=glibc keeps glibc's malloc.
// Where Node has process.execve (22.15+, 24) the process replaces itself (same pid). Otherwise a
// transparent parent stays: same stdio, signals forwarded, and it exits with the child's exit
// code (or dies of the child's signal).
import { spawn } from 'node:child_process';
import { jemallocPath, loadedJemalloc, serverJemallocEnv } from '../sim/allocator.ts';

/** Commands that run long enough for the allocator to matter. */
const LONG_RUNNING = new Set(['server', 'operator']);
/** Set in the re-executed child, so it never re-executes again. */
const RELAUNCHED = 'KUBEVE_MALLOC_RELAUNCHED';
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

function wantsRelaunch(argv: string[], env: NodeJS.ProcessEnv): boolean {
  if (!LONG_RUNNING.has(argv[2] ?? '') || env[RELAUNCHED]) return false;
  const choice = env.KUBEVE_MALLOC ?? 'jemalloc';
  if (choice === 'glibc') return false;
  if (choice !== 'jemalloc') {
    console.error(`kubeve: KUBEVE_MALLOC must be "jemalloc" (the default) or "glibc", not ${JSON.stringify(choice)}`);
    process.exit(2);
  }
  return jemallocPath() !== undefined && !loadedJemalloc();
}

/** Re-execute this command under jemalloc; resolves never (the process ends with the child). */
function relaunch(): Promise<never> {
  const args = [...process.execArgv, ...process.argv.slice(1)];
  const env = { ...serverJemallocEnv(process.env), [RELAUNCHED]: '1' };
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (execve) execve(process.execPath, [process.execPath, ...args], env);
  const child = spawn(process.execPath, args, { stdio: 'inherit', env });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  for (const sig of FORWARDED) process.on(sig, forward);
  child.on('error', (e) => {
    console.error(`kubeve: cannot start ${process.execPath}: ${e.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    for (const sig of FORWARDED) process.off(sig, forward);
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
  return new Promise<never>(() => {});
}

if (wantsRelaunch(process.argv, process.env)) await relaunch();
else await import('./main.ts');
