// The lookup side of the route table: a per-table index that answers "which rule serves this
// host and path" without scanning every rule, and `matchRoute` on top of it. Answers are prebuilt
// RouteMatches (rule + the service's current view), so a request allocates nothing; the price is
// that a new view must reach the answers of its rules. When only views changed (the common case:
// an entry came or went), `indexTable` patches the previous index for just the services that
// changed instead of rebuilding all of it.
import type { RouteMatch, RouteRule, RouteTable, ServiceView } from '../types.js';

interface Candidate {
  readonly prefix: string;
  /** The prefix ends inside a segment, so the path must continue with `/`, `?` or `#`, or end. */
  readonly bounded: boolean;
  /** The rule's position in `routes`: where its prebuilt RouteMatch sits in the index's `matches`. */
  readonly slot: number;
}

interface WildcardCandidate extends Candidate {
  /** `.example.com` for `*.example.com`. */
  readonly suffix: string;
}

/**
 * Candidates depend only on `routes` and are shared by every index built for the same array; the
 * views live in `matches`, so a new view replaces only its rules' slots. `matches` is cut into
 * chunks of CHUNK so that a patch copies one short top array and the touched chunks, never all of it.
 */
interface RouteIndex {
  readonly exact: ReadonlyMap<string, readonly Candidate[]>;
  readonly wildcard: readonly WildcardCandidate[];
  readonly anyHost: readonly Candidate[];
  /**
   * Prebuilt answers, slot → RouteMatch (rule + the service's view): a lookup allocates nothing beyond
   * host normalisation.
   */
  readonly matches: readonly (readonly RouteMatch[])[];
  readonly fallback: RouteMatch | undefined;
  /** Service → the slots of its rules. */
  readonly byService: ReadonlyMap<string, readonly number[]>;
}

const CHUNK_BITS = 5;
const CHUNK = 1 << CHUNK_BITS;

// The index is derived data, kept beside the table rather than in it so that RouteTable stays a
// plain value (printable for /api/table, constructible in tests). Weak keys: it dies with the table.
const indexes = new WeakMap<RouteTable, RouteIndex>();

/**
 * Indexes a freshly built `table`. With `from` (the table it was derived from, with the same
 * `routes` array and default service) and the services whose view changed, the previous index is
 * patched (O(rules of those services)) instead of rebuilt (O(all rules)).
 */
export function indexTable(
  table: RouteTable,
  from?: { readonly table: RouteTable; readonly changed: Iterable<string> },
): void {
  const prior =
    from !== undefined && from.table.routes === table.routes && from.table.defaultService === table.defaultService
      ? indexes.get(from.table)
      : undefined;
  indexes.set(table, prior === undefined ? buildIndex(table) : patchIndex(prior, table, from!.changed));
}

function indexFor(table: RouteTable): RouteIndex {
  let index = indexes.get(table);
  if (index === undefined) {
    index = buildIndex(table); // a table not built here (tests, tools): index it on first use
    indexes.set(table, index);
  }
  return index;
}

function matchFor(rule: RouteRule, view: ServiceView | undefined): RouteMatch {
  return Object.freeze({ rule, service: rule.service, view });
}

function fallbackFor(table: RouteTable): RouteMatch | undefined {
  const d = table.defaultService;
  return d === undefined ? undefined : Object.freeze({ rule: undefined, service: d, view: table.services.get(d) });
}

function buildIndex(table: RouteTable): RouteIndex {
  const exact = new Map<string, Candidate[]>();
  const wildcard: WildcardCandidate[] = [];
  const anyHost: Candidate[] = [];
  const matches: RouteMatch[][] = [];
  const byService = new Map<string, number[]>();
  // `routes` is sorted, so each list below inherits the precedence order.
  table.routes.forEach((rule, slot) => {
    const p = rule.pathPrefix;
    const c: Candidate = { prefix: p, bounded: p !== '/' && !p.endsWith('/'), slot };
    if (rule.host === undefined) anyHost.push(c);
    else if (rule.host.startsWith('*.')) wildcard.push({ ...c, suffix: rule.host.slice(1) });
    else {
      const list = exact.get(rule.host);
      if (list === undefined) exact.set(rule.host, [c]);
      else list.push(c);
    }
    (matches[slot >>> CHUNK_BITS] ??= []).push(matchFor(rule, table.services.get(rule.service)));
    const slots = byService.get(rule.service);
    if (slots === undefined) byService.set(rule.service, [slot]);
    else slots.push(slot);
  });
  return { exact, wildcard, anyHost, matches, fallback: fallbackFor(table), byService };
}

/** `prior` with new RouteMatches for the rules of `changed` services: O(their rules + routes / CHUNK). */
function patchIndex(prior: RouteIndex, table: RouteTable, changed: Iterable<string>): RouteIndex {
  let matches: RouteMatch[][] | undefined;
  const copied = new Set<number>();
  let fallback = prior.fallback;
  for (const name of changed) {
    const view = table.services.get(name);
    for (const slot of prior.byService.get(name) ?? []) {
      matches ??= prior.matches.slice() as RouteMatch[][];
      const chunk = slot >>> CHUNK_BITS;
      if (!copied.has(chunk)) {
        matches[chunk] = matches[chunk]!.slice();
        copied.add(chunk);
      }
      matches[chunk]![slot & (CHUNK - 1)] = matchFor(table.routes[slot]!, view);
    }
    if (name === table.defaultService) fallback = fallbackFor(table);
  }
  if (matches === undefined && fallback === prior.fallback) return prior;
  return { ...prior, matches: matches ?? prior.matches, fallback };
}

/**
 * The Host header without port, brackets or trailing dot, lowercased: `API.Example.com.:8080` →
 * `api.example.com`, `[::1]:8080` → `::1`. A bare IPv6 address (several colons, no brackets) is kept whole.
 */
export function normalizeRequestHost(raw: string): string {
  let host = raw;
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const end = host.indexOf(']');
    if (end !== -1) host = host.slice(1, end);
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1 && colon === host.lastIndexOf(':')) host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.toLowerCase();
}

/**
 * Prefixes match on segment boundaries: `/api` matches `/api`, `/api/x`, `/api?q` and `/api#f` but
 * not `/apix`; a prefix ending in `/` (`/api/`) matches anything under it but not `/api` itself;
 * `/` matches every path, including `*` (OPTIONS *) and the empty path. Comparison is on the raw
 * path, case-sensitive, without percent-decoding.
 */
function pathMatches(c: Candidate, path: string): boolean {
  if (!path.startsWith(c.prefix)) return c.prefix === '/';
  if (!c.bounded || path.length === c.prefix.length) return true;
  const next = path.charCodeAt(c.prefix.length);
  return next === 0x2f /* / */ || next === 0x3f /* ? */ || next === 0x23; /* # */
}

function matchAt(index: RouteIndex, slot: number): RouteMatch {
  return index.matches[slot >>> CHUNK_BITS]![slot & (CHUNK - 1)]!;
}

function firstPathMatch(index: RouteIndex, candidates: readonly Candidate[], path: string): RouteMatch | undefined {
  for (const c of candidates) if (pathMatches(c, path)) return matchAt(index, c.slot);
  return undefined;
}

/**
 * The first rule in precedence order whose host and path match, else the default service, else
 * undefined. `*.example.com` matches `a.example.com` and `a.b.example.com`, never `example.com`.
 * Equivalent to a linear scan of `table.routes`; exact hosts go through a Map.
 */
export function matchRoute(table: RouteTable, host: string, path: string): RouteMatch | undefined {
  const index = indexFor(table);
  const h = normalizeRequestHost(host);
  const exact = index.exact.get(h);
  if (exact !== undefined) {
    const m = firstPathMatch(index, exact, path);
    if (m !== undefined) return m;
  }
  for (const c of index.wildcard) {
    if (h.length > c.suffix.length && h.endsWith(c.suffix) && pathMatches(c, path)) return matchAt(index, c.slot);
  }
  return firstPathMatch(index, index.anyHost, path) ?? index.fallback;
}
