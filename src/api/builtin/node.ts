// core/v1 Node (cluster-scoped). Status is written by the node agent (here the EVE bridge) via /status.

import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { AGE_COLUMN, STANDARD_VERBS, deepEqual, isObject } from './common.ts';
import { NodeSpec, NodeStatus } from './core-types.ts';
import { desc, kindSchema } from './dsl.ts';
import { canonicalizeResourceList, resourceListErrors } from './resources.ts';
import { forbidden, invalid, labelValue, notSupported, qualifiedName, required } from './validation.ts';

const ROLE_PREFIX = 'node-role.kubernetes.io/';
const ROLE_LABEL = 'kubernetes.io/role';
export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/** STATUS: Ready/NotReady from the Ready condition (Unknown without one), plus SchedulingDisabled when cordoned. */
function nodeStatus(node: KObject): string {
  const ready = (node.status?.conditions ?? []).find((c: KObject) => c?.type === 'Ready');
  const status = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (node.spec?.unschedulable) status.push('SchedulingDisabled');
  return status.join(',');
}

/** ROLES: from node-role.kubernetes.io/<role> and kubernetes.io/role=<role> labels, sorted. */
function nodeRoles(node: KObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries<string>(node.metadata?.labels ?? {})) {
    if (k.startsWith(ROLE_PREFIX) && k.length > ROLE_PREFIX.length) roles.add(k.slice(ROLE_PREFIX.length));
    else if (k === ROLE_LABEL && v) roles.add(v);
  }
  return [...roles].sort().join(',') || '<none>';
}

const address = (node: KObject, type: string) => (node.status?.addresses ?? []).find((a: KObject) => a?.type === type)?.address ?? '<none>';
const info = (node: KObject, f: string, unset = '<unknown>') => node.status?.nodeInfo?.[f] || unset;

function validateTaints(taints: unknown, errs: FieldError[]): void {
  if (!Array.isArray(taints)) return;
  const seen = new Set<string>();
  taints.forEach((t: KObject, i: number) => {
    const p = `spec.taints[${i}]`;
    const k = String(t?.key ?? '');
    for (const m of qualifiedName(k)) errs.push(invalid(`${p}.key`, k, m));
    const valueErrors = labelValue(String(t?.value ?? ''));
    if (valueErrors.length) errs.push(invalid(`${p}.value`, t.value, valueErrors.join(';')));
    if (!t?.effect) errs.push(required(`${p}.effect`));
    else if (!TAINT_EFFECTS.includes(t.effect)) errs.push(notSupported(`${p}.effect`, t.effect, TAINT_EFFECTS));
    const id = `${t?.effect}\u0000${k}`;
    if (seen.has(id))
      errs.push({ type: 'FieldValueDuplicate', field: p, detail: `Duplicate value: ${JSON.stringify(t)}: taints must be unique by key and effect pair` });
    seen.add(id);
  });
}

function prepareStatus(node: KObject): void {
  const status = node.status;
  if (!isObject(status)) return;
  // SetDefaults_NodeStatus: allocatable defaults to capacity.
  if (status.allocatable === undefined && isObject(status.capacity)) status.allocatable = structuredClone(status.capacity);
  canonicalizeResourceList(status, 'capacity');
  canonicalizeResourceList(status, 'allocatable');
}

export const nodes: ResourceDefinition = {
  group: '',
  version: 'v1',
  resource: 'nodes',
  singular: 'node',
  kind: 'Node',
  listKind: 'NodeList',
  namespaced: false,
  shortNames: ['no'],
  verbs: STANDARD_VERBS,
  schema: kindSchema('A machine that runs pods.', {
    spec: desc(NodeSpec, 'Desired state of the node.'),
    status: desc(NodeStatus, 'Observed state of the node, reported by the node agent.'),
  }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: { status: true },
  columns: [
    { name: 'Status', type: 'string', description: 'Readiness and schedulability of the node.', cell: nodeStatus },
    { name: 'Roles', type: 'string', description: 'Roles of the node, from its node-role labels.', cell: nodeRoles },
    AGE_COLUMN,
    { name: 'Version', type: 'string', description: 'Kubelet version reported by the node.', cell: (o) => info(o, 'kubeletVersion', '') },
    { name: 'Internal-IP', type: 'string', priority: 1, description: 'First internal IP of the node.', cell: (o) => address(o, 'InternalIP') },
    { name: 'External-IP', type: 'string', priority: 1, description: 'First external IP of the node.', cell: (o) => address(o, 'ExternalIP') },
    { name: 'OS-Image', type: 'string', priority: 1, description: 'Operating system image of the node.', cell: (o) => info(o, 'osImage') },
    { name: 'Kernel-Version', type: 'string', priority: 1, description: 'Kernel version of the node.', cell: (o) => info(o, 'kernelVersion') },
    { name: 'Container-Runtime', type: 'string', priority: 1, description: 'Container runtime and version.', cell: (o) => info(o, 'containerRuntimeVersion') },
  ],
  fieldSelectors: { 'spec.unschedulable': (o) => String(o.spec?.unschedulable === true) },
  deleteReturnsObject: false,
  strategy: {
    prepareForCreate(node) {
      // A node registers itself with its status, so create keeps it.
      prepareStatus(node);
    },
    prepareForUpdate(node, old) {
      // A node registered without a status keeps none (an undefined key would fail the schema as null).
      if (old.status === undefined) delete node.status;
      else node.status = old.status;
    },
    validate(node, old) {
      const errs: FieldError[] = [];
      validateTaints(node.spec?.taints, errs);
      errs.push(...resourceListErrors(node.status?.capacity, 'status.capacity'), ...resourceListErrors(node.status?.allocatable, 'status.allocatable'));
      if (old) {
        const oldCIDRs: string[] = old.spec?.podCIDRs ?? [];
        if (oldCIDRs.length && !deepEqual(node.spec?.podCIDRs ?? [], oldCIDRs)) {
          errs.push(forbidden('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
        }
        if (old.spec?.providerID && node.spec?.providerID !== old.spec.providerID) {
          errs.push(forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
        }
      }
      return errs;
    },
  },
};
