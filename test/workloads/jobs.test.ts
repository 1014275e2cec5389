// Jobs and CronJobs through the real kubectl on plain Nodes, with the kubelet stub finishing pods:
// completions/parallelism, backoffLimit, and a CronJob creating Jobs on an every-minute schedule.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorkloadServer, node, until, type WorkloadServer } from './helpers.ts';
import { NODES } from '../../src/controllers/workloads/common.ts';
import type { KObject } from '../../src/controllers/runtime/index.ts';
import { parseSchedule, nextAfter } from '../../src/controllers/workloads/cron.ts';

let t: WorkloadServer;
before(async () => {
  t = await startWorkloadServer();
  for (let i = 0; i < 3; i++) await t.client.create(NODES, undefined, node(`n${i}`));
  // Pods of jobs named "fail-*" fail, other job pods succeed; the rest keep running.
  t.kubelet.finish = (p) => {
    const job = p.metadata.labels?.['batch.kubernetes.io/job-name'];
    return job === undefined ? undefined : job.startsWith('fail') ? 'Failed' : 'Succeeded';
  };
});
after(async () => {
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));

test('a Job with completions=3 and parallelism=2 completes', async () => {
  await t.ok(
    ['apply', '-f', '-'],
    `
apiVersion: batch/v1
kind: Job
metadata: {name: batch3}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: w, image: busybox, command: [sh, -c, "true"]}]
`,
  );
  await t.ok(['wait', '--for=condition=complete', 'job/batch3', '--timeout=60s']);
  const job = await json(['get', 'job', 'batch3']);
  assert.equal(job.status.succeeded, 3);
  assert.equal(job.status.active, undefined);
  assert.ok(job.status.completionTime);
  assert.deepEqual(
    job.status.conditions.map((c: KObject) => c.type),
    ['SuccessCriteriaMet', 'Complete'],
  );
  const pods = (await json(['get', 'pods', '-l', 'batch.kubernetes.io/job-name=batch3'])).items;
  assert.equal(pods.length, 3);
  assert.match(await t.ok(['get', 'job', 'batch3']), /\nbatch3\s+Complete\s+3\/3\s+/);
});

test('a failing Job stops at backoffLimit', async () => {
  await t.ok(['create', 'job', 'fail-x', '--image=busybox']);
  const job = await until(
    'failed',
    async () => {
      const j = await json(['get', 'job', 'fail-x']);
      return j.status?.conditions?.some((c: KObject) => c.type === 'Failed' && c.status === 'True') && j;
    },
    60_000,
  );
  assert.equal(job.status.failed, 7); // backoffLimit 6: the seventh failure ends it
  const failed = job.status.conditions.find((c: KObject) => c.type === 'Failed');
  assert.equal(failed.reason, 'BackoffLimitExceeded');
  assert.equal(failed.message, 'Job has reached the specified backoff limit');
});

test('cron schedules: steps, ranges, names', () => {
  const at = new Date('2026-12-03T12:00:30Z');
  assert.equal(nextAfter(parseSchedule('*/15 * * * *'), at)?.toISOString(), '2026-12-03T12:15:00.000Z');
  assert.equal(nextAfter(parseSchedule('0 9-17/4 * * mon-fri'), at)?.toISOString(), '2026-12-03T13:00:00.000Z');
  assert.equal(nextAfter(parseSchedule('@daily'), at)?.toISOString(), '2026-12-04T00:00:00.000Z');
  assert.equal(nextAfter(parseSchedule('0 0 1 jan *'), at)?.toISOString(), '2027-01-01T00:00:00.000Z');
  assert.throws(() => parseSchedule('* * *'));
});

test('a CronJob creates Jobs on schedule', async () => {
  await t.ok(['create', 'cronjob', 'tick', '--image=busybox', '--schedule=* * * * *']);
  const job = await until(
    'a job from the cronjob',
    async () => (await json(['get', 'jobs'])).items.find((j: KObject) => j.metadata.ownerReferences?.[0]?.kind === 'CronJob'),
    75_000,
  );
  assert.match(job.metadata.name, /^tick-\d+$/);
  assert.equal(Number(job.metadata.name.slice(5)) * 60_000, Date.parse(job.metadata.annotations['batch.kubernetes.io/cronjob-scheduled-timestamp']));
  await t.ok(['wait', '--for=condition=complete', `job/${job.metadata.name}`, '--timeout=60s']);
  const cj = await until(
    'lastSuccessfulTime',
    async () => (await json(['get', 'cronjob', 'tick'])).status?.lastSuccessfulTime && json(['get', 'cronjob', 'tick']),
  );
  assert.ok(cj.status.lastScheduleTime);
  assert.match(await t.ok(['get', 'cronjob', 'tick']), /\ntick\s+\* \* \* \* \*\s+<none>\s+False\s+0\s+\d+s\s+/);
});

test('a suspended Job runs no pods until resumed', async () => {
  await t.ok(
    ['apply', '-f', '-'],
    `
apiVersion: batch/v1
kind: Job
metadata: {name: later}
spec:
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers: [{name: w, image: busybox}]
`,
  );
  const suspended = await until('Suspended', async () =>
    (await json(['get', 'job', 'later'])).status?.conditions?.find((c: KObject) => c.type === 'Suspended'),
  );
  assert.deepEqual([suspended.status, suspended.reason, suspended.message], ['True', 'JobSuspended', 'Job suspended']);
  assert.equal((await json(['get', 'pods', '-l', 'batch.kubernetes.io/job-name=later'])).items.length, 0);
  await t.ok(['patch', 'job', 'later', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
  await t.ok(['wait', '--for=condition=complete', 'job/later', '--timeout=60s']);
  const c = (await json(['get', 'job', 'later'])).status.conditions.find((x: KObject) => x.type === 'Suspended');
  assert.deepEqual([c.status, c.reason], ['False', 'JobResumed']);
});
