// The BaseOSRollout controller: drives EdgeNode spec.baseOS batch by batch and judges every device
// by what EVE reports (observe.ts) and whether its apps come back Ready. One reconcile per rollout
// (the work queue coalesces bursts of device reports into one pass); the rollout's status is the
// controller's memory, so a restart resumes where it left off. What a device ran before the rollout
// is kept on the EdgeNode itself (annotations), which is also how "one active rollout per device"
// is enforced. Only the controller-runtime client and informer caches are used.

import type { KObject } from '../../apiserver/resource.ts';
import { selectorMatches } from '../../api/builtin/pod-template.ts';
import { deepClone as cloneJson, deepEqual as jsonEqual } from '../../common/json.ts';
import { byField, Controller, isConflict, isNotFound, SharedInformerFactory, type Client, type GVR, type Informer } from '../runtime/index.ts';
import { EventRecorder } from '../eve/recorder.ts';
import { API_VERSION, APPINSTANCES, EDGENODES, GROUP, VERSION, rfc3339, setCondition, type Condition } from '../eve/status.ts';
import { FAILED, SETTLED, observeDevice, unreadyApps, type DeviceState } from './observe.ts';
import { isProblem, planRollout, windowState, type RolloutPlan } from './spec.ts';
import { DisruptionBudgets } from './disruption.ts';

export const BASEOSROLLOUTS: GVR = { group: GROUP, version: VERSION, resource: 'baseosrollouts' };
/** On an EdgeNode: the rollout that drives its spec.baseOS. */
export const ROLLOUT_ANNOTATION = 'rollout.eve.kubeve.io/name';
/** On an EdgeNode: its spec.baseOS before that rollout touched it (JSON; "null" = none), restored on re-pin. */
export const PREVIOUS_ANNOTATION = 'rollout.eve.kubeve.io/previous-baseos';
const FIELD_MANAGER = 'kubeve-rollout-controller';
const TERMINAL = new Set(['Completed', 'Failed', 'Aborted']);
const NODE_INDEX = 'spec.nodeName';
/** How long a write of ours may take to come back through the informer before the cache is trusted again. */
const UNSEEN_GRACE_MS = 10_000;

interface DeviceEntry {
  name: string;
  batch: number;
  state: DeviceState;
  /** Why a Waiting device is held back (DisruptionBudget). */
  reason?: string;
  progress?: number;
  message?: string;
  activatedTime?: string;
  committedTime?: string;
}

interface BatchEntry {
  index: number;
  size: number;
  failureBudget: number;
  phase: 'Pending' | 'Progressing' | 'Succeeded' | 'Failed' | 'Aborted';
  updated: number;
  failed: number;
  startTime?: string;
  completionTime?: string;
}

export interface RolloutControllerOptions {
  informers?: SharedInformerFactory;
  workers?: number;
  /** Clock (tests, benchmarks). */
  now?: () => number;
  /** Longest wait before a rollout with devices in flight is looked at again (timeouts, windows). */
  resyncMs?: number;
  /** Device reports within this window are handled by one pass over the rollout (default 100 ms). */
  debounceMs?: number;
  /**
   * Gate activation on PodDisruptionBudgets (default true). Needs read access to pods and PDBs; off
   * where no pods run on EVE Nodes (an operator without the kubelet bridge: there are no such Nodes).
   */
  disruptionBudgets?: boolean;
}

/** EdgeNode writes of one pass, a few at a time (a batch of thousands should not wait on each write in turn). */
const WRITE_CONCURRENCY = 16;
/** EdgeNode pins per pass: a pass that pins thousands would hold back every device report meanwhile; the rest follow at once in the next pass. */
const MAX_PINS_PER_PASS = 250;

async function inParallel<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, items.length) }, worker));
}

/**
 * Status keeps the two big groups compact: devices not started and devices updated are listed by
 * name in their batch (pendingDevices, updatedDevices); status.devices details the rest (in flight,
 * failed, re-pinned). At 10,000 devices that is about a tenth of the bytes of one entry each, and
 * the status write is what a pass mostly costs.
 */
function expandDevices(st: KObject): DeviceEntry[] {
  const out: DeviceEntry[] = Array.isArray(st.devices) ? [...st.devices] : [];
  for (const b of (Array.isArray(st.batches) ? st.batches : []) as KObject[]) {
    for (const name of b.pendingDevices ?? []) out.push({ name, batch: b.index, state: 'Pending' });
    for (const name of b.updatedDevices ?? []) out.push({ name, batch: b.index, state: 'Updated' });
  }
  return out.sort((a, b) => a.batch - b.batch || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function compactDevices(st: KObject, devices: DeviceEntry[]): void {
  const batches = st.batches as KObject[];
  for (const b of batches) {
    b.pendingDevices = [];
    b.updatedDevices = [];
  }
  st.devices = [];
  for (const d of devices) {
    if (d.state === 'Pending' && !d.activatedTime) batches[d.batch]!.pendingDevices.push(d.name);
    else if (d.state === 'Updated') batches[d.batch]!.updatedDevices.push(d.name);
    else st.devices.push(d);
  }
  for (const b of batches) {
    if (!b.pendingDevices.length) delete b.pendingDevices;
    if (!b.updatedDevices.length) delete b.updatedDevices;
  }
}

export class RolloutController {
  readonly informers: SharedInformerFactory;
  readonly controller: Controller;
  readonly events: EventRecorder;
  private readonly rollouts: Informer;
  private readonly nodes: Informer;
  private readonly apps: Informer;
  private readonly budgets?: DisruptionBudgets;
  /** Rollouts with devices held back by a PodDisruptionBudget: pod and budget changes look at them again. */
  private readonly waitingOnBudget = new Set<string>();
  private readonly now: () => number;
  /**
   * EdgeNodes this controller wrote, by name → the resourceVersion written, until the informer
   * delivers that version: until then the cache shows the device as it was before (not yet pinned).
   */
  private readonly unseenWrites = new Map<string, { rv: string; at: number }>();
  /**
   * This controller's last status write of each rollout until the informer delivers it: the next
   * pass starts from it instead of the older cached copy (no waiting for the echo).
   */
  private readonly unseenStatus = new Map<string, { rv: string; at: number; object: KObject }>();
  /** Called after each status write of a rollout (benchmarks measure report → status latency). */
  onStatusWritten?: (rollout: KObject) => void;

  constructor(
    private readonly client: Client,
    private readonly opts: RolloutControllerOptions = {},
  ) {
    this.informers = opts.informers ?? new SharedInformerFactory(client);
    this.now = opts.now ?? Date.now;
    this.events = new EventRecorder(client);
    this.rollouts = this.informers.informerFor(BASEOSROLLOUTS);
    this.nodes = this.informers.informerFor(EDGENODES);
    this.apps = this.informers.informerFor(APPINSTANCES, { indexers: { [NODE_INDEX]: byField('spec.nodeName') } });
    this.controller = new Controller('baseosrollouts', (key) => this.reconcile(key), { workers: opts.workers ?? 1 });
    const enqueue = (o: KObject) => {
      const name = String(o.metadata?.name);
      if (this.unseenStatus.get(name)?.rv === o.metadata?.resourceVersion) {
        // The echo of our own status write brings nothing new.
        this.unseenStatus.delete(name);
        return;
      }
      this.controller.enqueue(name);
    };
    this.rollouts.addEventHandler({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o), onDelete: () => {} });
    const seen = (o: KObject) => {
      const name = String(o.metadata?.name);
      if (this.unseenWrites.get(name)?.rv === o.metadata?.resourceVersion) this.unseenWrites.delete(name);
    };
    this.nodes.addEventHandler({
      onAdd: (o) => {
        seen(o);
        this.nodeChanged(o, true);
      },
      onUpdate: (old, o) => {
        seen(o);
        this.nodeChanged(o, !jsonEqual(old.metadata?.labels ?? {}, o.metadata?.labels ?? {}));
      },
      onDelete: (o) => {
        this.unseenWrites.delete(String(o.metadata?.name));
        this.nodeChanged(o, false);
      },
    });
    const appChanged = (a: KObject) => {
      const node = a.spec?.nodeName && this.nodes.store.get(String(a.spec.nodeName));
      const owner = node?.metadata?.annotations?.[ROLLOUT_ANNOTATION];
      if (owner) this.deviceReport(owner);
    };
    this.apps.addEventHandler({ onAdd: appChanged, onUpdate: (_, a) => appChanged(a), onDelete: appChanged });
    if (opts.disruptionBudgets !== false) this.budgets = new DisruptionBudgets(this.informers);
    // Pods coming back Ready (on an updated device or elsewhere) and budget changes may free held-back devices.
    const budgetsMoved = () => {
      for (const r of this.waitingOnBudget) this.deviceReport(r);
    };
    const podChanged = (p: KObject) => {
      appChanged(p);
      budgetsMoved();
    };
    this.budgets?.pods.addEventHandler({ onAdd: podChanged, onUpdate: (_, p) => podChanged(p), onDelete: podChanged });
    this.budgets?.pdbs.addEventHandler({ onAdd: budgetsMoved, onUpdate: budgetsMoved, onDelete: budgetsMoved });
  }

  /** A device report goes to the rollout that owns the device; a new or relabelled device to every running rollout (it may join). */
  private nodeChanged(node: KObject, mayJoin: boolean): void {
    const owner = node.metadata?.annotations?.[ROLLOUT_ANNOTATION];
    if (owner) this.deviceReport(owner);
    if (!mayJoin) return;
    for (const r of this.rollouts.store.list()) if (!TERMINAL.has(r.status?.phase)) this.deviceReport(String(r.metadata?.name));
  }

  /** Device-side changes are coalesced: a burst of reports costs one pass over the rollout. */
  private deviceReport(rollout: string): void {
    this.controller.queue.addAfter(rollout, this.opts.debounceMs ?? 100);
  }

  async start(): Promise<void> {
    this.informers.start();
    await this.informers.waitForCacheSync();
    this.controller.run();
  }

  async stop(): Promise<void> {
    await this.controller.stop();
  }

  private active(name: string): boolean {
    const r = this.rollouts.store.get(name);
    return !!r && !r.metadata?.deletionTimestamp && !TERMINAL.has(r.status?.phase) && r.status?.phase !== 'Rejected';
  }

  /** Devices listed by the other running rollouts: at most one running rollout drives a device. */
  private claimsOfOthers(name: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const o of this.rollouts.store.list()) {
      const other = String(o.metadata?.name);
      if (other === name || !this.active(other)) continue;
      for (const d of expandDevices(o.status ?? {})) if (!SETTLED.has(d.state)) out.set(d.name, other);
    }
    return out;
  }

  private selected(r: KObject): KObject[] {
    const sel = r.spec?.selector ?? {};
    return this.nodes.store.list().filter((n) => selectorMatches(sel, n.metadata?.labels ?? {}));
  }

  async reconcile(name: string): Promise<{ requeueAfterMs?: number } | void> {
    const stored = this.rollouts.store.get(name);
    if (!stored || stored.metadata?.deletionTimestamp) {
      this.waitingOnBudget.delete(name);
      return;
    }
    // Our last status write may not be in the cache yet: it is the newest copy (a later change by
    // anyone else would have made that write conflict).
    const cached = this.unseen(this.unseenStatus, name, this.now()) ? this.unseenStatus.get(name)!.object : stored;
    const phase0 = cached.status?.phase;
    if (TERMINAL.has(phase0)) {
      this.waitingOnBudget.delete(name);
      return;
    }
    const r = cloneJson(cached);
    const st: KObject = r.status ?? (r.status = {});
    const now = this.now();
    const generation = r.metadata?.generation;

    // Devices: the ones the rollout already covers, plus those that match now and belong to no other running rollout.
    const devices: DeviceEntry[] = expandDevices(st);
    const known = new Set(devices.map((d) => d.name));
    const skipped: string[] = [];
    const joining: string[] = [];
    const claims = this.claimsOfOthers(name);
    for (const n of this.selected(r)) {
      const nm = String(n.metadata?.name);
      if (known.has(nm)) continue;
      const annotated = n.metadata?.annotations?.[ROLLOUT_ANNOTATION];
      const owner = claims.get(nm) ?? (annotated && annotated !== name && this.active(annotated) ? annotated : undefined);
      if (owner) skipped.push(`${nm} (rollout ${owner})`);
      else joining.push(nm);
    }
    joining.sort();
    const fresh = devices.length === 0;
    const plan = planRollout(r.spec ?? {}, fresh ? joining.length : devices.length);
    if (isProblem(plan)) {
      st.phase = 'Rejected';
      st.message = plan.message;
      setCondition(st, { type: 'Halted', status: 'True', reason: plan.reason, message: plan.message });
      setCondition(st, { type: 'Progressing', status: 'False', reason: plan.reason, message: plan.message });
      return this.writeStatus(cached, r, phase0);
    }
    let batches: BatchEntry[] = Array.isArray(st.batches) ? st.batches : [];
    if (fresh) {
      batches = plan.sizes.map((size, index) => ({ index, size, failureBudget: plan.budgets[index]!, phase: 'Pending', updated: 0, failed: 0 }));
      let i = 0;
      for (const [b, size] of plan.sizes.entries()) for (let k = 0; k < size; k++) devices.push({ name: joining[i++]!, batch: b, state: 'Pending' });
      if (joining.length)
        void this.event(
          r,
          'Normal',
          'Started',
          `rolling out EVE ${plan.version} to ${joining.length} devices in ${batches.length} batches (${plan.sizes.join('/')})`,
        );
    } else if (joining.length) {
      // Late joiners go to the last batch (it has not started, or it is the one running).
      const last = batches[batches.length - 1]!;
      for (const nm of joining) devices.push({ name: nm, batch: last.index, state: 'Pending' });
      last.size += joining.length;
      void this.event(
        r,
        'Normal',
        'DevicesJoined',
        `${joining.length} devices joined the last batch: ${joining.slice(0, 10).join(', ')}${joining.length > 10 ? ', ...' : ''}`,
      );
    }
    st.devices = devices;
    st.batches = batches;
    // A device held back last pass is a candidate again (prestaged ones were staged: only staged ones are candidates then).
    for (const d of devices) {
      if (d.state !== 'Waiting') continue;
      d.state = plan.prestage ? 'Staged' : 'Pending';
      delete d.reason;
      delete d.message;
    }

    // Observe every device the rollout has touched.
    let requeue = this.opts.resyncMs ?? 30_000;
    for (const d of devices) {
      if (d.state === 'Pending' || SETTLED.has(d.state)) continue;
      if (this.unseen(this.unseenWrites, d.name, now)) continue; // the cache has not caught up with our pin yet
      const node = this.nodes.store.get(d.name);
      if (!node) {
        this.settle(d, 'Failed', 'the EdgeNode was deleted during the rollout');
        continue;
      }
      if (node.spec?.baseOS?.version !== plan.version) {
        this.settle(d, 'Failed', `spec.baseOS was changed to ${node.spec?.baseOS?.version ?? 'nothing'} outside the rollout`);
        continue;
      }
      const o = observeDevice(node, plan.version, !!d.activatedTime);
      if (o.state === 'Verifying') {
        d.committedTime ??= rfc3339(now);
        const waiting = unreadyApps(this.apps.store.byIndex(NODE_INDEX, d.name));
        const since = Date.parse(d.committedTime);
        if (!waiting.length) {
          // No message: a fleet of updated devices should not repeat the same sentence thousands of times in status.
          this.settle(d, 'Updated');
          delete d.message;
        } else if (now - since >= plan.healthWindowMs)
          this.settle(d, 'Failed', `health gate: apps not Ready ${Math.round(plan.healthWindowMs / 1000)} s after the update: ${waiting.join(', ')}`);
        else {
          d.state = 'Verifying';
          d.message = `committed; waiting for apps: ${waiting.join(', ')}`;
          delete d.progress;
          requeue = Math.min(requeue, since + plan.healthWindowMs - now + 50);
        }
        continue;
      }
      if (FAILED.has(o.state)) {
        this.settle(d, o.state, o.message);
        continue;
      }
      if (d.activatedTime && now - Date.parse(d.activatedTime) >= plan.deviceTimeoutMs) {
        this.settle(d, 'Failed', `timed out after ${Math.round(plan.deviceTimeoutMs / 1000)} s, last seen ${o.state}${o.message ? `: ${o.message}` : ''}`);
        continue;
      }
      if (d.activatedTime) requeue = Math.min(requeue, Date.parse(d.activatedTime) + plan.deviceTimeoutMs - now + 50);
      d.state = o.state;
      if (o.progress !== undefined && o.state === 'Downloading') d.progress = o.progress;
      else delete d.progress;
      if (o.message) d.message = o.message;
      else delete d.message;
    }

    const pendingWrites: Array<{ d: DeviceEntry; activate: boolean }> = [];
    // Prestage: every device gets the image with activate=false, whatever its batch.
    if (plan.prestage && !r.spec?.abort) {
      for (const d of devices) if (d.state === 'Pending' && !d.activatedTime) pendingWrites.push({ d, activate: false });
    }

    let window: { open: boolean; changesInMs: number } | undefined;
    if (plan.window) {
      window = windowState(plan.window, now);
      st.windowOpen = window.open;
      requeue = Math.min(requeue, window.changesInMs);
    } else delete st.windowOpen;

    const inFlight = () => devices.filter((d) => d.activatedTime && !SETTLED.has(d.state)).length;
    let phase: string = 'Progressing';
    let message = '';
    const repin: DeviceEntry[] = [];
    if (r.spec?.abort) {
      phase = 'Aborted';
      for (const d of devices) if ((d.activatedTime || d.state !== 'Pending') && !SETTLED.has(d.state)) repin.push(d);
      for (const b of batches) if (b.phase === 'Progressing' || b.phase === 'Pending') b.phase = 'Aborted';
      message = `aborted; ${repin.length} devices re-pinned to their previous version`;
      void this.event(r, 'Warning', 'Aborted', message);
    } else {
      for (const b of batches) {
        const members = devices.filter((d) => d.batch === b.index);
        b.updated = members.filter((d) => d.state === 'Updated').length;
        const failed = members.filter((d) => FAILED.has(d.state));
        b.failed = failed.length;
        if (b.phase === 'Succeeded') continue;
        const flying = members.filter((d) => d.activatedTime && !SETTLED.has(d.state));
        if (b.failed > b.failureBudget) {
          if (flying.length) {
            // Over budget: nothing new starts; what is in flight is still judged so the report is complete.
            message = `batch ${b.index + 1}: ${b.failed} failed (budget ${b.failureBudget}); waiting for ${flying.length} devices in flight before halting`;
            break;
          }
          b.phase = 'Failed';
          b.completionTime = rfc3339(now);
          phase = 'Failed';
          message = `batch ${b.index + 1}/${batches.length} failed: ${b.failed} of ${members.length} devices failed (budget ${b.failureBudget}): ${failed.map((d) => `${d.name} (${d.state}: ${d.message ?? ''})`).join('; ')}`;
          for (const d of members) if (d.activatedTime || d.state !== 'Pending') repin.push(d);
          void this.event(r, 'Warning', 'BatchFailed', `${message}; the batch is re-pinned to its previous version`);
          break;
        }
        if (members.every((d) => SETTLED.has(d.state))) {
          b.phase = 'Succeeded';
          b.completionTime = rfc3339(now);
          void this.event(
            r,
            'Normal',
            'BatchSucceeded',
            `batch ${b.index + 1}/${batches.length}: ${b.updated} of ${members.length} devices updated, ${b.failed} failed (budget ${b.failureBudget})`,
          );
          continue;
        }
        // The current batch.
        if (r.spec?.paused) {
          phase = 'Paused';
          message = `paused in batch ${b.index + 1}; ${flying.length} devices in flight finish`;
          break;
        }
        if (window && !window.open) {
          message = `waiting for the maintenance window (opens in ${Math.round(window.changesInMs / 60_000)} min)`;
          break;
        }
        let budget = plan.maxUnavailable - inFlight();
        // A reboot disrupts the pods on the device: PodDisruptionBudgets decide which devices may go together.
        const guard = this.budgets?.guard(devices.filter((d) => d.activatedTime && !SETTLED.has(d.state)).map((d) => d.name));
        for (const d of members) {
          if (budget <= 0) break;
          if (d.activatedTime || SETTLED.has(d.state)) continue;
          if (plan.prestage && d.state !== 'Staged') continue; // activate only what is downloaded
          const blocker = guard?.admit(d.name);
          if (blocker) {
            d.state = 'Waiting';
            d.reason = 'DisruptionBudget';
            d.message = blocker;
            continue;
          }
          pendingWrites.push({ d, activate: true });
          budget--;
        }
        const held = members.filter((d) => d.state === 'Waiting').length;
        if (held) message = `batch ${b.index + 1}: ${held} devices wait for PodDisruptionBudgets`;
        if (b.phase === 'Pending' && (pendingWrites.some((w) => w.activate) || flying.length)) {
          b.phase = 'Progressing';
          b.startTime = rfc3339(now);
          void this.event(r, 'Normal', 'BatchStarted', `batch ${b.index + 1}/${batches.length} started: ${members.length} devices`);
        }
        break;
      }
      if (batches.every((b) => b.phase === 'Succeeded')) {
        phase = 'Completed';
        message = `EVE ${plan.version} rolled out`;
        void this.event(
          r,
          'Normal',
          'Completed',
          `${message}: ${devices.filter((d) => d.state === 'Updated').length} updated, ${devices.filter((d) => FAILED.has(d.state)).length} failed`,
        );
      } else if (phase === 'Progressing' && plan.prestage && devices.some((d) => d.state === 'Pending' || d.state === 'Downloading')) {
        phase = 'Prestaging';
      }
    }

    // Writes to EdgeNodes; one that fails leaves the device as it was (the next pass retries it).
    let more = false;
    if (pendingWrites.length > MAX_PINS_PER_PASS) {
      pendingWrites.length = MAX_PINS_PER_PASS;
      more = true;
    }
    await inParallel(pendingWrites, async (w) => {
      if (!(await this.pinDevice(name, w.d.name, plan, w.activate))) return;
      if (w.activate) {
        w.d.activatedTime = rfc3339(this.now());
        w.d.state = w.d.state === 'Staged' ? 'Rebooting' : 'Downloading';
      } else w.d.state = 'Downloading';
      w.d.progress ??= 0;
    });
    await inParallel(repin, async (d) => {
      await this.restoreDevice(name, d.name);
      if (!FAILED.has(d.state)) this.settle(d, 'RePinned', `re-pinned to its previous version (was ${d.state})`);
    });
    if (skipped.length)
      message = `${message ? `${message}; ` : ''}${skipped.length} matching devices belong to other running rollouts: ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', ...' : ''}`;

    // Summary and conditions.
    const count = (f: (d: DeviceEntry) => boolean) => devices.filter(f).length;
    st.observedGeneration = generation;
    st.phase = phase;
    st.message = message;
    st.total = devices.length;
    st.updated = count((d) => d.state === 'Updated');
    st.failed = count((d) => FAILED.has(d.state));
    st.updating = inFlight();
    // A prestaged device waiting for a disruption budget is still staged.
    const staged = (d: DeviceEntry) => d.state === 'Staged' || (plan.prestage && d.state === 'Waiting');
    st.staged = count(staged);
    const ready = count((d) => !!d.activatedTime || staged(d));
    st.readyToActivate = `${devices.length ? Math.floor((ready * 100) / devices.length) : 0}%`;
    const current = batches.find((b) => b.phase !== 'Succeeded') ?? batches[batches.length - 1];
    st.batch = `${current ? current.index + 1 : 0}/${batches.length}`;
    const halted: Condition =
      phase === 'Failed' || phase === 'Aborted' || phase === 'Paused'
        ? { type: 'Halted', status: 'True', reason: phase === 'Failed' ? 'BatchFailed' : phase, message }
        : { type: 'Halted', status: 'False', reason: 'Running', message: '' };
    setCondition(st, halted, now);
    const moving = phase === 'Progressing' || phase === 'Prestaging';
    setCondition(st, { type: 'Progressing', status: moving ? 'True' : 'False', reason: phase, message }, now);
    setCondition(st, { type: 'Complete', status: phase === 'Completed' ? 'True' : 'False', reason: phase, message: phase === 'Completed' ? message : '' }, now);
    if (devices.some((d) => d.state === 'Waiting')) {
      this.waitingOnBudget.add(name);
      // Budgets usually move with pod and budget events; this is the fallback.
      requeue = Math.min(requeue, 5000);
    } else this.waitingOnBudget.delete(name);
    compactDevices(st, devices);
    const result = await this.writeStatus(cached, r, phase0);
    if (TERMINAL.has(phase)) return result;
    return { requeueAfterMs: more ? 0 : Math.max(50, requeue) };
  }

  /** Whether a write of ours to `name` has not reached the cache yet (given up after a grace period: a relist may skip it). */
  private unseen(m: Map<string, { rv: string; at: number }>, name: string, now: number): boolean {
    const w = m.get(name);
    if (!w) return false;
    if (now - w.at < UNSEEN_GRACE_MS) return true;
    m.delete(name);
    return false;
  }

  private settle(d: DeviceEntry, state: DeviceState, message?: string): void {
    d.state = state;
    delete d.progress;
    if (message) d.message = message;
  }

  private async writeStatus(cached: KObject, r: KObject, phase0: string | undefined): Promise<void> {
    if (jsonEqual(cached.status ?? {}, r.status)) return;
    try {
      const written = await this.client.updateStatus(BASEOSROLLOUTS, r, { fieldManager: FIELD_MANAGER });
      if (this.rollouts.store.get(String(r.metadata?.name))?.metadata?.resourceVersion !== written.metadata?.resourceVersion) {
        this.unseenStatus.set(String(r.metadata?.name), { rv: String(written.metadata?.resourceVersion), at: this.now(), object: written });
      }
      if (phase0 !== r.status.phase && ['Completed', 'Failed', 'Aborted', 'Rejected', 'Paused'].includes(r.status.phase) && r.status.phase !== 'Completed') {
        // Completed/BatchFailed/Aborted have their own events; Rejected and Paused get one here.
        if (r.status.phase === 'Rejected' || r.status.phase === 'Paused')
          void this.event(r, r.status.phase === 'Rejected' ? 'Warning' : 'Normal', r.status.phase, r.status.message);
      }
      this.onStatusWritten?.(written);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
  }

  private event(r: KObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.events.record({ ...r, apiVersion: API_VERSION, kind: 'BaseOSRollout' }, type, reason, message);
  }

  /** Sets the device's spec.baseOS to the rollout's version, remembering what it had before (first time only). */
  private pinDevice(rollout: string, node: string, plan: RolloutPlan, activate: boolean): Promise<boolean> {
    return this.mutateNode(node, (n) => {
      const ann: Record<string, string> = (n.metadata.annotations ??= {});
      if (ann[ROLLOUT_ANNOTATION] !== rollout) {
        ann[ROLLOUT_ANNOTATION] = rollout;
        ann[PREVIOUS_ANNOTATION] = JSON.stringify(n.spec?.baseOS ?? null);
      }
      n.spec = { ...(n.spec ?? {}), baseOS: { ...plan.baseOS, activate } };
      return true;
    });
  }

  /** Puts back the spec.baseOS the device had before the rollout. */
  private restoreDevice(rollout: string, node: string): Promise<boolean> {
    return this.mutateNode(node, (n) => {
      if (n.metadata?.annotations?.[ROLLOUT_ANNOTATION] !== rollout) return false;
      let previous: KObject | null = null;
      try {
        previous = JSON.parse(n.metadata.annotations[PREVIOUS_ANNOTATION] ?? 'null');
      } catch {
        previous = null;
      }
      if (previous) n.spec.baseOS = previous;
      else delete n.spec.baseOS;
      return true;
    });
  }

  /** Read (cache first) - modify - update, re-reading on a conflict; false when the EdgeNode is gone or `fn` declines. */
  private async mutateNode(name: string, fn: (n: KObject) => boolean): Promise<boolean> {
    let current = this.nodes.store.get(name);
    for (let attempt = 0; ; attempt++) {
      if (!current) return false;
      const n = cloneJson(current);
      if (!fn(n)) return false;
      if (jsonEqual(n, current)) return true;
      try {
        const written = await this.client.update(EDGENODES, n, { fieldManager: FIELD_MANAGER });
        if (this.nodes.store.get(name)?.metadata?.resourceVersion !== written.metadata?.resourceVersion)
          this.unseenWrites.set(name, { rv: String(written.metadata?.resourceVersion), at: this.now() });
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        if (!isConflict(e) || attempt >= 4) throw e;
        current = await this.client.get(EDGENODES, undefined, name).catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
      }
    }
  }
}
