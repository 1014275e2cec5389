// `kubeve kubeconfig user|serviceaccount`: kubeconfigs for people (a client certificate signed by the
// server CA: CN = user, O = groups) and for service accounts (a token from the TokenRequest API).

import type { Command } from 'commander';
import https from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { issueCert, kubeconfig } from '../apiserver/pki.ts';

interface ServerInfo {
  url: string;
  caPem: string;
  adminToken?: string;
}

/** The server URL, CA and admin token recorded in a data directory by `kubeve server`. */
function serverInfo(dataDir: string, server?: string): ServerInfo {
  const dir = resolve(dataDir);
  const caPem = readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8');
  let admin: any;
  try {
    admin = YAML.parse(readFileSync(join(dir, 'admin.kubeconfig'), 'utf8'));
  } catch {
    admin = undefined;
  }
  const url = server ?? admin?.clusters?.[0]?.cluster?.server;
  if (!url) throw new Error(`no server URL: start the server once with --data-dir ${dataDir} or pass --server`);
  return { url, caPem, adminToken: admin?.users?.[0]?.user?.token };
}

/** Escapes a value for an X.500 distinguished name string. */
const dnValue = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');

export interface UserKubeconfigOptions {
  dataDir: string;
  name: string;
  groups?: string[];
  server?: string;
  days?: number;
}

/** A kubeconfig authenticating as `name` in `groups` with a client certificate from the server CA. */
export async function userKubeconfig(o: UserKubeconfigOptions): Promise<string> {
  const info = serverInfo(o.dataDir, o.server);
  const dir = resolve(o.dataDir);
  const ca = { certPem: info.caPem, keyPem: readFileSync(join(dir, 'pki', 'ca.key'), 'utf8') };
  const subject = [`CN=${dnValue(o.name)}`, ...(o.groups ?? []).map((g) => `O=${dnValue(g)}`)].join(', ');
  const cert = await issueCert(ca, { subject, usage: 'client', days: o.days ?? 365 });
  return kubeconfig(info.url, info.caPem, { name: o.name, certPem: cert.certPem, keyPem: cert.keyPem });
}

/** Go duration ("1h", "30m", "90s", "1h30m") in seconds. */
export function parseDuration(s: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s.trim());
  if (!m || s.trim() === '' || (!m[1] && !m[2] && !m[3])) throw new Error(`invalid duration ${JSON.stringify(s)}: use e.g. 1h, 30m, 3600s`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

export interface ServiceAccountKubeconfigOptions {
  dataDir: string;
  namespace: string;
  name: string;
  expirationSeconds?: number;
  audiences?: string[];
  server?: string;
}

/** A kubeconfig with a fresh token for an existing service account, requested from the running server. */
export async function serviceAccountKubeconfig(o: ServiceAccountKubeconfigOptions): Promise<string> {
  const info = serverInfo(o.dataDir, o.server);
  if (!info.adminToken) throw new Error('no admin token in the data directory');
  const body = JSON.stringify({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { audiences: o.audiences ?? [], expirationSeconds: o.expirationSeconds ?? 3600 },
  });
  const path = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/serviceaccounts/${encodeURIComponent(o.name)}/token`;
  const reply = await new Promise<{ status: number; body: any }>((resolveP, reject) => {
    const req = https.request(
      info.url + path,
      {
        method: 'POST',
        ca: info.caPem,
        headers: { Authorization: `Bearer ${info.adminToken}`, 'Content-Type': 'application/json', Accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolveP({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  if (reply.status !== 201) throw new Error(`token request failed (${reply.status}): ${reply.body?.message ?? JSON.stringify(reply.body)}`);
  const config = YAML.parse(kubeconfig(info.url, info.caPem, { name: `system:serviceaccount:${o.namespace}:${o.name}`, token: reply.body.status.token }));
  config.contexts[0].context.namespace = o.namespace;
  return YAML.stringify(config);
}

function output(text: string, out?: string): void {
  if (out) writeFileSync(out, text, { mode: 0o600 });
  else process.stdout.write(text);
}

export function registerKubeconfigCommands(program: Command): void {
  const kc = program.command('kubeconfig').description('create kubeconfigs for users and service accounts of a kubeve server');
  const dataDirDefault = process.env.KUBEVE_DATA_DIR ?? './kubeve-data';
  kc.command('user <name>')
    .description('a kubeconfig with a client certificate signed by the server CA (user = CN, groups = O)')
    .option('--group <group>', 'group of the user (repeatable)', (g: string, acc: string[]) => [...acc, g], [] as string[])
    .option('--data-dir <dir>', 'server data directory (env KUBEVE_DATA_DIR)', dataDirDefault)
    .option('--server <url>', "server URL (default: the one in the data directory's admin kubeconfig)")
    .option('--days <n>', 'certificate validity in days', '365')
    .option('--out <file>', 'write to this file (mode 0600) instead of stdout')
    .action(async (name: string, o: { group: string[]; dataDir: string; server?: string; days: string; out?: string }) => {
      output(await userKubeconfig({ dataDir: o.dataDir, name, groups: o.group, server: o.server, days: Number(o.days) }), o.out);
    });
  kc.command('serviceaccount <namespace/name>')
    .description('a kubeconfig with a token for a service account (TokenRequest against the running server)')
    .option('--duration <d>', 'token lifetime, e.g. 1h, 30m (at least 10m)', '1h')
    .option('--audience <aud>', 'audience of the token (repeatable; default: the API server)', (a: string, acc: string[]) => [...acc, a], [] as string[])
    .option('--data-dir <dir>', 'server data directory (env KUBEVE_DATA_DIR)', dataDirDefault)
    .option('--server <url>', "server URL (default: the one in the data directory's admin kubeconfig)")
    .option('--out <file>', 'write to this file (mode 0600) instead of stdout')
    .action(async (ref: string, o: { duration: string; audience: string[]; dataDir: string; server?: string; out?: string }) => {
      const [namespace, name] = ref.split('/');
      if (!namespace || !name) throw new Error('expected <namespace>/<name>');
      output(
        await serviceAccountKubeconfig({
          dataDir: o.dataDir,
          namespace,
          name,
          expirationSeconds: parseDuration(o.duration),
          audiences: o.audience,
          server: o.server,
        }),
        o.out,
      );
    });
}
