// The listeners' request handling in front of the proxy: a bug in one request's handling costs that
// request, never the process; malformed requests get a status line, never a crash. The same handlers
// serve the plain listener and the TLS one (HTTP/1.1 and HTTP/2); each side adds its own edge rules:
// `--redirect-https` on the plain side, `--hsts` on the TLS side.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import { ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { type AccessEntry, type AccessSink, beginAccess, completeOnClose } from './access-entry.js';
import { ACME_CHALLENGE } from './admission.js';
import { ensureRequestId } from './forwarded.js';
import { httpsLocation } from './policy/redirect.js';
import type { ProxyHandler } from './proxy.js';
import { sendText } from './responses.js';

export type EdgeRequest = IncomingMessage | Http2ServerRequest;
export type EdgeResponse = ServerResponse | Http2ServerResponse;
/** The `protocol` label of balancer_client_requests_total and the access log. */
export type ClientProtocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';

export interface HandlerOptions {
  readonly proxy: ProxyHandler;
  readonly log: Logger;
  /** True while shutting down: keep-alive clients are told to reconnect elsewhere. */
  readonly draining: () => boolean;
  /** Keep-alive idle limit, and the longest a request body may go without a byte (then 408). */
  readonly clientTimeoutMs: number;
  /** Counts each request by protocol and TLS. */
  readonly onRequest?: (protocol: ClientProtocol, tls: boolean) => void;
  /** --access-log: one record per request. */
  readonly accessLog?: AccessSink | undefined;
  /** Whether a peer is inside --trusted-proxies (the access log's `client`). Default: none is. */
  readonly isTrusted?: (address: string) => boolean;
}

export interface EdgeRules {
  /** The TLS listener's handlers (for the protocol counter). */
  readonly tls?: boolean;
  /** TLS side: the Strict-Transport-Security value for every response. */
  readonly hsts?: string | undefined;
  /** Plain side: answer everything with 308 to the HTTPS port it returns, ACME HTTP-01 challenges excepted. */
  readonly redirectHttpsPort?: (() => number) | undefined;
}

export interface EdgeHandlers {
  onRequest(req: EdgeRequest, res: EdgeResponse): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

const TIMEOUT_BODY = 'request body timeout\n';

function hasBody(req: EdgeRequest): boolean {
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

export function protocolOf(req: EdgeRequest): ClientProtocol {
  if (req.httpVersionMajor === 2) return 'HTTP/2';
  return req.httpVersionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
}

const NO_HOST_TO_REDIRECT = 'a Host header is needed to redirect to https\n';
const REDIRECTING = 'redirecting to https\n';

/** `--redirect-https`: true when answered (308, or 400 without a Host to redirect to). */
function redirectToHttps(
  req: IncomingMessage,
  res: ServerResponse,
  port: () => number,
  access: AccessEntry | undefined,
): boolean {
  const url = req.url ?? '/';
  if (url.startsWith(ACME_CHALLENGE)) return false; // HTTP-01 challenges must reach the ACME client
  const host = req.headers.host;
  const body = host === undefined || host === '' ? NO_HOST_TO_REDIRECT : REDIRECTING;
  const requestId = ensureRequestId(req.headers);
  if (access !== undefined) {
    access.record.requestId = requestId;
    access.record.bytes = Buffer.byteLength(body);
  }
  if (body === REDIRECTING) res.setHeader('location', httpsLocation(host as string, url, port()));
  sendText(res, body === REDIRECTING ? 308 : 400, body, requestId);
  return true;
}

const NOBODY_TRUSTED = (): boolean => false;

export function createEdgeHandlers(opts: HandlerOptions, rules: EdgeRules = {}): EdgeHandlers {
  const { proxy, log, draining, clientTimeoutMs, onRequest, accessLog } = opts;
  const isTrusted = opts.isTrusted ?? NOBODY_TRUSTED;
  const { hsts, redirectHttpsPort } = rules;
  const tls = rules.tls === true;
  return {
    onRequest(req, res) {
      const h1 = req.httpVersionMajor === 1;
      onRequest?.(protocolOf(req), tls);
      let access: AccessEntry | undefined;
      try {
        if (accessLog !== undefined) access = beginAccess(accessLog, req, isTrusted);
        if (
          redirectHttpsPort !== undefined &&
          redirectToHttps(req as IncomingMessage, res as ServerResponse, redirectHttpsPort, access)
        ) {
          return;
        }
        if (hsts !== undefined) res.setHeader('strict-transport-security', hsts);
        if (h1) {
          if (draining()) res.setHeader('connection', 'close');
          // HTTP/2 streams share one socket: its timeout is the session's, not one request's.
          if (hasBody(req) && !(req as IncomingMessage).complete) {
            req.socket.setTimeout(clientTimeoutMs);
            req.once('end', endBodyTimeout);
            res.once('timeout', onBodyTimeout);
          }
        }
        proxy.handleRequest(req as IncomingMessage, res as ServerResponse, access);
      } catch (err) {
        log.error({ err, url: req.url?.slice(0, 200), code: ErrorCode.requestHandler }, 'request handler failed');
        res.destroy();
      } finally {
        // A proxied request's exchange completes the entry; anything answered otherwise, here.
        if (access !== undefined) completeOnClose(access, res);
      }
    },
    onUpgrade(req, socket, head) {
      try {
        proxy.handleUpgrade(req, socket, head);
      } catch (err) {
        log.error({ err, url: req.url?.slice(0, 200), code: ErrorCode.requestHandler }, 'upgrade handler failed');
        socket.destroy();
      }
    },
  };
}

function clientErrorStatus(code: string | undefined): string {
  if (code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  return '400 Bad Request';
}

/** Malformed requests, oversized headers (431) and header timeouts end here. */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${clientErrorStatus(err.code)}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/** The plain-HTTP listener. */
export function createProxyListener(handlers: EdgeHandlers, clientTimeoutMs: number): Server {
  // requestTimeout stays 0: a long upload is fine while its bytes keep coming (see onBodyTimeout).
  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000, connectionsCheckingInterval: 1000 });
  server.keepAliveTimeout = clientTimeoutMs;
  server.on('request', handlers.onRequest);
  // No automatic `100 Continue`: the backend's own is forwarded (or our refusal sent instead).
  server.on('checkContinue', handlers.onRequest);
  server.on('upgrade', handlers.onUpgrade);
  server.on('clientError', answerClientError);
  return server;
}
