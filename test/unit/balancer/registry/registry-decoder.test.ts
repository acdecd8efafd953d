import { describe, expect, it } from 'vitest';
import { createMatcher } from '../../../../common/cidr.js';
import {
  classifyKey,
  countDrift,
  decodeDelete,
  decodePut,
  decodeSnapshot,
  diffSnapshot,
  registryBases,
  type DecoderOptions,
} from '../../../../balancer/registry/registry-decoder.js';
import { applyEvents, buildTable, emptyTable } from '../../../../balancer/table/route-table.js';
import { TableStore, vanishedBackends } from '../../../../balancer/table/table-store.js';
import type { RegistryEvent, RouteTable } from '../../../../balancer/types.js';

const opts: DecoderOptions = { prefix: '/services', routesPrefix: '/routes' };
const allowTen: DecoderOptions = { ...opts, allowBackend: createMatcher('10.0.0.0/8,fd00::/8') };

const entryValue = (host = '10.0.0.1', port = 8080, more: object = {}): string =>
  JSON.stringify({ host, port, ...more });
function put(key: string, value: string, o: DecoderOptions = opts): RegistryEvent {
  const d = decodePut(o, key, value);
  if (!d.ok) throw new Error(d.rejection.reason);
  return d.event;
}
const e = (service: string, instance: string, value = entryValue()): RegistryEvent =>
  put(`/services/${service}/${instance}`, value);
const r = (name: string, value: object): RegistryEvent => put(`/routes/${name}`, JSON.stringify(value));

describe('registryBases and classifyKey', () => {
  it('derives the watched prefixes', () => {
    expect(registryBases(opts)).toEqual({ entries: '/services/', routes: '/routes/' });
    expect(registryBases({ prefix: 'services/', routesPrefix: '/r//' })).toEqual({
      entries: '/services/',
      routes: '/r/',
    });
  });

  it.each([
    ['/services/web/a', opts, 'entry'],
    ['/routes/x', opts, 'route'],
    ['/other/x', opts, undefined],
    ['/servicesx/web/a', opts, undefined],
    // Nested prefixes: the longer base wins.
    ['/reg/routes/x', { prefix: '/reg', routesPrefix: '/reg/routes' }, 'route'],
    ['/reg/web/a', { prefix: '/reg', routesPrefix: '/reg/routes' }, 'entry'],
  ] as const)('%s → %s', (key, o, kind) => {
    expect(classifyKey(o, key)).toBe(kind);
  });
});

describe('decodePut', () => {
  it.each([
    [
      'entry',
      '/services/web/node1:web-1:8080',
      entryValue(),
      opts,
      { kind: 'entry-put', backend: { id: 'web/node1:web-1:8080', target: 'http://10.0.0.1:8080' } },
    ],
    [
      'DNS host without an allow-list',
      '/services/web/a',
      entryValue('web.internal'),
      opts,
      { kind: 'entry-put', backend: { target: 'http://web.internal:8080' } },
    ],
    ['allowed IPv4', '/services/web/a', entryValue('10.9.9.9'), allowTen, { kind: 'entry-put' }],
    [
      'allowed IPv6',
      '/services/web/a',
      entryValue('fd00::5'),
      allowTen,
      { kind: 'entry-put', backend: { target: 'http://[fd00::5]:8080' } },
    ],
    [
      'route',
      '/routes/api',
      JSON.stringify({ host: 'API.example.com', pathPrefix: '/v1', service: 'api' }),
      opts,
      {
        kind: 'route-put',
        rule: { host: 'api.example.com', pathPrefix: '/v1', service: 'api', source: '/routes/api' },
      },
    ],
  ])('accepts %s', (_name, key, value, o, want) => {
    const d = decodePut(o, key, value);
    expect(d).toMatchObject({ ok: true, event: { key, ...want } });
  });

  it.each([
    ['non-JSON', '/services/web/a', 'not json{', opts, /not valid JSON/, 'entry-delete'],
    ['port 0', '/services/web/a', entryValue('10.0.0.1', 0), opts, /port/, 'entry-delete'],
    ['bad host', '/services/web/a', entryValue('bad host!'), opts, /host/, 'entry-delete'],
    ['a JSON array', '/services/web/a', '[1]', opts, /JSON object/, 'entry-delete'],
    ['a key too deep', '/services/web/a/b', entryValue(), opts, /<prefix>\/<service>\/<instance-id>/, 'entry-delete'],
    ['a bad service name', '/services/-web/a', entryValue(), opts, /service name/, 'entry-delete'],
    [
      'a host outside --backends-allow',
      '/services/web/a',
      entryValue('192.168.1.1'),
      allowTen,
      /not in --backends-allow/,
      'entry-delete',
    ],
    [
      'a DNS host with --backends-allow',
      '/services/web/a',
      entryValue('web.internal'),
      allowTen,
      /DNS name.*--backends-allow/,
      'entry-delete',
    ],
    ['a route without service', '/routes/x', JSON.stringify({ pathPrefix: '/x' }), opts, /service/, 'route-delete'],
    [
      'a route with a bad host',
      '/routes/x',
      JSON.stringify({ host: 'a b', service: 'web' }),
      opts,
      /host/,
      'route-delete',
    ],
    [
      'a route key without a name',
      '/routes/',
      JSON.stringify({ service: 'web' }),
      opts,
      /needs a name/,
      'route-delete',
    ],
  ])('rejects %s and removes the key', (_name, key, value, o, reason, removal) => {
    const d = decodePut(o, key, value);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.rejection.key).toBe(key);
    expect(d.rejection.reason).toMatch(reason);
    expect(d.removal).toEqual({ kind: removal, key });
  });

  it('rejects a key outside both prefixes without a removal', () => {
    expect(decodePut(opts, '/elsewhere/x', entryValue())).toMatchObject({
      ok: false,
      removal: undefined,
      rejection: { reason: /outside/ },
    });
  });

  it('maps deletes by key family', () => {
    expect(decodeDelete(opts, '/services/web/a')).toEqual({ kind: 'entry-delete', key: '/services/web/a' });
    expect(decodeDelete(opts, '/routes/a')).toEqual({ kind: 'route-delete', key: '/routes/a' });
    expect(decodeDelete(opts, '/x/a')).toBeUndefined();
  });
});

describe('diffSnapshot', () => {
  const base = buildTable(
    [e('web', 'a'), e('web', 'b'), e('api', 'x'), r('api', { service: 'api', pathPrefix: '/api' })],
    10,
    [],
  );
  const keys = (events: RegistryEvent[]): string[] => events.map((ev) => `${ev.kind} ${ev.key}`);

  it.each<[string, RouteTable, RegistryEvent[], string[]]>([
    ['empty table, empty snapshot', emptyTable(), [], []],
    [
      'empty table ← snapshot',
      emptyTable(),
      [e('web', 'a'), r('x', { service: 'web' })],
      ['entry-put /services/web/a', 'route-put /routes/x'],
    ],
    [
      'identical content, fresh objects',
      base,
      [e('api', 'x'), e('web', 'b'), e('web', 'a'), r('api', { service: 'api', pathPrefix: '/api' })],
      [],
    ],
    [
      'everything vanished (deletes sorted by key)',
      base,
      [],
      [
        'route-delete /routes/api',
        'entry-delete /services/api/x',
        'entry-delete /services/web/a',
        'entry-delete /services/web/b',
      ],
    ],
    [
      'changed port, weight, extra field and route; one new; one gone',
      base,
      [
        e('web', 'a', entryValue('10.0.0.1', 9090)),
        e('web', 'b', entryValue('10.0.0.1', 8080, { weight: 2 })),
        e('api', 'x', entryValue('10.0.0.1', 8080, { zone: 'b' })),
        e('web', 'c'),
        r('api', { service: 'api', pathPrefix: '/api', sticky: true }),
      ],
      [
        'entry-put /services/web/a',
        'entry-put /services/web/b',
        'entry-put /services/api/x',
        'entry-put /services/web/c',
        'route-put /routes/api',
      ],
    ],
    [
      'same value written with defaults spelled out',
      base,
      [
        e('web', 'a', entryValue('10.0.0.1', 8080, { weight: 1, tags: [], draining: false })),
        e('web', 'b'),
        e('api', 'x'),
        r('api', { service: 'api', pathPrefix: '/api', sticky: false }),
      ],
      [],
    ],
    [
      'deletes in the snapshot are ignored',
      base,
      [
        e('web', 'a'),
        e('web', 'b'),
        e('api', 'x'),
        r('api', { service: 'api', pathPrefix: '/api' }),
        { kind: 'entry-delete', key: '/services/web/a' },
      ],
      [],
    ],
  ])('%s', (_name, table, snapshot, want) => {
    expect(keys(diffSnapshot(table, snapshot))).toEqual(want);
  });

  it('applied to any table, yields the snapshot (randomised, seeded)', () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const randomState = (): RegistryEvent[] => {
      const out: RegistryEvent[] = [];
      for (let i = 0; i < 12; i++) {
        if (rand(2) === 0) out.push(e(`s${rand(3)}`, `i${i}`, entryValue(`10.0.0.${rand(3) + 1}`, 8000 + rand(2))));
        if (rand(4) === 0) out.push(r(`r${i}`, { service: `s${rand(3)}`, pathPrefix: `/p${rand(2)}` }));
      }
      return out;
    };
    for (let round = 0; round < 200; round++) {
      const table = buildTable(randomState(), 5, []);
      const snapshot = randomState();
      const fixed = applyEvents(table, diffSnapshot(table, snapshot), 9, []);
      const want = buildTable(snapshot, 9, []);
      const flat = (t: RouteTable): unknown => ({
        entries: [...t.entries].map(([k, b]) => [k, b.id, b.target]).sort(),
        routes: t.routes.map((rule) => rule.source),
        services: [...t.services].map(([name, v]) => [name, v.backends.map((b) => b.id)]).sort(),
      });
      expect(flat(fixed)).toEqual(flat(want));
      expect(diffSnapshot(fixed, snapshot)).toEqual([]);
    }
  });
});

describe('decodeSnapshot and countDrift', () => {
  it('splits a snapshot into valid puts and refused key/values', () => {
    const kv = (key: string, value: string, revision = 1) => ({ key, value: Buffer.from(value), revision });
    const { events, rejected } = decodeSnapshot(opts, [
      kv('/services/web/a', entryValue()),
      kv('/services/web/b', 'nope'),
      kv('/routes/x', '{"service":"web"}'),
      kv('/routes/y', '{}'),
    ]);
    expect(events.map((ev) => `${ev.kind} ${ev.key}`)).toEqual(['entry-put /services/web/a', 'route-put /routes/x']);
    expect(rejected.map((r) => [r.rejection.key, r.value.toString()])).toEqual([
      ['/services/web/b', 'nope'],
      ['/routes/y', '{}'],
    ]);
  });

  const applied = { entry: 10, route: 5 };
  const revisions = new Map([
    ['/services/web/a', 9],
    ['/services/web/b', 11],
    ['/routes/x', 5],
    ['/routes/y', 6],
  ]);
  it.each<[string, RegistryEvent[], number]>([
    ['nothing to correct', [], 0],
    ['a put the watch should have delivered', [e('web', 'a')], 1],
    ['a put still on its way (above the applied revision)', [e('web', 'b')], 0],
    ['a route put at the applied revision', [r('x', { service: 'web' })], 1],
    ['a route put above the route watch', [r('y', { service: 'web' })], 0],
    [
      'deletes always count',
      [
        { kind: 'entry-delete', key: '/services/web/c' },
        { kind: 'route-delete', key: '/routes/z' },
      ],
      2,
    ],
  ])('%s', (_name, corrections, want) => {
    expect(countDrift(corrections, revisions, applied)).toBe(want);
  });
});

describe('TableStore and vanishedBackends', () => {
  const t1 = buildTable([e('web', 'a'), e('web', 'b'), e('api', 'x')], 1, []);

  it.each<[string, RouteTable, RouteTable, string[]]>([
    ['nothing vanished from an empty table', emptyTable(), t1, []],
    ['the same table', t1, t1, []],
    ['everything vanished', t1, emptyTable(), ['api/x', 'web/a', 'web/b']],
    [
      'one deleted, one changed (same id, kept)',
      t1,
      applyEvents(t1, [{ kind: 'entry-delete', key: '/services/web/a' }, e('web', 'b', entryValue('10.0.0.2'))], 2, []),
      ['web/a'],
    ],
    ['a whole service gone', t1, applyEvents(t1, [{ kind: 'entry-delete', key: '/services/api/x' }], 2, []), ['api/x']],
  ])('%s', (_name, prev, next, want) => {
    expect(vanishedBackends(prev, next)).toEqual(want);
  });

  it('starts empty and not ready, swaps in one assignment and notifies with (prev, next)', () => {
    const store = new TableStore('web');
    expect(store.current.revision).toBe(0);
    expect(store.current.defaultService).toBe('web');
    expect(store.ready).toBe(false);
    const seen: [number, number, string[]][] = [];
    const unsubscribe = store.subscribe((prev, next) =>
      seen.push([prev.revision, next.revision, vanishedBackends(prev, next)]),
    );
    store.subscribe(() => {
      throw new Error('a broken subscriber does not stop the others');
    });
    store.swap(t1);
    store.markReady();
    expect(store.ready).toBe(true);
    store.swap(t1); // same value: no notification
    const t2 = applyEvents(t1, [{ kind: 'entry-delete', key: '/services/web/b' }], 2, []);
    store.swap(t2);
    unsubscribe();
    store.swap(t1);
    expect(store.current).toBe(t1);
    expect(seen).toEqual([
      [0, 1, []],
      [1, 2, ['web/b']],
    ]);
  });
});

describe('entries with declared routes', () => {
  const key = '/services/web/n:web-1:80';
  const good = { host: 'a.test' };

  it('an invalid declared route: the entry is applied, the route refused and reported', () => {
    const d = decodePut(opts, key, entryValue('10.0.0.1', 80, { routes: [{ host: 'a b' }, good] }));
    expect(d.ok).toBe(true);
    if (!d.ok || d.event.kind !== 'entry-put') return;
    expect(d.event.backend.entry.routes?.map((x) => x.host)).toEqual(['a.test']);
    expect(d.partial).toMatchObject({ key, reason: expect.stringContaining('routes[0]') });
    const snap = decodeSnapshot(opts, [
      { key, value: Buffer.from(entryValue('10.0.0.1', 80, { routes: [1] })), revision: 2 },
    ]);
    expect(snap.events).toHaveLength(1);
    expect(snap.rejected).toMatchObject([{ rejection: { key }, partial: true }]);
  });

  it('valid declared routes: no rejection; a changed route is a correction of the entry', () => {
    const d = decodePut(opts, key, entryValue('10.0.0.1', 80, { routes: [good] }));
    expect(d.ok && d.partial).toBeUndefined();
    const table = buildTable([e('web', 'n:web-1:80', entryValue('10.0.0.1', 80, { routes: [good] }))], 1, []);
    const changed = e('web', 'n:web-1:80', entryValue('10.0.0.1', 80, { routes: [{ host: 'b.test' }] }));
    expect(diffSnapshot(table, [changed])).toHaveLength(1);
    expect(diffSnapshot(table, [e('web', 'n:web-1:80', entryValue('10.0.0.1', 80, { routes: [good] }))])).toEqual([]);
  });
});
