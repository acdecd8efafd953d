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

/**
 * The client as the balancer trusts it: the peer, or, when the peer is a trusted proxy, the
 * right-most X-Forwarded-For address that is not itself trusted (the left-most if all are).
 */
export function clientAddress(
  peer: string,
  forwardedFor: string | undefined,
  isTrusted: (address: string) => boolean,
): string {
  if (forwardedFor === undefined || forwardedFor === '' || !isTrusted(peer)) return peer;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = (hops[i] as string).trim();
    if (hop === '') continue;
    if (i === 0 || !isTrusted(hop)) return hop;
  }
  return peer;
}

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
  const xff = h['x-forwarded-for'];
  r.client = clientAddress(normalizePeer(socket?.remoteAddress), Array.isArray(xff) ? xff.join(',') : xff, isTrusted);
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
