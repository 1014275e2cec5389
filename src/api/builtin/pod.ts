// core/v1 Pod: schema, the kubectl printer columns and field selectors. Defaulting, update and deletion rules
// live in pod-strategy.ts; the status and binding subresources are served by the generic layer.

import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { AGE_COLUMN, STANDARD_VERBS } from './common.ts';
import { PodSpec, PodStatus } from './core-types.ts';
import { desc, kindSchema } from './dsl.ts';
import { humanDuration } from '../../apiserver/format.ts';
import { podStrategy } from './pod-strategy.ts';
import { podEviction } from './policy.ts';
import { podBinding } from './pod-binding.ts';

/** Reason the node controller gives pods on a node that stopped reporting. */
const NODE_LOST = 'NodeLost';

interface PodSummary {
  ready: number;
  total: number;
  status: string;
  restarts: string;
}

const finishedAt = (state: KObject | undefined): number => {
  const t = state?.terminated?.finishedAt;
  return typeof t === 'string' ? Date.parse(t) || 0 : 0;
};

/** The READY, STATUS and RESTARTS cells, computed the way kubectl's pod printer does. */
function podSummary(pod: KObject, now = Date.now()): PodSummary {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  const conditions: KObject[] = Array.isArray(status.conditions) ? status.conditions : [];
  const initContainers: KObject[] = Array.isArray(spec.initContainers) ? spec.initContainers : [];
  const sidecar = (name: string) => initContainers.find((c) => c?.name === name)?.restartPolicy === 'Always';
  const total = (Array.isArray(spec.containers) ? spec.containers.length : 0) + initContainers.filter((c) => c?.restartPolicy === 'Always').length;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = 0;
  let lastSidecarRestart = 0;
  let reason: string = status.reason || status.phase || '';
  if (conditions.some((c) => c?.type === 'PodScheduled' && c.reason === 'SchedulingGated')) reason = 'SchedulingGated';

  let initializing = false;
  const initStatuses: KObject[] = Array.isArray(status.initContainerStatuses) ? status.initContainerStatuses : [];
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i] ?? {};
    const state = c.state ?? {};
    restarts += c.restartCount ?? 0;
    lastRestart = Math.max(lastRestart, finishedAt(c.lastState));
    if (sidecar(c.name)) {
      sidecarRestarts += c.restartCount ?? 0;
      lastSidecarRestart = Math.max(lastSidecarRestart, finishedAt(c.lastState));
    }
    if (state.terminated && (state.terminated.exitCode ?? 0) === 0) continue;
    if (sidecar(c.name) && c.started) {
      if (c.ready) ready++;
      continue;
    }
    initializing = true;
    if (state.terminated) {
      const t = state.terminated;
      reason = t.reason ? `Init:${t.reason}` : t.signal ? `Init:Signal:${t.signal}` : `Init:ExitCode:${t.exitCode ?? 0}`;
    } else if (state.waiting?.reason && state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${state.waiting.reason}`;
    } else {
      reason = `Init:${i}/${initContainers.length}`;
    }
    break;
  }

  if (!initializing || conditions.some((c) => c?.type === 'Initialized' && c.status === 'True')) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses: KObject[] = Array.isArray(status.containerStatuses) ? status.containerStatuses : [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i] ?? {};
      const state = c.state ?? {};
      restarts += c.restartCount ?? 0;
      lastRestart = Math.max(lastRestart, finishedAt(c.lastState));
      if (state.waiting?.reason) reason = state.waiting.reason;
      else if (state.terminated?.reason) reason = state.terminated.reason;
      else if (state.terminated) reason = state.terminated.signal ? `Signal:${state.terminated.signal}` : `ExitCode:${state.terminated.exitCode ?? 0}`;
      else if (c.ready && state.running) {
        hasRunning = true;
        ready++;
      }
    }
    // A pod whose last container completed but another still runs is Running (or NotReady), not Completed.
    if (reason === 'Completed' && hasRunning) reason = conditions.some((c) => c?.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady';
  }

  if (pod.metadata?.deletionTimestamp && status.reason === NODE_LOST) reason = 'Unknown';
  else if (pod.metadata?.deletionTimestamp && status.phase !== 'Succeeded' && status.phase !== 'Failed') reason = 'Terminating';

  const restartText = restarts !== 0 && lastRestart ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts);
  return { ready, total, status: reason, restarts: restartText };
}

function readinessGates(pod: KObject): string {
  const gates: KObject[] = Array.isArray(pod.spec?.readinessGates) ? pod.spec.readinessGates : [];
  if (!gates.length) return '<none>';
  const conditions: KObject[] = Array.isArray(pod.status?.conditions) ? pod.status.conditions : [];
  const ok = gates.filter((g) => conditions.find((c) => c?.type === g?.conditionType)?.status === 'True').length;
  return `${ok}/${gates.length}`;
}

function readyCell(pod: KObject): string {
  const s = podSummary(pod);
  return `${s.ready}/${s.total}`;
}

const firstPodIP = (pod: KObject): string => (Array.isArray(pod.status?.podIPs) && pod.status.podIPs[0]?.ip) || '';

export const pods: ResourceDefinition = {
  group: '',
  version: 'v1',
  resource: 'pods',
  singular: 'pod',
  kind: 'Pod',
  listKind: 'PodList',
  namespaced: true,
  shortNames: ['po'],
  categories: ['all'],
  verbs: STANDARD_VERBS,
  schema: kindSchema('A group of containers that run together on one node, sharing network and volumes.', {
    spec: desc(PodSpec, 'Desired state of the pod.'),
    status: desc(PodStatus, 'Observed state of the pod; may lag behind the spec.'),
  }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: { status: true, actions: { binding: podBinding, eviction: podEviction } },
  columns: [
    { name: 'Ready', type: 'string', description: 'Ready containers out of all containers of the pod.', cell: readyCell },
    { name: 'Status', type: 'string', description: 'Summary of the pod and container states.', cell: (o) => podSummary(o).status },
    { name: 'Restarts', type: 'string', description: 'Container restarts, and how long ago the last one happened.', cell: (o) => podSummary(o).restarts },
    AGE_COLUMN,
    { name: 'IP', type: 'string', priority: 1, description: 'Primary IP of the pod.', cell: (o) => firstPodIP(o) || '<none>' },
    { name: 'Node', type: 'string', priority: 1, description: 'Node the pod is bound to.', cell: (o) => o.spec?.nodeName || '<none>' },
    {
      name: 'Nominated Node',
      type: 'string',
      priority: 1,
      description: 'Node the scheduler nominated after preemption.',
      cell: (o) => o.status?.nominatedNodeName || '<none>',
    },
    { name: 'Readiness Gates', type: 'string', priority: 1, description: 'Readiness gates that are True, out of all.', cell: readinessGates },
  ],
  fieldSelectors: {
    'spec.nodeName': (o) => o.spec?.nodeName ?? '',
    'spec.restartPolicy': (o) => o.spec?.restartPolicy ?? '',
    'spec.schedulerName': (o) => o.spec?.schedulerName ?? '',
    'spec.serviceAccountName': (o) => o.spec?.serviceAccountName ?? '',
    'spec.hostNetwork': (o) => String(o.spec?.hostNetwork === true),
    'status.phase': (o) => o.status?.phase ?? '',
    'status.podIP': firstPodIP,
    'status.nominatedNodeName': (o) => o.status?.nominatedNodeName ?? '',
  },
  deleteReturnsObject: true,
  strategy: podStrategy,
};
