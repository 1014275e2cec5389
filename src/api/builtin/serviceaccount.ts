// core/v1 ServiceAccount.

import type { ResourceDefinition } from '../../apiserver/resource.ts';
import { AGE_COLUMN, STANDARD_VERBS } from './common.ts';
import { LocalObjectReference, ObjectReference } from './core-types.ts';
import { bool, kindSchema, list } from './dsl.ts';
import { tokenRequest } from './authn.ts';

export const serviceaccounts: ResourceDefinition = {
  group: '',
  version: 'v1',
  resource: 'serviceaccounts',
  singular: 'serviceaccount',
  kind: 'ServiceAccount',
  listKind: 'ServiceAccountList',
  namespaced: true,
  shortNames: ['sa'],
  verbs: STANDARD_VERBS,
  schema: kindSchema('An identity for processes that run in pods, used to authenticate to the API.', {
    secrets: list(ObjectReference, 'Secrets the pods of this account may use (legacy token secrets).', { map: ['name'], mergeKey: 'name', strategy: 'merge' }),
    imagePullSecrets: list(LocalObjectReference, 'Image pull secrets added to pods that use this account.', { type: 'atomic' }),
    automountServiceAccountToken: bool('Whether pods using this account get an API token mounted; a pod setting wins.'),
  }),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: { actions: { token: tokenRequest } },
  columns: [
    { name: 'Secrets', type: 'string', description: 'Number of secrets of the account.', cell: (o) => (Array.isArray(o.secrets) ? o.secrets.length : 0) },
    AGE_COLUMN,
  ],
  deleteReturnsObject: true,
};
