// The CronJob controller (kube-controller-manager's cronjob controller v2): creates a Job for each
// scheduled minute (named <cronjob>-<minutes since the epoch>, so a repeat is an AlreadyExists),
// honours suspend, startingDeadlineSeconds and concurrencyPolicy (Allow, Forbid, Replace), keeps
// status.active/lastScheduleTime/lastSuccessfulTime, trims finished Jobs to the history limits,
// and sleeps until the next scheduled time.

import { Controller, type SharedInformerFactory, objectKey, isNotFound, isConflict, isAlreadyExists, type Client, type KObject } from '../runtime/index.ts';
import { CRONJOBS, JOBS, EVENTS, controllerRef, ownerRefTo, condition, stableJson, eventFor } from './common.ts';
import { parseSchedule, nextAfter } from './cron.ts';

const finishedAs = (j: KObject): 'Complete' | 'Failed' | undefined =>
  condition(j, 'Complete')?.status === 'True' ? 'Complete' : condition(j, 'Failed')?.status === 'True' ? 'Failed' : undefined;
const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class CronJobController {
  readonly controller: Controller;
  private readonly cronjobs;
  private readonly jobs;

  constructor(
    private readonly client: Client,
    factory: SharedInformerFactory,
    private readonly clock: () => number = Date.now,
  ) {
    this.cronjobs = factory.informerFor(CRONJOBS);
    this.jobs = factory.informerFor(JOBS);
    this.controller = new Controller('cronjob', (key) => this.sync(key), { workers: 1 });
    const enqueue = (o: KObject) => this.controller.enqueue(objectKey(o));
    this.cronjobs.addEventHandler({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o), onDelete: enqueue });
    const byJob = (j: KObject) => {
      const ref = controllerRef(j);
      if (ref?.kind === 'CronJob') this.controller.enqueue(`${j.metadata.namespace}/${ref.name}`);
    };
    this.jobs.addEventHandler({ onAdd: byJob, onUpdate: (_, j) => byJob(j), onDelete: byJob });
  }

  run(): void {
    this.controller.run(1);
  }

  private async sync(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const cj = this.cronjobs.store.get(key);
    if (!cj || cj.metadata.deletionTimestamp) return;
    const ns = cj.metadata.namespace;
    const owned = this.jobs.store.byIndex('namespace', ns).filter((j) => controllerRef(j)?.uid === cj.metadata.uid);
    const status: KObject = structuredClone(cj.status ?? {});
    const running = owned.filter((j) => !finishedAs(j) && !j.metadata.deletionTimestamp);
    for (const j of owned) {
      if (finishedAs(j) === 'Complete') {
        const t = j.status?.completionTime;
        if (t && (!status.lastSuccessfulTime || Date.parse(t) > Date.parse(status.lastSuccessfulTime))) status.lastSuccessfulTime = t;
      }
    }
    let schedule;
    try {
      schedule = parseSchedule(cj.spec?.schedule ?? '');
    } catch (e) {
      await this.event(cj, 'Warning', 'UnparseableSchedule', `unparseable schedule: ${JSON.stringify(cj.spec?.schedule)} : ${(e as Error).message}`);
      return;
    }
    const nowMs = this.clock();
    const since = new Date(Date.parse(status.lastScheduleTime ?? cj.metadata.creationTimestamp));
    // The most recent missed time; older misses are dropped (kube only starts the latest one).
    let due: Date | undefined;
    for (let t = nextAfter(schedule, since), n = 0; t && t.getTime() <= nowMs && n < 100; t = nextAfter(schedule, t), n++) due = t;
    const deadline = cj.spec?.startingDeadlineSeconds;
    if (due && !cj.spec?.suspend && !(deadline !== undefined && due.getTime() + deadline * 1000 < nowMs)) {
      const policy = cj.spec?.concurrencyPolicy ?? 'Allow';
      if (policy === 'Forbid' && running.length) {
        // Skipped; tried again at the next schedule (kube requeues the same time).
      } else {
        if (policy === 'Replace') {
          for (const j of running) await this.client.delete(JOBS, ns, j.metadata.name, { propagationPolicy: 'Background' }).catch(ignore);
        }
        const job = this.jobFor(cj, due);
        try {
          const created = await this.client.create(JOBS, ns, job);
          running.push(created);
          await this.event(cj, 'Normal', 'SuccessfulCreate', `Created job ${job.metadata.name}`);
        } catch (e) {
          if (!isAlreadyExists(e)) throw e;
        }
        status.lastScheduleTime = rfc3339(due);
      }
    }
    status.active = running
      .filter((j) => !(policy(cj) === 'Replace' && j.metadata.deletionTimestamp))
      .map((j) => ({
        kind: 'Job',
        namespace: ns,
        name: j.metadata.name,
        uid: j.metadata.uid,
        apiVersion: 'batch/v1',
        resourceVersion: j.metadata.resourceVersion,
      }));
    if (!status.active.length) delete status.active;
    await this.trimHistory(cj, owned);
    if (stableJson(status) !== stableJson(cj.status ?? {})) {
      try {
        await this.client.updateStatus(CRONJOBS, { ...cj, status });
      } catch (e) {
        if (isConflict(e)) return { requeueAfterMs: 20 };
        if (!isNotFound(e)) throw e;
      }
    }
    const next = nextAfter(schedule, new Date(nowMs));
    return next ? { requeueAfterMs: Math.max(100, next.getTime() - nowMs + 100) } : undefined;
  }

  private async trimHistory(cj: KObject, owned: KObject[]): Promise<void> {
    const limits = { Complete: cj.spec?.successfulJobsHistoryLimit ?? 3, Failed: cj.spec?.failedJobsHistoryLimit ?? 1 };
    for (const kind of ['Complete', 'Failed'] as const) {
      const done = owned
        .filter((j) => finishedAs(j) === kind && !j.metadata.deletionTimestamp)
        .sort((a, b) => Date.parse(a.status?.startTime ?? a.metadata.creationTimestamp) - Date.parse(b.status?.startTime ?? b.metadata.creationTimestamp));
      for (const j of done.slice(0, Math.max(0, done.length - limits[kind])))
        await this.client.delete(JOBS, j.metadata.namespace, j.metadata.name, { propagationPolicy: 'Background' }).catch(ignore);
    }
  }

  private jobFor(cj: KObject, at: Date): KObject {
    const t = structuredClone(cj.spec?.jobTemplate ?? {});
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: `${cj.metadata.name}-${Math.floor(at.getTime() / 60_000)}`,
        labels: t.metadata?.labels ?? {},
        annotations: { ...(t.metadata?.annotations ?? {}), 'batch.kubernetes.io/cronjob-scheduled-timestamp': rfc3339(at) },
        ownerReferences: [ownerRefTo(cj, 'CronJob', 'batch/v1')],
      },
      spec: t.spec ?? {},
    };
  }

  private async event(cj: KObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    await this.client
      .create(EVENTS, cj.metadata.namespace, eventFor({ apiVersion: 'batch/v1', kind: 'CronJob', ...cj }, type, reason, message, 'cronjob-controller'))
      .catch(() => undefined);
  }
}

const policy = (cj: KObject): string => cj.spec?.concurrencyPolicy ?? 'Allow';

function ignore(e: unknown): void {
  if (!isNotFound(e) && !isConflict(e)) throw e;
}
