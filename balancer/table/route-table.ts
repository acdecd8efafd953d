// The route table as a value: registry events go in, a new frozen RouteTable comes out, and
// `matchRoute` (route-index.ts) answers "which service serves this request" from it. No I/O here;
// the etcd edge decodes keys into RegistryEvents and a store swaps the returned table in one assignment.
import { type Entry, hostPort } from '../../common/registry.js';
import { applyDeclarations, EMPTY_DECLARED, reservedIds } from './declared-routes.js';
import { type MapEditor, PersistentMap, persistent } from './persistent-map.js';
import { indexTable } from './route-index.js';
import type { Backend, RegistryEvent, RouteRule, RouteTable, ServiceView } from '../types.js';

/**
 * Whether the (HTTP) proxy may send requests to this backend. A `"protocol": "udp"` entry names a UDP
 * port: it stays in `entries` (the registry mirror the consistency check diffs against) and is counted
 * in `udpEntries`, but never enters a service view, so no picker can choose it.
 */
export function isProxied(backend: Backend): boolean {
  return backend.entry.protocol !== 'udp';
}

export function backendFromEntry(service: string, instance: string, entry: Entry): Backend {
  const target = `http://${hostPort(entry)}`;
  // A fresh health flag: the health state sets it from its verdicts when the table goes live.
  return Object.freeze({
    id: `${service}/${instance}`,
    service,
    instance,
    entry,
    target,
    health: { unhealthy: false },
  });
}

export function emptyTable(defaultService?: string): RouteTable {
  return publish({
    revision: 0,
    services: PersistentMap.empty(),
    routes: EMPTY_ROUTES,
    defaultService,
    entries: PersistentMap.empty(),
    routeKeys: PersistentMap.empty(),
    udpEntries: 0,
    declared: EMPTY_DECLARED,
  });
}

const EMPTY_ROUTES: readonly RouteRule[] = Object.freeze([]);

/** A full snapshot: the same code path as a watch batch, applied to an empty table. */
export function buildTable(
  events: readonly RegistryEvent[],
  revision: number,
  flagRoutes: readonly RouteRule[],
  defaultService?: string,
): RouteTable {
  return applyEvents(emptyTable(defaultService), events, revision, flagRoutes);
}

/**
 * Returns a new table; `table` is left untouched. Cost is O(change), not O(table): `entries`,
 * `services` and `routeKeys` are PersistentMaps sharing every unchanged part with `table`; only
 * services whose entries changed get a new ServiceView (so consumers keyed by view identity see no
 * churn elsewhere), and the route index is patched for those services alone. A batch that changes
 * a route key re-sorts `routes` and re-indexes (O(routes)): precedence is a global order, and route
 * changes are rare next to entry changes.
 */
export function applyEvents(
  table: RouteTable,
  events: readonly RegistryEvent[],
  revision: number,
  flagRoutes: readonly RouteRule[],
): RouteTable {
  const entries = persistent(table.entries).edit();
  const routeKeys = persistent(table.routeKeys).edit();
  // Each touched entry key's value before the batch: a key put and deleted in one batch nets out.
  const before = new Map<string, Backend | undefined>();
  for (const event of events) {
    switch (event.kind) {
      case 'entry-put':
      case 'entry-delete':
        if (!before.has(event.key)) before.set(event.key, entries.get(event.key));
        if (event.kind === 'entry-put') entries.set(event.key, event.backend);
        else entries.delete(event.key); // a delete of a key we never accepted (e.g. an invalid value) changes nothing
        break;
      case 'route-put':
        routeKeys.set(event.key, event.rule);
        break;
      case 'route-delete':
        routeKeys.delete(event.key);
        break;
    }
  }
  const services = rebuildServices(persistent(table.services), entries, before);
  const finalRouteKeys = routeKeys.done();
  const sameRules = finalRouteKeys === table.routeKeys && sameFlags(flagsOf.get(table.routes), flagRoutes);
  const declared = applyDeclarations(
    table.declared,
    [...before].map(([key, old]) => [old, entries.get(key)] as const),
    () => reservedIds(flagRoutes, finalRouteKeys),
    !sameRules,
  );
  const sameRoutes = sameRules && declared.rules === table.declared.rules;
  const next: RouteTable = {
    revision,
    services: services.map,
    routes: sameRoutes ? table.routes : sortRoutes(flagRoutes, finalRouteKeys, declared.rules),
    defaultService: table.defaultService,
    entries: entries.done(),
    routeKeys: finalRouteKeys,
    udpEntries: table.udpEntries + services.udpDelta,
    declared,
  };
  return publish(next, { table, changed: services.changed });
}

/** The same table at another revision: what the watch publishes when it learns of progress but no change. */
export function withRevision(table: RouteTable, revision: number): RouteTable {
  return revision === table.revision ? table : publish({ ...table, revision }, { table, changed: [] });
}

/**
 * Per service, the backends a batch removed and added (by identity), then one new view per such
 * service; udp backends count towards `udpDelta` and never towards a view.
 */
function rebuildServices(
  previous: PersistentMap<ServiceView>,
  entries: MapEditor<Backend>,
  before: ReadonlyMap<string, Backend | undefined>,
): { map: PersistentMap<ServiceView>; changed: string[]; udpDelta: number } {
  const deltas = new Map<string, { removed: Set<Backend>; added: Backend[] }>();
  const delta = (name: string): { removed: Set<Backend>; added: Backend[] } => {
    let d = deltas.get(name);
    if (d === undefined) deltas.set(name, (d = { removed: new Set(), added: [] }));
    return d;
  };
  let udpDelta = 0;
  for (const [key, old] of before) {
    const now = entries.get(key);
    if (now === old) continue;
    if (old !== undefined) {
      if (isProxied(old)) delta(old.service).removed.add(old);
      else udpDelta--;
    }
    if (now !== undefined) {
      if (isProxied(now)) delta(now.service).added.push(now);
      else udpDelta++;
    }
  }
  if (deltas.size === 0) return { map: previous, changed: [], udpDelta };
  const services = previous.edit();
  const changed: string[] = [];
  for (const [name, { removed, added }] of deltas) {
    const old = previous.get(name);
    const kept =
      old === undefined ? [] : removed.size === 0 ? old.backends : old.backends.filter((b) => !removed.has(b));
    const backends = mergeById(kept, added.sort(byId));
    if (old !== undefined && sameBackends(old.backends, backends)) continue;
    changed.push(name);
    if (backends.length === 0) services.delete(name);
    else services.set(name, Object.freeze({ name, backends: Object.freeze(backends) }));
  }
  return { map: services.done(), changed, udpDelta };
}

/** Merges two id-sorted lists: O(service size) for the one service, never a scan of the registry. */
function mergeById(a: readonly Backend[], b: readonly Backend[]): Backend[] {
  if (b.length === 0) return a.slice();
  const out: Backend[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(byId(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
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

// Which flags each published `routes` array was sorted with, so a batch that changes no route key
// can reuse the previous array (and index) only when the flags are the same too.
const flagsOf = new WeakMap<readonly RouteRule[], readonly RouteRule[]>();

function sameFlags(a: readonly RouteRule[] | undefined, b: readonly RouteRule[]): boolean {
  return a !== undefined && a.length === b.length && a.every((rule, i) => rule === b[i]);
}

function sortRoutes(
  flagRoutes: readonly RouteRule[],
  routeKeys: ReadonlyMap<string, RouteRule>,
  declared: ReadonlyMap<string, RouteRule>,
): readonly RouteRule[] {
  // Etcd rules never tie completely (their source is their unique key), nor do declared ones (one per
  // host + path, none where a flag or key has it), so the order does not depend on the maps' iteration
  // order; flags go first so that tying flags keep their command-line order.
  const routes = Object.freeze([...flagRoutes, ...routeKeys.values(), ...declared.values()].sort(compareRoutes));
  flagsOf.set(routes, flagRoutes);
  return routes;
}

function publish(
  table: RouteTable,
  from?: { readonly table: RouteTable; readonly changed: Iterable<string> },
): RouteTable {
  const frozen = Object.freeze(table);
  indexTable(frozen, from);
  return frozen;
}
