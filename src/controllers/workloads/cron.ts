// Standard 5-field cron schedules (minute hour day-of-month month day-of-week) as robfig/cron's
// ParseStandard reads them: *, ?, lists, ranges, steps, month/day names, and the @hourly-style
// descriptors. Times are in UTC unless the CronJob names a timeZone (not supported here: refused).

const FIELDS: Array<{ min: number; max: number; names?: string[] }> = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

export interface Schedule {
  sets: Array<Set<number>>;
  /** Day-of-month or day-of-week was restricted: either matching is enough then (cron's rule). */
  domStar: boolean;
  dowStar: boolean;
}

export function parseSchedule(text: string): Schedule {
  const spec = DESCRIPTORS[text.trim()] ?? text.trim().replace(/^TZ=\S+\s+|^CRON_TZ=\S+\s+/, '');
  const parts = spec.split(/\s+/);
  if (parts.length !== 5) throw new Error(`expected exactly 5 fields, found ${parts.length}: ${text}`);
  const sets = parts.map((p, i) => parseField(p, FIELDS[i]));
  return { sets, domStar: parts[2] === '*' || parts[2] === '?', dowStar: parts[4] === '*' || parts[4] === '?' };
}

function value(s: string, f: { min: number; max: number; names?: string[] }): number {
  const named = f.names?.indexOf(s.toLowerCase()) ?? -1;
  const n = named >= 0 ? named + f.min : Number(s);
  if (!Number.isInteger(n) || n < f.min || n > f.max + (f.max === 6 ? 1 : 0)) throw new Error(`value out of range: ${s}`);
  return f.max === 6 && n === 7 ? 0 : n;
}

function parseField(text: string, f: { min: number; max: number; names?: string[] }): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`bad step: ${part}`);
    let lo: number, hi: number;
    if (range === '*' || range === '?') [lo, hi] = [f.min, f.max];
    else if (range.includes('-')) [lo, hi] = range.split('-').map((x) => value(x, f)) as [number, number];
    else [lo, hi] = [value(range, f), stepText === undefined ? value(range, f) : f.max];
    if (lo > hi) throw new Error(`bad range: ${part}`);
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

function matches(s: Schedule, d: Date): boolean {
  const [min, hour, dom, mon, dow] = s.sets;
  if (!min.has(d.getUTCMinutes()) || !hour.has(d.getUTCHours()) || !mon.has(d.getUTCMonth() + 1)) return false;
  const domOk = dom.has(d.getUTCDate());
  const dowOk = dow.has(d.getUTCDay());
  return s.domStar || s.dowStar ? domOk && dowOk : domOk || dowOk;
}

/** The first scheduled minute strictly after `after` (searching at most ~5 years ahead). */
export function nextAfter(s: Schedule, after: Date): Date | undefined {
  const d = new Date(Math.floor(after.getTime() / 60_000) * 60_000 + 60_000);
  for (let i = 0; i < 5 * 366 * 24 * 60; i++) {
    if (matches(s, d)) return d;
    d.setTime(d.getTime() + 60_000);
  }
  return undefined;
}
