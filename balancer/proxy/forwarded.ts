// Header rewriting at the proxy edge, pure: hop-by-hop stripping, X-Forwarded-*, request ids and cookie
// reading. Everything works on plain header objects so it is table-tested without sockets.
// The proxy applies these to the incoming request's headers BEFORE handing it to the engine:
// setting headers later (http-proxy's `proxyReq` event) can throw with keep-alive agents (#1478).
import { randomUUID } from 'node:crypto';

/** A mutable header bag: `IncomingMessage.headers` on either side. */
export type HeaderBag = Record<string, string | string[] | number | undefined>;

/** RFC 9110 §7.6.1 hop-by-hop fields plus the de-facto `proxy-connection`. */
export const HOP_BY_HOP: readonly string[] = Object.freeze([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

// A client must not be able to drop framing or routing fields by naming them in Connection
// (the "hop-by-hop abuse" trick: `Connection: close, Content-Length`).
const PROTECTED = new Set(['content-length', 'transfer-encoding', 'host']);
const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);

export interface StripOptions {
  /**
   * `request`: Transfer-Encoding is kept, because the body is streamed and Node frames the
   * outgoing request from it (removing it would send an unframed body). `response`: removed too;
   * Node re-frames what it writes to the client.
   */
  readonly direction: 'request' | 'response';
  /** WebSocket handshake: keep `Upgrade` and send `Connection: upgrade`. */
  readonly upgrade?: boolean;
}

const RESPONSE_DIRECTION: StripOptions = { direction: 'response' };

function listValues(v: string | string[] | number | undefined): string[] {
  if (v === undefined) return [];
  if (typeof v === 'string' && !v.includes(',')) {
    // The common case (`keep-alive`, `close`): one token, no split/map/filter garbage.
    const t = v.trim().toLowerCase();
    return t === '' ? [] : [t];
  }
  const text = Array.isArray(v) ? v.join(',') : String(v);
  return text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}

/** Whether `name` (lower case) is hop-by-hop here; `named` are the Connection header's tokens. */
function isHopByHop(name: string, named: readonly string[] | undefined, opts: StripOptions): boolean {
  if (HOP_BY_HOP_SET.has(name)) {
    if (name === 'transfer-encoding') return opts.direction === 'response';
    return !(name === 'upgrade' && opts.upgrade);
  }
  return named !== undefined && named.includes(name) && !PROTECTED.has(name);
}

/** Removes hop-by-hop headers (and any header named in Connection) in place. */
export function stripHopByHop(headers: HeaderBag, opts: StripOptions): void {
  const named = headers.connection === undefined ? undefined : listValues(headers.connection);
  for (const h of HOP_BY_HOP) {
    if (h === 'transfer-encoding' && opts.direction === 'request') continue;
    if (h === 'upgrade' && opts.upgrade) continue;
    if (headers[h] !== undefined) delete headers[h];
  }
  if (named !== undefined) {
    for (const h of named) {
      if (PROTECTED.has(h) || (h === 'upgrade' && opts.upgrade)) continue;
      delete headers[h];
    }
  }
  if (opts.upgrade) headers.connection = 'upgrade';
}

/** Where response headers go: a `ServerResponse`, or a recorder in tests. */
export interface HeaderSink {
  setHeader(name: string, value: string | string[] | number): unknown;
}

export interface ResponseExtras {
  /** Our Connection value for the client; undefined for HTTP/2, which has no such header. */
  readonly connection: string | undefined;
  readonly requestId: string;
  /** A sticky Set-Cookie to add to the backend's own. */
  readonly setCookie?: string | undefined;
}

/**
 * Sets the backend's response headers on `sink` (the client response) as the client should get them: what
 * `stripHopByHop(response)` leaves, then Connection, X-Request-Id (in place if the backend sent one)
 * and the sticky cookie (appended to the backend's Set-Cookie) — same names, values and order as
 * stripping in place and assigning, but without `delete`, which drops the object into V8's slow
 * dictionary mode (a few µs per response).
 */
export function forwardResponseHeaders(headers: HeaderBag, extras: ResponseExtras, sink: HeaderSink): void {
  const named = headers.connection === undefined ? undefined : listValues(headers.connection);
  const cookie = extras.setCookie;
  let idSent = false;
  let cookieSent = cookie === undefined;
  for (const name of Object.keys(headers)) {
    let value = headers[name];
    if (value === undefined || isHopByHop(name, named, RESPONSE_DIRECTION)) continue;
    if (name === 'x-request-id') {
      value = extras.requestId;
      idSent = true;
    } else if (name === 'set-cookie' && cookie !== undefined) {
      value = Array.isArray(value) ? [...value, cookie] : [String(value), cookie];
      cookieSent = true;
    }
    sink.setHeader(name, value);
  }
  if (extras.connection !== undefined) sink.setHeader('connection', extras.connection);
  if (!idSent) sink.setHeader('x-request-id', extras.requestId);
  if (!cookieSent) sink.setHeader('set-cookie', [cookie as string]);
}

/**
 * An HTTP/2 request's headers as an HTTP/1.1 backend expects them, in a new object (node:http2 reads
 * the request's method and URL from its pseudo-headers, so those stay): `:authority` becomes Host
 * (unless a Host came too), and the pseudo-headers (`:method`, `:path`, `:scheme`, `:authority`) go.
 */
export function fromHttp2(headers: HeaderBag): HeaderBag {
  const out: HeaderBag = {};
  for (const name of Object.keys(headers)) if (name.charCodeAt(0) !== 0x3a /* : */) out[name] = headers[name];
  const authority = headers[':authority'];
  if (out.host === undefined && typeof authority === 'string') out.host = authority;
  return out;
}

/** `::ffff:10.1.2.3` → `10.1.2.3`; what a dual-stack listener reports for IPv4 peers. */
export function normalizePeer(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  if (address.length > 7 && address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  return address;
}

export interface ForwardedContext {
  /** The direct peer's address, normalised. */
  readonly peer: string;
  /** Whether the direct peer is inside `--trusted-proxies`. */
  readonly trusted: boolean;
  /** The scheme the client used to reach us. */
  readonly proto: 'http' | 'https';
}

function single(v: string | string[] | number | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = Array.isArray(v) ? v.join(', ') : String(v);
  return s.trim() === '' ? undefined : s;
}

/**
 * Sets X-Forwarded-For/Proto/Host. From a trusted peer, client-supplied values are kept and XFF is
 * appended to; from anyone else they are replaced by what the connection says, and client-supplied
 * RFC 7239 `Forwarded` and `X-Real-IP` headers are dropped.
 */
export function applyForwarded(headers: HeaderBag, ctx: ForwardedContext): void {
  const xff = ctx.trusted ? single(headers['x-forwarded-for']) : undefined;
  headers['x-forwarded-for'] = xff === undefined ? ctx.peer : `${xff}, ${ctx.peer}`;
  const proto = ctx.trusted ? single(headers['x-forwarded-proto']) : undefined;
  headers['x-forwarded-proto'] = proto ?? ctx.proto;
  const fwdHost = ctx.trusted ? single(headers['x-forwarded-host']) : undefined;
  const host = fwdHost ?? single(headers.host);
  if (host === undefined) delete headers['x-forwarded-host'];
  else headers['x-forwarded-host'] = host;
  if (!ctx.trusted) {
    // Both would otherwise reach the backend unverified: only the connection says who the client is.
    if (headers.forwarded !== undefined) delete headers.forwarded;
    if (headers['x-real-ip'] !== undefined) delete headers['x-real-ip'];
  }
}

const MAX_REQUEST_ID_LENGTH = 200;
// Visible ASCII only: no spaces, controls or non-ASCII, so the id is safe in logs and headers.
const SANE_REQUEST_ID = new RegExp(`^[\\x21-\\x7e]{1,${MAX_REQUEST_ID_LENGTH}}$`);

/** The client's X-Request-Id if sane (1..200 visible ASCII characters), else undefined. */
export function saneRequestId(value: string | string[] | number | undefined): string | undefined {
  return typeof value === 'string' && SANE_REQUEST_ID.test(value) ? value : undefined;
}

/** Keeps a sane client X-Request-Id or replaces it with a fresh one; returns the id in use. */
export function ensureRequestId(headers: HeaderBag, generate: () => string = randomUUID): string {
  const id = saneRequestId(headers['x-request-id']) ?? generate();
  headers['x-request-id'] = id;
  return id;
}

/** The value of cookie `name` in a Cookie header (surrounding quotes removed), or undefined. */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  let from = 0;
  for (let i = 0; i < 256 && from < text.length; i++) {
    const end = text.indexOf(';', from);
    const pair = text.slice(from, end === -1 ? text.length : end);
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) {
      const v = pair.slice(eq + 1).trim();
      return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
    if (end === -1) break;
    from = end + 1;
  }
  return undefined;
}

export interface RequestTarget {
  /** Raw Host header (or the authority of an absolute-form URL); '' if none. */
  readonly host: string;
  /** Path without query string; `*` for `OPTIONS *`. */
  readonly path: string;
}

/** Host and path to route on. Accepts origin-form (`/a?b`), absolute-form (`http://h/a`) and `*`. */
export function requestTarget(hostHeader: string | undefined, url: string | undefined): RequestTarget {
  const raw = url ?? '/';
  if (raw.charCodeAt(0) !== 0x2f /* / */ && raw !== '*') {
    try {
      const u = new URL(raw);
      return { host: u.host, path: u.pathname };
    } catch {
      // Not a URL: route the raw text as a path; it will most likely 404.
    }
  }
  const q = raw.indexOf('?');
  return { host: hostHeader ?? '', path: q === -1 ? raw : raw.slice(0, q) };
}

/** Host and path for the 404 body: printable, bounded, no query string. */
export function describeTarget(t: RequestTarget): string {
  return `${t.host}${t.path}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}
