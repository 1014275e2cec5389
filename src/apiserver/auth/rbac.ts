// The RBAC authorizer over an in-memory index of Roles, ClusterRoles and their bindings. The index is
// loaded once and then fed synchronously by a storage watch on the rbac group, so a binding written by
// a request is in force for the next request, and a decision costs O(bindings of the user), not a scan.

import type { Storage, StorageEvent, Watcher } from '../storage/types.ts';
import { decode } from '../store.ts';
import { StatusError, forbidden } from '../errors.ts';
import { FULL_AUTHORITY, compactString, goQuoteList, missingRules, ruleAllows } from './rules.ts';
import {
  RBAC_GROUP,
  SYSTEM_MASTERS,
  parseServiceAccountUser,
  type Attributes,
  type Decision,
  type PolicyRule,
  type RoleRef,
  type RulesReview,
  type UserInfo,
} from './types.ts';

const PREFIX = `/registry/${RBAC_GROUP}/`;

type Obj = Record<string, any>;

/** Stable identity of a binding subject, matched against the keys of a user. */
function subjectKey(s: Obj, bindingNamespace: string | undefined): string | undefined {
  if (s?.kind === 'User') return `User:${s.name}`;
  if (s?.kind === 'Group') return `Group:${s.name}`;
  if (s?.kind === 'ServiceAccount') return `ServiceAccount:${s.namespace || bindingNamespace}:${s.name}`;
  return undefined;
}

function userKeys(u: UserInfo): string[] {
  const keys = [`User:${u.username}`, ...u.groups.map((g) => `Group:${g}`)];
  const sa = parseServiceAccountUser(u.username);
  if (sa) keys.push(`ServiceAccount:${sa.namespace}:${sa.name}`);
  return keys;
}

function describeSubject(s: Obj, bindingNamespace?: string): string {
  if (s.kind === 'ServiceAccount') return `ServiceAccount ${JSON.stringify(`${s.namespace || bindingNamespace}/${s.name}`)}`;
  return `${s.kind} ${JSON.stringify(s.name)}`;
}

export class RbacAuthorizer {
  private roles = new Map<string, Obj>(); // "ns/name"
  private clusterRoles = new Map<string, Obj>();
  private bindings = new Map<string, Obj>(); // "ns/name"
  private clusterBindings = new Map<string, Obj>();
  /** subject key -> cluster role binding names */
  private bySubjectCluster = new Map<string, Set<string>>();
  /** subject key -> namespace -> role binding keys */
  private bySubjectNs = new Map<string, Map<string, Set<string>>>();
  private watcher?: Watcher;

  /** Loads the current policy and follows every later change. */
  async start(storage: Storage): Promise<void> {
    const page = await storage.list(PREFIX);
    for (const kv of page.items) this.put(kv.key, decode(kv.value, kv.modRevision));
    this.watcher = storage.watch(PREFIX, page.revision, (ev) => this.apply(ev));
  }

  stop(): void {
    this.watcher?.stop();
  }

  private apply(ev: StorageEvent): void {
    if (ev.type === 'delete') this.remove(ev.key);
    else this.put(ev.key, decode(ev.value, ev.revision));
  }

  private static parseKey(key: string): { resource: string; id: string; namespace?: string } | undefined {
    const parts = key.slice(PREFIX.length).split('/');
    if (parts.length === 2) return { resource: parts[0], id: parts[1] };
    if (parts.length === 3) return { resource: parts[0], id: `${parts[1]}/${parts[2]}`, namespace: parts[1] };
    return undefined;
  }

  private put(key: string, obj: Obj): void {
    const k = RbacAuthorizer.parseKey(key);
    if (!k) return;
    if (k.resource === 'roles') this.roles.set(k.id, obj);
    else if (k.resource === 'clusterroles') this.clusterRoles.set(k.id, obj);
    else if (k.resource === 'rolebindings' || k.resource === 'clusterrolebindings') {
      this.remove(key);
      const cluster = k.resource === 'clusterrolebindings';
      (cluster ? this.clusterBindings : this.bindings).set(k.id, obj);
      for (const s of Array.isArray(obj.subjects) ? obj.subjects : []) {
        const sk = subjectKey(s, k.namespace);
        if (!sk) continue;
        if (cluster) {
          if (!this.bySubjectCluster.has(sk)) this.bySubjectCluster.set(sk, new Set());
          this.bySubjectCluster.get(sk)!.add(k.id);
        } else {
          let byNs = this.bySubjectNs.get(sk);
          if (!byNs) this.bySubjectNs.set(sk, (byNs = new Map()));
          if (!byNs.has(k.namespace!)) byNs.set(k.namespace!, new Set());
          byNs.get(k.namespace!)!.add(k.id);
        }
      }
    }
  }

  private remove(key: string): void {
    const k = RbacAuthorizer.parseKey(key);
    if (!k) return;
    if (k.resource === 'roles') this.roles.delete(k.id);
    else if (k.resource === 'clusterroles') this.clusterRoles.delete(k.id);
    else if (k.resource === 'clusterrolebindings') {
      const old = this.clusterBindings.get(k.id);
      this.clusterBindings.delete(k.id);
      for (const s of old?.subjects ?? []) this.bySubjectCluster.get(subjectKey(s, undefined) ?? '')?.delete(k.id);
    } else if (k.resource === 'rolebindings') {
      const old = this.bindings.get(k.id);
      this.bindings.delete(k.id);
      for (const s of old?.subjects ?? [])
        this.bySubjectNs
          .get(subjectKey(s, k.namespace) ?? '')
          ?.get(k.namespace!)
          ?.delete(k.id);
    }
  }

  /** Rules of the role a binding refers to, or the NotFound text the real server reports. */
  private roleRules(ref: RoleRef, namespace: string | undefined): { rules: PolicyRule[]; error?: string } {
    if (ref?.kind === 'ClusterRole') {
      const r = this.clusterRoles.get(ref.name);
      return r ? { rules: r.rules ?? [] } : { rules: [], error: `clusterrole.${RBAC_GROUP} ${JSON.stringify(ref.name)} not found` };
    }
    if (ref?.kind === 'Role' && namespace) {
      const r = this.roles.get(`${namespace}/${ref.name}`);
      return r ? { rules: r.rules ?? [] } : { rules: [], error: `role.${RBAC_GROUP} ${JSON.stringify(ref.name)} not found` };
    }
    return { rules: [], error: `unsupported role reference kind: ${JSON.stringify(ref?.kind)}` };
  }

  /**
   * Visits the rules granted to `user` (cluster bindings, then role bindings of `namespace`), with a
   * description of where each comes from. Stops when the visitor returns true.
   */
  private visit(user: UserInfo, namespace: string | undefined, fn: (rule: PolicyRule, source: () => string) => boolean, errors: string[]): void {
    const keys = userKeys(user);
    const seen = new Set<string>();
    for (const key of keys) {
      for (const name of this.bySubjectCluster.get(key) ?? []) {
        if (seen.has(`c/${name}`)) continue;
        seen.add(`c/${name}`);
        const b = this.clusterBindings.get(name);
        if (!b) continue;
        const { rules, error } = this.roleRules(b.roleRef, undefined);
        if (error) errors.push(error);
        const subject = (b.subjects as Obj[]).find((s) => subjectKey(s, undefined) === key)!;
        const src = () => `ClusterRoleBinding ${JSON.stringify(name)} of ${b.roleRef.kind} ${JSON.stringify(b.roleRef.name)} to ${describeSubject(subject)}`;
        for (const rule of rules) if (fn(rule, src)) return;
      }
    }
    if (!namespace) return;
    for (const key of keys) {
      for (const id of this.bySubjectNs.get(key)?.get(namespace) ?? []) {
        if (seen.has(`n/${id}`)) continue;
        seen.add(`n/${id}`);
        const b = this.bindings.get(id);
        if (!b) continue;
        const { rules, error } = this.roleRules(b.roleRef, namespace);
        if (error) errors.push(error);
        const subject = (b.subjects as Obj[]).find((s) => subjectKey(s, namespace) === key)!;
        const src = () =>
          `RoleBinding ${JSON.stringify(`${b.metadata.name}/${namespace}`)} of ${b.roleRef.kind} ${JSON.stringify(b.roleRef.name)} to ${describeSubject(subject, namespace)}`;
        for (const rule of rules) if (fn(rule, src)) return;
      }
    }
  }

  authorize(a: Attributes): Decision {
    // system:masters is allowed everything, whatever the policy says (the privileged-group authorizer).
    if (a.user.groups.includes(SYSTEM_MASTERS)) return { allowed: true, reason: '' };
    const errors: string[] = [];
    let reason = '';
    this.visit(
      a.user,
      a.resourceRequest ? a.namespace : undefined,
      (rule, src) => {
        if (!ruleAllows(a, rule)) return false;
        reason = `RBAC: allowed by ${src()}`;
        return true;
      },
      errors,
    );
    if (reason) return { allowed: true, reason };
    return { allowed: false, reason: errors.length ? `RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}` : '' };
  }

  /** The rules `user` holds in `namespace` (cluster-wide ones included), for RulesReview and escalation checks. */
  rulesFor(user: UserInfo, namespace: string | undefined): { rules: PolicyRule[]; errors: string[] } {
    const rules: PolicyRule[] = [];
    const errors: string[] = [];
    this.visit(
      user,
      namespace,
      (rule) => {
        rules.push(rule);
        return false;
      },
      errors,
    );
    return { rules, errors };
  }

  rulesReview(user: UserInfo, namespace: string): RulesReview {
    const { rules, errors } = this.rulesFor(user, namespace);
    const review: RulesReview = { resourceRules: [], nonResourceRules: [], incomplete: false };
    for (const r of rules) {
      if (r.nonResourceURLs?.length) review.nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
      if (r.resources?.length) {
        const rr: RulesReview['resourceRules'][number] = { verbs: r.verbs, apiGroups: r.apiGroups ?? [], resources: r.resources };
        if (r.resourceNames?.length) rr.resourceNames = r.resourceNames;
        review.resourceRules.push(rr);
      }
    }
    if (errors.length) review.evaluationError = errors.join(', ');
    return review;
  }

  // ---- escalation prevention (pkg/registry/rbac/*/policybased) ------------------------------

  private confirmNoEscalation(user: UserInfo, namespace: string | undefined, wanted: PolicyRule[]): string | undefined {
    const { rules, errors } = this.rulesFor(user, namespace);
    const missing = missingRules(rules, wanted);
    if (!missing.length) return undefined;
    const lines = [...new Set(missing.map(compactString))].sort();
    let msg = `user ${JSON.stringify(user.username)} (groups=${goQuoteList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${lines.join('\n')}`;
    if (errors.length) msg += `; resolution errors: [${errors.join(' ')}]`;
    return msg;
  }

  checkRoleEscalation(user: UserInfo, role: Obj, isCreate: boolean): void {
    if (user.groups.includes(SYSTEM_MASTERS)) return;
    const cluster = role.kind === 'ClusterRole';
    const resource = cluster ? 'clusterroles' : 'roles';
    const ns = cluster ? undefined : role.metadata?.namespace;
    const name = role.metadata?.name ?? '';
    // The escalate verb is checked against the URL, which names the role only on update.
    if (
      this.authorize({ user, verb: 'escalate', resourceRequest: true, apiGroup: RBAC_GROUP, resource, namespace: ns, name: isCreate ? undefined : name })
        .allowed
    )
      return;
    const refuse = (why: string) =>
      forbidden(`${resource}.${RBAC_GROUP} ${JSON.stringify(name)} is forbidden: ${why}`, { name, group: RBAC_GROUP, kind: resource });
    const msg = this.confirmNoEscalation(user, ns, role.rules ?? []);
    if (msg) throw refuse(msg);
    // An aggregationRule can gather any permission, so it needs all of them.
    if (cluster && role.aggregationRule && this.confirmNoEscalation(user, undefined, FULL_AUTHORITY)) {
      throw refuse('must have cluster-admin privileges to use the aggregationRule');
    }
  }

  checkBindingEscalation(user: UserInfo, binding: Obj): void {
    if (user.groups.includes(SYSTEM_MASTERS)) return;
    const cluster = binding.kind === 'ClusterRoleBinding';
    const resource = cluster ? 'clusterrolebindings' : 'rolebindings';
    const ns = cluster ? undefined : binding.metadata?.namespace;
    const name = binding.metadata?.name ?? '';
    const ref: RoleRef = binding.roleRef ?? {};
    const bindAttrs: Attributes = {
      user,
      verb: 'bind',
      resourceRequest: true,
      apiGroup: RBAC_GROUP,
      resource: ref.kind === 'Role' ? 'roles' : 'clusterroles',
      name: ref.name,
      namespace: ns,
    };
    if (this.authorize(bindAttrs).allowed) return;
    const { rules, error } = this.roleRules(ref, ns);
    if (error) {
      const kind = ref.kind === 'Role' ? 'roles' : 'clusterroles';
      throw new StatusError(404, 'NotFound', `${kind}.${RBAC_GROUP} ${JSON.stringify(ref.name)} not found`, { name: ref.name, group: RBAC_GROUP, kind });
    }
    const msg = this.confirmNoEscalation(user, ns, rules);
    if (msg) throw forbidden(`${resource}.${RBAC_GROUP} ${JSON.stringify(name)} is forbidden: ${msg}`, { name, group: RBAC_GROUP, kind: resource });
  }
}
