// The proxy's own answers (400/404/502/503/504), on a ServerResponse or on a raw upgrade socket.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Refused } from './admission.js';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
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
  // A client waiting for `100 Continue` does not send the body we did not ask for: the connection
  // cannot carry another request (RFC 9110 §10.1.1).
  if (res.req?.headers.expect !== undefined && !res.req.complete) res.shouldKeepAlive = false;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** A refused request's answer: its Location or Retry-After, and the route's response header edits. */
export function sendRefusal(res: ServerResponse, r: Refused): void {
  if (!res.headersSent) {
    if (r.header !== undefined) res.setHeader(r.header[0], r.header[1]);
    // The body of a request refused for its size is never read: close the connection after this.
    if (r.status === 413) res.shouldKeepAlive = false;
    r.policy?.responseHeaders?.(res);
  }
  sendText(res, r.status, r.body, r.requestId);
}

function destroySelf(this: Duplex): void {
  this.destroy();
}

/** Writes a minimal HTTP/1.1 response on a raw socket and destroys it once flushed. */
export function rejectUpgrade(
  socket: Duplex,
  status: number,
  body: string,
  requestId?: string,
  header?: readonly [string, string],
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const id = requestId === undefined ? '' : `X-Request-Id: ${requestId}\r\n`;
  // Header values were validated where they were made (a redirect target, a number of seconds).
  const extra = header === undefined ? '' : `${header[0]}: ${header[1]}\r\n`;
  const head =
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${id}${extra}` +
    'Connection: close\r\n\r\n';
  socket.once('finish', destroySelf);
  socket.end(head + body);
}
