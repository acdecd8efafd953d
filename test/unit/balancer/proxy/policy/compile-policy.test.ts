import { describe, expect, it } from 'vitest';
import { compilePolicy, PolicyCache } from '../../../../../balancer/proxy/policy/compile-policy.js';
import { decodePut } from '../../../../../balancer/registry/registry-decoder.js';
import { applyEvents, buildTable } from '../../../../../balancer/table/route-table.js';
import { matchRoute } from '../../../../../balancer/table/route-index.js';
import type { RegistryEvent, RouteRule } from '../../../../../balancer/types.js';
import { decodeRoute, parseRouteFlag } from '../../../../../common/route-spec.js';

const policies = new PolicyCache();

function rule(fields: object): RouteRule {
  const d = decodeRoute('/routes/c', JSON.stringify({ service: 'web', ...fields }));
  if (!d.ok) throw new Error(d.error);
  return d.value;
}

function compiled(fields: object, now = () => 0) {
  const c = compilePolicy(rule(fields), { now });
  if (c === undefined) throw new Error('no policy');
  return c;
}

describe('compilePolicy', () => {
  it('is undefined for a rule without policies (the plain route pays one property check)', () => {
    expect(compilePolicy(rule({ host: 'a.test', sticky: true }))).toBeUndefined();
    expect(policies.for(rule({}))).toBeUndefined();
    expect(policies.for(undefined)).toBeUndefined();
  });

  it('returns a frozen object with every key, unused ones undefined', () => {
    const c = compiled({ pathPrefix: '/api', stripPrefix: true });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.keys(c).sort()).toEqual(
      [
        'admit',
        'admits',
        'httpsRedirect',
        'limiter',
        'maxBodyBytes',
        'redirect',
        'requestHeaders',
        'responseHeaders',
        'retries',
        'rewritePath',
        'split',
        'timeoutMs',
      ].sort(),
    );
    expect(c.rewritePath?.('/api/users?x=1')).toBe('/users?x=1');
    expect([c.redirect, c.admits, c.limiter, c.split, c.requestHeaders, c.responseHeaders]).toEqual(
      Array(6).fill(undefined),
    );
    expect(c.admit('10.0.0.1', '/api', '5')).toBeUndefined();
  });

  it('the issue example: /api/users?x=1 reaches the backend as /v2/users?x=1', () => {
    expect(compiled({ pathPrefix: '/api', stripPrefix: true, addPrefix: '/v2' }).rewritePath?.('/api/users?x=1')).toBe(
      '/v2/users?x=1',
    );
  });

  it('carries timeout, retries, httpsRedirect and maxBodyBytes as given', () => {
    const c = compiled({ timeout: '5s', retries: 0, httpsRedirect: true, maxBodyBytes: 10 });
    expect([c.timeoutMs, c.retries, c.httpsRedirect, c.maxBodyBytes]).toEqual([5000, 0, true, 10]);
  });
});

describe('admit: redirect → allow/deny → rate limit → body size', () => {
  it.each<[string, object, [string, string, string | undefined], unknown]>([
    [
      'redirect',
      { redirect: { to: 'https://n.test', code: 301 } },
      ['1.2.3.4', '/a?b', undefined],
      { status: 301, location: 'https://n.test/a?b' },
    ],
    [
      'redirect comes before the address check',
      { redirect: { to: 'https://n.test' }, allow: ['10.0.0.0/8'] },
      ['1.2.3.4', '/', undefined],
      { status: 308, location: 'https://n.test/' },
    ],
    ['outside allow', { allow: ['10.0.0.0/8'] }, ['1.2.3.4', '/', undefined], { status: 403 }],
    ['inside deny', { deny: ['1.2.3.0/24'] }, ['1.2.3.4', '/', undefined], { status: 403 }],
    ['IPv4-mapped inside allow', { allow: ['10.0.0.0/8'] }, ['::ffff:10.0.0.9', '/', undefined], undefined],
    ['body too large by Content-Length', { maxBodyBytes: 10 }, ['1.2.3.4', '/', '11'], { status: 413 }],
    ['body at the limit', { maxBodyBytes: 10 }, ['1.2.3.4', '/', '10'], undefined],
    [
      'no Content-Length (chunked: counted while streaming)',
      { maxBodyBytes: 0 },
      ['1.2.3.4', '/', undefined],
      undefined,
    ],
    ['a Content-Length beyond 2^53', { maxBodyBytes: 10 }, ['1.2.3.4', '/', '9'.repeat(400)], { status: 413 }],
  ])('%s', (_name, fields, [client, target, length], expected) => {
    expect(compiled(fields).admit(client, target, length)).toEqual(expected);
  });

  it('rate limit: 429 with Retry-After, per client, refused before the body check', () => {
    const clock = { t: 0 };
    const c = compiled({ rateLimit: { average: 1, burst: 2, period: '10s' }, maxBodyBytes: 0 }, () => clock.t);
    expect(c.admit('1.2.3.4', '/', undefined)).toBeUndefined();
    expect(c.admit('1.2.3.4', '/', undefined)).toBeUndefined();
    expect(c.admit('1.2.3.4', '/', '5')).toEqual({ status: 429, retryAfter: 10 });
    expect(c.admit('::ffff:1.2.3.4', '/', undefined)).toEqual({ status: 429, retryAfter: 10 }); // same client
    expect(c.admit('5.6.7.8', '/', '5')).toEqual({ status: 413 }); // another client, its own bucket
    clock.t = 5000;
    expect(c.admit('1.2.3.4', '/', undefined)).toEqual({ status: 429, retryAfter: 5 });
  });

  it('denied clients spend no rate-limit token', () => {
    const c = compiled({ rateLimit: { average: 1, burst: 1 }, deny: ['1.2.3.4'] });
    expect(c.admit('1.2.3.4', '/', undefined)).toEqual({ status: 403 });
    expect(c.limiter?.size).toBe(0);
  });
});

describe('policyFor and the table', () => {
  const opts = { prefix: '/services', routesPrefix: '/routes' };
  const put = (key: string, value: object): RegistryEvent => {
    const d = decodePut(opts, key, JSON.stringify(value));
    if (!d.ok) throw new Error(d.rejection.reason);
    return d.event;
  };

  it('compiles once per rule and keeps the state across table rebuilds caused by entry changes', () => {
    const route = put('/routes/limited', {
      host: 'l.test',
      service: 'web',
      rateLimit: { average: 1, burst: 1, period: '1h' },
    });
    let table = buildTable([route], 1, []);
    policies.warm(table.routes);
    const first = policies.for(matchRoute(table, 'l.test', '/')?.rule);
    expect(first?.admit('9.9.9.9', '/', undefined)).toBeUndefined();
    for (let i = 0; i < 5; i++)
      table = applyEvents(table, [put(`/services/web/i${i}`, { host: '10.0.0.1', port: 8000 + i })], 2 + i, []);
    const again = policies.for(matchRoute(table, 'l.test', '/')?.rule);
    expect(again).toBe(first);
    expect(again?.admit('9.9.9.9', '/', undefined)).toMatchObject({ status: 429 });
  });

  it('a rewritten route key gets a fresh compiled policy', () => {
    const v = { host: 'l.test', service: 'web', retries: 1 };
    const t1 = buildTable([put('/routes/r', v)], 1, []);
    const t2 = applyEvents(t1, [put('/routes/r', { ...v, retries: 2 })], 2, []);
    expect(policies.for(matchRoute(t2, 'l.test', '/')?.rule)?.retries).toBe(2);
    expect(policies.for(matchRoute(t1, 'l.test', '/')?.rule)?.retries).toBe(1);
  });

  it('flag routes compile too', () => {
    const flag = parseRouteFlag('{"host":"f.test","service":"web","addPrefix":"/v1"}');
    expect(policies.for(flag)?.rewritePath?.('/x')).toBe('/v1/x');
    expect(policies.for(flag)).toBe(policies.for(flag));
  });
});
