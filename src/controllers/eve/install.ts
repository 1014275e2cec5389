// Installs the CRD manifests of deploy/crds/ (the single source of truth, DESIGN §3) through the
// ordinary API: a missing CRD is created, a changed one updated, so CRD validation and the
// establishing controller apply exactly as for `kubectl apply`. Works with any Client.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import type { KObject } from '../../apiserver/resource.ts';
import { isNotFound, type Client, type GVR } from '../runtime/index.ts';

export const CRD_GVR: GVR = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' };

/** deploy/crds of this checkout. */
export const DEFAULT_CRD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../deploy/crds');

/** Every CRD document of the *.yaml / *.yml files in `dir`, in file name order. */
export function readCrdManifests(dir = DEFAULT_CRD_DIR): KObject[] {
  const out: KObject[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${f}: ${doc.errors[0]!.message}`);
      const o = doc.toJS() as KObject | null;
      if (!o) continue;
      if (o.kind !== 'CustomResourceDefinition') throw new Error(`${f}: expected only CustomResourceDefinition documents, found ${o.kind}`);
      out.push(o);
    }
  }
  return out;
}

const established = (crd: KObject) => (crd.status?.conditions ?? []).some((c: KObject) => c.type === 'Established' && c.status === 'True');

/**
 * Creates or updates each CRD, then waits until all are Established. Returns the names.
 * Labels/annotations/spec of the manifest win; other metadata is left as the server keeps it.
 */
export async function installCrds(client: Client, o: { dir?: string; timeoutMs?: number; fieldManager?: string } = {}): Promise<string[]> {
  const manifests = readCrdManifests(o.dir);
  const opts = { fieldManager: o.fieldManager ?? 'kubeve' };
  for (const m of manifests) {
    const name = m.metadata?.name;
    let cur: KObject | undefined;
    try {
      cur = await client.get(CRD_GVR, undefined, name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!cur) {
      await client.create(CRD_GVR, undefined, m, opts);
      continue;
    }
    const same = isDeepStrictEqual(cur.spec, { ...cur.spec, ...m.spec }) &&
      isDeepStrictEqual(cur.metadata.labels ?? {}, { ...cur.metadata.labels, ...m.metadata.labels });
    if (same) continue;
    const next = structuredClone(cur);
    next.spec = m.spec;
    next.metadata.labels = { ...cur.metadata.labels, ...m.metadata.labels };
    if (m.metadata.annotations) next.metadata.annotations = { ...cur.metadata.annotations, ...m.metadata.annotations };
    await client.update(CRD_GVR, next, opts);
  }
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  const names: string[] = manifests.map((m) => m.metadata.name);
  for (const name of names) {
    for (;;) {
      if (established(await client.get(CRD_GVR, undefined, name))) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not established in time`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return names;
}

/**
 * A readiness check: undefined once every CRD of `dir` is Established, else which are not
 * (kubeve serves its EVE resources only from then on).
 */
export function crdsEstablishedCheck(client: Client, dir?: string): () => Promise<string | undefined> {
  const names = readCrdManifests(dir).map((m) => m.metadata.name as string);
  return async () => {
    const missing: string[] = [];
    for (const name of names) {
      try {
        if (!established(await client.get(CRD_GVR, undefined, name))) missing.push(name);
      } catch (e) {
        if (!isNotFound(e)) throw e;
        missing.push(name);
      }
    }
    return missing.length ? `not established: ${missing.join(', ')}` : undefined;
  };
}
