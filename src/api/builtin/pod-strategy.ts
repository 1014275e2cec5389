// Pod defaulting, validation and update rules (pkg/apis/core/v1/defaults.go, pkg/apis/core/validation and
// pkg/registry/core/pod/strategy.go in kubernetes/kubernetes), reduced to the fields people actually use.

import type { KObject, Strategy } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { child, deepEqual, isObject } from './common.ts';
import { TAINT_EFFECTS } from './node.ts';
import { admitPodPriority } from './scheduling.ts';
import { admitPodRuntimeClass } from './nodek8s.ts';
import { compareQuantity, formatQuantity, parseQuantity } from './quantity.ts';
import { canonicalizeResourceList, extendedResourceErrors, isExtendedResource, podQOSClass, resourceListErrors } from './resources.ts';
import {
  dns1123Label,
  dns1123Subdomain,
  duplicate,
  envVarName,
  forbidden,
  invalid,
  key,
  labelValue,
  notFound,
  notSupported,
  qualifiedName,
  required,
} from './validation.ts';

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];
const TOLERATION_OPERATORS = ['Equal', 'Exists'];
const MAX_INT32 = 2 ** 31 - 1;
/** Volume sources; a volume sets exactly one. */
const VOLUME_SOURCES = [
  'hostPath',
  'emptyDir',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'secret',
  'nfs',
  'iscsi',
  'glusterfs',
  'persistentVolumeClaim',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'downwardAPI',
  'fc',
  'azureFile',
  'configMap',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'projected',
  'portworxVolume',
  'scaleIO',
  'storageos',
  'csi',
  'ephemeral',
  'image',
];
/** Mode bits of projected files when a volume does not say (0644). */
const DEFAULT_MODE = 0o644;

const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

const arr = (v: unknown): KObject[] => (Array.isArray(v) ? v : []);

/** The tag a container runtime would pull: the image's tag, "latest" when it has neither tag nor digest. */
function imageTag(image: string): string {
  const [name, digest] = image.split('@', 2);
  const last = name.slice(name.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  if (colon >= 0) return last.slice(colon + 1);
  return digest ? '' : 'latest';
}

function defaultHTTPGet(handler: unknown): void {
  if (isObject(handler) && isObject(handler.httpGet)) {
    handler.httpGet.path ||= '/';
    handler.httpGet.scheme ||= 'HTTP';
  }
}

function defaultFieldRef(ref: unknown): void {
  if (isObject(ref)) ref.apiVersion ||= 'v1';
}

function defaultContainer(c: KObject, hostNetwork: boolean, defaultRequests: boolean): void {
  if (!c.imagePullPolicy) c.imagePullPolicy = imageTag(String(c.image ?? '')) === 'latest' ? 'Always' : 'IfNotPresent';
  c.terminationMessagePath ||= '/dev/termination-log';
  c.terminationMessagePolicy ||= 'File';
  for (const p of arr(c.ports)) {
    p.protocol ||= 'TCP';
    if (hostNetwork && !p.hostPort) p.hostPort = p.containerPort;
  }
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
    if (!isObject(probe)) continue;
    probe.timeoutSeconds ||= 1;
    probe.periodSeconds ||= 10;
    probe.successThreshold ||= 1;
    probe.failureThreshold ||= 3;
    defaultHTTPGet(probe);
  }
  defaultHTTPGet(c.lifecycle?.postStart);
  defaultHTTPGet(c.lifecycle?.preStop);
  for (const e of arr(c.env)) defaultFieldRef(e?.valueFrom?.fieldRef);
  if (isObject(c.resources)) {
    // Requests default to limits (SetDefaults_Pod), then both are stored in canonical form.
    if (defaultRequests && isObject(c.resources.limits)) c.resources.requests = { ...c.resources.limits, ...(c.resources.requests ?? {}) };
    canonicalizeResourceList(c.resources, 'limits');
    canonicalizeResourceList(c.resources, 'requests');
  }
}

function defaultVolume(v: KObject): void {
  if (!VOLUME_SOURCES.some((s) => v[s] !== undefined)) v.emptyDir = {};
  for (const s of ['secret', 'configMap', 'downwardAPI', 'projected']) if (isObject(v[s])) v[s].defaultMode ??= DEFAULT_MODE;
  if (isObject(v.hostPath)) v.hostPath.type ??= '';
  if (isObject(v.emptyDir) && v.emptyDir.sizeLimit !== undefined) {
    const q = parseQuantity(v.emptyDir.sizeLimit);
    if (q) v.emptyDir.sizeLimit = formatQuantity(q, false);
  }
  for (const item of arr(v.downwardAPI?.items)) defaultFieldRef(item?.fieldRef);
  for (const src of arr(v.projected?.sources)) {
    if (isObject(src?.serviceAccountToken)) src.serviceAccountToken.expirationSeconds ??= 3600;
    for (const item of arr(src?.downwardAPI?.items)) defaultFieldRef(item?.fieldRef);
  }
}

/**
 * SetDefaults_PodSpec and the container/volume defaults: what every pod spec gets, including the pod
 * templates of workloads. `pod` adds SetDefaults_Pod's share (requests from limits, service links).
 */
export function applyPodSpecDefaults(spec: KObject, pod = false): void {
  spec.dnsPolicy ||= 'ClusterFirst';
  spec.restartPolicy ||= 'Always';
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ||= 'default-scheduler';
  if (pod) spec.enableServiceLinks ??= true;
  for (const c of arr(spec.containers)) defaultContainer(c, spec.hostNetwork === true, pod);
  for (const c of arr(spec.initContainers)) defaultContainer(c, spec.hostNetwork === true, pod);
  for (const c of arr(spec.ephemeralContainers)) defaultContainer(c, false, false);
  for (const v of arr(spec.volumes)) defaultVolume(v);
  canonicalizeResourceList(spec, 'overhead');
}

/** SetDefaults_Pod and friends, plus the defaults a stock cluster's admission plugins add to every pod. */
function applyPodDefaults(pod: KObject): void {
  const spec = child(pod, 'spec');
  applyPodSpecDefaults(spec, true);
  // ServiceAccount admission: pods run as "default"; the deprecated alias mirrors the name.
  spec.serviceAccountName ||= spec.serviceAccount || 'default';
  spec.serviceAccount = spec.serviceAccountName;
  // spec.priority and spec.preemptionPolicy come from Priority admission (admitPodPriority), which reads the classes.
}

/** The status the server gives a new pod: Pending with its QoS class, and SchedulingGated while gated. */
function initialPodStatus(pod: KObject): KObject {
  const status: KObject = { phase: 'Pending', qosClass: podQOSClass(pod.spec ?? {}) };
  if (arr(pod.spec?.schedulingGates).length) {
    status.conditions = [
      {
        type: 'PodScheduled',
        status: 'False',
        lastProbeTime: null,
        lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        reason: 'SchedulingGated',
        message: 'Scheduling is blocked due to non-empty scheduling gates',
      },
    ];
  }
  return status;
}

function validateResources(res: unknown, path: string, errs: FieldError[]): void {
  if (!isObject(res)) return;
  errs.push(...resourceListErrors(res.limits, `${path}.limits`), ...resourceListErrors(res.requests, `${path}.requests`));
  errs.push(...extendedResourceErrors(res, path));
  for (const [name, v] of Object.entries(isObject(res.requests) ? res.requests : {})) {
    if (isExtendedResource(name)) continue;
    const req = parseQuantity(v);
    const lim = isObject(res.limits) ? parseQuantity(res.limits[name]) : undefined;
    if (req && lim && compareQuantity(req, lim) > 0)
      errs.push(invalid(key(`${path}.requests`, name), v, `must be less than or equal to ${name} limit of ${res.limits![name]}`));
  }
}

function validateContainer(c: KObject, path: string, volumes: Set<string>, names: Set<string>, hostNetwork: boolean, errs: FieldError[]): void {
  const name = c?.name;
  if (!name) errs.push(required(`${path}.name`));
  else {
    for (const m of dns1123Label(name)) errs.push(invalid(`${path}.name`, name, m));
    if (names.has(name)) errs.push(duplicate(`${path}.name`, name));
    names.add(name);
  }
  if (!c?.image) errs.push(required(`${path}.image`));
  else if (String(c.image).trim() !== c.image) errs.push(invalid(`${path}.image`, c.image, 'must not have leading or trailing whitespace'));
  if (c?.imagePullPolicy && !PULL_POLICIES.includes(c.imagePullPolicy)) errs.push(notSupported(`${path}.imagePullPolicy`, c.imagePullPolicy, PULL_POLICIES));
  if (c?.terminationMessagePolicy && !TERMINATION_MESSAGE_POLICIES.includes(c.terminationMessagePolicy)) {
    errs.push(notSupported(`${path}.terminationMessagePolicy`, c.terminationMessagePolicy, TERMINATION_MESSAGE_POLICIES));
  }
  const portNames = new Set<string>();
  arr(c?.ports).forEach((p, i) => {
    const pp = `${path}.ports[${i}]`;
    const cp = p?.containerPort;
    if (cp === undefined) errs.push(required(`${pp}.containerPort`));
    else if (!Number.isInteger(cp) || cp < 1 || cp > 65535) errs.push(invalid(`${pp}.containerPort`, cp, 'must be between 1 and 65535, inclusive'));
    if (p?.hostPort && (!Number.isInteger(p.hostPort) || p.hostPort < 1 || p.hostPort > 65535))
      errs.push(invalid(`${pp}.hostPort`, p.hostPort, 'must be between 1 and 65535, inclusive'));
    if (hostNetwork && p?.hostPort && p.hostPort !== cp)
      errs.push(invalid(`${pp}.hostPort`, p.hostPort, 'must match `containerPort` when `hostNetwork` is true'));
    if (p?.protocol && !PROTOCOLS.includes(p.protocol)) errs.push(notSupported(`${pp}.protocol`, p.protocol, PROTOCOLS));
    if (p?.name) {
      if (portNames.has(p.name)) errs.push(duplicate(`${pp}.name`, p.name));
      portNames.add(p.name);
    }
  });
  arr(c?.env).forEach((e, i) => {
    const ep = `${path}.env[${i}]`;
    if (!e?.name) errs.push(required(`${ep}.name`));
    else for (const m of envVarName(e.name)) errs.push(invalid(`${ep}.name`, e.name, m));
    if (isObject(e?.valueFrom)) {
      const sources = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter((s) => e.valueFrom[s] !== undefined);
      if (sources.length > 1) errs.push(invalid(`${ep}.valueFrom`, '', 'may not have more than one field specified at a time'));
      if (!sources.length)
        errs.push(invalid(`${ep}.valueFrom`, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
      if (e.value) errs.push(invalid(`${ep}.valueFrom`, '', 'may not be specified when `value` is not empty'));
    }
  });
  const mountPaths = new Set<string>();
  arr(c?.volumeMounts).forEach((m, i) => {
    const mp = `${path}.volumeMounts[${i}]`;
    if (!m?.name) errs.push(required(`${mp}.name`));
    else if (!volumes.has(m.name)) errs.push(notFound(`${mp}.name`, m.name));
    if (!m?.mountPath) errs.push(required(`${mp}.mountPath`));
    else {
      if (mountPaths.has(m.mountPath)) errs.push(invalid(`${mp}.mountPath`, m.mountPath, 'must be unique'));
      mountPaths.add(m.mountPath);
    }
  });
  validateResources(c?.resources, `${path}.resources`, errs);
}

function validateTolerations(tolerations: unknown, base: string, errs: FieldError[]): void {
  arr(tolerations).forEach((t, i) => {
    const p = `${base}.tolerations[${i}]`;
    const op = t?.operator ?? '';
    if (t?.key) for (const m of qualifiedName(t.key)) errs.push(invalid(`${p}.key`, t.key, m));
    if (!t?.key && op !== 'Exists')
      errs.push(invalid(`${p}.operator`, op, 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    if (t?.tolerationSeconds !== undefined && t.effect !== 'NoExecute')
      errs.push(invalid(`${p}.effect`, t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    if (op === 'Exists') {
      if (t.value) errs.push(invalid(`${p}.operator`, t, "value must be empty when `operator` is 'Exists'"));
    } else if (op === 'Equal' || op === '') {
      const errors = labelValue(String(t?.value ?? ''));
      if (errors.length) errs.push(invalid(`${p}.operator`, t.value, errors.join(';')));
    } else {
      errs.push(notSupported(`${p}.operator`, op, TOLERATION_OPERATORS));
    }
    if (t?.effect && !TAINT_EFFECTS.includes(t.effect)) errs.push(notSupported(`${p}.effect`, t.effect, TAINT_EFFECTS));
  });
}

/** ValidatePodSpec, for the fields this server understands; `base` is the spec's field path. */
export function validatePodSpec(spec: KObject, base = 'spec'): FieldError[] {
  const errs: FieldError[] = [];
  const volumes = new Set<string>();
  arr(spec.volumes).forEach((v, i) => {
    const p = `${base}.volumes[${i}]`;
    if (!v?.name) errs.push(required(`${p}.name`));
    else {
      for (const m of dns1123Label(v.name)) errs.push(invalid(`${p}.name`, v.name, m));
      if (volumes.has(v.name)) errs.push(duplicate(`${p}.name`, v.name));
      volumes.add(v.name);
    }
    const sources = VOLUME_SOURCES.filter((s) => v?.[s] !== undefined);
    if (sources.length > 1) errs.push(forbidden(`${p}.${sources[1]}`, 'may not specify more than 1 volume type'));
  });
  const names = new Set<string>();
  const hostNetwork = spec.hostNetwork === true;
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) errs.push(required(`${base}.containers`));
  arr(spec.initContainers).forEach((c, i) => {
    validateContainer(c, `${base}.initContainers[${i}]`, volumes, names, hostNetwork, errs);
    if (c?.restartPolicy !== undefined && c.restartPolicy !== 'Always')
      errs.push(notSupported(`${base}.initContainers[${i}].restartPolicy`, c.restartPolicy, ['Always']));
  });
  arr(spec.containers).forEach((c, i) => {
    validateContainer(c, `${base}.containers[${i}]`, volumes, names, hostNetwork, errs);
    if (c?.restartPolicy !== undefined) errs.push(forbidden(`${base}.containers[${i}].restartPolicy`, 'may not be set for non-init containers'));
  });
  if (spec.restartPolicy !== undefined && !RESTART_POLICIES.includes(spec.restartPolicy))
    errs.push(notSupported(`${base}.restartPolicy`, spec.restartPolicy, RESTART_POLICIES));
  if (spec.dnsPolicy !== undefined && !DNS_POLICIES.includes(spec.dnsPolicy)) errs.push(notSupported(`${base}.dnsPolicy`, spec.dnsPolicy, DNS_POLICIES));
  const ads = spec.activeDeadlineSeconds;
  if (ads !== undefined && (!Number.isInteger(ads) || ads < 1 || ads > MAX_INT32))
    errs.push(invalid(`${base}.activeDeadlineSeconds`, ads, `must be between 1 and ${MAX_INT32}, inclusive`));
  for (const f of ['nodeName', 'serviceAccountName'] as const) {
    if (spec[f]) for (const m of dns1123Subdomain(spec[f])) errs.push(invalid(`${base}.${f}`, spec[f], m));
  }
  validateTolerations(spec.tolerations, base, errs);
  errs.push(...resourceListErrors(spec.overhead, `${base}.overhead`));
  return errs;
}

/** Leaf-level differences between two JSON values, as "-path: old" / "+path: new" lines. */
function diffLines(a: unknown, b: unknown, path: string, out: string[]): void {
  if (deepEqual(a, b)) return;
  if (isObject(a) && isObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diffLines(a[k], b[k], `${path}.${k}`, out);
  } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => diffLines(x, b[i], `${path}[${i}]`, out));
  } else {
    if (a !== undefined) out.push(`- ${path}: ${JSON.stringify(a)}`);
    if (b !== undefined) out.push(`+ ${path}: ${JSON.stringify(b)}`);
  }
}

function sameToleration(old: KObject, t: KObject): boolean {
  return deepEqual({ ...old, tolerationSeconds: t?.tolerationSeconds }, t);
}

/** ValidatePodUpdate: only images, activeDeadlineSeconds, added tolerations, removed scheduling gates (and a few relaxations). */
function validatePodUpdate(pod: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = pod.spec ?? {};
  const oldSpec = old.spec ?? {};
  for (const f of ['containers', 'initContainers'] as const) {
    if (arr(spec[f]).length !== arr(oldSpec[f]).length) return [...errs, forbidden(`spec.${f}`, 'pod updates may not add or remove containers')];
  }
  const ads = spec.activeDeadlineSeconds;
  if (ads !== undefined) {
    if (oldSpec.activeDeadlineSeconds !== undefined && oldSpec.activeDeadlineSeconds < ads) {
      return [...errs, invalid('spec.activeDeadlineSeconds', ads, 'must be less than or equal to previous value')];
    }
  } else if (oldSpec.activeDeadlineSeconds !== undefined) {
    errs.push(invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
  }
  if (!arr(oldSpec.tolerations).every((o) => arr(spec.tolerations).some((t) => sameToleration(o, t)))) {
    return [...errs, forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds')];
  }
  const oldGates = new Set(arr(oldSpec.schedulingGates).map((g) => g?.name));
  arr(spec.schedulingGates).forEach((g, i) => {
    if (!oldGates.has(g?.name)) errs.push(forbidden(`spec.schedulingGates[${i}].name`, `only deletion is allowed, but found new scheduling gate '${g?.name}'`));
  });
  if (deepEqual(spec, oldSpec)) return errs;

  // Everything else must be unchanged: compare with the updatable fields taken from the old spec.
  const munged = structuredClone(spec);
  for (const f of ['containers', 'initContainers'] as const) {
    arr(munged[f]).forEach((c, i) => {
      c.image = oldSpec[f][i].image;
    });
  }
  for (const f of ['activeDeadlineSeconds', 'schedulingGates', 'tolerations']) {
    if (oldSpec[f] === undefined) delete munged[f];
    else munged[f] = oldSpec[f];
  }
  if (oldSpec.terminationGracePeriodSeconds < 0 && munged.terminationGracePeriodSeconds === 1)
    munged.terminationGracePeriodSeconds = oldSpec.terminationGracePeriodSeconds;
  if (arr(oldSpec.schedulingGates).length && isObject(munged.nodeSelector)) {
    // A gated pod may gain node selector entries, not change or lose them.
    const kept = Object.entries(oldSpec.nodeSelector ?? {}).every(([k, v]) => munged.nodeSelector[k] === v);
    if (kept) {
      if (oldSpec.nodeSelector === undefined) delete munged.nodeSelector;
      else munged.nodeSelector = oldSpec.nodeSelector;
    }
  }
  if (!deepEqual(munged, oldSpec)) {
    const diff: string[] = [];
    diffLines(oldSpec, munged, 'spec', diff);
    errs.push(forbidden('spec', `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}\n${diff.join('\n')}`));
  }
  return errs;
}

/** Taints the node lifecycle controller puts on a node it has lost touch with. */
const NODE_LOST_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];

/**
 * DefaultTolerationSeconds admission: a new pod that does not already tolerate a lost node's NoExecute
 * taint tolerates it for 300 s, so a node that misses heartbeats briefly does not lose its pods at once.
 */
function admitDefaultTolerationSeconds(pod: KObject): void {
  const spec = pod.spec;
  if (!isObject(spec)) return;
  const tolerations: unknown[] = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  const added = NODE_LOST_TAINTS.filter(
    (key) => !tolerations.some((t) => isObject(t) && (t.key === key || !t.key) && (t.effect === 'NoExecute' || !t.effect)),
  ).map((key) => ({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }));
  if (added.length) spec.tolerations = [...tolerations, ...added];
}

export const podStrategy: Strategy = {
  // Priority, DefaultTolerationSeconds and RuntimeClass admission, in the real server's plugin order.
  async admitWithObjects(pod, old, objects) {
    await admitPodPriority(pod, old, objects);
    if (!old) admitDefaultTolerationSeconds(pod);
    await admitPodRuntimeClass(pod, old, objects);
  },
  prepareForCreate(pod) {
    applyPodDefaults(pod);
    pod.status = initialPodStatus(pod);
  },
  prepareForUpdate(pod, old) {
    applyPodDefaults(pod);
    if (old.status === undefined) delete pod.status;
    else pod.status = old.status;
  },
  validate(pod, old) {
    const errs = validatePodSpec(pod.spec ?? {});
    if (old) errs.push(...validatePodUpdate(pod, old));
    return errs;
  },
  // CheckGracefulDelete: the requested period or the pod's own, but at once for pods that never ran anywhere
  // (unscheduled) or have finished; a negative period becomes 1 second.
  gracefulDeleteSeconds(pod, requested) {
    let period: number = requested ?? pod.spec?.terminationGracePeriodSeconds ?? 0;
    if (!pod.spec?.nodeName || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') period = 0;
    if (period < 0) period = 1;
    return period > 0 ? period : undefined;
  },
};
