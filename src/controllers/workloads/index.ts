// The workload controllers and the scheduler, started together for the embedded server (DESIGN §10).
// They speak only the runtime's Client, so the same set runs against any API server.

import { SharedInformerFactory, type Client } from '../runtime/index.ts';
import { Scheduler, type SchedulerOptions } from '../scheduler/scheduler.ts';
import { ReplicaSetController } from './replicaset.ts';
import { DeploymentController } from './deployment.ts';
import { DisruptionController } from './disruption.ts';
import { DaemonSetController } from './daemonset.ts';
import { JobController } from './job.ts';
import { CronJobController } from './cronjob.ts';
import { StatefulSetController } from './statefulset.ts';
import { PodGarbageCollector, type PodGCOptions } from './podgc.ts';
import { NodeLifecycleController, type NodeLifecycleOptions } from './nodelifecycle.ts';

export interface WorkloadControllerOptions {
  scheduler?: SchedulerOptions | false;
  podGC?: PodGCOptions;
  /** Node lifecycle for non-EVE nodes (false: off, e.g. where plain test Nodes have no kubelet). */
  nodeLifecycle?: NodeLifecycleOptions | false;
}

export class WorkloadControllers {
  readonly factory: SharedInformerFactory;
  readonly scheduler?: Scheduler;
  readonly replicasets: ReplicaSetController;
  readonly deployments: DeploymentController;
  readonly disruption: DisruptionController;
  readonly daemonsets: DaemonSetController;
  readonly jobs: JobController;
  readonly cronjobs: CronJobController;
  readonly podGC: PodGarbageCollector;
  readonly statefulsets: StatefulSetController;
  readonly nodeLifecycle?: NodeLifecycleController;

  constructor(client: Client, opts: WorkloadControllerOptions = {}) {
    this.factory = new SharedInformerFactory(client);
    if (opts.scheduler !== false) this.scheduler = new Scheduler(client, this.factory, opts.scheduler);
    this.replicasets = new ReplicaSetController(client, this.factory);
    this.deployments = new DeploymentController(client, this.factory);
    this.disruption = new DisruptionController(client, this.factory);
    this.daemonsets = new DaemonSetController(client, this.factory);
    this.jobs = new JobController(client, this.factory);
    this.cronjobs = new CronJobController(client, this.factory);
    this.podGC = new PodGarbageCollector(client, this.factory, opts.podGC);
    this.statefulsets = new StatefulSetController(client, this.factory);
    if (opts.nodeLifecycle !== false) this.nodeLifecycle = new NodeLifecycleController(client, this.factory, opts.nodeLifecycle);
  }

  async start(): Promise<void> {
    this.factory.start();
    await this.factory.waitForCacheSync();
    this.scheduler?.run();
    this.replicasets.run();
    this.deployments.run();
    this.disruption.run();
    this.daemonsets.run();
    this.jobs.run();
    this.cronjobs.run();
    this.podGC.run();
    this.statefulsets.run();
    this.nodeLifecycle?.run();
  }

  async stop(): Promise<void> {
    this.scheduler?.stop();
    this.podGC.stop();
    this.nodeLifecycle?.stop();
    this.factory.stop();
    await Promise.all([
      this.replicasets.controller.stop(),
      this.deployments.controller.stop(),
      this.disruption.controller.stop(),
      this.daemonsets.controller.stop(),
      this.jobs.controller.stop(),
      this.cronjobs.controller.stop(),
      this.statefulsets.controller.stop(),
    ]);
  }
}
