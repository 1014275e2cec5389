// policy/v1: PodDisruptionBudget and the pods/eviction subresource (pkg/registry/core/pod/storage/eviction.go):
// an eviction deletes the pod unless the one budget that selects it allows no disruption. Budget status is
// computed by the disruption controller; without it, a budget's disruptionsAllowed stays as written.

import { StatusError, badRequest } from '../../apiserver/errors.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import type { ActionSubresource, KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { AGE_COLUMN, STANDARD_VERBS, isObject } from './common.ts';
import { condition, desc, int32, int64, intOrString, kindSchema, labelSelector, list, obj, str, time } from './dsl.ts';
import { selectorMatches, validateLabelSelector } from './pod-template.ts';
import { validateIntOrPercent, workloadStrategy } from './workload-common.ts';
import { invalid, notSupported } from './validation.ts';

const GROUP = 'policy';
const EVICTION_POLICIES = ['AlwaysAllow', 'IfHealthyBudget'];
const VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget.";

// ---- PodDisruptionBudget ------------------------------------------------------------------

const PodDisruptionBudgetSpec = obj('Desired state of a disruption budget.', {
  minAvailable: intOrString('Pods that must stay available after an eviction: a number or a percentage of the selected pods.'),
  selector: { ...labelSelector('Label query over the pods the budget protects; an empty selector selects every pod of the namespace.'), 'x-kubernetes-patch-strategy': 'replace' },
  maxUnavailable: intOrString('Pods that may be unavailable after an eviction: a number or a percentage. Exclusive with minAvailable.'),
  unhealthyPodEvictionPolicy: str('When unhealthy (not ready) pods may be evicted: IfHealthyBudget (the default) or AlwaysAllow.'),
});

const PodDisruptionBudgetStatus = obj('Observed state of a disruption budget, maintained by the disruption controller.', {
  observedGeneration: int64('Generation the status was computed for.'),
  disruptedPods: { type: 'object', additionalProperties: time(), description: 'Pods evicted but not yet seen deleted by the controller, with the eviction time.' },
  disruptionsAllowed: int32('Pod disruptions currently allowed.'),
  currentHealthy: int32('Current number of healthy pods.'),
  desiredHealthy: int32('Minimum number of healthy pods desired.'),
  expectedPods: int32('Pods counted by the budget.'),
  conditions: list(condition('A condition of the budget (DisruptionAllowed).'), 'Latest observations of the budget\'s state.', { map: ['type'], mergeKey: 'type', strategy: 'merge' }),
}, { required: ['disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods'] });

function validatePDB(pdb: KObject): FieldError[] {
  const spec = isObject(pdb.spec) ? pdb.spec : {};
  const errs: FieldError[] = [];
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    errs.push(invalid('spec', spec, 'minAvailable and maxUnavailable cannot be both set'));
  }
  errs.push(...validateIntOrPercent(spec.minAvailable, 'spec.minAvailable'));
  errs.push(...validateIntOrPercent(spec.maxUnavailable, 'spec.maxUnavailable'));
  errs.push(...validateLabelSelector(spec.selector, 'spec.selector'));
  if (spec.unhealthyPodEvictionPolicy !== undefined && !EVICTION_POLICIES.includes(spec.unhealthyPodEvictionPolicy)) {
    errs.push(notSupported('spec.unhealthyPodEvictionPolicy', spec.unhealthyPodEvictionPolicy, EVICTION_POLICIES));
  }
  return errs;
}

const intOrStringCell = (v: unknown) => (v === undefined || v === null ? 'N/A' : String(v));

export const poddisruptionbudgets: ResourceDefinition = {
  group: GROUP,
  version: 'v1',
  resource: 'poddisruptionbudgets',
  singular: 'poddisruptionbudget',
  kind: 'PodDisruptionBudget',
  listKind: 'PodDisruptionBudgetList',
  namespaced: true,
  shortNames: ['pdb'],
  verbs: STANDARD_VERBS,
  schema: kindSchema('Limits how many pods of a set may be down at once through voluntary disruptions (evictions).', {
    spec: desc(PodDisruptionBudgetSpec, 'Desired state of the budget.'),
    status: desc(PodDisruptionBudgetStatus, 'Most recently observed state of the budget.'),
  }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: true,
  subresources: { status: true },
  columns: [
    { name: 'Min Available', type: 'string', description: 'The minimum number of pods that must be available.', cell: (o) => intOrStringCell(o.spec?.minAvailable) },
    { name: 'Max Unavailable', type: 'string', description: 'The maximum number of pods that may be unavailable.', cell: (o) => intOrStringCell(o.spec?.maxUnavailable) },
    { name: 'Allowed Disruptions', type: 'integer', description: 'Calculated number of pods that may be disrupted at this time.', cell: (o) => o.status?.disruptionsAllowed ?? 0 },
    AGE_COLUMN,
  ],
  deleteReturnsObject: false,
  strategy: workloadStrategy({
    defaults: () => {},
    validate: validatePDB,
    initialStatus: () => ({ disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 }),
  }),
};

// ---- pods/eviction ------------------------------------------------------------------------

/** Pods the budget check does not apply to: finished, never started, or already being deleted. */
const budgetIgnores = (pod: KObject) => ['Succeeded', 'Failed', 'Pending'].includes(pod.status?.phase) || !!pod.metadata?.deletionTimestamp;

function deleteOptionsOf(eviction: KObject): { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: boolean; propagationPolicy?: 'Orphan' | 'Background' | 'Foreground' } {
  const o = isObject(eviction.deleteOptions) ? eviction.deleteOptions : {};
  const dryRun: unknown[] = Array.isArray(o.dryRun) ? o.dryRun : [];
  for (const d of dryRun) if (d !== 'All') throw badRequest(`Invalid dry run value: "${d}"; valid values are "All"`);
  return {
    gracePeriodSeconds: typeof o.gracePeriodSeconds === 'number' ? o.gracePeriodSeconds : undefined,
    preconditions: isObject(o.preconditions) ? o.preconditions : undefined,
    propagationPolicy: o.propagationPolicy,
    dryRun: dryRun.length > 0,
  };
}

/** POST pods/NAME/eviction with a policy/v1 (or v1beta1) Eviction. */
export const podEviction: ActionSubresource = {
  kind: 'Eviction',
  group: GROUP,
  version: 'v1',
  async create(pod, body, ctx) {
    if (body?.kind !== undefined && body.kind !== 'Eviction') throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (Eviction)`);
    const name = pod.metadata.name;
    if (body?.metadata?.name !== undefined && body.metadata.name !== name) throw badRequest('name in URL does not match name in Eviction object');
    const opts = deleteOptionsOf(body ?? {});
    const objects = ctx.objects;
    if (!objects) throw new StatusError(500, 'InternalError', 'eviction needs access to the object store');
    const ns = pod.metadata.namespace;
    const evict = async () => {
      await objects.delete('', 'v1', 'pods', ns, name, { ...opts, preconditions: opts.preconditions ?? { uid: pod.metadata.uid } });
      return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
    };
    if (budgetIgnores(pod)) return evict();
    const budgets = (await objects.list(GROUP, 'v1', 'poddisruptionbudgets', ns)).filter((b) => selectorMatches(b.spec?.selector, pod.metadata.labels ?? {}));
    if (budgets.length > 1) throw new StatusError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    if (!budgets.length) return evict();
    const pdb = budgets[0];
    const unhealthyOK = pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' && !(pod.status?.conditions ?? []).some((c: KObject) => c?.type === 'Ready' && c.status === 'True');
    if (unhealthyOK) return evict();
    const refuse = (b: KObject) => {
      const allowed = b.status?.disruptionsAllowed ?? 0;
      if (allowed < 0) throw new StatusError(403, 'Forbidden', 'pdb disruptions allowed is negative');
      if (allowed === 0) {
        throw new StatusError(429, 'TooManyRequests', VIOLATION, {
          causes: [{ type: 'DisruptionBudget', message: `The disruption budget ${b.metadata.name} needs ${b.status?.desiredHealthy ?? 0} healthy pods and has ${b.status?.currentHealthy ?? 0} currently` }],
        });
      }
    };
    refuse(pdb);
    if (!opts.dryRun) {
      // Spend one disruption and remember the pod, so the controller does not count it as healthy meanwhile.
      await objects.updateStatus(GROUP, 'v1', 'poddisruptionbudgets', ns, pdb.metadata.name, (cur) => {
        refuse(cur);
        cur.status.disruptionsAllowed -= 1;
        cur.status.disruptedPods = { ...cur.status.disruptedPods, [name]: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
        return cur;
      });
    }
    return evict();
  },
};

export const policyResources: ResourceDefinition[] = [poddisruptionbudgets];
