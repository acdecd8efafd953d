// The route table as a value: registry events go in, a new frozen RouteTable comes out, and
// `matchRoute` answers "which service serves this request" from it. No I/O here; the etcd edge
// decodes keys into RegistryEvents and a store swaps the returned table in one assignment.
import { type Entry, hostPort } from '../common/registry.js';
import type { Backend, RegistryEvent, RouteMatch, RouteRule, RouteTable, ServiceView } from './types.js';

export function backendFromEntry(service: string, instance: string, entry: Entry): Backend {
  return Object.freeze({ id: `${service}/${instance}`, service, instance, entry, target: `http://${hostPort(entry)}` });
}

export function emptyTable(defaultService?: string): RouteTable {
  return publish({
    revision: 0,
    services: new Map(),
    routes: Object.freeze([]),
    defaultService,
    entries: new Map(),
    routeKeys: new Map(),
  });
}

/** A full snapshot: the same code path as a watch batch, applied to an empty table. */
export function buildTable(events: readonly RegistryEvent[], revision: number, flagRoutes: readonly RouteRule[], defaultService?: string): RouteTable {
  return applyEvents(emptyTable(defaultService), events, revision, flagRoutes);
}

/**
 * Returns a new table; `table` is left untouched. Only services named by the events get a new
 * ServiceView, so consumers that key state by view identity (agents, metrics) see no churn elsewhere.
 */
export function applyEvents(table: RouteTable, events: readonly RegistryEvent[], revision: number, flagRoutes: readonly RouteRule[]): RouteTable {
  // Copied on first write; until then the previous table's maps are shared (never mutated after publication).
  let entries: Map<string, Backend> | undefined;
  let routeKeys: Map<string, RouteRule> | undefined;
  const ownEntries = (): Map<string, Backend> => (entries ??= new Map(table.entries));
  const ownRouteKeys = (): Map<string, RouteRule> => (routeKeys ??= new Map(table.routeKeys));
  const touched = new Set<string>();
  for (const event of events) {
    switch (event.kind) {
      case 'entry-put': {
        const previous = (entries ?? table.entries).get(event.key);
        if (previous !== undefined) touched.add(previous.service);
        ownEntries().set(event.key, event.backend);
        touched.add(event.backend.service);
        break;
      }
      case 'entry-delete': {
        const previous = (entries ?? table.entries).get(event.key);
        if (previous === undefined) break; // a delete of a key we never accepted (e.g. an invalid value)
        ownEntries().delete(event.key);
        touched.add(previous.service);
        break;
      }
      case 'route-put':
        ownRouteKeys().set(event.key, event.rule);
        break;
      case 'route-delete':
        if ((routeKeys ?? table.routeKeys).has(event.key)) ownRouteKeys().delete(event.key);
        break;
    }
  }
  const finalEntries = entries ?? table.entries;
  const finalRouteKeys = routeKeys ?? table.routeKeys;
  return publish({
    revision,
    services: touched.size === 0 ? table.services : rebuildServices(table.services, finalEntries, touched),
    routes: sortRoutes([...flagRoutes, ...finalRouteKeys.values()]),
    defaultService: table.defaultService,
    entries: finalEntries,
    routeKeys: finalRouteKeys,
  });
}

function rebuildServices(previous: ReadonlyMap<string, ServiceView>, entries: ReadonlyMap<string, Backend>, touched: ReadonlySet<string>): ReadonlyMap<string, ServiceView> {
  const buckets = new Map<string, Backend[]>();
  for (const name of touched) buckets.set(name, []);
  // One pass over all entries rather than per-service bookkeeping: correct by construction, and
  // cheap next to the copy of `entries` the batch already made.
  for (const backend of entries.values()) buckets.get(backend.service)?.push(backend);
  const services = new Map(previous);
  for (const [name, backends] of buckets) {
    if (backends.length === 0) {
      services.delete(name);
      continue;
    }
    backends.sort(byId);
    const old = previous.get(name);
    if (old !== undefined && sameBackends(old.backends, backends)) continue;
    services.set(name, Object.freeze({ name, backends: Object.freeze(backends) }));
  }
  return services;
}

function byId(a: Backend, b: Backend): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function sameBackends(a: readonly Backend[], b: readonly Backend[]): boolean {
  return a.length === b.length && a.every((backend, i) => backend === b[i]);
}

function hostRank(host: string | undefined): number {
  return host === undefined ? 2 : host.startsWith('*.') ? 1 : 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Most specific first: exact host, then wildcard (longer suffix first), then any host; within each,
 * longer pathPrefix first. Ties: flags before etcd keys, then by source, host and path. Flags that
 * tie completely keep their command-line order (Array#sort is stable), so the first one wins.
 */
export function compareRoutes(a: RouteRule, b: RouteRule): number {
  return (
    hostRank(a.host) - hostRank(b.host) ||
    (b.host?.length ?? 0) - (a.host?.length ?? 0) ||
    b.pathPrefix.length - a.pathPrefix.length ||
    Number(a.source !== 'flag') - Number(b.source !== 'flag') ||
    compareText(a.source, b.source) ||
    compareText(a.host ?? '', b.host ?? '') ||
    compareText(a.pathPrefix, b.pathPrefix)
  );
}

function sortRoutes(rules: RouteRule[]): readonly RouteRule[] {
  return Object.freeze(rules.sort(compareRoutes));
}

// ---- lookup -------------------------------------------------------------------------------------

interface Candidate {
  readonly prefix: string;
  /** The prefix ends inside a segment, so the path must continue with `/`, `?` or `#`, or end. */
  readonly bounded: boolean;
  /** Prebuilt answer: a lookup allocates nothing beyond host normalisation. */
  readonly match: RouteMatch;
}

interface WildcardCandidate extends Candidate {
  /** `.example.com` for `*.example.com`. */
  readonly suffix: string;
}

interface RouteIndex {
  readonly exact: ReadonlyMap<string, readonly Candidate[]>;
  readonly wildcard: readonly WildcardCandidate[];
  readonly anyHost: readonly Candidate[];
  readonly fallback: RouteMatch | undefined;
}

// The index is derived data, kept beside the table rather than in it so that RouteTable stays a
// plain value (printable for /api/table, constructible in tests). Weak keys: it dies with the table.
const indexes = new WeakMap<RouteTable, RouteIndex>();

function publish(table: RouteTable): RouteTable {
  const frozen = Object.freeze(table);
  indexes.set(frozen, buildIndex(frozen));
  return frozen;
}

function indexFor(table: RouteTable): RouteIndex {
  let index = indexes.get(table);
  if (index === undefined) {
    index = buildIndex(table); // a table not built here (tests, tools): index it on first use
    indexes.set(table, index);
  }
  return index;
}

function buildIndex(table: RouteTable): RouteIndex {
  const exact = new Map<string, Candidate[]>();
  const wildcard: WildcardCandidate[] = [];
  const anyHost: Candidate[] = [];
  // `routes` is sorted, so each list below inherits the precedence order.
  for (const rule of table.routes) {
    const p = rule.pathPrefix;
    const candidate: Candidate = {
      prefix: p,
      bounded: p !== '/' && !p.endsWith('/'),
      match: Object.freeze({ rule, service: rule.service, view: table.services.get(rule.service) }),
    };
    if (rule.host === undefined) anyHost.push(candidate);
    else if (rule.host.startsWith('*.')) wildcard.push({ ...candidate, suffix: rule.host.slice(1) });
    else {
      const list = exact.get(rule.host);
      if (list === undefined) exact.set(rule.host, [candidate]);
      else list.push(candidate);
    }
  }
  const d = table.defaultService;
  const fallback = d === undefined ? undefined : Object.freeze({ rule: undefined, service: d, view: table.services.get(d) });
  return { exact, wildcard, anyHost, fallback };
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
  return next === 0x2f /* / */ || next === 0x3f /* ? */ || next === 0x23 /* # */;
}

function firstPathMatch(candidates: readonly Candidate[], path: string): RouteMatch | undefined {
  for (const c of candidates) if (pathMatches(c, path)) return c.match;
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
    const m = firstPathMatch(exact, path);
    if (m !== undefined) return m;
  }
  for (const c of index.wildcard) {
    if (h.length > c.suffix.length && h.endsWith(c.suffix) && pathMatches(c, path)) return c.match;
  }
  return firstPathMatch(index.anyHost, path) ?? index.fallback;
}
