// A small JSONPath evaluator for the paths Kubernetes puts in resource definitions: scale
// subresource paths (".spec.replicas") and CRD printer columns (".status.conditions[?(@.type=="Ready")].status").

type Step = { field: string } | { index: number } | { all: true } | { filter: { path: string[]; value: string } };

function parse(path: string): Step[] {
  let p = path.trim();
  if (p.startsWith('{') && p.endsWith('}')) p = p.slice(1, -1);
  if (p.startsWith('$')) p = p.slice(1);
  const steps: Step[] = [];
  const re = /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*(?:"([^"]*)"|'([^']*)')\)\]|\['([^']+)'\]/y;
  let pos = 0;
  while (pos < p.length) {
    re.lastIndex = pos;
    const m = re.exec(p);
    if (!m) throw new Error(`unsupported JSONPath ${path}`);
    if (m[1] !== undefined) steps.push({ field: m[1] });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else if (m[3] !== undefined) steps.push({ filter: { path: m[3].split('.'), value: m[4] ?? m[5] ?? '' } });
    else if (m[6] !== undefined) steps.push({ field: m[6] });
    else steps.push({ all: true });
    pos = re.lastIndex;
  }
  return steps;
}

const cache = new Map<string, Step[]>();

/** All values the path selects (missing keys select nothing). */
export function evalPath(obj: unknown, path: string): unknown[] {
  let steps = cache.get(path);
  if (!steps) cache.set(path, (steps = parse(path)));
  let cur: unknown[] = [obj];
  for (const s of steps) {
    const next: unknown[] = [];
    for (const v of cur) {
      if (v === null || typeof v !== 'object') continue;
      if ('field' in s) {
        const x = (v as Record<string, unknown>)[s.field];
        if (x !== undefined) next.push(x);
      } else if ('index' in s) {
        if (Array.isArray(v) && s.index < v.length) next.push(v[s.index]);
      } else if ('all' in s) {
        next.push(...(Array.isArray(v) ? v : Object.values(v)));
      } else if (Array.isArray(v)) {
        for (const item of v) {
          let x: unknown = item;
          for (const f of s.filter.path) x = x && typeof x === 'object' ? (x as Record<string, unknown>)[f] : undefined;
          if (x !== undefined && String(x) === s.filter.value) next.push(item);
        }
      }
    }
    cur = next;
  }
  return cur;
}

/** The first value at a simple path, or undefined. */
export function getPath(obj: unknown, path: string): unknown {
  return evalPath(obj, path)[0];
}

/** Sets a value at a simple dotted path (".spec.replicas"), creating objects on the way. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const fields = parse(path).map((s) => {
    if (!('field' in s)) throw new Error(`only field paths can be set: ${path}`);
    return s.field;
  });
  let cur: Record<string, unknown> = obj;
  for (const f of fields.slice(0, -1)) {
    if (!cur[f] || typeof cur[f] !== 'object') cur[f] = {};
    cur = cur[f] as Record<string, unknown>;
  }
  cur[fields[fields.length - 1]] = value;
}
