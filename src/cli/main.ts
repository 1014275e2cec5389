// The kubeve command line: one binary for the server, the simulator and helper commands.

import { Command } from 'commander';
import { startApiServer } from '../apiserver/server.ts';
import { registerEveCommands } from '../eve/cli.ts';
import { registerSimCommands } from '../sim/cli.ts';

const program = new Command();
program.name('kubeve').description('A Kubernetes-compatible controller for EVE-OS edge fleets');

program
  .command('server')
  .description('run the embedded Kubernetes-compatible API server (SQLite storage in the data directory)')
  .option('--data-dir <dir>', 'data directory (env KUBEVE_DATA_DIR)', process.env.KUBEVE_DATA_DIR ?? './kubeve-data')
  .option('--host <addr>', 'address to listen on (env KUBEVE_HOST)', process.env.KUBEVE_HOST ?? '127.0.0.1')
  .option('--port <port>', 'HTTPS port of the Kubernetes API (env KUBEVE_PORT)', process.env.KUBEVE_PORT ?? '6443')
  .option('--advertise-address <addr>', 'address clients use to reach the server (kubeconfig and certificate)')
  .action(async (o: { dataDir: string; host: string; port: string; advertiseAddress?: string }) => {
    const server = await startApiServer({ dataDir: o.dataDir, host: o.host, port: Number(o.port), advertiseAddress: o.advertiseAddress });
    console.log(`kubeve API server listening on ${server.url}`);
    console.log(`Point kubectl at it with:\n\n  export KUBECONFIG=${server.kubeconfigPath}\n  kubectl get namespaces\n`);
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`kubeve: ${sig} received, shutting down`);
      await server.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });

registerEveCommands(program);
registerSimCommands(program);

await program.parseAsync(process.argv);
