// `kubeve backup`, `kubeve restore`, `kubeve migrate --to-etcd`: flags in, summary out.
// Exit codes: 0 done; 2 refused (usage, non-empty target, running server); 1 any other failure
// (unreadable or damaged archive, etcd unreachable).

import type { Command } from 'commander';
import { addEtcdOptions, etcdOptionsFromFlags, type EtcdFlags } from '../cli/etcd-options.ts';
import { ArchiveError } from './archive.ts';
import { createBackup, RefusedError } from './backup.ts';
import { migrateToEtcd, restoreBackup } from './restore.ts';

async function run(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    console.error(`kubeve ${what}: ${(e as Error).message}`);
    process.exit(e instanceof RefusedError ? 2 : 1);
  }
  process.exit(0); // the etcd client's timers would keep the process alive a while
}

function etcdFlags(o: EtcdFlags) {
  try {
    return etcdOptionsFromFlags(o);
  } catch (e) {
    throw new RefusedError((e as Error).message);
  }
}

export function registerBackupCommands(program: Command): void {
  addEtcdOptions(program.command('backup'))
    .description('write an archive of a kubeve installation (objects, credentials, EVE PKI, device registry and served configs), while it runs')
    .requiredOption('-o, --output <file>', 'archive to write')
    .option('--data-dir <dir>', "the server's data directory (env KUBEVE_DATA_DIR)", process.env.KUBEVE_DATA_DIR ?? './kubeve-data')
    .option('--etcd-snapshot <file>', "with --etcd: also save etcd's own snapshot of the whole cluster (for etcdutl snapshot restore)")
    .action((o: EtcdFlags & { output: string; dataDir: string; etcdSnapshot?: string }) =>
      run('backup', async () => {
        const s = await createBackup({ dataDir: o.dataDir, etcd: etcdFlags(o), out: o.output, etcdSnapshot: o.etcdSnapshot });
        console.log(
          `kubeve backup: wrote ${o.output}: ${s.objects} objects at revision ${s.revision} (${s.engine}${s.via ? `, read from the ${s.via}` : ''}), ${s.devices} devices`,
        );
        if (s.etcdSnapshotBytes !== undefined) console.log(`  and etcd's snapshot of the whole cluster: ${o.etcdSnapshot} (${s.etcdSnapshotBytes} bytes)`);
      }),
    );

  addEtcdOptions(program.command('restore'))
    .description('restore an archive from `kubeve backup` into an empty data directory (and an empty etcd prefix with --etcd); the server must be stopped')
    .requiredOption('-i, --input <file>', 'archive to read')
    .option('--data-dir <dir>', 'data directory to restore into (env KUBEVE_DATA_DIR)', process.env.KUBEVE_DATA_DIR ?? './kubeve-data')
    .option('--force', 'replace the state the target holds instead of refusing a non-empty target')
    .action((o: EtcdFlags & { input: string; dataDir: string; force?: boolean }) =>
      run('restore', async () => {
        const s = await restoreBackup({ input: o.input, dataDir: o.dataDir, etcd: etcdFlags(o), force: o.force });
        console.log(
          `kubeve restore: ${s.objects} objects and ${s.devices} devices from a backup of ${s.header.createdAt} (${s.header.source.engine}, revision ${s.header.source.revision})`,
        );
        if (s.compactedAt !== undefined) {
          console.log(
            `  on etcd: objects rewritten above revision ${s.compactedAt} in their old order; clients holding an older resourceVersion get 410 Expired and relist`,
          );
        } else {
          console.log('  every resourceVersion kept; clients resuming from a revision before the backup get 410 Expired and relist');
        }
      }),
    );

  addEtcdOptions(program.command('migrate'))
    .description("copy a stopped server's SQLite object store into etcd (UIDs, timestamps and resourceVersion order kept); then start it with --etcd")
    .requiredOption('--to-etcd <urls>', 'etcd client URLs (comma-separated)')
    .option('--data-dir <dir>', "the server's data directory (env KUBEVE_DATA_DIR)", process.env.KUBEVE_DATA_DIR ?? './kubeve-data')
    .option('--force', 'delete what etcd holds under the prefix first instead of refusing')
    .action((o: EtcdFlags & { toEtcd: string; dataDir: string; force?: boolean }) =>
      run('migrate', async () => {
        const etcd = etcdFlags({ ...o, etcd: o.toEtcd })!;
        const s = await migrateToEtcd({ dataDir: o.dataDir, etcd, force: o.force });
        console.log(
          `kubeve migrate: ${s.objects} objects copied to etcd under ${etcd.prefix} (SQLite revision ${s.sourceRevision} → etcd revisions ${s.compactedAt + 1}..${s.revision})`,
        );
        console.log(
          `  clients holding an older resourceVersion get 410 Expired and relist. Start the server with:\n  kubeve server --data-dir ${o.dataDir} --etcd ${o.toEtcd}${o.etcdPrefix !== '/kubeve' ? ` --etcd-prefix ${o.etcdPrefix}` : ''}`,
        );
      }),
    );
}
