// The workload kinds (apps, batch, policy, scheduling.k8s.io, node.k8s.io) through the real kubectl 1.32:
// typed create commands (protobuf bodies), printer columns, defaults, scale, set image, apply with strategic
// merge, explain, validation texts, `get all`, and the pods/eviction subresource with and without a budget.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, api, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(async () => {
  await t?.close();
});

const json = async (args: string[]) => JSON.parse(await t.ok([...args, '-o', 'json']));

test('create deployment: kube defaults, READY/UP-TO-DATE/AVAILABLE columns and wide columns', async () => {
  assert.match(await t.ok(['create', 'deployment', 'web', '--image=nginx', '--replicas=3']), /deployment.apps\/web created/);
  const d = await json(['get', 'deploy', 'web']);
  assert.equal(d.spec.replicas, 3);
  assert.deepEqual(d.spec.selector, { matchLabels: { app: 'web' } });
  assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  assert.equal(d.spec.revisionHistoryLimit, 10);
  assert.equal(d.spec.progressDeadlineSeconds, 600);
  assert.equal(d.metadata.generation, 1);
  assert.deepEqual(d.status, {});
  // The template gets the PodSpec defaults, not the Pod-only ones (service links, service account).
  const spec = d.spec.template.spec;
  assert.equal(spec.restartPolicy, 'Always');
  assert.equal(spec.dnsPolicy, 'ClusterFirst');
  assert.equal(spec.terminationGracePeriodSeconds, 30);
  assert.equal(spec.containers[0].imagePullPolicy, 'Always');
  assert.equal(spec.enableServiceLinks, undefined);
  assert.equal(spec.serviceAccountName, undefined);

  const table = await t.ok(['get', 'deploy']);
  assert.match(table, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\n/);
  assert.match(table, /\nweb\s+0\/3\s+0\s+0\s+\d+s\n/);
  const wide = await t.ok(['get', 'deployments.apps', '-o', 'wide']);
  assert.match(wide, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\n/);
  assert.match(wide, /\nweb\s+0\/3\s+0\s+0\s+\d+s\s+nginx\s+nginx\s+app=web\n/);

  // --replicas=0 travels as a set pointer in the protobuf body: it must not be defaulted to 1.
  await t.ok(['create', 'deployment', 'idle', '--image=nginx', '--replicas=0']);
  assert.equal((await json(['get', 'deploy', 'idle'])).spec.replicas, 0);
});

test('scale changes spec.replicas through the scale subresource; the Scale carries the selector', async () => {
  assert.match(await t.ok(['scale', 'deploy/web', '--replicas=5']), /deployment.apps\/web scaled/);
  const d = await json(['get', 'deploy', 'web']);
  assert.equal(d.spec.replicas, 5);
  assert.equal(d.metadata.generation, 2);
  const scale = await api(t.server, 'GET', '/apis/apps/v1/namespaces/default/deployments/web/scale');
  assert.equal(scale.status, 200);
  assert.equal(scale.body.kind, 'Scale');
  assert.equal(scale.body.apiVersion, 'autoscaling/v1');
  assert.deepEqual(scale.body.spec, { replicas: 5 });
  assert.equal(scale.body.status.selector, 'app=web');
  const bad = await t.kubectl(['scale', 'deploy/web', '--replicas=-1']);
  assert.notEqual(bad.code, 0);
});

test('set image changes the container image', async () => {
  await t.ok(['set', 'image', 'deploy/web', 'nginx=nginx:1.27']);
  assert.equal(await t.ok(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']), 'nginx:1.27');
});

const appDeployment = (containers: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 2
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
${containers}`;

test('apply twice with a changed container list merges containers by name', async () => {
  const first = appDeployment('      - {name: main, image: "busybox:1", env: [{name: A, value: "1"}]}\n      - {name: side, image: "busybox:1"}\n');
  assert.match(await t.ok(['apply', '-f', t.file('app1.yaml', first)]), /deployment.apps\/app created/);
  // Something else adds a field to the main container; apply must keep it (merge by name, not replace).
  await t.ok(['patch', 'deploy', 'app', '--type=strategic', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"main","workingDir":"/srv"}]}}}}']);
  const second = appDeployment('      - {name: main, image: "busybox:2", env: [{name: A, value: "1"}]}\n      - {name: extra, image: "alpine:3"}\n');
  assert.match(await t.ok(['apply', '-f', t.file('app2.yaml', second)]), /deployment.apps\/app configured/);
  const containers = (await json(['get', 'deploy', 'app'])).spec.template.spec.containers;
  assert.deepEqual(
    containers.map((c: any) => c.name),
    ['main', 'extra'],
    'side removed, extra added',
  );
  assert.equal(containers[0].image, 'busybox:2');
  assert.equal(containers[0].workingDir, '/srv', 'a field set by another writer survives the merge');
  assert.deepEqual(containers[0].env, [{ name: 'A', value: '1' }]);
});

test('explain reads the served schema of the workload kinds', async () => {
  const out = await t.ok(['explain', 'deployment.spec.strategy']);
  assert.match(out, /KIND:\s+Deployment/);
  assert.match(out, /rollingUpdate\s+<Object>/);
  assert.match(out, /type\s+<string>/);
  const sub = await t.ok(['explain', 'deployment.spec.template.spec.containers.image']);
  assert.match(sub, /FIELD: image <string>/);
  assert.match(await t.ok(['explain', 'cronjob.spec.schedule']), /FIELD: schedule <string>/);
});

test("a selector that does not match the template labels is refused with kube's 422 text", async () => {
  const bad = appDeployment('      - {name: main, image: nginx}\n').replace('name: app\n', 'name: bad\n').replace('labels: {app: app}', 'labels: {app: other}');
  const r = await t.kubectl(['apply', '-f', t.file('bad.yaml', bad)]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /The Deployment "bad" is invalid: spec.template.metadata.labels: Invalid value: map\[string\]string\{"app":"other"\}: `selector` does not match template `labels`/,
  );
  const neg = await api(t.server, 'POST', '/apis/apps/v1/namespaces/default/deployments', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'neg' },
    spec: {
      replicas: -1,
      selector: { matchLabels: { a: 'b' } },
      template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
    },
  });
  assert.equal(neg.status, 422);
  assert.equal(neg.body.reason, 'Invalid');
  assert.deepEqual(
    neg.body.details.causes.map((c: any) => [c.field, c.message]),
    [['spec.replicas', 'Invalid value: -1: must be greater than or equal to 0']],
  );
  const missing = await api(t.server, 'POST', '/apis/apps/v1/namespaces/default/deployments', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'nosel' },
    spec: { template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
  });
  assert.equal(missing.status, 422);
  assert.ok(
    missing.body.details.causes.some((c: any) => c.field === 'spec.selector' && c.message === 'Required value'),
    JSON.stringify(missing.body),
  );
  const noContainers = await api(t.server, 'POST', '/apis/apps/v1/namespaces/default/deployments', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'empty' },
    spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: {} } },
  });
  assert.equal(noContainers.status, 422);
  assert.deepEqual(
    noContainers.body.details.causes.map((c: any) => [c.field, c.message]),
    [['spec.template.spec.containers', 'Required value']],
  );
  assert.equal((await t.kubectl(['get', 'deploy', 'bad'])).code, 1, 'nothing was created');
  // The selector cannot change after creation.
  const patched = await t.kubectl([
    'patch',
    'deploy',
    'web',
    '--type=merge',
    '-p',
    '{"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}}}}}',
  ]);
  assert.match(
    patched.stderr,
    /spec.selector: Invalid value: v1.LabelSelector\{MatchLabels:map\[string\]string\{"app":"x"\}, MatchExpressions:\[\]v1.LabelSelectorRequirement\(nil\)\}: field is immutable/,
  );
});

test('create job: generated selector, kube defaults and the STATUS/COMPLETIONS columns', async () => {
  assert.match(await t.ok(['create', 'job', 'once', '--image=busybox', '--', 'echo', 'hi']), /job.batch\/once created/);
  const j = await json(['get', 'job', 'once']);
  const uid = j.metadata.uid;
  assert.deepEqual(j.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
  assert.equal(j.spec.template.metadata.labels['batch.kubernetes.io/job-name'], 'once');
  assert.equal(j.spec.template.metadata.labels['controller-uid'], uid);
  assert.equal(j.spec.backoffLimit, 6);
  assert.equal(j.spec.completions, 1);
  assert.equal(j.spec.parallelism, 1);
  assert.equal(j.spec.completionMode, 'NonIndexed');
  assert.equal(j.spec.suspend, false);
  assert.deepEqual(j.spec.template.spec.containers[0].command, ['echo', 'hi']);
  assert.equal(j.spec.template.spec.restartPolicy, 'Never');
  const table = await t.ok(['get', 'jobs']);
  assert.match(table, /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\n/);
  assert.match(table, /\nonce\s+Running\s+0\/1\s+\d+s\n/);
  // A Job's pods must not restart in place.
  const r = await api(t.server, 'POST', '/apis/batch/v1/namespaces/default/jobs', {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'always' },
    spec: { template: { spec: { containers: [{ name: 'c', image: 'x' }] } } },
  });
  assert.equal(r.status, 422);
  assert.match(r.body.message, /spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"/);
});

test('create cronjob --schedule: defaults and columns; a bad schedule is refused', async () => {
  assert.match(await t.ok(['create', 'cronjob', 'tick', '--image=busybox', '--schedule=*/5 * * * *']), /cronjob.batch\/tick created/);
  const cj = await json(['get', 'cj', 'tick']);
  assert.equal(cj.spec.schedule, '*/5 * * * *');
  assert.equal(cj.spec.concurrencyPolicy, 'Allow');
  assert.equal(cj.spec.successfulJobsHistoryLimit, 3);
  assert.equal(cj.spec.failedJobsHistoryLimit, 1);
  assert.equal(cj.spec.jobTemplate.spec.template.spec.restartPolicy, 'OnFailure');
  const table = await t.ok(['get', 'cronjobs']);
  assert.match(table, /^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE\n/);
  assert.match(table, /\ntick\s+\*\/5 \* \* \* \*\s+<none>\s+False\s+0\s+<none>\s+\d+s\n/);
  const bad = await t.kubectl(['create', 'cronjob', 'bad', '--image=busybox', '--schedule=61 * * * *']);
  assert.match(bad.stderr, /spec.schedule: Invalid value: "61 \* \* \* \*": end of range \(61\) above maximum \(59\): 61/);
});

test('create pdb, create priorityclass: columns and validation', async () => {
  assert.match(await t.ok(['create', 'pdb', 'web-pdb', '--selector=app=web', '--min-available=2']), /poddisruptionbudget.policy\/web-pdb created/);
  const pdbs = await t.ok(['get', 'pdb']);
  assert.match(pdbs, /^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE\n/);
  assert.match(pdbs, /\nweb-pdb\s+2\s+N\/A\s+0\s+\d+s\n/);
  const both = await t.kubectl(['create', 'pdb', 'both', '--selector=app=web', '--min-available=1', '--max-unavailable=1']);
  assert.notEqual(both.code, 0);
  await t.ok(['delete', 'pdb', 'web-pdb']);

  assert.match(await t.ok(['create', 'priorityclass', 'high', '--value=1000', '--description=important']), /priorityclass.scheduling.k8s.io\/high created/);
  const pcs = await t.ok(['get', 'pc']);
  assert.match(pcs, /^NAME\s+VALUE\s+GLOBAL-DEFAULT\s+AGE\s+PREEMPTIONPOLICY\n/);
  assert.match(pcs, /\nhigh\s+1000\s+false\s+\d+s\s+PreemptLowerPriority\n/);
  assert.match(pcs, /\nsystem-cluster-critical\s+2000000000\s+false\s+\d+s\s+PreemptLowerPriority\n/);
  assert.match(pcs, /\nsystem-node-critical\s+2000001000\s+false\s+\d+s\s+PreemptLowerPriority\n/);
  const tooHigh = await t.kubectl(['create', 'priorityclass', 'huge', '--value=2000000000']);
  assert.match(tooHigh.stderr, /value: Forbidden: maximum allowed value of a user defined priority is 1000000000/);
  const changed = await t.kubectl(['patch', 'pc', 'high', '--type=merge', '-p', '{"value":5}']);
  assert.match(changed.stderr, /value: Forbidden: may not be changed in an update/);
});

test('get all lists the workload kinds; short names resolve', async () => {
  const all = await t.ok(['get', 'all']);
  assert.match(all, /\ndeployment.apps\/web\s+0\/5/);
  assert.match(all, /\ncronjob.batch\/tick\s/);
  assert.match(all, /\njob.batch\/once\s/);
  for (const short of ['deploy', 'rs', 'ds', 'sts', 'cj', 'pdb', 'pc']) {
    const r = await t.kubectl(['get', short]);
    assert.equal(r.code, 0, `${short}: ${r.stderr}`);
  }
  const names = await t.ok(['api-resources', '--api-group=apps', '-o', 'name']);
  for (const r of ['deployments.apps', 'replicasets.apps', 'daemonsets.apps', 'statefulsets.apps', 'controllerrevisions.apps'])
    assert.match(names, new RegExp(r));
});

test('DaemonSet, StatefulSet, RuntimeClass: applied from YAML with defaults and columns', async () => {
  await t.ok([
    'apply',
    '-f',
    t.file(
      'more.yaml',
      `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {site: lab}
      containers: [{name: a, image: agent:1}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: db:1}]
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: kata}
handler: kata
`,
    ),
  ]);
  const ds = await json(['get', 'ds', 'agent']);
  assert.deepEqual(ds.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
  const dsTable = await t.ok(['get', 'ds']);
  assert.match(dsTable, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE\n/);
  assert.match(dsTable, /\nagent\s+0\s+0\s+0\s+0\s+0\s+site=lab\s+\d+s\n/);
  const sts = await json(['get', 'sts', 'db']);
  assert.equal(sts.spec.podManagementPolicy, 'OrderedReady');
  assert.equal(sts.spec.replicas, 1);
  assert.match(await t.ok(['get', 'sts']), /\ndb\s+0\/1\s+\d+s\n/);
  assert.match(await t.ok(['scale', 'sts/db', '--replicas=3']), /statefulset.apps\/db scaled/);
  assert.match(await t.ok(['get', 'runtimeclass']), /\nkata\s+kata\s+\d+s\n/);

  // A revision as the DaemonSet controller would record it: CONTROLLER names the owner as kind.group/name.
  const cr = await api(t.server, 'POST', '/apis/apps/v1/namespaces/default/controllerrevisions', {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: { name: 'agent-5d8f7', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: ds.metadata.uid, controller: true }] },
    data: { spec: { template: { spec: { containers: [{ name: 'a', image: 'agent:1' }] } } } },
    revision: 1,
  });
  assert.equal(cr.status, 201, JSON.stringify(cr.body));
  assert.match(await t.ok(['get', 'controllerrevisions']), /^NAME\s+CONTROLLER\s+REVISION\s+AGE\nagent-5d8f7\s+daemonset.apps\/agent\s+1\s+\d+s\n/);
  const changed = await api(
    t.server,
    'PATCH',
    '/apis/apps/v1/namespaces/default/controllerrevisions/agent-5d8f7',
    { data: { other: 1 } },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  assert.equal(changed.status, 422);
  assert.match(changed.body.message, /data: Invalid value: .*field is immutable/);
});

const pod = (name: string, labels: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { containers: [{ name: 'c', image: 'nginx' }] },
});

/** A pod the budget check applies to: bound, Running and Ready (Pending pods are evicted without a check). */
async function runningPod(name: string, labels: Record<string, string>): Promise<void> {
  const created = await api(t.server, 'POST', '/api/v1/namespaces/default/pods', pod(name, labels));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const status = await api(
    t.server,
    'PATCH',
    `/api/v1/namespaces/default/pods/${name}/status`,
    { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  assert.equal(status.status, 200, JSON.stringify(status.body));
}

/** What the disruption controller would write into a budget's status. */
async function budgetStatus(name: string, status: Record<string, unknown>): Promise<void> {
  const r = await api(
    t.server,
    'PATCH',
    `/apis/policy/v1/namespaces/default/poddisruptionbudgets/${name}/status`,
    { status },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

const evict = (name: string, body: Record<string, unknown> = {}) =>
  api(t.server, 'POST', `/api/v1/namespaces/default/pods/${name}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name }, ...body });

test('eviction deletes a pod no budget protects', async () => {
  await runningPod('free', { app: 'free' });
  const r = await evict('free', { deleteOptions: { gracePeriodSeconds: 0 } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.status, 'Success');
  assert.equal((await api(t.server, 'GET', '/api/v1/namespaces/default/pods/free')).status, 404);
  const missing = await api(t.server, 'POST', '/api/v1/namespaces/default/pods/x/eviction', {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: 'x' },
  });
  assert.equal(missing.status, 404, 'no such pod');
});

test('eviction is refused with 429 while the matching budget allows no disruption, and spends one when it does', async () => {
  await t.ok(['create', 'pdb', 'guard', '--selector=app=guarded', '--min-available=1']);
  await runningPod('guarded', { app: 'guarded' });
  const causes = (r: any) => r.body.details.causes.map((c: any) => c.message);
  // No controller has computed the budget yet: refused like on a real cluster.
  const fresh = await evict('guarded');
  assert.equal(fresh.status, 429, JSON.stringify(fresh.body));
  assert.equal(fresh.body.reason, 'TooManyRequests');
  assert.equal(fresh.body.message, "Cannot evict pod as it would violate the pod's disruption budget.");
  assert.deepEqual(causes(fresh), ['The disruption budget guard is still being processed by the server.']);
  assert.equal(fresh.body.details.retryAfterSeconds, 10);
  assert.equal(fresh.headers['retry-after'], '10');

  await budgetStatus('guard', { observedGeneration: 1, disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 1, expectedPods: 1 });
  const refused = await evict('guarded');
  assert.equal(refused.status, 429, JSON.stringify(refused.body));
  assert.equal(refused.body.message, "Cannot evict pod as it would violate the pod's disruption budget.");
  assert.deepEqual(causes(refused), ['The disruption budget guard needs 1 healthy pods and has 1 currently']);
  const still = await api(t.server, 'GET', '/api/v1/namespaces/default/pods/guarded');
  assert.equal(still.status, 200, 'the pod is still there');
  assert.equal(still.body.metadata.deletionTimestamp, undefined);
  assert.equal(
    (still.body.status.conditions ?? []).find((c: any) => c.type === 'DisruptionTarget'),
    undefined,
    'a refused eviction leaves the pod alone',
  );

  await budgetStatus('guard', { disruptionsAllowed: 1, currentHealthy: 2, expectedPods: 2 });
  const ok = await evict('guarded', { deleteOptions: { gracePeriodSeconds: 0 } });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.status, 'Success');
  assert.equal((await api(t.server, 'GET', '/api/v1/namespaces/default/pods/guarded')).status, 404);
  const pdb = await json(['get', 'pdb', 'guard']);
  assert.equal(pdb.status.disruptionsAllowed, 0, 'the eviction spent the allowed disruption');
  assert.ok(pdb.status.disruptedPods?.guarded, 'the evicted pod is recorded');
  assert.deepEqual(
    pdb.status.conditions.map((c: any) => [c.type, c.status, c.reason]),
    [['DisruptionAllowed', 'False', 'InsufficientPods']],
  );

  // The budget is spent: the next pod is protected again.
  await runningPod('guarded2', { app: 'guarded' });
  assert.equal((await evict('guarded2')).status, 429);
});

test('eviction of a pod with a grace period marks it DisruptionTarget and leaves it terminating', async () => {
  const created = await api(t.server, 'POST', '/api/v1/namespaces/default/pods', {
    ...pod('graceful', { app: 'graceful' }),
    spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'nginx' }] },
  });
  assert.equal(created.status, 201);
  const r = await evict('graceful');
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const p = (await api(t.server, 'GET', '/api/v1/namespaces/default/pods/graceful')).body;
  assert.ok(p.metadata.deletionTimestamp, 'graceful deletion started');
  assert.equal(p.metadata.deletionGracePeriodSeconds, 30);
  const c = p.status.conditions.find((x: any) => x.type === 'DisruptionTarget');
  assert.deepEqual([c.status, c.reason, c.message], ['True', 'EvictionByEvictionAPI', 'Eviction API: evicting']);
  const wrongName = await api(t.server, 'POST', '/api/v1/namespaces/default/pods/graceful/eviction', {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: 'other' },
  });
  assert.equal(wrongName.status, 400);
  assert.equal(wrongName.body.message, 'name in URL does not match name in Eviction object');
});

test('apps validation follows kube per kind: DaemonSet rolling update, activeDeadlineSeconds, StatefulSet claim mounts', async () => {
  const post = (resource: string, body: Record<string, unknown>) =>
    api(t.server, 'POST', `/apis/apps/v1/namespaces/default/${resource}`, { apiVersion: 'apps/v1', ...body });
  const causes = (r: any) => r.body.details.causes.map((c: any) => `${c.field}: ${c.message}`);
  const template = (spec: Record<string, unknown> = {}) => ({
    metadata: { labels: { app: 'v' } },
    spec: { containers: [{ name: 'c', image: 'i', volumeMounts: [{ name: 'data', mountPath: '/data' }] }], ...spec },
  });

  const ds = await post('daemonsets', {
    kind: 'DaemonSet',
    metadata: { name: 'v' },
    spec: {
      selector: { matchLabels: { app: 'v' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } },
      template: template({ activeDeadlineSeconds: 5, volumes: [{ name: 'data', emptyDir: {} }] }),
    },
  });
  assert.equal(ds.status, 422);
  assert.deepEqual(causes(ds), [
    'spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported',
    'spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0',
  ]);

  const rs = await post('replicasets', {
    kind: 'ReplicaSet',
    metadata: { name: 'v' },
    spec: { selector: {}, template: template({ volumes: [{ name: 'data', emptyDir: {} }] }) },
  });
  assert.equal(rs.status, 422);
  assert.deepEqual(causes(rs), [
    'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment',
  ]);

  // A StatefulSet's containers may mount the claims of its volumeClaimTemplates: no "volume not found".
  const sts = await post('statefulsets', {
    kind: 'StatefulSet',
    metadata: { name: 'v' },
    spec: {
      serviceName: 'v',
      selector: { matchLabels: { app: 'v' } },
      template: template(),
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  });
  assert.equal(sts.status, 201, JSON.stringify(sts.body));
  assert.equal(sts.body.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '1Gi');
  const moved = await api(
    t.server,
    'PATCH',
    '/apis/apps/v1/namespaces/default/statefulsets/v',
    { spec: { serviceName: 'other' } },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  assert.equal(moved.status, 422);
  assert.match(
    moved.body.message,
    /spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden/,
  );
});

test('status writes are validated: counts non-negative and consistent, spec untouched', async () => {
  const path = '/apis/apps/v1/namespaces/default/deployments/web/status';
  const bad = await api(
    t.server,
    'PATCH',
    path,
    { status: { replicas: 2, readyReplicas: 3, availableReplicas: -1 } },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  assert.equal(bad.status, 422);
  assert.deepEqual(
    bad.body.details.causes.map((c: any) => `${c.field}: ${c.message}`),
    [
      'status.availableReplicas: Invalid value: -1: must be greater than or equal to 0',
      'status.readyReplicas: Invalid value: 3: cannot be greater than status.replicas',
    ],
  );
  const ok = await api(
    t.server,
    'PATCH',
    path,
    { spec: { replicas: 9 }, status: { replicas: 5, readyReplicas: 2, updatedReplicas: 5, availableReplicas: 2, observedGeneration: 3 } },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.spec.replicas, 5, 'the status subresource does not change spec');
  assert.match(await t.ok(['get', 'deploy', 'web']), /\nweb\s+2\/5\s+5\s+2\s+\d+s\n/);
});

test('kubectl drain cordons, evicts through pods/eviction and is held back by a budget', async () => {
  await t.ok(['apply', '-f', t.file('node.yaml', 'apiVersion: v1\nkind: Node\nmetadata:\n  name: edge-1\n')]);
  const onNode = async (name: string) => {
    const created = await api(t.server, 'POST', '/api/v1/namespaces/default/pods', {
      ...pod(name, { app: 'drained' }),
      spec: { nodeName: 'edge-1', containers: [{ name: 'c', image: 'nginx' }] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const st = await api(
      t.server,
      'PATCH',
      `/api/v1/namespaces/default/pods/${name}/status`,
      { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    assert.equal(st.status, 200);
  };
  await onNode('d1');
  await t.ok(['create', 'pdb', 'drained', '--selector=app=drained', '--min-available=1']);
  await budgetStatus('drained', { observedGeneration: 1, disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 1, expectedPods: 1 });
  const held = await t.kubectl(['drain', 'edge-1', '--force', '--grace-period=0', '--timeout=3s']);
  assert.notEqual(held.code, 0);
  assert.match(held.stderr, /Cannot evict pod as it would violate the pod's disruption budget/);
  assert.equal((await api(t.server, 'GET', '/api/v1/namespaces/default/pods/d1')).status, 200, 'the pod stays');
  assert.equal((await json(['get', 'node', 'edge-1'])).spec.unschedulable, true, 'the node was cordoned');

  await budgetStatus('drained', { disruptionsAllowed: 1 });
  const out = await t.ok(['drain', 'edge-1', '--force', '--grace-period=0', '--timeout=10s']);
  assert.match(out, /pod\/d1 evicted/);
  assert.match(out, /node\/edge-1 drained/);
  assert.equal((await api(t.server, 'GET', '/api/v1/namespaces/default/pods/d1')).status, 404);
});

test('a dry-run eviction deletes nothing and spends nothing', async () => {
  await runningPod('dry', { app: 'dry' });
  await t.ok(['create', 'pdb', 'dry', '--selector=app=dry', '--max-unavailable=1']);
  await budgetStatus('dry', { observedGeneration: 1, disruptionsAllowed: 1, currentHealthy: 1, desiredHealthy: 0, expectedPods: 1 });
  const viaQuery = await api(t.server, 'POST', '/api/v1/namespaces/default/pods/dry/eviction?dryRun=All', {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: 'dry' },
  });
  assert.equal(viaQuery.status, 201, JSON.stringify(viaQuery.body));
  const viaBody = await evict('dry', { deleteOptions: { dryRun: ['All'] } });
  assert.equal(viaBody.status, 201, JSON.stringify(viaBody.body));
  const p = await api(t.server, 'GET', '/api/v1/namespaces/default/pods/dry');
  assert.equal(p.status, 200);
  assert.equal(p.body.metadata.deletionTimestamp, undefined);
  assert.equal(
    (p.body.status.conditions ?? []).some((c: any) => c.type === 'DisruptionTarget'),
    false,
  );
  const pdb = await json(['get', 'pdb', 'dry']);
  assert.equal(pdb.status.disruptionsAllowed, 1);
  assert.equal(pdb.status.disruptedPods, undefined);
});

test('the aggregated edit and view roles cover the workload kinds and pods/eviction', async () => {
  await t.ok(['create', 'namespace', 'team']);
  await t.ok(['create', 'rolebinding', 'dev-edit', '--clusterrole=edit', '--user=dev', '-n', 'team']);
  await t.ok(['create', 'rolebinding', 'ro-view', '--clusterrole=view', '--user=ro', '-n', 'team']);
  const can = async (user: string, ...args: string[]) => (await t.kubectl(['auth', 'can-i', ...args, '-n', 'team', `--as=${user}`])).stdout.trim();
  for (const r of [
    'deployments.apps',
    'deployments.apps/scale',
    'statefulsets.apps',
    'daemonsets.apps',
    'replicasets.apps',
    'jobs.batch',
    'cronjobs.batch',
    'poddisruptionbudgets.policy',
  ]) {
    assert.equal(await can('dev', 'create', r), 'yes', `edit creates ${r}`);
    assert.equal(await can('ro', 'list', r), 'yes', `view lists ${r}`);
    assert.equal(await can('ro', 'create', r), 'no', `view does not create ${r}`);
  }
  assert.equal(await can('dev', 'create', 'pods/eviction'), 'yes');
  assert.equal(await can('ro', 'create', 'pods/eviction'), 'no');
  assert.equal(await can('ro', 'get', 'controllerrevisions.apps'), 'yes');
  // And through the real endpoints: edit creates and scales a Deployment, view is refused.
  assert.match((await t.kubectl(['create', 'deployment', 'x', '--image=nginx', '-n', 'team', '--as=dev'])).stdout, /deployment.apps\/x created/);
  assert.match((await t.kubectl(['scale', 'deploy/x', '--replicas=2', '-n', 'team', '--as=dev'])).stdout, /scaled/);
  const denied = await t.kubectl(['scale', 'deploy/x', '--replicas=3', '-n', 'team', '--as=ro']);
  assert.match(denied.stderr, /forbidden: User "ro" cannot patch resource "deployments\/scale" in API group "apps" in the namespace "team"/);
});

test('Priority admission: pods get their class priority, the global default, or a refusal', async () => {
  const createPod = (name: string, spec: Record<string, unknown> = {}) =>
    api(t.server, 'POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { containers: [{ name: 'c', image: 'nginx' }], ...spec },
    });
  await t.ok(['create', 'priorityclass', 'batch-low', '--value=100', '--preemption-policy=Never']);

  const plain = await createPod('prio-plain');
  assert.equal(plain.status, 201, JSON.stringify(plain.body));
  assert.deepEqual([plain.body.spec.priority, plain.body.spec.preemptionPolicy, plain.body.spec.priorityClassName], [0, 'PreemptLowerPriority', undefined]);
  const classed = await createPod('prio-low', { priorityClassName: 'batch-low' });
  assert.equal(classed.status, 201, JSON.stringify(classed.body));
  assert.deepEqual([classed.body.spec.priority, classed.body.spec.preemptionPolicy], [100, 'Never']);
  const critical = await createPod('prio-critical', { priorityClassName: 'system-cluster-critical' });
  assert.equal(critical.body.spec.priority, 2000000000);

  const unknown = await createPod('prio-unknown', { priorityClassName: 'nope' });
  assert.equal(unknown.status, 403);
  assert.equal(unknown.body.message, 'pods "prio-unknown" is forbidden: no PriorityClass with name nope was found');
  const forged = await createPod('prio-forged', { priorityClassName: 'batch-low', priority: 7 });
  assert.equal(forged.status, 403);
  assert.equal(
    forged.body.message,
    'pods "prio-forged" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 100 from the given PriorityClass name',
  );
  assert.equal((await api(t.server, 'GET', '/api/v1/namespaces/default/pods/prio-unknown')).status, 404, 'nothing was created');

  await t.ok(['create', 'priorityclass', 'fleet-default', '--value=50', '--global-default']);
  const second = await t.kubectl(['create', 'priorityclass', 'other-default', '--value=60', '--global-default']);
  assert.match(
    second.stderr,
    /priorityclasses.scheduling.k8s.io "other-default" is forbidden: PriorityClass fleet-default is already marked as default. Only one default can exist/,
  );
  const defaulted = await createPod('prio-default');
  assert.deepEqual([defaulted.body.spec.priorityClassName, defaulted.body.spec.priority], ['fleet-default', 50]);
  await t.ok(['delete', 'priorityclass', 'fleet-default']);
});

test('RuntimeClass admission: overhead and scheduling constraints of the class land on the pod', async () => {
  await t.ok([
    'apply',
    '-f',
    t.file(
      'rc.yaml',
      `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: sandboxed}
handler: runsc
overhead: {podFixed: {cpu: 250m, memory: 120Mi}}
scheduling:
  nodeSelector: {sandbox: "yes"}
  tolerations: [{key: sandbox, operator: Exists, effect: NoSchedule}]
`,
    ),
  ]);
  const createPod = (name: string, spec: Record<string, unknown>) =>
    api(t.server, 'POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { containers: [{ name: 'c', image: 'nginx' }], ...spec },
    });
  const p = await createPod('sandboxed', { runtimeClassName: 'sandboxed', nodeSelector: { site: 'lab' } });
  assert.equal(p.status, 201, JSON.stringify(p.body));
  assert.deepEqual(p.body.spec.overhead, { cpu: '250m', memory: '120Mi' });
  assert.deepEqual(p.body.spec.nodeSelector, { site: 'lab', sandbox: 'yes' });
  // DefaultTolerationSeconds runs before RuntimeClass admission (kube's plugin order): its two come first.
  assert.deepEqual(p.body.spec.tolerations, [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { key: 'sandbox', operator: 'Exists', effect: 'NoSchedule' },
  ]);
  const conflict = await createPod('sandbox-conflict', { runtimeClassName: 'sandboxed', nodeSelector: { sandbox: 'no' } });
  assert.equal(conflict.status, 403);
  assert.equal(
    conflict.body.message,
    'pods "sandbox-conflict" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[sandbox] = yes; pod.spec.nodeSelector[sandbox] = no',
  );
  const unknown = await createPod('no-class', { runtimeClassName: 'missing' });
  assert.equal(unknown.status, 403);
  assert.equal(unknown.body.message, 'pods "no-class" is forbidden: pod rejected: RuntimeClass "missing" not found');
});
