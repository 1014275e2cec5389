// /livez, /readyz and /healthz as kube-apiserver answers them (k8s.io/apiserver/pkg/server/healthz):
// named checks; "ok" when all pass, else 500 listing every check ("[-]name failed: reason withheld");
// ?verbose lists every check even when all pass; ?exclude=name (repeatable) skips checks;
// /readyz/<name> runs one check. Failure reasons are logged, not served (probes are anonymous).

import { log } from './log.ts';

/** A check resolves to undefined when healthy, or to the reason it is not. */
export type CheckFn = () => Promise<string | undefined> | string | undefined;

export type Endpoint = 'livez' | 'readyz' | 'healthz';

interface Check {
  name: string;
  fn: CheckFn;
}

const CHECK_TIMEOUT_MS = 5000;

export class HealthChecks {
  private readonly checks: Record<Endpoint, Check[]> = { livez: [], readyz: [], healthz: [] };
  private readonly failing = new Map<string, string>();
  private stopping = false;

  constructor() {
    this.add(['livez', 'readyz', 'healthz'], 'ping', () => undefined);
    // Unready from the moment shutdown begins, so load balancers stop sending new requests.
    this.add(['readyz'], 'shutdown', () => (this.stopping ? 'the server is shutting down' : undefined));
  }

  /** Registers a check on the given endpoints (a name is unique per endpoint; re-adding replaces it). */
  add(endpoints: Endpoint[], name: string, fn: CheckFn): void {
    for (const e of endpoints) {
      const list = this.checks[e];
      const i = list.findIndex((c) => c.name === name);
      if (i >= 0) list[i] = { name, fn };
      else list.push({ name, fn });
    }
  }

  /** Marks the server as shutting down: /readyz fails from now on. */
  shutdown(): void {
    this.stopping = true;
  }

  get shuttingDown(): boolean {
    return this.stopping;
  }

  private async run(c: Check): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        Promise.resolve().then(c.fn),
        new Promise<string>((r) => (timer = setTimeout(() => r(`timed out after ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS))),
      ]);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Logs a check's failure once when it starts failing, and once when it recovers. */
  private note(endpoint: Endpoint, name: string, reason: string | undefined): void {
    const key = `${endpoint}/${name}`;
    const was = this.failing.get(key);
    if (reason !== undefined && was !== reason) log.info('health check failed', { endpoint, check: name, reason });
    if (reason === undefined && was !== undefined) log.info('health check passes again', { endpoint, check: name });
    if (reason === undefined) this.failing.delete(key);
    else this.failing.set(key, reason);
  }

  /** The answer to GET /<endpoint>[/<check>]?verbose&exclude=...; undefined for an unknown check (404). */
  async answer(endpoint: Endpoint, single: string | undefined, params: URLSearchParams): Promise<{ code: number; body: string } | undefined> {
    const checks = this.checks[endpoint];
    if (single !== undefined) {
      const c = checks.find((x) => x.name === single);
      if (!c) return undefined;
      const reason = await this.run(c);
      this.note(endpoint, c.name, reason);
      return reason === undefined ? { code: 200, body: 'ok' } : { code: 500, body: 'internal server error: reason withheld\n' };
    }
    const excluded = new Set(
      params
        .getAll('exclude')
        .flatMap((v) => v.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    );
    const verbose = params.has('verbose');
    const results = await Promise.all(checks.map(async (c) => (excluded.has(c.name) ? { c, skipped: true as const } : { c, reason: await this.run(c) })));
    const lines: string[] = [];
    let failed = false;
    for (const r of results) {
      if ('skipped' in r) {
        lines.push(`[+]${r.c.name} excluded: ok`);
        continue;
      }
      this.note(endpoint, r.c.name, r.reason);
      if (r.reason === undefined) lines.push(`[+]${r.c.name} ok`);
      else {
        failed = true;
        lines.push(`[-]${r.c.name} failed: reason withheld`);
      }
    }
    const unknown = [...excluded].filter((n) => !checks.some((c) => c.name === n));
    if (unknown.length) lines.push(`warn: some health checks cannot be excluded: no matches for ${unknown.map((n) => JSON.stringify(n)).join(',')}`);
    if (failed) return { code: 500, body: `${lines.join('\n')}\n${endpoint} check failed\n` };
    if (!verbose) return { code: 200, body: 'ok' };
    return { code: 200, body: `${lines.join('\n')}\n${endpoint} check passed\n` };
  }
}
