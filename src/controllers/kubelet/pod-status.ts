// Pod status from the AppInstance status the device reports (reference/kubelet-pods-multus.md §F.3,
// §B): phase, the four kubelet conditions plus EVEConnected, one containerStatus, IPs, startTime.
// Pure: the same inputs give the same status, so an unchanged device state costs no write.

import type { KObject } from '../../apiserver/resource.ts';
import { CONNECTED_CONDITION, rfc3339 } from './resources.ts';

const PENDING_STATES = new Set([
  'INITIAL',
  'RESOLVING_TAG',
  'RESOLVED_TAG',
  'DOWNLOAD_STARTED',
  'DOWNLOADED',
  'VERIFYING',
  'VERIFIED',
  'LOADING',
  'LOADED',
  'DELIVERED',
  'CREATING_VOLUME',
  'CREATED_VOLUME',
  'INSTALLED',
  'AWAITNETWORKINSTANCE',
  'PENDING',
  'SCHEDULING',
  'START_DELAYED',
  'UNSPECIFIED',
]);

export interface PodStatusInput {
  pod: KObject;
  app?: KObject;
  /** The Node's EVE connectivity (false: silent past its timeout). */
  online: boolean | undefined;
  hostIP?: string;
  /** Why the AppInstance could not be made yet (missing ConfigMap, ...). */
  blocked?: string;
  nowMs?: number;
}

function cond(prev: KObject[], type: string, status: 'True' | 'False', reason: string | undefined, message: string | undefined, now: string): KObject {
  const p = prev.find((c) => c.type === type);
  return {
    type,
    status,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
    lastProbeTime: null,
    lastTransitionTime: p && p.status === status ? p.lastTransitionTime : now,
  };
}

/** The Failed status of a refused Pod. */
export function refusedStatus(pod: KObject, field: string, message: string, nowMs = Date.now()): KObject {
  const now = rfc3339(nowMs);
  const prev: KObject[] = pod.status?.conditions ?? [];
  return {
    phase: 'Failed',
    reason: 'UnsupportedOnEVE',
    message: `${field}: ${message}`,
    startTime: pod.status?.startTime ?? now,
    conditions: [
      cond(prev, 'PodScheduled', 'True', undefined, undefined, now),
      cond(prev, 'Initialized', 'True', undefined, undefined, now),
      cond(prev, 'ContainersReady', 'False', 'PodFailed', undefined, now),
      cond(prev, 'Ready', 'False', 'PodFailed', undefined, now),
    ],
    containerStatuses: (pod.spec.containers ?? []).map((x: KObject) => ({
      name: x.name,
      image: x.image,
      imageID: '',
      ready: false,
      started: false,
      restartCount: 0,
      state: { waiting: { reason: 'UnsupportedOnEVE', message: `${field}: ${message}` } },
    })),
    qosClass: pod.status?.qosClass ?? 'BestEffort',
  };
}

export function podStatus(i: PodStatusInput): KObject {
  const { pod, app } = i;
  const now = rfc3339(i.nowMs);
  const prev: KObject[] = pod.status?.conditions ?? [];
  const c = pod.spec.containers?.[0] ?? {};
  const st = app?.status ?? {};
  const state = String(st.state ?? (app ? 'PENDING' : 'INITIAL'));
  const errors: string = (st.errors ?? []).map((e: KObject) => e.message).join('; ');
  const prevCs = pod.status?.containerStatuses?.[0];
  let restartCount: number = prevCs?.restartCount ?? 0;

  let phase = 'Pending';
  let cs: KObject;
  const base = { name: c.name, image: c.image, imageID: '', containerID: st.uuid ? `eve://${st.uuid}` : undefined };
  const startedAt = prevCs?.state?.running?.startedAt ?? now;
  // Kept from the previous status, so an unchanged device state gives an identical status (no write).
  const finishedAt = prevCs?.state?.terminated?.finishedAt ?? now;
  if (i.blocked) {
    cs = { ...base, ready: false, started: false, state: { waiting: { reason: 'CreateContainerConfigError', message: i.blocked } } };
  } else if (state === 'RUNNING') {
    phase = 'Running';
    cs = { ...base, ready: true, started: true, state: { running: { startedAt } } };
  } else if (state === 'BOOTING' || state === 'RESTARTING' || state === 'PURGING') {
    phase = 'Running';
    // Once per restart: the status written while restarting is not ready, so the next pass does not count again.
    if ((state === 'RESTARTING' || state === 'PURGING') && prevCs?.state?.running && prevCs.ready) restartCount++;
    cs = { ...base, ready: false, started: true, state: { running: { startedAt } } };
  } else if (state === 'HALTING' || state === 'HALTED') {
    phase = pod.status?.phase === 'Running' ? 'Running' : 'Pending';
    cs = { ...base, ready: false, started: false, state: { terminated: { exitCode: 0, reason: 'Completed', message: `EVE reports ${state}`, finishedAt } } };
  } else if (state === 'ERROR') {
    const ran = !!prevCs?.state?.running;
    phase = ran ? 'Running' : 'Pending';
    cs = ran
      ? {
          ...base,
          ready: false,
          started: false,
          state: { terminated: { exitCode: 1, reason: 'Error', message: errors || 'EVE reports an error', finishedAt } },
        }
      : {
          ...base,
          ready: false,
          started: false,
          state: {
            waiting: {
              reason: /image|download|pull|manifest|registry/i.test(errors) ? 'ErrImagePull' : 'CreateContainerError',
              message: errors || 'EVE reports an error',
            },
          },
        };
  } else {
    cs = {
      ...base,
      ready: false,
      started: false,
      state: {
        waiting: {
          reason: state === 'START_DELAYED' ? 'StartDelayed' : 'ContainerCreating',
          ...(PENDING_STATES.has(state) && state !== 'INITIAL' ? { message: `EVE reports ${state}` } : {}),
        },
      },
    };
  }
  if (!cs.containerID) delete cs.containerID;
  cs.restartCount = restartCount;

  const ready = cs.ready === true;
  const conditions = [
    cond(prev, 'PodScheduled', 'True', undefined, undefined, now),
    cond(prev, 'Initialized', 'True', undefined, undefined, now),
    cond(
      prev,
      'ContainersReady',
      ready ? 'True' : 'False',
      ready ? undefined : 'ContainersNotReady',
      ready ? undefined : `containers with unready status: [${c.name}]`,
      now,
    ),
    cond(
      prev,
      'Ready',
      ready ? 'True' : 'False',
      ready ? undefined : 'ContainersNotReady',
      ready ? undefined : `containers with unready status: [${c.name}]`,
      now,
    ),
    // Disconnected is not dead: the state above is the last one the device reported.
    i.online === false
      ? cond(
          prev,
          CONNECTED_CONDITION,
          'False',
          'DeviceOutOfContact',
          'the EVE device is out of contact; this is the last state it reported and it keeps running its last config',
          now,
        )
      : cond(prev, CONNECTED_CONDITION, 'True', 'DeviceContact', undefined, now),
  ];
  // The pod IPs are eth0's (the default network), one per family as kube requires; extra networks'
  // addresses are in the network-status annotation (pod-networks.ts).
  const eth0: string[] = st.interfaces?.[0]?.ipAddresses ?? st.ipAddresses ?? [];
  const ips = [eth0.find((ip) => !ip.includes(':')), eth0.find((ip) => ip.includes(':'))].filter((ip): ip is string => !!ip);
  return {
    phase,
    conditions,
    ...(i.hostIP ? { hostIP: i.hostIP, hostIPs: [{ ip: i.hostIP }] } : {}),
    ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
    startTime: pod.status?.startTime ?? now,
    containerStatuses: [cs],
    qosClass: pod.status?.qosClass ?? 'BestEffort',
  };
}
