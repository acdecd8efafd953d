// Sticky sessions with an opaque, signed cookie. The value is a truncated HMAC-SHA256 of the backend
// id under a key the client never sees (`--sticky-secret`, else one random key per balancer shared by
// its workers), so the cookie names no node, container or port, and a client cannot aim itself at a
// backend it was never given: it can only present a token the balancer issued. A token maps back to
// a backend by computing the tokens of the candidate service's backends (cached), never by decoding.
import { createHmac, randomBytes } from 'node:crypto';
import type { ServiceView } from '../types.js';
import { readCookie } from './forwarded.js';

/** Name of the sticky-session cookie. */
export const STICKY_COOKIE = 'lb_sticky';
/** 16 bytes of MAC, base64url: 22 characters. */
const TOKEN_LENGTH = 22;
/** Cache bound: tokens of this many backends; cleared whole when exceeded (it refills from views). */
const MAX_CACHED = 65_536;

export class StickyCookies {
  private readonly key: Buffer;
  private readonly tokenOf = new Map<string, string>();
  private readonly idOf = new Map<string, string>();

  /** `secret` as given by the operator, or undefined for a fresh random key. */
  constructor(secret?: string | Buffer) {
    this.key = secret === undefined ? randomBytes(32) : Buffer.from(secret);
  }

  /** The opaque token for `backendId` (cached). */
  token(backendId: string): string {
    let t = this.tokenOf.get(backendId);
    if (t === undefined) {
      t = createHmac('sha256', this.key).update(backendId).digest('base64url').slice(0, TOKEN_LENGTH);
      if (this.tokenOf.size >= MAX_CACHED) {
        this.tokenOf.clear();
        this.idOf.clear();
      }
      this.tokenOf.set(backendId, t);
      this.idOf.set(t, backendId);
    }
    return t;
  }

  /** The backend of `view` that the request's sticky cookie names, or undefined (absent, forged, gone). */
  preferred(cookieHeader: string | string[] | undefined, view: ServiceView | undefined): string | undefined {
    const raw = readCookie(cookieHeader, STICKY_COOKIE);
    if (raw === undefined || raw.length !== TOKEN_LENGTH || view === undefined) return undefined;
    const known = this.idOf.get(raw);
    if (known !== undefined) return known;
    // Issued by another process of this balancer, or before a cache reset: compute the view's tokens.
    for (const b of view.backends) if (this.token(b.id) === raw) return b.id;
    return undefined;
  }

  /** The Set-Cookie value that pins a client to `backendId`. */
  setCookie(backendId: string): string {
    return `${STICKY_COOKIE}=${this.token(backendId)}; Path=/; HttpOnly; SameSite=Lax`;
  }
}
