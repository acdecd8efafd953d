// The HTTPS listener: one node:http2 secure server speaking HTTP/2 and HTTP/1.1 (ALPN `h2`, `http/1.1`,
// set by node:http2 with allowHTTP1; a client offering no ALPN gets HTTP/1.1), TLS ≥ 1.2, the certificate
// chosen per handshake by SNI from a CertStore. Both protocols reach the same request handler;
// WebSocket upgrades arrive over HTTP/1.1 as `upgrade` events.
//
// Session resumption: Node (OpenSSL) issues stateless session tickets for TLS 1.2 and 1.3 by default; its
// server session-ID cache is off unless `newSession`/`resumeSession` handlers exist, so tickets are the
// mechanism. Ticket keys belong to the server's own context, which `setSecureContext` (our default-certificate
// reload) replaces. Without explicit keys each new context draws random ones and every reload silently ends
// resumption for all clients (measured; the tests fail that way); keys given at creation are kept by Node for
// every later context. So the keys are fixed per listener, or given, to share them between workers.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { ListenAddress } from '../../../common/parsers.js';
import type { EdgeRequest, EdgeResponse } from '../listener.js';
import { type CertStore, TLS_MIN_VERSION } from './cert-store.js';

export type { EdgeRequest, EdgeResponse };
/** The `result` label of `balancer_tls_handshakes_total`. */
export type HandshakeResult = 'ok' | 'error';

export interface TlsListenerOptions {
  readonly store: CertStore;
  /** HTTP/1.1 and HTTP/2 requests alike. Must not throw (pass the guarded handler the plain listener uses). */
  readonly onRequest: (req: EdgeRequest, res: EdgeResponse) => void;
  /** WebSocket (and other) upgrades over HTTP/1.1. Without it an Upgrade request is an ordinary request. */
  readonly onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Every handshake: `ok`, or `error` with the reason (bad version, no shared cipher, timeout, reset). */
  readonly onHandshake?: (result: HandshakeResult, err?: Error) => void;
  /** 48 bytes. Give all workers the same keys so a ticket resumes on any of them. Default: random. */
  readonly ticketKeys?: Buffer;
  /** A handshake not done by then is dropped (Node's default, 120 s, is generous to slowloris). Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** HTTP/1.1 keep-alive idle time, as the plain listener's. Default 65 s. */
  readonly keepAliveTimeoutMs?: number;
  /** HTTP/1.1 time to receive request headers. Default 30 s. */
  readonly headersTimeoutMs?: number;
  /** An HTTP/2 connection without frames for this long gets GOAWAY (open streams finish). Default 65 s. */
  readonly idleTimeoutMs?: number;
}

/** What node:http2 takes from node:http for HTTP/1.1 connections (present at runtime, missing in its types). */
type Http1Parts = Pick<HttpServer, 'keepAliveTimeout' | 'headersTimeout' | 'requestTimeout' | 'closeIdleConnections'>;

/** `this` is the session (a listener, not a per-session closure). */
function closeIdleSession(this: Http2Session): void {
  this.close();
}

export class TlsListener {
  readonly server: Http2SecureServer;
  private readonly sockets = new Set<TLSSocket>();
  private readonly sessions = new Set<Http2Session>();
  private readonly base: { minVersion: typeof TLS_MIN_VERSION; ticketKeys: Buffer };
  private readonly unsubscribe: () => void;
  private defaultPem: { readonly cert: string; readonly key: string } | undefined;

  constructor(private readonly options: TlsListenerOptions) {
    const { store } = options;
    this.base = { minVersion: TLS_MIN_VERSION, ticketKeys: options.ticketKeys ?? randomBytes(48) };
    this.defaultPem = store.firstPem();
    this.server = createSecureServer({
      ...this.base,
      ...this.defaultPem,
      allowHTTP1: true,
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
      // Only called when the client sent SNI; without it the server's own context (the first certificate) serves.
      SNICallback: (servername, cb) => cb(null, store.select(servername)?.context),
    });
    const server = this.server;
    const h1 = server as unknown as Http1Parts;
    h1.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000;
    h1.headersTimeout = options.headersTimeoutMs ?? 30_000;
    h1.requestTimeout = 0; // long requests are the upstream timeout's business, as on the plain listener
    server.on('request', options.onRequest);
    server.on('checkContinue', options.onRequest); // the backend's `100 Continue` is forwarded
    if (options.onUpgrade) server.on('upgrade', options.onUpgrade);
    const idleMs = options.idleTimeoutMs ?? 65_000;
    server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.setTimeout(idleMs, closeIdleSession);
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      options.onHandshake?.('ok');
    });
    server.on('tlsClientError', (err: Error) => options.onHandshake?.('error', err));
    this.unsubscribe = store.onChange(() => this.refreshDefault());
  }

  /** Resolves with the bound address; rejects on a listen error (EADDRINUSE, EACCES). */
  listen(address: ListenAddress): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(address.port, address.host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Open TLS connections (both protocols). */
  get connections(): number {
    return this.sockets.size;
  }

  /**
   * Stops accepting; HTTP/2 connections get GOAWAY (their open streams finish), idle HTTP/1.1 connections
   * close. Resolves when every connection has ended; `closeAllConnections()` ends the rest (after a grace).
   */
  close(): Promise<void> {
    this.unsubscribe();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.sessions) session.close();
    (this.server as unknown as Http1Parts).closeIdleConnections();
    return closed;
  }

  closeAllConnections(): void {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }

  /** The default certificate changed (first one replaced, added or removed): new connections get it. */
  private refreshDefault(): void {
    const pem = this.options.store.firstPem();
    if (pem?.cert === this.defaultPem?.cert && pem?.key === this.defaultPem?.key) return;
    this.defaultPem = pem;
    // Open connections keep the context they handshook with; tickets stay valid (see the file comment).
    this.server.setSecureContext({ ...this.base, ...pem });
  }
}
