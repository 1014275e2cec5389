// RBAC policy rules: whether a rule allows a request (plugin/pkg/auth/authorizer/rbac), whether one
// set of rules covers another (escalation prevention, pkg/registry/rbac/validation) and the compact
// text the real server prints for missing permissions.

import type { Attributes, PolicyRule } from './types.ts';

const has = (list: string[] | undefined, v: string) => !!list && (list.includes('*') || list.includes(v));

function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    // "*/scale" matches the scale subresource of any resource.
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return nonResourceURLMatches(rule, a.path ?? '');
  const sub = a.subresource ?? '';
  const combined = sub ? `${a.resource}/${sub}` : (a.resource ?? '');
  if (!has(rule.apiGroups, a.apiGroup ?? '') || !resourceMatches(rule, combined, sub)) return false;
  // resourceNames cannot restrict requests without a name (list, watch, create, deletecollection).
  return !rule.resourceNames?.length || (!!a.name && rule.resourceNames.includes(a.name));
}

/** One verb on one group/resource (or URL), optionally one name: the unit coverage is checked in. */
function breakdown(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const verb of rule.verbs ?? []) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        if (rule.resourceNames?.length)
          for (const name of rule.resourceNames) out.push({ verbs: [verb], apiGroups: [group], resources: [resource], resourceNames: [name] });
        else out.push({ verbs: [verb], apiGroups: [group], resources: [resource] });
      }
    }
    for (const url of rule.nonResourceURLs ?? []) out.push({ verbs: [verb], nonResourceURLs: [url] });
  }
  return out;
}

const hasAll = (owner: string[] | undefined, wanted: string[] | undefined) =>
  (wanted ?? []).every((w) => !!owner && (owner.includes('*') || owner.includes(w)));

function resourceCovers(owner: string[] | undefined, wanted: string[] | undefined): boolean {
  return (wanted ?? []).every((w) => {
    if (!owner) return false;
    if (owner.includes('*') || owner.includes(w)) return true;
    const slash = w.indexOf('/');
    // "pods/*" covers every subresource of pods; "*/log" covers the log subresource of everything.
    return slash > 0 && (owner.includes(`${w.slice(0, slash)}/*`) || owner.includes(`*${w.slice(slash)}`));
  });
}

function urlCovers(owner: string[] | undefined, wanted: string[] | undefined): boolean {
  return (wanted ?? []).every((w) => (owner ?? []).some((o) => o === '*' || o === w || (o.endsWith('*') && w.startsWith(o.slice(0, -1)))));
}

function ruleCovers(owner: PolicyRule, wanted: PolicyRule): boolean {
  if (!hasAll(owner.verbs, wanted.verbs)) return false;
  if (!hasAll(owner.apiGroups, wanted.apiGroups)) return false;
  if (!resourceCovers(owner.resources, wanted.resources)) return false;
  if (!urlCovers(owner.nonResourceURLs, wanted.nonResourceURLs)) return false;
  // An owner rule restricted to names covers only requests for those names.
  if (owner.resourceNames?.length && !(wanted.resourceNames?.length && wanted.resourceNames.every((n) => owner.resourceNames!.includes(n)))) return false;
  return true;
}

/** The one-verb, one-resource parts of `wanted` that `owner` does not cover (validation.Covers). */
export function uncoveredRules(owner: PolicyRule[], wanted: PolicyRule[]): PolicyRule[] {
  const missing: PolicyRule[] = [];
  for (const w of wanted) for (const atom of breakdown(w)) if (!owner.some((o) => ruleCovers(o, atom))) missing.push(atom);
  return missing;
}

/** The parts of `wanted` that `owner` does not cover, compacted (empty when every permission is held). */
export function missingRules(owner: PolicyRule[], wanted: PolicyRule[]): PolicyRule[] {
  return compact(uncoveredRules(owner, wanted));
}

/** Merges the verbs of single-resource rules that differ only in verb (CompactRules). */
function compact(rules: PolicyRule[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  const byKey = new Map<string, PolicyRule>();
  for (const r of rules) {
    if (!r.resources?.length) {
      out.push(r);
      continue;
    }
    const key = JSON.stringify([r.apiGroups, r.resources, r.resourceNames ?? []]);
    const prev = byKey.get(key);
    if (prev) {
      if (!prev.verbs.includes(r.verbs[0])) prev.verbs.push(r.verbs[0]);
    } else {
      const copy = { ...r, verbs: [...r.verbs] };
      byKey.set(key, copy);
      out.push(copy);
    }
  }
  return out;
}

/** Go's %q of a []string: ["a" "b"]. */
export const goQuoteList = (l: string[]) => `[${l.map((s) => JSON.stringify(s)).join(' ')}]`;

/** rbacv1helpers.CompactString: {APIGroups:[""], Resources:["pods"], Verbs:["get"]}. */
export function compactString(r: PolicyRule): string {
  const parts: string[] = [];
  if (r.apiGroups?.length) parts.push(`APIGroups:${goQuoteList(r.apiGroups)}`);
  if (r.resources?.length) parts.push(`Resources:${goQuoteList(r.resources)}`);
  if (r.nonResourceURLs?.length) parts.push(`NonResourceURLs:${goQuoteList(r.nonResourceURLs)}`);
  if (r.resourceNames?.length) parts.push(`ResourceNames:${goQuoteList(r.resourceNames)}`);
  if (r.verbs?.length) parts.push(`Verbs:${goQuoteList(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

/** Every permission there is: what setting an aggregationRule requires. */
export const FULL_AUTHORITY: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];
