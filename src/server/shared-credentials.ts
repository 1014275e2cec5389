// The API server's credentials shared by replicas on one store: the CA (signs serving and user
// client certificates), the ServiceAccount token signing key and the static token file (the admin
// token) live in Secret kube-system/kubeve-apiserver-credentials, so one kubeconfig, one CA and
// every issued ServiceAccount token work with any replica. The serving certificate stays per
// replica: it is issued from the shared CA for the replica's own names.
//
// The first replica publishes what its data directory holds (creating it if empty); the others
// write the Secret's content into theirs before the credentials are loaded.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isAlreadyExists, isNotFound, type Client, type GVR, type KObject } from '../controllers/runtime/index.ts';

const SECRETS: GVR = { group: '', version: 'v1', resource: 'secrets' };
export const CREDENTIALS_SECRET = 'kubeve-apiserver-credentials';
const NAMESPACE = 'kube-system';
/** Secret key → path in the data directory. */
const FILES: Record<string, string> = { 'ca.crt': 'pki/ca.crt', 'ca.key': 'pki/ca.key', 'sa.key': 'pki/sa.key', 'tokens.csv': 'tokens.csv' };
const SERVING = ['pki/apiserver.crt', 'pki/apiserver.key'];

/** Makes dataDir hold the shared credentials; `createLocal` fills in missing files on the first replica. */
export async function syncSharedCredentials(client: Client, dataDir: string, createLocal: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    let secret: KObject | undefined;
    try {
      secret = await client.get(SECRETS, NAMESPACE, CREDENTIALS_SECRET);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (secret) {
      const data: Record<string, string> = secret.data ?? {};
      const caPath = join(dataDir, FILES['ca.crt']!);
      const caBefore = existsSync(caPath) ? readFileSync(caPath).toString('base64') : undefined;
      for (const [key, rel] of Object.entries(FILES)) {
        if (data[key] === undefined) continue;
        const p = join(dataDir, rel);
        mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
        writeFileSync(p, Buffer.from(data[key], 'base64'), { mode: 0o600 });
      }
      // A serving certificate from another CA would fail every client: issue a new one.
      if (caBefore !== undefined && caBefore !== data['ca.crt']) for (const rel of SERVING) rmSync(join(dataDir, rel), { force: true });
      return;
    }
    await createLocal();
    const data: Record<string, string> = {};
    for (const [key, rel] of Object.entries(FILES)) data[key] = readFileSync(join(dataDir, rel)).toString('base64');
    try {
      await client.create(
        SECRETS,
        NAMESPACE,
        {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'Opaque',
          metadata: {
            name: CREDENTIALS_SECRET,
            namespace: NAMESPACE,
            labels: { 'app.kubernetes.io/name': 'kubeve', 'app.kubernetes.io/component': 'apiserver-credentials' },
          },
          data,
        },
        { fieldManager: 'kubeve' },
      );
      return;
    } catch (e) {
      // Another replica published first: adopt theirs.
      if (!isAlreadyExists(e) || attempt >= 3) throw e;
    }
  }
}
