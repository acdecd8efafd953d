// `stripPrefix` / `addPrefix`: the request target the backend sees. Pure; compiled once per route.
import { isUnderPrefix } from '../../../common/route-path.js';

/** Rewrites an origin-form request target (`/path?query`); the query is kept as it is. */
export type PathRewrite = (target: string) => string;

/**
 * `strip` is removed when the target lies under it on a segment boundary, the same rule the route
 * matcher uses (`/api` strips `/api/users` and `/api`, never `/apix`); a prefix ending in `/` keeps
 * that slash (`/api/` turns `/api/x` into `/x`). Then `add` goes in front, with no doubled slash at
 * the join. The result is never empty: `/` at least (`/api?x=1` stripped of `/api` is `/?x=1`).
 * `*` (OPTIONS *) passes untouched. Undefined when the pair changes nothing.
 */
export function compileRewrite(strip: string | undefined, add: string | undefined): PathRewrite | undefined {
  const s = strip === '/' ? undefined : strip;
  const a = add === '/' ? undefined : add;
  if (s === undefined && a === undefined) return undefined;
  // Characters to cut: a trailing slash of the strip prefix stays with the rest of the path.
  const cut = s === undefined ? 0 : s.endsWith('/') ? s.length - 1 : s.length;
  const head = a === undefined ? '' : a.endsWith('/') ? a.slice(0, -1) : a;
  return (target) => {
    if (target === '*') return target;
    const rest = s !== undefined && isUnderPrefix(s, target) ? target.slice(cut) : target;
    // `rest` is '' or starts with '/', '?' or '#': a boundary, so '/' goes between head and a query.
    const first = rest.charCodeAt(0);
    return first === 0x2f /* / */ ? head + rest : `${head}/${rest}`;
  };
}

/** One-shot form of compileRewrite, for tests and tools. */
export function rewritePath(target: string, strip: string | undefined, add: string | undefined): string {
  return compileRewrite(strip, add)?.(target) ?? target;
}
