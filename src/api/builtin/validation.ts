// Field errors and string checks for the built-in strategies: the generic ones come from the apiserver's
// apimachinery port (re-exported under short names); the few only built-ins need are added here.

import type { FieldError } from '../../apiserver/errors.ts';
import { fieldInvalid, goQuote } from '../../apiserver/validation.ts';

export {
  fieldDuplicate as duplicate,
  fieldForbidden as forbidden,
  fieldInvalid as invalid,
  fieldNotSupported as notSupported,
  fieldRequired as required,
  fieldTooLong as tooLong,
  isDNS1123Label as dns1123Label,
  isDNS1123Subdomain as dns1123Subdomain,
  isQualifiedName as qualifiedName,
  isValidLabelValue as labelValue,
} from '../../apiserver/validation.ts';

export const notFound = (field: string, value: string): FieldError => ({ type: 'FieldValueNotFound', field, detail: `Not found: ${goQuote(value)}` });
export const immutable = (field: string, value: unknown): FieldError => fieldInvalid(field, value, 'field is immutable');

/** A map key inside a field path: data[key]. */
export const key = (path: string, k: string) => `${path}[${k}]`;

/** IsConfigMapKey: keys of ConfigMap and Secret data. */
export function configMapKey(v: string): string[] {
  const errs: string[] = [];
  if (Buffer.byteLength(v) > 253) errs.push('must be no more than 253 characters');
  if (!/^[-._a-zA-Z0-9]+$/.test(v)) {
    errs.push(
      "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    );
  }
  if (v === '.') errs.push("must not be '.'");
  else if (v === '..') errs.push("must not be '..'");
  else if (v.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

/** Environment variable names (RelaxedEnvironmentVariableValidation, on by default in 1.32). */
export function envVarName(v: string): string[] {
  return /^[ -<>-~]+$/.test(v) ? [] : ["a valid environment variable name must consist only of printable ASCII characters other than '='"];
}
