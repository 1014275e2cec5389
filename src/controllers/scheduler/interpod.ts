// The scheduler's plugins that look at other pods: PodTopologySpread (DoNotSchedule as a filter,
// ScheduleAnyway as a score) and InterPodAffinity (required pod affinity and anti-affinity of the
// incoming pod, and existing pods' required anti-affinity against it). A pre-filter pass counts the
// matching pods per topology domain once per pod; the filters then only look the node's domain up.

import type { KObject } from '../runtime/index.ts';
import { selectorMatches } from '../../api/builtin/pod-template.ts';
import { nodeMatchesPod, type FilterFailure, type NodeState } from './plugins.ts';

export interface PlacedPod {
  node: string;
  namespace: string;
  labels: Record<string, string>;
  /** Required anti-affinity terms of the placed pod (checked against incoming pods). */
  antiAffinity?: KObject[];
}

export const ERR_SPREAD = "node(s) didn't match pod topology spread constraints";
export const ERR_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)";
export const ERR_AFFINITY_RULES = "node(s) didn't match pod affinity rules";
export const ERR_ANTI_AFFINITY_RULES = "node(s) didn't match pod anti-affinity rules";
export const ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";

interface Spread { key: string; maxSkew: number; counts: Map<string, number>; min: number; self: number; hard: boolean }
interface Term { key: string; domains: Set<string>; any: boolean }

export interface InterPodState {
  spread: Spread[];
  affinity: Term[];
  anti: Term[];
  /** topologyKey → domains where an existing pod's anti-affinity refuses this pod. */
  existingAnti: Map<string, Set<string>>;
}

/** A pod affinity term selects pods in its namespaces (the pod's own by default), by labelSelector (nil = none). */
function termSelects(term: KObject, ownNamespace: string, p: PlacedPod): boolean {
  const namespaces: string[] = term.namespaces?.length ? term.namespaces : term.namespaceSelector ? [] : [ownNamespace];
  if (namespaces.length && !namespaces.includes(p.namespace)) return false;
  const sel = term.labelSelector;
  if (!sel) return false;
  const empty = !Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length;
  return empty || selectorMatches(sel, p.labels);
}

/** Precomputes what the filters and scorer need, or undefined when the pod has no such constraints and no placed pod has anti-affinity. */
export function preFilter(pod: KObject, nodes: Map<string, NodeState>, placed: Iterable<PlacedPod>, anyAntiAffinity: boolean): InterPodState | undefined {
  const constraints: KObject[] = pod.spec?.topologySpreadConstraints ?? [];
  const aff: KObject[] = pod.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  const anti: KObject[] = pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  if (!constraints.length && !aff.length && !anti.length && !anyAntiAffinity) return undefined;
  const ns = pod.metadata?.namespace ?? 'default';
  const labels = pod.metadata?.labels ?? {};
  const state: InterPodState = { spread: [], affinity: [], anti: [], existingAnti: new Map() };
  const list = [...placed];

  for (const c of constraints) {
    const key = c.topologyKey;
    const counts = new Map<string, number>();
    // Domains of the nodes the pod could go to at all (nodeAffinityPolicy Honor).
    for (const n of nodes.values()) if (n.labels[key] !== undefined && nodeMatchesPod(pod, n) && constraints.every((x) => n.labels[x.topologyKey] !== undefined)) counts.set(n.labels[key], 0);
    const sel = c.labelSelector;
    for (const p of list) {
      if (p.namespace !== ns || !sel || !selectorMatches(sel, p.labels)) continue;
      const d = nodes.get(p.node)?.labels[key];
      if (d !== undefined && counts.has(d)) counts.set(d, counts.get(d)! + 1);
    }
    const min = counts.size ? Math.min(...counts.values()) : 0;
    state.spread.push({ key, maxSkew: Number(c.maxSkew) || 1, counts, min, self: sel && selectorMatches(sel, labels) ? 1 : 0, hard: (c.whenUnsatisfiable ?? 'DoNotSchedule') === 'DoNotSchedule' });
  }
  const domainsOf = (terms: KObject[], into: Term[]) => {
    for (const t of terms) {
      const domains = new Set<string>();
      for (const p of list) if (termSelects(t, ns, p)) {
        const d = nodes.get(p.node)?.labels[t.topologyKey];
        if (d !== undefined) domains.add(d);
      }
      // A pod matching its own affinity term may go first anywhere (kube's special case).
      into.push({ key: t.topologyKey, domains, any: !domains.size && termSelects(t, ns, { node: '', namespace: ns, labels }) });
    }
  };
  domainsOf(aff, state.affinity);
  domainsOf(anti, state.anti);
  for (const p of list) {
    for (const t of p.antiAffinity ?? []) {
      if (!termSelects(t, p.namespace, { node: '', namespace: ns, labels })) continue;
      const d = nodes.get(p.node)?.labels[t.topologyKey];
      if (d === undefined) continue;
      if (!state.existingAnti.has(t.topologyKey)) state.existingAnti.set(t.topologyKey, new Set());
      state.existingAnti.get(t.topologyKey)!.add(d);
    }
  }
  return state;
}

export function filterTopologySpread(s: InterPodState | undefined, n: NodeState): FilterFailure | undefined {
  if (!s) return undefined;
  for (const c of s.spread) {
    if (!c.hard) continue;
    const d = n.labels[c.key];
    if (d === undefined) return { reasons: [ERR_SPREAD_LABEL], unresolvable: true };
    if ((c.counts.get(d) ?? 0) + c.self - c.min > c.maxSkew) return { reasons: [ERR_SPREAD], unresolvable: false };
  }
  return undefined;
}

export function filterInterPodAffinity(s: InterPodState | undefined, n: NodeState): FilterFailure | undefined {
  if (!s) return undefined;
  // kube's order: the pod's affinity, its anti-affinity, then existing pods' anti-affinity.
  for (const t of s.affinity) if (!t.any && !(n.labels[t.key] !== undefined && t.domains.has(n.labels[t.key]))) return { reasons: [ERR_AFFINITY_RULES], unresolvable: true };
  for (const t of s.anti) if (n.labels[t.key] !== undefined && t.domains.has(n.labels[t.key])) return { reasons: [ERR_ANTI_AFFINITY_RULES], unresolvable: false };
  for (const [key, domains] of s.existingAnti) if (n.labels[key] !== undefined && domains.has(n.labels[key])) return { reasons: [ERR_EXISTING_ANTI_AFFINITY], unresolvable: false };
  return undefined;
}

/** ScheduleAnyway constraints: fewer matching pods in the node's domains is better (raw; normalised reversed). */
export function rawSpreadScore(s: InterPodState | undefined, n: NodeState): number {
  if (!s) return 0;
  let sum = 0;
  for (const c of s.spread) if (!c.hard) sum += c.counts.get(n.labels[c.key]) ?? 0;
  return sum;
}
