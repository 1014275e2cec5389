// Installs the CRD manifests of deploy/crds/ (the single source of truth, DESIGN §3) and the ClusterRoles of
// deploy/rbac that put the EVE resources into kube's view/edit/admin, through the ordinary API: a missing
// object is created, a changed one updated, so validation, the establishing controller and ClusterRole
// aggregation apply exactly as for `kubectl apply`. Works with any Client.

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

/** deploy/rbac/aggregate-roles.yaml of this checkout (rendered from the chart; test/operator/chart.test.ts keeps it so). */
export const DEFAULT_AGGREGATE_ROLES_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../deploy/rbac/aggregate-roles.yaml');

export const CLUSTERROLE_GVR: GVR = { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles' };

const AGGREGATE_LABEL = /^rbac\.authorization\.k8s\.io\/aggregate-to-(view|edit|admin)$/;
/** Labels of the rendered chart that would claim Helm manages the object. */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by'];

/** Every CRD document of the *.yaml / *.yml files in `dir`, in file name order. */
export function readCrdManifests(dir = DEFAULT_CRD_DIR): KObject[] {
  const out: KObject[] = [];
  for (const f of fs
    .readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort()) {
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
    const same =
      isDeepStrictEqual(cur.spec, { ...cur.spec, ...m.spec }) && isDeepStrictEqual(cur.metadata.labels ?? {}, { ...cur.metadata.labels, ...m.metadata.labels });
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

/**
 * The ClusterRoles of `file` labelled to aggregate into view, edit or admin, without the labels that
 * say Helm manages them (here kubeve does).
 */
export function readAggregatedRoles(file = DEFAULT_AGGREGATE_ROLES_FILE): KObject[] {
  const out: KObject[] = [];
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as KObject | null;
    if (o?.kind !== 'ClusterRole' || !Object.keys(o.metadata?.labels ?? {}).some((l) => AGGREGATE_LABEL.test(l))) continue;
    for (const l of HELM_LABELS) delete o.metadata.labels[l];
    out.push(o);
  }
  if (!out.length) throw new Error(`${file}: no ClusterRole labelled rbac.authorization.k8s.io/aggregate-to-{view,edit,admin}`);
  return out;
}

/**
 * Creates or updates each aggregated ClusterRole (rules and labels of the manifest win); the aggregation
 * controller then folds them into view/edit/admin. Returns the names.
 */
export async function installAggregatedRoles(client: Client, o: { file?: string; fieldManager?: string } = {}): Promise<string[]> {
  const opts = { fieldManager: o.fieldManager ?? 'kubeve' };
  const roles = readAggregatedRoles(o.file);
  for (const m of roles) {
    let cur: KObject | undefined;
    try {
      cur = await client.get(CLUSTERROLE_GVR, undefined, m.metadata.name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!cur) {
      await client.create(CLUSTERROLE_GVR, undefined, m, opts);
      continue;
    }
    const labels = { ...cur.metadata.labels, ...m.metadata.labels };
    if (isDeepStrictEqual(cur.rules ?? [], m.rules ?? []) && isDeepStrictEqual(cur.metadata.labels ?? {}, labels)) continue;
    await client.update(CLUSTERROLE_GVR, { ...cur, metadata: { ...cur.metadata, labels }, rules: m.rules }, opts);
  }
  return roles.map((m) => m.metadata.name as string);
}
