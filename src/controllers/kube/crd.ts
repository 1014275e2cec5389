// CustomResourceDefinition lifecycle, as the apiextensions controllers run it: check names
// (NamesAccepted), publish the resource (Established; discovery and OpenAPI follow the registry),
// and on deletion remove every custom resource before letting the CRD go. Runs on the controller
// runtime: an informer on CRDs feeds a work queue of CRD names; reconcile reads the cache.

import type { Registry } from '../../apiserver/registry.ts';
import type { RestService } from '../../apiserver/rest.ts';
import type { KObject, ResourceDefinition } from '../../apiserver/resource.ts';
import { resourceDefinitionsFromCRD } from '../../apiserver/crd.ts';
import { StatusError } from '../../apiserver/errors.ts';
import { keyPrefix } from '../../apiserver/store.ts';
import { Controller, type GVR, type Informer, type ReconcileResult, type SharedInformerFactory } from '../runtime/index.ts';
import { log } from '../../observability/log.ts';

const CRDS: GVR = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' };

export const CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

function condition(type: string, status: 'True' | 'False', reason: string, message: string, old?: KObject[]): KObject {
  const prev = old?.find((c) => c.type === type);
  const lastTransitionTime = prev && prev.status === status ? prev.lastTransitionTime : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { type, status, lastTransitionTime, reason, message };
}

export class CRDController {
  private readonly informer: Informer;
  readonly controller: Controller;

  constructor(
    private registry: Registry,
    private service: RestService,
    informers: SharedInformerFactory,
    private retryMs = 500,
  ) {
    this.informer = informers.informerFor(CRDS);
    this.controller = new Controller('crd controller', (name) => this.reconcile(name), { workers: 2 });
    this.informer.addEventHandler({
      onAdd: (crd) => this.controller.enqueue(crd.metadata.name),
      onUpdate: (_, crd) => this.controller.enqueue(crd.metadata.name),
      // Stop serving at once; nothing is left to reconcile.
      onDelete: (crd) => {
        this.registry.removeCRD(crd.metadata.name);
        this.registry.setTerminating(crd.metadata.name, false);
      },
    });
  }

  /** Starts the workers once the informer has synced. */
  async run(): Promise<void> {
    await this.informer.waitForSync();
    this.controller.run();
  }

  stop(): Promise<void> {
    return this.controller.stop();
  }

  private async reconcile(name: string): Promise<ReconcileResult> {
    const crd = this.informer.store.get(name);
    if (!crd) return;
    if (crd.metadata.deletionTimestamp) return (await this.cleanup(crd)) ? undefined : { requeueAfterMs: this.retryMs };
    await this.sync(crd);
  }

  private crdDef(): ResourceDefinition {
    return this.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
  }

  /** Serves every stored CRD at start, before the API opens. */
  async load(): Promise<void> {
    const list = await this.service.list(this.crdDef(), undefined, {});
    for (const crd of list.items as KObject[]) {
      try {
        if (this.namesConflict(crd) === undefined) this.registry.replaceCRD(crd.metadata.name, resourceDefinitionsFromCRD(crd));
      } catch (e) {
        // A stored CRD of the wrong shape is not served (and logged); the others are.
        log.error('crd controller: cannot serve the CRD', e, { crd: crd.metadata?.name });
      }
    }
    for (const crd of list.items as KObject[]) {
      // A CRD whose status cannot be written is logged and synced again on its next change; start-up goes on.
      await this.sync(crd).catch((e: unknown) => log.error('crd controller: sync failed', e, { crd: crd.metadata.name }));
    }
  }

  /** Names of this CRD that clash with another CRD (or a built-in) of the same group. */
  private namesConflict(crd: KObject): { reason: string; message: string } | undefined {
    const n = crd.spec.names;
    const group = crd.spec.group;
    for (const d of this.registry.all()) {
      if (d.group !== group || d.crdName === crd.metadata.name) continue;
      if (d.resource === n.plural) return { reason: 'PluralConflict', message: `"${n.plural}" is already in use` };
      if (n.singular && d.singular === n.singular) return { reason: 'SingularConflict', message: `"${n.singular}" is already in use` };
      const short = (n.shortNames ?? []).find((s: string) => d.shortNames?.includes(s));
      if (short) return { reason: 'ShortNamesConflict', message: `"${short}" is already in use` };
      if (d.kind === n.kind) return { reason: 'KindConflict', message: `"${n.kind}" is already in use` };
      if (n.listKind && d.listKind === n.listKind) return { reason: 'ListKindConflict', message: `"${n.listKind}" is already in use` };
    }
    return undefined;
  }

  private async sync(crd: KObject): Promise<void> {
    const name = crd.metadata.name;
    if (crd.metadata.deletionTimestamp) return void (await this.cleanup(crd));
    if (!(crd.metadata.finalizers ?? []).includes(CLEANUP_FINALIZER)) {
      await this.service.guaranteedUpdate(
        this.crdDef(),
        undefined,
        name,
        undefined,
        (o) => {
          o.metadata.finalizers = [...(o.metadata.finalizers ?? []), CLEANUP_FINALIZER];
          return o;
        },
        {},
        { warnings: [] },
      );
      return; // the update comes back through the informer
    }
    const clash = this.namesConflict(crd);
    const old: KObject[] = crd.status?.conditions ?? [];
    let conditions: KObject[];
    if (clash) {
      this.registry.removeCRD(name);
      conditions = [
        condition('NamesAccepted', 'False', clash.reason, clash.message, old),
        condition('Established', 'False', 'NotAccepted', 'not all names are accepted', old),
      ];
    } else {
      this.registry.replaceCRD(name, resourceDefinitionsFromCRD(crd));
      conditions = [
        condition('NamesAccepted', 'True', 'NoConflicts', 'no conflicts found', old),
        condition('Established', 'True', 'InitialNamesAccepted', 'the initial names have been accepted', old),
      ];
    }
    const storage = (crd.spec.versions ?? []).find((v: KObject) => v.storage)?.name;
    const storedVersions = [...new Set([...(crd.status?.storedVersions ?? []), ...(storage ? [storage] : [])])];
    const status = { conditions, acceptedNames: clash ? (crd.status?.acceptedNames ?? { plural: '', kind: '' }) : { ...crd.spec.names }, storedVersions };
    await this.writeStatus(name, status);
  }

  private async writeStatus(name: string, status: KObject): Promise<void> {
    try {
      await this.service.guaranteedUpdate(
        this.crdDef(),
        undefined,
        name,
        undefined,
        (o) => {
          o.status = status;
          return o;
        },
        { subresource: 'status' },
        { warnings: [] },
      );
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) throw e;
    }
  }

  /** Deletes every custom resource of a terminating CRD, then drops the cleanup finalizer; false = try again later. */
  private async cleanup(crd: KObject): Promise<boolean> {
    const name = crd.metadata.name;
    this.registry.setTerminating(name, true);
    const old: KObject[] = crd.status?.conditions ?? [];
    if (!old.some((c) => c.type === 'Terminating' && c.status === 'True')) {
      const conditions = [
        ...old.filter((c) => c.type !== 'Terminating'),
        condition('Terminating', 'True', 'InstanceDeletionInProgress', 'CustomResourceDefinition marked for deletion; instance deletion in progress', old),
      ];
      await this.writeStatus(name, { ...crd.status, conditions });
      return true; // the status update comes back through the informer
    }
    const defs = resourceDefinitionsFromCRD(crd);
    const def = defs[0];
    if (def) {
      const list = await this.service.store.list(def, undefined, {});
      for (const o of list.items) {
        try {
          await this.service.delete(def, o.metadata.namespace, o.metadata.name, { propagationPolicy: 'Background' });
        } catch (e) {
          if (!(e instanceof StatusError && e.code === 404)) throw e;
        }
      }
      // Some instances may wait on their own finalizers: try again shortly.
      if ((await this.service.store.storage.count(keyPrefix(def))) > 0) return false;
    }
    this.registry.removeCRD(name);
    try {
      await this.service.guaranteedUpdate(
        this.crdDef(),
        undefined,
        name,
        undefined,
        (o) => {
          o.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f: string) => f !== CLEANUP_FINALIZER);
          if (!o.metadata.finalizers.length) delete o.metadata.finalizers;
          return o;
        },
        {},
        { warnings: [] },
      );
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) throw e;
    }
    return true;
  }
}
