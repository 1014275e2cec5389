// Pieces the workload groups (apps, batch, policy) share: int-or-percent values, the Go rendering of a label
// selector in error texts, the scale subresource of replicated kinds and a strategy for status-bearing kinds.

import type { FieldError } from '../../apiserver/errors.ts';
import type { KObject, ScaleSubresource, Strategy } from '../../apiserver/resource.ts';
import { regexError } from '../../apiserver/validation.ts';
import { GoText } from '../../apiserver/schema/field.ts';
import { formatLabelSelector } from './pod-template.ts';
import { invalid } from './validation.ts';

const PERCENT = /^[0-9]+%$/;
const PERCENT_MESSAGE = regexError("a valid percent string must be a numeric string followed by an ending '%'", '[0-9]+%', '1%', '93%');

/** An IntOrString's value as a number of units or a percentage (undefined when unset or malformed). */
export function intOrPercent(v: unknown): { n: number; percent: boolean } | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return { n: v, percent: false };
  if (typeof v === 'string' && PERCENT.test(v)) return { n: Number(v.slice(0, -1)), percent: true };
  return undefined;
}

/** ValidatePositiveIntOrPercent + IsNotMoreThan100Percent (apps validation). */
export function validateIntOrPercent(v: unknown, path: string): FieldError[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string' && !PERCENT.test(v)) return [invalid(path, v, PERCENT_MESSAGE)];
  if (typeof v === 'number' && v < 0) return [invalid(path, v, 'must be greater than or equal to 0')];
  const p = intOrPercent(v);
  if (p?.percent && p.n > 100) return [invalid(path, v, 'must not be greater than 100%')];
  return [];
}

/** The `must be greater than or equal to 0` check of ValidateNonnegativeField, for optional integers. */
export function nonNegative(v: unknown, path: string): FieldError[] {
  if (v === undefined || v === null) return [];
  return typeof v === 'number' && v >= 0 ? [] : [invalid(path, v, 'must be greater than or equal to 0')];
}

/** An IntOrString as the value part of an error text (its String(): no quotes). */
export const goIntOrString = (v: unknown) => new GoText(String(v));

/** The scale subresource of the replicated kinds: spec.replicas, status.replicas and the selector as a string. */
export const REPLICAS_SCALE: ScaleSubresource = {
  specReplicasPath: '.spec.replicas',
  statusReplicasPath: '.status.replicas',
  selector: (o) => formatLabelSelectorForScale(o.spec?.selector),
};

function formatLabelSelectorForScale(sel: unknown): string | undefined {
  const s = formatLabelSelector(sel);
  return s === '<none>' || s === '<error>' ? undefined : s;
}

/**
 * The strategy shape of every status-bearing workload kind: defaults on create and update, an empty (or
 * initial) status on create, the stored status kept on update, and the kind's validation.
 */
export function workloadStrategy(o: {
  defaults(obj: KObject): void;
  initialStatus?: (obj: KObject) => KObject;
  validate(obj: KObject, old?: KObject): FieldError[];
  validateStatus?: (obj: KObject, old: KObject) => FieldError[];
  prepareForCreate?: (obj: KObject) => void;
}): Strategy {
  return {
    prepareForCreate(obj) {
      o.prepareForCreate?.(obj);
      o.defaults(obj);
      obj.status = o.initialStatus ? o.initialStatus(obj) : {};
    },
    prepareForUpdate(obj, old) {
      o.defaults(obj);
      if (old.status === undefined) delete obj.status;
      else obj.status = old.status;
    },
    validate: o.validate,
    validateStatus: o.validateStatus,
  };
}

/**
 * Validation of the counts a controller writes into a status: each non-negative, some not above another
 * (e.g. readyReplicas ≤ replicas), and collisionCount never decremented.
 */
export function statusCounts(nonNegativeFields: string[], notAbove: Array<[field: string, limit: string, message: string]> = []) {
  return (obj: KObject, old: KObject): FieldError[] => {
    const st = obj.status ?? {};
    const errs = nonNegativeFields.flatMap((f) => nonNegative(st[f], `status.${f}`));
    for (const [f, limit, message] of notAbove) if ((st[f] ?? 0) > (st[limit] ?? 0)) errs.push(invalid(`status.${f}`, st[f], message));
    const oldCollisions = old.status?.collisionCount;
    if (typeof oldCollisions === 'number' && (st.collisionCount ?? 0) < oldCollisions)
      errs.push(invalid('status.collisionCount', st.collisionCount ?? 0, 'cannot be decremented'));
    return errs;
  };
}
