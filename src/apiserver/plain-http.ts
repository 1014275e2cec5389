// A plain-HTTP request sent to a TLS port gets the answer Go's net/http gives (and so kube-apiserver):
// a bare HTTP/1.0 400 saying what went wrong, instead of a silently dropped connection.

import type { Socket } from 'node:net';
import type { Server, TLSSocket } from 'node:tls';

const REPLY = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';

export function answerPlainHttp(server: Server): void {
  server.on('tlsClientError', (err: NodeJS.ErrnoException, tls: TLSSocket) => {
    // OpenSSL recognises an HTTP request line where a TLS record should start ("GET ", "POST", ...).
    if (err.code !== 'ERR_SSL_HTTP_REQUEST') return;
    // The TCP socket under the failed TLS socket is still open and unencrypted (an internal field).
    const raw = (tls as unknown as { _parent?: Socket })._parent;
    if (raw && !raw.destroyed && raw.writable) raw.end(REPLY);
  });
}
