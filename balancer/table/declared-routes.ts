// Routes declared by containers, derived from the live entries (pure): a declared rule exists while
// at least one entry declares it and leaves with the last one (lease expiry is just entry deletes).
// Conflicts are resolved deterministically: a `--route` flag or an etcd route key for the same host +
// path wins over every declaration; among services the lexically first wins; within the serving
// service the lexically first instance's fields apply. Each resolution is recorded as a RouteConflict
// for /api/table, the log and balancer_route_conflicts_total. Cost is O(changed entries' routes +
// the declarers of the rules they touch); only a change of flags or route keys re-resolves every rule.
import { declaredRouteJson, makeRule, ruleId } from '../../common/route-spec.js';
import { diffMaps, persistent } from './persistent-map.js';
import type { Backend, Declaration, DeclaredRoute, DeclaredState, RouteConflict, RouteRule } from '../types.js';

/** `declared:<service>`: the `source` of a declared rule (/api/table adds the declaring instances). */
export const DECLARED_SOURCE = 'declared:';

const canonical = new WeakMap<DeclaredRoute, string>();
/** The canonical text of the declaration each declared rule was made from. */
const ruleText = new WeakMap<RouteRule, string>();

/** Canonical text of a declared route's fields: equal text, equal route. Cached per (frozen) route. */
function textOf(route: DeclaredRoute): string {
  let text = canonical.get(route);
  if (text === undefined) canonical.set(route, (text = JSON.stringify(declaredRouteJson(route))));
  return text;
}

function byDeclarer(a: Declaration, b: Declaration): number {
  const x = a.backend;
  const y = b.backend;
  return x.service < y.service ? -1 : x.service > y.service ? 1 : x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
}

// Per route-key map (tables share it until a key changes), the owners computed for it and the flags used.
const reservedCache = new WeakMap<
  ReadonlyMap<string, RouteRule>,
  { flags: readonly RouteRule[]; ids: Map<string, string> }
>();

/**
 * Which flag or route key serves each rule id: the first in precedence order (flags, then keys by
 * name). Cached per route-key map, so entry churn does not re-sort the keys on every batch.
 */
export function reservedIds(
  flags: readonly RouteRule[],
  routeKeys: ReadonlyMap<string, RouteRule>,
): Map<string, string> {
  const cached = reservedCache.get(routeKeys);
  if (cached !== undefined && cached.flags === flags) return cached.ids;
  const reserved = new Map<string, string>();
  for (const rule of flags) if (!reserved.has(ruleId(rule))) reserved.set(ruleId(rule), rule.source);
  for (const key of [...routeKeys.keys()].sort()) {
    const id = ruleId(routeKeys.get(key)!);
    if (!reserved.has(id)) reserved.set(id, key);
  }
  reservedCache.set(routeKeys, { flags, ids: reserved });
  return reserved;
}

export const EMPTY_DECLARED: DeclaredState = Object.freeze({
  declarations: persistent(new Map<string, readonly Declaration[]>()),
  rules: persistent(new Map<string, RouteRule>()),
  conflicts: persistent(new Map<string, RouteConflict>()),
});

/**
 * The declared state after a batch: `changed` maps each entry key the batch touched to its backend
 * before and after. `reserved` (rule id → flag or route key) is asked only for the rules resolved;
 * with `all`, every declared rule is resolved again (flags or route keys changed).
 */
export function applyDeclarations(
  prev: DeclaredState,
  changed: Iterable<readonly [Backend | undefined, Backend | undefined]>,
  reserved: () => ReadonlyMap<string, string>,
  all: boolean,
): DeclaredState {
  const declarations = persistent(prev.declarations).edit();
  const touched = new Set<string>();
  for (const [old, now] of changed) {
    if (old === now) continue;
    for (const route of old?.entry.routes ?? []) {
      const id = ruleId(route);
      const list = (declarations.get(id) ?? []).filter((d) => d.backend.id !== old!.id);
      if (list.length > 0) declarations.set(id, list);
      else declarations.delete(id);
      touched.add(id);
    }
    for (const route of now?.entry.routes ?? []) {
      const id = ruleId(route);
      const list = (declarations.get(id) ?? []).filter((d) => d.backend.id !== now!.id);
      list.push(Object.freeze({ backend: now!, route }));
      declarations.set(id, Object.freeze(list.sort(byDeclarer)));
      touched.add(id);
    }
  }
  const nextDeclarations = declarations.done();
  if (all) for (const id of nextDeclarations.keys()) touched.add(id);
  if (touched.size === 0) return prev;
  const rules = persistent(prev.rules).edit();
  const conflicts = persistent(prev.conflicts).edit();
  const owners = reserved();
  for (const id of touched) {
    const { rule, conflict } = resolve(nextDeclarations.get(id) ?? [], owners.get(id), prev.rules.get(id));
    if (rule === undefined) rules.delete(id);
    else if (rule !== prev.rules.get(id)) rules.set(id, rule);
    if (conflict === undefined) conflicts.delete(id);
    else if (!sameConflict(conflict, prev.conflicts.get(id))) conflicts.set(id, conflict);
  }
  const next = { declarations: nextDeclarations, rules: rules.done(), conflicts: conflicts.done() };
  return next.declarations === prev.declarations && next.rules === prev.rules && next.conflicts === prev.conflicts
    ? prev
    : Object.freeze(next);
}

/** One rule's outcome from its declarations (sorted), the flag or key that owns it, and its previous rule. */
export function resolve(
  decls: readonly Declaration[],
  owner: string | undefined,
  previous: RouteRule | undefined,
): { rule: RouteRule | undefined; conflict: RouteConflict | undefined } {
  const first = decls[0];
  if (first === undefined) return { rule: undefined, conflict: undefined };
  const { host, pathPrefix } = first.route;
  const services = [...new Set(decls.map((d) => d.backend.service))];
  if (owner !== undefined) {
    return { rule: undefined, conflict: conflict(host, pathPrefix, 'route', owner, services) };
  }
  const service = first.backend.service;
  const text = textOf(first.route);
  let rule = previous;
  if (rule === undefined || rule.service !== service || ruleText.get(rule) !== text) {
    rule = makeRule(first.route, service, `${DECLARED_SOURCE}${service}`);
    ruleText.set(rule, text);
  }
  if (services.length > 1) return { rule, conflict: conflict(host, pathPrefix, 'service', service, services.slice(1)) };
  const differing = decls.filter((d) => textOf(d.route) !== text).map((d) => d.backend.id);
  if (differing.length > 0)
    return { rule, conflict: conflict(host, pathPrefix, 'instances', first.backend.id, differing) };
  return { rule, conflict: undefined };
}

function conflict(
  host: string | undefined,
  pathPrefix: string,
  reason: RouteConflict['reason'],
  winner: string,
  losers: readonly string[],
): RouteConflict {
  return Object.freeze({ host, pathPrefix, reason, winner, losers: Object.freeze([...losers].sort()) });
}

function sameConflict(a: RouteConflict, b: RouteConflict | undefined): boolean {
  return (
    b !== undefined &&
    a.reason === b.reason &&
    a.winner === b.winner &&
    a.losers.length === b.losers.length &&
    a.losers.every((l, i) => l === b.losers[i])
  );
}

/** Conflicts in `next` that `prev` did not have (or had with another outcome): what to log and count. */
export function newConflicts(prev: DeclaredState, next: DeclaredState): RouteConflict[] {
  const out: RouteConflict[] = [];
  if (prev.conflicts === next.conflicts) return out;
  diffMaps(prev.conflicts, next.conflicts, (_id, before, after) => {
    if (after !== undefined && (before === undefined || !sameConflict(after, before))) out.push(after);
  });
  return out;
}
