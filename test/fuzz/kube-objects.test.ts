// Fuzz: hostile objects against a real kubeve (API server, CRD/namespace/GC controllers, EVE
// controllers) over HTTPS, for every served kind and the EVE CRDs, through create, update, merge /
// JSON / strategic patch, server-side apply, delete and namespace deletion. Invariants: never a 5xx
// for client input; the server stays up; whatever was stored can be read, listed, watched,
// patched and deleted; the real kubectl decodes everything the server returns; `kubectl delete
// ns` completes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import fc from 'fast-check';
import YAML from 'yaml';
import { startEveEnv, eventually, type EveTestEnv } from '../eve-e2e/helpers.ts';
import { api } from '../helpers/server.ts';
import {
  check,
  fuzzParams,
  hostileValue,
  labelled,
  HOLE,
  HOSTILE_JSON_PATCHES,
  INVALID_NUMERALS,
  MALFORMED_JSON,
  MALFORMED_YAML,
  MALFORMED_PROTOBUF,
  ODD_NUMERALS,
  nestedText,
  unicodeEdge,
  withHole,
  yamlAliasBomb,
  type Labelled,
} from './arbitraries.ts';
import { BLOB_CRD, KINDS, baseObject, collectionPath, type FuzzKind } from './kinds.ts';

let env: EveTestEnv;
let seq = 0;

before(async () => {
  env = await startEveEnv({ eve: { offlineTimeoutMs: 3_600_000, debounceMs: 20 } });
  assert.equal((await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', JSON.stringify(BLOB_CRD))).status, 201);
  await env.ok(['wait', '--for=condition=established', '--timeout=20s', 'crd/blobs.fuzz.kubeve.io']);
});
after(async () => {
  await env?.close();
});

type Res = Awaited<ReturnType<typeof api>>;
const CT = {
  json: 'application/json',
  yaml: 'application/yaml',
  merge: 'application/merge-patch+json',
  jsonPatch: 'application/json-patch+json',
  smp: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
  proto: 'application/vnd.kubernetes.protobuf',
};

/** An admin request; a server that never answers counts as status 0 (a violation), not a hung test. */
function call(method: string, path: string, body?: string | Buffer, contentType = CT.json): Promise<Res> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Res>((resolve) => {
    timer = setTimeout(() => resolve({ status: 0, body: `no answer to ${method} ${path} within 30 s`, headers: {} }), 30_000);
  });
  const req = api(env.k.api, method, path, body, body === undefined ? {} : { 'Content-Type': contentType }).catch(
    (e: Error): Res => ({ status: 0, body: `connection failed: ${e.message}`, headers: {} }),
  );
  return Promise.race([req, timeout]).finally(() => clearTimeout(timer));
}

/** KUBEVE_FUZZ_COLLECT=1 (diagnosis): print every violation and go on instead of stopping at the first. */
const COLLECT = process.env.KUBEVE_FUZZ_COLLECT === '1';
function expect(ok: boolean, msg: string): void {
  if (ok) return;
  if (COLLECT) console.log(`# VIOLATION ${msg.replace(/\n/g, ' ')}`);
  else assert.fail(msg);
}

function no5xx(r: Res, what: string): void {
  expect(
    r.status >= 200 && r.status < 500,
    `${what} → ${r.status} ${typeof r.body === 'string' ? r.body.slice(0, 300) : JSON.stringify(r.body).slice(0, 300)}`,
  );
}

// ---- hostile objects ------------------------------------------------------------------------------

/** A value nested deeper than JSON.stringify could write: serialized by splicing text. */
class Deep {
  constructor(
    readonly depth: number,
    readonly shape: 'object' | 'array',
  ) {}
}

/** JSON text of a value that may hold Deep markers. */
function toJson(v: unknown): string {
  const deep: Deep[] = [];
  const text = JSON.stringify(v, (_k, x) => (x instanceof Deep ? `@@DEEP${deep.push(x) - 1}@@` : x));
  return text.replace(/"@@DEEP(\d+)@@"/g, (_m, i: string) => nestedText(deep[Number(i)]!.depth, deep[Number(i)]!.shape));
}

const anyHostile = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 5, arbitrary: hostileValue().filter((v) => !isHugeNested(v)) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(50, 1000, 3500, 12_000), fc.constantFrom<'object' | 'array'>('object', 'array')).map(([d, s]) => new Deep(d, s)),
    },
  );

/** hostileValue's own deep values are replaced by Deep markers (cheap to carry and print). */
function isHugeNested(v: unknown): boolean {
  let d = 0;
  while (v && typeof v === 'object' && d < 30) {
    v = Array.isArray(v) ? v[0] : (v as Record<string, unknown>).a;
    d++;
  }
  return d >= 30;
}

/** Where a hostile value goes: every metadata field, a label/annotation key or value, the body. */
const TARGETS: string[][] = [
  ['metadata', 'name'],
  ['metadata', 'generateName'],
  ['metadata', 'namespace'],
  ['metadata', 'labels'],
  ['metadata', 'labels', 'k'],
  ['metadata', 'annotations'],
  ['metadata', 'annotations', 'k'],
  ['metadata', 'finalizers'],
  ['metadata', 'finalizers', '0'],
  ['metadata', 'ownerReferences'],
  ['metadata', 'ownerReferences', '0'],
  ['metadata', 'ownerReferences', '0', 'uid'],
  ['metadata', 'resourceVersion'],
  ['metadata', 'uid'],
  ['metadata', 'creationTimestamp'],
  ['metadata', 'deletionTimestamp'],
  ['metadata', 'deletionGracePeriodSeconds'],
  ['metadata', 'generation'],
  ['metadata', 'managedFields'],
  ['metadata', 'managedFields', '0', 'fieldsV1'],
  ['metadata', 'selfLink'],
  ['metadata'],
  ['apiVersion'],
  ['kind'],
  ['spec'],
  ['spec', 'x'],
  ['data'],
  ['data', 'k'],
  ['status'],
  ['extra'],
];

interface Mutation {
  path: string[];
  /** A hostile key instead of a hostile value (labels/annotations/data keys). */
  key?: string;
  value: unknown;
}

const mutation = (): fc.Arbitrary<Mutation> =>
  fc
    .oneof(
      { weight: 4, arbitrary: fc.record<Mutation>({ path: fc.constantFrom(...TARGETS), value: anyHostile() }) },
      {
        weight: 1,
        arbitrary: fc.record<Mutation>({
          path: fc.constantFrom<string[]>(['metadata', 'labels'], ['metadata', 'annotations'], ['data'], ['spec']),
          key: fc.oneof(unicodeEdge(), fc.constantFrom('a/b/c', '/x', 'x/', 'kubernetes.io/', 'a'.repeat(300), '')),
          value: fc.constant<unknown>('v'),
        }),
      },
    )
    .map((m) => ({ ...m, [fc.toStringMethod]: () => show(m) }));

function show(m: Mutation): string {
  return `${m.path.join('.')}${m.key !== undefined ? `[key ${JSON.stringify(m.key).slice(0, 60)}]` : ''} = ${describe(m.value)}`;
}

function describe(v: unknown): string {
  if (v instanceof Deep) return `${v.shape} nested ${v.depth}`;
  const s = typeof v === 'string' ? JSON.stringify(v.length > 60 ? `${v.slice(0, 30)}…(${v.length} chars)` : v) : JSON.stringify(v);
  return s === undefined ? String(v) : s.slice(0, 120);
}

/** Sets (or adds a key at) the mutation's path in a copy of obj. */
function applyMutation(obj: Record<string, unknown>, m: Mutation): Record<string, unknown> {
  const out = structuredClone(obj);
  let cur: any = out;
  const path = m.key !== undefined ? [...m.path, m.key] : m.path;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    if (cur[k] === null || typeof cur[k] !== 'object') cur[k] = /^\d+$/.test(path[i + 1]!) ? [] : {};
    cur = cur[k];
  }
  cur[path.at(-1)!] = m.value;
  return out;
}

/** The merge patch that sets the mutation's path. */
function mergePatchOf(m: Mutation): Record<string, unknown> {
  return applyMutation({}, m);
}

const pointer = (path: string[]) => '/' + path.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

// ---- watch --------------------------------------------------------------------------------------------

/** The first event of a watch on one object (resourceVersion=0: the current state as ADDED). */
function firstWatchEvent(path: string, name: string): Promise<{ status: number; event?: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${env.k.api.url}${path}?watch=1&resourceVersion=0&fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`,
      {
        headers: { Authorization: `Bearer ${env.k.api.adminToken}`, Accept: 'application/json' },
        ca: env.k.api.caPem,
      },
      (res) => {
        let buf = '';
        const timer = setTimeout(() => {
          req.destroy();
          resolve({ status: res.statusCode! });
        }, 5000);
        res.on('data', (d: Buffer) => {
          buf += d.toString();
          const nl = buf.indexOf('\n');
          if (nl >= 0) {
            clearTimeout(timer);
            req.destroy();
            resolve({ status: res.statusCode!, event: JSON.parse(buf.slice(0, nl)) });
          }
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode!, event: buf ? JSON.parse(buf.split('\n')[0]!) : undefined });
        });
        res.on('error', () => undefined);
      },
    );
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    req.end();
  });
}

// ---- bookkeeping and end checks -------------------------------------------------------------------------

interface Stored {
  k: FuzzKind;
  ns: string;
  name: string;
}

async function makeNamespace(prefix: string): Promise<string> {
  const ns = `${prefix}-${++seq}`;
  assert.equal((await call('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: ns } }))).status, 201);
  return ns;
}

/** kubectl decodes (get -o json, table, describe) every object left in the namespace and every stored cluster object; then it all goes away. */
async function decodeAndDelete(ns: string, stored: Stored[]): Promise<void> {
  const plurals = [
    ...new Set(KINDS.filter((k) => k.namespaced).map((k) => `${k.plural}${k.apiVersion.includes('.') ? '.' + k.apiVersion.split('/')[0] : ''}`)),
  ];
  const got = await env.kubectl(['get', plurals.join(','), '-n', ns, '-o', 'json']);
  expect(got.code === 0, `kubectl get -o json in ${ns}: ${got.stderr.slice(0, 1000)}`);
  if (got.code === 0) JSON.parse(got.stdout);
  // The table output decodes each row's object metadata into Go's typed ObjectMeta.
  const table = await env.kubectl(['get', plurals.join(','), '-n', ns]);
  expect(table.code === 0, `kubectl get (table) in ${ns}: ${table.stderr.slice(0, 1000)}`);
  // describe decodes built-in kinds into their Go types (where a label that is a list fails).
  const described = await env.kubectl(['describe', plurals.join(','), '-n', ns]);
  expect(described.code === 0, `kubectl describe in ${ns}: ${described.stderr.slice(0, 1000)}`);
  const clusterObjs = stored.filter((s) => !s.k.namespaced);
  for (const s of clusterObjs) {
    const type = `${s.k.plural}${s.k.apiVersion.includes('.') ? '.' + s.k.apiVersion.split('/')[0] : ''}`;
    const g = await env.kubectl(['get', type, s.name, '-o', 'json']);
    expect(g.code === 0 || /NotFound/.test(g.stderr), `kubectl get ${type} ${s.name}: ${g.stderr.slice(0, 600)}`);
    const t = await env.kubectl(['get', type, s.name]);
    expect(t.code === 0 || /NotFound/.test(t.stderr), `kubectl get ${type} ${s.name} (table): ${t.stderr.slice(0, 600)}`);
    const dsc = await env.kubectl(['describe', type, s.name]);
    expect(dsc.code === 0 || /NotFound/.test(dsc.stderr), `kubectl describe ${type} ${s.name}: ${dsc.stderr.slice(0, 600)}`);
    if (g.code === 0) {
      // Finalizers a fuzz case left would hold the delete forever; clearing them is the user's way out.
      await env.kubectl(['patch', type, s.name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
      const d = await env.kubectl(['delete', type, s.name, '--wait=false']);
      expect(d.code === 0 || /NotFound/.test(d.stderr), `kubectl delete ${type} ${s.name}: ${d.stderr.slice(0, 600)}`);
    }
  }
  for (const s of stored.filter((x) => x.k.namespaced)) {
    await call('PATCH', `${collectionPath(s.k, s.ns)}/${s.name}`, '{"metadata":{"finalizers":null}}', CT.merge);
  }
  const del = await env.kubectl(['delete', 'ns', ns, '--timeout=60s']);
  assert.equal(del.code, 0, `kubectl delete ns ${ns}: ${del.stderr.slice(0, 1000)}`);
  await eventually(async () => (await call('GET', `/api/v1/namespaces/${ns}`)).status === 404, 30_000, `namespace ${ns} gone`);
  await serverUp();
}

async function serverUp(): Promise<void> {
  assert.equal((await call('GET', '/readyz')).status, 200, 'server ready');
}

// ---- properties ------------------------------------------------------------------------------------------

test('hostile objects of every kind: create, read, list, watch, update, every patch type, apply, delete', async () => {
  const ns = await makeNamespace('fuzz-objects');
  const stored: Stored[] = [];
  await check(
    fc.asyncProperty(
      fc.constantFrom(...KINDS.map((k) => labelled(k.kind, k))),
      mutation(),
      mutation(),
      fc.constantFrom<'json' | 'yaml'>('json', 'yaml'),
      fc.boolean(),
      async ({ value: k }, m1, m2, format, deleteIt) => {
        const name = `fz-${++seq}`;
        const obj = applyMutation(baseObject(k, ns, name), m1);
        const text = format === 'json' || hasDeep(obj) ? toJson(obj) : YAML.stringify(obj);
        const coll = collectionPath(k, ns);
        const c = await call('POST', coll, text, format === 'json' ? CT.json : CT.yaml);
        no5xx(c, `create ${k.kind} with ${show(m1)}`);
        if (c.status !== 201 && c.status !== 200) return;
        const s: Stored = { k, ns, name: c.body.metadata.name };
        stored.push(s);
        const self = `${collectionPath(k, c.body.metadata.namespace ?? ns)}/${s.name}`;
        const owned = Array.isArray(c.body.metadata.ownerReferences) && c.body.metadata.ownerReferences.length > 0;
        const g = await call('GET', self);
        if (!(owned && g.status === 404)) {
          expect(g.status === 200, `read back ${k.kind} created with ${show(m1)} → ${g.status} ${String(JSON.stringify(g.body)).slice(0, 300)}`);
          const l = await call('GET', coll);
          expect(l.status === 200, `list ${k.kind}`);
          expect(!!l.body.items?.some((i: any) => i.metadata.name === s.name) || owned, 'listed');
          const w = await firstWatchEvent(coll, s.name);
          expect(w.status === 200, `watch ${k.kind} → ${w.status}`);
          expect(
            owned || (w.event?.type === 'ADDED' && w.event.object.metadata.name === s.name),
            `watch delivers ${s.name.slice(0, 80)}: ${String(JSON.stringify(w.event)).slice(0, 200)}`,
          );
        }
        // hostile writes on the stored object
        const cur = g.status === 200 ? g.body : c.body;
        no5xx(await call('PUT', self, toJson(applyMutation(cur, m2))), `update ${k.kind} with ${show(m2)}`);
        no5xx(await call('PATCH', self, toJson(mergePatchOf(m2)), CT.merge), `merge patch ${k.kind} with ${show(m2)}`);
        const p = m2.key !== undefined ? [...m2.path, m2.key] : m2.path;
        no5xx(await call('PATCH', self, toJson([{ op: 'add', path: pointer(p), value: m2.value }]), CT.jsonPatch), `JSON patch ${k.kind} add ${show(m2)}`);
        no5xx(
          await call(
            'PATCH',
            self,
            toJson([
              { op: 'replace', path: pointer(p), value: m2.value },
              { op: 'test', path: pointer(p), value: m2.value },
            ]),
            CT.jsonPatch,
          ),
          `JSON patch ${k.kind} replace ${show(m2)}`,
        );
        if (k.smp) no5xx(await call('PATCH', self, toJson(mergePatchOf(m2)), CT.smp), `strategic merge patch ${k.kind} with ${show(m2)}`);
        const applied = applyMutation(baseObject(k, ns, s.name), m2);
        if (k.kind === 'CustomResourceDefinition') (applied.metadata as any).name = s.name;
        no5xx(await call('PATCH', `${self}?fieldManager=fuzz&force=true`, toJson(applied), CT.apply), `server-side apply ${k.kind} with ${show(m2)}`);
        // still patchable by a user, and deletable
        const ok = await call('PATCH', self, '{"metadata":{"labels":{"fuzz":"ok"},"finalizers":null}}', CT.merge);
        expect(
          ok.status === 200 || (owned && ok.status === 404),
          `benign patch of ${k.kind} after ${show(m1)} / ${show(m2)} → ${ok.status} ${JSON.stringify(ok.body).slice(0, 300)}`,
        );
        if (deleteIt) {
          const d = await call('DELETE', self);
          expect([200, 202].includes(d.status) || (owned && d.status === 404), `delete ${k.kind} → ${d.status} ${JSON.stringify(d.body).slice(0, 300)}`);
        }
      },
    ),
    fuzzParams('kube hostile objects', 250),
  );
  await decodeAndDelete(ns, stored);
});

function hasDeep(v: unknown): boolean {
  let found = false;
  JSON.stringify(v, (_k, x) => {
    if (x instanceof Deep) found = true;
    return x;
  });
  return found;
}

/** Raw request bodies: JSON with numerals JS cannot hold, duplicate keys, malformed JSON/YAML/protobuf, alias bombs. */
const rawBody = (k: FuzzKind, ns: string): fc.Arbitrary<Labelled<{ text: string | Buffer; ct: string }>> => {
  const base = () => baseObject(k, ns, `raw-${++seq}`);
  const holeAt = (path: string[]) => applyMutation(base(), { path, value: HOLE });
  const holePaths = [
    ['metadata', 'generation'],
    ['metadata', 'deletionGracePeriodSeconds'],
    ['metadata', 'labels', 'k'],
    ['metadata', 'annotations', 'k'],
    ['data', 'k'],
    ['spec', 'n'],
    ['spec', 'replicas'],
    ['extra'],
  ];
  return fc.oneof(
    fc
      .tuple(fc.constantFrom(...ODD_NUMERALS, ...INVALID_NUMERALS), fc.constantFrom(...holePaths), fc.constantFrom(CT.json, CT.yaml))
      .map(([num, path, ct]) => labelled(`numeral ${num} at ${path.join('.')} as ${ct}`, { text: withHole(holeAt(path), num), ct })),
    fc.constantFrom(CT.json, CT.yaml).map((ct) => {
      const o = base();
      const t = JSON.stringify(o).replace('"metadata":{', `"metadata":{"name":"dup-a-${seq}",`).replace(/^\{/, '{"kind":"Nope",');
      return labelled(`duplicate keys (metadata.name, kind) as ${ct}`, { text: t, ct });
    }),
    fc.constant(0).map(() => {
      const t = JSON.stringify(base());
      return labelled('duplicate metadata object', { text: t.replace(/}$/, `,"metadata":{"name":"dup-meta-${seq}","labels":{"a":["x"]}}}`), ct: CT.json });
    }),
    fc.constantFrom(...MALFORMED_JSON).map((t) => labelled(`malformed JSON ${JSON.stringify(t.slice(0, 40))}`, { text: t, ct: CT.json })),
    fc.constantFrom(...MALFORMED_YAML).map((t) => labelled(`malformed YAML ${JSON.stringify(t.slice(0, 40))}`, { text: t, ct: CT.yaml })),
    fc.constantFrom(6, 9, 12).map((lv) => {
      const o = base();
      const y =
        YAML.stringify(o).replace(/\n$/, '') +
        `\nbomb:\n${yamlAliasBomb(lv)
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n')}\n`;
      return labelled(`YAML alias bomb of ${lv} levels in the object`, { text: y, ct: CT.yaml });
    }),
    fc
      .constantFrom(...MALFORMED_PROTOBUF)
      .map((b) => labelled(`protobuf garbage ${Buffer.from(b.subarray(0, 8)).toString('hex')}`, { text: Buffer.from(b), ct: CT.proto })),
    fc.constant(
      labelled('k8s protobuf magic then garbage', {
        text: Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])]),
        ct: CT.proto,
      }),
    ),
    fc.constantFrom(CT.json, CT.yaml).map((ct) => labelled(`spec nested 20,000 deep as ${ct}`, { text: withHole(holeAt(['spec']), nestedText(20_000)), ct })),
    fc.constantFrom(...HOSTILE_JSON_PATCHES).map(([what, t]) => labelled(`JSON patch: ${what}`, { text: t, ct: CT.jsonPatch })),
    fc.constant(labelled('lone surrogate escapes in names', { text: JSON.stringify(base()).replace(/"name":"([^"]+)"/, '"name":"$1\\ud800"'), ct: CT.json })),
  );
};

test('raw bodies (odd numerals, duplicate keys, malformed JSON/YAML/protobuf, alias bombs) on create, update and patch: never a 5xx', async () => {
  const ns = await makeNamespace('fuzz-raw');
  const stored: Stored[] = [];
  const target = KINDS.find((k) => k.kind === 'ConfigMap')!;
  assert.equal((await call('POST', collectionPath(target, ns), JSON.stringify(baseObject(target, ns, 'target')))).status, 201);
  await check(
    fc.asyncProperty(
      fc.constantFrom(...KINDS.map((k) => labelled(k.kind, k))).chain(({ value: k }) => fc.tuple(fc.constant(labelled(k.kind, k)), rawBody(k, ns))),
      fc.constantFrom('create', 'update', 'merge', 'apply', 'json-patch', 'strategic'),
      async (
        [
          { value: k },
          {
            label,
            value: { text, ct },
          },
        ],
        op,
      ) => {
        let r: Res;
        if (op === 'create') r = await call('POST', collectionPath(k, ns), text, ct);
        else if (op === 'update') r = await call('PUT', `${collectionPath(target, ns)}/target`, text, ct);
        else if (op === 'merge')
          r = await call('PATCH', `${collectionPath(target, ns)}/target`, text, ct === CT.json ? CT.merge : ct === CT.yaml ? CT.apply : ct);
        else if (op === 'json-patch' || ct === CT.jsonPatch) r = await call('PATCH', `${collectionPath(target, ns)}/target`, text, CT.jsonPatch);
        else if (op === 'strategic') r = await call('PATCH', `${collectionPath(target, ns)}/target`, text, CT.smp);
        else r = await call('PATCH', `${collectionPath(target, ns)}/target?fieldManager=fuzz`, text, CT.apply);
        no5xx(r, `${op} ${k.kind} with ${label}`);
        if (op === 'create' && (r.status === 201 || r.status === 200)) stored.push({ k, ns, name: r.body.metadata.name });
      },
    ),
    fuzzParams('kube raw bodies', 200),
  );
  // The target is still readable and patchable whatever was thrown at it.
  assert.equal((await call('PATCH', `${collectionPath(target, ns)}/target`, '{"data":{"still":"ok"}}', CT.merge)).status, 200);
  await decodeAndDelete(ns, stored);
});

test('after the fuzz the server serves kubectl as before', async () => {
  await serverUp();
  const out = await env.ok(['get', 'ns', '-o', 'name']);
  assert.match(out, /namespace\/default/);
});
