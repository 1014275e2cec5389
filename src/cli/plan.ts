// `kubeve plan -f manifest.yaml`: the placement preview (src/controllers/scheduler/plan.ts) against
// the cluster a kubeconfig points at. Reads the manifest, asks, prints a table (or JSON). Writes nothing.

import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { parseAllDocuments } from 'yaml';
import { HttpClient, loadKubeconfig, defaultKubeconfigPath, type KObject } from '../controllers/runtime/index.ts';
import { planPlacement, PREVIEW_KINDS, type PlanRow } from '../controllers/scheduler/plan.ts';

/** The objects of a YAML/JSON manifest (multi-document, and `kind: List` expanded). */
export function readManifest(text: string): KObject[] {
  const out: KObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(doc.errors[0].message);
    const v = doc.toJS();
    if (v == null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) throw new Error('every document must be an object');
    if (typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items)) out.push(...v.items);
    else out.push(v);
  }
  return out;
}

function table(rows: PlanRow[]): string {
  const cells = [
    ['WORKLOAD', 'NAMESPACE', 'POD', 'NODE', 'PREEMPTS', 'MESSAGE'],
    ...rows.map((r) => [r.workload, r.namespace, r.pod, r.node ?? '<none>', r.preempts?.length ? r.preempts.join(',') : '<none>', r.message ?? '']),
  ];
  const widths = cells[0].map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  return cells
    .map((c) =>
      c
        .map((s, i) => (i === c.length - 1 ? s : s.padEnd(widths[i] + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description(
      `show which nodes the pods of a workload would land on with the cluster as it is now, before applying it (kinds: ${PREVIEW_KINDS.join(', ')}); writes nothing`,
    )
    .requiredOption('-f, --filename <file>', 'manifest to preview (YAML or JSON; "-" reads stdin)')
    .option('--kubeconfig <file>', 'kubeconfig to use (env KUBECONFIG; default ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: its current-context)')
    .option('-n, --namespace <ns>', "namespace for objects that name none (default: the context's, else default)")
    .option(
      '-o, --output <format>',
      'table or json',
      (v: string) => {
        if (v !== 'table' && v !== 'json') throw new InvalidArgumentError(`must be table or json, got ${JSON.stringify(v)}`);
        return v;
      },
      'table',
    )
    .action(async (o: { filename: string; kubeconfig?: string; context?: string; namespace?: string; output: string }) => {
      let objects: KObject[];
      try {
        objects = readManifest(readFileSync(o.filename === '-' ? 0 : o.filename, 'utf8'));
      } catch (e) {
        console.error(`error: ${o.filename}: ${(e as Error).message}`);
        process.exit(1);
      }
      let result: Awaited<ReturnType<typeof planPlacement>>;
      try {
        const config = loadKubeconfig(o.kubeconfig ?? defaultKubeconfigPath(), o.context);
        result = await planPlacement(new HttpClient(config), objects, o.namespace ?? config.namespace ?? 'default');
      } catch (e) {
        console.error(`error: ${(e as Error).message}`);
        process.exit(1);
      }
      const { rows, skipped } = result;
      for (const s of skipped) console.error(`skipped ${s}: not a workload the preview places`);
      console.log(o.output === 'json' ? JSON.stringify({ pods: rows, skipped }, null, 2) : rows.length ? table(rows) : 'No pods to place.');
    });
}
