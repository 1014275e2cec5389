// The controller PKI kept in a Secret, so every replica and every restart signs with the same keys
// (devices pin the root and the signing certificate; a new one would fail every device).
//
// The PKI code works on a directory (src/eve/pki.ts); this module mirrors that directory to and
// from one Secret: the Secret's content is written into the directory, loadOrCreatePki fills in
// what is missing (first start) or renews what expires, and any change goes back to the Secret
// with a resourceVersion precondition. A replica that loses the race to create it adopts the
// winner's PKI instead.

import fs from 'node:fs';
import path from 'node:path';
import { loadOrCreatePki, type ControllerPki } from '../../../eve/pki.ts';
import { isAlreadyExists, isConflict, isNotFound, type Client, type GVR, type KObject } from '../../runtime/index.ts';

const SECRETS: GVR = { group: '', version: 'v1', resource: 'secrets' };

function readDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir).sort()) out[f] = fs.readFileSync(path.join(dir, f)).toString('base64');
  return out;
}

function writeDir(dir: string, data: Record<string, string>): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [k, v] of Object.entries(data)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(k) || k.startsWith('.')) continue;
    fs.writeFileSync(path.join(dir, k), Buffer.from(v, 'base64'), { mode: 0o600 });
  }
}

const same = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/**
 * Loads the PKI from Secret `namespace/name` into `dir` (creating or renewing it as needed) and
 * returns it. `dir` is then what startDeviceApi reads (<dataDir>/eve/pki).
 */
export async function syncPkiSecret(
  client: Client,
  o: { namespace: string; name: string; dir: string; hosts?: string[]; onCreated?(): void },
): Promise<ControllerPki> {
  for (let attempt = 0; ; attempt++) {
    let secret: KObject | undefined;
    try {
      secret = await client.get(SECRETS, o.namespace, o.name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const stored: Record<string, string> = secret?.data ?? {};
    // No Secret yet: this replica's PKI on disk (if any) becomes the shared one, so a server that
    // already has devices keeps the root they pinned when it is made a replica.
    if (secret) writeDir(o.dir, stored);
    const pki = await loadOrCreatePki({ dir: o.dir, hosts: o.hosts });
    const now = readDir(o.dir);
    if (same(now, stored)) return pki;
    try {
      if (!secret) {
        await client.create(
          SECRETS,
          o.namespace,
          {
            apiVersion: 'v1',
            kind: 'Secret',
            type: 'Opaque',
            metadata: { name: o.name, namespace: o.namespace, labels: { 'app.kubernetes.io/name': 'kubeve', 'app.kubernetes.io/component': 'pki' } },
            data: now,
          },
          { fieldManager: 'kubeve-operator' },
        );
        o.onCreated?.();
      } else {
        // An empty Secret (e.g. created by the chart) is filled; otherwise renewed certificates are written back.
        await client.update(SECRETS, { ...secret, data: now }, { fieldManager: 'kubeve-operator' });
      }
      return pki;
    } catch (e) {
      // Another replica wrote it first: adopt theirs.
      if ((isAlreadyExists(e) || isConflict(e)) && attempt < 5) continue;
      throw e;
    }
  }
}
