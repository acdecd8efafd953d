// An entry's `routes` (routes declared by its container): validated route by route; an invalid one
// is dropped and named while the entry stays a valid backend; canonical encoding round-trips.
import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry, validateEntry } from '../../../common/registry.js';
import { validateDeclaredRoute } from '../../../common/route-spec.js';

const base = { host: '10.0.0.1', port: 80 };

describe('validateEntry: routes', () => {
  it.each([
    [[{ host: 'a.test' }], [{ host: 'a.test', pathPrefix: '/' }]],
    [[{ pathPrefix: '/api' }], [{ host: undefined, pathPrefix: '/api' }]],
    [[{ host: 'A.Test.', pathPrefix: '/x', stripPrefix: true }], [{ host: 'a.test', pathPrefix: '/x' }]],
    [
      [{ host: '*.a.test', lb: 'least-request', sticky: true, timeout: '5s', retries: 0 }],
      [{ host: '*.a.test', lb: 'least-request', sticky: true }],
    ],
    [[{ host: 'old.test', redirect: { to: 'https://new.test' } }], [{ host: 'old.test' }]],
    [[], []],
  ])('%j is accepted as %j', (routes, expected) => {
    const r = validateEntry({ ...base, routes });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.rejectedRoutes).toBeUndefined();
    expect(r.value.routes ?? []).toMatchObject(expected);
  });

  it.each([
    ['not a list', { host: 'a.test' }, 0, 'routes must be a list'],
    ['too many', Array.from({ length: 17 }, (_, i) => ({ host: `h${i}.test` })), 0, 'at most 16'],
    ['a service', [{ host: 'a.test', service: 'other' }], 0, 'service and services are not allowed'],
    ['a split', [{ host: 'a.test', services: [{ name: 'a', weight: 1 }] }], 0, 'not allowed'],
    ['a bad host next to a good route', [{ host: 'a b' }, { host: 'ok.test' }], 1, 'routes[0]: host'],
    ['a bad policy', [{ host: 'a.test', stripPrefix: 1 }, { host: 'b.test' }], 1, 'routes[0]: stripPrefix'],
    ['a duplicate rule', [{ host: 'a.test' }, { host: 'A.TEST', pathPrefix: '/' }], 1, 'declared twice'],
    ['an unknown policy key', [{ host: 'a.test', rateLimit: { average: 1, x: 1 } }], 0, 'unknown key'],
    ['not an object', ['a.test/x'], 0, 'must be a JSON object'],
  ])('%s: the entry stays valid, the bad routes are dropped and named', (_what, routes, kept, reason) => {
    const r = validateEntry({ ...base, routes });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.routes?.length ?? 0).toBe(kept);
    expect(r.value.rejectedRoutes).toContain(reason);
  });

  it('drops every route of a udp entry (it is never proxied to)', () => {
    const r = validateEntry({ ...base, protocol: 'udp', routes: [{ host: 'a.test' }] });
    expect(r.ok && r.value.routes === undefined && r.value.rejectedRoutes?.includes('udp')).toBe(true);
  });

  it('still rejects the entry for its own invalid fields', () => {
    expect(validateEntry({ ...base, port: 0, routes: [{ host: 'a.test' }] }).ok).toBe(false);
  });
});

describe('encodeEntry: routes', () => {
  it('writes routes canonically (defaults omitted) and decodes back to the same entry', () => {
    const raw = JSON.stringify({
      ...base,
      routes: [
        { pathPrefix: '/', host: 'a.test', sticky: false },
        { host: 'b.test', pathPrefix: '/api', stripPrefix: true, addPrefix: '/v2', rateLimit: { average: 5 } },
      ],
    });
    const d = decodeEntry(raw);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    const text = encodeEntry(d.value);
    expect(JSON.parse(text)).toEqual({
      ...base,
      routes: [
        { host: 'a.test' },
        {
          host: 'b.test',
          pathPrefix: '/api',
          stripPrefix: true,
          addPrefix: '/v2',
          rateLimit: { average: 5, burst: 5 },
        },
      ],
    });
    expect(decodeEntry(text)).toEqual(d);
  });

  it('leaves dropped routes out', () => {
    const d = decodeEntry(JSON.stringify({ ...base, routes: [{ host: 'a b' }] }));
    expect(d.ok && encodeEntry(d.value)).toBe(JSON.stringify(base));
  });
});

describe('validateDeclaredRoute', () => {
  it('accepts the fields of a route value but service and services', () => {
    expect(validateDeclaredRoute({ host: 'a.test', maxBodyBytes: 10 })).toMatchObject({ ok: true });
    expect(validateDeclaredRoute({ host: 'a.test', service: 'x' })).toMatchObject({ ok: false });
  });
});
