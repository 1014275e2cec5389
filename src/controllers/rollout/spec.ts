// BaseOSRollout spec → the numbers and checks the controller works with: batch sizes, budgets,
// the downgrade floor and the maintenance window. Everything here is pure (no client, no clock
// of its own) so it is tested and benchmarked without a server.

import type { KObject } from '../../apiserver/resource.ts';
import { nextAfter, parseSchedule, type Schedule } from '../workloads/cron.ts';

export interface RolloutPlan {
  version: string;
  /** What is written into EdgeNode spec.baseOS (without activate). */
  baseOS: KObject;
  /** Batch sizes for `total` devices (the last batch takes the rest). */
  sizes: number[];
  budgets: number[];
  maxUnavailable: number;
  deviceTimeoutMs: number;
  healthWindowMs: number;
  prestage: boolean;
  window?: MaintenanceWindow;
}

export interface MaintenanceWindow {
  schedule: Schedule;
  durationMs: number;
  timeZone: string;
}

/** A count, or "N%" of `of` (rounded up for sizes, down for budgets). */
export function scaled(v: unknown, of: number, round: 'up' | 'down'): number | string {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^[0-9]+%$/.test(v)) {
    const x = (parseInt(v, 10) * of) / 100;
    return round === 'up' ? Math.ceil(x) : Math.floor(x);
  }
  return `must be a non-negative integer or a percentage like "25%", not ${JSON.stringify(v)}`;
}

/** Numeric parts of an EVE version ("14.5.0-kvm-amd64" → [14, 5, 0]); undefined when it starts with no number. */
export function versionParts(v: string): number[] | undefined {
  const m = /^v?(\d+(?:\.\d+)*)/.exec(v);
  return m ? m[1]!.split('.').map(Number) : undefined;
}

export function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/** A spec problem: field path + message, reported in the Halted condition (reason InvalidSpec or DowngradeRefused). */
export interface SpecProblem {
  reason: 'InvalidSpec' | 'DowngradeRefused';
  message: string;
}

/** The plan for `total` selected devices, or why the spec cannot run. */
export function planRollout(spec: KObject, total: number): RolloutPlan | SpecProblem {
  const bad = (message: string): SpecProblem => ({ reason: 'InvalidSpec', message });
  const version = String(spec.version ?? '');
  if (spec.minVersion && spec.force !== true) {
    const want = versionParts(version);
    const floor = versionParts(String(spec.minVersion));
    if (!want || !floor)
      return {
        reason: 'DowngradeRefused',
        message: `cannot compare version ${version} with spec.minVersion ${spec.minVersion}; set spec.force to roll it out anyway`,
      };
    if (compareVersions(want, floor) < 0)
      return { reason: 'DowngradeRefused', message: `version ${version} is below spec.minVersion ${spec.minVersion}; set spec.force to roll it out anyway` };
  }
  const sizes: number[] = [];
  const budgets: number[] = [];
  const defaultBudget = spec.failureBudget ?? 0;
  let left = total;
  const batches: KObject[] = Array.isArray(spec.batches) ? spec.batches : [];
  for (const [i, b] of batches.entries()) {
    const n = scaled(b?.size, total, 'up');
    if (typeof n === 'string') return bad(`spec.batches[${i}].size ${n}`);
    if (n < 1) return bad(`spec.batches[${i}].size must be at least 1`);
    if (left <= 0) break;
    const size = Math.min(n, left);
    const budget = scaled(b.failureBudget ?? defaultBudget, size, 'down');
    if (typeof budget === 'string') return bad(`spec.batches[${i}].failureBudget ${budget}`);
    sizes.push(size);
    budgets.push(budget);
    left -= size;
  }
  if (left > 0 || sizes.length === 0) {
    const budget = scaled(defaultBudget, Math.max(left, 0), 'down');
    if (typeof budget === 'string') return bad(`spec.failureBudget ${budget}`);
    sizes.push(Math.max(left, 0));
    budgets.push(budget);
  }
  const mu = scaled(spec.maxUnavailable ?? 1, total, 'down');
  if (typeof mu === 'string') return bad(`spec.maxUnavailable ${mu}`);
  let window: MaintenanceWindow | undefined;
  if (spec.maintenanceWindow) {
    const w = spec.maintenanceWindow;
    const timeZone = String(w.timeZone || 'UTC');
    try {
      new Intl.DateTimeFormat('en-US', { timeZone });
    } catch {
      return bad(`spec.maintenanceWindow.timeZone: unknown time zone ${JSON.stringify(timeZone)}`);
    }
    let schedule: Schedule;
    try {
      schedule = parseSchedule(String(w.schedule ?? ''));
    } catch (e) {
      return bad(`spec.maintenanceWindow.schedule: ${(e as Error).message}`);
    }
    window = { schedule, durationMs: Number(w.durationMinutes ?? 60) * 60_000, timeZone };
  }
  const baseOS: KObject = { version, image: String(spec.image ?? '') };
  if (spec.sha256) baseOS.sha256 = spec.sha256;
  if (spec.datastoreRef) baseOS.datastoreRef = { name: spec.datastoreRef.name, namespace: spec.datastoreRef.namespace };
  return {
    version,
    baseOS,
    sizes,
    budgets,
    maxUnavailable: Math.max(1, mu),
    deviceTimeoutMs: Number(spec.deviceTimeoutSeconds ?? 3600) * 1000,
    healthWindowMs: Number(spec.healthWindowSeconds ?? 300) * 1000,
    prestage: spec.prestage === true,
    window,
  };
}

export const isProblem = (p: RolloutPlan | SpecProblem): p is SpecProblem => 'reason' in p;

/** Wall-clock time in `timeZone` expressed as a UTC instant (what the UTC-only cron matcher reads). */
function wallClock(ms: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(ms));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
}

/** Whether the window is open at `now`, and in how many ms that changes (for a requeue). */
export function windowState(w: MaintenanceWindow, now: number): { open: boolean; changesInMs: number } {
  const wall = wallClock(now, w.timeZone);
  // An opening in (now - duration, now] means the window is open: [start, start + duration).
  const opened = nextAfter(w.schedule, new Date(wall - w.durationMs));
  if (opened && opened.getTime() <= wall) {
    return { open: true, changesInMs: Math.max(1000, opened.getTime() + w.durationMs - wall) };
  }
  const next = opened ?? nextAfter(w.schedule, new Date(wall));
  return { open: false, changesInMs: next ? Math.max(1000, next.getTime() - wall) : 3600_000 };
}
