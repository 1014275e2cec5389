// The ClusterRole aggregation controller: a ClusterRole with an aggregationRule gets, as its rules, the
// rules of every ClusterRole its selectors pick (admin/edit/view pick up aggregate-to-* roles, so adding
// a labelled role extends them). Chains (view → edit → admin) settle through the change events they cause.

import type { ChangeFeed } from '../change-feed.ts';
import type { Registry } from '../registry.ts';
import type { RestService } from '../rest.ts';
import { isDeepStrictEqual } from 'node:util';
import { aggregatedRules } from './bootstrap-policy.ts';
import { RBAC_GROUP } from './types.ts';
import { log } from '../../observability/log.ts';

export class ClusterRoleAggregator {
  constructor(
    private registry: Registry,
    private service: RestService,
    feed: ChangeFeed,
  ) {
    feed.subscribe(async (ev) => {
      if (ev.def.group === RBAC_GROUP && ev.def.resource === 'clusterroles') await this.sync();
    });
  }

  async sync(): Promise<void> {
    const def = this.registry.lookup(RBAC_GROUP, 'v1', 'clusterroles');
    if (!def) return;
    const all = (await this.service.list(def, undefined, {})).items;
    for (const role of all) {
      if (!role.aggregationRule) continue;
      try {
        const rules = aggregatedRules(role, all);
        if (isDeepStrictEqual(rules, role.rules ?? [])) continue;
        await this.service.guaranteedUpdate(
          def,
          undefined,
          role.metadata.name,
          undefined,
          (cur) => ({ ...cur, rules }),
          { fieldManager: 'clusterrole-aggregation-controller' },
          { warnings: [] },
        );
      } catch (e) {
        // One role of the wrong shape (or one write refused) must not stop the others, nor start-up.
        log.error('aggregating a clusterrole failed', e, { clusterRole: role.metadata?.name });
      }
    }
  }
}
