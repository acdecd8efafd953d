// One request's access-log line in the making. The listener starts it when the request arrives; the
// proxy fills in what only it knows (request id, service, backend, attempts, upstream time, body bytes);
// the response's 'close' completes and writes it, with status 499 when the client left before a
// response. Only with --access-log: without it no entry exists, and the proxy's checks are one
// `undefined` test each.
//
// A proxied request's exchange already listens for its response's 'close' and completes the entry
// there (`claim`); only responses answered outside an exchange (refusals, redirects, a failed
// handler) get a listener of their own, a module-level function reading the entry from a symbol.
// So an access-logged request costs its entry and record: no closure, no second listener.
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

type AnyResponse = ServerResponse | Http2ServerResponse;

/** A request's record and what completing it needs. */
export class AccessEntry {
  /** Something completes the entry when the response closes: an exchange, or a listener (`completeOnClose`). */
  private owned = false;
  /** performance.now() at arrival. */
  private readonly started = performance.now();

  constructor(
    readonly record: AccessRecord,
    private readonly sink: AccessSink,
  ) {}

  /** The caller will call end() when the response closes. False when someone already does. */
  claim(): boolean {
    if (this.owned) return false;
    this.owned = true;
    return true;
  }

  /** The response closed: the status sent (499 when none was), the duration, then the line. */
  end(res: AnyResponse): void {
    const r = this.record;
    r.status = res.headersSent ? res.statusCode : 499;
    r.durationMs = performance.now() - this.started;
    this.sink.write(r);
  }
}

const ENTRY = Symbol('access-entry');
type Tracked = AnyResponse & { [ENTRY]?: AccessEntry | undefined };

function header(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return typeof v === 'string' ? v : v.join(', ');
}

/** Starts the record of a request that just arrived. */
export function beginAccess(
  sink: AccessSink,
  req: IncomingMessage | Http2ServerRequest,
  isTrusted: (address: string) => boolean,
): AccessEntry {
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
  return new AccessEntry(r, sink);
}

/** A response no exchange completes (answered by the edge or refused): its 'close' writes the line. */
export function completeOnClose(entry: AccessEntry, res: AnyResponse): void {
  if (!entry.claim()) return;
  (res as Tracked)[ENTRY] = entry;
  res.once('close', endOnClose);
}

function endOnClose(this: Tracked): void {
  const e = this[ENTRY];
  if (e === undefined) return;
  this[ENTRY] = undefined;
  e.end(this);
}
