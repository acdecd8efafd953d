import { describe, expect, it } from 'vitest';
import { applyEvents, backendFromEntry, buildTable, emptyTable } from '../../../../balancer/table/route-table.js';
import { EMPTY_DECLARED } from '../../../../balancer/table/declared-routes.js';
import { matchRoute, normalizeRequestHost } from '../../../../balancer/table/route-index.js';
import { vanishedBackends } from '../../../../balancer/table/table-store.js';
import type { RegistryEvent, RouteRule, RouteTable } from '../../../../balancer/types.js';
import type { Entry } from '../../../../common/registry.js';
import { decodeRoute, parseRouteFlag } from '../../../../common/route-spec.js';

function entry(host = '10.0.0.1', port = 8080, more: Partial<Entry> = {}): Entry {
  return { host, port, weight: 1, tags: [], draining: false, ...more };
}
function put(service: string, instance: string, e: Entry = entry()): RegistryEvent {
  return {
    kind: 'entry-put',
    key: `/services/${service}/${instance}`,
    backend: backendFromEntry(service, instance, e),
  };
}
function del(service: string, instance: string): RegistryEvent {
  return { kind: 'entry-delete', key: `/services/${service}/${instance}` };
}
function rule(key: string, value: object): RouteRule {
  const decoded = decodeRoute(key, JSON.stringify(value));
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.value;
}
function routePut(key: string, value: object): RegistryEvent {
  return { kind: 'route-put', key, rule: rule(key, value) };
}
const ids = (t: RouteTable, service: string): string[] | undefined =>
  t.services.get(service)?.backends.map((b) => b.id);

describe('backendFromEntry', () => {
  it.each([
    ['10.0.0.1', 'http://10.0.0.1:8080'],
    ['web.internal', 'http://web.internal:8080'],
    ['fd00::1', 'http://[fd00::1]:8080'],
  ])('%s → %s', (host, target) => {
    const b = backendFromEntry('web', 'node1:web-1:8080', entry(host));
    expect(b).toMatchObject({ id: 'web/node1:web-1:8080', service: 'web', instance: 'node1:web-1:8080', target });
    expect(Object.isFrozen(b)).toBe(true);
  });
});

describe('building and applying', () => {
  it('starts empty at revision 0', () => {
    const t = emptyTable('web');
    expect(t).toMatchObject({ revision: 0, routes: [], defaultService: 'web' });
    expect(t.services.size + t.entries.size + t.routeKeys.size).toBe(0);
    expect(emptyTable().defaultService).toBeUndefined();
  });

  it('builds a frozen snapshot with backends sorted by id', () => {
    const t = buildTable([put('web', 'c'), put('web', 'a'), put('api', 'x'), put('web', 'b')], 42, [], undefined);
    expect(t.revision).toBe(42);
    expect(ids(t, 'web')).toEqual(['web/a', 'web/b', 'web/c']);
    expect(ids(t, 'api')).toEqual(['api/x']);
    expect(Object.isFrozen(t)).toBe(true);
    expect(Object.isFrozen(t.services.get('web'))).toBe(true);
    expect(Object.isFrozen(t.services.get('web')?.backends)).toBe(true);
    expect(Object.isFrozen(t.routes)).toBe(true);
  });

  it('gives a new view only to the services the events touch', () => {
    const t1 = buildTable([put('web', 'a'), put('api', 'x'), put('db', 'y')], 1, [], undefined);
    const t2 = applyEvents(t1, [put('web', 'b'), del('db', 'y')], 2, []);
    expect(t2.services.get('api')).toBe(t1.services.get('api'));
    expect(t2.services.get('web')).not.toBe(t1.services.get('web'));
    expect(ids(t2, 'web')).toEqual(['web/a', 'web/b']);
    expect(t2.services.has('db')).toBe(false);
    // route-only and no-op events keep every view
    const t3 = applyEvents(t2, [routePut('/routes/r', { service: 'api' }), del('web', 'never-seen')], 3, []);
    for (const name of ['web', 'api']) expect(t3.services.get(name)).toBe(t2.services.get(name));
  });

  it('leaves the input table unchanged', () => {
    const t1 = buildTable([put('web', 'a')], 1, [], undefined);
    applyEvents(t1, [put('web', 'b'), del('web', 'a'), routePut('/routes/r', { service: 'web' })], 2, []);
    expect(ids(t1, 'web')).toEqual(['web/a']);
    expect([...t1.entries.keys()]).toEqual(['/services/web/a']);
    expect(t1.routes).toEqual([]);
    expect(t1.revision).toBe(1);
  });

  it.each<[string, RegistryEvent[], Record<string, string[]>]>([
    ['delete of the last backend removes the service', [put('web', 'a'), del('web', 'a')], {}],
    ['delete of one of two keeps the other', [put('web', 'a'), put('web', 'b'), del('web', 'a')], { web: ['web/b'] }],
    [
      'put after delete brings the service back',
      [put('web', 'a'), del('web', 'a'), put('web', 'a')],
      { web: ['web/a'] },
    ],
    ['re-put of a key replaces its backend', [put('web', 'a'), put('web', 'a', entry('10.0.0.9'))], { web: ['web/a'] }],
    ['delete of an unknown key is ignored', [put('web', 'a'), del('web', 'zz'), del('api', 'a')], { web: ['web/a'] }],
  ])('%s', (_name, events, expected) => {
    // Applied one event at a time and as one batch: both must give the same services.
    const stepwise = events.reduce((t, e, i) => applyEvents(t, [e], i + 1, []), emptyTable());
    for (const t of [stepwise, buildTable(events, 9, [], undefined)]) {
      expect(Object.fromEntries([...t.services].map(([name, view]) => [name, view.backends.map((b) => b.id)]))).toEqual(
        expected,
      );
    }
  });

  it('a re-put replaces the backend content', () => {
    const t = buildTable([put('web', 'a'), put('web', 'a', entry('10.0.0.9', 9000, { weight: 3 }))], 1, [], undefined);
    expect(t.services.get('web')?.backends).toHaveLength(1);
    expect(t.services.get('web')?.backends[0]).toMatchObject({ target: 'http://10.0.0.9:9000', entry: { weight: 3 } });
  });

  it('a route put replaces the rule of the same key, a delete removes it, flags stay', () => {
    const flags = [parseRouteFlag('/static=assets')];
    const t1 = buildTable([routePut('/routes/a', { pathPrefix: '/v1', service: 'api' })], 1, flags, undefined);
    const t2 = applyEvents(t1, [routePut('/routes/a', { pathPrefix: '/v2', service: 'api2' })], 2, flags);
    expect(t2.routes.map((r) => [r.source, r.pathPrefix, r.service])).toEqual([
      ['flag', '/static', 'assets'],
      ['/routes/a', '/v2', 'api2'],
    ]);
    expect(matchRoute(t2, 'x', '/v1')).toBeUndefined();
    const t3 = applyEvents(
      t2,
      [
        { kind: 'route-delete', key: '/routes/a' },
        { kind: 'route-delete', key: '/routes/none' },
      ],
      3,
      flags,
    );
    expect(t3.routes.map((r) => r.source)).toEqual(['flag']);
    expect(t3.routeKeys.size).toBe(0);
  });
});

describe('udp entries', () => {
  const udp = entry('10.0.0.1', 53, { protocol: 'udp' });
  const tcp = entry('10.0.0.1', 80, { protocol: 'tcp' });
  // [what, batches applied in turn, web's backend ids after, udpEntries after, vanished by the last batch]
  it.each<[string, RegistryEvent[][], string[] | undefined, number, string[]]>([
    ['a udp entry alone makes no view', [[put('web', 'u', udp)]], undefined, 1, []],
    ['udp beside tcp: only tcp is served', [[put('web', 'u', udp), put('web', 't', tcp)]], ['web/t'], 1, []],
    [
      'an explicit "tcp" is served like an absent protocol',
      [[put('web', 't', tcp), put('web', 'a')]],
      ['web/a', 'web/t'],
      0,
      [],
    ],
    [
      'deleting a udp entry uncounts it',
      [[put('web', 'u', udp), put('web', 't')], [del('web', 'u')]],
      ['web/t'],
      0,
      [],
    ],
    ['a re-put udp entry is counted once', [[put('web', 'u', udp)], [put('web', 'u', udp)]], undefined, 1, []],
    [
      'tcp turned udp leaves its view and vanishes',
      [[put('web', 't'), put('web', 'o')], [put('web', 't', udp)]],
      ['web/o'],
      1,
      ['web/t'],
    ],
    ['udp turned tcp joins its view', [[put('web', 'u', udp)], [put('web', 'u', tcp)]], ['web/u'], 0, []],
    ['put then delete in one batch nets out', [[put('web', 'u', udp), del('web', 'u')]], undefined, 0, []],
  ])('%s', (_what, batches, backends, count, vanished) => {
    let prev = emptyTable();
    let t = prev;
    for (const [i, batch] of batches.entries()) {
      prev = t;
      t = applyEvents(t, batch, i + 1, []);
    }
    expect(ids(t, 'web')).toEqual(backends);
    expect(t.udpEntries).toBe(count);
    expect(vanishedBackends(prev, t)).toEqual(vanished);
    // The registry mirror keeps every entry: the consistency check must not see udp ones as drift.
    const live = batches.flat().filter((e) => e.kind === 'entry-put' && t.entries.get(e.key) === e.backend);
    expect(t.entries.size).toBe(new Set(live.map((e) => e.key)).size);
  });

  it('a udp entry never matches: the route finds no view (503), not the udp port', () => {
    const t = buildTable([put('dns', 'u', udp)], 1, [parseRouteFlag('/=dns')]);
    expect(matchRoute(t, 'h', '/')).toMatchObject({ service: 'dns', view: undefined });
  });
});

describe('route precedence', () => {
  it('sorts exact > wildcard (longer suffix first) > any host, then longer path, then flag before etcd', () => {
    const flags = [parseRouteFlag('/=f-any'), parseRouteFlag('*.example.com=f-wild'), parseRouteFlag('/api=f-api')];
    const events = [
      routePut('/routes/1', { service: 'any-root' }),
      routePut('/routes/2', { pathPrefix: '/api/v1', service: 'any-v1' }),
      routePut('/routes/3', { host: '*.example.com', pathPrefix: '/api', service: 'wild-api' }),
      routePut('/routes/4', { host: '*.eu.example.com', service: 'wild-eu' }),
      routePut('/routes/5', { host: 'api.example.com', service: 'exact-root' }),
      routePut('/routes/6', { host: 'api.example.com', pathPrefix: '/v1', service: 'exact-v1' }),
      routePut('/routes/7', { pathPrefix: '/api', service: 'any-api' }),
    ];
    const t = buildTable(events, 1, flags, undefined);
    expect(t.routes.map((r) => r.service)).toEqual([
      'exact-v1',
      'exact-root',
      'wild-eu',
      'wild-api',
      'f-wild',
      'any-v1',
      'f-api',
      'any-api',
      'f-any',
      'any-root',
    ]);
    // Event order does not matter.
    expect(buildTable([...events].reverse(), 1, flags, undefined).routes).toEqual(t.routes);
  });

  it('among identical flags the first on the command line wins', () => {
    const t = buildTable([], 1, [parseRouteFlag('/a=first'), parseRouteFlag('/a=second')], undefined);
    expect(matchRoute(t, 'h', '/a')?.service).toBe('first');
  });
});

describe('matchRoute', () => {
  const table = buildTable(
    [
      put('exact-v1', 'a'),
      routePut('/routes/exact-v1', { host: 'api.example.com', pathPrefix: '/v1', service: 'exact-v1' }),
      routePut('/routes/exact-root', { host: 'api.example.com', service: 'exact-root' }),
      routePut('/routes/wild', { host: '*.example.com', service: 'wild' }),
      routePut('/routes/wild-eu', { host: '*.eu.example.com', service: 'wild-eu' }),
      routePut('/routes/ip', { host: '10.0.0.1', service: 'by-ipv4' }),
      routePut('/routes/ip6', { host: '::1', service: 'by-ipv6' }),
      routePut('/routes/api', { pathPrefix: '/api', service: 'any-api' }),
      routePut('/routes/api-v2', { pathPrefix: '/api/v2', service: 'any-api-v2' }),
      routePut('/routes/static', { pathPrefix: '/static/', service: 'static' }),
    ],
    7,
    [],
    undefined,
  );

  it.each<[string, string, string, string | undefined]>([
    // exact > wildcard > any; longest path first within a host
    ['exact host, longer path', 'api.example.com', '/v1/users', 'exact-v1'],
    ['exact host, other path', 'api.example.com', '/v2', 'exact-root'],
    ['exact host beats an any-host path rule', 'api.example.com', '/api', 'exact-root'],
    ['wildcard', 'www.example.com', '/api', 'wild'],
    ['longer wildcard suffix first', 'a.eu.example.com', '/', 'wild-eu'],
    ['wildcard matches deeper names', 'a.b.example.com', '/', 'wild'],
    ['wildcard does not match its apex', 'example.com', '/x', undefined],
    ['wildcard needs a whole label', 'badexample.com', '/x', undefined],
    ['any host, longest prefix', 'other.test', '/api/v2/x', 'any-api-v2'],
    ['any host, shorter prefix', 'other.test', '/api/v1', 'any-api'],
    // segment boundaries
    ['prefix equals path', 'other.test', '/api', 'any-api'],
    ['prefix then slash', 'other.test', '/api/', 'any-api'],
    ['prefix then query', 'other.test', '/api?x=1', 'any-api'],
    ['prefix then fragment', 'other.test', '/api#top', 'any-api'],
    ['prefix inside a segment', 'other.test', '/apix', undefined],
    ['longer prefix inside a segment falls back', 'other.test', '/api/v2x', 'any-api'],
    ['prefix ending in / matches below it', 'other.test', '/static/app.js', 'static'],
    ['prefix ending in / does not match without it', 'other.test', '/static', undefined],
    ['paths are case-sensitive', 'other.test', '/API', undefined],
    // host normalisation
    ['uppercase host', 'API.Example.COM', '/v1', 'exact-v1'],
    ['host with port', 'api.example.com:8443', '/v1', 'exact-v1'],
    ['host with trailing dot', 'api.example.com.', '/v1', 'exact-v1'],
    ['trailing dot and port', 'api.example.com.:80', '/v1', 'exact-v1'],
    ['wildcard with port', 'WWW.example.com:80', '/', 'wild'],
    ['IPv4 with port', '10.0.0.1:8080', '/', 'by-ipv4'],
    ['bracketed IPv6 with port', '[::1]:8080', '/', 'by-ipv6'],
    ['bracketed IPv6', '[::1]', '/', 'by-ipv6'],
    ['empty host', '', '/api', 'any-api'],
  ])('%s: %s %s', (_name, host, path, service) => {
    expect(matchRoute(table, host, path)?.service).toBe(service);
  });

  it('returns the rule and the view of its service (undefined when it has no backends)', () => {
    const m = matchRoute(table, 'api.example.com', '/v1');
    expect(m?.rule?.source).toBe('/routes/exact-v1');
    expect(m?.view).toBe(table.services.get('exact-v1'));
    expect(matchRoute(table, 'api.example.com', '/')).toMatchObject({ service: 'exact-root', view: undefined });
  });

  it('answers with prebuilt objects, not one allocation per request', () => {
    expect(matchRoute(table, 'API.example.com:1', '/v1/a')).toBe(matchRoute(table, 'api.example.com', '/v1/b'));
  });

  it.each<[string, string | undefined, string, object | undefined]>([
    ['default service when nothing matches', 'web', '/nothing', { rule: undefined, service: 'web' }],
    ['a rule beats the default service', 'web', '/api', { service: 'any-api' }],
    ['no default: undefined', undefined, '/nothing', undefined],
  ])('%s', (_name, defaultService, path, expected) => {
    const events = [put('web', 'a'), routePut('/routes/api', { pathPrefix: '/api', service: 'any-api' })];
    const t = buildTable(events, 1, [], defaultService);
    const m = matchRoute(t, 'h', path);
    if (expected === undefined) expect(m).toBeUndefined();
    else expect(m).toMatchObject(expected);
    if (m?.rule === undefined && m !== undefined) expect(m.view).toBe(t.services.get('web'));
  });

  it('the default service survives applyEvents and its view follows the table', () => {
    const t1 = buildTable([], 1, [], 'web');
    expect(matchRoute(t1, 'h', '/')).toMatchObject({ service: 'web', view: undefined });
    const t2 = applyEvents(t1, [put('web', 'a')], 2, []);
    expect(matchRoute(t2, 'h', '/')?.view?.backends.map((b) => b.id)).toEqual(['web/a']);
  });

  it('a catch-all / matches any path, even without a leading slash', () => {
    const t = buildTable([], 1, [parseRouteFlag('=web')], undefined);
    for (const path of ['/', '/x/y', '*', '']) expect(matchRoute(t, 'h', path)?.service).toBe('web');
  });

  it('agrees with a linear scan of table.routes', () => {
    const hostMatches = (ruleHost: string | undefined, h: string): boolean =>
      ruleHost === undefined ||
      (ruleHost.startsWith('*.') ? h.endsWith(ruleHost.slice(1)) && h.length > ruleHost.length - 1 : ruleHost === h);
    const pathMatches = (p: string, path: string): boolean =>
      p === '/' ||
      (path.startsWith(p) && (p.endsWith('/') || path.length === p.length || '/?#'.includes(path.charAt(p.length))));
    const hosts = [
      'api.example.com',
      'www.example.com',
      'a.eu.example.com',
      'example.com',
      'other.test',
      '10.0.0.1',
      '::1',
    ];
    const paths = ['/', '/v1', '/v1x', '/api', '/api/v2', '/api/v2/', '/apix', '/static', '/static/', '/static/a'];
    for (const h of hosts) {
      for (const path of paths) {
        const expected = table.routes.find((r) => hostMatches(r.host, h) && pathMatches(r.pathPrefix, path));
        expect(matchRoute(table, h, path)?.rule, `${h} ${path}`).toBe(expected);
      }
    }
  });

  it('works on a table not built by this module', () => {
    const r = parseRouteFlag('*.example.com/x=web');
    const t: RouteTable = {
      revision: 1,
      services: new Map(),
      routes: [r],
      defaultService: undefined,
      entries: new Map(),
      routeKeys: new Map(),
      udpEntries: 0,
      declared: EMPTY_DECLARED,
    };
    expect(matchRoute(t, 'a.example.com', '/x/1')?.rule).toBe(r);
  });
});

describe('normalizeRequestHost', () => {
  it.each([
    ['Example.COM', 'example.com'],
    ['example.com:80', 'example.com'],
    ['example.com.', 'example.com'],
    ['[::1]:8080', '::1'],
    ['[FE80::1]', 'fe80::1'],
    ['::1', '::1'],
    ['10.0.0.1:80', '10.0.0.1'],
    ['', ''],
  ])('%j → %j', (raw, expected) => {
    expect(normalizeRequestHost(raw)).toBe(expected);
  });
});
