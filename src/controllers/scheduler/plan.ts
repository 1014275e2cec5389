// The placement preview: where the pods of a workload would land with the cluster as it is now,
// before anything is applied. It reads Nodes, Pods and PriorityClasses once through the runtime
// Client, builds the scheduler's ClusterState from them, expands each workload into the pods its
// controller would create, and runs the scheduler's own filters and scores on each in turn (a pod
// placed in the preview counts for the next one, as an assumed pod does). Nothing is written.

import type { Client, KObject } from '../runtime/index.ts';
import { objectKey } from '../runtime/index.ts';
import { PODS, NODES, PDBS } from '../workloads/common.ts';
import { shouldRun, daemonPodFor } from '../workloads/daemonset.ts';
import { ClusterState } from './cluster.ts';

const PRIORITYCLASSES = { group: 'scheduling.k8s.io', version: 'v1', resource: 'priorityclasses' };

export interface PlanRow {
  /** "Kind/name" of the workload the pod belongs to. */
  workload: string;
  namespace: string;
  /** The name the pod would have where it is predictable (StatefulSet ordinals, bare Pods), else "<name>-<n>". */
  pod: string;
  node?: string;
  /** Why the pod would stay Pending, or why it must preempt (kube-scheduler's FailedScheduling message). */
  message?: string;
  /** Pods ("namespace/name") the scheduler would preempt to make room on `node`. */
  preempts?: string[];
}

type Expand = (obj: KObject, nodes: KObject[]) => { name: string; pod: KObject }[];

const fromTemplate = (obj: KObject, template: KObject | undefined, name: string): KObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: obj.metadata?.namespace, labels: template?.metadata?.labels ?? {} },
  spec: structuredClone(template?.spec ?? {}),
});
const replicas = (v: unknown, dflt = 1) => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : dflt);
const numbered = (obj: KObject, template: KObject | undefined, n: number, name = (i: number) => `${obj.metadata.name}-${i + 1}`) =>
  Array.from({ length: n }, (_, i) => ({ name: name(i), pod: fromTemplate(obj, template, name(i)) }));
const jobPods = (obj: KObject, spec: KObject | undefined) =>
  numbered(obj, spec?.template, Math.min(replicas(spec?.parallelism), replicas(spec?.completions, Number.MAX_SAFE_INTEGER)));

/** The pods each workload kind's controller would create at once (what the preview places). */
const WORKLOADS: Record<string, Expand> = {
  Pod: (o) => [{ name: o.metadata.name, pod: structuredClone(o) }],
  Deployment: (o) => numbered(o, o.spec?.template, replicas(o.spec?.replicas)),
  ReplicaSet: (o) => numbered(o, o.spec?.template, replicas(o.spec?.replicas)),
  StatefulSet: (o) => numbered(o, o.spec?.template, replicas(o.spec?.replicas), (i) => `${o.metadata.name}-${i}`),
  DaemonSet: (o, nodes) =>
    nodes
      .filter((n) => shouldRun(o, n))
      .map((n) => {
        const pod = daemonPodFor(o, n.metadata.name, 'preview');
        const name = `${o.metadata.name}-${n.metadata.name}`;
        return { name, pod: { ...pod, metadata: { ...pod.metadata, name, namespace: o.metadata?.namespace } } };
      }),
  Job: (o) => jobPods(o, o.spec),
  CronJob: (o) => jobPods(o, o.spec?.jobTemplate?.spec),
};

export const PREVIEW_KINDS = Object.keys(WORKLOADS);

/** spec.priority as Priority admission would set it: the named class's value, else the global default's, else 0. */
function priorityOf(spec: KObject, classes: KObject[]): number {
  if (Number.isInteger(spec.priority)) return spec.priority;
  const cls = spec.priorityClassName ? classes.find((c) => c.metadata.name === spec.priorityClassName) : classes.find((c) => c.globalDefault);
  return Number(cls?.value ?? 0);
}

/**
 * Where the pods of `objects` would land, in order. Objects of other kinds are returned in `skipped`.
 * Ties between equally good nodes are broken at random, as the scheduler does.
 */
export async function planPlacement(client: Client, objects: KObject[], defaultNamespace = 'default'): Promise<{ rows: PlanRow[]; skipped: string[] }> {
  const [nodes, pods, classes, pdbs] = await Promise.all([NODES, PODS, PRIORITYCLASSES, PDBS].map((r) => client.list(r, undefined)));
  const cluster = new ClusterState();
  for (const n of nodes.items) cluster.setNode(n);
  for (const p of pods.items) {
    const phase = p.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    if (p.spec?.nodeName) cluster.place(objectKey(p), p.spec.nodeName, p);
    else if (p.status?.nominatedNodeName) cluster.nominate(objectKey(p), p.status.nominatedNodeName, p);
  }
  const rows: PlanRow[] = [];
  const skipped: string[] = [];
  for (const obj of objects) {
    const expand = WORKLOADS[obj?.kind];
    if (!expand || !obj.metadata?.name) {
      skipped.push(`${obj?.kind ?? '?'}/${obj?.metadata?.name ?? '?'}`);
      continue;
    }
    const namespace = obj.metadata.namespace ?? defaultNamespace;
    const subject = { ...obj, metadata: { ...obj.metadata, namespace } };
    for (const { name, pod } of expand(subject, nodes.items)) {
      pod.metadata = { ...pod.metadata, namespace };
      pod.spec = { ...pod.spec, priority: priorityOf(pod.spec ?? {}, classes.items) };
      delete pod.status;
      const key = `${namespace}/${name} (preview)`;
      const row: PlanRow = { workload: `${obj.kind}/${obj.metadata.name}`, namespace, pod: name };
      rows.push(row);
      if (pod.spec.nodeName) {
        // bound by its author: no scheduling
        row.node = pod.spec.nodeName;
        cluster.place(key, row.node!, pod);
        continue;
      }
      const r = cluster.schedule(pod, key);
      if ('node' in r) {
        row.node = r.node;
        cluster.place(key, r.node, pod);
        continue;
      }
      row.message = r.message;
      if (!r.failures.size) continue;
      const ineligible = cluster.preemptionIneligible(pod, r.failures);
      const found = ineligible ? { message: `preemption: ${ineligible}` } : cluster.findPreemption(pod, key, r.failures, r.total, pdbs.items);
      if (!('victims' in found)) {
        row.message += ` ${found.message}`;
        continue;
      }
      // The preview goes on as if the victims were gone and the pod on their node.
      row.node = found.node;
      row.preempts = found.victims.map((v) => v.key);
      for (const v of found.victims) cluster.unplace(v.key);
      cluster.place(key, found.node, pod);
    }
  }
  return { rows, skipped };
}
