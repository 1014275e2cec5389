// The kubelet's streaming endpoints for Pods on EVE nodes, served by the embedded API server as
// subresources of pods: `log` from the app logs devices upload (src/eve/logstore.ts; kubectl logs
// --tail, --since, --since-time, --timestamps, --limit-bytes, -f), and `exec`, `attach`,
// `portforward` answered with a clear error (EVE offers no remote execution path to its apps).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KObject, CustomSubresource } from '../../apiserver/resource.ts';
import { StatusError, badRequest } from '../../apiserver/errors.ts';
import type { LogStore, StoredLog } from '../../eve/logstore.ts';

export interface StreamLookups {
  /** Device UUID of an EVE node, or undefined when the node is not one. */
  deviceUuidOf(node: string): string | undefined;
  logs: LogStore;
  /** How often `-f` looks for new lines (default 500 ms). */
  followPollMs?: number;
}

const timeMs = (e: StoredLog): number => {
  const s = Number(e.timestamp?.seconds ?? NaN);
  return Number.isFinite(s) ? s * 1000 + Math.floor((e.timestamp?.nanos ?? 0) / 1e6) : e.rx;
};
const nanoTime = (e: StoredLog): string => {
  const s = Number(e.timestamp?.seconds ?? NaN);
  if (!Number.isFinite(s)) return new Date(e.rx).toISOString();
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, `.${String(e.timestamp?.nanos ?? 0).padStart(9, '0')}Z`);
};

function nonNegativeInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^\d+$/.test(v)) throw badRequest(`${name}: Invalid value: "${v}": must be a non-negative integer`);
  return Number(v);
}

function container(pod: KObject, q: URLSearchParams): string {
  const names: string[] = (pod.spec?.containers ?? []).map((c: KObject) => c.name);
  const c = q.get('container') || names[0] || '';
  if (!names.includes(c)) throw badRequest(`container ${c} is not valid for pod ${pod.metadata.name}`);
  return c;
}

export function podLogSubresource(l: StreamLookups): CustomSubresource {
  return {
    kind: 'Pod',
    get: () => undefined,
    async serve(pod, q, req, res) {
      if ((req.method ?? 'GET') !== 'GET') throw new StatusError(405, 'MethodNotAllowed', `${req.method} is not supported on pods/log`);
      container(pod, q);
      const node = String(pod.spec?.nodeName ?? '');
      const device = node ? l.deviceUuidOf(node) : undefined;
      if (!device)
        throw badRequest(
          node
            ? `pod ${pod.metadata.name} is on node ${node}, which is not an EVE node: no kubelet serves its logs`
            : `pod ${pod.metadata.name} is not scheduled to a node yet`,
        );
      const tail = nonNegativeInt(q, 'tailLines');
      const limitBytes = nonNegativeInt(q, 'limitBytes');
      const sinceSeconds = nonNegativeInt(q, 'sinceSeconds');
      const sinceTime = q.get('sinceTime');
      if (sinceTime && Number.isNaN(Date.parse(sinceTime))) throw badRequest(`sinceTime: Invalid value: "${sinceTime}": must be RFC 3339`);
      const sinceMs = sinceTime ? Date.parse(sinceTime) : sinceSeconds !== undefined ? Date.now() - sinceSeconds * 1000 : undefined;
      const timestamps = q.get('timestamps') === 'true';
      const follow = q.get('follow') === 'true';
      const app = String(pod.metadata.uid).toLowerCase();
      const line = (e: StoredLog) => `${timestamps ? nanoTime(e) + ' ' : ''}${String(e.content ?? '').replace(/\n$/, '')}\n`;

      let entries = await l.logs.query({ device, app, sinceMs, limit: tail === undefined ? 100_000 : tail });
      if (tail === 0) entries = [];
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
      let written = 0;
      const write = (s: string): boolean => {
        if (limitBytes !== undefined) {
          const room = limitBytes - written;
          if (room <= 0) return false;
          const b = Buffer.from(s).subarray(0, room);
          written += b.length;
          res.write(b);
          return b.length === Buffer.byteLength(s);
        }
        res.write(s);
        return true;
      };
      let full = false;
      for (const e of entries) {
        if (!write(line(e))) {
          full = true;
          break;
        }
      }
      if (!follow || full) return void res.end();
      // Follow: new entries are those after the last one written (same-millisecond ones counted).
      let last = entries.length ? timeMs(entries.at(-1)!) : Date.now();
      let atLast = entries.filter((e) => timeMs(e) === last).length;
      let closed = false;
      req.on('close', () => (closed = true));
      res.on('close', () => (closed = true));
      while (!closed) {
        await new Promise((r) => setTimeout(r, l.followPollMs ?? 500));
        const next = (await l.logs.query({ device, app, sinceMs: last, limit: 100_000 })).filter((e) => timeMs(e) >= last);
        const fresh = next.filter((e) => timeMs(e) > last);
        const same = next.filter((e) => timeMs(e) === last).slice(atLast);
        for (const e of [...same, ...fresh]) {
          if (!write(line(e))) return void res.end();
        }
        if (fresh.length) {
          last = timeMs(fresh.at(-1)!);
          atLast = next.filter((e) => timeMs(e) === last).length;
        } else atLast += same.length;
      }
      res.end();
    },
  };
}

/** exec, attach, portforward: EVE has no such path to an app (its remote access is Edge-View). */
export function unsupportedStreamSubresource(what: string, l: Pick<StreamLookups, 'deviceUuidOf'>): CustomSubresource {
  return {
    kind: 'Status',
    get: () => undefined,
    async serve(pod: KObject, _q: URLSearchParams, _req: IncomingMessage, _res: ServerResponse) {
      const node = String(pod.spec?.nodeName ?? '');
      if (node && l.deviceUuidOf(node))
        throw badRequest(
          `${what} is not supported on EVE nodes: pod ${pod.metadata.namespace}/${pod.metadata.name} runs as an EVE app on node ${node}, and EVE offers no ${what} path to its apps`,
        );
      throw badRequest(`${what} is not available: no kubelet serves node ${node || '(none)'} of pod ${pod.metadata.name}`);
    },
  };
}
