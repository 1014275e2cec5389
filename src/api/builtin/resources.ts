// Resource lists (maps of resource.Quantity) in pods and nodes: canonical form, validation and the pod QoS class.

import type { KObject } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { isObject } from './common.ts';
import { QUANTITY_REGEX_MESSAGE, addQuantity, compareQuantity, formatQuantity, isZero, parseQuantity, type Quantity } from './quantity.ts';
import { invalid, key } from './validation.ts';

/** Rewrites parseable quantities of parent[field] in the canonical form the real server stores (rounded up to milli). */
export function canonicalizeResourceList(parent: KObject, field: string): void {
  const list = parent[field];
  if (!isObject(list)) return;
  for (const [k, v] of Object.entries(list)) {
    const q = parseQuantity(v);
    if (q) list[k] = formatQuantity(q);
  }
}

/** Errors for values of a resource list that are not quantities. */
export function resourceListErrors(list: unknown, path: string): FieldError[] {
  if (!isObject(list)) return [];
  return Object.entries(list)
    .filter(([, v]) => !parseQuantity(v))
    .map(([k, v]) => invalid(key(path, k), v, QUANTITY_REGEX_MESSAGE));
}

const QOS_RESOURCES = ['cpu', 'memory'];

/**
 * The QoS class (k8s.io/kubernetes/pkg/apis/core/helper/qos): BestEffort without any cpu/memory request or limit,
 * Guaranteed when every container limits both and requests equal limits, Burstable otherwise.
 */
export function podQOSClass(spec: KObject): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  let guaranteed = true;
  const containers: KObject[] = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
  for (const c of containers) {
    for (const [name, v] of Object.entries(c?.resources?.requests ?? {})) {
      const q = parseQuantity(v);
      if (!QOS_RESOURCES.includes(name) || !q || isZero(q) || q.mantissa < 0n) continue;
      requests.set(name, requests.has(name) ? addQuantity(requests.get(name)!, q) : q);
    }
    const limited = new Set<string>();
    for (const [name, v] of Object.entries(c?.resources?.limits ?? {})) {
      const q = parseQuantity(v);
      if (!QOS_RESOURCES.includes(name) || !q || isZero(q) || q.mantissa < 0n) continue;
      limited.add(name);
      limits.set(name, limits.has(name) ? addQuantity(limits.get(name)!, q) : q);
    }
    if (!QOS_RESOURCES.every((r) => limited.has(r))) guaranteed = false;
  }
  if (!requests.size && !limits.size) return 'BestEffort';
  if (guaranteed) {
    for (const [name, req] of requests) {
      const lim = limits.get(name);
      if (!lim || compareQuantity(lim, req) !== 0) guaranteed = false;
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}
