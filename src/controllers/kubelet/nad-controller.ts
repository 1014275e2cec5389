// NetworkAttachmentDefinitions: says on each whether EVE can realise its CNI config (status condition
// Accepted + a Warning Event when not) and hands every change, deletion included, to the pods that
// select it. The pods' loop (pod-networks.ts) does the rest: it keeps the NAD's NetworkInstance in the
// pod's namespace in step with the NAD, so the render path re-renders exactly the devices whose apps
// use that NetworkInstance, and reports a deleted or broken NAD on pods that still use it.

import type { KObject } from '../../apiserver/resource.ts';
import { Controller, isNotFound, type Client, type Informer, type SharedInformerFactory } from '../runtime/index.ts';
import { setCondition } from '../eve/status.ts';
import type { EventRecorder } from '../eve/recorder.ts';
import { NADS, nadNetwork, isNadProblem } from './nad.ts';
import { selectedNads } from './pod-networks.ts';
import { boundPods } from './resources.ts';

export class NadController {
  readonly controller: Controller;
  private readonly nads: Informer;
  private readonly pods: Informer;

  constructor(
    private readonly client: Client,
    informers: SharedInformerFactory,
    private readonly events: EventRecorder,
    private readonly enqueuePod: (key: string) => void,
  ) {
    this.nads = informers.informerFor(NADS);
    this.pods = boundPods(informers);
    this.controller = new Controller('kubelet-nads', (key) => this.reconcile(key));
    const changed = (o: KObject) => {
      const key = `${o.metadata.namespace}/${o.metadata.name}`;
      this.controller.enqueue(key);
      this.usersOf(key).forEach(this.enqueuePod);
    };
    this.nads.addEventHandler({
      onAdd: changed,
      onUpdate: (a, b) =>
        a.metadata.generation !== b.metadata.generation || JSON.stringify(a.metadata.annotations) !== JSON.stringify(b.metadata.annotations)
          ? changed(b)
          : undefined,
      onDelete: changed,
    });
  }

  start(): void {
    this.controller.run(2);
  }

  stop(): Promise<void> {
    return this.controller.stop();
  }

  /** Keys of the pods on any node that select the NAD `ns/name`. */
  private usersOf(nadKey: string): string[] {
    return this.pods.store
      .list()
      .filter((p) => p.spec?.nodeName && selectedNads(p).includes(nadKey))
      .map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
  }

  private async reconcile(key: string): Promise<void> {
    const found = this.nads.store.get(key);
    if (!found) return;
    const nad: KObject = { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', ...found };
    const net = nadNetwork(nad);
    const status: KObject = structuredClone(nad.status ?? {});
    const gen = nad.metadata.generation;
    const before = (nad.status?.conditions ?? []).find((c: KObject) => c.type === 'Accepted');
    if (isNadProblem(net)) setCondition(status, { type: 'Accepted', status: 'False', reason: net.reason, message: net.message, observedGeneration: gen });
    else
      setCondition(status, {
        type: 'Accepted',
        status: 'True',
        reason: 'Accepted',
        message: `maps to an EVE ${net.spec.type} network instance${net.vlanId ? ` (VLAN ${net.vlanId})` : ''} on uplink "${net.spec.uplink}"`,
        observedGeneration: gen,
      });
    if (isNadProblem(net)) delete status.networkInstanceType;
    else status.networkInstanceType = net.spec.type;
    status.observedGeneration = gen;
    if (JSON.stringify(status) !== JSON.stringify(nad.status ?? {})) {
      // A cluster whose NAD CRD is upstream's (no status subresource) gets the Events only.
      await this.client.updateStatus(NADS, { ...nad, status }).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
    }
    if (isNadProblem(net) && (before?.status !== 'False' || before.message !== net.message)) void this.events.record(nad, 'Warning', net.reason, net.message);
  }
}
