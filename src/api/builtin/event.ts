// Events: core/v1 Event and events.k8s.io/v1 Event. The real server keeps both in one store and converts
// between them; here each is its own resource, and printing/validation work on the core shape (`coreView`),
// exactly as the real printer and validation see the internal type.

import type { KObject, ResourceDefinition, TableColumn } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { STANDARD_VERBS, deepEqual, isObject } from './common.ts';
import { EventSource, ObjectReference } from './core-types.ts';
import { desc, int32, kindSchema, obj, str, time } from './dsl.ts';
import { since } from '../../apiserver/format.ts';
import { dns1123Subdomain, immutable, invalid, qualifiedName, required } from './validation.ts';

const EventSeries = obj(
  'Data on a series of events observed repeatedly.',
  {
    count: int32('Number of occurrences in the series so far.'),
    lastObservedTime: time('When the last occurrence was observed.'),
  },
  { required: ['count', 'lastObservedTime'] },
);

/** An events.k8s.io/v1 Event seen through the fields of core/v1 Event (the internal type of both). */
function coreView(e: KObject): KObject {
  return {
    metadata: e.metadata,
    involvedObject: e.regarding,
    related: e.related,
    reason: e.reason,
    message: e.note,
    source: e.deprecatedSource,
    firstTimestamp: e.deprecatedFirstTimestamp,
    lastTimestamp: e.deprecatedLastTimestamp,
    count: e.deprecatedCount,
    type: e.type,
    eventTime: e.eventTime,
    series: e.series,
    action: e.action,
    reportingComponent: e.reportingController,
    reportingInstance: e.reportingInstance,
  };
}

/** The printer's First Seen: firstTimestamp, or eventTime for events of the new API. */
const firstSeen = (e: KObject) => since(e.firstTimestamp || e.eventTime);

function lastSeen(e: KObject): string {
  if (isObject(e.series)) return since(e.series.lastObservedTime);
  return e.lastTimestamp ? since(e.lastTimestamp) : firstSeen(e);
}

function eventCount(e: KObject): number {
  if (isObject(e.series)) return e.series.count ?? 0;
  return e.count || 1; // singleton events of the new API carry no count
}

function eventObject(e: KObject): string {
  const kind = String(e.involvedObject?.kind ?? '').toLowerCase();
  return e.involvedObject?.name ? `${kind}/${e.involvedObject.name}` : kind;
}

/** Source: component (or reporting controller) and host (or reporting instance), comma separated. */
function eventSource(e: KObject): string {
  const component = e.source?.component || e.reportingComponent || '';
  const host = e.source?.host || e.reportingInstance || '';
  return host ? `${component}, ${host}` : component;
}

/** The columns of the events printer (LAST SEEN TYPE REASON OBJECT MESSAGE; the rest with -o wide). */
function eventColumns(view: (o: KObject) => KObject): TableColumn[] {
  const col = (name: string, description: string, cell: (e: KObject) => unknown, priority = 0, format?: string): TableColumn => ({
    name,
    type: 'string',
    description,
    priority,
    ...(format ? { format } : {}),
    cell: (o) => cell(view(o)),
  });
  return [
    col('Last Seen', 'Time since the event was last observed.', lastSeen),
    col('Type', 'Normal or Warning.', (e) => e.type ?? ''),
    col('Reason', 'Short reason for the event.', (e) => e.reason ?? ''),
    col('Object', 'The object the event is about.', eventObject),
    col('Subobject', 'The part of the object the event is about.', (e) => e.involvedObject?.fieldPath ?? '', 1),
    col('Source', 'The component that reported the event.', eventSource, 1),
    col('Message', 'Description of the event.', (e) => String(e.message ?? '').trim()),
    col('First Seen', 'Time since the event was first observed.', firstSeen, 1),
    col('Count', 'Number of occurrences.', eventCount, 1),
    // The events printer shows the name last (wide only) instead of first.
    col('Name', 'Name of the event.', (e) => e.metadata?.name ?? '', 1, 'name'),
  ];
}

const REASON_LIMIT = 128;
const ACTION_LIMIT = 128;
const REPORTING_INSTANCE_LIMIT = 128;
const NOTE_LIMIT = 1024;

/**
 * ValidateEventCreate / ValidateEventUpdate on the core view. `strict` is the events.k8s.io/v1 behaviour; core/v1
 * keeps the lenient legacy rules for compatibility with old clients.
 */
function validateEvent(e: KObject, old: KObject | undefined, strict: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const ns = e.metadata?.namespace ?? '';
  const involvedNs = e.involvedObject?.namespace ?? '';
  const reportingField = strict ? 'reportingController' : 'reportingComponent';
  if (!e.eventTime) {
    // Old-style events: the event namespace must agree with the object's.
    if (involvedNs ? ns !== involvedNs : ns !== '' && ns !== 'default')
      errs.push(invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
  } else {
    if (!involvedNs && ns !== 'default' && ns !== 'kube-system') errs.push(invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    const rc = e.reportingComponent ?? '';
    if (!rc) errs.push(required(reportingField));
    for (const m of qualifiedName(rc)) errs.push(invalid(reportingField, rc, m));
    const ri = e.reportingInstance ?? '';
    if (!ri) errs.push(required('reportingInstance'));
    if (ri.length > REPORTING_INSTANCE_LIMIT) errs.push(invalid('reportingInstance', '', `can have at most ${REPORTING_INSTANCE_LIMIT} characters`));
    if (!e.action) errs.push(required('action'));
    if ((e.action ?? '').length > ACTION_LIMIT) errs.push(invalid('action', '', `can have at most ${ACTION_LIMIT} characters`));
    if (!e.reason) errs.push(required('reason'));
    if ((e.reason ?? '').length > REASON_LIMIT) errs.push(invalid('reason', '', `can have at most ${REASON_LIMIT} characters`));
    if ((e.message ?? '').length > NOTE_LIMIT) errs.push(invalid('message', '', `can have at most ${NOTE_LIMIT} characters`));
  }
  for (const m of dns1123Subdomain(ns)) errs.push(invalid('namespace', ns, m));
  if (!strict) return errs;

  if (isObject(e.series)) {
    if ((e.series.count ?? 0) < 2) errs.push(invalid('series.count', '', 'should be at least 2'));
    if (!e.series.lastObservedTime) errs.push(required('series.lastObservedTime'));
  }
  if (!e.eventTime) errs.push(required('eventTime'));
  if (e.type !== 'Normal' && e.type !== 'Warning') errs.push(invalid('type', '', `has invalid value: ${e.type ?? ''}`));
  if (e.firstTimestamp) errs.push(invalid('firstTimestamp', '', 'needs to be unset'));
  if (e.lastTimestamp) errs.push(invalid('lastTimestamp', '', 'needs to be unset'));
  if (e.count) errs.push(invalid('count', '', 'needs to be unset'));
  if (e.source?.component || e.source?.host) errs.push(invalid('source', '', 'needs to be unset'));
  if (old) {
    for (const f of [
      'involvedObject',
      'reason',
      'message',
      'source',
      'firstTimestamp',
      'lastTimestamp',
      'count',
      'type',
      'eventTime',
      'action',
      'related',
      'reportingComponent',
      'reportingInstance',
    ]) {
      if (!deepEqual(e[f] ?? null, old[f] ?? null)) errs.push(immutable(f === 'reportingComponent' ? 'reportingController' : f, e[f] ?? ''));
    }
  }
  return errs;
}

/** Fields the real server always serializes (non-omitempty structs and strings), so reads look the same. */
function fillSerializedZeroes(e: KObject, zeroes: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(zeroes)) if (e[k] === undefined) e[k] = structuredClone(v);
}

const CORE_ZEROES = {
  involvedObject: {},
  source: {},
  firstTimestamp: null,
  lastTimestamp: null,
  eventTime: null,
  reportingComponent: '',
  reportingInstance: '',
};
const EVENTS_V1_ZEROES = { regarding: {}, deprecatedSource: {}, deprecatedFirstTimestamp: null, deprecatedLastTimestamp: null };

/** Field selectors on every field of an ObjectReference held at `field`. */
function referenceSelectors(field: string): Record<string, (o: KObject) => string> {
  const out: Record<string, (o: KObject) => string> = {};
  for (const f of ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath']) {
    out[`${field}.${f}`] = (o) => o[field]?.[f] ?? '';
  }
  return out;
}

/** How long an Event is kept after its last write: kube-apiserver's --event-ttl default. */
export const EVENT_TTL_MS = 60 * 60_000;

export const events: ResourceDefinition = {
  group: '',
  version: 'v1',
  resource: 'events',
  singular: 'event',
  kind: 'Event',
  listKind: 'EventList',
  namespaced: true,
  shortNames: ['ev'],
  verbs: STANDARD_VERBS,
  schema: kindSchema(
    'A report of something that happened to an object. Events are kept for a limited time (one hour by default).',
    {
      involvedObject: desc(ObjectReference, 'The object the event is about.'),
      reason: str('Short, machine-understandable reason for the transition, e.g. Scheduled.'),
      message: str('Human-readable description.'),
      source: desc(EventSource, 'The component that reported the event.'),
      firstTimestamp: time('When the event was first recorded.'),
      lastTimestamp: time('When the most recent occurrence was recorded.'),
      count: int32('Number of occurrences.'),
      type: str('Normal or Warning; more types may be added.'),
      eventTime: time('When the event was first observed (events of the new API).'),
      series: desc(EventSeries, 'Data about a series of repeated events; absent for a singleton.'),
      action: str('What was done, or failed, about the object.'),
      related: desc(ObjectReference, 'A second object involved in the action.'),
      reportingComponent: str('Controller that emitted the event, e.g. kubernetes.io/kubelet.'),
      reportingInstance: str('Instance of the reporting controller, e.g. kubelet-xyzf.'),
    },
    { required: ['involvedObject'] },
  ),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: eventColumns((o) => o),
  fieldSelectors: {
    ...referenceSelectors('involvedObject'),
    reason: (o) => o.reason ?? '',
    reportingComponent: (o) => o.reportingComponent ?? '',
    source: (o) => o.source?.component || o.reportingComponent || '',
    type: (o) => o.type ?? '',
  },
  deleteReturnsObject: false,
  ttlMs: EVENT_TTL_MS,
  strategy: {
    prepareForCreate: (e) => fillSerializedZeroes(e, CORE_ZEROES),
    prepareForUpdate: (e) => fillSerializedZeroes(e, CORE_ZEROES),
    validate: (e, old) => validateEvent(e, old, false),
  },
};

export const eventsV1: ResourceDefinition = {
  group: 'events.k8s.io',
  version: 'v1',
  resource: 'events',
  singular: 'event',
  kind: 'Event',
  listKind: 'EventList',
  namespaced: true,
  shortNames: ['ev'],
  verbs: STANDARD_VERBS,
  schema: kindSchema(
    'A report of something that happened to an object, in the structured form of the events API.',
    {
      eventTime: time('When the event was first observed. Required.'),
      series: desc(EventSeries, 'Data about a series of repeated events; absent for a singleton.'),
      reportingController: str('Controller that emitted the event, e.g. kubernetes.io/kubelet. Required for new events.'),
      reportingInstance: str('Instance of the reporting controller. Required for new events, at most 128 characters.'),
      action: str('What was done, or failed, about the regarding object. Required for new events.'),
      reason: str('Short, machine-understandable reason for the action. Required for new events.'),
      regarding: desc(ObjectReference, 'The object this event is about.'),
      related: desc(ObjectReference, 'A second object involved in the action.'),
      note: str('Human-readable description, at most 1 kB.'),
      type: str('Normal or Warning.'),
      deprecatedSource: desc(EventSource, 'Deprecated: the core/v1 source field.'),
      deprecatedFirstTimestamp: time('Deprecated: the core/v1 firstTimestamp field.'),
      deprecatedLastTimestamp: time('Deprecated: the core/v1 lastTimestamp field.'),
      deprecatedCount: int32('Deprecated: the core/v1 count field.'),
    },
    { required: ['eventTime'] },
  ),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: eventColumns(coreView),
  fieldSelectors: {
    ...referenceSelectors('regarding'),
    reason: (o) => o.reason ?? '',
    reportingController: (o) => o.reportingController ?? '',
    type: (o) => o.type ?? '',
  },
  deleteReturnsObject: false,
  ttlMs: EVENT_TTL_MS,
  strategy: {
    prepareForCreate: (e) => fillSerializedZeroes(e, EVENTS_V1_ZEROES),
    prepareForUpdate: (e) => fillSerializedZeroes(e, EVENTS_V1_ZEROES),
    validate: (e, old) => validateEvent(coreView(e), old && coreView(old), true),
  },
};
