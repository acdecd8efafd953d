// Request admission, shared by the HTTP and WebSocket edges: request id, request-target check, route
// lookup, then the headers the backend will see (absolute-form host, hop-by-hop stripped, forwarded
// headers). Each edge answers a refusal in its own way (a ServerResponse, or bytes on a raw socket).
import type { IncomingMessage } from 'node:http';
import type { Lookup, RouteMatch } from '../types.js';
import {
  applyForwarded,
  describeTarget,
  ensureRequestId,
  type ForwardedContext,
  type RequestTarget,
  requestTarget,
  type StripOptions,
  stripHopByHop,
} from './forwarded.js';
import { isProxyableTarget } from './outgoing.js';

export interface Admitted {
  readonly ok: true;
  readonly requestId: string;
  readonly where: RequestTarget;
  readonly match: RouteMatch;
  /** performance.now() when the request reached the edge. */
  readonly started: number;
}

export interface Refused {
  readonly ok: false;
  readonly requestId: string;
  readonly status: 400 | 404;
  readonly body: string;
  readonly started: number;
}

/**
 * Admits `req` or says why not. On admission the request's headers are rewritten in place for the
 * upstream; a refused request's headers are left as they came (only the request id is added).
 */
export function admit(
  req: IncomingMessage,
  lookup: Lookup,
  peer: ForwardedContext,
  strip: StripOptions,
  started: number,
): Admitted | Refused {
  const headers = req.headers;
  const requestId = ensureRequestId(headers);
  const url = req.url ?? '/';
  if (!isProxyableTarget(url)) return { ok: false, requestId, status: 400, body: 'bad request target\n', started };
  const where = requestTarget(headers.host, url);
  const match = lookup(where.host, where.path);
  if (match === undefined) {
    return { ok: false, requestId, status: 404, body: `no route for ${describeTarget(where)}\n`, started };
  }
  if (where.host !== '' && where.host !== headers.host) headers.host = where.host; // absolute-form URL
  stripHopByHop(headers, strip);
  applyForwarded(headers, peer);
  return { ok: true, requestId, where, match, started };
}
