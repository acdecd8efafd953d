// What the upstream request looks like, pure. These reproduce, byte for byte, what http-proxy 1.18.1
// sent (its `setupOutgoing` and `deleteLength` pass) when it was our HTTP engine, so replacing it by
// a bare `http.request` changed no request a backend sees. The equivalence is tested against
// http-proxy's own functions in test/unit/outgoing.test.ts.
import { parse } from 'node:url';
import type { HeaderBag } from './forwarded.js';

/** http-proxy's `common.urlJoin('', p)`: slashes collapsed and `http:/` restored in the path part, query untouched. */
export function joinPath(p: string): string {
  const segs = p.split('?');
  const path = (segs.shift() ?? '').replace(/\/+/g, '/').replace('http:/', 'http://').replace('https:/', 'https://');
  return segs.length === 0 ? path : `${path}?${segs.join('?')}`;
}

/**
 * True when `url.parse` and `joinPath` leave the request target unchanged: origin-form, visible
 * ASCII only, none of the characters url.parse escapes or cuts at (`#`, quotes, braces, `\`, ...),
 * no `//` anywhere (cheaper than finding the query) and no `http:/` (which joinPath rewrites).
 */
export function isPlainPath(url: string): boolean {
  if (url.charCodeAt(0) !== 0x2f /* / */) return false;
  let prev = 0;
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
    switch (c) {
      case 0x22:
      case 0x23:
      case 0x27:
      case 0x3c:
      case 0x3e:
      case 0x5c:
      case 0x5e:
      case 0x60:
      case 0x7b:
      case 0x7c:
      case 0x7d:
        return false; // " # ' < > \ ^ ` { | }
      case 0x2f:
        if (prev === 0x2f || prev === 0x3a /* : */) return false; // `//`, or `http:/` / `https:/`
        break;
      default:
    }
    prev = c;
  }
  return true;
}

/** The path of the upstream request line for a client request target (`req.url`). */
export function upstreamPath(url: string): string {
  if (isPlainPath(url)) return url;
  // The legacy parser on purpose: its escaping and fragment cutting are the behaviour being kept.
  return joinPath(parse(url).path ?? '');
}

/**
 * Whether the request target can be proxied at all: url.parse throws on some absolute-form targets
 * Node's HTTP parser lets through (`GET http://[ HTTP/1.1`), and a throw in a request handler would
 * take the whole process down. Such requests get 400.
 */
export function isProxyableTarget(url: string): boolean {
  return proxyablePath(url) !== undefined;
}

/** `upstreamPath(url)`, or undefined for a target that cannot be proxied (see isProxyableTarget). */
export function proxyablePath(url: string): string | undefined {
  if (isPlainPath(url)) return url;
  try {
    return upstreamPath(url);
  } catch {
    return undefined;
  }
}

/** DELETE and OPTIONS without Content-Length go upstream with `content-length: 0` and no Transfer-Encoding. */
export function applyEmptyBodyLength(method: string | undefined, headers: HeaderBag): void {
  if ((method === 'DELETE' || method === 'OPTIONS') && !headers['content-length']) {
    headers['content-length'] = '0';
    delete headers['transfer-encoding'];
  }
}
