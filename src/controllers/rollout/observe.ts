// What one device's EdgeNode (and the apps on it) say about its update to the rollout's version,
// as a rollout device state. The partitions EVE reports are the evidence (ingest.ts maps them from
// ZInfoDevice.swList): a device is only ever "committed" when the partition holding the new version
// is the active one and no longer in test; a fallback or failure keeps EVE's error text.

import type { KObject } from '../../apiserver/resource.ts';

export type DeviceState =
  | 'Pending'
  | 'Waiting'
  | 'Downloading'
  | 'Staged'
  | 'Rebooting'
  | 'Testing'
  | 'Verifying'
  | 'Updated'
  | 'FellBack'
  | 'Failed'
  | 'RePinned';

/** States a device does not leave by itself. */
export const SETTLED: ReadonlySet<string> = new Set(['Updated', 'FellBack', 'Failed', 'RePinned']);
export const FAILED: ReadonlySet<string> = new Set(['FellBack', 'Failed']);

export interface Observation {
  state: DeviceState;
  progress?: number;
  message?: string;
}

const cond = (o: KObject | undefined, type: string): KObject | undefined => (o?.status?.conditions as KObject[] | undefined)?.find((c) => c.type === type);

/** The device's progress towards `version` (it has been told to install it, activated or not). */
export function observeDevice(node: KObject, version: string, activated: boolean): Observation {
  const st = node.status ?? {};
  const parts: KObject[] = Array.isArray(st.partitions) ? st.partitions : [];
  const p = parts.find((x) => x.version === version);
  if (p?.status === 'FALLBACK')
    return { state: 'FellBack', message: String(p.error || cond(node, 'BaseOSReady')?.message || 'the new image failed its test boot') };
  if (p?.status === 'FAILED') return { state: 'Failed', message: String(p.error || cond(node, 'BaseOSReady')?.message || 'the update failed') };
  if (st.eveVersion === version && p?.state === 'active') return { state: 'Verifying' };
  if (p?.state === 'inprogress') return { state: 'Testing', message: 'booted the new image; testing it before commit' };
  if (p?.status === 'UPDATING' || (activated && p?.status === 'DOWNLOAD_DONE')) return { state: 'Rebooting' };
  if (p?.status === 'DOWNLOAD_DONE') return { state: 'Staged' };
  return { state: 'Downloading', progress: typeof p?.progress === 'number' ? p.progress : 0 };
}

/** Apps on the device that are not Ready, as "namespace/name (reason)"; empty when all are. */
export function unreadyApps(apps: KObject[]): string[] {
  const out: string[] = [];
  for (const a of apps) {
    if (a.metadata?.deletionTimestamp) continue;
    const r = cond(a, 'Ready');
    if (r?.status !== 'True') out.push(`${a.metadata?.namespace}/${a.metadata?.name} (${r ? `${r.reason}: ${r.message}` : 'no status yet'})`);
  }
  return out;
}
