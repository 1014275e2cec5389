// policy/v1: PodDisruptionBudget and the pods/eviction subresource (pkg/registry/core/pod/storage/eviction.go):
// an eviction deletes the pod unless the one budget that selects it allows no disruption. Budget status is
// the disruption controller's to compute; until it has seen a budget (status.observedGeneration), evictions
// of running pods it covers are refused, as on a real cluster.

import { StatusError, badRequest } from '../../apiserver/errors.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import type { ActionSubresource, KObject, RequestContext, ResourceDefinition } from '../../apiserver/resource.ts';
import { AGE_COLUMN, STANDARD_VERBS, isObject } from './common.ts';
import { condition, desc, int32, int64, intOrString, kindSchema, labelSelector, list, obj, str, time } from './dsl.ts';
import { selectorMatches, validateLabelSelector } from './pod-template.ts';
import { statusCounts, validateIntOrPercent, workloadStrategy } from './workload-common.ts';
import { invalid, notSupported } from './validation.ts';

const GROUP = 'policy';
const EVICTION_POLICIES = ['AlwaysAllow', 'IfHealthyBudget'];
const VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget.";

// ---- PodDisruptionBudget ------------------------------------------------------------------

const PodDisruptionBudgetSpec = obj('Desired state of a disruption budget.', {
  minAvailable: intOrString('Pods that must stay available after an eviction: a number or a percentage of the selected pods.'),
  selector: {
    ...labelSelector('Label query over the pods the budget protects; an empty selector selects every pod of the namespace.'),
    'x-kubernetes-patch-strategy': 'replace',
  },
  maxUnavailable: intOrString('Pods that may be unavailable after an eviction: a number or a percentage. Exclusive with minAvailable.'),
  unhealthyPodEvictionPolicy: str('When unhealthy (not ready) pods may be evicted: IfHealthyBudget (the default) or AlwaysAllow.'),
});

const PodDisruptionBudgetStatus = obj(
  'Observed state of a disruption budget, maintained by the disruption controller.',
  {
    observedGeneration: int64('Generation the status was computed for.'),
    disruptedPods: {
      type: 'object',
      additionalProperties: time(),
      description: 'Pods evicted but not yet seen deleted by the controller, with the eviction time.',
    },
    disruptionsAllowed: int32('Pod disruptions currently allowed.'),
    currentHealthy: int32('Current number of healthy pods.'),
    desiredHealthy: int32('Minimum number of healthy pods desired.'),
    expectedPods: int32('Pods counted by the budget.'),
    conditions: list(
      {
        ...condition('A condition of the budget (DisruptionAllowed).'),
        properties: { ...condition('').properties, observedGeneration: int64('Generation the condition was set for.') },
      },
      "Latest observations of the budget's state.",
      { map: ['type'], mergeKey: 'type', strategy: 'merge' },
    ),
  },
  { required: ['disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods'] },
);

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
    {
      name: 'Min Available',
      type: 'string',
      description: 'The minimum number of pods that must be available.',
      cell: (o) => intOrStringCell(o.spec?.minAvailable),
    },
    {
      name: 'Max Unavailable',
      type: 'string',
      description: 'The maximum number of pods that may be unavailable.',
      cell: (o) => intOrStringCell(o.spec?.maxUnavailable),
    },
    {
      name: 'Allowed Disruptions',
      type: 'integer',
      description: 'Calculated number of pods that may be disrupted at this time.',
      cell: (o) => o.status?.disruptionsAllowed ?? 0,
    },
    AGE_COLUMN,
  ],
  deleteReturnsObject: false,
  strategy: workloadStrategy({
    defaults: () => {},
    validate: validatePDB,
    initialStatus: () => ({ disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 }),
    validateStatus: statusCounts(['disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods']),
  }),
};

// ---- pods/eviction ------------------------------------------------------------------------

type DeleteOpts = Parameters<NonNullable<RequestContext['objects']>['delete']>[5];

const nowRFC3339 = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Pods the budget check does not apply to: finished, never started, or already being deleted (canIgnorePDB). */
const budgetIgnores = (pod: KObject) => ['Succeeded', 'Failed', 'Pending'].includes(pod.status?.phase) || !!pod.metadata?.deletionTimestamp;
const terminalOrDeleting = (pod: KObject) => ['Succeeded', 'Failed'].includes(pod.status?.phase) || !!pod.metadata?.deletionTimestamp;
const podReady = (pod: KObject) => (pod.status?.conditions ?? []).some((c: KObject) => c?.type === 'Ready' && c.status === 'True');

/** policy/v1: a nil selector selects nothing, an empty one every pod of the namespace. */
function budgetSelects(pdb: KObject, pod: KObject): boolean {
  const sel = pdb.spec?.selector;
  if (!isObject(sel)) return false;
  const empty = !Object.keys(isObject(sel.matchLabels) ? sel.matchLabels : {}).length && !(Array.isArray(sel.matchExpressions) && sel.matchExpressions.length);
  return empty || selectorMatches(sel, pod.metadata?.labels ?? {});
}

function deleteOptionsOf(eviction: KObject): DeleteOpts {
  const o = isObject(eviction.deleteOptions) ? eviction.deleteOptions : {};
  const dryRun: unknown[] = Array.isArray(o.dryRun) ? o.dryRun : [];
  for (const d of dryRun) if (d !== 'All') throw badRequest(`Invalid dry run value: "${d}"; valid values are "All"`);
  return {
    gracePeriodSeconds: typeof o.gracePeriodSeconds === 'number' ? o.gracePeriodSeconds : undefined,
    preconditions: isObject(o.preconditions) ? { ...o.preconditions } : undefined,
    propagationPolicy: o.propagationPolicy,
    dryRun: dryRun.length > 0,
  };
}

/** 429 with the budget's reason as a cause; a retry hint travels in the details and as Retry-After. */
const tooManyRequests = (message: string, retryAfterSeconds = 0) =>
  retryAfterSeconds
    ? new StatusError(
        429,
        'TooManyRequests',
        VIOLATION,
        { causes: [{ reason: 'DisruptionBudget', message }], retryAfterSeconds },
        { 'Retry-After': String(retryAfterSeconds) },
      )
    : new StatusError(429, 'TooManyRequests', VIOLATION, { causes: [{ reason: 'DisruptionBudget', message }] });

/** checkAndDecrement's refusals, in the real server's order. */
function refusal(pdb: KObject): StatusError | undefined {
  const status = pdb.status ?? {};
  const name = pdb.metadata.name;
  if ((status.observedGeneration ?? 0) < (pdb.metadata.generation ?? 0)) {
    return tooManyRequests(`The disruption budget ${name} is still being processed by the server.`, 10);
  }
  const allowed = status.disruptionsAllowed ?? 0;
  if (allowed < 0)
    return new StatusError(403, 'Forbidden', `poddisruptionbudgets.policy "${name}" is forbidden: pdb disruptions allowed is negative`, {
      name,
      group: GROUP,
      kind: 'poddisruptionbudgets',
    });
  if (Object.keys(status.disruptedPods ?? {}).length > MAX_DISRUPTED_PODS) {
    return new StatusError(
      403,
      'Forbidden',
      `poddisruptionbudgets.policy "${name}" is forbidden: DisruptedPods map too big - too many evictions not confirmed by PDB controller`,
      { name, group: GROUP, kind: 'poddisruptionbudgets' },
    );
  }
  if (allowed === 0)
    return tooManyRequests(`The disruption budget ${name} needs ${status.desiredHealthy ?? 0} healthy pods and has ${status.currentHealthy ?? 0} currently`);
  return undefined;
}

/** Evictions the budget remembers before its controller sees the pods go; more are refused. */
const MAX_DISRUPTED_PODS = 2000;

/**
 * POST pods/NAME/eviction with a policy/v1 (or v1beta1) Eviction: deletes the pod with the eviction's
 * DeleteOptions, unless the one budget selecting it (more than one is an error) allows no disruption.
 */
export const podEviction: ActionSubresource = {
  kind: 'Eviction',
  group: GROUP,
  version: 'v1',
  async create(pod, body, ctx) {
    if (body?.kind !== undefined && body.kind !== 'Eviction')
      throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (Eviction)`);
    const name = pod.metadata.name;
    if ((body?.metadata?.name ?? '') !== name) throw badRequest('name in URL does not match name in Eviction object');
    const opts = deleteOptionsOf(body ?? {});
    // propagateDryRun: the request's dryRun and the eviction's own DeleteOptions.dryRun both count.
    if (ctx.dryRun) opts.dryRun = true;
    const objects = ctx.objects;
    if (!objects) throw new StatusError(500, 'InternalError', 'eviction needs access to the object store');
    const ns = pod.metadata.namespace;

    /** addConditionAndDeletePod: mark the pod DisruptionTarget, then delete it (preconditions follow the marking). */
    const evict = async (options: DeleteOpts) => {
      if (!options.dryRun) {
        const marked = await objects.updateStatus('', 'v1', 'pods', ns, name, (cur) => {
          const pre = options.preconditions;
          if (pre?.uid && pre.uid !== cur.metadata.uid)
            throw conflictOnPod(
              name,
              `the UID in the precondition (${pre.uid}) does not match the UID in record (${cur.metadata.uid}). The object might have been deleted and then recreated`,
            );
          if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
            throw conflictOnPod(
              name,
              `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${cur.metadata.resourceVersion}). The object might have been modified`,
            );
          }
          const status = (cur.status ??= {});
          const conditions: KObject[] = (status.conditions ??= []);
          const i = conditions.findIndex((c) => c?.type === 'DisruptionTarget');
          const condition = {
            type: 'DisruptionTarget',
            status: 'True',
            lastProbeTime: null,
            lastTransitionTime: i >= 0 && conditions[i].status === 'True' ? conditions[i].lastTransitionTime : nowRFC3339(),
            reason: 'EvictionByEvictionAPI',
            message: 'Eviction API: evicting',
          };
          if (i >= 0) conditions[i] = condition;
          else conditions.push(condition);
          return cur;
        });
        if (options.preconditions?.resourceVersion)
          options = { ...options, preconditions: { ...options.preconditions, resourceVersion: marked.metadata.resourceVersion } };
      }
      await objects.delete('', 'v1', 'pods', ns, name, options);
      return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
    };
    /** The pod as seen now must still be the one deleted: a resourceVersion precondition unless the client set one. */
    const pinned = (): DeleteOpts =>
      opts.preconditions?.resourceVersion ? opts : { ...opts, preconditions: { ...opts.preconditions, resourceVersion: pod.metadata.resourceVersion } };

    if (budgetIgnores(pod)) return evict(terminalOrDeleting(pod) ? opts : pinned());
    const budgets = (await objects.list(GROUP, 'v1', 'poddisruptionbudgets', ns)).filter((b) => budgetSelects(b, pod));
    if (budgets.length > 1)
      throw new StatusError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    if (!budgets.length) return evict(opts);
    const pdb = budgets[0];
    if (!podReady(pod)) {
      // An unready pod does not count as healthy: deleting it disrupts nothing when the policy says so, or
      // when the budget is met anyway. No disruption is spent then.
      const status = pdb.status ?? {};
      if (
        pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' ||
        ((status.currentHealthy ?? 0) >= (status.desiredHealthy ?? 0) && (status.desiredHealthy ?? 0) > 0)
      ) {
        return evict(pinned());
      }
    }
    const refused = refusal(pdb);
    if (refused) throw refused;
    if (!opts.dryRun) {
      // Spend one disruption and remember the pod, so the controller does not count it as healthy meanwhile.
      await objects.updateStatus(GROUP, 'v1', 'poddisruptionbudgets', ns, pdb.metadata.name, (cur) => {
        const again = refusal(cur);
        if (again) throw again;
        cur.status.disruptionsAllowed -= 1;
        if (cur.status.disruptionsAllowed === 0) setDisruptionAllowedCondition(cur.status);
        cur.status.disruptedPods = { ...cur.status.disruptedPods, [name]: nowRFC3339() };
        return cur;
      });
    }
    return evict(opts);
  },
};

const conflictOnPod = (name: string, why: string) =>
  new StatusError(409, 'Conflict', `Operation cannot be fulfilled on Pod "${name}": ${why}`, { name, kind: 'Pod' });

/** The DisruptionAllowed condition once no disruption is left (pdbhelper.UpdateDisruptionAllowedCondition). */
function setDisruptionAllowedCondition(status: KObject): void {
  const conditions: KObject[] = Array.isArray(status.conditions) ? status.conditions : [];
  const prev = conditions.find((c) => c?.type === 'DisruptionAllowed');
  const next = {
    type: 'DisruptionAllowed',
    status: 'False',
    reason: 'InsufficientPods',
    message: '',
    observedGeneration: status.observedGeneration,
    lastTransitionTime: prev?.status === 'False' ? prev.lastTransitionTime : nowRFC3339(),
  };
  status.conditions = [...conditions.filter((c) => c?.type !== 'DisruptionAllowed'), next];
}

export const policyResources: ResourceDefinition[] = [poddisruptionbudgets];
