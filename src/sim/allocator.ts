// Memory allocator for fleet-scale processes. glibc's malloc fragments under the per-connection
// TLS allocations of thousands of devices (measured: 16-23 % of CPU in _int_malloc, 3x the resident
// memory) and under TLS connection churn (bench/churn.bench.ts: resident memory keeps growing);
// jemalloc (Debian: libjemalloc2), preloaded, does not. Used when installed.
import fs from 'node:fs';

const CANDIDATES = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2', '/usr/lib64/libjemalloc.so.2', '/usr/lib/libjemalloc.so.2'];

/** Path of an installed libjemalloc, if any. */
export function jemallocPath(): string | undefined {
  return CANDIDATES.find((f) => fs.existsSync(f));
}

/** `env` with jemalloc preloaded (unchanged when it is not installed or already preloaded). */
export function preferJemalloc(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const lib = jemallocPath();
  if (!lib || /jemalloc/.test(env.LD_PRELOAD ?? '')) return env;
  return { ...env, LD_PRELOAD: [lib, env.LD_PRELOAD].filter(Boolean).join(':') };
}

/** `env` without jemalloc in LD_PRELOAD: the process gets glibc's malloc. */
export function withoutJemalloc(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const rest = (env.LD_PRELOAD ?? '').split(':').filter((l) => l && !/jemalloc/.test(l));
  const out = { ...env };
  if (rest.length) out.LD_PRELOAD = rest.join(':');
  else delete out.LD_PRELOAD;
  return out;
}

/** Path of the jemalloc library mapped into process `pid` (default: this one), if any. */
export function loadedJemalloc(pid: number | 'self' = 'self'): string | undefined {
  let maps: string;
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return undefined; // not Linux, or the process is gone
  }
  return /\s(\/\S*libjemalloc\S*)$/m.exec(maps)?.[1];
}

/** The allocator this process runs with, for the startup output. */
export function describeAllocator(): string {
  const lib = loadedJemalloc();
  if (lib) return `jemalloc (${lib})`;
  if (process.env.KUBEVE_MALLOC === 'glibc') return 'glibc malloc (KUBEVE_MALLOC=glibc)';
  return jemallocPath() ? 'glibc malloc (jemalloc could not be preloaded)' : 'glibc malloc (install libjemalloc2 for less memory under connection churn)';
}
