// Request admission, shared by the HTTP and WebSocket edges: request id, request-target check, route
// lookup, the route's admission policies (redirect, allow/deny, rate limit, Content-Length limit),
// the service of a weighted split, then the request the backend will see (absolute-form host,
// hop-by-hop stripped, forwarded headers, the route's header edits and path rewrite). Each edge
// answers a refusal in its own way (a ServerResponse, or bytes on a raw socket).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { RouteMatch } from '../types.js';
import type { EdgeContext } from './edge-context.js';
import {
  applyForwarded,
  describeTarget,
  ensureRequestId,
  fromHttp2,
  type RequestTarget,
  requestTarget,
  type StripOptions,
  stripHopByHop,
} from './forwarded.js';
import { proxyablePath } from './outgoing.js';
import { clientAddress } from './policy/client-address.js';
import type { CompiledPolicy, Refusal } from './policy/compile-policy.js';
import { httpsLocation } from './policy/redirect.js';
import { serviceOfBackendId } from './policy/service-split.js';

/** ACME HTTP-01 challenges are answered over plain HTTP: never redirected. */
export const ACME_CHALLENGE = '/.well-known/acme-challenge/';

export interface Admitted {
  readonly ok: true;
  readonly requestId: string;
  readonly where: RequestTarget;
  readonly match: RouteMatch;
  /** The path of the upstream request line (query included), after the route's rewrite. */
  readonly path: string;
  readonly policy: CompiledPolicy | undefined;
  /** The headers for the upstream request: the request's own (HTTP/1), or a copy without pseudo-headers. */
  readonly headers: IncomingHttpHeaders;
  /** The client sent `TE: trailers` (stripped as hop-by-hop): response trailers are forwarded to it. */
  readonly trailers: boolean;
  /** performance.now() when the request reached the edge. */
  readonly started: number;
}

export interface Refused {
  readonly ok: false;
  readonly requestId: string;
  readonly status: number;
  readonly body: string;
  /** '' when no route matched. */
  readonly service: string;
  /** Location or Retry-After, when the status needs one. */
  readonly header: readonly [string, string] | undefined;
  /** The matched route's policy (its response headers apply to our answer too). */
  readonly policy: CompiledPolicy | undefined;
  readonly started: number;
}

function refused(
  requestId: string,
  status: number,
  body: string,
  started: number,
  service = '',
  policy?: CompiledPolicy,
  header?: readonly [string, string],
): Refused {
  return { ok: false, requestId, status, body, service, header, policy, started };
}

function refusal(r: Refusal, requestId: string, service: string, policy: CompiledPolicy, started: number): Refused {
  switch (r.status) {
    case 403:
      return refused(requestId, 403, 'forbidden\n', started, service, policy);
    case 413:
      return refused(requestId, 413, 'request body too large\n', started, service, policy);
    case 429: {
      const after = String(r.retryAfter);
      return refused(requestId, 429, 'too many requests\n', started, service, policy, ['retry-after', after]);
    }
    default:
      return refused(requestId, r.status, `redirecting to ${r.location}\n`, started, service, policy, [
        'location',
        r.location,
      ]);
  }
}

/** The service of a weighted split for this request: the sticky client's, else the next in the cycle. */
function splitMatch(
  ctx: EdgeContext,
  cookie: string | undefined,
  match: RouteMatch,
  policy: CompiledPolicy,
): RouteMatch {
  const split = policy.split!;
  let preferred: string | undefined;
  let unavailable = 0;
  for (const name of split.names) {
    const view = ctx.view(name);
    if (view === undefined || view.backends.length === 0) unavailable |= split.bit(name);
    else if (preferred === undefined && match.rule?.sticky === true) {
      preferred = serviceOfBackendId(ctx.sticky.preferred(cookie, view));
    }
  }
  const service = split.pick(preferred, unavailable);
  return service === match.service ? match : { rule: match.rule, service, view: ctx.view(service) };
}

/**
 * Admits `req` or says why not. On admission the request's headers are rewritten in place for the
 * upstream; a refused request's headers are left as they came (only the request id is added).
 */
export function admit(
  req: IncomingMessage,
  ctx: EdgeContext,
  strip: StripOptions,
  started: number,
): Admitted | Refused {
  const headers = req.httpVersionMajor === 2 ? (fromHttp2(req.headers) as IncomingHttpHeaders) : req.headers;
  const requestId = ensureRequestId(headers);
  const url = req.url ?? '/';
  let path = proxyablePath(url);
  if (path === undefined) return refused(requestId, 400, 'bad request target\n', started);
  const where = requestTarget(headers.host, url);
  let match = ctx.lookup(where.host, where.path);
  if (match === undefined) return refused(requestId, 404, `no route for ${describeTarget(where)}\n`, started);
  const peer = ctx.forwarded(req.socket);
  const policy = ctx.policies.for(match.rule);
  if (policy !== undefined) {
    const client = clientAddress(peer, headers['x-forwarded-for'], ctx.isTrusted);
    const no = policy.admit(client, path, headers['content-length'] as string | undefined);
    if (no !== undefined) return refusal(no, requestId, match.service, policy, started);
    if (policy.httpsRedirect && peer.proto === 'http' && !path.startsWith(ACME_CHALLENGE)) {
      const to = httpsLocation(headers.host ?? where.host, path, ctx.httpsPort());
      const r: Refusal = { status: 308, location: to };
      return refusal(r, requestId, match.service, policy, started);
    }
    if (policy.split !== undefined) match = splitMatch(ctx, headers.cookie, match, policy);
    if (policy.rewritePath !== undefined) path = policy.rewritePath(path);
  }
  if (where.host !== '' && where.host !== headers.host) headers.host = where.host; // absolute-form URL
  const te = headers.te;
  const trailers = te !== undefined && /(?:^|,)\s*trailers\s*(?:[;,]|$)/i.test(String(te));
  stripHopByHop(headers, strip);
  applyForwarded(headers, peer);
  policy?.requestHeaders?.(headers);
  return { ok: true, requestId, where, match, path, policy, headers, trailers, started };
}
