// coordination.k8s.io/v1 Lease: leader election and node heartbeats.

import type { ResourceDefinition } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { AGE_COLUMN, STANDARD_VERBS, isObject } from './common.ts';
import { int32, kindSchema, obj, str, time } from './dsl.ts';
import { invalid } from './validation.ts';

export const leases: ResourceDefinition = {
  group: 'coordination.k8s.io',
  version: 'v1',
  resource: 'leases',
  singular: 'lease',
  kind: 'Lease',
  listKind: 'LeaseList',
  namespaced: true,
  verbs: STANDARD_VERBS,
  schema: kindSchema('A lease: a lock held by one holder for a limited time, renewed by the holder.', {
    spec: obj('Desired state of the lease.', {
      holderIdentity: str('Identity of the current holder.'),
      leaseDurationSeconds: int32('How long other candidates wait after the last renewal before taking the lease over.'),
      acquireTime: time('When the current holder acquired the lease.'),
      renewTime: time('When the current holder last renewed the lease.'),
      leaseTransitions: int32('Number of times the lease changed holder.'),
      strategy: str('Coordinated leader election strategy (alpha; needs the CoordinatedLeaderElection feature).'),
      preferredHolder: str('Holder the coordinator wants to hand the lease to (alpha).'),
    }),
  }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: {},
  columns: [{ name: 'Holder', type: 'string', description: 'Identity of the current holder.', cell: (o) => o.spec?.holderIdentity ?? '' }, AGE_COLUMN],
  deleteReturnsObject: false,
  strategy: {
    // strategy and preferredHolder belong to an alpha feature that is off by default in 1.32, so they are dropped.
    prepareForCreate(lease) {
      if (isObject(lease.spec)) {
        delete lease.spec.strategy;
        delete lease.spec.preferredHolder;
      }
    },
    prepareForUpdate(lease, old) {
      if (!isObject(lease.spec)) return;
      if (!old.spec?.strategy) delete lease.spec.strategy;
      if (!old.spec?.preferredHolder) delete lease.spec.preferredHolder;
    },
    validate(lease) {
      const errs: FieldError[] = [];
      const d = lease.spec?.leaseDurationSeconds;
      if (typeof d === 'number' && d <= 0) errs.push(invalid('spec.leaseDurationSeconds', d, 'must be greater than 0'));
      const t = lease.spec?.leaseTransitions;
      if (typeof t === 'number' && t < 0) errs.push(invalid('spec.leaseTransitions', t, 'must be greater than or equal to 0'));
      return errs;
    },
  },
};
