// Controller PKI: root CA, TLS server cert, envelope-signing cert and ECDH cert, created on
// first start under <dataDir>/eve/pki and reloaded afterwards.
//
// Shape follows what EVE verifies (see reference §1.2, §3.6): every leaf is ECDSA P-256 (never
// P-521), signed directly by the root installed on the device as /config/root-certificate.pem,
// with EKU serverAuth (Go's x509.Verify default). The TLS cert's SANs must match the host in
// /config/server. ECDSA is used for the root too: EVE accepts it and it keeps start-up fast.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import crypto, { webcrypto, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import net from 'node:net';
import { controllerCertHash } from './envelope.ts';
import { readStateFiles, writeStateFiles, type StateFile } from '../common/state-files.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DAY = 86_400_000;
// Devices may boot with a slightly wrong clock; back-date notBefore.
const BACKDATE = 2 * DAY;

export interface CertAndKey {
  /** PEM text, trimmed (no trailing newline), exactly as served/hashed. */
  certPem: string;
  keyPem: string;
  key: KeyObject;
}

export interface ControllerPki {
  dir: string;
  root: CertAndKey;
  /** TLS server certificate (with SANs for `hosts`). */
  server: CertAndKey;
  /** Signs every enveloped response. */
  signing: CertAndKey & { hash32: Buffer };
  /** Controller ECDH certificate (required in /certs by EVE). */
  ecdh: CertAndKey;
  hosts: string[];
  /** Adam-style base64url(SHA-256(signing PEM ‖ ECDH PEM)); goes in EdgeDevConfig.controllercert_confighash. */
  certsConfigHash: string;
}

export function defaultHosts(): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', os.hostname()])];
}

function randomSerial(): string {
  const b = crypto.randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER (Go rejects negative serials)
  return b.toString('hex');
}

async function newEcKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPairToPem(keys: CryptoKeyPair): Promise<string> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return x509.PemConverter.encode(pkcs8, 'PRIVATE KEY').trim();
}

async function importSigningKey(keyPem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  return (await webcrypto.subtle.importKey('pkcs8', der, EC_ALG, false, ['sign'])) as CryptoKey;
}

interface IssueOptions {
  cn: string;
  days: number;
  issuer?: { cert: x509.X509Certificate; keyPem: string };
  ca?: boolean;
  usages: x509.KeyUsageFlags;
  eku?: string[];
  hosts?: string[];
}

/** Issue a P-256 certificate (self-signed when no issuer is given). */
export async function issueCert(o: IssueOptions): Promise<CertAndKey> {
  const keys = await newEcKeys();
  const now = Date.now();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(!!o.ca, undefined, true),
    new x509.KeyUsagesExtension(o.usages, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (o.eku?.length) extensions.push(new x509.ExtendedKeyUsageExtension(o.eku, false));
  if (o.hosts?.length) {
    extensions.push(new x509.SubjectAlternativeNameExtension(o.hosts.map((h) => ({ type: net.isIP(h) ? ('ip' as const) : ('dns' as const), value: h }))));
  }
  const base = {
    serialNumber: randomSerial(),
    notBefore: new Date(now - BACKDATE),
    notAfter: new Date(now + o.days * DAY),
    signingAlgorithm: EC_ALG,
  };
  let cert: x509.X509Certificate;
  if (o.issuer) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(o.issuer.cert.publicKey));
    cert = await x509.X509CertificateGenerator.create({
      ...base,
      subject: `CN=${o.cn}`,
      issuer: o.issuer.cert.subject,
      publicKey: keys.publicKey,
      signingKey: await importSigningKey(o.issuer.keyPem),
      extensions,
    });
  } else {
    cert = await x509.X509CertificateGenerator.createSelfSigned({ ...base, name: `CN=${o.cn}`, keys, extensions });
  }
  const keyPem = await keyPairToPem(keys);
  return { certPem: cert.toString('pem').trim(), keyPem, key: crypto.createPrivateKey(keyPem) };
}

const FILES = {
  root: 'root-ca',
  server: 'server',
  signing: 'signing',
  ecdh: 'ecdh',
} as const;

/** Every file of the PKI directory: the certificates, their keys and the TLS host list. */
const PKI_FILES = [...Object.values(FILES).flatMap((b) => [`${b}.pem`, `${b}.key.pem`]), 'server.hosts.json'];

/** The PKI's files in `dir`, for a backup (keys included: devices pin the root and the signing cert). */
export function readPkiFiles(dir: string): StateFile[] {
  return readStateFiles(dir, PKI_FILES);
}

/** Puts files from readPkiFiles back into `dir`; loadOrCreatePki then uses them as they are. */
export function writePkiFiles(dir: string, files: readonly StateFile[]): void {
  writeStateFiles(dir, files, PKI_FILES);
}

function readPair(dir: string, base: string): CertAndKey | undefined {
  const c = path.join(dir, `${base}.pem`);
  const k = path.join(dir, `${base}.key.pem`);
  if (!fs.existsSync(c) || !fs.existsSync(k)) return undefined;
  const certPem = fs.readFileSync(c, 'latin1').trim();
  const keyPem = fs.readFileSync(k, 'latin1').trim();
  return { certPem, keyPem, key: crypto.createPrivateKey(keyPem) };
}

function writePair(dir: string, base: string, p: CertAndKey): void {
  fs.writeFileSync(path.join(dir, `${base}.key.pem`), p.keyPem + '\n', { mode: 0o600 });
  fs.writeFileSync(path.join(dir, `${base}.pem`), p.certPem + '\n');
}

/** Is the cert valid for at least `marginDays` more? */
function fresh(p: CertAndKey | undefined, marginDays: number): boolean {
  if (!p) return false;
  return Date.parse(new crypto.X509Certificate(p.certPem).validTo) - Date.now() >= marginDays * DAY;
}

/**
 * Load the controller PKI from `dir`, creating whatever is missing. The root CA is never
 * replaced once created (devices pin it); leaves are re-issued when missing or close to expiry.
 * The TLS cert's host list only grows: it is re-issued to cover `hosts` (default: localhost,
 * loopback IPs, os.hostname()) plus every host it already covered, so a name written onto an
 * install medium by `kubeve bootstrap` stays valid. Delete server.pem to shrink it.
 */
export async function loadOrCreatePki(opts: { dir: string; hosts?: string[] }): Promise<ControllerPki> {
  const dir = opts.dir;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });

  let root = readPair(dir, FILES.root);
  if (!root) {
    root = await issueCert({
      cn: `kubeve root CA ${crypto.randomBytes(4).toString('hex')}`,
      days: 365 * 20,
      ca: true,
      usages: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
      eku: [SERVER_AUTH],
    });
    writePair(dir, FILES.root, root);
  }
  const issuer = { cert: new x509.X509Certificate(root.certPem), keyPem: root.keyPem };
  // The TLS cert is re-issued when the host list changes; remember which hosts it covers.
  const hostsFile = path.join(dir, 'server.hosts.json');
  const oldHosts =
    fs.existsSync(hostsFile) && fs.existsSync(path.join(dir, `${FILES.server}.pem`)) ? (JSON.parse(fs.readFileSync(hostsFile, 'utf8')) as string[]) : [];
  const wanted = opts.hosts?.length ? opts.hosts : oldHosts.length ? [] : defaultHosts();
  const hosts = [...new Set([...oldHosts, ...wanted])];
  const sameHosts = hosts.length === oldHosts.length;
  const leaf = async (base: string, cn: string, usages: x509.KeyUsageFlags, h?: string[]): Promise<CertAndKey> => {
    let p = readPair(dir, base);
    if (!fresh(p, 30) || (h && !sameHosts)) {
      p = await issueCert({ cn, days: 365 * 5, issuer, usages, eku: [SERVER_AUTH], hosts: h });
      writePair(dir, base, p);
      if (h) fs.writeFileSync(hostsFile, JSON.stringify(h) + '\n');
    }
    return p!;
  };
  const server = await leaf(FILES.server, hosts[0]!, x509.KeyUsageFlags.digitalSignature, hosts);
  const signing = await leaf(FILES.signing, 'kubeve controller signing', x509.KeyUsageFlags.digitalSignature);
  const ecdh = await leaf(FILES.ecdh, 'kubeve controller ecdh', x509.KeyUsageFlags.keyAgreement | x509.KeyUsageFlags.digitalSignature);
  const certsConfigHash = crypto.createHash('sha256').update(signing.certPem).update(ecdh.certPem).digest('base64url');
  return {
    dir,
    root,
    server,
    signing: { ...signing, hash32: controllerCertHash(signing.certPem) },
    ecdh,
    hosts,
    certsConfigHash,
  };
}

/**
 * An onboarding certificate/key pair for an install medium (onboard.cert.pem/onboard.key.pem).
 * EVE does not verify it; the controller matches it against its allow-list. Like Eden, it is
 * signed by the controller root with CN = a UUID.
 */
export async function issueOnboardingCert(pki: ControllerPki, opts: { cn?: string; days?: number } = {}): Promise<CertAndKey> {
  return issueCert({
    cn: opts.cn ?? crypto.randomUUID(),
    days: opts.days ?? 365 * 20,
    issuer: { cert: new x509.X509Certificate(pki.root.certPem), keyPem: pki.root.keyPem },
    usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
    eku: [CLIENT_AUTH],
  });
}

/** A self-signed ECDSA P-256 device certificate, as EVE creates on first boot (for simulators/tests). */
export async function createDeviceCert(opts: { cn?: string; days?: number } = {}): Promise<CertAndKey> {
  return issueCert({
    cn: opts.cn ?? crypto.randomUUID(),
    days: opts.days ?? 365 * 20,
    usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
    eku: [SERVER_AUTH, CLIENT_AUTH],
  });
}
