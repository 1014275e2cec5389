// Leader election on a coordination.k8s.io/v1 Lease, with client-go's record and timings: the
// holder renews every retryPeriod; a candidate takes the lease over once it has seen the same
// record unchanged for leaseDurationSeconds (measured on its own clock, so clock skew between
// replicas does not matter); every write is conditional on the Lease's resourceVersion, so two
// candidates can never both win. A leader that cannot renew within renewDeadline steps down.
// Unlike client-go's Run(), which returns after losing the lease, the elector then campaigns
// again until stopped. A clean stop releases the lease so another candidate takes over at once.

import { isAlreadyExists, isConflict, isNotFound, type Client, type GVR, type KObject } from './client.ts';
import { log } from '../../observability/log.ts';

export const LEASES: GVR = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' };

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** Unique per candidate (client-go uses hostname_uuid). */
  identity: string;
  /** client-go's defaults: 15 s, 10 s, 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading?(): void;
  onStoppedLeading?(): void;
  /** The holder changed (including to this candidate). */
  onNewLeader?(identity: string): void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** metav1.MicroTime as the API writes it: RFC 3339 with microseconds. */
const microTime = (ms: number) => new Date(ms).toISOString().replace(/(\.\d{3})Z$/, '$1000Z');
const jittered = (ms: number) => ms * (1 + Math.random() * 0.2);

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leading = false;
  private announced = false; // onStartedLeading was called
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private lease?: KObject; // the last Lease read or written
  private observed = '';
  private observedAt = 0;
  private holder = '';
  private renewedAt = 0; // last successful acquire or renewal

  constructor(
    private readonly client: Client,
    private readonly o: LeaderElectionOptions,
  ) {
    this.leaseDurationMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = o.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod');
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * A health check as client-go's HealthzAdaptor: fails only on a leader whose last successful renewal is
   * older than the lease duration plus `toleranceMs` (its renew loop is stuck); a follower is healthy.
   */
  check(toleranceMs = 20_000): string | undefined {
    if (!this.leading) return undefined;
    const since = Date.now() - this.renewedAt;
    if (since <= this.leaseDurationMs + toleranceMs) return undefined;
    return `leading but lease ${this.o.namespace}/${this.o.name} not renewed for ${Math.round(since / 1000)} s`;
  }

  /** The holder last observed ('' = none). */
  leader(): string {
    return this.holder;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops campaigning; a leader releases the lease (unless release: false, e.g. to simulate a crash). */
  async stop(o: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (!this.leading) return;
    if (o.release !== false) {
      try {
        await this.release();
      } catch (e) {
        log.error('releasing lease failed', e, { lease: `${this.o.namespace}/${this.o.name}` });
      }
    }
    this.leading = false;
    if (this.announced) this.callback(() => this.o.onStoppedLeading?.());
    this.announced = false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
  }

  private callback(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      log.error('leader election callback failed', e);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      // Campaign.
      while (!this.stopped) {
        if (await this.attempt(this.retryPeriodMs)) {
          this.leading = true; // set even if stop() came meanwhile, so that stop() releases
          break;
        }
        await this.sleep(jittered(this.retryPeriodMs));
      }
      if (this.stopped) return;
      this.announced = true;
      this.callback(() => this.o.onStartedLeading?.());
      // Renew until a renewal cannot be made within the deadline.
      let renewed = Date.now();
      while (!this.stopped) {
        await this.sleep(this.retryPeriodMs);
        if (this.stopped) return;
        const left = this.renewDeadlineMs - (Date.now() - renewed);
        if (left > 0 && (await this.attempt(left))) renewed = Date.now();
        else if (Date.now() - renewed >= this.renewDeadlineMs) break;
      }
      this.leading = false;
      this.announced = false;
      this.callback(() => this.o.onStoppedLeading?.());
    }
  }

  /** One tryAcquireOrRenew, abandoned (as failed) after timeoutMs. */
  private async attempt(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([
        this.tryAcquireOrRenew().catch((e: unknown) => {
          log.error('lease renewal failed', e, { lease: `${this.o.namespace}/${this.o.name}` });
          return false;
        }),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private observe(spec: LeaseSpec, now: number): void {
    const rec = JSON.stringify([spec.holderIdentity ?? '', spec.leaseDurationSeconds, spec.acquireTime, spec.renewTime, spec.leaseTransitions]);
    if (rec !== this.observed) {
      this.observed = rec;
      this.observedAt = now;
    }
    const holder = spec.holderIdentity ?? '';
    if (holder !== this.holder) {
      this.holder = holder;
      if (holder) this.callback(() => this.o.onNewLeader?.(holder));
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.o;
    const now = Date.now();
    const seconds = Math.ceil(this.leaseDurationMs / 1000);
    // A leader renews the Lease it wrote last; anyone else reads it first.
    let lease = this.leading ? this.lease : undefined;
    if (!lease) {
      try {
        lease = await this.client.get(LEASES, namespace, name);
      } catch (e) {
        if (!isNotFound(e)) throw e;
        const spec: LeaseSpec = {
          holderIdentity: identity,
          leaseDurationSeconds: seconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        };
        try {
          this.lease = await this.client.create(LEASES, namespace, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec,
          });
        } catch (err) {
          if (isAlreadyExists(err)) return false;
          throw err;
        }
        this.observe(spec, now);
        this.renewedAt = now;
        return true;
      }
    }
    const old: LeaseSpec = lease.spec ?? {};
    this.observe(old, now);
    const mine = old.holderIdentity === identity;
    const validFor = (old.leaseDurationSeconds ?? seconds) * 1000;
    if (!mine && old.holderIdentity && this.observedAt + validFor > now) return false;
    const spec: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: seconds,
      acquireTime: mine && old.acquireTime ? old.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: mine ? (old.leaseTransitions ?? 0) : (old.leaseTransitions ?? 0) + 1,
    };
    try {
      this.lease = await this.client.update(LEASES, { ...lease, spec: { ...lease.spec, ...spec } });
    } catch (e) {
      this.lease = undefined;
      if (isConflict(e) || isNotFound(e)) return false;
      throw e;
    }
    this.observe(spec, now);
    this.renewedAt = now;
    return true;
  }

  /** Gives the lease up: no holder, so the next candidate need not wait for it to expire. */
  private async release(): Promise<void> {
    const lease = this.lease ?? (await this.client.get(LEASES, this.o.namespace, this.o.name));
    if (lease.spec?.holderIdentity !== this.o.identity) return;
    const now = microTime(Date.now());
    await this.client.update(LEASES, { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now } });
    this.lease = undefined;
  }
}
