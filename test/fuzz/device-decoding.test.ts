// Fuzz (in-process, no server): the strict protobuf wire check accepts every valid encoding of
// every device message the API decodes and refuses what Go's proto.Unmarshal refuses; newlogs
// lines keep only LogEntry's fields with its types.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromBinary, type DescMessage } from '@bufbuild/protobuf';
import { checkWireFormat, WireFormatError } from '../../src/eve/wire-check.ts';
import { parseNewlogs, toLogEntry } from '../../src/eve/newlogs.ts';
import { AuthContainerSchema } from '../../src/eve/gen/auth/auth_pb.ts';
import { ZInfoMsgSchema } from '../../src/eve/gen/info/info_pb.ts';
import { ZMetricMsgSchema } from '../../src/eve/gen/metrics/metrics_pb.ts';
import { FlowMessageSchema } from '../../src/eve/gen/flowlog/flowlog_pb.ts';
import { ZHardwareHealthSchema } from '../../src/eve/gen/hardwarehealth/hardware_health_pb.ts';
import { ZAttestReqSchema } from '../../src/eve/gen/attest/attest_pb.ts';
import { ConfigRequestSchema, EdgeDevConfigSchema } from '../../src/eve/gen/config/devconfig_pb.ts';
import { ZRegisterMsgSchema } from '../../src/eve/gen/register/register_pb.ts';
import { check, fuzzParams, MALFORMED_PROTOBUF, shortBytes } from './arbitraries.ts';
import { randomMessageBytes } from './proto-arbitrary.ts';
import { gzipSync } from 'node:zlib';

const SCHEMAS: DescMessage[] = [
  AuthContainerSchema,
  ZInfoMsgSchema,
  ZMetricMsgSchema,
  FlowMessageSchema,
  ZHardwareHealthSchema,
  ZAttestReqSchema,
  ConfigRequestSchema,
  ZRegisterMsgSchema,
  EdgeDevConfigSchema,
];

test('every valid encoding passes the wire check and decodes', () => {
  return check(
    fc.property(fc.constantFrom(...SCHEMAS), fc.integer(), (schema, seed) => {
      const bytes = randomMessageBytes(schema, seed);
      checkWireFormat(schema, bytes);
      fromBinary(schema, bytes);
    }),
    fuzzParams('wire check accepts valid encodings', 300),
  );
});

test('what the lenient decoder would skip is refused: lengths past the end, stray groups, wrong wire types, depth', () => {
  for (const schema of SCHEMAS) {
    for (const b of MALFORMED_PROTOBUF)
      assert.throws(() => checkWireFormat(schema, b), WireFormatError, `${schema.typeName} ${Buffer.from(b.subarray(0, 8)).toString('hex')}`);
  }
  // ZInfoMsg field 1 (ztype, an enum) sent as a 2^32-1 byte string: bufbuild alone accepts it.
  assert.throws(() => checkWireFormat(ZInfoMsgSchema, Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), /wire type 2/);
  // An unknown length-delimited field that is well formed is fine (forward compatibility).
  checkWireFormat(ZInfoMsgSchema, Uint8Array.from([0xfa, 0x3e, 0x02, 0x41, 0x42]));
  // 200 nested unknown groups: over the depth bound, refused without recursion.
  const deep = Uint8Array.from([
    ...Array(200)
      .fill(0xfb)
      .flatMap((t: number) => [t, 0x3e]),
    ...Array(200)
      .fill(0)
      .flatMap(() => [0xfc, 0x3e]),
  ]);
  assert.throws(() => checkWireFormat(ZInfoMsgSchema, deep), /nested deeper/);
});

test('random bytes never throw anything but WireFormatError', () => {
  return check(
    fc.property(fc.constantFrom(...SCHEMAS), fc.uint8Array({ maxLength: 300 }).map(shortBytes), (schema, b) => {
      try {
        checkWireFormat(schema, b);
      } catch (e) {
        assert.ok(e instanceof WireFormatError, String(e));
      }
    }),
    fuzzParams('wire check on random bytes', 2000),
  );
});

test('newlogs entries keep only LogEntry fields with their types', () => {
  const deep = '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000);
  const body = gzipSync(
    Buffer.from(
      [
        `{"content":"ok","severity":"info","tags":{"k":"v","n":1,"o":{"p":{"q":1}}},"msgid":7,"timestamp":{"seconds":5,"nanos":6}}`,
        `{"content":{"a":[1]},"source":["x"],"tags":[{"k":"v"}],"timestamp":{"seconds":1e400,"nanos":-1}}`,
        `{"content":${deep}}`, // past the nesting bound: a bad line
        `{"__proto__":{"polluted":1},"tags":{"__proto__":"x"},"msgid":123456789012345678901234567890}`,
      ].join('\n'),
    ),
  );
  const p = parseNewlogs(body);
  assert.deepEqual(p.entries[0], { content: 'ok', severity: 'info', tags: { k: 'v' }, msgid: 7, timestamp: { seconds: 5, nanos: 6 } });
  assert.deepEqual(p.entries[1], { timestamp: {} });
  assert.equal(JSON.stringify(p.entries[2]), '{"tags":{"__proto__":"x"}}');
  assert.equal(p.badLines, 1);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(toLogEntry({ msgid: '18446744073709551615' }), { msgid: '18446744073709551615' });
});
