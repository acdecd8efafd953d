// Path prefixes of the route contract: what a valid prefix looks like, and what "a path is under a
// prefix" means. Shared by the route validator (pathPrefix, stripPrefix, addPrefix) and the path
// rewrite; balancer/table/route-index.ts implements the same boundary rule on its hot path.
import type { Decoded } from './registry-basics.js';

export const MAX_PATH_PREFIX_LENGTH = 1024;

// Whitespace (including Unicode spaces) and C0/C1 control characters (\p{Cc}: U+0000-U+001F,
// U+007F-U+009F): invisible in logs and ambiguous on the wire, so neither key names nor path
// prefixes may contain them.
export const INVISIBLE = /[\s\p{Cc}]/u;

/**
 * A prefix is compared with the raw request path, byte for byte and case-sensitively (no decoding,
 * no dot-segment removal). `?` and `#` are refused: they start the query or fragment, so a prefix
 * containing them could never line up with a path segment.
 */
export function validatePathPrefix(raw: unknown, field = 'pathPrefix'): Decoded<string> {
  if (typeof raw !== 'string' || !raw.startsWith('/'))
    return { ok: false, error: `${field} must be a string starting with /` };
  if (raw.length > MAX_PATH_PREFIX_LENGTH)
    return { ok: false, error: `${field} longer than ${MAX_PATH_PREFIX_LENGTH} characters` };
  if (INVISIBLE.test(raw)) return { ok: false, error: `${field} must not contain whitespace or control characters` };
  if (raw.includes('?') || raw.includes('#')) return { ok: false, error: `${field} must not contain ? or #` };
  return { ok: true, value: raw };
}

/**
 * Whether `path` (a request target, possibly with `?query`) lies under `prefix` on a segment
 * boundary: `/api` covers `/api`, `/api/x`, `/api?q`, not `/apix`; `/api/` covers `/api/x`, not
 * `/api`; `/` covers everything.
 */
export function isUnderPrefix(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return prefix === '/';
  if (prefix.endsWith('/') || path.length === prefix.length) return true;
  const next = path.charCodeAt(prefix.length);
  return next === 0x2f /* / */ || next === 0x3f /* ? */ || next === 0x23; /* # */
}
