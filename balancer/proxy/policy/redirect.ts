// `redirect` (answered without a backend) and the Location of `httpsRedirect`. Pure.
import type { RedirectRule } from '../../../common/route-policy.js';
import type { PathRewrite } from './path-rewrite.js';

/** Location for a request target (origin-form `/path?query`, or `*`). */
export type LocationFor = (target: string) => string;

// Anything but visible ASCII is percent-encoded, so the Location is a valid header value and an
// unambiguous URL. The request line reaches us as latin1 text: one character per byte.
const NOT_VISIBLE = /[^\x21-\x7e]/u;
const NOT_VISIBLE_ALL = /[^\x21-\x7e]/gu;

function encodeByte(c: string): string {
  const code = c.charCodeAt(0);
  if (code <= 0xff) return `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
  return c.length === 2 || code < 0xd800 || code > 0xdfff ? encodeURIComponent(c) : '%EF%BF%BD'; // lone surrogate
}

/** The request target as it may appear in a Location: `/` for `*` or nothing, odd bytes escaped. */
export function locationPath(target: string): string {
  if (target === '' || target === '*') return '/';
  return NOT_VISIBLE.test(target) ? target.replace(NOT_VISIBLE_ALL, encodeByte) : target;
}

/**
 * `to` + the request's path and query (after the route's path rewrite, if any), joined with one
 * slash: `https://new.example` + `/a?b` → `https://new.example/a?b`, `https://x/base/` + `/a` →
 * `https://x/base/a`. With `keepPath: false` the Location is `to` itself.
 */
export function compileRedirect(rule: RedirectRule, rewrite: PathRewrite | undefined): LocationFor {
  const to = rule.to;
  if (!rule.keepPath) return () => to;
  const base = to.endsWith('/') ? to.slice(0, -1) : to;
  return rewrite === undefined
    ? (target) => base + locationPath(target)
    : (target) => base + locationPath(target === '*' ? target : rewrite(target));
}

/** The Host header without its port; IPv6 keeps its brackets. */
function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 || colon !== host.lastIndexOf(':') ? host : host.slice(0, colon);
}

/**
 * Location for `httpsRedirect`: the same host (its plain-HTTP port dropped) on `httpsPort`, same
 * path and query. Wired by the edge work once the balancer terminates TLS.
 */
export function httpsLocation(host: string, target: string, httpsPort = 443): string {
  const name = hostWithoutPort(host).replace(NOT_VISIBLE_ALL, encodeByte);
  return `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}${locationPath(target)}`;
}
