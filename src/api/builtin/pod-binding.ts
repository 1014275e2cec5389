// pods/binding (pkg/registry/core/pod/storage BindingREST): what a scheduler POSTs to place a pod. It
// sets spec.nodeName once and PodScheduled=True (as kube's assignPod); a pod already assigned or being
// deleted refuses with kube's Conflict text.

import { StatusError, badRequest } from '../../apiserver/errors.ts';
import type { ActionSubresource } from '../../apiserver/resource.ts';

/** The pod's conditions with PodScheduled=True; the transition time moves only when the status changes. */
function scheduledTrue(conditions: unknown): unknown[] {
  const list = Array.isArray(conditions) ? conditions : [];
  const prev = list.find((c) => c?.type === 'PodScheduled');
  if (prev?.status === 'True') return list;
  const cond = { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
  return prev ? list.map((c) => (c === prev ? cond : c)) : [...list, cond];
}

export const podBinding: ActionSubresource = {
  kind: 'Binding',
  group: '',
  version: 'v1',
  async create(pod, body, ctx) {
    if (body?.kind !== undefined && body.kind !== 'Binding') throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (Binding)`);
    const node = body?.target?.name;
    if (!node) throw badRequest('Binding target.name is required');
    if (!ctx.objects) throw new StatusError(500, 'InternalError', 'binding needs access to the object store');
    const { name, namespace } = pod.metadata;
    await ctx.objects.update(
      '',
      'v1',
      'pods',
      namespace,
      name,
      (cur) => {
        if (cur.spec?.nodeName)
          throw new StatusError(
            409,
            'Conflict',
            `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${cur.spec.nodeName}"`,
          );
        if (cur.metadata?.deletionTimestamp)
          throw new StatusError(
            409,
            'Conflict',
            `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is being deleted, cannot be assigned to a host`,
          );
        cur.spec = { ...cur.spec, nodeName: node };
        cur.status = { ...cur.status, conditions: scheduledTrue(cur.status?.conditions) };
        return cur;
      },
      { subresource: 'binding', dryRun: ctx.dryRun },
    );
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  },
};
