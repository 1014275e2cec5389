// What followers see of devices, relayed to the leader: the last contact and the config hash each
// device reported as applied. Devices reach any replica (the Service balances their connections),
// but presence (Online) and ConfigDelivered are the leader's controllers' business, so without
// this a device talking mostly to a follower would flap Offline.
//
// Each follower keeps one ConfigMap `kubeve-relay-<identity>` (label eve.kubeve.io/relay=true)
// with `<uuid>: {"c": lastContactMs, "h": appliedHash}`, rewritten at most every flushMs while
// something changed. The leader watches them and replays newer contacts and new hashes into its
// controllers. A clean stop deletes the replica's ConfigMap; in a cluster it is also owned by the
// replica's Pod, so the garbage collector removes it after a crash.

import crypto from 'node:crypto';
import { SharedInformerFactory, isAlreadyExists, isConflict, isNotFound, type Client, type GVR, type KObject } from '../../runtime/index.ts';

const CONFIGMAPS: GVR = { group: '', version: 'v1', resource: 'configmaps' };
export const RELAY_LABEL = 'eve.kubeve.io/relay';

/** A DNS-label-safe form of a replica identity; long ones keep a hash so distinct identities stay distinct. */
function relaySuffix(identity: string): string {
  const clean = identity
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (clean.length <= 40) return clean;
  return `${clean.slice(0, 31).replace(/-+$/, '')}-${crypto.createHash('sha256').update(identity).digest('hex').slice(0, 8)}`;
}

interface Seen {
  c: number;
  h?: string;
}

export interface RelaySink {
  contact(uuid: string, atMs: number): void;
  applied(uuid: string, hash: string): void;
}

export class DeviceRelay {
  private readonly seen = new Map<string, Seen>();
  private dirty = false;
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private readonly informers: SharedInformerFactory;
  private readonly replayed = new Map<string, Seen>(); // leader side: uuid → newest replayed
  private readonly name: string;

  constructor(
    private readonly client: Client,
    private readonly o: {
      namespace: string;
      identity: string;
      flushMs?: number;
      sink(): RelaySink | undefined;
      log?(m: string): void;
      /** This replica's Pod: its ConfigMap is then owned by it, and garbage-collected with it after a crash. */
      pod?: { name: string; uid: string };
    },
  ) {
    this.name = `kubeve-relay-${relaySuffix(o.identity)}`;
    this.informers = new SharedInformerFactory(client);
    this.informers.informerFor(CONFIGMAPS, { namespace: o.namespace, labelSelector: `${RELAY_LABEL}=true` }).addEventHandler({
      onAdd: (cm) => this.replay(cm),
      onUpdate: (_, cm) => this.replay(cm),
    });
  }

  start(): void {
    this.informers.start();
    this.timer = setInterval(() => {
      if (this.dirty && !this.writing) this.writing = this.flush().finally(() => (this.writing = undefined));
    }, this.o.flushMs ?? 2000);
    this.timer.unref();
  }

  /** Follower side (hot path: memory only). */
  contact(uuid: string, atMs: number): void {
    const s = this.seen.get(uuid);
    if (s) s.c = atMs;
    else this.seen.set(uuid, { c: atMs });
    this.dirty = true;
  }

  applied(uuid: string, hash: string): void {
    const s = this.seen.get(uuid) ?? { c: Date.now() };
    s.h = hash;
    this.seen.set(uuid, s);
    this.dirty = true;
  }

  private async flush(): Promise<void> {
    this.dirty = false;
    const data: Record<string, string> = {};
    for (const [u, s] of this.seen) data[u] = JSON.stringify(s);
    const obj: KObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: this.name,
        namespace: this.o.namespace,
        labels: { [RELAY_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'kubeve' },
        ...(this.o.pod ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: this.o.pod.name, uid: this.o.pod.uid }] } : {}),
      },
      data,
    };
    try {
      try {
        const cur = await this.client.get(CONFIGMAPS, this.o.namespace, this.name);
        await this.client.update(CONFIGMAPS, { ...obj, metadata: { ...cur.metadata, ...obj.metadata } }, { fieldManager: 'kubeve-operator' });
      } catch (e) {
        if (!isNotFound(e)) throw e;
        await this.client.create(CONFIGMAPS, this.o.namespace, obj, { fieldManager: 'kubeve-operator' });
      }
    } catch (e) {
      this.dirty = true; // next tick tries again
      if (!isConflict(e) && !isAlreadyExists(e)) this.o.log?.(`kubeve operator: device relay: ${(e as Error).message}`);
    }
  }

  /** Leader side: newer contacts and new applied hashes go to the controllers. */
  private replay(cm: KObject): void {
    const sink = this.o.sink();
    if (!sink || cm.metadata.name === this.name) return;
    for (const [uuid, text] of Object.entries((cm.data ?? {}) as Record<string, string>)) {
      let s: Seen;
      try {
        s = JSON.parse(text) as Seen;
      } catch {
        continue;
      }
      const prev = this.replayed.get(uuid);
      if (!prev || s.c > prev.c) sink.contact(uuid, s.c);
      if (s.h && s.h !== prev?.h) sink.applied(uuid, s.h);
      this.replayed.set(uuid, { c: Math.max(s.c, prev?.c ?? 0), h: s.h ?? prev?.h });
    }
  }

  /** Stops and removes this replica's ConfigMap. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.informers.stop();
    await this.writing;
    await this.client.delete(CONFIGMAPS, this.o.namespace, this.name).catch(() => undefined);
  }
}
