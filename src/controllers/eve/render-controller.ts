// The render controller: keeps every device's served config equal to the render of its EdgeNode
// and everything placed on it.
//
// It watches EdgeNodes, AppInstances, NetworkInstances, Volumes, DataStores and Secrets, and
// keeps a small index: AppInstance → node, node → its AppInstances, and for every object a
// render read (found or missing) the set of nodes whose render read it. A change marks only
// the nodes that depend on the object dirty; dirty nodes are rendered together after a short
// debounce (bursts coalesce into one render per device). A render reads the objects it needs
// through the client, maps them to render records (mapping.ts), renders (src/eve/render.ts) and
// pushes the result with DeviceApi.setConfig.
//
// Versioning: EdgeDevConfig.id.version is bumped exactly when the content hash changes. The
// version and hash of what the device API serves are persisted by the device API itself, so after
// a restart a device whose inputs did not change renders to the identical bytes and hash.
//
// Nothing is rendered before start(): a node's AppInstances are known only from the AppInstance
// informer's events, so a render while that informer is still listing (the EdgeNode one is often
// first) would push a config without the node's apps, and the next render would put them back
// under a new version: on a device, EVE deletes and recreates the apps. Changes seen before then
// are queued and rendered at start(), from complete caches.

import { toJson } from '@bufbuild/protobuf';
import { log } from '../../observability/log.ts';
import type { KObject } from '../../apiserver/resource.ts';
import { StatusError } from '../../apiserver/errors.ts';
import type { DeviceApi } from '../../eve/device-api.ts';
import { EdgeDevConfigSchema } from '../../eve/gen/config/devconfig_pb.ts';
import { renderDeviceConfig, type RenderedConfig } from '../../eve/render.ts';
import { isNotFound, type Client, type GVR } from '../runtime/index.ts';
import type { CacheStore } from '../runtime/index.ts';
import { appUuid, mapDevice, type DeviceMapping, type MappingProblem, type ObjectRef, type RefKind, type SourceKind } from './mapping.ts';
import type { OwnerLookup } from './ingest.ts';
import type { UuidOwner } from './mapping.ts';
import type { NodeEntry, NodeIndex } from './nodes.ts';
import type { EventRecorder } from './recorder.ts';
import { APPINSTANCES, DATASTORES, EDGENODES, NETWORKINSTANCES, SECRETS, VOLUMES, setCondition, type StatusWriter } from './status.ts';

export interface RenderControllerOptions {
  /** Coalescing window for changes (default 20 ms). */
  debounceMs?: number;
  /** Renders running at once (default 8). */
  concurrency?: number;
  /** Told of every render: ok, problems (rendered without some references), error; and its duration. */
  onRendered?: (result: 'ok' | 'problems' | 'error', seconds: number) => void;
}

interface AppEntry {
  uid: string;
  /** EVE app UUID (the uid, or the owning Pod's for kubelet-bridge apps). */
  uuid: string;
  node: string;
  generation: number;
}

/** What one render of a node read and produced, kept for dependency tracking and ingestion. */
interface NodeRender {
  deps: string[];
  owned: string[];
  /** Content hash and version of what the device API serves. */
  contentHash?: string;
  version?: number;
}

/** AppInstance status.state while it is kept out of its device's config (a reference is missing). */
const NOT_DEPLOYED = 'NotDeployed';

const refKey = (r: ObjectRef) => `${r.kind}/${r.namespace ?? ''}/${r.name}`;

const KIND_GVR: Record<SourceKind, GVR> = {
  NetworkInstance: NETWORKINSTANCES,
  Volume: VOLUMES,
  DataStore: DATASTORES,
  Secret: SECRETS,
};

export class RenderController implements OwnerLookup {
  private readonly apps = new Map<string, AppEntry>(); // "ns/name"
  private readonly appsByUid = new Map<string, string>();
  private readonly nodeApps = new Map<string, Set<string>>();
  private readonly dependents = new Map<string, Set<string>>(); // depKey → node names
  private readonly renders = new Map<string, NodeRender>();
  private readonly owners = new Map<string, UuidOwner>(); // derived UUID → owner
  private readonly dirty = new Set<string>();
  private readonly chains = new Map<string, Promise<string | undefined>>();
  private timer?: NodeJS.Timeout;
  private running = 0;
  private readonly waiters: Array<() => void> = [];
  private api?: DeviceApi;
  private started = false;
  private stopped = false;
  private markStarted!: () => void;
  private readonly startedPromise = new Promise<void>((r) => (this.markStarted = r));
  /** A UUID the device's config no longer has (its app, volume or node is gone). */
  onReleased?: (uuid: string, owner: UuidOwner) => void;

  constructor(
    private readonly client: Client,
    private readonly index: NodeIndex,
    private readonly status: StatusWriter,
    private readonly events: EventRecorder,
    private readonly opts: RenderControllerOptions = {},
    private readonly cache: (r: GVR) => CacheStore | undefined = () => undefined,
  ) {}

  attach(api: DeviceApi): void {
    this.api = api;
  }

  // ---- OwnerLookup (info ingestion) ------------------------------------------------------

  owner(uuid: string): UuidOwner | undefined {
    const key = this.appsByUid.get(uuid);
    if (key) {
      const a = this.apps.get(key)!;
      const [ns, name] = key.split('/') as [string, string];
      return { kind: 'app', ns, name, node: a.node };
    }
    return this.owners.get(uuid);
  }

  // ---- watch events ----------------------------------------------------------------------

  nodeChanged(entry: NodeEntry, changed: boolean): void {
    if (changed) this.mark(entry.name);
  }

  nodeDeleted(name: string): void {
    this.forget(name);
    this.dirty.delete(name);
  }

  appEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KObject): void {
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    const old = this.apps.get(key);
    if (type === 'DELETED') {
      if (!old) return;
      this.apps.delete(key);
      this.appsByUid.delete(old.uuid);
      this.nodeApps.get(old.node)?.delete(key);
      this.mark(old.node);
      return;
    }
    const node: string = obj.spec?.nodeName ?? '';
    const generation: number = obj.metadata.generation ?? 0;
    if (old && old.uid === obj.metadata.uid && old.node === node && old.generation === generation) return;
    if (old) {
      this.appsByUid.delete(old.uuid);
      if (old.node !== node) {
        this.nodeApps.get(old.node)?.delete(key);
        this.mark(old.node);
      }
    }
    const uuid = appUuid(obj);
    this.apps.set(key, { uid: obj.metadata.uid, uuid, node, generation });
    this.appsByUid.set(uuid, key);
    let set = this.nodeApps.get(node);
    if (!set) this.nodeApps.set(node, (set = new Set()));
    set.add(key);
    this.mark(node);
  }

  /** A NetworkInstance, Volume, DataStore or Secret changed: re-render the nodes that read it. */
  refEvent(kind: RefKind, obj: KObject, old?: { generation?: number }): void {
    if (old && obj.metadata.generation !== undefined && old.generation === obj.metadata.generation) return;
    const nodes = this.dependents.get(refKey({ kind, namespace: obj.metadata.namespace, name: obj.metadata.name }));
    if (nodes) for (const n of nodes) this.mark(n);
  }

  // ---- scheduling ------------------------------------------------------------------------

  private mark(name: string): void {
    if (!name || !this.index.byName.has(name)) return;
    this.dirty.add(name);
    if (this.started && !this.stopped && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.opts.debounceMs ?? 20);
    }
  }

  private pump(): void {
    const max = this.opts.concurrency ?? 8;
    while (this.running < max && this.dirty.size) {
      const name = this.dirty.values().next().value!;
      this.dirty.delete(name);
      this.running++;
      void this.render(name)
        .catch(() => undefined) // logged by observed()
        .finally(() => {
          this.running--;
          if (this.dirty.size && !this.timer) this.pump();
          if (!this.running && !this.dirty.size && !this.timer) for (const w of this.waiters.splice(0)) w();
        });
    }
  }

  /** Resolves when no render is pending or running (tests, benchmarks). */
  idle(): Promise<void> {
    if (!this.running && !this.dirty.size && !this.timer) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /**
   * Every informer a render reads has synced and the device API serves what was served before
   * (its persisted or shared state): render what changed meanwhile, and from now on as it changes.
   */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.markStarted();
    if (this.dirty.size) this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.markStarted(); // a cold-start render waiting for start() gives up instead of hanging
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty.clear();
  }

  // ---- render ----------------------------------------------------------------------------

  /**
   * Renders one node now (also the device API's cold-start path). Returns the served hash.
   * Renders of the same node run one after the other, so the last one always reflects the latest
   * objects and an older render can never overwrite a newer config.
   */
  render(name: string): Promise<string | undefined> {
    const prev = this.chains.get(name) ?? Promise.resolve(undefined);
    const p = prev
      .catch(() => undefined)
      .then(() => this.startedPromise)
      .then(() => (this.stopped ? undefined : this.observed(name)));
    this.chains.set(name, p);
    void p
      .catch(() => undefined)
      .finally(() => {
        if (this.chains.get(name) === p) this.chains.delete(name);
      });
    return p;
  }

  private async observed(name: string): Promise<string | undefined> {
    const start = performance.now();
    try {
      return await this.renderNow(name, start);
    } catch (e) {
      this.opts.onRendered?.('error', (performance.now() - start) / 1000);
      log.error('rendering EdgeNode failed', e, { edgeNode: name });
      throw e;
    }
  }

  private async renderNow(name: string, start: number): Promise<string | undefined> {
    const entry = this.index.byName.get(name);
    const api = this.api;
    if (!entry || !api) return undefined;
    const get = async (r: GVR, ns: string | undefined, n: string, live = false): Promise<KObject | undefined> => {
      try {
        // The informer's cache (no request); the server only for what it does not hold yet.
        const o = (live ? undefined : this.cache(r)?.getByName(ns, n)) ?? (await this.client.get(r, ns, n));
        return o.metadata.deletionTimestamp && r !== EDGENODES ? undefined : o;
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    };
    // The index may be ahead of the cache (enrolment records a device before the watch brings its
    // status back): a cached node that disagrees with the index is read from the server.
    const cachedNode = this.cache(EDGENODES)?.getByName(undefined, name);
    const fresh =
      cachedNode &&
      cachedNode.metadata.uid === entry.uid &&
      (cachedNode.status?.uuid || cachedNode.spec?.uuid || undefined) === entry.uuid &&
      (cachedNode.metadata.generation ?? 0) >= entry.generation;
    const node = fresh ? cachedNode : await get(EDGENODES, undefined, name, true);
    if (!node) return undefined;
    const appObjs: KObject[] = [];
    for (const key of this.nodeApps.get(name) ?? []) {
      const [ns, n] = key.split('/') as [string, string];
      const a = await get(APPINSTANCES, ns, n);
      if (a && a.spec?.nodeName === name) appObjs.push(a);
    }
    const prev = this.renders.get(name);
    // A UUID to adopt (spec.uuid) gets its config before the device registers: ready at first poll.
    const uuid: string | undefined = node.status?.uuid || node.spec?.uuid;
    if (!uuid) {
      this.track(name, [], [], prev);
      return undefined;
    }
    const mapped: DeviceMapping = await mapDevice({
      node,
      deviceUuid: uuid,
      apps: appObjs,
      controllerCertsHash: api.pki.certsConfigHash,
      lookup: { get: (kind, namespace, n) => get(KIND_GVR[kind], namespace, n) },
    });
    this.track(name, mapped.refs.filter((r) => r.kind !== 'AppInstance' && r.kind !== 'EdgeNode').map(refKey), [...mapped.owners.keys()], prev);
    for (const [u, o] of mapped.owners) if (o.kind !== 'app') this.owners.set(u, o);

    // Version: keep the served one while the content is the same; bump exactly when it changes.
    let version: number;
    let known: string | undefined;
    if (prev?.version !== undefined) {
      version = prev.version;
      known = prev.contentHash;
    } else {
      // First render since start: what the device API serves (persisted) is the reference.
      const served = api.getConfig(uuid);
      version = served ? Number(served.config.id?.version ?? 0) || 0 : 0;
      if (served && version > 0) {
        const again = renderDeviceConfig({ ...mapped.input, version });
        known = again.hash === served.hash ? again.contentHash : '';
      }
    }
    let out: RenderedConfig = renderDeviceConfig({ ...mapped.input, version: Math.max(version, 1) });
    if (version > 0 && out.contentHash !== known) out = renderDeviceConfig({ ...mapped.input, version: version + 1 });
    const set = api.setConfig(uuid, out.config);
    const v = Number(out.config.id?.version ?? 0);
    const r = this.renders.get(name);
    if (r) Object.assign(r, { contentHash: out.contentHash, version: v });
    await this.writeStatus(node, set.hash, v, mapped.input.apps.length, mapped.problems, set.changed);
    await this.writeAppProblems(appObjs, mapped.problems);
    this.opts.onRendered?.(mapped.problems.length ? 'problems' : 'ok', (performance.now() - start) / 1000);
    return set.hash;
  }

  private track(name: string, deps: string[], owned: string[], prev: NodeRender | undefined): void {
    for (const d of prev?.deps ?? []) {
      const s = this.dependents.get(d);
      s?.delete(name);
      if (s && !s.size) this.dependents.delete(d);
    }
    for (const d of deps) {
      let s = this.dependents.get(d);
      if (!s) this.dependents.set(d, (s = new Set()));
      s.add(name);
    }
    const keep = new Set(owned);
    for (const u of prev?.owned ?? []) {
      if (keep.has(u)) continue;
      const o = this.owners.get(u);
      this.owners.delete(u);
      if (o) this.onReleased?.(u, o);
    }
    this.renders.set(name, { ...prev, deps, owned });
  }

  private forget(name: string): void {
    const prev = this.renders.get(name);
    if (prev) this.track(name, [], [], prev);
    this.renders.delete(name);
  }

  private async writeStatus(node: KObject, hash: string, version: number, appCount: number, problems: MappingProblem[], changed: boolean): Promise<void> {
    const name = node.metadata.name;
    const nodeProblems = problems.filter((p) => p.object.kind === 'EdgeNode');
    const r = await this.status.mutate(EDGENODES, undefined, name, (st, obj) => {
      st.renderedConfigHash = hash;
      st.configVersion = version;
      st.appCount = appCount;
      st.observedGeneration = obj.metadata.generation;
      setCondition(
        st,
        nodeProblems.length
          ? { type: 'ConfigRendered', status: 'False', reason: nodeProblems[0]!.reason, message: nodeProblems.map((p) => p.message).join('; ') }
          : { type: 'ConfigRendered', status: 'True', reason: 'Rendered', message: `config version ${version} rendered` },
      );
      if (st.deliveredConfigHash !== hash) {
        setCondition(st, { type: 'ConfigDelivered', status: 'False', reason: 'Pending', message: `config version ${version} not yet fetched by the device` });
      }
    });
    if (changed && r.written && r.object && nodeProblems.length && getReason(r.before) !== nodeProblems[0]!.reason) {
      const message = nodeProblems.map((p) => p.message).join('; ');
      log.info('EdgeNode config rendered with problems', {
        edgeNode: name,
        device: node.status?.uuid || node.spec?.uuid,
        reason: nodeProblems[0]!.reason,
        message,
      });
      void this.events.record(r.object, 'Warning', nodeProblems[0]!.reason, message);
    }
  }

  /** AppInstances left out of the config because a reference is missing say so in their Ready condition. */
  private async writeAppProblems(apps: KObject[], problems: MappingProblem[]): Promise<void> {
    for (const a of apps) {
      const mine = problems.filter((p) => p.object.kind === 'AppInstance' && p.object.namespace === a.metadata.namespace && p.object.name === a.metadata.name);
      const cur: KObject | undefined = (a.status?.conditions ?? []).find((c: KObject) => c.type === 'Ready');
      if (!mine.length && a.status?.state !== NOT_DEPLOYED) continue;
      const message = mine.map((p) => p.message).join('; ');
      const r = await this.status.mutate(APPINSTANCES, a.metadata.namespace, a.metadata.name, (st, obj) => {
        if (mine.length) {
          setCondition(st, { type: 'Ready', status: 'False', reason: mine[0]!.reason, message, observedGeneration: obj.metadata.generation });
          st.state = NOT_DEPLOYED;
        } else {
          // The reference is there now: the app is in the config; the device's reports set Ready.
          setCondition(st, { type: 'Ready', status: 'False', reason: 'Deploying', message: 'sent to the device', observedGeneration: obj.metadata.generation });
          if (st.state === NOT_DEPLOYED) delete st.state;
        }
      });
      if (mine.length && r.written && r.object && cur?.reason !== mine[0]!.reason) {
        log.info('AppInstance left out of its EdgeNode config', {
          appInstance: `${a.metadata.namespace}/${a.metadata.name}`,
          edgeNode: a.spec?.nodeName,
          reason: mine[0]!.reason,
          message,
        });
        void this.events.record(r.object, 'Warning', mine[0]!.reason, message);
      }
    }
  }

  // ---- the edgenodes/<name>/config subresource ------------------------------------------

  /** The config served to the EdgeNode's device, as proto3 JSON. */
  servedConfig(obj: KObject): unknown {
    return servedConfigOf(this.api, obj);
  }
}

/** The config a device API serves to the EdgeNode's device (any replica: every one serves the same). */
export function servedConfigOf(api: Pick<DeviceApi, 'getConfig'> | undefined, obj: KObject): unknown {
  const uuid: string | undefined = obj.status?.uuid || obj.spec?.uuid;
  const cfg = uuid ? api?.getConfig(uuid) : undefined;
  if (!cfg)
    throw new StatusError(404, 'NotFound', `edgenodes.eve.kubeve.io "${obj.metadata.name}" has no rendered config yet (the device has not registered)`, {
      name: obj.metadata.name,
      group: 'eve.kubeve.io',
      kind: 'edgenodes',
    });
  return toJson(EdgeDevConfigSchema, cfg.config);
}

function getReason(obj: KObject | undefined): string | undefined {
  return (obj?.status?.conditions ?? []).find((c: KObject) => c.type === 'ConfigRendered')?.reason;
}
