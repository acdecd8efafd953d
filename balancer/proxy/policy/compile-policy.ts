// A route's policies compiled once into the functions the proxy calls per request, and the per-proxy
// cache that keeps them for each rule's life.
import type { RedirectCode } from '../../../common/route-policy.js';
import type { RouteRule } from '../../types.js';
import { compileAddressFilter, type AddressFilter } from './address-filter.js';
import {
  compileRequestHeaders,
  compileResponseHeaders,
  type RequestHeaderEdit,
  type ResponseHeaderEdit,
} from './header-rules.js';
import { compileRewrite, type PathRewrite } from './path-rewrite.js';
import { compileRedirect, type LocationFor } from './redirect.js';
import { clientKey, RateLimiter, type RateLimiterOptions } from './rate-limiter.js';
import { ServiceSplit } from './service-split.js';

/** Why a request is answered by the proxy itself, before any backend is chosen. */
export type Refusal =
  | { readonly status: RedirectCode; readonly location: string }
  | { readonly status: 403 }
  | { readonly status: 413 }
  | { readonly status: 429; readonly retryAfter: number };

/** Every key present (undefined = nothing to do), so the proxy's calls stay monomorphic. */
export interface CompiledPolicy {
  /**
   * Admission, in order: redirect → allow/deny (403) → rate limit (429) → Content-Length above
   * maxBodyBytes (413). Undefined means go on. `client` is the address after --trusted-proxies,
   * `target` the origin-form request target, `contentLength` the request's header as received.
   */
  admit(client: string, target: string, contentLength: string | undefined): Refusal | undefined;
  readonly redirect: { readonly code: RedirectCode; readonly location: LocationFor } | undefined;
  readonly admits: AddressFilter | undefined;
  readonly limiter: RateLimiter | undefined;
  /** For bodies without Content-Length (chunked): the proxy counts while streaming, 413 + abort above it. */
  readonly maxBodyBytes: number | undefined;
  /** Accepted; honoured once TLS exists (redirect.ts httpsLocation builds the Location). */
  readonly httpsRedirect: boolean;
  readonly split: ServiceSplit | undefined;
  readonly rewritePath: PathRewrite | undefined;
  readonly requestHeaders: RequestHeaderEdit | undefined;
  /** Applied to every response of the route, the proxy's own answers (403, 429, 502, …) included. */
  readonly responseHeaders: ResponseHeaderEdit | undefined;
  /** Overrides --upstream-timeout (time to response headers). */
  readonly timeoutMs: number | undefined;
  /** Overrides --retries. */
  readonly retries: number | undefined;
}

const FORBIDDEN: Refusal = Object.freeze({ status: 403 });
const TOO_LARGE: Refusal = Object.freeze({ status: 413 });

/** Content-Length above `max`? Only digits count: the parser already refused anything else. */
function exceeds(contentLength: string | undefined, max: number): boolean {
  if (contentLength === undefined) return false;
  const n = Number(contentLength);
  return Number.isFinite(n) ? n > max : contentLength.length > 16;
}

/** Undefined for a rule without policies: the proxy's whole cost for a plain route is that check. */
export function compilePolicy(rule: RouteRule, opts: RateLimiterOptions = {}): CompiledPolicy | undefined {
  const p = rule.policy;
  if (p === undefined) return undefined;
  const rewritePath = compileRewrite(p.stripPrefix, p.addPrefix);
  const redirect =
    p.redirect === undefined
      ? undefined
      : Object.freeze({ code: p.redirect.code, location: compileRedirect(p.redirect, rewritePath) });
  const admits = compileAddressFilter(p.allow, p.deny);
  const limiter = p.rateLimit === undefined ? undefined : new RateLimiter(p.rateLimit, opts);
  const max = p.maxBodyBytes;
  const gated = redirect !== undefined || admits !== undefined || limiter !== undefined || max !== undefined;
  const admit = !gated
    ? (): undefined => undefined
    : (client: string, target: string, contentLength: string | undefined): Refusal | undefined => {
        if (redirect !== undefined) return { status: redirect.code, location: redirect.location(target) };
        if (admits !== undefined && !admits(client)) return FORBIDDEN;
        if (limiter !== undefined) {
          const wait = limiter.take(clientKey(client));
          if (wait > 0) return { status: 429, retryAfter: wait };
        }
        if (max !== undefined && exceeds(contentLength, max)) return TOO_LARGE;
        return undefined;
      };
  return Object.freeze({
    admit,
    redirect,
    admits,
    limiter,
    maxBodyBytes: max,
    httpsRedirect: p.httpsRedirect,
    split: p.services === undefined ? undefined : new ServiceSplit(p.services),
    rewritePath,
    requestHeaders: compileRequestHeaders(p.requestHeaders),
    responseHeaders: compileResponseHeaders(p.responseHeaders),
    timeoutMs: p.timeoutMs,
    retries: p.retries,
  });
}

/**
 * The compiled policies of the rules a proxy serves, built on first use and kept for each rule's
 * life (a WeakMap keyed by the rule object): a rule lives on across table rebuilds while its etcd key
 * is unchanged, so rate-limit buckets and split cycles survive entry churn, and go with the rule.
 * One cache per proxy: its state belongs to that proxy, never to the module.
 */
export class PolicyCache {
  private readonly compiled = new WeakMap<RouteRule, CompiledPolicy>();

  constructor(private readonly opts: RateLimiterOptions = {}) {}

  for(rule: RouteRule | undefined): CompiledPolicy | undefined {
    if (rule?.policy === undefined) return undefined;
    let c = this.compiled.get(rule);
    if (c === undefined) {
      c = compilePolicy(rule, this.opts)!;
      this.compiled.set(rule, c);
    }
    return c;
  }

  /** Compiles a published table's rules ahead of traffic; rules already compiled are kept. */
  warm(routes: readonly RouteRule[]): void {
    for (const rule of routes) this.for(rule);
  }
}
