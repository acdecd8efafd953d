// Routes declared by entries, derived inside the route table: present while one entry declares them,
// gone with the last; conflicts with flags, route keys, other services and other instances resolved
// deterministically and recorded.
import { describe, expect, it } from 'vitest';
import { newConflicts } from '../../../../balancer/table/declared-routes.js';
import { matchRoute } from '../../../../balancer/table/route-index.js';
import { applyEvents, backendFromEntry, buildTable } from '../../../../balancer/table/route-table.js';
import type { RegistryEvent, RouteTable } from '../../../../balancer/types.js';
import { validateEntry } from '../../../../common/registry.js';
import { decodeRoute, parseRouteFlag } from '../../../../common/route-spec.js';

/** An entry put whose value declares `routes`. */
function put(service: string, instance: string, routes: object[] = []): RegistryEvent {
  const e = validateEntry({ host: '10.0.0.1', port: 8080, routes });
  if (!e.ok) throw new Error(e.error);
  return {
    kind: 'entry-put',
    key: `/services/${service}/${instance}`,
    backend: backendFromEntry(service, instance, e.value),
  };
}
const del = (service: string, instance: string): RegistryEvent => ({
  kind: 'entry-delete',
  key: `/services/${service}/${instance}`,
});
function routePut(key: string, value: object): RegistryEvent {
  const r = decodeRoute(key, JSON.stringify(value));
  if (!r.ok) throw new Error(r.error);
  return { kind: 'route-put', key, rule: r.value };
}
const routeDel = (key: string): RegistryEvent => ({ kind: 'route-delete', key });

/** Who serves a request to host + path: `<source> → <service>`, or '-' when nothing matches. */
function serves(t: RouteTable, host: string, path = '/'): string {
  const m = matchRoute(t, host, path);
  return m?.rule === undefined ? '-' : `${m.rule.source} → ${m.service}`;
}
const conflicts = (t: RouteTable) =>
  [...t.declared.conflicts.values()].map(
    (c) => `${c.host ?? ''}${c.pathPrefix} ${c.reason}: ${c.winner} over ${c.losers.join(',')}`,
  );

const A = { host: 'a.test' };

describe('declared routes in the table', () => {
  it.each<[string, RegistryEvent[][], string, string[], string[]?]>([
    ['one entry declares a route', [[put('web', 'i1', [A])]], 'declared:web → web', []],
    [
      'a second instance keeps it when the first leaves',
      [[put('web', 'i1', [A]), put('web', 'i2', [A])], [del('web', 'i1')]],
      'declared:web → web',
      [],
    ],
    [
      'it leaves with the last declaring entry',
      [[put('web', 'i1', [A]), put('web', 'i2', [A])], [del('web', 'i1')], [del('web', 'i2')]],
      '-',
      [],
    ],
    ['an entry that stops declaring it takes it away', [[put('web', 'i1', [A])], [put('web', 'i1', [])]], '-', []],
    [
      'two services: the lexically first wins',
      [[put('zeta', 'z1', [A]), put('alpha', 'a1', [A])]],
      'declared:alpha → alpha',
      ['a.test/ service: alpha over zeta'],
    ],
    [
      'the loser takes over when the winner leaves',
      [[put('zeta', 'z1', [A]), put('alpha', 'a1', [A])], [del('alpha', 'a1')]],
      'declared:zeta → zeta',
      [],
    ],
    [
      'an etcd route key wins',
      [[put('web', 'i1', [A]), routePut('/routes/a', { host: 'a.test', service: 'api' })]],
      '/routes/a → api',
      ['a.test/ route: /routes/a over web'],
    ],
    [
      'a key that arrives later wins too',
      [[put('web', 'i1', [A])], [routePut('/routes/a', { host: 'A.test', service: 'api' })]],
      '/routes/a → api',
      ['a.test/ route: /routes/a over web'],
    ],
    [
      'the declaration serves again when the key goes',
      [[put('web', 'i1', [A]), routePut('/routes/a', { host: 'a.test', service: 'api' })], [routeDel('/routes/a')]],
      'declared:web → web',
      [],
    ],
    [
      'a key for another path does not conflict',
      [[put('web', 'i1', [A]), routePut('/routes/a', { host: 'a.test', pathPrefix: '/x', service: 'api' })]],
      'declared:web → web',
      [],
    ],
    [
      'instances that differ: the first instance’s fields',
      [[put('web', 'i2', [{ ...A, sticky: true }]), put('web', 'i1', [A])]],
      'declared:web → web',
      ['a.test/ instances: web/i1 over web/i2'],
    ],
    ['a flag wins', [[put('web', 'i1', [A])]], 'flag → api', ['a.test/ route: flag over web'], ['a.test=api']],
  ])('%s', (_what, batches, expected, expectedConflicts, flags = []) => {
    const flagRoutes = flags.map(parseRouteFlag);
    let t = buildTable([], 1, flagRoutes);
    batches.forEach((events, i) => (t = applyEvents(t, events, i + 2, flagRoutes)));
    expect(serves(t, 'a.test')).toBe(expected);
    expect(conflicts(t)).toEqual(expectedConflicts);
    // The same registry read as one snapshot gives the same table: order of arrival does not matter.
    const snapshot = buildTable(batches.flat(), 9, flagRoutes);
    expect(serves(snapshot, 'a.test')).toBe(expected);
    expect(conflicts(snapshot)).toEqual(expectedConflicts);
  });

  it('applies the declared fields (path rewrite) and ranks like any rule of that specificity', () => {
    const t = buildTable(
      [
        put('web', 'i1', [{ host: 'a.test', pathPrefix: '/api', stripPrefix: true }]),
        routePut('/routes/all', { host: 'a.test', service: 'site' }),
      ],
      1,
      [],
    );
    expect(matchRoute(t, 'a.test', '/api/x')?.rule?.policy?.stripPrefix).toBe('/api');
    expect(serves(t, 'a.test', '/api/x')).toBe('declared:web → web');
    expect(serves(t, 'a.test', '/other')).toBe('/routes/all → site');
  });

  it('keeps the routes array (and its index) when declarers come and go without changing the rule', () => {
    const t1 = buildTable([put('web', 'i1', [A])], 1, []);
    const t2 = applyEvents(t1, [put('web', 'i2', [A])], 2, []);
    const t3 = applyEvents(t2, [del('web', 'i1')], 3, []);
    expect(t2.routes).toBe(t1.routes);
    expect(t3.routes).toBe(t1.routes);
    expect(t3.declared.declarations.get('a.test/')?.map((d) => d.backend.id)).toEqual(['web/i2']);
  });

  it('newConflicts reports a conflict once, and again only when its outcome changes', () => {
    const t1 = buildTable([put('web', 'i1', [A])], 1, []);
    const t2 = applyEvents(t1, [put('zeta', 'z1', [A])], 2, []);
    const t3 = applyEvents(t2, [put('zeta', 'z2', [A])], 3, []);
    const t4 = applyEvents(t3, [routePut('/routes/a', { host: 'a.test', service: 'x' })], 4, []);
    expect(newConflicts(t1.declared, t2.declared).map((c) => c.reason)).toEqual(['service']);
    expect(newConflicts(t2.declared, t3.declared)).toEqual([]);
    expect(newConflicts(t3.declared, t4.declared).map((c) => [c.reason, c.winner])).toEqual([['route', '/routes/a']]);
  });

  it('a udp entry or an invalid declared route declares nothing', () => {
    const e = validateEntry({ host: '10.0.0.1', port: 53, protocol: 'udp', routes: [A] });
    const bad = validateEntry({ host: '10.0.0.1', port: 80, routes: [{ host: 'a b' }] });
    if (!e.ok || !bad.ok) throw new Error('invalid');
    const t = buildTable(
      [
        { kind: 'entry-put', key: '/services/dns/u', backend: backendFromEntry('dns', 'u', e.value) },
        { kind: 'entry-put', key: '/services/web/b', backend: backendFromEntry('web', 'b', bad.value) },
      ],
      1,
      [],
    );
    expect(t.routes).toEqual([]);
    expect(t.services.get('web')?.backends).toHaveLength(1);
  });
});
