// Test harness for the workload controllers: a real kubeve server with the controllers and the
// scheduler on its in-process client, plain Nodes, and a "kubelet stub" that plays the node agent
// for pods bound to them (Running + Ready at once, or Succeeded; finishes graceful deletions).
// Test only: nothing runs anywhere.

import { startTestServer, type TestServer } from '../helpers/server.ts';
import { InProcessClient, SharedInformerFactory, type Client, type KObject } from '../../src/controllers/runtime/index.ts';
import { WorkloadControllers } from '../../src/controllers/workloads/index.ts';
import type { SchedulerOptions } from '../../src/controllers/scheduler/scheduler.ts';
import type { NodeLifecycleOptions } from '../../src/controllers/workloads/nodelifecycle.ts';
import { PODS, NODES } from '../../src/controllers/workloads/common.ts';

export interface WorkloadServer extends TestServer {
  client: Client;
  workloads: WorkloadControllers;
  kubelet: KubeletStub;
}

/** Plain test Nodes have no kubelet renewing their Lease: node lifecycle is off unless a test asks for it. */
export async function startWorkloadServer(scheduler: SchedulerOptions = {}, nodeLifecycle: NodeLifecycleOptions | false = false): Promise<WorkloadServer> {
  const t = await startTestServer();
  const client = new InProcessClient(t.server.service, t.server.registry);
  const workloads = new WorkloadControllers(client, {
    scheduler: { unschedulableRetryMs: 2000, initialBackoffMs: 100, maxBackoffMs: 1000, ...scheduler },
    podGC: { quarantineMs: 500, periodMs: 250 },
    nodeLifecycle,
  });
  await workloads.start();
  const kubelet = new KubeletStub(client);
  await kubelet.start();
  return {
    ...t,
    client,
    workloads,
    kubelet,
    async close() {
      kubelet.stop();
      await workloads.stop();
      await t.close();
    },
  };
}

export function node(name: string, labels: Record<string, string> = {}, extra: KObject = {}): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    spec: extra.spec ?? {},
    status: {
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

/** Marks pods bound to a node Running and Ready (or finished, as `finish(pod)` says); deletes terminating pods at once. */
export class KubeletStub {
  private readonly factory: SharedInformerFactory;
  /** The phase a pod ends in at once ('Succeeded' or 'Failed'), or undefined to keep it running. */
  finish: (pod: KObject) => 'Succeeded' | 'Failed' | undefined = () => undefined;
  /** While set, newly bound pods are left not ready (a slow start); release() lets them start. */
  holdReady = false;
  private readonly pods;
  constructor(private readonly client: Client) {
    this.factory = new SharedInformerFactory(client);
    const pods = (this.pods = this.factory.informerFor(PODS));
    this.factory.informerFor(NODES);
    const handle = (p: KObject) => void this.handle(p).catch(() => undefined);
    pods.addEventHandler({ onAdd: handle, onUpdate: (_, p) => handle(p) });
  }
  async start(): Promise<void> {
    this.factory.start();
    await this.factory.waitForCacheSync();
  }
  stop(): void {
    this.factory.stop();
  }
  release(): void {
    this.holdReady = false;
    for (const p of this.pods.store.list()) void this.handle(p).catch(() => undefined);
  }
  private async handle(p: KObject): Promise<void> {
    const { namespace, name } = p.metadata;
    if (!p.spec?.nodeName) return;
    if (p.metadata.deletionTimestamp) {
      await this.client.delete(PODS, namespace, name, { gracePeriodSeconds: 0 });
      return;
    }
    const phase = p.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const t = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const end = this.finish(p);
    if (end) {
      await this.client.patch(
        PODS,
        namespace,
        name,
        'merge',
        { status: { phase: end, conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: t, reason: 'PodCompleted' }] } },
        { subresource: 'status' },
      );
      return;
    }
    if (phase === 'Running' || this.holdReady) return;
    await this.client.patch(
      PODS,
      namespace,
      name,
      'merge',
      {
        status: {
          phase: 'Running',
          hostIP: '10.0.0.1',
          podIP: '10.1.0.1',
          startTime: t,
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
            { type: 'Initialized', status: 'True', lastTransitionTime: t },
            { type: 'ContainersReady', status: 'True', lastTransitionTime: t },
            { type: 'Ready', status: 'True', lastTransitionTime: t },
          ],
          containerStatuses: (p.spec.containers ?? []).map((c: KObject) => ({
            name: c.name,
            image: c.image,
            imageID: '',
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: t } },
          })),
        },
      },
      { subresource: 'status' },
    );
  }
}

export async function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
