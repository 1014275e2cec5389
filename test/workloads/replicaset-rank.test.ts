// Which surplus pods a ReplicaSet deletes first (kube's ActivePodsWithRanks order).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rankForDeletion } from '../../src/controllers/workloads/replicaset.ts';
import type { KObject } from '../../src/controllers/runtime/index.ts';

const pod = (name: string, o: { node?: string; phase?: string; ready?: boolean; readySince?: string; restarts?: number; created?: string } = {}): KObject => ({
  metadata: { name, creationTimestamp: o.created ?? '2026-01-01T00:00:00Z' },
  spec: o.node ? { nodeName: o.node } : {},
  status: {
    phase: o.phase ?? 'Running',
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: o.readySince ?? '2026-01-01T00:00:00Z' }],
    containerStatuses: [{ restartCount: o.restarts ?? 0 }],
  },
});

test('unassigned, then pending, then not ready, then crowded nodes, recently ready, restarts, newest', () => {
  const ranked = rankForDeletion([
    pod('old-ready', { node: 'a' }),
    pod('crowded-1', { node: 'b' }),
    pod('crowded-2', { node: 'b', readySince: '2026-01-02T00:00:00Z' }),
    pod('unready', { node: 'c', ready: false }),
    pod('pending', { node: 'd', phase: 'Pending', ready: false }),
    pod('unassigned', { phase: 'Pending', ready: false }),
    pod('restarts', { node: 'e', restarts: 3 }),
  ]).map((p) => p.metadata.name);
  assert.deepEqual(ranked, ['unassigned', 'pending', 'unready', 'crowded-2', 'crowded-1', 'restarts', 'old-ready']);
});
