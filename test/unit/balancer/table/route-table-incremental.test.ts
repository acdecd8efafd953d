// The incremental apply (structural sharing, per-service view patches, index patches) must give the
// same table as a from-scratch build of the resulting registry, for any sequence of batches.
import { describe, expect, it } from 'vitest';
import {
  applyEvents,
  backendFromEntry,
  buildTable,
  emptyTable,
  withRevision,
} from '../../../../balancer/table/route-table.js';
import { matchRoute } from '../../../../balancer/table/route-index.js';
import { changedServices, goneServices, vanishedBackends } from '../../../../balancer/table/table-store.js';
import type { Backend, RegistryEvent, RouteRule, RouteTable } from '../../../../balancer/types.js';
import { decodeRoute, parseRouteFlag } from '../../../../common/route-spec.js';
import { prng } from '../../../helpers/prng.js';

const HOSTS = ['a.example.com', 'b.example.com', '*.example.com', 'x.test', undefined];
const PATHS = ['/', '/api', '/api/', '/v1'];

/** A random event over a small registry: 12 services × 6 instances (some udp), 10 route keys. */
function randomEvent(random: () => number): RegistryEvent {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const service = `svc${Math.floor(random() * 12)}`;
  const r = random();
  if (r < 0.55) {
    const instance = `node:i${Math.floor(random() * 6)}`;
    const backend = backendFromEntry(service, instance, {
      host: '10.0.0.1',
      port: 1 + Math.floor(random() * 60000),
      weight: Math.floor(random() * 3),
      tags: [],
      draining: random() < 0.1,
      ...(random() < 0.15 ? { protocol: 'udp' as const } : {}),
    });
    return { kind: 'entry-put', key: `/services/${service}/${instance}`, backend };
  }
  if (r < 0.8) return { kind: 'entry-delete', key: `/services/${service}/node:i${Math.floor(random() * 6)}` };
  const key = `/routes/r${Math.floor(random() * 10)}`;
  if (r < 0.93) {
    const host = pick(HOSTS);
    const decoded = decodeRoute(key, JSON.stringify({ ...(host ? { host } : {}), pathPrefix: pick(PATHS), service }));
    if (!decoded.ok) throw new Error(decoded.error);
    return { kind: 'route-put', key, rule: decoded.value };
  }
  return { kind: 'route-delete', key };
}

/** Everything a table says, with views compared by content (a scratch build makes new view objects). */
function view(t: RouteTable): unknown {
  const byKey = <V>(m: ReadonlyMap<string, V>): [string, V][] => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    revision: t.revision,
    entries: byKey(t.entries),
    routeKeys: byKey(t.routeKeys),
    services: byKey(t.services).map(([name, v]) => [name, v.name, v.backends]),
    routes: t.routes,
    defaultService: t.defaultService,
    udpEntries: t.udpEntries,
  };
}

function lookups(t: RouteTable): unknown[] {
  const out: unknown[] = [];
  for (const host of ['a.example.com', 'b.example.com', 'c.example.com', 'x.test', 'other']) {
    for (const path of ['/', '/api', '/api/x', '/v1', '/v2']) {
      const m = matchRoute(t, host, path);
      out.push(m && { rule: m.rule, service: m.service, backends: m.view?.backends });
    }
  }
  return out;
}

function naiveVanished(prev: RouteTable, next: RouteTable): string[] {
  const ids = (t: RouteTable): Set<string> =>
    new Set([...t.services.values()].flatMap((v) => v.backends.map((b) => b.id)));
  const kept = ids(next);
  return [...ids(prev)].filter((id) => !kept.has(id)).sort();
}

describe('incremental apply equals a from-scratch build', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('random batches (seed %i)', (seed) => {
    const random = prng(seed);
    const flags: RouteRule[] =
      random() < 0.5 ? [] : [parseRouteFlag('/api=svc1'), parseRouteFlag('a.example.com/=svc2')];
    const defaultService = random() < 0.5 ? undefined : 'svc3';
    let table = emptyTable(defaultService);
    const registry = new Map<string, RegistryEvent>(); // key → the put that holds it now
    for (let batch = 1; batch <= 150; batch++) {
      const events = Array.from({ length: 1 + Math.floor(random() * (random() < 0.2 ? 40 : 4)) }, () =>
        randomEvent(random),
      );
      const answersBefore = lookups(table);
      const next = applyEvents(table, events, batch, flags);
      for (const e of events) {
        if (e.kind === 'entry-put' || e.kind === 'route-put') registry.set(e.key, e);
        else registry.delete(e.key);
      }
      const scratch = buildTable([...registry.values()], batch, flags, defaultService);
      expect(view(next)).toEqual(view(scratch));
      const udp = [...registry.values()].filter((e) => e.kind === 'entry-put' && e.backend.entry.protocol === 'udp');
      expect(next.udpEntries).toBe(udp.length);
      for (const v of next.services.values()) expect(v.backends.every((b) => b.entry.protocol !== 'udp')).toBe(true);
      expect(lookups(next)).toEqual(lookups(scratch));
      // Only services whose backends changed get a new view; the rest are the same objects.
      for (const [name, v] of next.services) {
        const old = table.services.get(name);
        if (
          old !== undefined &&
          old.backends.length === v.backends.length &&
          old.backends.every((b, i) => b === v.backends[i])
        )
          expect(v).toBe(old);
      }
      expect(vanishedBackends(table, next)).toEqual(naiveVanished(table, next));
      expect(goneServices(table, next).sort()).toEqual(
        [...table.services.keys()].filter((s) => !next.services.has(s)).sort(),
      );
      // Every service whose view object is not the same, with its backends now ([] when gone).
      const names = new Set([...table.services.keys(), ...next.services.keys()]);
      const naiveChanged = [...names]
        .filter((s) => table.services.get(s) !== next.services.get(s))
        .sort()
        .map((s) => [s, next.services.get(s)?.backends ?? []]);
      expect(changedServices(table, next).sort(([a], [b]) => (a < b ? -1 : 1))).toEqual(naiveChanged);
      expect(lookups(table)).toEqual(answersBefore); // the old table is untouched and still answers as before
      table = next;
    }
  });

  it('a revision-only table shares everything and answers the same', () => {
    const t = buildTable(
      [
        {
          kind: 'entry-put',
          key: '/services/web/a',
          backend: backendFromEntry('web', 'a', { host: '10.0.0.1', port: 80, weight: 1, tags: [], draining: false }),
        },
      ],
      5,
      [parseRouteFlag('/=web')],
    );
    const r = withRevision(t, 9);
    expect(r.revision).toBe(9);
    expect([r.entries, r.services, r.routes, r.routeKeys]).toEqual([t.entries, t.services, t.routes, t.routeKeys]);
    expect(r.services).toBe(t.services);
    expect(matchRoute(r, 'h', '/x')).toBe(matchRoute(t, 'h', '/x'));
    expect(withRevision(t, 5)).toBe(t);
    expect(Object.isFrozen(r)).toBe(true);
  });

  it('an old table keeps answering with its own views after later batches', () => {
    const b = (port: number): Backend =>
      backendFromEntry('web', 'a', { host: '10.0.0.1', port, weight: 1, tags: [], draining: false });
    const t1 = buildTable([{ kind: 'entry-put', key: '/services/web/a', backend: b(1) }], 1, [parseRouteFlag('/=web')]);
    const before = matchRoute(t1, 'h', '/');
    const t2 = applyEvents(t1, [{ kind: 'entry-put', key: '/services/web/a', backend: b(2) }], 2, [
      parseRouteFlag('/=web'),
    ]);
    expect(matchRoute(t1, 'h', '/')).toBe(before);
    expect(matchRoute(t1, 'h', '/')?.view?.backends[0]?.target).toBe('http://10.0.0.1:1');
    expect(matchRoute(t2, 'h', '/')?.view?.backends[0]?.target).toBe('http://10.0.0.1:2');
  });
});
