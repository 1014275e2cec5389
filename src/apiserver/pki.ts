// The API server's own PKI and credentials, generated into the data directory on first start and
// reused afterwards: a CA, a serving certificate, the admin bearer token and an admin kubeconfig.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto, randomBytes, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { log } from '../observability/log.ts';
import { readStateFiles, writeStateFiles, type StateFile } from '../common/state-files.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface CertKey {
  certPem: string;
  keyPem: string;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive
  return b.toString('hex');
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
}

export async function createCA(commonName: string, years = 10): Promise<CertKey> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + years * 365 * 86400_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export interface LeafOptions {
  /** Distinguished name, e.g. "CN=alice, O=devs". */
  subject: string;
  dnsNames?: string[];
  ips?: string[];
  usage: 'server' | 'client';
  days?: number;
}

export async function issueCert(ca: CertKey, opts: LeafOptions): Promise<CertKey> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importKey(ca.keyPem);
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([opts.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  const names = [
    ...(opts.dnsNames ?? []).map((v) => ({ type: 'dns' as const, value: v })),
    ...(opts.ips ?? []).map((v) => ({ type: 'ip' as const, value: v })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: opts.subject,
    issuer: caCert.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (opts.days ?? 3650) * 86400_000),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export interface ServerCredentials {
  dir: string;
  ca: CertKey;
  serving: CertKey;
  adminToken: string;
  tokenFile: string;
  kubeconfigPath: string;
}

function loadOrCreate(path: string, make: () => Promise<string>): Promise<string> {
  if (existsSync(path)) return Promise.resolve(readFileSync(path, 'utf8'));
  return make().then((v) => {
    writeFileSync(path, v, { mode: 0o600 });
    return v;
  });
}

/** Loads the server's PKI and admin credentials from dataDir/pki, creating what is missing. */
export async function ensureServerCredentials(dataDir: string, extraSANs: string[] = []): Promise<ServerCredentials> {
  const dir = join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let ca: CertKey;
  if (existsSync(join(dir, 'ca.crt'))) {
    ca = { certPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'ca.key'), 'utf8') };
  } else {
    ca = await createCA('kubeve-ca');
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  }
  let serving: CertKey | undefined;
  let keep: string[] = [];
  if (existsSync(join(dir, 'apiserver.crt'))) {
    serving = { certPem: readFileSync(join(dir, 'apiserver.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'apiserver.key'), 'utf8') };
    // A new --advertise-address/--host the certificate does not name would break every client with
    // an x509 error: re-issue it from the same CA, naming the old names and the new ones.
    const missing = extraSANs.filter((s) => !certNames(serving!.certPem, s));
    if (missing.length) {
      keep = subjectAltNames(serving.certPem);
      log.info('re-issuing the serving certificate for new names', { added: missing });
      serving = undefined;
    }
  }
  if (!serving) {
    const names = [...keep, ...extraSANs];
    const dns = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', hostname(), ...names.filter((s) => !isIP(s))];
    const ips = ['127.0.0.1', '::1', ...names.filter(isIP)];
    serving = await issueCert(ca, { subject: 'CN=kube-apiserver', dnsNames: [...new Set(dns)], ips: [...new Set(ips)], usage: 'server' });
    writeFileSync(join(dir, 'apiserver.key'), serving.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'apiserver.crt'), serving.certPem);
  }
  // Static token file in kube-apiserver's --token-auth-file format: token,user,uid,"group1,group2".
  const tokenFile = join(dataDir, 'tokens.csv');
  const tokens = await loadOrCreate(tokenFile, async () => `${randomBytes(24).toString('base64url')},kubeve-admin,kubeve-admin,"system:masters"\n`);
  const adminToken = tokens.split('\n')[0].split(',')[0];
  return { dir, ca, serving, adminToken, tokenFile, kubeconfigPath: join(dataDir, 'admin.kubeconfig') };
}

const isIP = (s: string) => /^[\d.:]+$/.test(s);

/** Whether the certificate is valid for this host name or IP address. */
function certNames(certPem: string, name: string): boolean {
  const c = new X509Certificate(certPem);
  return isIP(name) ? c.checkIP(name) !== undefined : c.checkHost(name) !== undefined;
}

/** The DNS names and IP addresses a certificate names. */
function subjectAltNames(certPem: string): string[] {
  return (new X509Certificate(certPem).subjectAltName ?? '')
    .split(', ')
    .map((e) => /^(?:DNS|IP Address):(.+)$/.exec(e)?.[1])
    .filter((v): v is string => !!v);
}

/** A kubeconfig for one user of this server. */
export function kubeconfig(server: string, caPem: string, user: { name: string; token?: string; certPem?: string; keyPem?: string }): string {
  const u: Record<string, string> = {};
  if (user.token) u.token = user.token;
  if (user.certPem) u['client-certificate-data'] = Buffer.from(user.certPem).toString('base64');
  if (user.keyPem) u['client-key-data'] = Buffer.from(user.keyPem).toString('base64');
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kubeve', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: user.name, user: u }],
    contexts: [{ name: `${user.name}@kubeve`, context: { cluster: 'kubeve', user: user.name, namespace: 'default' } }],
    'current-context': `${user.name}@kubeve`,
    preferences: {},
  });
}

/** The files of <dataDir>/pki: the CA, the serving certificate and the service-account signing key. */
const PKI_FILES = ['ca.crt', 'ca.key', 'apiserver.crt', 'apiserver.key', 'sa.key'];
const DATA_DIR_FILES = ['tokens.csv'];

/** The API server's credentials in the data dir, for a backup: PKI files and the static token file. */
export function readCredentialFiles(dataDir: string): { pki: StateFile[]; dataDir: StateFile[] } {
  return { pki: readStateFiles(join(dataDir, 'pki'), PKI_FILES), dataDir: readStateFiles(dataDir, DATA_DIR_FILES) };
}

/** Puts files from readCredentialFiles back; ensureServerCredentials then uses them as they are. */
export function writeCredentialFiles(dataDir: string, files: { pki: StateFile[]; dataDir: StateFile[] }): void {
  writeStateFiles(join(dataDir, 'pki'), files.pki, PKI_FILES);
  writeStateFiles(dataDir, files.dataDir, DATA_DIR_FILES);
}
