// Helpers for the upstream engine's socket tests: a sink that records what the engine delivers, raw
// TCP backends answered byte by byte, and a reader of the requests such a backend receives.
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { BackendPool } from '../../balancer/proxy/engine/backend-pool.js';
import type { ResponseHeaders } from '../../balancer/proxy/engine/header-fields.js';
import type { RequestHeaders } from '../../balancer/proxy/engine/request-head.js';
import type { ResponseSink, UpstreamAttempt } from '../../balancer/proxy/engine/upstream-attempt.js';
import type { UpstreamError } from '../../balancer/proxy/engine/upstream-error.js';
import type { Backend } from '../../balancer/types.js';
import { listen } from './servers.js';

export function engineBackend(name: string, port: number, scheme = 'http'): Backend {
  return {
    id: `web/${name}`,
    service: 'web',
    instance: name,
    entry: { host: '127.0.0.1', port, weight: 1, tags: [], draining: false },
    target: `${scheme}://127.0.0.1:${port}`,
    health: { unhealthy: false },
  };
}

/** Records every sink call in order; `onData` answers `accept` (false → backpressure). */
export class RecordingSink implements ResponseSink {
  readonly events: string[] = [];
  readonly interims: Array<{ status: number; headers: ResponseHeaders }> = [];
  status = 0;
  reason = '';
  headers: ResponseHeaders | undefined;
  trailers: ResponseHeaders | undefined;
  readonly chunks: Buffer[] = [];
  bytes = 0;
  ended = false;
  error: UpstreamError | undefined;
  accept = true;
  /** Keep copies of the body chunks (off for large bodies: only `bytes` is counted). */
  store = true;
  attempt: UpstreamAttempt | undefined;
  readonly finished: Promise<void>;
  /** Called on the response head (for tests that act at that moment). */
  onHead: (() => void) | undefined;
  private resolve: () => void = () => undefined;

  constructor() {
    this.finished = new Promise((r) => (this.resolve = r));
  }

  onInterim(status: number, headers: ResponseHeaders): void {
    this.events.push(`interim ${status}`);
    this.interims.push({ status, headers });
  }
  onResponse(status: number, reason: string, headers: ResponseHeaders): void {
    this.events.push(`response ${status}`);
    this.status = status;
    this.reason = reason;
    this.headers = headers;
    this.onHead?.();
  }
  onData(chunk: Buffer): boolean {
    if (this.events[this.events.length - 1] !== 'data') this.events.push('data');
    if (this.store) this.chunks.push(Buffer.from(chunk));
    this.bytes += chunk.length;
    return this.accept;
  }
  onTrailers(trailers: ResponseHeaders): void {
    this.events.push('trailers');
    this.trailers = trailers;
  }
  onEnd(): void {
    this.events.push('end');
    this.ended = true;
    this.resolve();
  }
  onError(err: UpstreamError): void {
    this.events.push(`error ${err.kind}`);
    this.error = err;
    this.resolve();
  }
  body(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

/** Runs one attempt to its end (onEnd or onError). */
export async function exchange(
  pool: BackendPool,
  method = 'GET',
  path = '/',
  headers: RequestHeaders = { host: 'web.test' },
  body?: Readable,
): Promise<RecordingSink> {
  const sink = new RecordingSink();
  sink.attempt = pool.request(method, path, headers, body, sink);
  await sink.finished;
  return sink;
}

export interface RawRequest {
  readonly head: string;
  readonly body: Buffer;
  /** The request line, e.g. `GET / HTTP/1.1`. */
  readonly line: string;
}

/**
 * Splits what a raw backend receives into requests (head, then a Content-Length or chunked body,
 * de-chunked), calling `onRequest` for each, in order, with its index on this socket.
 */
export function readRequests(sock: Socket, onRequest: (req: RawRequest, index: number) => void): void {
  let buf = Buffer.alloc(0);
  let index = 0;
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.toString('latin1', 0, end);
      let rest = buf.subarray(end + 4);
      const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
      let body = Buffer.alloc(0);
      if (cl) {
        const n = Number(cl[1]);
        if (rest.length < n) return;
        body = rest.subarray(0, n);
        rest = rest.subarray(n);
      } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        const parts: Buffer[] = [];
        let p = 0;
        for (;;) {
          const eol = rest.indexOf('\r\n', p);
          if (eol === -1) return;
          const size = parseInt(rest.toString('latin1', p, eol), 16);
          if (size === 0) {
            if (rest.length < eol + 4) return;
            p = eol + 4;
            break;
          }
          if (rest.length < eol + 2 + size + 2) return;
          parts.push(rest.subarray(eol + 2, eol + 2 + size));
          p = eol + 2 + size + 2;
        }
        body = Buffer.concat(parts);
        rest = rest.subarray(p);
      }
      buf = Buffer.from(rest);
      onRequest({ head, body, line: head.slice(0, head.indexOf('\r\n')) }, index++);
    }
  });
}

export interface RawBackend {
  readonly port: number;
  readonly server: Server;
  readonly sockets: Socket[];
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** A TCP server whose every connection goes to `onConnection`; sockets are destroyed on close. */
export async function rawBackend(onConnection: (sock: Socket, index: number) => void): Promise<RawBackend> {
  const sockets: Socket[] = [];
  const server = createServer((sock) => {
    sockets.push(sock);
    sock.on('error', () => undefined);
    onConnection(sock, sockets.length - 1);
  });
  const port = await listen(server);
  return {
    port,
    server,
    sockets,
    connections: () => sockets.length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A raw backend answering every request on every connection with `respond(req, index)`'s bytes. */
export function answering(respond: (req: RawRequest, index: number, sock: Socket) => string | Buffer | undefined) {
  return (sock: Socket): void =>
    readRequests(sock, (req, i) => {
      const out = respond(req, i, sock);
      if (out !== undefined) sock.write(out);
    });
}
