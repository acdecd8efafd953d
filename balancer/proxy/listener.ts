// The plain-HTTP listener in front of the proxy handler: a bug in one request's handling costs that
// request, never the process; malformed requests get a status line, never a crash.
import { createServer, type Server } from 'node:http';
import { ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { ProxyHandler } from './proxy.js';

export interface ListenerOptions {
  readonly proxy: ProxyHandler;
  readonly log: Logger;
  /** True while shutting down: keep-alive clients are told to reconnect elsewhere. */
  readonly draining: () => boolean;
}

function clientErrorStatus(code: string | undefined): string {
  if (code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  return '400 Bad Request';
}

export function createProxyListener({ proxy, log, draining }: ListenerOptions): Server {
  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000, connectionsCheckingInterval: 1000 });
  server.keepAliveTimeout = 65_000;
  server.on('request', (req, res) => {
    if (draining()) res.setHeader('connection', 'close');
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
