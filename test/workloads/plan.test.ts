// The placement preview, `kubeve plan -f`, run as a user would (the CLI as a child process, over the
// kubeconfig kubectl uses) against Nodes created with the real kubectl: it lists where each pod would
// land and why the rest would wait, writes nothing, matches what the scheduler then does on apply, and
// names the pods a high-priority workload would preempt.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startWorkloadServer, until, type WorkloadServer } from './helpers.ts';
import type { KObject } from '../../src/controllers/runtime/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
let t: WorkloadServer;
const dir = path.join(tmpdir(), `kubeve-plan-${process.pid}`);

const nodeYaml = (name: string, labels: string, taints = '[]') => `
apiVersion: v1
kind: Node
metadata: {name: ${name}, labels: {kubernetes.io/hostname: ${name}${labels}}}
spec: {taints: ${taints}}
status:
  capacity: {cpu: "2", memory: 8Gi, pods: "110"}
  allocatable: {cpu: "2", memory: 8Gi, pods: "110"}
  conditions: [{type: Ready, status: "True"}]
`;

before(async () => {
  t = await startWorkloadServer();
  await t.ok(
    ['create', '-f', '-'],
    [
      nodeYaml('lab1', ', site: lab'),
      nodeYaml('lab2', ', site: lab'),
      nodeYaml('other1', ''),
      nodeYaml('gpu1', ', site: lab', '[{key: gpu, value: "true", effect: NoSchedule}]'),
    ].join('---'),
  );
  (await import('node:fs')).mkdirSync(dir, { recursive: true });
});
after(async () => {
  await t?.close();
  (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
});

function kubeve(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args],
      { cwd: ROOT, env: { ...process.env, KUBECONFIG: t.server.kubeconfigPath } },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));

const manifest = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 5
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {site: lab}
      containers: [{name: c, image: nginx, resources: {requests: {cpu: "1"}}}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: c, image: agent}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
`;
const FULL =
  "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {gpu: true}, 2 Insufficient cpu. preemption: 0/4 nodes are available: 2 No preemption victims found for incoming pod., 2 Preemption is not helpful for scheduling..";

test('kubeve plan lists where each pod would land and why the fifth would wait; nothing is created', async () => {
  const file = path.join(dir, 'web.yaml');
  writeFileSync(file, manifest);
  const r = await kubeve(['plan', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /skipped Service\/web: not a workload the preview places/);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^WORKLOAD\s+NAMESPACE\s+POD\s+NODE\s+PREEMPTS\s+MESSAGE$/);
  const rows = lines.slice(1).map((l) => l.split(/\s{3,}/));
  const web = rows.filter((c) => c[0] === 'Deployment/web');
  assert.deepEqual(
    web.map((c) => c[2]),
    ['web-1', 'web-2', 'web-3', 'web-4', 'web-5'],
  );
  assert.deepEqual(
    web
      .slice(0, 4)
      .map((c) => c[3])
      .sort(),
    ['lab1', 'lab1', 'lab2', 'lab2'],
  );
  assert.equal(web[4][3], '<none>');
  assert.equal(web[4][5], FULL);
  // The DaemonSet: every node but the tainted one.
  assert.deepEqual(
    rows
      .filter((c) => c[0] === 'DaemonSet/agent')
      .map((c) => c[3])
      .sort(),
    ['lab1', 'lab2', 'other1'],
  );
  // A preview, not an apply.
  assert.equal((await json(['get', 'deployments,daemonsets,pods', '-A'])).items.length, 0);

  // Applied for real, the scheduler does what the preview said.
  await t.ok(['apply', '-f', file]);
  const pending = await until('web: 4 bound, 1 pending', async () => {
    const ps = (await json(['get', 'pods', '-l', 'app=web'])).items as KObject[];
    const bound = ps.filter((p) => p.spec.nodeName);
    const waiting = ps.find((p) => !p.spec.nodeName && p.status?.conditions?.some((c: KObject) => c.type === 'PodScheduled'));
    return ps.length === 5 && bound.length === 4 && waiting;
  });
  assert.equal(pending.status.conditions.find((c: KObject) => c.type === 'PodScheduled').message, FULL);
  const agents = await until('agents bound', async () => {
    const ps = (await json(['get', 'pods', '-l', 'app=agent'])).items as KObject[];
    return ps.length === 3 && ps.every((p) => p.spec.nodeName) && ps;
  });
  assert.deepEqual(agents.map((p) => p.spec.nodeName).sort(), ['lab1', 'lab2', 'other1']);
});

test('kubeve plan -o json: a high-priority pod would preempt one web pod; an unknown file is a clear error', async () => {
  const file = path.join(dir, 'vip.yaml');
  writeFileSync(
    file,
    `
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: urgent}
value: 100000
---
apiVersion: v1
kind: Pod
metadata: {name: vip, namespace: default}
spec:
  priorityClassName: urgent
  nodeSelector: {site: lab}
  containers: [{name: c, image: nginx, resources: {requests: {cpu: "1"}}}]
`,
  );
  await t.ok(['apply', '-f', '-'], 'apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: urgent}\nvalue: 100000\n');
  const r = await kubeve(['plan', '-f', file, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.skipped, ['PriorityClass/urgent']);
  assert.equal(out.pods.length, 1);
  const row = out.pods[0];
  assert.ok(['lab1', 'lab2'].includes(row.node), row.node);
  assert.equal(
    row.message,
    "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {gpu: true}, 2 Insufficient cpu.",
  );
  assert.equal(row.preempts.length, 1);
  const victim = await json(['get', 'pod', '-n', 'default', row.preempts[0].split('/')[1]]);
  assert.equal(victim.spec.nodeName, row.node, 'the named victim runs on that node');
  assert.equal((await json(['get', 'pods', '--field-selector', 'metadata.name=vip'])).items.length, 0, 'not created');

  const bad = await kubeve(['plan', '-f', path.join(dir, 'nope.yaml')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: .*nope\.yaml: ENOENT/);
  writeFileSync(path.join(dir, 'broken.yaml'), 'kind: Deployment\nmetadata: {name: [\n');
  const broken = await kubeve(['plan', '-f', path.join(dir, 'broken.yaml')]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /^error: .*broken\.yaml: /);
  const format = await kubeve(['plan', '-f', file, '-o', 'yaml']);
  assert.equal(format.code, 2, 'a usage error');
  assert.match(format.stderr, /must be table or json, got "yaml"/);
});
