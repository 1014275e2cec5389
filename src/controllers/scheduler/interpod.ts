// The scheduler's plugins that look at other pods: PodTopologySpread (DoNotSchedule as a filter,
// ScheduleAnyway as a score) and InterPodAffinity (required pod affinity and anti-affinity of the
// incoming pod, and existing pods' required anti-affinity against it). A pre-filter pass counts the
// matching pods per topology domain once per pod; the filters then only look the node's domain up.

import type { KObject } from '../runtime/index.ts';
import { selectorMatches } from '../../api/builtin/pod-template.ts';
import { nodeMatchesPod, tolerates, type FilterFailure, type NodeState } from './plugins.ts';

export interface PlacedPod {
  node: string;
  namespace: string;
  labels: Record<string, string>;
  /** Required anti-affinity terms of the placed pod (checked against incoming pods). */
  antiAffinity?: KObject[];
  /** The placed pod's affinity section, when it has pod (anti-)affinity terms (scored against incoming pods). */
  podAffinity?: KObject;
}

export const ERR_SPREAD = "node(s) didn't match pod topology spread constraints";
export const ERR_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)";
export const ERR_AFFINITY_RULES = "node(s) didn't match pod affinity rules";
export const ERR_ANTI_AFFINITY_RULES = "node(s) didn't match pod anti-affinity rules";
export const ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";

interface Spread {
  key: string;
  maxSkew: number;
  counts: Map<string, number>;
  min: number;
  self: number;
  hard: boolean;
}
interface Term {
  key: string;
  domains: Set<string>;
  any: boolean;
}

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
    // Domains of the nodes the policies admit: nodeAffinityPolicy Honor (default) keeps the nodes the pod's
    // nodeSelector/affinity allows, nodeTaintsPolicy Honor (default Ignore) drops nodes with untolerated taints.
    const eligible = new Set<string>();
    const tolerations: KObject[] = pod.spec?.tolerations ?? [];
    for (const n of nodes.values()) {
      if (n.labels[key] === undefined || !constraints.every((x) => n.labels[x.topologyKey] !== undefined)) continue;
      if ((c.nodeAffinityPolicy ?? 'Honor') === 'Honor' && !nodeMatchesPod(pod, n)) continue;
      if (
        c.nodeTaintsPolicy === 'Honor' &&
        ((n.node.spec?.taints ?? []) as KObject[]).some((t) => (t?.effect === 'NoSchedule' || t?.effect === 'NoExecute') && !tolerates(tolerations, t))
      )
        continue;
      eligible.add(n.name);
      counts.set(n.labels[key], 0);
    }
    const sel = c.labelSelector;
    for (const p of list) {
      if (p.namespace !== ns || !sel || !eligible.has(p.node) || !selectorMatches(sel, p.labels)) continue;
      const d = nodes.get(p.node)!.labels[key];
      counts.set(d, counts.get(d)! + 1);
    }
    const hard = (c.whenUnsatisfiable ?? 'DoNotSchedule') === 'DoNotSchedule';
    // minDomains: with fewer eligible domains than asked, the global minimum counts as 0 (DoNotSchedule only).
    const min = !counts.size || (hard && Number(c.minDomains) > counts.size) ? 0 : Math.min(...counts.values());
    state.spread.push({ key, maxSkew: Number(c.maxSkew) || 1, counts, min, self: sel && selectorMatches(sel, labels) ? 1 : 0, hard });
  }
  const domainsOf = (terms: KObject[], into: Term[]) => {
    for (const t of terms) {
      const domains = new Set<string>();
      for (const p of list)
        if (termSelects(t, ns, p)) {
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
  for (const t of s.affinity)
    if (!t.any && !(n.labels[t.key] !== undefined && t.domains.has(n.labels[t.key]))) return { reasons: [ERR_AFFINITY_RULES], unresolvable: true };
  for (const t of s.anti)
    if (n.labels[t.key] !== undefined && t.domains.has(n.labels[t.key])) return { reasons: [ERR_ANTI_AFFINITY_RULES], unresolvable: false };
  for (const [key, domains] of s.existingAnti)
    if (n.labels[key] !== undefined && domains.has(n.labels[key])) return { reasons: [ERR_EXISTING_ANTI_AFFINITY], unresolvable: false };
  return undefined;
}

/** ScheduleAnyway constraints: fewer matching pods in the node's domains is better (raw; normalised reversed). */
export function rawSpreadScore(s: InterPodState | undefined, n: NodeState): number {
  if (!s) return 0;
  let sum = 0;
  for (const c of s.spread) if (!c.hard) sum += c.counts.get(n.labels[c.key]) ?? 0;
  return sum;
}

// ---- InterPodAffinity score ----------------------------------------------------------------------

/** topologyKey → domain → score: what each domain is worth to the incoming pod by affinity, before normalising. */
export type InterPodScores = Map<string, Map<string, number>>;

/** kube's hardPodAffinityWeight: existing pods' required affinity counts as a preference of this weight. */
export const HARD_POD_AFFINITY_WEIGHT = 1;

/**
 * The incoming pod's preferred affinity (+weight) and anti-affinity (−weight) towards placed pods,
 * and placed pods' required affinity (+1), preferred affinity (+weight) and anti-affinity (−weight)
 * towards it, summed per topology domain. Undefined when no term is involved.
 */
export function preScoreInterPod(
  pod: KObject,
  nodes: Map<string, NodeState>,
  placed: Iterable<PlacedPod>,
  anyPlacedAffinity: boolean,
): InterPodScores | undefined {
  const aff: KObject[] = pod.spec?.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  const anti: KObject[] = pod.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  if (!aff.length && !anti.length && !anyPlacedAffinity) return undefined;
  const ns = pod.metadata?.namespace ?? 'default';
  const self: PlacedPod = { node: '', namespace: ns, labels: pod.metadata?.labels ?? {} };
  const scores: InterPodScores = new Map();
  const add = (node: NodeState | undefined, key: string, w: number) => {
    const d = node?.labels[key];
    if (d === undefined || !w) return;
    if (!scores.has(key)) scores.set(key, new Map());
    const m = scores.get(key)!;
    m.set(d, (m.get(d) ?? 0) + w);
  };
  for (const p of placed) {
    const node = nodes.get(p.node);
    if (!node) continue;
    for (const t of aff) if (t?.podAffinityTerm && termSelects(t.podAffinityTerm, ns, p)) add(node, t.podAffinityTerm.topologyKey, Number(t.weight) || 0);
    for (const t of anti) if (t?.podAffinityTerm && termSelects(t.podAffinityTerm, ns, p)) add(node, t.podAffinityTerm.topologyKey, -(Number(t.weight) || 0));
    const theirs = p.podAffinity;
    if (!theirs) continue;
    for (const t of (theirs.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) as KObject[])
      if (termSelects(t, p.namespace, self)) add(node, t.topologyKey, HARD_POD_AFFINITY_WEIGHT);
    for (const t of (theirs.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) as KObject[])
      if (t?.podAffinityTerm && termSelects(t.podAffinityTerm, p.namespace, self)) add(node, t.podAffinityTerm.topologyKey, Number(t.weight) || 0);
    for (const t of (theirs.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) as KObject[])
      if (t?.podAffinityTerm && termSelects(t.podAffinityTerm, p.namespace, self)) add(node, t.podAffinityTerm.topologyKey, -(Number(t.weight) || 0));
  }
  return scores.size ? scores : undefined;
}

/** A node's raw InterPodAffinity score: the sum of its domains' scores (normalised min..max → 0..100 later). */
export function rawInterPodScore(s: InterPodScores | undefined, n: NodeState): number {
  if (!s) return 0;
  let sum = 0;
  for (const [key, m] of s) {
    const d = n.labels[key];
    if (d !== undefined) sum += m.get(d) ?? 0;
  }
  return sum;
}
