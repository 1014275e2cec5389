// ControllerRevisions for DaemonSets and StatefulSets (kube's controller history): one revision per
// distinct pod template, named <owner>-<hash>, labelled controller-revision-hash, numbered upwards;
// going back to an older template (rollout undo) renumbers its revision as the newest.

import { isAlreadyExists, isConflict, type Client, type GVR, type KObject } from '../runtime/index.ts';
import { controllerRef, ownerRefTo } from './common.ts';
import type { CacheStore } from '../runtime/index.ts';

export const CONTROLLERREVISIONS: GVR = { group: 'apps', version: 'v1', resource: 'controllerrevisions' };
export const REVISION_HASH_LABEL = 'controller-revision-hash';

export async function ensureRevision(client: Client, store: CacheStore, owner: KObject, kind: string, hash: string): Promise<string> {
  const name = `${owner.metadata.name}-${hash}`;
  const mine = store.byIndex('namespace', owner.metadata.namespace).filter((r) => controllerRef(r)?.uid === owner.metadata.uid);
  const max = Math.max(0, ...mine.map((r) => r.revision ?? 0));
  const cur = mine.find((r) => r.metadata.labels?.[REVISION_HASH_LABEL] === hash);
  if (cur) {
    if (cur.revision !== max)
      await client.update(CONTROLLERREVISIONS, { ...cur, revision: max + 1 }).catch((e) => {
        if (!isConflict(e)) throw e;
      });
    return cur.metadata.name;
  }
  const template = structuredClone(owner.spec?.template ?? {});
  template.$patch = 'replace';
  const cause = owner.metadata.annotations?.['kubernetes.io/change-cause'];
  await client
    .create(CONTROLLERREVISIONS, owner.metadata.namespace, {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name,
        labels: { ...(owner.spec?.selector?.matchLabels ?? {}), [REVISION_HASH_LABEL]: hash },
        ...(cause ? { annotations: { 'kubernetes.io/change-cause': cause } } : {}),
        ownerReferences: [ownerRefTo(owner, kind, 'apps/v1')],
      },
      data: { spec: { template } },
      revision: max + 1,
    })
    .catch((e) => {
      if (!isAlreadyExists(e)) throw e;
    });
  return name;
}
