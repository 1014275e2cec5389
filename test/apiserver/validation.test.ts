import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDNS1123Label, isDNS1123Subdomain, isQualifiedName, validateMetadataUpdate, validateObjectMeta } from '../../src/apiserver/validation.ts';
import { invalid } from '../../src/apiserver/errors.ts';

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const NAME_PART_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

const ns = { namespaced: true, nameRule: 'subdomain' } as const;
const cluster = { namespaced: false, nameRule: 'subdomain' } as const;
const lines = (errs: { field: string; detail: string }[]) => errs.map((e) => `${e.field}: ${e.detail}`);

test('name formats', () => {
  assert.deepEqual(isDNS1123Subdomain('web-1.example.com'), []);
  assert.deepEqual(isDNS1123Subdomain('Bad_Name'), [SUBDOMAIN_MSG]);
  assert.deepEqual(isDNS1123Subdomain('a'.repeat(254)), ['must be no more than 253 characters']);
  assert.deepEqual(isDNS1123Label('kube-system'), []);
  assert.deepEqual(isDNS1123Label('a.b'), ['must not contain dots']);
  assert.deepEqual(isDNS1123Label('-x'), [LABEL_MSG]);
  assert.deepEqual(isDNS1123Label('x'.repeat(64)), ['must be no more than 63 characters']);
  assert.deepEqual(isQualifiedName('example.com/my_Name.1'), []);
  assert.deepEqual(isQualifiedName('/x'), ['prefix part must be non-empty']);
  assert.deepEqual(isQualifiedName('x/'), ['name part must be non-empty', NAME_PART_MSG]);
  assert.match(
    isQualifiedName('a/b/c')[0],
    /^a qualified name must consist of .* with an optional DNS subdomain prefix and '\/' \(e\.g\. 'example\.com\/MyName'\)$/,
  );
});

test('validateObjectMeta: the message kubectl prints for a bad name', () => {
  const errs = validateObjectMeta({ name: 'Bad_Name', namespace: 'default' }, ns);
  assert.deepEqual(errs, [{ type: 'FieldValueInvalid', field: 'metadata.name', detail: `Invalid value: "Bad_Name": ${SUBDOMAIN_MSG}` }]);
  assert.equal(
    invalid('ConfigMap', '', 'Bad_Name', errs).message,
    `ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": ${SUBDOMAIN_MSG}`,
  );
});

test('validateObjectMeta: a valid object has no errors', () => {
  const meta = {
    name: 'web',
    namespace: 'default',
    generateName: 'web-',
    labels: { app: 'web', 'app.kubernetes.io/part-of': 'shop', empty: '' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'Example.com/Mixed': 'ok' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'u1', controller: true }],
    finalizers: ['kubernetes.io/pv-protection', 'example.com/cleanup'],
    managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: {} }],
  };
  assert.deepEqual(validateObjectMeta(meta, ns), []);
});

test('validateObjectMeta: name, generateName and namespace rules', () => {
  assert.deepEqual(lines(validateObjectMeta({ namespace: 'default' }, ns)), ['metadata.name: Required value: name or generateName is required']);
  // generateName may end in '-' (a suffix is appended) but is otherwise a name.
  assert.deepEqual(validateObjectMeta({ name: 'job-x7k2p', generateName: 'job-', namespace: 'default' }, ns), []);
  assert.deepEqual(lines(validateObjectMeta({ name: 'ok', generateName: 'Job-', namespace: 'default' }, ns)), [
    `metadata.generateName: Invalid value: "Job-": ${SUBDOMAIN_MSG}`,
  ]);
  assert.deepEqual(lines(validateObjectMeta({ name: 'web' }, ns)), ['metadata.namespace: Required value']);
  assert.deepEqual(lines(validateObjectMeta({ name: 'web', namespace: 'Bad' }, ns)), [`metadata.namespace: Invalid value: "Bad": ${LABEL_MSG}`]);
  assert.deepEqual(lines(validateObjectMeta({ name: 'node-1', namespace: 'default' }, cluster)), ['metadata.namespace: Forbidden: not allowed on this type']);
  // Namespaces themselves use the label rule; path-segment kinds only forbid '/', '%', '.' and '..'.
  assert.deepEqual(lines(validateObjectMeta({ name: 'a.b' }, { namespaced: false, nameRule: 'label' })), [
    'metadata.name: Invalid value: "a.b": must not contain dots',
  ]);
  assert.deepEqual(validateObjectMeta({ name: 'system:Admin' }, { namespaced: false, nameRule: 'path' }), []);
  assert.deepEqual(lines(validateObjectMeta({ name: 'a/b%' }, { namespaced: false, nameRule: 'path' })), [
    `metadata.name: Invalid value: "a/b%": may not contain '/'`,
    `metadata.name: Invalid value: "a/b%": may not contain '%'`,
  ]);
  assert.deepEqual(lines(validateObjectMeta({ name: '..' }, { namespaced: false, nameRule: 'path' })), [`metadata.name: Invalid value: "..": may not be '..'`]);
  assert.deepEqual(lines(validateObjectMeta({ name: 'x', namespace: 'd', generation: -1 }, ns)), [
    'metadata.generation: Invalid value: -1: must be greater than or equal to 0',
  ]);
});

test('validateObjectMeta: labels and annotations', () => {
  assert.deepEqual(lines(validateObjectMeta({ name: 'x', namespace: 'd', labels: { 'bad key': 'v', ok: 'bad value' } }, ns)), [
    `metadata.labels: Invalid value: "bad key": ${NAME_PART_MSG}`,
    `metadata.labels: Invalid value: "bad value": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
  ]);
  assert.deepEqual(lines(validateObjectMeta({ name: 'x', namespace: 'd', labels: { a: 'v'.repeat(64) } }, ns)), [
    `metadata.labels: Invalid value: "${'v'.repeat(64)}": must be no more than 63 characters`,
  ]);
  assert.deepEqual(lines(validateObjectMeta({ name: 'x', namespace: 'd', annotations: { 'a b': '' } }, ns)), [
    `metadata.annotations: Invalid value: "a b": ${NAME_PART_MSG}`,
  ]);
  const big = { name: 'x', namespace: 'd', annotations: { a: 'x'.repeat(256 * 1024) } };
  assert.deepEqual(validateObjectMeta(big, ns), [
    { type: 'FieldValueTooLong', field: 'metadata.annotations', detail: 'Too long: may not be more than 262144 bytes' },
  ]);
  assert.deepEqual(validateObjectMeta({ ...big, annotations: { a: 'x'.repeat(256 * 1024 - 1) } }, ns), []);
});

test('validateObjectMeta: ownerReferences and finalizers', () => {
  assert.deepEqual(lines(validateObjectMeta({ name: 'x', namespace: 'd', ownerReferences: [{ apiVersion: 'apps/', kind: '', name: '', uid: '' }] }, ns)), [
    'metadata.ownerReferences.apiVersion: Invalid value: "apps/": version must not be empty',
    'metadata.ownerReferences.kind: Invalid value: "": kind must not be empty',
    'metadata.ownerReferences.name: Invalid value: "": name must not be empty',
    'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
  ]);
  const two = [
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: '1', controller: true },
    { apiVersion: 'batch/v1', kind: 'Job', name: 'b', uid: '2', controller: true },
  ];
  const errs = validateObjectMeta({ name: 'x', namespace: 'd', ownerReferences: two }, ns);
  assert.equal(errs.length, 1);
  assert.equal(errs[0].field, 'metadata.ownerReferences');
  assert.match(errs[0].detail, /: Only one reference can have Controller set to true\. Found "true" in references for ReplicaSet\/a and Job\/b$/);
  const event = validateObjectMeta({ name: 'x', namespace: 'd', ownerReferences: [{ apiVersion: 'v1', kind: 'Event', name: 'e', uid: '1' }] }, ns);
  assert.match(event[0].detail, /\/v1, Kind=Event is disallowed from being an owner$/);

  assert.deepEqual(lines(validateObjectMeta({ name: 'x', namespace: 'd', finalizers: ['bad finalizer'] }, ns)), [
    `metadata.finalizers: Invalid value: "bad finalizer": ${NAME_PART_MSG}`,
  ]);
  assert.deepEqual(lines(validateObjectMeta({ name: 'x', namespace: 'd', finalizers: ['orphan', 'foregroundDeletion'] }, ns)), [
    'metadata.finalizers: Invalid value: []string{"orphan", "foregroundDeletion"}: finalizer orphan and foregroundDeletion cannot be both set',
  ]);
  assert.deepEqual(lines(validateObjectMeta({ name: 'x', namespace: 'd', managedFields: [{ manager: 'm', operation: 'Patch' }] }, ns)), [
    'metadata.managedFields[0].operation: Invalid value: "Patch": must be `Apply` or `Update`',
  ]);
});

test('validateObjectMeta: a custom field prefix for embedded metadata', () => {
  assert.deepEqual(lines(validateObjectMeta({ name: 'Bad', namespace: 'd' }, ns, 'spec.template.metadata')), [
    `spec.template.metadata.name: Invalid value: "Bad": ${SUBDOMAIN_MSG}`,
  ]);
});

const old = {
  name: 'web',
  namespace: 'default',
  uid: 'u-1',
  resourceVersion: '10',
  generation: 3,
  creationTimestamp: '2024-05-01T10:00:00Z',
  finalizers: ['example.com/a'],
};

test('validateMetadataUpdate: unchanged identity is fine', () => {
  assert.deepEqual(validateMetadataUpdate({ ...old, labels: { a: 'b' } }, old), []);
  // The same instant written differently is not a change.
  assert.deepEqual(validateMetadataUpdate({ ...old, creationTimestamp: '2024-05-01T12:00:00+02:00' }, old), []);
});

test('validateMetadataUpdate: immutable fields', () => {
  const next = { ...old, name: 'web2', namespace: 'other', uid: 'u-2', creationTimestamp: '2024-06-01T00:00:00Z', deletionGracePeriodSeconds: 30 };
  assert.deepEqual(lines(validateMetadataUpdate(next, old)), [
    'metadata.name: Invalid value: "web2": field is immutable',
    'metadata.namespace: Invalid value: "other": field is immutable',
    'metadata.uid: Invalid value: "u-2": field is immutable',
    'metadata.creationTimestamp: Invalid value: 2024-06-01 00:00:00 +0000 UTC: field is immutable',
    'metadata.deletionGracePeriodSeconds: Invalid value: 30: field is immutable',
  ]);
  assert.deepEqual(lines(validateMetadataUpdate({ ...old, generation: 2 }, old)), ['metadata.generation: Invalid value: 2: must not be decremented']);
  assert.deepEqual(lines(validateMetadataUpdate({ ...old, resourceVersion: '' }, old)), [
    'metadata.resourceVersion: Invalid value: "": must be specified for an update',
  ]);
});

test('validateMetadataUpdate: no new finalizers once deletion has started', () => {
  const deleting = { ...old, deletionTimestamp: '2024-06-01T00:00:00Z', deletionGracePeriodSeconds: 0 };
  // Removing finalizers is how deletion completes, so it stays allowed.
  assert.deepEqual(validateMetadataUpdate({ ...deleting, finalizers: [] }, deleting), []);
  assert.deepEqual(lines(validateMetadataUpdate({ ...deleting, finalizers: ['example.com/a', 'z.io/b', 'example.com/c'] }, deleting)), [
    'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/c", "z.io/b"}',
  ]);
  // Before deletion, adding finalizers is ordinary.
  assert.deepEqual(validateMetadataUpdate({ ...old, finalizers: ['example.com/a', 'example.com/b'] }, old), []);
  // deletionTimestamp can be neither removed nor moved.
  assert.deepEqual(lines(validateMetadataUpdate({ ...deleting, deletionTimestamp: undefined }, deleting)), [
    'metadata.deletionTimestamp: Invalid value: "null": field is immutable',
  ]);
});
