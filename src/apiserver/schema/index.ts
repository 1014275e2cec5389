// Structural schemas at request time (pruning, defaulting, validation of custom resources and built-ins) and
// at CRD time (validateStructuralSchema), with apiextensions-apiserver 1.32's behaviour and error texts.

import type { FieldError } from '../errors.ts';
import type { JSONSchema, KObject } from '../resource.ts';
import { compile } from './compile.ts';
import { applyDefaults, pruneNulls } from './defaults.ts';
import { validateEmbedded, validateListTypes } from './extensions.ts';
import { invalid } from './field.ts';
import { pruneObject } from './prune.ts';
import { validateValue } from './validate.ts';

export { validateStructuralSchema } from './structural.ts';

export interface ObjectSchema {
  /** Removes fields the schema does not specify, in place; returns their paths ("spec.foo", "spec.items[0].bar"). */
  prune(obj: KObject): string[];
  /** Drops non-nullable nulls that have no default, then applies schema defaults, in place. */
  applyDefaults(obj: KObject): void;
  /** Schema, list-type and embedded-resource validation errors, in the order the apiserver reports them. */
  validate(obj: KObject): FieldError[];
}

/**
 * Compiles a resource's schema once. With opts.kind, an object of another kind fails validation with only
 * that error, like the custom resource validator's TypeMeta check.
 */
export function compileObjectSchema(schema: JSONSchema, opts: { kind?: string } = {}): ObjectSchema {
  const root = compile(schema);
  // The resource root is an embedded resource: apiVersion, kind and metadata survive pruning.
  const pruneRoot = { ...root, embedded: true };
  return {
    prune: (obj) => pruneObject(pruneRoot, obj),
    applyDefaults(obj) {
      pruneNulls(obj, root);
      applyDefaults(obj, root);
    },
    validate(obj) {
      if (opts.kind && typeof obj.kind === 'string' && obj.kind !== opts.kind) return [invalid('kind', obj.kind, `must be ${opts.kind}`)];
      return [...validateValue(root, obj), ...validateEmbedded(obj, root), ...validateListTypes(root, obj)];
    },
  };
}
