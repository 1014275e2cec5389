// The L1 EVE controllers as one unit: the EdgeNode/OnboardingKey index, enrolment, presence,
// info ingestion and rendering, wired to the device API through DeviceHooks. They only use the
// Client interface, so the same code runs in the embedded server and (later) in operator mode.
//
//   const eve = new EveControllers(client);
//   const api = await startDeviceApi({ ..., hooks: eve.hooks });
//   await eve.start(api);

import type { KObject } from '../../apiserver/resource.ts';
import type { DeviceApi } from '../../eve/device-api.ts';
import type { DeviceHooks } from '../../eve/hooks.ts';
import { reflect, type Client, type GVR, type ObjectChange as WatchEvent, type Reflector } from '../client.ts';
import { Enrolment } from './enrolment.ts';
import { Ingest } from './ingest.ts';
import { NodeIndex } from './nodes.ts';
import { Presence, type PresenceOptions } from './presence.ts';
import { EventRecorder } from './recorder.ts';
import { RenderController, type RenderControllerOptions } from './render-controller.ts';
import {
  APPINSTANCES, DATASTORES, EDGENODES, NETWORKINSTANCES, ONBOARDINGKEYS, SECRETS, VOLUMES,
  setCondition, StatusWriter,
} from './status.ts';

export interface EveControllerOptions extends PresenceOptions, RenderControllerOptions {}

export class EveControllers {
  readonly index = new NodeIndex();
  readonly status: StatusWriter;
  readonly events: EventRecorder;
  readonly enrolment: Enrolment;
  readonly presence: Presence;
  readonly render: RenderController;
  readonly ingest: Ingest;
  readonly hooks: DeviceHooks;
  private reflectors: Reflector[] = [];
  private readonly background = new Set<Promise<unknown>>();
  private api?: DeviceApi;

  constructor(private readonly client: Client, opts: EveControllerOptions = {}) {
    this.status = new StatusWriter(client);
    this.events = new EventRecorder(client);
    this.enrolment = new Enrolment(client, this.index, this.status, this.events);
    this.presence = new Presence(this.index, this.status, this.events, opts);
    this.render = new RenderController(client, this.index, this.status, this.events, opts);
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
    const on = (r: GVR, fn: (ev: WatchEvent) => void) => this.reflectors.push(reflect(this.client, r, fn));
    // Keys first: admission of devices with pending EdgeNodes needs them.
    on(ONBOARDINGKEYS, (ev) => (ev.type === 'DELETED' ? this.index.removeKey(ev.object.metadata.name) : void this.index.upsertKey(ev.object)));
    on(EDGENODES, (ev) => this.nodeEvent(ev));
    on(APPINSTANCES, (ev) => this.render.appEvent(ev.type, ev.object));
    for (const [r, kind] of [[NETWORKINSTANCES, 'NetworkInstance'], [VOLUMES, 'Volume'], [DATASTORES, 'DataStore'], [SECRETS, 'Secret']] as const) {
      const gens = new Map<string, number | undefined>();
      on(r, (ev) => {
        const k = `${ev.object.metadata.namespace}/${ev.object.metadata.name}`;
        const old = gens.has(k) ? { generation: gens.get(k) } : undefined;
        if (ev.type === 'DELETED') gens.delete(k);
        else if (r !== SECRETS) gens.set(k, ev.object.metadata.generation);
        this.render.refEvent(kind, ev.object, ev.type === 'DELETED' || r === SECRETS ? undefined : old);
      });
    }
    await Promise.all(this.reflectors.map((r) => r.synced));
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
      setCondition(st, current
        ? { type: 'ConfigDelivered', status: 'True', reason: 'Applied', message: `the device runs config version ${st.configVersion ?? ''}`.trim() }
        : { type: 'ConfigDelivered', status: 'False', reason: 'Pending', message: 'the device runs an older config' });
    });
  }

  private spawn(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => console.error('kubeve: eve controller:', e instanceof Error ? e.message : e));
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
    for (const r of this.reflectors) r.stop();
    this.reflectors = [];
    this.presence.stop();
    this.render.stop();
  }
}
