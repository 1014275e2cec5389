// Pieces shared by the built-in resource definitions.

import type { KObject, TableColumn } from '../../apiserver/resource.ts';
import { since } from '../../apiserver/format.ts';

/** The verbs discovery lists for an ordinary built-in resource, in the real server's order. */
export const STANDARD_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** The AGE column of the built-in printers: a string cell with the elapsed time since creation. */
export const AGE_COLUMN: TableColumn = {
  name: 'Age',
  type: 'string',
  description: 'Time since the object was created.',
  cell: (o) => since(o.metadata?.creationTimestamp),
};

/** Number of keys of an optional map. */
export const countKeys = (m: unknown) => (m && typeof m === 'object' ? Object.keys(m).length : 0);

/** Ensures obj[key] is an object and returns it. */
export function child(obj: KObject, key: string): KObject {
  if (!obj[key] || typeof obj[key] !== 'object' || Array.isArray(obj[key])) obj[key] = {};
  return obj[key];
}

export const isObject = (v: unknown): v is KObject => !!v && typeof v === 'object' && !Array.isArray(v);

/** Structural equality of JSON values, key order aside. */
export { deepEqual } from '../../common/json.ts';
