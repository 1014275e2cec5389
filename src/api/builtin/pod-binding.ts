// pods/binding (pkg/registry/core/pod/storage BindingREST): what a scheduler POSTs to place a pod. It
// sets spec.nodeName once; a pod already assigned refuses with kube's Conflict text.

import { StatusError, badRequest } from '../../apiserver/errors.ts';
import type { ActionSubresource } from '../../apiserver/resource.ts';

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
    await ctx.objects.update('', 'v1', 'pods', namespace, name, (cur) => {
      if (cur.spec?.nodeName) throw new StatusError(409, 'Conflict', `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${cur.spec.nodeName}"`);
      cur.spec = { ...cur.spec, nodeName: node };
      return cur;
    }, { subresource: 'binding', dryRun: ctx.dryRun });
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  },
};
