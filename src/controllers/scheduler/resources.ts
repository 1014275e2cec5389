// Resource arithmetic for scheduling, in plain numbers: cpu in millicores, everything else in units
// (bytes, pods, extended-resource counts), as kube-scheduler's framework.Resource.

import type { KObject } from '../runtime/index.ts';
import { parseQuantity } from '../../api/builtin/quantity.ts';

export type Resources = Map<string, number>;

/** A quantity's value; cpu in milli-units (rounded up, as MilliValue). */
export function quantityValue(name: string, v: unknown): number {
  const q = parseQuantity(v);
  if (!q) return 0;
  const value = Number(q.mantissa) * 10 ** q.exp;
  return name === 'cpu' ? Math.ceil(Math.round(value * 1e6) / 1e3) : Math.ceil(value);
}

function add(into: Resources, list: unknown, max = false): void {
  if (!list || typeof list !== 'object') return;
  for (const [k, v] of Object.entries(list as Record<string, unknown>)) {
    const n = quantityValue(k, v);
    into.set(k, max ? Math.max(into.get(k) ?? 0, n) : (into.get(k) ?? 0) + n);
  }
}

/**
 * What a pod asks for (computePodResourceRequest): the sum over its containers, at least the
 * largest init container, plus overhead. A container's limits stand in for unset requests.
 */
export function podRequests(pod: KObject): Resources {
  const out: Resources = new Map();
  for (const c of pod.spec?.containers ?? []) add(out, { ...(c?.resources?.limits ?? {}), ...(c?.resources?.requests ?? {}) });
  for (const c of pod.spec?.initContainers ?? []) add(out, { ...(c?.resources?.limits ?? {}), ...(c?.resources?.requests ?? {}) }, true);
  add(out, pod.spec?.overhead);
  return out;
}

/** Defaults the scorers use for pods that request nothing, so they still spread (schedutil.DefaultMilliCPURequest/DefaultMemoryRequest). */
export const NON_ZERO_CPU = 100;
export const NON_ZERO_MEMORY = 200 * 1024 * 1024;

export function nodeAllocatable(node: KObject): Resources {
  const out: Resources = new Map();
  add(out, node.status?.allocatable ?? node.status?.capacity);
  return out;
}
