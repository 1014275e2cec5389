// The Job controller (kube-controller-manager's job controller, NonIndexed completion mode): keeps
// up to `parallelism` pods running until `completions` have succeeded (or, without completions, until
// one has and none is left running), counts failures against backoffLimit, and writes the status
// kubectl reads: active/ready/succeeded/failed, startTime/completionTime and the
// SuccessCriteriaMet+Complete or FailureTarget+Failed conditions; spec.suspend stops its pods.

import { Controller, type SharedInformerFactory, objectKey, isNotFound, isConflict, type Client, type KObject } from '../runtime/index.ts';
import { JOBS, PODS, controllerRef, ownerRefTo, isPodReady, isTerminating, now, stableJson, setCondition, condition } from './common.ts';

export class JobController {
  readonly controller: Controller;
  private readonly jobs;
  private readonly pods;

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
  ) {
    this.jobs = factory.informerFor(JOBS);
    this.pods = factory.informerFor(PODS);
    this.controller = new Controller('job', (key) => this.sync(key), { workers: 2 });
    const enqueue = (o: KObject) => this.controller.enqueue(objectKey(o));
    this.jobs.addEventHandler({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o), onDelete: enqueue });
    const byPod = (p: KObject) => {
      const ref = controllerRef(p);
      if (ref?.kind === 'Job') this.controller.enqueue(`${p.metadata.namespace}/${ref.name}`);
    };
    this.pods.addEventHandler({ onAdd: byPod, onUpdate: (_, p) => byPod(p), onDelete: byPod });
  }

  run(): void {
    this.controller.run(2);
  }

  private finished(job: KObject): boolean {
    return ['Complete', 'Failed'].some((t) => condition(job, t)?.status === 'True');
  }

  private async sync(key: string): Promise<void> {
    const job = this.jobs.store.get(key);
    if (!job || job.metadata.deletionTimestamp || this.finished(job)) return;
    const pods = this.pods.store.byIndex('namespace', job.metadata.namespace).filter((p) => controllerRef(p)?.uid === job.metadata.uid);
    const active = pods.filter((p) => !isTerminating(p) && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
    const succeeded = pods.filter((p) => p.status?.phase === 'Succeeded').length;
    const failed = pods.filter((p) => p.status?.phase === 'Failed').length;
    const completions: number | undefined = job.spec?.completions ?? undefined;
    const parallelism: number = job.spec?.parallelism ?? 1;
    const backoffLimit: number = job.spec?.backoffLimit ?? 6;
    const status: KObject = structuredClone(job.status ?? {});
    status.startTime ??= now();

    const complete = completions !== undefined ? succeeded >= completions : succeeded > 0 && active.length === 0;
    const tooManyFailures = failed > backoffLimit;
    if (tooManyFailures) {
      await Promise.all(active.map((p) => this.deletePod(p)));
      setCondition(status, { type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
      setCondition(status, { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    } else if (complete) {
      setCondition(status, { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' });
      setCondition(status, { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' });
      status.completionTime = now();
    } else if (job.spec?.suspend) {
      // Suspended: no pods run; the condition says so (and JobResumed when it is lifted).
      await Promise.all(active.map((p) => this.deletePod(p)));
      if (condition(job, 'Suspended')?.status !== 'True')
        setCondition(status, { type: 'Suspended', status: 'True', reason: 'JobSuspended', message: 'Job suspended' });
    } else {
      if (condition(job, 'Suspended')?.status === 'True')
        setCondition(status, { type: 'Suspended', status: 'False', reason: 'JobResumed', message: 'Job resumed' });
      const want = Math.min(parallelism, completions !== undefined ? completions - succeeded : parallelism);
      const missing = want - active.length;
      if (missing > 0) await Promise.all(Array.from({ length: missing }, () => this.client.create(PODS, job.metadata.namespace, this.podFor(job))));
      else if (missing < 0) await Promise.all(active.slice(missing).map((p) => this.deletePod(p)));
    }
    for (const c of status.conditions ?? []) delete c.lastUpdateTime;
    const stopped = tooManyFailures || complete || job.spec?.suspend;
    Object.assign(status, {
      active: stopped ? 0 : active.length,
      ready: active.filter(isPodReady).length,
      succeeded,
      failed,
      terminating: pods.filter(isTerminating).length,
    });
    for (const k of ['active', 'succeeded', 'failed']) if (!status[k]) delete status[k];
    if (!status.conditions?.length) delete status.conditions;
    if (stableJson(status) === stableJson(job.status ?? {})) return;
    try {
      await this.client.updateStatus(JOBS, { ...job, status });
    } catch (e) {
      if (isConflict(e)) {
        this.controller.enqueue(key);
        return;
      }
      if (!isNotFound(e)) throw e;
    }
  }

  private deletePod(p: KObject): Promise<void> {
    return this.client.delete(PODS, p.metadata.namespace, p.metadata.name, { preconditions: { uid: p.metadata.uid } }).catch((e) => {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    });
  }

  private podFor(job: KObject): KObject {
    const t = structuredClone(job.spec?.template ?? {});
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${job.metadata.name}-`,
        labels: t.metadata?.labels ?? {},
        ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
        ownerReferences: [ownerRefTo(job, 'Job', 'batch/v1')],
      },
      spec: t.spec ?? {},
    };
  }
}
