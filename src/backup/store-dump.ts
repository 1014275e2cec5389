// Reading a whole object store through the storage contract: every key at one revision.

import type { KeyValue, Storage } from '../apiserver/storage/types.ts';

const PAGE = 500;

/**
 * Every key of the store as of one revision (the first page's): later pages are read at that
 * same revision, so the result is a consistent snapshot even while others write. Items are in
 * modRevision order, the order a restore writes them in.
 */
export async function readStore(storage: Storage): Promise<{ revision: number; items: KeyValue[] }> {
  const first = await storage.list('', { limit: PAGE });
  const revision = first.revision;
  const items = [...first.items];
  let more = first.more;
  while (more) {
    const page = await storage.list('', { revision, limit: PAGE, startKey: items[items.length - 1].key + '\0' });
    items.push(...page.items);
    more = page.more;
  }
  items.sort((a, b) => a.modRevision - b.modRevision || (a.key < b.key ? -1 : 1));
  return { revision, items };
}
