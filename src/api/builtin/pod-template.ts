// What the workload kinds (apps, batch) share: the pod template (schema, defaults, validation, shared with the
// Pod), label selectors as workloads use them, and the printer cells built from both.

import type { KObject, JSONSchema } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { goQuote, validateAnnotations, validateLabels } from '../../apiserver/validation.ts';
import { GoText } from '../../apiserver/schema/field.ts';
import { child, isObject } from './common.ts';
import { PodSpec } from './core-types.ts';
import { desc, int64, list, obj, str, strMap, time } from './dsl.ts';
import { applyPodSpecDefaults, validatePodSpec } from './pod-strategy.ts';
import { invalid, notSupported, qualifiedName, labelValue, required, forbidden } from './validation.ts';

/** The metadata of an embedded object (pod template, job template): what a controller copies to what it creates. */
export const TemplateObjectMeta: JSONSchema = obj('Metadata of the objects created from this template.', {
  name: str('Name of the created object; usually left empty for the controller to choose.'),
  generateName: str('Name prefix for created objects.'),
  namespace: str("Namespace; the owner's namespace when empty."),
  labels: strMap('Labels of the created objects; must match the selector of the owner.'),
  annotations: strMap('Annotations of the created objects.'),
  finalizers: { ...list(str(), 'Finalizers of the created objects.', { type: 'set' }), 'x-kubernetes-patch-strategy': 'merge' },
  // The rest of ObjectMeta is accepted (a template copied from a live object carries it) and ignored by controllers.
  uid: str('Ignored in a template.'),
  resourceVersion: str('Ignored in a template.'),
  generation: int64('Ignored in a template.'),
  selfLink: str('Ignored in a template.'),
  creationTimestamp: time('Ignored in a template.'),
  deletionTimestamp: time('Ignored in a template.'),
  deletionGracePeriodSeconds: int64('Ignored in a template.'),
  ownerReferences: list({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, 'Ignored in a template.', { type: 'atomic' }),
  managedFields: list({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, 'Ignored in a template.', { type: 'atomic' }),
});

/** core/v1 PodTemplateSpec: the same PodSpec schema the Pod kind serves (so the same strategic-merge keys). */
export const PodTemplateSpec: JSONSchema = obj('The pods this workload creates.', {
  metadata: TemplateObjectMeta,
  spec: desc(PodSpec, 'Desired state of the created pods.'),
});

const arr = (v: unknown): KObject[] => (Array.isArray(v) ? v : []);

/** SetDefaults_PodTemplateSpec: the PodSpec defaults (not the Pod-only or admission ones). */
export function defaultPodTemplate(template: unknown): void {
  if (!isObject(template)) return;
  applyPodSpecDefaults(child(template, 'spec'));
}

/**
 * ValidatePodTemplateSpec for a workload: labels, annotations, the pod spec (at `path`.spec) and, when
 * the workload restricts it, the restart policy.
 */
export function validatePodTemplate(template: unknown, path: string, restartPolicies?: string[]): FieldError[] {
  if (!isObject(template)) return [required(path)];
  const errs: FieldError[] = [
    ...validateLabels(template.metadata?.labels, `${path}.metadata.labels`),
    ...validateAnnotations(template.metadata?.annotations, `${path}.metadata.annotations`),
    ...validatePodSpec(isObject(template.spec) ? template.spec : {}, `${path}.spec`),
  ];
  // The restart policy is defaulted to Always before validation, so it is always set here.
  const rp = template.spec?.restartPolicy;
  if (restartPolicies && !restartPolicies.includes(rp)) errs.push(notSupported(`${path}.spec.restartPolicy`, rp, restartPolicies));
  return errs;
}

// ---- label selectors ----------------------------------------------------------------------

/** ValidateLabelSelector (metav1 validation): keys, values and operators. */
export function validateLabelSelector(sel: unknown, path: string): FieldError[] {
  if (!isObject(sel)) return [];
  const errs: FieldError[] = [];
  errs.push(...validateLabels(sel.matchLabels, `${path}.matchLabels`));
  arr(sel.matchExpressions).forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    const values = arr(e?.values);
    if (e?.operator === 'In' || e?.operator === 'NotIn') {
      if (!values.length) errs.push(required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if (e?.operator === 'Exists' || e?.operator === 'DoesNotExist') {
      if (values.length) errs.push(forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
    } else {
      errs.push(invalid(`${p}.operator`, e?.operator ?? '', 'not a valid selector operator'));
    }
    for (const m of qualifiedName(String(e?.key ?? ''))) errs.push(invalid(`${p}.key`, e?.key ?? '', m));
    values.forEach((v, j) => {
      for (const m of labelValue(String(v))) errs.push(invalid(`${p}.values[${j}]`, v, m));
    });
  });
  return errs;
}

/** Whether a selector picks these labels (a missing or empty selector matches nothing here: it is invalid for workloads). */
export function selectorMatches(sel: unknown, labels: Record<string, string> = {}): boolean {
  if (!isObject(sel)) return false;
  const ml = isObject(sel.matchLabels) ? sel.matchLabels : {};
  const exprs = arr(sel.matchExpressions);
  if (!Object.keys(ml).length && !exprs.length) return false;
  if (!Object.entries(ml).every(([k, v]) => labels[k] === v)) return false;
  return exprs.every((e) => {
    const has = Object.hasOwn(labels, e?.key);
    const values: unknown[] = arr(e?.values);
    switch (e?.operator) {
      case 'In':
        return has && values.includes(labels[e.key]);
      case 'NotIn':
        return !has || !values.includes(labels[e.key]);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
}

/** %#v of a map[string]string, as the real server prints one in an "Invalid value". */
export function goStringMap(m: unknown): GoText {
  if (!isObject(m)) return new GoText('map[string]string(nil)');
  return new GoText(
    `map[string]string{${Object.keys(m)
      .sort()
      .map((k) => `${goQuote(k)}:${goQuote(String(m[k]))}`)
      .join(', ')}}`,
  );
}

/** %#v of a metav1.LabelSelector (the value the real server prints for an invalid or changed selector). */
export function goLabelSelector(sel: unknown): GoText {
  if (!isObject(sel)) return new GoText('(*v1.LabelSelector)(nil)');
  const ml =
    isObject(sel.matchLabels) && Object.keys(sel.matchLabels).length
      ? `map[string]string{${Object.keys(sel.matchLabels)
          .sort()
          .map((k) => `${goQuote(k)}:${goQuote(String(sel.matchLabels[k]))}`)
          .join(', ')}}`
      : 'map[string]string(nil)';
  const exprs =
    Array.isArray(sel.matchExpressions) && sel.matchExpressions.length
      ? `[]v1.LabelSelectorRequirement{${sel.matchExpressions
          .map((e: KObject) => {
            const values = Array.isArray(e?.values) ? `[]string{${e.values.map((v: unknown) => goQuote(String(v))).join(', ')}}` : '[]string(nil)';
            return `v1.LabelSelectorRequirement{Key:${goQuote(String(e?.key ?? ''))}, Operator:${goQuote(String(e?.operator ?? ''))}, Values:${values}}`;
          })
          .join(', ')}}`
      : '[]v1.LabelSelectorRequirement(nil)';
  return new GoText(`v1.LabelSelector{MatchLabels:${ml}, MatchExpressions:${exprs}}`);
}

/**
 * The selector checks of ValidateDeploymentSpec, ValidateReplicaSetSpec and ValidateStatefulSetSpec: required,
 * well formed, not empty (`kind` names the workload in the text) and, when not empty, matching the template labels.
 */
export function validateWorkloadSelector(spec: KObject, kind: string): FieldError[] {
  const sel = spec.selector;
  if (!isObject(sel)) return [required('spec.selector')];
  const errs = validateLabelSelector(sel, 'spec.selector');
  const empty = !Object.keys(isObject(sel.matchLabels) ? sel.matchLabels : {}).length && !arr(sel.matchExpressions).length;
  if (empty) errs.push(invalid('spec.selector', goLabelSelector(sel), `empty selector is invalid for ${kind}`));
  else if (!errs.length && !selectorMatches(sel, spec.template?.metadata?.labels ?? {})) {
    errs.push(invalid('spec.template.metadata.labels', goStringMap(spec.template?.metadata?.labels), '`selector` does not match template `labels`'));
  }
  return errs;
}

// ---- printer cells ------------------------------------------------------------------------

/** labels.FormatLabels: sorted k=v pairs, <none> when empty. */
export function formatLabels(m: unknown): string {
  if (!isObject(m) || !Object.keys(m).length) return '<none>';
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(',');
}

/** metav1.FormatLabelSelector: the selector in label-selector syntax, requirements sorted by key, <none> when empty. */
export function formatLabelSelector(sel: unknown): string {
  if (!isObject(sel)) return '<none>';
  const reqs: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(isObject(sel.matchLabels) ? sel.matchLabels : {})) reqs.push([k, `${k}=${v}`]);
  for (const e of arr(sel.matchExpressions)) {
    const values = [...arr(e?.values)].map(String).sort().join(',');
    const text = { In: `${e?.key} in (${values})`, NotIn: `${e?.key} notin (${values})`, Exists: `${e?.key}`, DoesNotExist: `!${e?.key}` }[String(e?.operator)];
    if (text === undefined) return '<error>';
    reqs.push([String(e.key), text]);
  }
  reqs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return reqs.map(([, t]) => t).join(',') || '<none>';
}

/** The CONTAINERS and IMAGES cells of a pod template (layoutContainerCells). */
export const containerNames = (template: KObject | undefined): string =>
  arr(template?.spec?.containers)
    .map((c) => c?.name ?? '')
    .join(',');
export const containerImages = (template: KObject | undefined): string =>
  arr(template?.spec?.containers)
    .map((c) => c?.image ?? '')
    .join(',');
