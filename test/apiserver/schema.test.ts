// Structural schemas: request-time pruning, defaulting and validation of custom resources, and the CRD-time
// structural checks. Expected texts are the real apiserver's (many from apiextensions' own test tables).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileObjectSchema, validateStructuralSchema } from '../../src/apiserver/schema/index.ts';
import type { JSONSchema, KObject } from '../../src/apiserver/resource.ts';

const lines = (errs: { field: string; detail: string }[]) => errs.map((e) => `${e.field}: ${e.detail}`);
const withField = (field: JSONSchema): JSONSchema => ({ type: 'object', properties: { field } });
const check = (schema: JSONSchema, obj: KObject) => lines(compileObjectSchema(schema).validate(obj));

test('type errors name the expected and the actual JSON type', () => {
  const s = withField({ type: 'object' });
  assert.deepEqual(check(s, { field: 'foo' }), ['field: Invalid value: "string": field in body must be of type object: "string"']);
  assert.deepEqual(check(s, { field: 42 }), ['field: Invalid value: "integer": field in body must be of type object: "integer"']);
  assert.deepEqual(check(s, { field: 1.2 }), ['field: Invalid value: "number": field in body must be of type object: "number"']);
  assert.deepEqual(check(s, { field: [] }), ['field: Invalid value: "array": field in body must be of type object: "array"']);
  assert.deepEqual(check(s, { field: null }), ['field: Invalid value: "null": field in body must be of type object: "null"']);
  assert.deepEqual(check(withField({ type: 'object', nullable: true }), { field: null }), []);
  assert.deepEqual(check(withField({ type: 'number' }), { field: 3 }), [], 'an integer is a number');
  const [e] = compileObjectSchema(withField({ type: 'integer' })).validate({ field: 'x' });
  assert.equal(e.type, 'FieldValueTypeInvalid');
});

test('x-kubernetes-int-or-string, alone and with the anyOf/allOf idioms', () => {
  const plain = withField({ 'x-kubernetes-int-or-string': true });
  assert.deepEqual(check(plain, { field: 42 }), []);
  assert.deepEqual(check(plain, { field: '50%' }), []);
  assert.deepEqual(check(plain, { field: true }), ['field: Invalid value: "boolean": field in body must be of type integer,string: "boolean"']);

  const anyOf = withField({ 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] });
  assert.deepEqual(check(anyOf, { field: 1.2 }), [
    'field: Invalid value: "number": field in body must be of type integer,string: "number"',
    '<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)',
    'field: Invalid value: "number": field in body must be of type integer: "number"',
  ]);
  const allOf = withField({ 'x-kubernetes-int-or-string': true, nullable: true, allOf: [{ anyOf: [{ type: 'integer' }, { type: 'string' }] }] });
  assert.deepEqual(check(allOf, { field: null }), []);
  assert.deepEqual(check(allOf, { field: {} }), [
    'field: Invalid value: "object": field in body must be of type integer,string: "object"',
    '<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)',
    'field: Invalid value: "object": field in body must be of type integer: "object"',
    '<nil>: Invalid value: "": "field" must validate all the schemas (allOf). None validated',
  ]);
});

test('oneOf and not report on the junctor, and the best-matching branch', () => {
  const s = withField({ type: 'object', oneOf: [{ required: ['a'] }, { required: ['b'] }], not: { required: ['c'] } });
  assert.deepEqual(check(s, { field: { a: 1 } }), []);
  assert.deepEqual(check(s, { field: { a: 1, b: 2 } }), [
    '<nil>: Invalid value: "": "field" must validate one and only one schema (oneOf). Found 2 valid alternatives',
  ]);
  assert.deepEqual(check(s, { field: {} }), [
    '<nil>: Invalid value: "": "field" must validate one and only one schema (oneOf). Found none valid',
    'field.a: Required value',
  ]);
  assert.deepEqual(check(s, { field: { a: 1, c: 1 } }), ['<nil>: Invalid value: "": "field" must not validate the schema (not)']);
});

test('required, enum, and their texts for non-string values', () => {
  const s = withField({
    type: 'object',
    required: ['nestedint', 'nestedstring'],
    properties: { nestedint: { type: 'integer', enum: [1, 2] }, nestedstring: { type: 'string', enum: ['a', 'b'] } },
  });
  assert.deepEqual(check(s, { field: {} }), ['field.nestedint: Required value', 'field.nestedstring: Required value']);
  assert.deepEqual(check(s, { field: { nestedint: 'x', nestedstring: true } }), [
    'field.nestedint: Invalid value: "string": field.nestedint in body must be of type integer: "string"',
    'field.nestedint: Unsupported value: "x": supported values: "1", "2"',
    'field.nestedstring: Invalid value: "boolean": field.nestedstring in body must be of type string: "boolean"',
    'field.nestedstring: Unsupported value: true: supported values: "a", "b"',
  ]);
  const [nf] = compileObjectSchema(withField({ type: 'string', enum: ['a'] })).validate({ field: 'z' });
  assert.deepEqual(nf, { type: 'FieldValueNotSupported', field: 'field', detail: 'Unsupported value: "z": supported values: "a"' });
});

test('size limits use Too many / Too long, the other bounds Invalid value', () => {
  assert.deepEqual(check(withField({ type: 'object', maxProperties: 2 }), { field: { a: 1, b: 1, c: 1 } }), ['field: Too many: 3: must have at most 2 items']);
  assert.deepEqual(check(withField({ type: 'array', maxItems: 2 }), { field: ['a', 'b', 'c'] }), ['field: Too many: 3: must have at most 2 items']);
  assert.deepEqual(check(withField({ type: 'string', maxLength: 2 }), { field: 'abc' }), ['field: Too long: may not be more than 2 bytes']);
  assert.deepEqual(check(withField({ type: 'string', minLength: 3 }), { field: 'ab' }), [
    'field: Invalid value: "ab": field in body should be at least 3 chars long',
  ]);
  assert.deepEqual(check(withField({ type: 'string', maxLength: 2 }), { field: 'éé' }), [], 'lengths count characters, not bytes');
  assert.deepEqual(check(withField({ type: 'array', minItems: 2 }), { field: [1] }), ['field: Invalid value: 1: field in body should have at least 2 items']);
  assert.deepEqual(check(withField({ type: 'object', minProperties: 1 }), { field: {} }), [
    'field: Invalid value: 0: field in body should have at least 1 properties',
  ]);
  assert.deepEqual(check(withField({ type: 'string', pattern: '^[a-z]+$' }), { field: 'A1' }), [
    'field: Invalid value: "A1": field in body should match \'^[a-z]+$\'',
  ]);
});

test('numeric bounds compare integers with the bound truncated, and print floats like Go', () => {
  const s = withField({ type: 'number', minimum: 1.5, maximum: 10, exclusiveMaximum: true, multipleOf: 0.5 });
  assert.deepEqual(check(s, { field: 0.25 }), [
    'field: Invalid value: 0.25: field in body should be a multiple of 0.5',
    'field: Invalid value: 0.25: field in body should be greater than or equal to 1.5',
  ]);
  // Integers see multipleOf 0.5 as 0 and minimum 1.5 as 1, exactly like kube-openapi.
  assert.deepEqual(check(s, { field: 1 }), ['field: Invalid value: 0: factor MultipleOf declared for field must be positive: 0']);
  assert.deepEqual(check(withField({ type: 'number', maximum: 10, exclusiveMaximum: true }), { field: 11 }), [
    'field: Invalid value: 11: field in body should be less than 10',
  ]);
  assert.deepEqual(check(withField({ type: 'number', maximum: 2000000 }), { field: 2000000.5 }), [
    'field: Invalid value: 2.0000005e+06: field in body should be less than or equal to 2e+06',
  ]);
  assert.deepEqual(check(withField({ type: 'integer', multipleOf: 3 }), { field: 7 }), ['field: Invalid value: 7: field in body should be a multiple of 3']);
});

test('formats: date-time, byte, uuid are checked; int32 is accepted without a range check (as in 1.32)', () => {
  assert.deepEqual(check(withField({ type: 'string', format: 'date-time' }), { field: '2024-02-30T10:00:00Z' }), [
    'field: Invalid value: "2024-02-30T10:00:00Z": field in body must be of type date-time: "2024-02-30T10:00:00Z"',
  ]);
  assert.deepEqual(check(withField({ type: 'string', format: 'date-time' }), { field: '2024-02-29T10:00:00.5+01:00' }), []);
  assert.deepEqual(check(withField({ type: 'string', format: 'byte' }), { field: 'aGVsbG8=' }), []);
  assert.deepEqual(check(withField({ type: 'string', format: 'byte' }), { field: 'not base64!' }), [
    'field: Invalid value: "not base64!": field in body must be of type byte: "not base64!"',
  ]);
  assert.deepEqual(check(withField({ type: 'string', format: 'uuid' }), { field: 'x' }), [
    'field: Invalid value: "x": field in body must be of type uuid: "x"',
  ]);
  assert.deepEqual(check(withField({ type: 'string', format: 'no-such-format' }), { field: 'x' }), []);
  assert.deepEqual(check(withField({ type: 'integer', format: 'int32' }), { field: 2 ** 40 }), []);
});

test('x-kubernetes-list-type set and map reject duplicates', () => {
  const s: JSONSchema = {
    type: 'object',
    properties: {
      tags: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
      ports: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        items: { type: 'object', properties: { name: { type: 'string' }, port: { type: 'integer' } } },
      },
      pairs: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['a', 'b'],
        items: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } } },
      },
    },
  };
  const errs = compileObjectSchema(s).validate({
    tags: ['a', 'b', 'a', 'a'],
    ports: [{ name: 'http', port: 80 }, { name: 'http', port: 81 }, { port: 1 }, { port: 2 }],
    pairs: [
      { a: 'x', b: 'y' },
      { b: 'y', a: 'x' },
    ],
  });
  assert.deepEqual(lines(errs), [
    'tags[2]: Duplicate value: "a"',
    'ports[1]: Duplicate value: map[string]interface {}{"name":"http"}',
    'ports[3]: Duplicate value: map[string]interface {}{}',
    'pairs[1]: Duplicate value: map[string]interface {}{"a":"x", "b":"y"}',
  ]);
  assert.equal(errs[0].type, 'FieldValueDuplicate');
});

test('an object of another kind fails on kind alone; embedded resources need apiVersion and kind', () => {
  const s = compileObjectSchema(
    {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          properties: { template: { type: 'object', 'x-kubernetes-embedded-resource': true, 'x-kubernetes-preserve-unknown-fields': true } },
        },
      },
    },
    { kind: 'Widget' },
  );
  assert.deepEqual(lines(s.validate({ kind: 'Gadget', spec: 5 })), ['kind: Invalid value: "Gadget": must be Widget']);
  assert.deepEqual(lines(s.validate({ kind: 'Widget', spec: { template: { kind: 'Bad_Kind' } } })), [
    'spec.template.apiVersion: Required value: must not be empty',
    "spec.template.kind: Invalid value: \"Bad_Kind\": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
  ]);
});

const PRUNE_SCHEMA: JSONSchema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      properties: {
        items: { type: 'array', items: { type: 'object', properties: { a: { type: 'string' } } } },
        labels: { type: 'object', additionalProperties: { type: 'object', properties: { v: { type: 'string' } } } },
        free: {
          type: 'object',
          'x-kubernetes-preserve-unknown-fields': true,
          properties: { known: { type: 'object', properties: { k: { type: 'string' } } } },
        },
        template: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: { spec: { type: 'object' } } },
      },
    },
  },
};

test('prune drops unknown fields in place and returns their paths like the real unknown-field warnings', () => {
  const obj: KObject = {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', foo: 1, creationTimestamp: null, ownerReferences: [{ uid: 'u', bar: 1 }] },
    spec: {
      items: [{ a: 'x', bar: 1 }],
      labels: { one: { v: 'x', w: 'y' } },
      free: { anything: { goes: 1 }, known: { k: 'x', zap: 1 } },
      template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', junk: 1 }, spec: {}, extra: 1 },
      foo: 2,
    },
    status: {},
  };
  const removed = compileObjectSchema(PRUNE_SCHEMA).prune(obj);
  assert.deepEqual(removed, [
    'metadata.foo',
    'metadata.ownerReferences[0].bar',
    'spec.foo',
    'spec.free.known.zap',
    'spec.items[0].bar',
    'spec.labels.one.w',
    'spec.template.extra',
    'status',
    'spec.template.metadata.junk',
  ]);
  assert.deepEqual(obj, {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', ownerReferences: [{ uid: 'u' }] },
    spec: {
      items: [{ a: 'x' }],
      labels: { one: { v: 'x' } },
      free: { anything: { goes: 1 }, known: { k: 'x' } },
      template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: {} },
    },
  });
});

test('a schema without properties prunes everything below; preserve-unknown-fields at the root keeps all', () => {
  const obj: KObject = { apiVersion: 'v', kind: 'K', metadata: {}, spec: { a: 1 } };
  assert.deepEqual(compileObjectSchema({ type: 'object', properties: { spec: { type: 'object' } } }).prune(obj), ['spec.a']);
  const kept: KObject = { apiVersion: 'v', kind: 'K', spec: { a: 1 }, other: true };
  assert.deepEqual(compileObjectSchema({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }).prune(kept), []);
  assert.deepEqual(kept, { apiVersion: 'v', kind: 'K', spec: { a: 1 }, other: true });
});

test('defaults apply under present parents, to items and map values, and replace non-nullable nulls', () => {
  const s = compileObjectSchema({
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          color: { type: 'string', default: 'red' },
          size: { type: 'integer', default: 1 },
          note: { type: 'string', nullable: true, default: 'n' },
          gone: { type: 'string' },
          opts: { type: 'object', default: {}, properties: { retries: { type: 'integer', default: 3 } } },
          ports: { type: 'array', items: { type: 'object', properties: { protocol: { type: 'string', default: 'TCP' } } } },
          limits: { type: 'object', additionalProperties: { type: 'object', properties: { max: { type: 'integer', default: 9 } } } },
        },
      },
      status: { type: 'object', properties: { phase: { type: 'string', default: 'Pending' } } },
    },
  });
  const obj: KObject = { spec: { size: null, note: null, gone: null, ports: [{}, { protocol: 'UDP' }], limits: { cpu: {} } } };
  s.applyDefaults(obj);
  assert.deepEqual(obj, {
    spec: {
      color: 'red',
      size: 1,
      note: null,
      opts: { retries: 3 },
      ports: [{ protocol: 'TCP' }, { protocol: 'UDP' }],
      limits: { cpu: { max: 9 } },
    },
  });
});

const SCHEMA_PATH = 'spec.versions[0].schema.openAPIV3Schema';
const structural = (s: JSONSchema, status = false) => lines(validateStructuralSchema(s, SCHEMA_PATH, { statusSubresource: status }));

test('structural schema: types are required, sorted like the apiserver reports them', () => {
  assert.deepEqual(structural({ type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } }), []);
  assert.deepEqual(structural({ properties: { foo: { properties: { a: {} } }, bar: { type: 'array', items: {} } } }), [
    `${SCHEMA_PATH}.properties[bar].items.type: Required value: must not be empty for specified array items`,
    `${SCHEMA_PATH}.properties[foo].properties[a].type: Required value: must not be empty for specified object fields`,
    `${SCHEMA_PATH}.properties[foo].type: Required value: must not be empty for specified object fields`,
    `${SCHEMA_PATH}.type: Required value: must not be empty at the root`,
  ]);
  assert.deepEqual(
    structural({ type: 'object', properties: { port: { 'x-kubernetes-int-or-string': true }, any: { 'x-kubernetes-preserve-unknown-fields': true } } }),
    [],
  );
  assert.deepEqual(structural({ type: 'string' }), [`${SCHEMA_PATH}.type: Invalid value: "string": must be object at the root`]);
});

test('structural schema: metadata may only restrict name and generateName', () => {
  assert.deepEqual(structural({ type: 'object', properties: { metadata: { type: 'object', properties: { name: { type: 'string', maxLength: 10 } } } } }), []);
  assert.deepEqual(structural({ type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } }), [
    `${SCHEMA_PATH}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified`,
  ]);
  assert.deepEqual(structural({ type: 'object', properties: { metadata: { type: 'object', default: { name: 'x' } } } }), [
    `${SCHEMA_PATH}.properties[metadata].default: Forbidden: must not be set in top-level metadata`,
  ]);
});

test('structural schema: value validations inside junctors only, and only on specified fields', () => {
  const errs = structural({
    type: 'object',
    properties: { foo: { type: 'string' } },
    anyOf: [{ items: { type: 'string', description: 'world' } }],
    allOf: [{ properties: { foo: { type: 'string', nullable: true } } }],
    not: { additionalProperties: true, title: 'hello' },
  });
  assert.deepEqual(errs, [
    `${SCHEMA_PATH}.allOf[0].properties[foo].nullable: Forbidden: must be false to be structural`,
    `${SCHEMA_PATH}.allOf[0].properties[foo].type: Forbidden: must be empty to be structural`,
    `${SCHEMA_PATH}.anyOf[0].items.description: Forbidden: must be empty to be structural`,
    `${SCHEMA_PATH}.anyOf[0].items.type: Forbidden: must be empty to be structural`,
    `${SCHEMA_PATH}.items: Required value: because it is defined in ${SCHEMA_PATH}.anyOf[0].items`,
    `${SCHEMA_PATH}.not.additionalProperties: Forbidden: must be undefined to be structural`,
    `${SCHEMA_PATH}.not.title: Forbidden: must be empty to be structural`,
  ]);
});

test('forbidden keywords, properties with additionalProperties, uniqueItems', () => {
  assert.deepEqual(
    structural({ type: 'object', properties: { a: { type: 'object', properties: { x: { type: 'string' } }, additionalProperties: { type: 'string' } } } }),
    [`${SCHEMA_PATH}.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive`],
  );
  assert.deepEqual(structural({ type: 'object', properties: { a: { type: 'array', uniqueItems: true, items: { type: 'string' } } } }), [
    `${SCHEMA_PATH}.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic`,
  ]);
  assert.deepEqual(structural({ type: 'object', properties: { a: { $ref: '#/definitions/x' } } }), [
    `${SCHEMA_PATH}.properties[a].$ref: Forbidden: $ref is not supported`,
  ]);
  assert.deepEqual(structural({ type: 'object', properties: { a: { type: 'null' } } }), [
    `${SCHEMA_PATH}.properties[a].type: Unsupported value: "null": supported values: "array", "boolean", "integer", "number", "object", "string"`,
    `${SCHEMA_PATH}.properties[a].type: Forbidden: type cannot be set to null, use nullable as an alternative`,
  ]);
  assert.deepEqual(structural({ type: 'object', $schema: 'http://json-schema.org/draft-04/schema#' }), [
    `${SCHEMA_PATH}: Invalid value: "": OpenAPIV3Schema 'schema' is not supported`,
  ]);
});

test('defaults must validate against their schema and be pruned', () => {
  assert.deepEqual(structural({ type: 'object', properties: { size: { type: 'integer', default: 'big' } } }), [
    `${SCHEMA_PATH}.properties[size].default: Invalid value: "string":  in body must be of type integer: "string"`,
  ]);
  assert.deepEqual(
    structural({ type: 'object', properties: { opts: { type: 'object', properties: { a: { type: 'integer', minimum: 1 } }, default: { a: 0, b: 1 } } } }),
    [
      `${SCHEMA_PATH}.properties[opts].default: Invalid value: map[string]interface {}{"a":0, "b":1}: must not have unknown fields`,
      `${SCHEMA_PATH}.properties[opts].default.a: Invalid value: 0: a in body should be greater than or equal to 1`,
    ],
  );
});

test('list-type map needs scalar keys that are required or defaulted', () => {
  assert.deepEqual(
    structural({
      type: 'object',
      properties: {
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name', 'missing'],
          items: { type: 'object', properties: { name: { type: 'string' } } },
        },
        tags: { type: 'object', 'x-kubernetes-list-type': 'set' },
      },
    }),
    [
      `${SCHEMA_PATH}.properties[ports].x-kubernetes-list-map-keys: Invalid value: []string{"name", "missing"}: entries must all be names of item properties`,
      `${SCHEMA_PATH}.properties[ports].items.properties[name].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property`,
      `${SCHEMA_PATH}.properties[tags].type: Invalid value: "object": must be array if x-kubernetes-list-type is specified`,
    ],
  );
});

test('with a status subresource only some keywords may appear at the root', () => {
  assert.deepEqual(structural({ type: 'object', properties: {} }, true), []);
  assert.deepEqual(structural({ type: 'object', properties: { a: { type: 'string' } }, anyOf: [{ required: ['a'] }] }, true), [
    `${SCHEMA_PATH}: Invalid value: map[string]interface {}{"anyOf":[]interface {}{map[string]interface {}{"required":[]interface {}{"a"}}}, "properties":map[string]interface {}{"a":map[string]interface {}{"type":"string"}}, "type":"object"}: only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled`,
  ]);
});
