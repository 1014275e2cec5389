// Protobuf request bodies (application/vnd.kubernetes.protobuf), as kubectl's typed commands send them:
// the generated messages must use upstream's field numbers, real kubectl bodies must decode to the right
// objects, and bad bodies must be refused without touching the store.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { create, fromBinary, toBinary, ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import type { GenFile } from '@bufbuild/protobuf/codegenv2';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';
import { decodeKubeProtobuf } from '../../src/apiserver/protobuf/decode.ts';
import { encodeKubeProtobuf } from '../../src/apiserver/protobuf/encode.ts';
import { file_k8s_runtime, UnknownSchema } from '../../src/apiserver/protobuf/gen/k8s/runtime_pb.ts';
import { file_k8s_meta_v1, DeleteOptionsSchema } from '../../src/apiserver/protobuf/gen/k8s/meta_v1_pb.ts';
import {
  file_k8s_core_v1,
  BindingSchema,
  ConfigMapListSchema,
  ConfigMapSchema,
  EventSchema,
  SecretSchema,
} from '../../src/apiserver/protobuf/gen/k8s/core_v1_pb.ts';
import { file_k8s_rbac_v1 } from '../../src/apiserver/protobuf/gen/k8s/rbac_v1_pb.ts';
import { file_k8s_authentication_v1 } from '../../src/apiserver/protobuf/gen/k8s/authentication_v1_pb.ts';
import { file_k8s_authorization_v1 } from '../../src/apiserver/protobuf/gen/k8s/authorization_v1_pb.ts';
import { file_k8s_apps_v1, DeploymentSchema } from '../../src/apiserver/protobuf/gen/k8s/apps_v1_pb.ts';
import { file_k8s_batch_v1 } from '../../src/apiserver/protobuf/gen/k8s/batch_v1_pb.ts';
import { file_k8s_policy_v1 } from '../../src/apiserver/protobuf/gen/k8s/policy_v1_pb.ts';
import { file_k8s_scheduling_v1 } from '../../src/apiserver/protobuf/gen/k8s/scheduling_v1_pb.ts';
import { file_k8s_node_v1 } from '../../src/apiserver/protobuf/gen/k8s/node_v1_pb.ts';
import { file_k8s_resource } from '../../src/apiserver/protobuf/gen/k8s/resource_pb.ts';
import { file_k8s_intstr } from '../../src/apiserver/protobuf/gen/k8s/intstr_pb.ts';
import { UPSTREAM_WORKLOADS } from './protobuf-upstream-workloads.ts';
import { file_k8s_autoscaling_v1, ScaleSchema } from '../../src/apiserver/protobuf/gen/k8s/autoscaling_v1_pb.ts';
import { file_k8s_coordination_v1, LeaseSchema } from '../../src/apiserver/protobuf/gen/k8s/coordination_v1_pb.ts';
import { file_k8s_events_v1, EventSchema as EventsV1EventSchema } from '../../src/apiserver/protobuf/gen/k8s/events_v1_pb.ts';

const PB = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

// ---- upstream wire contract ----------------------------------------------------------------------------
// Field numbers and wire types from kubernetes/api and kubernetes/apimachinery generated.proto, written out
// independently of proto/k8s. L = length-delimited (string, bytes, message, map, repeated), V = varint.

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';
const UPSTREAM: Record<string, string> = {
  'k8s.io.apimachinery.pkg.runtime.TypeMeta': 'apiVersion=1L kind=2L',
  'k8s.io.apimachinery.pkg.runtime.Unknown': 'typeMeta=1L raw=2L contentEncoding=3L contentType=4L',
  [`${META}.Time`]: 'seconds=1V nanos=2V',
  [`${META}.FieldsV1`]: 'Raw=1L',
  [`${META}.ManagedFieldsEntry`]: 'manager=1L operation=2L apiVersion=3L time=4L fieldsType=6L fieldsV1=7L subresource=8L',
  [`${META}.OwnerReference`]: 'kind=1L name=3L uid=4L apiVersion=5L controller=6V blockOwnerDeletion=7V',
  [`${META}.ObjectMeta`]:
    'name=1L generateName=2L namespace=3L selfLink=4L uid=5L resourceVersion=6L generation=7V ' +
    'creationTimestamp=8L deletionTimestamp=9L deletionGracePeriodSeconds=10V labels=11L annotations=12L ' +
    'ownerReferences=13L finalizers=14L managedFields=17L',
  [`${META}.LabelSelectorRequirement`]: 'key=1L operator=2L values=3L',
  [`${META}.LabelSelector`]: 'matchLabels=1L matchExpressions=2L',
  [`${META}.FieldSelectorRequirement`]: 'key=1L operator=2L values=3L',
  [`${META}.MicroTime`]: 'seconds=1V nanos=2V',
  [`${META}.ListMeta`]: 'selfLink=1L resourceVersion=2L continue=3L remainingItemCount=4V',
  'k8s.io.api.core.v1.NamespaceList': 'metadata=1L items=2L',
  'k8s.io.api.core.v1.SecretList': 'metadata=1L items=2L',
  'k8s.io.api.core.v1.ConfigMapList': 'metadata=1L items=2L',
  'k8s.io.api.core.v1.ServiceAccountList': 'metadata=1L items=2L',
  'k8s.io.api.core.v1.EventList': 'metadata=1L items=2L',
  'k8s.io.api.rbac.v1.RoleList': 'metadata=1L items=2L',
  'k8s.io.api.rbac.v1.ClusterRoleList': 'metadata=1L items=2L',
  'k8s.io.api.rbac.v1.RoleBindingList': 'metadata=1L items=2L',
  'k8s.io.api.rbac.v1.ClusterRoleBindingList': 'metadata=1L items=2L',
  'k8s.io.api.coordination.v1.LeaseList': 'metadata=1L items=2L',
  [`${META}.Preconditions`]: 'uid=1L resourceVersion=2L',
  [`${META}.DeleteOptions`]:
    'gracePeriodSeconds=1V preconditions=2L orphanDependents=3V propagationPolicy=4L dryRun=5L ' + 'ignoreStoreReadErrorWithClusterBreakingPotential=6V',
  'k8s.io.api.core.v1.NamespaceSpec': 'finalizers=1L',
  'k8s.io.api.core.v1.NamespaceCondition': 'type=1L status=2L lastTransitionTime=4L reason=5L message=6L',
  'k8s.io.api.core.v1.NamespaceStatus': 'phase=1L conditions=2L',
  'k8s.io.api.core.v1.Namespace': 'metadata=1L spec=2L status=3L',
  'k8s.io.api.core.v1.Secret': 'metadata=1L data=2L type=3L stringData=4L immutable=5V',
  'k8s.io.api.core.v1.ConfigMap': 'metadata=1L data=2L binaryData=3L immutable=4V',
  'k8s.io.api.core.v1.ObjectReference': 'kind=1L namespace=2L name=3L uid=4L apiVersion=5L resourceVersion=6L fieldPath=7L',
  'k8s.io.api.core.v1.LocalObjectReference': 'name=1L',
  'k8s.io.api.core.v1.ServiceAccount': 'metadata=1L secrets=2L imagePullSecrets=3L automountServiceAccountToken=4V',
  'k8s.io.api.core.v1.Binding': 'metadata=1L target=2L',
  'k8s.io.api.core.v1.Service': 'metadata=1L spec=2L status=3L',
  'k8s.io.api.core.v1.ServiceSpec':
    'ports=1L selector=2L clusterIP=3L type=4L externalIPs=5L sessionAffinity=7L loadBalancerIP=8L ' +
    'loadBalancerSourceRanges=9L externalName=10L externalTrafficPolicy=11L healthCheckNodePort=12V publishNotReadyAddresses=13V ' +
    'sessionAffinityConfig=14L ipFamilyPolicy=17L clusterIPs=18L ipFamilies=19L allocateLoadBalancerNodePorts=20V ' +
    'loadBalancerClass=21L internalTrafficPolicy=22L trafficDistribution=23L',
  'k8s.io.api.core.v1.ServicePort': 'name=1L protocol=2L port=3V targetPort=4L nodePort=5V appProtocol=6L',
  'k8s.io.api.core.v1.SessionAffinityConfig': 'clientIP=1L',
  'k8s.io.api.core.v1.ClientIPConfig': 'timeoutSeconds=1V',
  'k8s.io.api.core.v1.ServiceStatus': 'loadBalancer=1L conditions=2L',
  'k8s.io.api.core.v1.LoadBalancerStatus': 'ingress=1L',
  'k8s.io.api.core.v1.LoadBalancerIngress': 'ip=1L hostname=2L ipMode=3L ports=4L',
  'k8s.io.api.core.v1.PortStatus': 'port=1V protocol=2L error=3L',
  'k8s.io.api.core.v1.EventSource': 'component=1L host=2L',
  'k8s.io.api.core.v1.EventSeries': 'count=1V lastObservedTime=2L',
  'k8s.io.api.core.v1.Event':
    'metadata=1L involvedObject=2L reason=3L message=4L source=5L firstTimestamp=6L lastTimestamp=7L count=8V ' +
    'type=9L eventTime=10L series=11L action=12L related=13L reportingComponent=14L reportingInstance=15L',
  'k8s.io.api.events.v1.EventSeries': 'count=1V lastObservedTime=2L',
  'k8s.io.api.events.v1.Event':
    'metadata=1L eventTime=2L series=3L reportingController=4L reportingInstance=5L action=6L reason=7L ' +
    'regarding=8L related=9L note=10L type=11L deprecatedSource=12L deprecatedFirstTimestamp=13L deprecatedLastTimestamp=14L deprecatedCount=15V',
  'k8s.io.api.coordination.v1.LeaseSpec':
    'holderIdentity=1L leaseDurationSeconds=2V acquireTime=3L renewTime=4L leaseTransitions=5V strategy=6L preferredHolder=7L',
  'k8s.io.api.coordination.v1.Lease': 'metadata=1L spec=2L',
  'k8s.io.api.autoscaling.v1.ScaleSpec': 'replicas=1V',
  'k8s.io.api.autoscaling.v1.ScaleStatus': 'replicas=1V selector=2L',
  'k8s.io.api.autoscaling.v1.Scale': 'metadata=1L spec=2L status=3L',
  'k8s.io.api.rbac.v1.PolicyRule': 'verbs=1L apiGroups=2L resources=3L resourceNames=4L nonResourceURLs=5L',
  'k8s.io.api.rbac.v1.Subject': 'kind=1L apiGroup=2L name=3L namespace=4L',
  'k8s.io.api.rbac.v1.RoleRef': 'apiGroup=1L kind=2L name=3L',
  'k8s.io.api.rbac.v1.AggregationRule': 'clusterRoleSelectors=1L',
  'k8s.io.api.rbac.v1.Role': 'metadata=1L rules=2L',
  'k8s.io.api.rbac.v1.ClusterRole': 'metadata=1L rules=2L aggregationRule=3L',
  'k8s.io.api.rbac.v1.RoleBinding': 'metadata=1L subjects=2L roleRef=3L',
  'k8s.io.api.rbac.v1.ClusterRoleBinding': 'metadata=1L subjects=2L roleRef=3L',
  'k8s.io.api.authentication.v1.ExtraValue': 'items=1L',
  'k8s.io.api.authentication.v1.UserInfo': 'username=1L uid=2L groups=3L extra=4L',
  'k8s.io.api.authentication.v1.BoundObjectReference': 'kind=1L apiVersion=2L name=3L uID=4L',
  'k8s.io.api.authentication.v1.TokenRequestSpec': 'audiences=1L boundObjectRef=3L expirationSeconds=4V',
  'k8s.io.api.authentication.v1.TokenRequestStatus': 'token=1L expirationTimestamp=2L',
  'k8s.io.api.authentication.v1.TokenRequest': 'metadata=1L spec=2L status=3L',
  'k8s.io.api.authentication.v1.SelfSubjectReviewStatus': 'userInfo=1L',
  'k8s.io.api.authentication.v1.SelfSubjectReview': 'metadata=1L status=2L',
  'k8s.io.api.authentication.v1.TokenReviewSpec': 'token=1L audiences=2L',
  'k8s.io.api.authentication.v1.TokenReviewStatus': 'authenticated=1V user=2L error=3L audiences=4L',
  'k8s.io.api.authentication.v1.TokenReview': 'metadata=1L spec=2L status=3L',
  'k8s.io.api.authorization.v1.FieldSelectorAttributes': 'rawSelector=1L requirements=2L',
  'k8s.io.api.authorization.v1.LabelSelectorAttributes': 'rawSelector=1L requirements=2L',
  'k8s.io.api.authorization.v1.ResourceAttributes':
    'namespace=1L verb=2L group=3L version=4L resource=5L subresource=6L ' + 'name=7L fieldSelector=8L labelSelector=9L',
  'k8s.io.api.authorization.v1.NonResourceAttributes': 'path=1L verb=2L',
  'k8s.io.api.authorization.v1.SubjectAccessReviewStatus': 'allowed=1V reason=2L evaluationError=3L denied=4V',
  'k8s.io.api.authorization.v1.SelfSubjectAccessReviewSpec': 'resourceAttributes=1L nonResourceAttributes=2L',
  'k8s.io.api.authorization.v1.SelfSubjectAccessReview': 'metadata=1L spec=2L status=3L',
  'k8s.io.api.authorization.v1.ExtraValue': 'items=1L',
  'k8s.io.api.authorization.v1.SubjectAccessReviewSpec': 'resourceAttributes=1L nonResourceAttributes=2L user=3L groups=4L extra=5L uid=6L',
  'k8s.io.api.authorization.v1.SubjectAccessReview': 'metadata=1L spec=2L status=3L',
  'k8s.io.api.authorization.v1.ResourceRule': 'verbs=1L apiGroups=2L resources=3L resourceNames=4L',
  'k8s.io.api.authorization.v1.NonResourceRule': 'verbs=1L nonResourceURLs=2L',
  'k8s.io.api.authorization.v1.SubjectRulesReviewStatus': 'resourceRules=1L nonResourceRules=2L incomplete=3V evaluationError=4L',
  'k8s.io.api.authorization.v1.SelfSubjectRulesReviewSpec': 'namespace=1L',
  'k8s.io.api.authorization.v1.SelfSubjectRulesReview': 'metadata=1L spec=2L status=3L',
  ...UPSTREAM_WORKLOADS,
};

const FILES: GenFile[] = [
  file_k8s_runtime,
  file_k8s_meta_v1,
  file_k8s_core_v1,
  file_k8s_rbac_v1,
  file_k8s_authentication_v1,
  file_k8s_authorization_v1,
  file_k8s_apps_v1,
  file_k8s_batch_v1,
  file_k8s_policy_v1,
  file_k8s_scheduling_v1,
  file_k8s_node_v1,
  file_k8s_resource,
  file_k8s_intstr,
  file_k8s_autoscaling_v1,
  file_k8s_coordination_v1,
  file_k8s_events_v1,
];

/** (field number, wire type) of each top-level field in an encoded message. */
function walk(bytes: Uint8Array): Array<{ no: number; wt: number; payload: Uint8Array }> {
  const out: Array<{ no: number; wt: number; payload: Uint8Array }> = [];
  let i = 0;
  const varint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = bytes[i++];
      assert.ok(b !== undefined, 'truncated varint');
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (i < bytes.length) {
    const tag = Number(varint());
    const no = tag >>> 3,
      wt = tag & 7;
    let start = i;
    if (wt === 0) varint();
    else if (wt === 2) {
      const len = Number(varint());
      start = i;
      i += len;
    } else assert.fail(`unexpected wire type ${wt} for field ${no}`);
    assert.ok(i <= bytes.length, `field ${no} runs past the end`);
    out.push({ no, wt, payload: bytes.subarray(start, i) });
  }
  return out;
}

function sampleScalar(t: ScalarType): unknown {
  switch (t) {
    case ScalarType.STRING:
      return 'x';
    case ScalarType.BYTES:
      return new Uint8Array([1]);
    case ScalarType.BOOL:
      return true;
    case ScalarType.INT64:
      return 5n;
    case ScalarType.INT32:
      return 5;
    default:
      throw new Error(`no sample for scalar type ${t}`);
  }
}

function sample(field: DescField): unknown {
  switch (field.fieldKind) {
    case 'scalar':
      return sampleScalar(field.scalar);
    case 'message':
      return create(field.message);
    case 'list':
      return [field.listKind === 'message' ? create(field.message) : sampleScalar(field.scalar as ScalarType)];
    case 'map':
      return { k: field.mapKind === 'message' ? create(field.message) : sampleScalar(field.scalar as ScalarType) };
    default:
      throw new Error(`no sample for ${field.fieldKind}`);
  }
}

describe('generated messages use upstream field numbers', () => {
  const messages: DescMessage[] = FILES.flatMap((f) => f.messages);

  test('every generated message is in the upstream table and vice versa', () => {
    assert.deepEqual(messages.map((m) => m.typeName).sort(), Object.keys(UPSTREAM).sort());
  });

  for (const desc of messages) {
    test(desc.typeName, () => {
      const want = new Map(
        UPSTREAM[desc.typeName].split(' ').map((s) => {
          const [, name, no, wt] = /^(\w+)=(\d+)([LV])$/.exec(s)!;
          return [name, { no: Number(no), wt: wt === 'L' ? 2 : 0 }];
        }),
      );
      assert.deepEqual(desc.fields.map((f) => f.name).sort(), [...want.keys()].sort(), 'field names');
      for (const field of desc.fields) {
        // One field set at a time: the bytes must carry exactly that field under upstream's number.
        const bytes = toBinary(desc, create(desc, { [field.localName]: sample(field) } as never));
        const fields = walk(bytes);
        assert.equal(fields.length, 1, `${field.name}: one field on the wire`);
        assert.deepEqual({ no: fields[0].no, wt: fields[0].wt }, want.get(field.name), `${desc.typeName}.${field.name}`);
      }
    });
  }

  test('map entries are {1: key, 2: value} (Secret.data)', () => {
    const bytes = toBinary(SecretSchema, create(SecretSchema, { data: { pw: new Uint8Array([0xff, 0x00]) } }));
    const [entry] = walk(bytes);
    assert.equal(entry.no, 2);
    const inner = walk(entry.payload);
    assert.deepEqual(
      inner.map((f) => [f.no, f.wt, Buffer.from(f.payload).toString('hex')]),
      [
        [1, 2, Buffer.from('pw').toString('hex')],
        [2, 2, 'ff00'],
      ],
    );
  });
});

// ---- helpers for raw requests ------------------------------------------------------------------------

function envelope(apiVersion: string, kind: string, raw: Uint8Array): Buffer {
  return Buffer.concat([MAGIC, toBinary(UnknownSchema, create(UnknownSchema, { typeMeta: { apiVersion, kind }, raw }))]);
}

const post = (ts: TestServer, path: string, body: Buffer) => api(ts.server, 'POST', path, body, { 'Content-Type': PB });

// ---- real kubectl ------------------------------------------------------------------------------------

describe('kubectl typed create commands (protobuf bodies)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(async () => {
    await ts?.close();
  });

  test('kubectl create namespace', async () => {
    assert.match(await ts.ok(['create', 'namespace', 'pb-ns']), /namespace\/pb-ns created/);
    const r = await api(ts.server, 'GET', '/api/v1/namespaces/pb-ns');
    assert.equal(r.status, 200);
    assert.equal(r.body.metadata.name, 'pb-ns');
    assert.equal(r.body.status.phase, 'Active');
    assert.equal(r.body.metadata.creationTimestamp !== undefined, true);
  });

  test('kubectl create configmap: literal data and binary files', async () => {
    const bin = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), randomBytes(64)]);
    const file = ts.file('blob.bin', bin as never);
    assert.match(
      await ts.ok(['create', 'configmap', 'pb-cm', '--from-literal=a=b', '--from-literal=empty=', `--from-file=blob=${file}`]),
      /configmap\/pb-cm created/,
    );
    const r = await api(ts.server, 'GET', '/api/v1/namespaces/default/configmaps/pb-cm');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data, { a: 'b', empty: '' });
    // Not UTF-8, so kubectl puts it in binaryData: a map<string, bytes> that must round-trip.
    assert.deepEqual(r.body.binaryData, { blob: bin.toString('base64') });
    assert.equal(r.body.immutable, undefined);
  });

  test('kubectl create secret generic: data round-trips as base64', async () => {
    const bin = randomBytes(48);
    const file = ts.file('key.bin', bin as never);
    assert.match(
      await ts.ok(['create', 'secret', 'generic', 'pb-s', '--from-literal=p=q', `--from-file=key=${file}`, '--type=example.com/test']),
      /secret\/pb-s created/,
    );
    const r = await api(ts.server, 'GET', '/api/v1/namespaces/default/secrets/pb-s');
    assert.equal(r.status, 200);
    assert.equal(r.body.type, 'example.com/test');
    assert.deepEqual(Object.keys(r.body.data).sort(), ['key', 'p']);
    assert.equal(Buffer.from(r.body.data.p, 'base64').toString('utf8'), 'q');
    assert.ok(Buffer.from(r.body.data.key, 'base64').equals(bin));
    const out = await ts.ok(['get', 'secret', 'pb-s', '-o', 'jsonpath={.data.p}']);
    assert.equal(Buffer.from(out, 'base64').toString('utf8'), 'q');
  });

  test('kubectl create serviceaccount', async () => {
    assert.match(await ts.ok(['create', 'serviceaccount', 'pb-sa']), /serviceaccount\/pb-sa created/);
    const r = await api(ts.server, 'GET', '/api/v1/namespaces/default/serviceaccounts/pb-sa');
    assert.equal(r.status, 200);
    assert.equal(r.body.metadata.namespace, 'default');
    assert.equal(r.body.automountServiceAccountToken, undefined);
  });

  test('kubectl create in another namespace with -n', async () => {
    await ts.ok(['create', 'namespace', 'pb-other']);
    await ts.ok(['create', 'configmap', 'pb-cm2', '-n', 'pb-other', '--from-literal=k=v']);
    const r = await api(ts.server, 'GET', '/api/v1/namespaces/pb-other/configmaps/pb-cm2');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data, { k: 'v' });
  });
});

// ---- real kubectl bodies for the RBAC, token and review kinds ----------------------------------------

interface Captured {
  method: string;
  path: string;
  body: Buffer;
}

/** A TLS pass-through in front of the test server that records kubectl's protobuf request bodies. */
async function recordingProxy(ts: TestServer): Promise<{ url: string; seen: Captured[]; close(): Promise<void> }> {
  const pki = join(ts.dir, 'data', 'pki');
  const seen: Captured[] = [];
  const upstream = new URL(ts.server.url);
  const proxy = https.createServer({ cert: readFileSync(join(pki, 'apiserver.crt')), key: readFileSync(join(pki, 'apiserver.key')) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if ((req.headers['content-type'] ?? '').startsWith(PB)) seen.push({ method: req.method!, path: req.url!, body });
      const up = https.request(ts.server.url + req.url, { method: req.method, headers: { ...req.headers, host: upstream.host }, ca: ts.server.caPem }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const { port } = proxy.address() as { port: number };
  return { url: `https://127.0.0.1:${port}`, seen, close: () => new Promise((r) => proxy.close(() => r())) };
}

describe('real kubectl bodies for RBAC, token and review kinds decode to the right objects', () => {
  let ts: TestServer;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  before(async () => {
    ts = await startTestServer();
    proxy = await recordingProxy(ts);
  });
  after(async () => {
    await proxy?.close();
    await ts?.close();
  });

  /** Runs kubectl through the proxy (its exit code depends on whether the kind is served yet) and returns
   * the decoded body of the first protobuf POST to a path containing `pathPart`. */
  async function body(args: string[], pathPart: string): Promise<{ path: string; object: unknown }> {
    proxy.seen.length = 0;
    await ts.kubectl([`--server=${proxy.url}`, ...args]);
    const hit = proxy.seen.find((c) => c.method === 'POST' && c.path.includes(pathPart));
    assert.ok(hit, `kubectl ${args.join(' ')} sent no protobuf POST to ${pathPart}; saw ${proxy.seen.map((c) => c.path).join(', ')}`);
    assert.ok(hit.body.subarray(0, 4).equals(MAGIC));
    return { path: hit.path, object: decodeKubeProtobuf(hit.body) };
  }

  const RBAC = 'rbac.authorization.k8s.io';

  test('kubectl create role', async () => {
    const r = await body(['create', 'role', 'r1', '--verb=get,list', '--resource=pods,configmaps', '--resource-name=x'], '/roles');
    assert.match(r.path, /^\/apis\/rbac\.authorization\.k8s\.io\/v1\/namespaces\/default\/roles\?/);
    assert.deepEqual(r.object, {
      apiVersion: `${RBAC}/v1`,
      kind: 'Role',
      metadata: { name: 'r1' },
      // The core group is the empty string: an element, so kept.
      rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'configmaps'], resourceNames: ['x'] }],
    });
  });

  test('kubectl create clusterrole (non-resource URL, aggregation rule)', async () => {
    const a = await body(['create', 'clusterrole', 'cr1', '--verb=get', '--non-resource-url=/healthz'], '/clusterroles');
    assert.deepEqual(a.object, {
      apiVersion: `${RBAC}/v1`,
      kind: 'ClusterRole',
      metadata: { name: 'cr1' },
      rules: [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }],
    });
    const b = await body(['create', 'clusterrole', 'agg', '--aggregation-rule=team=a,tier=b'], '/clusterroles');
    assert.deepEqual(b.object, {
      apiVersion: `${RBAC}/v1`,
      kind: 'ClusterRole',
      metadata: { name: 'agg' },
      aggregationRule: { clusterRoleSelectors: [{ matchLabels: { team: 'a', tier: 'b' } }] },
    });
  });

  test('kubectl create rolebinding and clusterrolebinding', async () => {
    const a = await body(['create', 'rolebinding', 'rb1', '--role=r1', '--user=u1', '--serviceaccount=default:sa1'], '/rolebindings');
    assert.deepEqual(a.object, {
      apiVersion: `${RBAC}/v1`,
      kind: 'RoleBinding',
      metadata: { name: 'rb1' },
      subjects: [
        { kind: 'User', apiGroup: RBAC, name: 'u1' },
        { kind: 'ServiceAccount', name: 'sa1', namespace: 'default' },
      ],
      roleRef: { apiGroup: RBAC, kind: 'Role', name: 'r1' },
    });
    const b = await body(['create', 'clusterrolebinding', 'crb1', '--clusterrole=cr1', '--group=g1'], '/clusterrolebindings');
    assert.deepEqual(b.object, {
      apiVersion: `${RBAC}/v1`,
      kind: 'ClusterRoleBinding',
      metadata: { name: 'crb1' },
      subjects: [{ kind: 'Group', apiGroup: RBAC, name: 'g1' }],
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'cr1' },
    });
  });

  test('kubectl create token', async () => {
    await ts.ok(['create', 'serviceaccount', 'tok-sa']);
    const a = await body(
      [
        'create',
        'token',
        'tok-sa',
        '--audience=a1',
        '--audience=a2',
        '--duration=10m',
        '--bound-object-kind=Secret',
        '--bound-object-name=s1',
        '--bound-object-uid=u-1',
      ],
      '/token',
    );
    assert.equal(a.path, '/api/v1/namespaces/default/serviceaccounts/tok-sa/token');
    assert.deepEqual(a.object, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: {},
      spec: { audiences: ['a1', 'a2'], boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: 's1', uid: 'u-1' }, expirationSeconds: 600 },
      // Go's TokenRequestStatus.token has no omitempty.
      status: { token: '' },
    });
    // Without flags: no expirationSeconds (a *int64 left nil), no audiences.
    const b = await body(['create', 'token', 'tok-sa'], '/token');
    assert.deepEqual(b.object, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: {}, spec: {}, status: { token: '' } });
  });

  test('kubectl auth can-i (SelfSubjectAccessReview, SelfSubjectRulesReview)', async () => {
    const AUTHZ = 'authorization.k8s.io/v1';
    const a = await body(['auth', 'can-i', 'create', 'pods', '--subresource=eviction', '-n', 'kube-system'], '/selfsubjectaccessreviews');
    assert.equal(a.path, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews');
    assert.deepEqual(a.object, {
      apiVersion: AUTHZ,
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: { resourceAttributes: { namespace: 'kube-system', verb: 'create', resource: 'pods', subresource: 'eviction' } },
      // Go's SubjectAccessReviewStatus.allowed has no omitempty.
      status: { allowed: false },
    });
    const b = await body(['auth', 'can-i', 'get', '/healthz'], '/selfsubjectaccessreviews');
    assert.deepEqual(b.object, {
      apiVersion: AUTHZ,
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: { nonResourceAttributes: { path: '/healthz', verb: 'get' } },
      status: { allowed: false },
    });
    const c = await body(['auth', 'can-i', '--list', '-n', 'pb-x'], '/selfsubjectrulesreviews');
    assert.deepEqual(c.object, { apiVersion: AUTHZ, kind: 'SelfSubjectRulesReview', metadata: {}, spec: { namespace: 'pb-x' }, status: { incomplete: false } });
  });

  test('kubectl auth whoami (SelfSubjectReview)', async () => {
    const a = await body(['auth', 'whoami'], '/apis/authentication.k8s.io/v1/selfsubjectreviews');
    assert.deepEqual(a.object, { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: {}, status: { userInfo: {} } });
  });
});

// ---- the same commands end to end, now that the RBAC, token and review kinds are served -------------

describe('kubectl RBAC, token and auth commands end to end', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(async () => {
    await ts?.close();
  });

  const RBAC = '/apis/rbac.authorization.k8s.io/v1';

  test('kubectl create role / clusterrole store the rules kubectl sent', async () => {
    assert.match(
      await ts.ok(['create', 'role', 'e2e-r', '--verb=get,list', '--resource=pods,configmaps', '--resource-name=x']),
      /role\.rbac\.authorization\.k8s\.io\/e2e-r created/,
    );
    const role = await api(ts.server, 'GET', `${RBAC}/namespaces/default/roles/e2e-r`);
    assert.equal(role.status, 200);
    assert.deepEqual(role.body.rules, [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'configmaps'], resourceNames: ['x'] }]);

    await ts.ok(['create', 'clusterrole', 'e2e-cr', '--verb=get', '--non-resource-url=/healthz']);
    const cr = await api(ts.server, 'GET', `${RBAC}/clusterroles/e2e-cr`);
    assert.deepEqual(cr.body.rules, [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }]);

    await ts.ok(['create', 'clusterrole', 'e2e-agg', '--aggregation-rule=team=a']);
    const agg = await api(ts.server, 'GET', `${RBAC}/clusterroles/e2e-agg`);
    assert.deepEqual(agg.body.aggregationRule, { clusterRoleSelectors: [{ matchLabels: { team: 'a' } }] });
  });

  test('kubectl create rolebinding / clusterrolebinding store subjects and roleRef', async () => {
    await ts.ok(['create', 'rolebinding', 'e2e-rb', '--role=e2e-r', '--user=u1', '--serviceaccount=default:sa1']);
    const rb = await api(ts.server, 'GET', `${RBAC}/namespaces/default/rolebindings/e2e-rb`);
    assert.equal(rb.status, 200);
    assert.deepEqual(rb.body.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'e2e-r' });
    assert.deepEqual(
      rb.body.subjects.map((s: { kind: string; name: string; namespace?: string }) => [s.kind, s.name, s.namespace]),
      [
        ['User', 'u1', undefined],
        ['ServiceAccount', 'sa1', 'default'],
      ],
    );

    await ts.ok(['create', 'clusterrolebinding', 'e2e-crb', '--clusterrole=e2e-cr', '--group=g1']);
    const crb = await api(ts.server, 'GET', `${RBAC}/clusterrolebindings/e2e-crb`);
    assert.deepEqual(crb.body.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'e2e-cr' });
    assert.deepEqual(crb.body.subjects, [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'g1' }]);
  });

  test('kubectl create token: audiences and duration reach the issued token', async () => {
    await ts.ok(['create', 'serviceaccount', 'e2e-sa']);
    const jwt = (await ts.ok(['create', 'token', 'e2e-sa', '--audience=aud-1', '--duration=10m'])).trim();
    const parts = jwt.split('.');
    assert.equal(parts.length, 3, jwt);
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    assert.equal(claims.sub, 'system:serviceaccount:default:e2e-sa');
    assert.deepEqual([claims.aud].flat(), ['aud-1']);
    assert.equal(claims.exp - claims.iat, 600);
  });

  test('kubectl auth whoami and can-i', async () => {
    assert.match(await ts.ok(['auth', 'whoami']), /Username\s+kubeve-admin/);
    assert.equal((await ts.ok(['auth', 'can-i', 'create', 'pods', '--subresource=eviction', '-n', 'kube-system'])).trim(), 'yes');
    assert.equal((await ts.ok(['auth', 'can-i', 'get', '/healthz'])).trim(), 'yes');
    assert.match(await ts.ok(['auth', 'can-i', '--list']), /Resources\s+Non-Resource URLs/);
  });
});

// ---- option and subresource bodies client-go sends in protobuf ---------------------------------------

describe('client-go option and subresource bodies (DeleteOptions, Binding, Scale)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(async () => {
    await ts?.close();
  });

  // Node's client does not frame a DELETE body by itself: without a Content-Length it would go unframed.
  const del = (path: string, body: Buffer) => api(ts.server, 'DELETE', path, body, { 'Content-Type': PB, 'Content-Length': String(body.length) });
  const deleteOptions = (apiVersion: string, fields: Parameters<typeof create<typeof DeleteOptionsSchema>>[1]) =>
    envelope(apiVersion, 'DeleteOptions', toBinary(DeleteOptionsSchema, create(DeleteOptionsSchema, fields)));

  test('DeleteOptions: preconditions, propagation policy and dry run are honoured (helm uninstall sends these)', async () => {
    const S = '/api/v1/namespaces/default/secrets';
    const made = await api(ts.server, 'POST', S, { metadata: { name: 'rel' }, stringData: { a: 'b' } });
    assert.equal(made.status, 201);
    const stale = await del(`${S}/rel`, deleteOptions('v1', { preconditions: { uid: 'not-the-uid' } }));
    assert.equal(stale.status, 409, JSON.stringify(stale.body));
    const dry = await del(`${S}/rel`, deleteOptions('v1', { dryRun: ['All'], propagationPolicy: 'Background' }));
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal((await api(ts.server, 'GET', `${S}/rel`)).status, 200, 'a dry-run delete keeps the object');
    const gone = await del(
      `${S}/rel`,
      deleteOptions('v1', { preconditions: { uid: made.body.metadata.uid }, propagationPolicy: 'Background', gracePeriodSeconds: 0n }),
    );
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal((await api(ts.server, 'GET', `${S}/rel`)).status, 404);
  });

  test('DeleteOptions in the group version of the resource (or meta.k8s.io/v1) is accepted', async () => {
    const R = '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles';
    for (const [name, gv] of [
      ['r-rbac', 'rbac.authorization.k8s.io/v1'],
      ['r-meta', 'meta.k8s.io/v1'],
    ]) {
      assert.equal((await api(ts.server, 'POST', R, { metadata: { name }, rules: [] })).status, 201);
      const r = await del(`${R}/${name}`, deleteOptions(gv, { propagationPolicy: 'Foreground' }));
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  });

  test('a protobuf body of another kind on DELETE is a 400 and deletes nothing', async () => {
    const CM = '/api/v1/namespaces/default/configmaps';
    assert.equal((await api(ts.server, 'POST', CM, { metadata: { name: 'keep' } })).status, 201);
    const r = await del(`${CM}/keep`, envelope('v1', 'ConfigMap', toBinary(ConfigMapSchema, create(ConfigMapSchema, { metadata: { name: 'keep' } }))));
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, /DeleteOptions/);
    assert.equal((await api(ts.server, 'GET', `${CM}/keep`)).status, 200);
  });

  test("Binding: the scheduler's protobuf pods/binding sets spec.nodeName", async () => {
    const P = '/api/v1/namespaces/default/pods';
    assert.equal((await api(ts.server, 'POST', P, { metadata: { name: 'bp' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } })).status, 201);
    const binding = toBinary(BindingSchema, create(BindingSchema, { metadata: { name: 'bp' }, target: { apiVersion: 'v1', kind: 'Node', name: 'edge-7' } }));
    const r = await post(ts, `${P}/bp/binding`, envelope('v1', 'Binding', binding));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal((await api(ts.server, 'GET', `${P}/bp`)).body.spec.nodeName, 'edge-7');
  });

  test('Scale: a protobuf autoscaling/v1 Scale PUT to a scale subresource sets the replicas', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'gadgets.pb.kubeve.io' },
      spec: {
        group: 'pb.kubeve.io',
        scope: 'Namespaced',
        names: { kind: 'Gadget', plural: 'gadgets', singular: 'gadget', listKind: 'GadgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { replicas: { type: 'integer' } } },
                  status: { type: 'object', properties: { replicas: { type: 'integer' } } },
                },
              },
            },
            subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
          },
        ],
      },
    };
    assert.equal((await api(ts.server, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status, 201);
    const G = '/apis/pb.kubeve.io/v1/namespaces/default/gadgets';
    let made;
    for (let i = 0; i < 50; i++) {
      made = await api(ts.server, 'POST', G, { apiVersion: 'pb.kubeve.io/v1', kind: 'Gadget', metadata: { name: 'g' }, spec: { replicas: 1 } });
      if (made.status !== 404) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(made!.status, 201, JSON.stringify(made!.body));
    const scale = toBinary(ScaleSchema, create(ScaleSchema, { metadata: { name: 'g', namespace: 'default' }, spec: { replicas: 4 } }));
    const r = await api(ts.server, 'PUT', `${G}/g/scale`, envelope('autoscaling/v1', 'Scale', scale), { 'Content-Type': PB });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.spec.replicas, 4);
    assert.equal((await api(ts.server, 'GET', `${G}/g`)).body.spec.replicas, 4);
  });
});

// ---- leader election and event recording, as client-go writes them in protobuf -------------------------

describe('client-go Lease and Event bodies', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(async () => {
    await ts?.close();
  });

  const at = (iso: string) => {
    const ms = Date.parse(iso);
    return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 + 123_000 };
  };

  test('Lease: leader election creates and renews with MicroTime timestamps', async () => {
    const L = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
    const lease = (renew: string, rv?: string) =>
      envelope(
        'coordination.k8s.io/v1',
        'Lease',
        toBinary(
          LeaseSchema,
          create(LeaseSchema, {
            metadata: { name: 'ctrl', namespace: 'default', resourceVersion: rv },
            spec: {
              holderIdentity: 'pod-a_1234',
              leaseDurationSeconds: 15,
              acquireTime: at('2026-12-03T10:00:00.500Z'),
              renewTime: at(renew),
              leaseTransitions: 0,
            },
          }),
        ),
      );
    const made = await post(ts, L, lease('2026-12-03T10:00:00.500Z'));
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.deepEqual(made.body.spec, {
      holderIdentity: 'pod-a_1234',
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
      acquireTime: '2026-12-03T10:00:00.500123Z',
      renewTime: '2026-12-03T10:00:00.500123Z',
    });
    const renewed = await api(ts.server, 'PUT', `${L}/ctrl`, lease('2026-12-03T10:00:10.250Z', made.body.metadata.resourceVersion), { 'Content-Type': PB });
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.equal(renewed.body.spec.renewTime, '2026-12-03T10:00:10.250123Z');
    const stale = await api(ts.server, 'PUT', `${L}/ctrl`, lease('2026-12-03T10:00:20.000Z', made.body.metadata.resourceVersion), { 'Content-Type': PB });
    assert.equal(stale.status, 409, 'a renewal from an old resourceVersion conflicts, as leader election relies on');
  });

  test('Event (core/v1) from the event recorder', async () => {
    const ev = toBinary(
      EventSchema,
      create(EventSchema, {
        metadata: { name: 'pod-a.17f', namespace: 'default' },
        involvedObject: { kind: 'Pod', namespace: 'default', name: 'pod-a', uid: 'u-1', apiVersion: 'v1' },
        reason: 'Started',
        message: 'Started container',
        source: { component: 'kubelet', host: 'edge-1' },
        firstTimestamp: { seconds: 1764756000n },
        lastTimestamp: { seconds: 1764756000n },
        count: 1,
        type: 'Normal',
      }),
    );
    const r = await post(ts, '/api/v1/namespaces/default/events', envelope('v1', 'Event', ev));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.reason, 'Started');
    assert.deepEqual(r.body.source, { component: 'kubelet', host: 'edge-1' });
    assert.equal(r.body.firstTimestamp, '2025-12-03T10:00:00Z');
    assert.equal(r.body.count, 1);
  });

  test('Event (events.k8s.io/v1) with a series', async () => {
    const ev = toBinary(
      EventsV1EventSchema,
      create(EventsV1EventSchema, {
        metadata: { name: 'ctrl.18a', namespace: 'default' },
        eventTime: at('2026-12-03T10:00:00.000Z'),
        series: { count: 2, lastObservedTime: at('2026-12-03T10:01:00.000Z') },
        reportingController: 'example.com/ctrl',
        reportingInstance: 'ctrl-0',
        action: 'Reconcile',
        reason: 'Synced',
        regarding: { kind: 'ConfigMap', namespace: 'default', name: 'c', apiVersion: 'v1' },
        note: 'synced',
        type: 'Normal',
      }),
    );
    const r = await post(ts, '/apis/events.k8s.io/v1/namespaces/default/events', envelope('events.k8s.io/v1', 'Event', ev));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.eventTime, '2026-12-03T10:00:00.000123Z');
    assert.deepEqual(r.body.series, { count: 2, lastObservedTime: '2026-12-03T10:01:00.000123Z' });
    assert.equal(r.body.regarding.name, 'c');
  });
});

// ---- protobuf responses -----------------------------------------------------------------------------------

describe('protobuf responses for clients that ask for them first', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(async () => {
    await ts?.close();
  });

  const CLIENT_GO = `${PB},application/json`;
  /** GET with a raw body, so protobuf bytes are not mangled into a string. */
  const getRaw = (path: string, accept: string) =>
    new Promise<{ status: number; type?: string; body: Buffer }>((resolve, reject) => {
      const req = https.request(
        ts.server.url + path,
        { headers: { Authorization: `Bearer ${ts.server.adminToken}`, Accept: accept }, ca: ts.server.caPem },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  test('a get and a list of a built-in kind come back in protobuf and decode to the JSON answer', async () => {
    const CM = '/api/v1/namespaces/default/configmaps';
    for (const name of ['p1', 'p2'])
      assert.equal((await api(ts.server, 'POST', CM, { metadata: { name, labels: { a: 'b' } }, data: { k: name }, binaryData: { b: 'AAE=' } })).status, 201);
    const one = await getRaw(`${CM}/p1`, CLIENT_GO);
    assert.equal(one.status, 200);
    assert.equal(one.type, PB);
    assert.deepEqual(decodeKubeProtobuf(one.body), (await api(ts.server, 'GET', `${CM}/p1`)).body);

    const list = await getRaw(CM, CLIENT_GO);
    assert.equal(list.type, PB);
    const unknown = fromBinary(UnknownSchema, list.body.subarray(4));
    assert.deepEqual([unknown.typeMeta?.apiVersion, unknown.typeMeta?.kind], ['v1', 'ConfigMapList']);
    const decoded = fromBinary(ConfigMapListSchema, unknown.raw);
    const json = (await api(ts.server, 'GET', CM)).body;
    assert.equal(decoded.metadata?.resourceVersion, json.metadata.resourceVersion);
    assert.deepEqual(
      decoded.items.map((i) => [i.metadata?.name, i.data.k, Buffer.from(i.binaryData.b).toString('hex')]),
      [
        ['p1', 'p1', '0001'],
        ['p2', 'p2', '0001'],
      ],
    );
  });

  test('JSON when the client prefers it, for kinds without a message, and for objects the message cannot carry', async () => {
    assert.equal((await getRaw('/api/v1/namespaces/default/configmaps/p1', `application/json,${PB}`)).type, 'application/json');
    assert.equal((await getRaw('/api/v1/namespaces/default/configmaps/p1', `${PB};q=0,application/json`)).type, 'application/json');
    const pod = await api(ts.server, 'POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'pp' },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    });
    assert.equal(pod.status, 201);
    const p = await getRaw('/api/v1/namespaces/default/pods/pp', CLIENT_GO);
    assert.equal(p.type, 'application/json');
    assert.equal(JSON.parse(p.body.toString()).metadata.name, 'pp');
    // Protobuf only, for a kind served without it: 406, as kube-apiserver answers for custom resources.
    assert.equal((await getRaw('/api/v1/namespaces/default/pods/pp', PB)).status, 406);
  });

  test('encoder: exact or nothing', () => {
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'a',
        namespace: 'default',
        uid: 'u',
        resourceVersion: '5',
        generation: 2,
        creationTimestamp: '2026-12-03T10:00:00Z',
        labels: { x: 'y' },
        managedFields: [
          { manager: 'm', operation: 'Apply', apiVersion: 'v1', time: '2026-12-03T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:k': {} } } },
        ],
      },
      data: { k: 'v' },
      immutable: false,
    };
    assert.deepEqual(decodeKubeProtobuf(encodeKubeProtobuf(cm)!), cm);
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'l' },
      spec: { holderIdentity: 'h', leaseDurationSeconds: 15, renewTime: '2026-12-03T10:00:00.000001Z' },
    };
    assert.deepEqual(decodeKubeProtobuf(encodeKubeProtobuf(lease)!), lease);
    // Not exactly representable: JSON instead.
    assert.equal(encodeKubeProtobuf({ ...cm, extra: 1 }), undefined, 'a field the message lacks');
    assert.equal(encodeKubeProtobuf({ ...cm, metadata: { ...cm.metadata, creationTimestamp: '2026-12-03T10:00:00.5Z' } }), undefined, 'sub-second metav1.Time');
    assert.equal(encodeKubeProtobuf({ ...cm, data: { k: 1 } }), undefined, 'a number where a string belongs');
    assert.equal(encodeKubeProtobuf({ ...cm, binaryData: { b: 'not base64!' } }), undefined, 'bytes that are not base64');
    assert.equal(encodeKubeProtobuf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } }), undefined, 'a kind without a message');
    assert.equal(
      encodeKubeProtobuf({ apiVersion: 'v1', kind: 'ConfigMapList', metadata: {}, items: [{ ...cm, kind: 'Secret' }] }),
      undefined,
      'a list item of another kind',
    );
  });
});

// ---- bad bodies --------------------------------------------------------------------------------------

describe('bad protobuf bodies are refused and change nothing', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(async () => {
    await ts?.close();
  });

  const CM = '/api/v1/namespaces/default/configmaps';

  async function refused(body: Buffer, code: number, reason: string, message: RegExp) {
    const before = await ts.server.storage.currentRevision();
    const r = await post(ts, CM, body);
    assert.equal(r.status, code, JSON.stringify(r.body));
    assert.equal(r.body.kind, 'Status');
    assert.equal(r.body.reason, reason);
    assert.match(r.body.message, message);
    assert.equal(await ts.server.storage.currentRevision(), before, 'store revision unchanged');
    assert.equal((await api(ts.server, 'GET', `${CM}/bad`)).status, 404);
  }

  const cm = (fields: Parameters<typeof create<typeof ConfigMapSchema>>[1]) => toBinary(ConfigMapSchema, create(ConfigMapSchema, fields));

  test('missing magic prefix → 400', async () => {
    await refused(Buffer.from(cm({ metadata: { name: 'bad' } })), 400, 'BadRequest', /does not appear to be a protobuf message/);
  });

  test('magic only → 400', async () => {
    await refused(MAGIC, 400, 'BadRequest', /empty body/);
  });

  test('truncated envelope → 400', async () => {
    const good = envelope('v1', 'ConfigMap', cm({ metadata: { name: 'bad' } }));
    await refused(good.subarray(0, good.length - 3), 400, 'BadRequest', /malformed/);
  });

  test('object bytes with a wrong wire type → 400', async () => {
    // Field 1 (metadata) as a varint instead of a length-delimited message.
    await refused(envelope('v1', 'ConfigMap', new Uint8Array([0x08, 0x01])), 400, 'BadRequest', /ConfigMap in version "v1" cannot be decoded/);
  });

  test('envelope without a kind → 400', async () => {
    await refused(envelope('v1', '', cm({ metadata: { name: 'bad' } })), 400, 'BadRequest', /Kind' is missing/);
  });

  test('a kind without a protobuf decoder → 415 naming it', async () => {
    await refused(
      envelope('networking.k8s.io/v1', 'Ingress', new Uint8Array([0x0a, 0x05, 0x0a, 0x03, 0x62, 0x61, 0x64])),
      415,
      'UnsupportedMediaType',
      /"Ingress" in version "networking.k8s.io\/v1"/,
    );
  });

  test('a valid body through the same path is created, keeping explicit false on a pointer field', async () => {
    const r = await post(
      ts,
      CM,
      envelope('v1', 'ConfigMap', cm({ metadata: { name: 'good', labels: { app: 'x' }, creationTimestamp: {} }, data: { k: 'v' }, immutable: false })),
    );
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.immutable, false);
    assert.deepEqual(r.body.metadata.labels, { app: 'x' });
    assert.deepEqual(r.body.data, { k: 'v' });
  });
});

// ---- decoder unit checks -------------------------------------------------------------------------------

test("decoder: DeleteOptions keeps pointer fields set to their zero value, as Go's JSON would", () => {
  const body = toBinary(
    DeleteOptionsSchema,
    create(DeleteOptionsSchema, { gracePeriodSeconds: 0n, orphanDependents: false, propagationPolicy: '', preconditions: { resourceVersion: '' } }),
  );
  assert.deepEqual(decodeKubeProtobuf(envelope('v1', 'DeleteOptions', body)), {
    apiVersion: 'v1',
    kind: 'DeleteOptions',
    gracePeriodSeconds: 0,
    orphanDependents: false,
    propagationPolicy: '',
    preconditions: { resourceVersion: '' },
  });
  const scale = toBinary(ScaleSchema, create(ScaleSchema, { spec: {}, status: { replicas: 0 } }));
  assert.deepEqual(decodeKubeProtobuf(envelope('autoscaling/v1', 'Scale', scale)), {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    spec: {},
    status: { replicas: 0 },
  });
});

test('decoder: Time, FieldsV1, int64 and omitempty follow Go JSON', () => {
  const secret = toBinary(
    SecretSchema,
    create(SecretSchema, {
      metadata: {
        name: 's',
        generation: 0n,
        deletionGracePeriodSeconds: 0n,
        creationTimestamp: { seconds: 1700000000n, nanos: 5 },
        deletionTimestamp: {},
        managedFields: [
          { manager: 'm', operation: 'Apply', time: { seconds: 1700000001n }, fieldsType: 'FieldsV1', fieldsV1: { Raw: Buffer.from('{"f:data":{}}') } },
        ],
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'u', controller: false }],
      },
      stringData: { a: '' },
      type: '',
    }),
  );
  assert.deepEqual(decodeKubeProtobuf(envelope('v1', 'Secret', secret)), {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 's',
      creationTimestamp: '2023-11-14T22:13:20Z',
      deletionGracePeriodSeconds: 0,
      managedFields: [{ manager: 'm', operation: 'Apply', time: '2023-11-14T22:13:21Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } }],
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'u', controller: false }],
    },
    stringData: { a: '' },
  });
});

test('decoder: IntOrString, Quantity, inlined structs and pointer zeros of a Deployment follow Go JSON', () => {
  const d = toBinary(
    DeploymentSchema,
    create(DeploymentSchema, {
      metadata: { name: 'd' },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'd' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: { type: 0n, intVal: 0 }, maxSurge: { type: 1n, strVal: '50%' } } },
        template: {
          metadata: { labels: { app: 'd' } },
          spec: {
            containers: [
              {
                name: 'c',
                image: 'i',
                resources: { limits: { cpu: { string: '500m' } } },
                readinessProbe: { handler: { httpGet: { path: '/', port: { type: 1n, strVal: 'http' } } }, periodSeconds: 5 },
              },
            ],
            volumes: [{ name: 'v', volumeSource: { emptyDir: {} } }],
            terminationGracePeriodSeconds: 0n,
          },
        },
      },
    }),
  );
  assert.deepEqual(decodeKubeProtobuf(envelope('apps/v1', 'Deployment', d)), {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd' },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'd' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '50%' } },
      template: {
        metadata: { labels: { app: 'd' } },
        spec: {
          containers: [
            {
              name: 'c',
              image: 'i',
              resources: { limits: { cpu: '500m' } },
              readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 5 },
            },
          ],
          volumes: [{ name: 'v', emptyDir: {} }],
          terminationGracePeriodSeconds: 0,
        },
      },
    },
  });
});
