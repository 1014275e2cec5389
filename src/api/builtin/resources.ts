// Resource lists (maps of resource.Quantity) in pods and nodes: canonical form, validation and the pod QoS class.

import type { KObject } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { isObject } from './common.ts';
import { QUANTITY_REGEX_MESSAGE, addQuantity, compareQuantity, formatQuantity, isZero, parseQuantity, type Quantity } from './quantity.ts';
import { invalid, key, required } from './validation.ts';

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

/** Extended resources (a domain outside kubernetes.io, e.g. kubeve.io/usb): whole numbers that cannot be overcommitted. */
export const isExtendedResource = (name: string) => name.includes('/') && !name.includes('kubernetes.io/') && !name.startsWith('requests.');

/**
 * ValidateResourceRequirements' rules for extended resources: integers only; a request needs a limit
 * and must equal it. `res` is a container's resources; undefined names mean no extended resources.
 */
export function extendedResourceErrors(res: KObject, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const limits = isObject(res.limits) ? res.limits : {};
  const requests = isObject(res.requests) ? res.requests : {};
  for (const [field, list] of [
    ['limits', limits],
    ['requests', requests],
  ] as const) {
    for (const [name, v] of Object.entries(list)) {
      const q = parseQuantity(v);
      if (isExtendedResource(name) && q && q.exp < 0 && q.mantissa % 10n ** BigInt(-q.exp) !== 0n)
        errs.push(invalid(key(`${path}.${field}`, name), v, 'must be an integer'));
    }
  }
  for (const [name, v] of Object.entries(requests)) {
    if (!isExtendedResource(name)) continue;
    const req = parseQuantity(v);
    const lim = parseQuantity(limits[name]);
    if (limits[name] === undefined) errs.push(required(`${path}.limits`, 'Limit must be set for non overcommitable resources'));
    else if (req && lim && compareQuantity(req, lim) !== 0) errs.push(invalid(`${path}.requests`, v, `must be equal to ${name} limit of ${limits[name]}`));
  }
  return errs;
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
