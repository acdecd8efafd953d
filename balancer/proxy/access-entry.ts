// One request's access-log line in the making. The listener starts it when the request arrives; the
// proxy fills in what only it knows (request id, service, backend, attempts, upstream time, body bytes);
// the response's 'close' completes and writes it, with status 499 when the client left before a
// response. Only with --access-log: without it no record exists, and the proxy's checks are one
// `undefined` test each.
//
// The record rides on the response under a symbol and 'close' calls one module-level function, so an
// access-logged request costs its record and no closure.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { type AccessRecord, newAccessRecord, protocolOf } from './access-log.js';
import { normalizePeer } from './forwarded.js';
import { clientAddress } from './policy/client-address.js';

/** Where finished records go (AccessLog). */
export interface AccessSink {
  write(record: AccessRecord): void;
}

const ENTRY = Symbol('access-entry');

interface Entry {
  readonly record: AccessRecord;
  readonly sink: AccessSink;
  readonly started: number;
}

type Tracked = (ServerResponse | Http2ServerResponse) & { [ENTRY]?: Entry | undefined };

function header(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return typeof v === 'string' ? v : v.join(', ');
}

/** Starts the record of a request that just arrived; it is written when the response closes. */
export function beginAccess(
  sink: AccessSink,
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  isTrusted: (address: string) => boolean,
): AccessRecord {
  const r = newAccessRecord();
  r.time = Date.now();
  const h = req.headers;
  r.method = req.method ?? '';
  r.host = header(h.host) ?? header(h[':authority']) ?? '';
  r.path = req.url ?? '';
  r.protocol = protocolOf(req.httpVersion);
  const socket = req.socket as TLSSocket | undefined;
  r.tls = socket?.encrypted === true;
  // The same answer the route policies key on (nginx's real_ip_recursive over --trusted-proxies).
  const peer = normalizePeer(socket?.remoteAddress);
  const forwarded = { peer, trusted: isTrusted(peer), proto: r.tls ? 'https' : 'http' } as const;
  r.client = clientAddress(forwarded, h['x-forwarded-for'], isTrusted);
  r.userAgent = header(h['user-agent']);
  r.referer = header(h.referer);
  (res as Tracked)[ENTRY] = { record: r, sink, started: performance.now() };
  res.once('close', endAccess);
  return r;
}

function endAccess(this: Tracked): void {
  const e = this[ENTRY];
  if (e === undefined) return;
  this[ENTRY] = undefined;
  const r = e.record;
  r.status = this.headersSent ? this.statusCode : 499;
  r.durationMs = performance.now() - e.started;
  e.sink.write(r);
}
