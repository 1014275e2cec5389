// Memory allocator for fleet-scale processes. glibc's malloc fragments under the per-connection
// TLS allocations of thousands of devices (measured: 16-23 % of CPU in _int_malloc, 3x the resident
// memory) and under TLS connection churn (bench/churn.bench.ts: resident memory keeps growing);
// jemalloc (Debian: libjemalloc2), preloaded, does not. Used when installed.
import fs from 'node:fs';

const CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib64/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
];

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

/**
 * jemalloc settings for a long-running server: jemalloc keeps freed pages for reuse and, by default,
 * returns them to the system only on later allocator activity (dirty_decay_ms 10 s). After a burst
 * of connections an idle server then keeps the burst's peak (bench/churn.bench.ts: +10 MiB per
 * round of 2,000 connections, never returned). A background thread that purges pages unused for
 * a second keeps resident memory flat.
 */
export const SERVER_JEMALLOC_CONF = 'background_thread:true,dirty_decay_ms:1000';

/** `env` for a long-running server: jemalloc preloaded (when installed) with SERVER_JEMALLOC_CONF unless MALLOC_CONF is set. */
export function serverJemallocEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = preferJemalloc(env);
  return out.LD_PRELOAD && /jemalloc/.test(out.LD_PRELOAD) && !out.MALLOC_CONF ? { ...out, MALLOC_CONF: SERVER_JEMALLOC_CONF } : out;
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
  if (lib) return `jemalloc (${lib}${process.env.MALLOC_CONF ? `, MALLOC_CONF=${process.env.MALLOC_CONF}` : ''})`;
  if (process.env.KUBEVE_MALLOC === 'glibc') return 'glibc malloc (KUBEVE_MALLOC=glibc)';
  return jemallocPath() ? 'glibc malloc (jemalloc could not be preloaded)' : 'glibc malloc (install libjemalloc2 for less memory under connection churn)';
}
