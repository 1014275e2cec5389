// Reconciliation of the bootstrap RBAC policy at every start, as kube-apiserver's rbac/bootstrap-roles
// post-start hook does (pkg/registry/rbac/reconciliation): a missing bootstrap object is (re)created; an
// existing one gets what it lacks added (rules, aggregation selectors, subjects, labels, annotations),
// never loses what a user added; one annotated rbac.authorization.kubernetes.io/autoupdate=false is left
// exactly as it is. A binding whose roleRef differs is deleted and created anew (roleRef is immutable).

import { isDeepStrictEqual } from 'node:util';
import { StatusError } from '../errors.ts';
import type { Registry } from '../registry.ts';
import type { RestService } from '../rest.ts';
import type { KObject } from '../resource.ts';
import { bootstrapPolicy } from './bootstrap-policy.ts';
import { uncoveredRules } from './rules.ts';
import { RBAC_GROUP } from './types.ts';
import { log } from '../../observability/log.ts';

export const AUTOUPDATE_ANNOTATION = 'rbac.authorization.kubernetes.io/autoupdate';
/** The loopback client kube-apiserver reconciles with shows up under this field manager. */
const FIELD_MANAGER = 'kube-apiserver';

type Obj = Record<string, any>;
export type ReconcileOperation = 'create' | 'update' | 'recreate' | 'none';

export interface Reconciled {
  /** The object to write (for 'none', the existing one). */
  object: Obj;
  operation: ReconcileOperation;
  /** The existing object opted out (autoupdate=false): nothing is written whatever `operation` says. */
  protected: boolean;
}

/** Expected entries are added where missing; existing values win (reconciliation's merge). */
function mergeMeta(out: Obj, expected: Obj, field: 'labels' | 'annotations'): boolean {
  const want = expected.metadata?.[field];
  if (!want) return false;
  const merged = { ...want, ...out.metadata[field] };
  if (isDeepStrictEqual(merged, out.metadata[field])) return false;
  out.metadata[field] = merged;
  return true;
}

function isProtected(existing: Obj): boolean {
  return existing.metadata?.annotations?.[AUTOUPDATE_ANNOTATION] === 'false';
}

/** What an existing Role or ClusterRole must become to hold at least the expected one's permissions. */
export function reconcileRole(existing: Obj | undefined, expected: Obj): Reconciled {
  if (!existing) return { object: structuredClone(expected), operation: 'create', protected: false };
  const out = structuredClone(existing);
  out.metadata ??= {};
  let changed = mergeMeta(out, expected, 'annotations');
  changed = mergeMeta(out, expected, 'labels') || changed;
  // An aggregated role's rules belong to the aggregation controller: only its selectors are reconciled.
  const wantRules = expected.aggregationRule ? [] : (expected.rules ?? []);
  const missing = uncoveredRules(out.rules ?? [], wantRules);
  if (missing.length) {
    out.rules = [...(out.rules ?? []), ...missing];
    changed = true;
  }
  const wantSelectors: Obj[] = expected.aggregationRule?.clusterRoleSelectors ?? [];
  const have: Obj[] = out.aggregationRule?.clusterRoleSelectors ?? [];
  const missingSelectors = wantSelectors.filter((w) => !have.some((h) => isDeepStrictEqual(h, w)));
  if (missingSelectors.length) {
    out.aggregationRule = { ...out.aggregationRule, clusterRoleSelectors: [...have, ...missingSelectors] };
    changed = true;
  }
  return { object: out, operation: changed ? 'update' : 'none', protected: isProtected(existing) };
}

const subjectId = (s: Obj, defaultGroup: string) =>
  JSON.stringify([s.kind, s.apiGroup || (s.kind === 'ServiceAccount' ? '' : defaultGroup), s.name, s.namespace ?? '']);

/** What an existing RoleBinding or ClusterRoleBinding must become to bind at least the expected subjects. */
export function reconcileBinding(existing: Obj | undefined, expected: Obj): Reconciled {
  if (!existing) return { object: structuredClone(expected), operation: 'create', protected: false };
  const prot = isProtected(existing);
  const ref = (b: Obj) => [b.roleRef?.apiGroup ?? RBAC_GROUP, b.roleRef?.kind, b.roleRef?.name];
  if (!isDeepStrictEqual(ref(existing), ref(expected))) return { object: structuredClone(expected), operation: 'recreate', protected: prot };
  const out = structuredClone(existing);
  out.metadata ??= {};
  let changed = mergeMeta(out, expected, 'annotations');
  changed = mergeMeta(out, expected, 'labels') || changed;
  const have = new Set((out.subjects ?? []).map((s: Obj) => subjectId(s, RBAC_GROUP)));
  const missing = (expected.subjects ?? []).filter((s: Obj) => !have.has(subjectId(s, RBAC_GROUP)));
  if (missing.length) {
    out.subjects = [...(out.subjects ?? []), ...missing];
    changed = true;
  }
  return { object: out, operation: changed ? 'update' : 'none', protected: prot };
}

export interface ReconcileReport {
  kind: string;
  name: string;
  operation: ReconcileOperation;
  protected: boolean;
}

const isCode = (e: unknown, code: number) => e instanceof StatusError && e.code === code;

/**
 * Brings the stored policy up to the bootstrap policy. Writes go through the REST service (validation,
 * managedFields, watch events) as the loopback client's do; races with other writers are retried.
 */
export async function reconcileBootstrapPolicy(registry: Registry, service: RestService, policy: Obj[] = bootstrapPolicy()): Promise<ReconcileReport[]> {
  const report: ReconcileReport[] = [];
  const ctx = { warnings: [] as string[] };
  const opts = { fieldManager: FIELD_MANAGER };
  for (const expected of policy) {
    const def = registry.byKind(RBAC_GROUP, 'v1', expected.kind);
    if (!def) throw new Error(`bootstrap policy: unknown kind ${expected.kind}`);
    const ns: string | undefined = expected.metadata.namespace;
    const name: string = expected.metadata.name;
    const reconcile = expected.kind.endsWith('Binding') ? reconcileBinding : reconcileRole;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 2) throw new Error(`bootstrap policy: ${expected.kind} ${name}: exceeded maximum attempts`);
      const existing = await service.get(def, ns, name).catch((e) => {
        if (isCode(e, 404)) return undefined;
        throw e;
      });
      let r: Reconciled;
      try {
        r = reconcile(existing, expected);
      } catch (e) {
        // A stored object of the wrong shape is left as it is (and logged): it must not keep the server from starting.
        log.error('cannot reconcile with the bootstrap policy', e, { object: `${def.resource}.${RBAC_GROUP}/${name}` });
        break;
      }
      if (r.protected || r.operation === 'none') {
        if (r.protected && r.operation !== 'none')
          log.info('skipped reconcile-protected bootstrap policy object', {
            object: `${def.resource}.${RBAC_GROUP}/${name}`,
            annotation: `${AUTOUPDATE_ANNOTATION}=false`,
          });
        report.push({ kind: expected.kind, name, operation: r.operation, protected: r.protected });
        break;
      }
      try {
        if (r.operation === 'recreate') await service.delete(def, ns, name, { preconditions: { uid: existing!.metadata.uid } });
        if (r.operation === 'update') await service.update(def, ns, name, r.object as KObject, opts, ctx);
        else await service.create(def, ns, r.object as KObject, opts, ctx);
      } catch (e) {
        // Created, deleted or changed by someone else meanwhile: look again.
        if (isCode(e, 409) || isCode(e, 404)) continue;
        // Refused (a stored object the API no longer accepts): logged, the rest of the policy still applies.
        if (e instanceof StatusError && e.code < 500) {
          log.error('cannot reconcile with the bootstrap policy', e, { object: `${def.resource}.${RBAC_GROUP}/${name}` });
          break;
        }
        throw e;
      }
      if (r.operation !== 'create')
        log.info(`${r.operation === 'update' ? 'updated' : 'recreated'} bootstrap policy object`, { object: `${def.resource}.${RBAC_GROUP}/${name}` });
      report.push({ kind: expected.kind, name, operation: r.operation, protected: false });
      break;
    }
  }
  return report;
}
