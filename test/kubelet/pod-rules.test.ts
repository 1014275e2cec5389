// The pure parts of the kubelet bridge: what is refused (and the field named), the Pod → AppInstance
// mapping, the Pod status for each EVE app state, and which tolerations opt into eviction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refusal } from '../../src/controllers/kubelet/pod-support.ts';
import { appInstanceFor } from '../../src/controllers/kubelet/pod-mapping.ts';
import { podStatus } from '../../src/controllers/kubelet/pod-status.ts';
import { unreachableToleration } from '../../src/controllers/kubelet/pod-controller.ts';

const pod = (spec: any = {}, c: any = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', uid: '0b0f7c3e-1111-4222-8333-444455556666' },
  spec: { nodeName: 'dev1', restartPolicy: 'Always', securityContext: {}, containers: [{ name: 'main', image: 'nginx:1', ...c }], ...spec },
});

test('refusals name the field', () => {
  assert.equal(refusal(pod()), undefined, 'a plain pod (with defaulted empty securityContext) is fine');
  const cases: [any, string][] = [
    [
      pod({
        containers: [
          { name: 'a', image: 'x' },
          { name: 'b', image: 'y' },
        ],
      }),
      'spec.containers[1]',
    ],
    [pod({ initContainers: [{ name: 'i', image: 'x' }] }), 'spec.initContainers'],
    [pod({ hostNetwork: true }), 'spec.hostNetwork'],
    [pod({ restartPolicy: 'Never' }), 'spec.restartPolicy'],
    [pod({ runtimeClassName: 'gvisor' }), 'spec.runtimeClassName'],
    [pod({ volumes: [{ name: 'h', hostPath: { path: '/' } }] }), 'spec.volumes[0].hostPath'],
    [pod({}, { readinessProbe: { tcpSocket: { port: 80 } } }), 'spec.containers[0].readinessProbe'],
    [pod({}, { lifecycle: { preStop: { exec: { command: ['x'] } } } }), 'spec.containers[0].lifecycle'],
    [pod({}, { securityContext: { privileged: true } }), 'spec.containers[0].securityContext'],
    [pod({}, { env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }] }), 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath'],
  ];
  for (const [p, field] of cases) assert.equal(refusal(p)?.field, field, JSON.stringify(p.spec));
});

test('mapping: env resolved from ConfigMaps and Secrets, command as EVE_ECO_CMD, resources, host ports, emptyDir', () => {
  const p = pod(
    { volumes: [{ name: 'scratch', emptyDir: { sizeLimit: '2Gi' } }], runtimeClassName: 'eve-vm' },
    {
      command: ['sh', '-c'],
      args: ['echo hi; sleep 1'],
      env: [
        { name: 'A', value: '1' },
        { name: 'B', valueFrom: { configMapKeyRef: { name: 'cm', key: 'b' } } },
        { name: 'S', valueFrom: { secretKeyRef: { name: 'sec', key: 's' } } },
        { name: 'N', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      ],
      envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
      resources: { requests: { cpu: '1500m' }, limits: { memory: '300Mi' } },
      ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 9090 }],
      volumeMounts: [{ name: 'scratch', mountPath: '/data' }],
    },
  );
  const l = {
    configMap: (ns: string, n: string) => (ns === 'ns' && n === 'cm' ? { data: { b: 'bee' } } : undefined),
    secret: (ns: string, n: string) => (ns === 'ns' && n === 'sec' ? { data: { s: Buffer.from('top').toString('base64') } } : undefined),
  };
  const { app, missing } = appInstanceFor(p, l);
  assert.equal(missing, undefined);
  const env = Object.fromEntries(app!.spec.env.map((e: any) => [e.name, e.value]));
  assert.deepEqual(env, { CM_b: 'bee', A: '1', B: 'bee', S: 'top', N: 'dev1', EVE_ECO_CMD: "sh -c 'echo hi; sleep 1'" });
  assert.deepEqual(app!.spec.resources, { cpus: 2, memory: '300Mi' });
  assert.equal(app!.spec.type, 'vm');
  assert.deepEqual(app!.spec.networks[0].portMaps, [{ protocol: 'tcp', port: 8080, targetPort: 80 }]);
  assert.deepEqual(app!.spec.volumes, [{ name: 'scratch', blank: { size: '2Gi' }, mountPath: '/data' }]);
  assert.deepEqual(app!.metadata.ownerReferences[0], {
    apiVersion: 'v1',
    kind: 'Pod',
    name: 'p',
    uid: p.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  });
  const m = appInstanceFor(pod({}, { env: [{ name: 'B', valueFrom: { configMapKeyRef: { name: 'gone', key: 'b' } } }] }), l);
  assert.match(m.missing!.message, /configMap ns\/gone not found/);
  assert.equal(
    appInstanceFor(pod({}, { env: [{ name: 'B', valueFrom: { configMapKeyRef: { name: 'gone', key: 'b', optional: true } } }] }), l).missing,
    undefined,
  );
});

test('status per EVE app state; unchanged input gives an identical status', () => {
  const p = pod();
  const app = (state: string, extra: any = {}) => ({ status: { state, uuid: p.metadata.uid, ipAddresses: ['10.1.0.5'], ...extra } });
  const creating = podStatus({ pod: p, app: app('DOWNLOAD_STARTED'), online: true, nowMs: 1000_000 });
  assert.equal(creating.phase, 'Pending');
  assert.equal(creating.containerStatuses[0].state.waiting.reason, 'ContainerCreating');
  const running = podStatus({ pod: { ...p, status: creating }, app: app('RUNNING'), online: true, nowMs: 2000_000 });
  assert.equal(running.phase, 'Running');
  assert.equal(running.podIP, '10.1.0.5');
  assert.equal(running.containerStatuses[0].containerID, `eve://${p.metadata.uid}`);
  assert.equal(running.conditions.find((c: any) => c.type === 'Ready').status, 'True');
  const again = podStatus({ pod: { ...p, status: running }, app: app('RUNNING'), online: true, nowMs: 9000_000 });
  assert.deepEqual(again, running, 'only time passed: same status, no write');
  const offline = podStatus({ pod: { ...p, status: running }, app: app('RUNNING'), online: false, nowMs: 9000_000 });
  assert.equal(offline.phase, 'Running', 'last state kept');
  assert.equal(offline.conditions.find((c: any) => c.type === 'EVEConnected').status, 'False');
  const err = podStatus({ pod: p, app: app('ERROR', { errors: [{ message: 'download of x failed: 404' }] }), online: true });
  assert.deepEqual(err.containerStatuses[0].state.waiting, { reason: 'ErrImagePull', message: 'download of x failed: 404' });
  const crashed = podStatus({ pod: { ...p, status: running }, app: app('ERROR', { errors: [{ message: 'boom' }] }), online: true });
  assert.equal(crashed.containerStatuses[0].state.terminated.reason, 'Error');
});

test('only explicit finite unreachable NoExecute tolerations opt into eviction', () => {
  const t = (tolerations: any[]) => unreachableToleration(pod({ tolerations }));
  assert.equal(t([]), undefined);
  assert.equal(t([{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }]), 5);
  assert.equal(t([{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }]), undefined, 'forever');
  assert.equal(
    t([{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }]),
    undefined,
    'the admission default is not an opt-in',
  );
  assert.equal(t([{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }]), undefined);
});

test('ConfigMap and Secret volumes become cloud-init write_files, env becomes runcmd K=V', () => {
  const p = pod(
    {
      volumes: [
        { name: 'cfg', configMap: { name: 'cm', items: [{ key: 'b', path: 'conf/b.txt' }] } },
        { name: 'sec', secret: { secretName: 'sec', defaultMode: 0o400 } },
      ],
    },
    {
      env: [{ name: 'A', value: '1' }],
      volumeMounts: [
        { name: 'cfg', mountPath: '/etc/app/' },
        { name: 'sec', mountPath: '/run/secret' },
      ],
    },
  );
  const l = {
    configMap: (_: string, n: string) => (n === 'cm' ? { data: { b: 'bee' } } : undefined),
    secret: (_: string, n: string) => (n === 'sec' ? { data: { s: Buffer.from('top').toString('base64') } } : undefined),
  };
  const { app } = appInstanceFor(p, l);
  assert.equal(app!.spec.env, undefined, 'env goes into the cloud-config instead');
  const [head, body] = app!.spec.userData.split('\n');
  assert.equal(head, '#cloud-config');
  const cc = JSON.parse(body);
  assert.deepEqual(cc.runcmd, ['A=1']);
  assert.deepEqual(cc.write_files, [
    { path: '/etc/app/conf/b.txt', encoding: 'b64', content: Buffer.from('bee').toString('base64'), permissions: '0644' },
    { path: '/run/secret/s', encoding: 'b64', content: Buffer.from('top').toString('base64'), permissions: '0400' },
  ]);
  const gone = appInstanceFor(pod({ volumes: [{ name: 'cfg', configMap: { name: 'nope' } }] }, { volumeMounts: [{ name: 'cfg', mountPath: '/x' }] }), l);
  assert.match(gone.missing!.message, /configMap ns\/nope not found/);
  assert.equal(refusal(pod({}, { volumeMounts: [{ name: 'cfg', mountPath: '/x', subPath: 'a' }] }))?.field, 'spec.containers[0].volumeMounts[0].subPath');
});
