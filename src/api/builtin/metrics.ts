// metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics: the read-only resource metrics API that `kubectl top`
// reads (metrics-server's shape). Nothing is stored: each definition is backed by a ReadOnlySource that
// whoever serves the metrics passes in (the kubelet bridge, from what devices upload).

import type { ReadOnlySource, ResourceDefinition } from '../../apiserver/resource.ts';
import { AGE_COLUMN } from './common.ts';
import { kindSchema, list, obj, resourceList, str } from './dsl.ts';

export const METRICS_GROUP = 'metrics.k8s.io';
export const METRICS_VERSION = 'v1beta1';

const usage = () => resourceList('Resource usage over the window: cpu in cores (nanocores), memory in bytes (working set).');
const timestamp = str('End of the window the usage was measured over.');
const window = str('Length of the window the usage was measured over (a duration, e.g. 1m0s).');

const readOnly: Pick<
  ResourceDefinition,
  'group' | 'version' | 'verbs' | 'unknownFields' | 'strategicMergePatch' | 'generation' | 'subresources' | 'deleteReturnsObject'
> = {
  group: METRICS_GROUP,
  version: METRICS_VERSION,
  verbs: ['get', 'list'],
  unknownFields: 'none',
  strategicMergePatch: false,
  generation: false,
  subresources: {},
  deleteReturnsObject: false,
};

export function metricsResources(sources: { nodes: ReadOnlySource; pods: ReadOnlySource }): ResourceDefinition[] {
  return [
    {
      ...readOnly,
      resource: 'nodes',
      singular: 'nodemetrics',
      kind: 'NodeMetrics',
      listKind: 'NodeMetricsList',
      namespaced: false,
      schema: kindSchema('Resource usage of a node, as measured by the node (for EVE nodes: the device metrics).', { timestamp, window, usage: usage() }),
      columns: [
        { name: 'CPU', type: 'string', description: 'CPU usage.', cell: (o) => o.usage?.cpu ?? '' },
        { name: 'Memory', type: 'string', description: 'Memory usage.', cell: (o) => o.usage?.memory ?? '' },
        { name: 'Window', type: 'string', description: 'Measurement window.', cell: (o) => o.window ?? '' },
        AGE_COLUMN,
      ],
      source: sources.nodes,
    },
    {
      ...readOnly,
      resource: 'pods',
      singular: 'podmetrics',
      kind: 'PodMetrics',
      listKind: 'PodMetricsList',
      namespaced: true,
      schema: kindSchema('Resource usage of a pod, per container (for pods on EVE nodes: the app metrics of its device).', {
        timestamp,
        window,
        containers: list(obj('Usage of one container.', { name: str('Container name.'), usage: usage() }), 'Usage per container.'),
      }),
      columns: [{ name: 'Window', type: 'string', description: 'Measurement window.', cell: (o) => o.window ?? '' }, AGE_COLUMN],
      source: sources.pods,
    },
  ];
}
