// The plain-HTTP listener in front of the proxy handler: a bug in one request's handling costs that
// request, never the process; malformed requests get a status line, never a crash.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { ProxyHandler } from './proxy.js';

export interface ListenerOptions {
  readonly proxy: ProxyHandler;
  readonly log: Logger;
  /** True while shutting down: keep-alive clients are told to reconnect elsewhere. */
  readonly draining: () => boolean;
  /** Keep-alive idle limit, and the longest a request body may go without a byte (then 408). */
  readonly clientTimeoutMs: number;
}

const TIMEOUT_BODY = 'request body timeout\n';

function hasBody(req: IncomingMessage): boolean {
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

function endBodyTimeout(this: IncomingMessage): void {
  this.socket.setTimeout(0);
}

/** The client's socket saw no byte for the client timeout while its request body was still coming. */
function onBodyTimeout(this: ServerResponse): void {
  if (this.req.complete) return;
  if (this.headersSent || this.destroyed) {
    this.destroy();
    return;
  }
  this.writeHead(408, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(TIMEOUT_BODY),
    connection: 'close',
  });
  this.end(TIMEOUT_BODY);
}

function clientErrorStatus(code: string | undefined): string {
  if (code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  return '400 Bad Request';
}

export function createProxyListener({ proxy, log, draining, clientTimeoutMs }: ListenerOptions): Server {
  // requestTimeout stays 0: a long upload is fine while its bytes keep coming (see onBodyTimeout).
  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000, connectionsCheckingInterval: 1000 });
  server.keepAliveTimeout = clientTimeoutMs;
  server.on('request', (req, res) => {
    if (draining()) res.setHeader('connection', 'close');
    if (hasBody(req) && !req.complete) {
      req.socket.setTimeout(clientTimeoutMs);
      req.once('end', endBodyTimeout);
      res.once('timeout', onBodyTimeout);
    }
    try {
      proxy.handleRequest(req, res);
    } catch (err) {
      log.error({ err, url: req.url?.slice(0, 200), code: ErrorCode.requestHandler }, 'request handler failed');
      res.destroy();
    }
  });
  server.on('upgrade', (req, socket, head) => {
    try {
      proxy.handleUpgrade(req, socket, head);
    } catch (err) {
      log.error({ err, url: req.url?.slice(0, 200), code: ErrorCode.requestHandler }, 'upgrade handler failed');
      socket.destroy();
    }
  });
  // Malformed requests, oversized headers (431) and header timeouts end here.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    socket.end(`HTTP/1.1 ${clientErrorStatus(err.code)}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  return server;
}
