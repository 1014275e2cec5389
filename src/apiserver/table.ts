// meta.k8s.io/v1 Table conversion (server-side printing for kubectl get).

import { badRequest } from './errors.ts';
import type { KObject, ResourceDefinition, TableColumn } from './resource.ts';
import { evalPath } from './jsonpath.ts';
import { humanDuration } from './format.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function parseIncludeObject(v: string | null): IncludeObject {
  if (!v) return 'Metadata';
  if (v === 'None' || v === 'Metadata' || v === 'Object') return v;
  throw badRequest(`unrecognized includeObject value: "${v}"`);
}

const NAME_COLUMN = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description:
    'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  priority: 0,
};

const CREATED_AT: TableColumn = {
  name: 'Created At',
  type: 'date',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  cell: (o) => o.metadata?.creationTimestamp,
};

function columnsOf(def: ResourceDefinition): TableColumn[] {
  return def.columns.length ? def.columns : [CREATED_AT];
}

/** A printer that places its own name column (Events: last, wide only) gets no leading NAME. */
function hasOwnName(def: ResourceDefinition): boolean {
  return def.columns.some((c) => c.format === 'name');
}

export function columnDefinitions(def: ResourceDefinition): KObject[] {
  return [
    ...(hasOwnName(def) ? [] : [NAME_COLUMN]),
    ...columnsOf(def).map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? (c.jsonPath ? `Custom resource definition column (in JSONPath format): ${c.jsonPath}` : ''),
      priority: c.priority ?? 0,
    })),
  ];
}

function cellOf(col: TableColumn, obj: KObject, now: number): unknown {
  if (col.cell) return col.cell(obj);
  const vals = evalPath(obj, col.jsonPath!);
  if (!vals.length) return null;
  const v = vals.length === 1 ? vals[0] : vals;
  if (col.type === 'date') {
    const t = typeof v === 'string' ? Date.parse(v) : NaN;
    return Number.isNaN(t) ? '<invalid>' : humanDuration(now - t);
  }
  if (col.type === 'integer' || col.type === 'number') return typeof v === 'number' ? v : Number.isNaN(Number(v)) ? null : Number(v);
  if (col.type === 'boolean') return typeof v === 'boolean' ? v : v === 'true';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(',');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function row(def: ResourceDefinition, obj: KObject, include: IncludeObject, now = Date.now()): KObject {
  const cells = [...(hasOwnName(def) ? [] : [obj.metadata?.name ?? '']), ...columnsOf(def).map((c) => cellOf(c, obj, now))];
  const r: KObject = { cells };
  if (include === 'Object') r.object = obj;
  else if (include === 'Metadata') r.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
  return r;
}

export function toTable(def: ResourceDefinition, objs: KObject[], include: IncludeObject, listMeta: KObject, headers = true): KObject {
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: headers ? columnDefinitions(def) : [],
    rows: objs.map((o) => row(def, o, include, now)),
  };
}
