// The L1 EVE controllers as one unit: the EdgeNode/OnboardingKey index, enrolment, presence,
// info ingestion and rendering, wired to the device API through DeviceHooks. They only use the
// controller runtime (Client + shared informers), so the same code runs in the embedded server and
// in operator mode. Renders and status writes read the informers' caches, not the server.
//
//   const eve = new EveControllers(client);
//   const api = await startDeviceApi({ ..., hooks: eve.hooks });
//   await eve.start(api);

import type { KObject } from '../../apiserver/resource.ts';
import type { DeviceApi } from '../../eve/device-api.ts';
import type { DeviceHooks } from '../../eve/hooks.ts';
import { SharedInformerFactory, type Client, type GVR, type ObjectChange as WatchEvent } from '../runtime/index.ts';
import { Enrolment } from './enrolment.ts';
import { Ingest } from './ingest.ts';
import { NodeIndex } from './nodes.ts';
import { Presence, type PresenceOptions } from './presence.ts';
import { EventRecorder } from './recorder.ts';
import { RenderController, type RenderControllerOptions } from './render-controller.ts';
import { APPINSTANCES, DATASTORES, EDGENODES, NETWORKINSTANCES, ONBOARDINGKEYS, SECRETS, VOLUMES, setCondition, StatusWriter } from './status.ts';
import { log } from '../../observability/log.ts';

export interface EveControllerOptions extends PresenceOptions, RenderControllerOptions {
  /** Share informers with other controllers of the process (default: the EVE controllers' own). */
  informers?: SharedInformerFactory;
}

const WATCHED = [ONBOARDINGKEYS, EDGENODES, APPINSTANCES, NETWORKINSTANCES, VOLUMES, DATASTORES, SECRETS];

export class EveControllers {
  readonly index = new NodeIndex();
  readonly status: StatusWriter;
  readonly events: EventRecorder;
  readonly enrolment: Enrolment;
  readonly presence: Presence;
  readonly render: RenderController;
  readonly ingest: Ingest;
  readonly hooks: DeviceHooks;
  readonly informers: SharedInformerFactory;
  private readonly background = new Set<Promise<unknown>>();
  private api?: DeviceApi;

  constructor(
    private readonly client: Client,
    opts: EveControllerOptions = {},
  ) {
    this.informers = opts.informers ?? new SharedInformerFactory(client);
    for (const r of WATCHED) this.informers.informerFor(r);
    const cache = (r: GVR) => this.informers.cacheFor(r);
    this.status = new StatusWriter(client, cache);
    this.events = new EventRecorder(client);
    this.enrolment = new Enrolment(client, this.index, this.status, this.events);
    this.presence = new Presence(this.index, this.status, this.events, opts);
    this.render = new RenderController(client, this.index, this.status, this.events, opts, cache);
    this.ingest = new Ingest(this.index, this.render, this.status, this.events);
    this.render.onReleased = (uuid, owner) => this.spawn(this.ingest.released(uuid, owner));
    this.hooks = {
      admitOnboarding: (req) => this.enrolment.admit(req),
      deviceRegistered: (dev) => this.enrolment.registered(dev),
      desiredConfig: async (uuid) => {
        // Cold start: a device polls before its first render finished.
        const e = this.index.byUuid.get(uuid);
        if (!e) return undefined;
        await this.render.render(e.name);
        return this.api?.getConfig(uuid)?.config;
      },
      configApplied: (uuid, hash) => this.spawn(this.delivered(uuid, hash)),
      onContact: (uuid, now) => this.presence.contact(uuid, now),
      onInfo: (uuid, msg) => this.ingest.info(uuid, msg),
    };
  }

  /** Starts watching; resolves once every resource has been listed and the first renders are queued. */
  async start(api: DeviceApi): Promise<void> {
    this.api = api;
    this.enrolment.attach(api);
    this.render.attach(api);
    // Handlers in the shape of watch events; informers of different resources sync independently.
    const on = (r: GVR, fn: (ev: WatchEvent) => void) =>
      this.informers.informerFor(r).addEventHandler({
        onAdd: (object) => fn({ type: 'ADDED', object }),
        onUpdate: (old, object) => {
          if (old !== object) fn({ type: 'MODIFIED', object });
        },
        onDelete: (object) => fn({ type: 'DELETED', object }),
      });
    // Keys first: admission of devices with pending EdgeNodes needs them.
    on(ONBOARDINGKEYS, (ev) => (ev.type === 'DELETED' ? this.index.removeKey(ev.object.metadata.name) : void this.index.upsertKey(ev.object)));
    on(EDGENODES, (ev) => this.nodeEvent(ev));
    on(APPINSTANCES, (ev) => this.render.appEvent(ev.type, ev.object));
    for (const [r, kind] of [
      [NETWORKINSTANCES, 'NetworkInstance'],
      [VOLUMES, 'Volume'],
      [DATASTORES, 'DataStore'],
      [SECRETS, 'Secret'],
    ] as const) {
      const gens = new Map<string, number | undefined>();
      on(r, (ev) => {
        const k = `${ev.object.metadata.namespace}/${ev.object.metadata.name}`;
        const old = gens.has(k) ? { generation: gens.get(k) } : undefined;
        if (ev.type === 'DELETED') gens.delete(k);
        else if (r !== SECRETS) gens.set(k, ev.object.metadata.generation);
        this.render.refEvent(kind, ev.object, ev.type === 'DELETED' || r === SECRETS ? undefined : old);
      });
    }
    this.informers.start();
    await this.informers.waitForCacheSync();
    // Every object a render reads is cached now (the node's AppInstances included): render.
    this.render.start();
    this.presence.start();
  }

  private nodeEvent(ev: WatchEvent): void {
    const name = ev.object.metadata.name;
    if (ev.type === 'DELETED') {
      const e = this.index.removeNode(name);
      this.render.nodeDeleted(name);
      if (e) this.spawn(this.enrolment.nodeDeleted(e));
      return;
    }
    const { entry, specChanged, uuidChanged } = this.index.upsertNode(ev.object);
    this.render.nodeChanged(entry, specChanged || uuidChanged);
    // Bound by its certificate: render now, so the config is ready at the device's first poll.
    if (specChanged && ev.object.spec?.deviceCertificate) this.spawn(this.enrolment.reconcileNode(ev.object).then(() => this.render.nodeChanged(entry, true)));
  }

  /** DeviceHooks.configApplied: the device runs the config it was given. */
  private async delivered(uuid: string, hash: string): Promise<void> {
    const e = this.index.byUuid.get(uuid);
    if (!e) return;
    await this.status.mutate(EDGENODES, undefined, e.name, (st: KObject) => {
      st.deliveredConfigHash = hash;
      const current = st.renderedConfigHash === hash;
      setCondition(
        st,
        current
          ? { type: 'ConfigDelivered', status: 'True', reason: 'Applied', message: `the device runs config version ${st.configVersion ?? ''}`.trim() }
          : { type: 'ConfigDelivered', status: 'False', reason: 'Pending', message: 'the device runs an older config' },
      );
    });
  }

  private spawn(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => log.error('eve controller failed', e));
    this.background.add(q);
    void q.finally(() => this.background.delete(q));
  }

  /** Resolves when renders and status writes have settled (tests, benchmarks). */
  async idle(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      await Promise.allSettled([...this.background]);
      await this.render.idle();
      await this.status.idle();
    }
  }

  stop(): void {
    this.informers.stop();
    this.presence.stop();
    this.render.stop();
  }
}
