// kubeve CLI commands of the EVE device layer:
//   kubeve bootstrap   – write the /config files of an EVE install medium for this controller
//   kubeve device-api  – run the device API alone (allow-list onboarding, no Kubernetes)
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Command } from 'commander';
import YAML from 'yaml';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { loadOrCreatePki, issueOnboardingCert } from './pki.ts';
import { OnboardingAllowList, onboardCertHash } from './onboarding.ts';
import { startDeviceApi, DEFAULT_DEVICE_API_PORT } from './device-api.ts';
import { EdgeDevConfigSchema } from './gen/config/devconfig_pb.ts';

/** Split "host:port" / "[v6]:port" / "host". */
export function splitServer(server: string): { host: string; port?: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(server) ?? /^([^:]+)(?::(\d+))?$/.exec(server);
  if (!m) throw new Error(`--server must be host[:port], got ${server}`);
  return { host: m[1]!, ...(m[2] ? { port: Number(m[2]) } : {}) };
}

export interface BootstrapResult {
  outDir: string;
  onboardCertHash: string;
  files: string[];
}

/**
 * Write server, root-certificate.pem, onboard.cert.pem and onboard.key.pem into `out`
 * (the CONFIG partition of an EVE installer / live image). The onboarding pair is created,
 * signed by the controller root, unless an existing pair is given.
 */
export async function writeBootstrapFiles(o: {
  dataDir: string;
  server: string;
  out: string;
  onboardCert?: string;
  onboardKey?: string;
  allowSerial?: string[];
  /** Name of the OnboardingKey in the written manifest (default onboard-<first 10 hex of the cert hash>). */
  keyName?: string;
}): Promise<BootstrapResult> {
  const { host } = splitServer(o.server);
  const eveDir = path.join(o.dataDir, 'eve');
  // The TLS cert must name the host the device will dial (hosts only accumulate).
  const pki = await loadOrCreatePki({ dir: path.join(eveDir, 'pki'), hosts: [host] });
  let certPem: string;
  let keyPem: string;
  if (o.onboardCert || o.onboardKey) {
    if (!o.onboardCert || !o.onboardKey) throw new Error('--onboard-cert and --onboard-key go together');
    certPem = fs.readFileSync(o.onboardCert, 'latin1').trim();
    keyPem = fs.readFileSync(o.onboardKey, 'latin1').trim();
    const pub = crypto.createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
    const certPub = new crypto.X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    if (!Buffer.from(pub).equals(Buffer.from(certPub))) throw new Error('onboarding key does not match the certificate');
  } else {
    const ob = await issueOnboardingCert(pki);
    certPem = ob.certPem;
    keyPem = ob.keyPem;
  }
  const hash = onboardCertHash(certPem);
  // Keep a copy so the controller side can refer to it (OnboardingKey, allow-list).
  const keep = path.join(eveDir, 'onboarding');
  fs.mkdirSync(keep, { recursive: true });
  fs.writeFileSync(path.join(keep, `${hash}.cert.pem`), certPem + '\n');
  if (o.allowSerial?.length) {
    const allow = new OnboardingAllowList(path.join(eveDir, 'onboarding.json'));
    for (const s of o.allowSerial) allow.allow(certPem, s);
  }
  fs.mkdirSync(o.out, { recursive: true });
  const files: [string, string, number?][] = [
    ['server', o.server + '\n'],
    ['root-certificate.pem', pki.root.certPem + '\n'],
    ['onboard.cert.pem', certPem + '\n'],
    ['onboard.key.pem', keyPem + '\n', 0o600],
    // For the controller side, not the device: `kubectl apply -f` it to admit devices with this certificate.
    [ONBOARDING_KEY_MANIFEST, onboardingKeyManifest(o.keyName ?? `onboard-${hash.slice(0, 10)}`, certPem, o.allowSerial)],
  ];
  for (const [name, text, mode] of files) fs.writeFileSync(path.join(o.out, name), text, mode ? { mode } : {});
  return { outDir: o.out, onboardCertHash: hash, files: files.map((f) => f[0]) };
}

export const ONBOARDING_KEY_MANIFEST = 'onboardingkey.yaml';

/** The OnboardingKey admitting devices that register with this certificate (auto-enrolled; serials from --allow-serial, "*" = any). */
export function onboardingKeyManifest(name: string, certPem: string, serials: string[] = []): string {
  const only = serials.includes('*') ? [] : [...new Set(serials)];
  const key = {
    apiVersion: 'eve.kubeve.io/v1alpha1',
    kind: 'OnboardingKey',
    metadata: { name },
    spec: { autoEnroll: true, ...(only.length ? { serials: only } : {}), certificate: certPem.trim() + '\n' },
  };
  return `# kubectl apply -f ${ONBOARDING_KEY_MANIFEST}   (devices onboarding with onboard.cert.pem then get an EdgeNode)\n${YAML.stringify(key)}`;
}

const collect = (v: string, acc: string[] = []) => [...acc, v];

export function registerEveCommands(program: Command): void {
  program
    .command('bootstrap')
    .description('write the EVE install-medium /config files for this controller: server, root-certificate.pem, onboard.cert.pem, onboard.key.pem')
    .option('--data-dir <dir>', 'controller data directory (env KUBEVE_DATA_DIR)', process.env.KUBEVE_DATA_DIR ?? './kubeve-data')
    .requiredOption('--server <host:port>', 'controller address as devices reach it (written to /config/server)')
    .requiredOption('--out <dir>', 'output directory (copy its files into the CONFIG partition)')
    .option('--onboard-cert <file>', 'reuse an existing onboarding certificate (PEM)')
    .option('--onboard-key <file>', 'private key of --onboard-cert (PEM)')
    .option(
      '--allow-serial <serial>',
      'admit this serial ("*" = any): in the written OnboardingKey and the standalone device-api allow-list (repeatable)',
      collect,
    )
    .option('--key-name <name>', 'name of the OnboardingKey in the written manifest (default onboard-<cert hash prefix>)')
    .action(
      async (o: { dataDir: string; server: string; out: string; onboardCert?: string; onboardKey?: string; allowSerial?: string[]; keyName?: string }) => {
        const r = await writeBootstrapFiles(o);
        console.log(`wrote ${r.files.join(', ')} to ${r.outDir}`);
        console.log(`onboarding certificate SHA-256 (DER): ${r.onboardCertHash}`);
        console.log(`admit devices using it:  kubectl apply -f ${path.join(r.outDir, ONBOARDING_KEY_MANIFEST)}`);
      },
    );

  program
    .command('device-api')
    .description('run only the EVE device API (API v2) with a file-based onboarding allow-list')
    .option('--data-dir <dir>', 'data directory (env KUBEVE_DATA_DIR)', process.env.KUBEVE_DATA_DIR ?? './kubeve-data')
    .option('--host <addr>', 'listen address', '0.0.0.0')
    .option('--port <port>', 'HTTPS port of the device API (env KUBEVE_DEVICE_PORT)', process.env.KUBEVE_DEVICE_PORT ?? String(DEFAULT_DEVICE_API_PORT))
    .option('--tls-host <name>', 'extra DNS name/IP for the TLS certificate (repeatable)', collect)
    .option('--default-config <file>', 'proto3-JSON EdgeDevConfig served to devices without a config (id.uuid is filled in)')
    .action(async (o: { dataDir: string; host: string; port: string; tlsHost?: string[]; defaultConfig?: string }) => {
      const allow = new OnboardingAllowList(path.join(o.dataDir, 'eve', 'onboarding.json'));
      const template = o.defaultConfig ? (JSON.parse(fs.readFileSync(o.defaultConfig, 'utf8')) as JsonValue) : undefined;
      const api = await startDeviceApi({
        dataDir: o.dataDir,
        host: o.host,
        port: Number(o.port),
        tlsHosts: o.tlsHost,
        hooks: {
          admitOnboarding: (r) => allow.admit(r),
          desiredConfig: (uuid) => {
            if (!template) return undefined;
            const cfg = fromJson(EdgeDevConfigSchema, template, { ignoreUnknownFields: true });
            cfg.id = { $typeName: 'org.lfedge.eve.config.UUIDandVersion', uuid, version: cfg.id?.version || '1' };
            return cfg;
          },
        },
      });
      console.log(`kubeve device API (EVE API v2) listening on https://${o.host}:${api.port}${'/api/v2/edgedevice/'}`);
      console.log(`TLS names: ${api.pki.hosts.join(', ')}; ${api.deviceCount} registered devices`);
      const stop = async () => {
        await api.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
    });
}
