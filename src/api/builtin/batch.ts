// batch/v1: Job and CronJob (schemas after k8s.io/api batch/v1, defaults after SetDefaults_Job/CronJob,
// validation after pkg/apis/batch/validation, columns after kubectl's printers).

import type { FieldError } from '../../apiserver/errors.ts';
import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { humanDuration, since } from '../../apiserver/format.ts';
import { AGE_COLUMN, STANDARD_VERBS, child, deepEqual, isObject } from './common.ts';
import { LocalObjectReference } from './core-types.ts';
import { bool, condition, desc, int32, int64, kindSchema, labelSelector, list, obj, str, time } from './dsl.ts';
import {
  PodTemplateSpec,
  TemplateObjectMeta,
  containerImages,
  containerNames,
  defaultPodTemplate,
  formatLabelSelector,
  validateLabelSelector,
  validatePodTemplate,
  selectorMatches,
  goStringMap,
  goLabelSelector,
} from './pod-template.ts';
import { nonNegative, statusCounts, workloadStrategy } from './workload-common.ts';
import { immutable, invalid, notSupported, required } from './validation.ts';
import { GoText } from '../../apiserver/schema/field.ts';

const GROUP = 'batch';
const JOB_RESTART_POLICIES = ['OnFailure', 'Never'];
const MAX_INT32 = 2 ** 31 - 1;
/** Labels the Job strategy adds to a generated selector and the pod template. */
const CONTROLLER_UID = 'batch.kubernetes.io/controller-uid';
const JOB_NAME = 'batch.kubernetes.io/job-name';
const LEGACY_CONTROLLER_UID = 'controller-uid';
const LEGACY_JOB_NAME = 'job-name';
/** A CronJob's name is at most 52 characters: its Jobs append an 11-character suffix. */
const CRONJOB_NAME_MAX = 52;

// ---- schemas ------------------------------------------------------------------------------

const PodFailurePolicyRule = obj(
  'What to do with a failed pod matching the requirements.',
  {
    action: str('FailJob, FailIndex, Ignore or Count.'),
    onExitCodes: obj(
      'Container exit codes that match.',
      {
        containerName: str('Container whose exit code is checked; all containers when unset.'),
        operator: str('In or NotIn.'),
        values: list(int32(), 'Exit codes.', { type: 'set' }),
      },
      { required: ['operator', 'values'] },
    ),
    onPodConditions: list(
      obj('A pod condition that matches.', { type: str('Condition type.'), status: str('Condition status.') }, { required: ['type', 'status'] }),
      'Pod conditions that match.',
      { type: 'atomic' },
    ),
  },
  { required: ['action'] },
);

const JobSpec = obj(
  'Desired state of a job.',
  {
    parallelism: int32('Pods that may run at once; 1 by default.'),
    completions: int32('Successful pods needed for the job to complete; 1 by default when parallelism is unset.'),
    activeDeadlineSeconds: int64('Seconds the job may be active before it is failed.'),
    podFailurePolicy: obj(
      'How pod failures count towards backoffLimit.',
      { rules: list(PodFailurePolicyRule, 'Rules, evaluated in order.', { type: 'atomic' }) },
      { required: ['rules'] },
    ),
    successPolicy: obj(
      'When an Indexed job succeeds early.',
      {
        rules: list(obj('A success rule.', { succeededIndexes: str('Indexes that must succeed.'), succeededCount: int32('How many of them.') }), 'Rules.', {
          type: 'atomic',
        }),
      },
      { required: ['rules'] },
    ),
    backoffLimit: int32('Retries before the job is failed; 6 by default.'),
    backoffLimitPerIndex: int32('Retries per index of an Indexed job.'),
    maxFailedIndexes: int32('Failed indexes before the job is failed.'),
    selector: labelSelector('Label query over the pods of the job; generated unless manualSelector is true.'),
    manualSelector: bool('Whether the selector is given by the user instead of generated.'),
    template: desc(PodTemplateSpec, 'Template of the pods the job runs.'),
    ttlSecondsAfterFinished: int32('Seconds after completion when the job is deleted.'),
    completionMode: str('NonIndexed (the default) or Indexed.'),
    suspend: bool('Whether the job is suspended: no pods are created while it is.'),
    podReplacementPolicy: str('When replacement pods are created: TerminatingOrFailed (the default) or Failed.'),
    managedBy: str('Controller that manages the job; the built-in one when unset.'),
  },
  { required: ['template'] },
);

const JobStatus = obj('Observed state of a job.', {
  conditions: list(condition('A condition of the job (Complete, Failed, Suspended, ...).'), "Latest observations of the job's state.", {
    type: 'atomic',
    mergeKey: 'type',
    strategy: 'merge',
  }),
  startTime: time('When the job controller started the job.'),
  completionTime: time('When the job completed.'),
  active: int32('Pods pending or running.'),
  succeeded: int32('Pods that succeeded.'),
  failed: int32('Pods that failed.'),
  terminating: int32('Pods being terminated.'),
  completedIndexes: str('Completed indexes of an Indexed job, as ranges.'),
  failedIndexes: str('Failed indexes of an Indexed job, as ranges.'),
  uncountedTerminatedPods: obj('Finished pods not yet counted in the status.', {
    succeeded: list(str(), 'UIDs of succeeded pods.', { type: 'set' }),
    failed: list(str(), 'UIDs of failed pods.', { type: 'set' }),
  }),
  ready: int32('Pods with a Ready condition.'),
});

const JobTemplateSpec = obj('The jobs a cron job creates.', {
  metadata: TemplateObjectMeta,
  spec: desc(JobSpec, 'Desired state of the created jobs.'),
});

const CronJobSpec = obj(
  'Desired state of a cron job.',
  {
    schedule: str('Schedule in cron format, e.g. "*/5 * * * *".'),
    timeZone: str("Time zone of the schedule; the controller's local zone when unset."),
    startingDeadlineSeconds: int64('Seconds after a missed start during which the job may still start.'),
    concurrencyPolicy: str('Allow (the default), Forbid or Replace concurrent runs.'),
    suspend: bool('Whether later runs are suspended; false by default.'),
    jobTemplate: JobTemplateSpec,
    successfulJobsHistoryLimit: int32('Successful jobs kept; 3 by default.'),
    failedJobsHistoryLimit: int32('Failed jobs kept; 1 by default.'),
  },
  { required: ['schedule', 'jobTemplate'] },
);

const CronJobStatus = obj('Observed state of a cron job.', {
  active: list(LocalObjectReference, 'Jobs currently running.', { type: 'atomic' }),
  lastScheduleTime: time('When a job was last scheduled.'),
  lastSuccessfulTime: time('When a job last completed successfully.'),
});

// ---- printers -----------------------------------------------------------------------------

const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
const hasCondition = (job: KObject, type: string) => (job.status?.conditions ?? []).some((c: KObject) => c?.type === type && c.status === 'True');

function jobStatus(job: KObject): string {
  if (hasCondition(job, 'Complete')) return 'Complete';
  if (hasCondition(job, 'Failed')) return 'Failed';
  if (job.metadata?.deletionTimestamp) return 'Terminating';
  if (hasCondition(job, 'Suspended')) return 'Suspended';
  if (hasCondition(job, 'FailureTarget')) return 'FailureTarget';
  return 'Running';
}

function jobCompletions(job: KObject): string {
  const succeeded = n(job.status?.succeeded);
  if (typeof job.spec?.completions === 'number') return `${succeeded}/${job.spec.completions}`;
  const parallelism = n(job.spec?.parallelism);
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

function jobDuration(job: KObject): string {
  const start = Date.parse(job.status?.startTime ?? '');
  if (Number.isNaN(start)) return '';
  const end = Date.parse(job.status?.completionTime ?? '');
  return humanDuration((Number.isNaN(end) ? Date.now() : end) - start);
}

const boolPtr = (v: unknown) => (v === undefined || v === null ? '<unset>' : v ? 'True' : 'False');

// ---- defaults -----------------------------------------------------------------------------

function defaultJobSpec(spec: KObject): void {
  if (spec.completions === undefined && spec.parallelism === undefined) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= spec.backoffLimitPerIndex !== undefined ? MAX_INT32 : 6;
  spec.completionMode ||= 'NonIndexed';
  spec.suspend ??= false;
  if (spec.podFailurePolicy === undefined) spec.podReplacementPolicy ||= 'TerminatingOrFailed';
  else spec.podReplacementPolicy ||= 'Failed';
  defaultPodTemplate(spec.template);
}

function defaultCronJob(cj: KObject): void {
  const spec = child(cj, 'spec');
  spec.concurrencyPolicy ||= 'Allow';
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
  // SetDefaults_CronJob defaults the job template like a Job, except for the fields the Job strategy sets.
  const jobSpec = child(child(spec, 'jobTemplate'), 'spec');
  defaultPodTemplate(jobSpec.template);
}

/**
 * The Job strategy's generateSelector: unless manualSelector, the selector is the job's UID and the pod
 * template gets the labels that select it (both the batch.kubernetes.io/ and the legacy keys).
 */
function generateJobSelector(job: KObject): void {
  const spec = child(job, 'spec');
  if (spec.manualSelector === true) return;
  const uid = job.metadata?.uid;
  const labels = child(child(child(spec, 'template'), 'metadata'), 'labels');
  labels[CONTROLLER_UID] ??= uid;
  labels[LEGACY_CONTROLLER_UID] ??= uid;
  labels[JOB_NAME] ??= job.metadata?.name;
  labels[LEGACY_JOB_NAME] ??= job.metadata?.name;
  if (spec.selector === undefined) spec.selector = { matchLabels: { [CONTROLLER_UID]: uid } };
}

// ---- validation ---------------------------------------------------------------------------

/** ValidateJobSpec for the fields people set; `path` is where the spec sits (spec or spec.jobTemplate.spec). */
function validateJobSpec(spec: KObject, path: string, generated: boolean): FieldError[] {
  const errs: FieldError[] = [
    ...nonNegative(spec.parallelism, `${path}.parallelism`),
    ...nonNegative(spec.completions, `${path}.completions`),
    ...nonNegative(spec.backoffLimit, `${path}.backoffLimit`),
    ...nonNegative(spec.ttlSecondsAfterFinished, `${path}.ttlSecondsAfterFinished`),
  ];
  if (spec.activeDeadlineSeconds !== undefined && !(spec.activeDeadlineSeconds > 0)) {
    errs.push(invalid(`${path}.activeDeadlineSeconds`, spec.activeDeadlineSeconds, 'must be greater than 0'));
  }
  if (spec.completionMode !== undefined && !['NonIndexed', 'Indexed'].includes(spec.completionMode)) {
    errs.push(notSupported(`${path}.completionMode`, spec.completionMode, ['NonIndexed', 'Indexed']));
  }
  if (spec.completionMode === 'Indexed' && spec.completions === undefined) errs.push(required(`${path}.completions`, 'when completion mode is Indexed'));
  if (spec.podReplacementPolicy !== undefined && !['TerminatingOrFailed', 'Failed'].includes(spec.podReplacementPolicy)) {
    errs.push(notSupported(`${path}.podReplacementPolicy`, spec.podReplacementPolicy, ['Failed', 'TerminatingOrFailed']));
  }
  if (generated) {
    if (!isObject(spec.selector)) errs.push(required(`${path}.selector`));
    else {
      errs.push(...validateLabelSelector(spec.selector, `${path}.selector`));
      if (!selectorMatches(spec.selector, spec.template?.metadata?.labels ?? {})) {
        errs.push(invalid(`${path}.template.metadata.labels`, goStringMap(spec.template?.metadata?.labels), '`selector` does not match template `labels`'));
      }
    }
  } else if (spec.selector !== undefined && spec.manualSelector !== true) {
    // A CronJob's jobs get generated selectors, so its job template may not carry one.
    errs.push(invalid(`${path}.selector`, goLabelSelector(spec.selector), '`selector` will be auto-generated'));
  } else if (spec.selector !== undefined) {
    errs.push(...validateLabelSelector(spec.selector, `${path}.selector`));
  }
  errs.push(...validatePodTemplate(spec.template, `${path}.template`, JOB_RESTART_POLICIES));
  return errs;
}

function validateJob(job: KObject, old?: KObject): FieldError[] {
  const spec = isObject(job.spec) ? job.spec : {};
  const errs = validateJobSpec(spec, 'spec', true);
  // A selector the user wrote without manualSelector is refused: the generated one guarantees uniqueness.
  const uid = job.metadata?.uid;
  if (spec.manualSelector !== true && isObject(spec.selector) && spec.selector.matchLabels?.[CONTROLLER_UID] !== uid) {
    errs.push(invalid('spec.selector', goLabelSelector(spec.selector), '`selector` not auto-generated'));
  }
  if (old) {
    if (!deepEqual(spec.selector, old.spec?.selector)) errs.push(immutable('spec.selector', goLabelSelector(spec.selector)));
    if (spec.completions !== old.spec?.completions && spec.completionMode !== 'Indexed') errs.push(immutable('spec.completions', spec.completions ?? null));
    // The template may change only while the job is suspended (mutable scheduling directives).
    if (!deepEqual(spec.template, old.spec?.template) && !(old.spec?.suspend === true))
      errs.push(immutable('spec.template', new GoText('core.PodTemplateSpec{...}')));
    if (spec.completionMode !== old.spec?.completionMode) errs.push(immutable('spec.completionMode', spec.completionMode ?? null));
  }
  return errs;
}

/** The standard 5-field cron syntax (robfig/cron ParseStandard), with the @ descriptors. */
function cronScheduleError(schedule: string): string | undefined {
  if (schedule.startsWith('@')) {
    if (['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'].includes(schedule) || /^@every \S+$/.test(schedule)) return undefined;
    return `unrecognized descriptor: ${schedule}`;
  }
  const fields = schedule.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) return `expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`;
  const ranges: Array<[number, number, Record<string, number>?]> = [
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12, { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 }],
    [0, 6, { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 }],
  ];
  for (let i = 0; i < 5; i++) {
    const [lo, hi, names] = ranges[i];
    for (const part of fields[i].split(',')) {
      const [range, step] = part.split('/');
      if (step !== undefined && !/^\d+$/.test(step)) return `failed to parse int from ${step}: strconv.Atoi: parsing ${JSON.stringify(step)}: invalid syntax`;
      if (range === '*' || range === '?') continue;
      for (const bound of range.split('-')) {
        const v = /^\d+$/.test(bound) ? Number(bound) : names?.[bound.toLowerCase()];
        if (v === undefined) return `failed to parse int from ${bound}: strconv.Atoi: parsing ${JSON.stringify(bound)}: invalid syntax`;
        if (v < lo) return `beginning of range (${v}) below minimum (${lo}): ${part}`;
        if (v > hi) return `end of range (${v}) above maximum (${hi}): ${part}`;
      }
    }
  }
  return undefined;
}

function validateCronJob(cj: KObject): FieldError[] {
  const spec = isObject(cj.spec) ? cj.spec : {};
  const errs: FieldError[] = [];
  const name = String(cj.metadata?.name ?? '');
  if (name.length > CRONJOB_NAME_MAX) errs.push(invalid('metadata.name', name, `must be no more than ${CRONJOB_NAME_MAX} characters`));
  const schedule = spec.schedule;
  if (!schedule) errs.push(required('spec.schedule'));
  else if (/^\s*(CRON_)?TZ=/.test(schedule)) errs.push(invalid('spec.schedule', schedule, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead'));
  else {
    const e = cronScheduleError(schedule);
    if (e) errs.push(invalid('spec.schedule', schedule, e));
  }
  if (spec.timeZone !== undefined) {
    const valid = (() => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: spec.timeZone });
        return spec.timeZone !== '' && !spec.timeZone.includes(' ');
      } catch {
        return false;
      }
    })();
    if (!valid) errs.push(invalid('spec.timeZone', spec.timeZone, 'unknown time zone ' + spec.timeZone));
  }
  if (spec.concurrencyPolicy !== undefined && !['Allow', 'Forbid', 'Replace'].includes(spec.concurrencyPolicy)) {
    errs.push(notSupported('spec.concurrencyPolicy', spec.concurrencyPolicy, ['Allow', 'Forbid', 'Replace']));
  }
  errs.push(...nonNegative(spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds'));
  errs.push(...nonNegative(spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit'));
  errs.push(...nonNegative(spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit'));
  const jobSpec = spec.jobTemplate?.spec;
  if (!isObject(jobSpec)) errs.push(required('spec.jobTemplate.spec'));
  else errs.push(...validateJobSpec(jobSpec, 'spec.jobTemplate.spec', false));
  return errs;
}

// ---- definitions --------------------------------------------------------------------------

const base = {
  group: GROUP,
  version: 'v1',
  namespaced: true,
  verbs: STANDARD_VERBS,
  unknownFields: 'prune',
  strategicMergePatch: true,
  deleteReturnsObject: false,
  generation: true,
} as const;

const WIDE = (template: (o: KObject) => KObject | undefined, selector: (o: KObject) => unknown) =>
  [
    {
      name: 'Containers',
      type: 'string',
      priority: 1,
      description: 'Names of each container in the template.',
      cell: (o: KObject) => containerNames(template(o)),
    },
    {
      name: 'Images',
      type: 'string',
      priority: 1,
      description: 'Images referenced by each container in the template.',
      cell: (o: KObject) => containerImages(template(o)),
    },
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      description: 'Label query over the pods of the job.',
      cell: (o: KObject) => formatLabelSelector(selector(o)),
    },
  ] as const;

export const jobs: ResourceDefinition = {
  ...base,
  resource: 'jobs',
  categories: ['all'],
  singular: 'job',
  kind: 'Job',
  listKind: 'JobList',
  schema: kindSchema('Runs pods until a number of them complete successfully.', {
    spec: desc(JobSpec, 'Desired state of the job.'),
    status: desc(JobStatus, 'Most recently observed state of the job.'),
  }),
  subresources: { status: true },
  columns: [
    { name: 'Status', type: 'string', description: 'Status of the job.', cell: jobStatus },
    { name: 'Completions', type: 'string', description: 'Succeeded pods out of the completions needed.', cell: jobCompletions },
    { name: 'Duration', type: 'string', description: 'Time required to complete the job.', cell: jobDuration },
    AGE_COLUMN,
    ...WIDE(
      (o) => o.spec?.template,
      (o) => o.spec?.selector,
    ),
  ],
  fieldSelectors: { 'status.successful': (o) => String(n(o.status?.succeeded)) },
  strategy: workloadStrategy({
    prepareForCreate: generateJobSelector,
    defaults: (j) => defaultJobSpec(child(j, 'spec')),
    validate: validateJob,
    validateStatus: statusCounts(['active', 'succeeded', 'failed', 'ready', 'terminating']),
  }),
};

export const cronjobs: ResourceDefinition = {
  ...base,
  resource: 'cronjobs',
  categories: ['all'],
  singular: 'cronjob',
  kind: 'CronJob',
  listKind: 'CronJobList',
  shortNames: ['cj'],
  schema: kindSchema('Creates Jobs on a repeating schedule.', {
    spec: desc(CronJobSpec, 'Desired state of the cron job.'),
    status: desc(CronJobStatus, 'Most recently observed state of the cron job.'),
  }),
  subresources: { status: true },
  columns: [
    { name: 'Schedule', type: 'string', description: 'The schedule in cron format.', cell: (o) => o.spec?.schedule ?? '' },
    { name: 'Timezone', type: 'string', description: 'Time zone of the schedule.', cell: (o) => o.spec?.timeZone ?? '<none>' },
    { name: 'Suspend', type: 'boolean', description: 'Whether later runs are suspended.', cell: (o) => boolPtr(o.spec?.suspend) },
    { name: 'Active', type: 'integer', description: 'Jobs currently running.', cell: (o) => (Array.isArray(o.status?.active) ? o.status.active.length : 0) },
    {
      name: 'Last Schedule',
      type: 'string',
      description: 'When a job was last scheduled.',
      cell: (o) => (o.status?.lastScheduleTime ? since(o.status.lastScheduleTime) : '<none>'),
    },
    AGE_COLUMN,
    ...WIDE(
      (o) => o.spec?.jobTemplate?.spec?.template,
      (o) => o.spec?.jobTemplate?.spec?.selector,
    ),
  ],
  strategy: workloadStrategy({ defaults: defaultCronJob, validate: validateCronJob }),
};

/** In the real server's discovery order (alphabetical), which is also `kubectl get all`'s. */
export const batchResources: ResourceDefinition[] = [cronjobs, jobs];
