// The proxy's own answers (400/404/502/503/504), on a ServerResponse or on a raw upgrade socket.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  404: 'Not Found',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Plain text; once a status line has gone out the response can only be broken off. */
export function sendText(res: ServerResponse, status: number, body: string, requestId: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  });
  res.end(body);
}

function destroySelf(this: Duplex): void {
  this.destroy();
}

/** Writes a minimal HTTP/1.1 response on a raw socket and destroys it once flushed. */
export function rejectUpgrade(socket: Duplex, status: number, body: string, requestId?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const id = requestId === undefined ? '' : `X-Request-Id: ${requestId}\r\n`;
  const head =
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${id}` +
    'Connection: close\r\n\r\n';
  socket.once('finish', destroySelf);
  socket.end(head + body);
}
