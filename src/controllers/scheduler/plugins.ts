// kube-scheduler's default filters and scores that concern Nodes alone (labels, taints, resources),
// in the default profile's order, each with the reason text kube-scheduler reports.
// A filter returns undefined (fits) or the reasons the node does not fit; `unresolvable` reasons
// are those preemption cannot help with (kube's UnschedulableAndUnresolvable).

import type { KObject } from '../runtime/index.ts';
import { NON_ZERO_CPU, NON_ZERO_MEMORY, type Resources } from './resources.ts';

export interface NodeState {
  node: KObject;
  name: string;
  labels: Record<string, string>;
  allocatable: Resources;
  /** Sum of the requests of the pods on the node, assumed ones included. */
  requested: Resources;
  /** Same, with the scorers' non-zero defaults for pods that ask for no cpu/memory. */
  nonZeroCpu: number;
  nonZeroMemory: number;
  pods: number;
}

export interface PodInfo {
  pod: KObject;
  requests: Resources;
}

export interface FilterFailure {
  reasons: string[];
  unresolvable: boolean;
}

export const ERR_UNSCHEDULABLE = 'node(s) were unschedulable';
export const ERR_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
export const ERR_TOO_MANY_PODS = 'Too many pods';

// ---- helpers ------------------------------------------------------------------------------------

export function tolerates(tolerations: KObject[], taint: KObject): boolean {
  return tolerations.some((t) => {
    if (t?.effect && t.effect !== taint.effect) return false;
    if (!t?.key) return t?.operator === 'Exists';
    if (t.key !== taint.key) return false;
    return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '');
  });
}

function requirementMatches(req: KObject, labels: Record<string, string>, fields: Record<string, string>, useFields: boolean): boolean {
  const src = useFields ? fields : labels;
  const has = Object.hasOwn(src, req?.key);
  const v = src[req?.key];
  const values: string[] = Array.isArray(req?.values) ? req.values : [];
  switch (req?.operator) {
    case 'In':
      return has && values.includes(v);
    case 'NotIn':
      return !has || !values.includes(v);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
      return has && Number.parseInt(v, 10) > Number.parseInt(values[0], 10);
    case 'Lt':
      return has && Number.parseInt(v, 10) < Number.parseInt(values[0], 10);
    default:
      return false;
  }
}

/** A NodeSelectorTerm: all its expressions and fields hold; an empty term matches nothing. */
export function termMatches(term: KObject, node: NodeState): boolean {
  const exprs: KObject[] = term?.matchExpressions ?? [];
  const fields: KObject[] = term?.matchFields ?? [];
  if (!exprs.length && !fields.length) return false;
  const f = { 'metadata.name': node.name };
  return exprs.every((r) => requirementMatches(r, node.labels, f, false)) && fields.every((r) => requirementMatches(r, node.labels, f, true));
}

/** nodeSelector and requiredDuringScheduling node affinity (terms ORed), as the NodeAffinity filter. */
export function nodeMatchesPod(pod: KObject, node: NodeState): boolean {
  const sel = pod.spec?.nodeSelector ?? {};
  for (const k of Object.keys(sel)) if (node.labels[k] !== sel[k]) return false;
  const terms: KObject[] | undefined = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && !terms.some((t) => termMatches(t, node))) return false;
  return true;
}

// ---- filters, in the default profile's order ------------------------------------------------------

export function filterNodeUnschedulable(p: PodInfo, n: NodeState): FilterFailure | undefined {
  if (!n.node.spec?.unschedulable) return undefined;
  const taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };
  return tolerates(p.pod.spec?.tolerations ?? [], taint) ? undefined : UNSCHEDULABLE_FAILURE;
}

export function filterTaintToleration(p: PodInfo, n: NodeState): FilterFailure | undefined {
  const tolerations: KObject[] = p.pod.spec?.tolerations ?? [];
  for (const taint of (n.node.spec?.taints ?? []) as KObject[]) {
    if (taint?.effect !== 'NoSchedule' && taint?.effect !== 'NoExecute') continue;
    if (!tolerates(tolerations, taint)) return { reasons: [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`], unresolvable: true };
  }
  return undefined;
}

// Shared, never mutated: the common refusals allocate nothing per node.
const AFFINITY_FAILURE: FilterFailure = Object.freeze({ reasons: [ERR_AFFINITY], unresolvable: true });
const UNSCHEDULABLE_FAILURE: FilterFailure = Object.freeze({ reasons: [ERR_UNSCHEDULABLE], unresolvable: true });

export function filterNodeAffinity(p: PodInfo, n: NodeState): FilterFailure | undefined {
  return nodeMatchesPod(p.pod, n) ? undefined : AFFINITY_FAILURE;
}

/** NodeResourcesFit: every insufficient resource is a reason of its own. */
export function filterResourcesFit(p: PodInfo, n: NodeState): FilterFailure | undefined {
  const reasons: string[] = [];
  const maxPods = n.allocatable.get('pods');
  if (maxPods !== undefined && n.pods + 1 > maxPods) reasons.push(ERR_TOO_MANY_PODS);
  for (const [name, want] of p.requests) {
    if (want <= 0 || name === 'pods') continue;
    const free = (n.allocatable.get(name) ?? 0) - (n.requested.get(name) ?? 0);
    if (want > free) reasons.push(`Insufficient ${name}`);
  }
  return reasons.length ? { reasons, unresolvable: false } : undefined;
}

export const FILTERS = [filterNodeUnschedulable, filterTaintToleration, filterNodeAffinity, filterResourcesFit];

// ---- scores (0..100 each, weighted as the default profile) -----------------------------------------

/** NodeResourcesFit LeastAllocated over cpu and memory, with non-zero request defaults. */
export function scoreLeastAllocated(p: PodInfo, n: NodeState): number {
  const cpu = p.requests.get('cpu') || NON_ZERO_CPU;
  const mem = p.requests.get('memory') || NON_ZERO_MEMORY;
  const part = (used: number, cap: number) => (cap <= 0 || used > cap ? 0 : ((cap - used) * 100) / cap);
  return (part(n.nonZeroCpu + cpu, n.allocatable.get('cpu') ?? 0) + part(n.nonZeroMemory + mem, n.allocatable.get('memory') ?? 0)) / 2;
}

/** NodeAffinity: the sum of the weights of the preferred terms the node matches (normalised later). */
export function rawPreferredAffinity(p: PodInfo, n: NodeState): number {
  let s = 0;
  for (const t of (p.pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) as KObject[]) {
    if (t?.preference && termMatches(t.preference, n)) s += Number(t.weight) || 0;
  }
  return s;
}

/** TaintToleration: the number of PreferNoSchedule taints not tolerated (fewer is better; normalised reversed). */
export function rawIntolerablePreferNoSchedule(p: PodInfo, n: NodeState): number {
  const tolerations = ((p.pod.spec?.tolerations ?? []) as KObject[]).filter((t) => !t?.effect || t.effect === 'PreferNoSchedule');
  return ((n.node.spec?.taints ?? []) as KObject[]).filter((t) => t?.effect === 'PreferNoSchedule' && !tolerates(tolerations, t)).length;
}

export const WEIGHTS = { resources: 1, affinity: 2, taints: 3, spread: 2, interPodAffinity: 2 };
