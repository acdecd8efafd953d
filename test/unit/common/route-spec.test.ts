import { describe, expect, it } from 'vitest';
import type { RouteRule } from '../../../balancer/types.js';
import {
  DEFAULT_ROUTES_PREFIX,
  decodeRoute,
  encodeRoute,
  parseRouteFlag,
  parseRouteKey,
  routeKey,
} from '../../../common/route-spec.js';

const KEY = '/routes/api';

describe('decodeRoute: accepted values', () => {
  it.each<[string, string, Partial<RouteRule>]>([
    [
      'service only: any host, path /',
      '{"service":"api"}',
      { host: undefined, pathPrefix: '/', service: 'api', lb: undefined, sticky: false },
    ],
    [
      'all fields',
      '{"host":"api.example.com","pathPrefix":"/v1","service":"api","lb":"least-request","sticky":true}',
      { host: 'api.example.com', pathPrefix: '/v1', service: 'api', lb: 'least-request', sticky: true },
    ],
    ['host is lowercased', '{"host":"API.Example.COM","service":"api"}', { host: 'api.example.com' }],
    ['trailing dot dropped', '{"host":"api.example.com.","service":"api"}', { host: 'api.example.com' }],
    ['wildcard', '{"host":"*.Example.com","service":"web"}', { host: '*.example.com' }],
    ['IPv4 host', '{"host":"10.0.0.1","service":"web"}', { host: '10.0.0.1' }],
    ['IPv6 host', '{"host":"::1","service":"web"}', { host: '::1' }],
    ['bracketed IPv6 host loses brackets', '{"host":"[FE80::1]","service":"web"}', { host: 'fe80::1' }],
    ['round-robin', '{"service":"web","lb":"round-robin"}', { lb: 'round-robin' }],
    ['prefix ending in /', '{"service":"web","pathPrefix":"/static/"}', { pathPrefix: '/static/' }],
    ['unknown fields ignored', '{"service":"web","future":{"x":1},"priority":3}', { service: 'web' }],
  ])('%s', (_name, raw, expected) => {
    const decoded = decodeRoute(KEY, raw);
    expect(decoded).toMatchObject({ ok: true, value: { ...expected, source: KEY } });
    if (decoded.ok) expect(Object.isFrozen(decoded.value)).toBe(true);
  });

  it('accepts a Buffer', () => {
    expect(decodeRoute(KEY, Buffer.from('{"service":"api"}'))).toMatchObject({ ok: true, value: { service: 'api' } });
  });

  it('does not keep unknown fields on the rule', () => {
    const decoded = decodeRoute(KEY, '{"service":"web","future":1}');
    expect(decoded.ok && Object.keys(decoded.value).sort()).toEqual([
      'host',
      'lb',
      'pathPrefix',
      'policy',
      'service',
      'source',
      'sticky',
    ]);
  });
});

describe('decodeRoute: rejected values', () => {
  it.each<[string, string, RegExp]>([
    ['not JSON', '{service: api}', /not valid JSON/],
    ['empty', '', /not valid JSON/],
    ['array', '["api"]', /JSON object/],
    ['string', '"api"', /JSON object/],
    ['null', 'null', /JSON object/],
    ['missing service', '{"host":"a.example.com"}', /service must be/],
    ['service not a string', '{"service":7}', /service must be/],
    ['service with slash', '{"service":"a/b"}', /service must be/],
    ['service starting with dash', '{"service":"-api"}', /service must be/],
    ['host not a string', '{"service":"api","host":1}', /host must be a string/],
    ['host null', '{"service":"api","host":null}', /host must be a string/],
    ['empty host', '{"service":"api","host":""}', /host must be/],
    ['host with port', '{"service":"api","host":"api.example.com:8080"}', /must not include a port/],
    ['bracketed IPv6 with port', '{"service":"api","host":"[::1]:80"}', /must not include a port/],
    ['bad brackets', '{"service":"api","host":"[example.com]"}', /not a valid IPv6/],
    ['wildcard in the middle', '{"service":"api","host":"api.*.example.com"}', /leading "\*\." label/],
    ['double wildcard', '{"service":"api","host":"*.*.example.com"}', /leading "\*\." label/],
    ['bare star', '{"service":"api","host":"*"}', /omit host to match any host/],
    ['star without dot', '{"service":"api","host":"*example.com"}', /leading "\*\." label/],
    ['wildcard over an IP', '{"service":"api","host":"*.10.0.0.1"}', /host must be/],
    ['underscore in host', '{"service":"api","host":"a_b.example.com"}', /host must be/],
    ['two trailing dots', '{"service":"api","host":"example.com.."}', /host must be/],
    ['label too long', `{"service":"api","host":"${'a'.repeat(64)}.com"}`, /host must be/],
    ['pathPrefix without /', '{"service":"api","pathPrefix":"api"}', /pathPrefix must be a string starting with \//],
    ['pathPrefix empty', '{"service":"api","pathPrefix":""}', /pathPrefix must be/],
    ['pathPrefix not a string', '{"service":"api","pathPrefix":["/a"]}', /pathPrefix must be/],
    ['pathPrefix with space', '{"service":"api","pathPrefix":"/a b"}', /whitespace/],
    ['pathPrefix with tab', '{"service":"api","pathPrefix":"/a\\tb"}', /whitespace/],
    ['pathPrefix with control char', '{"service":"api","pathPrefix":"/a\\u0000"}', /control/],
    ['pathPrefix with query', '{"service":"api","pathPrefix":"/a?b"}', /\? or #/],
    ['pathPrefix too long', `{"service":"api","pathPrefix":"/${'a'.repeat(1024)}"}`, /longer than 1024/],
    ['lb unknown', '{"service":"api","lb":"random"}', /lb must be one of round-robin, least-request/],
    ['lb not a string', '{"service":"api","lb":1}', /lb must be one of/],
    ['sticky as string', '{"service":"api","sticky":"true"}', /sticky must be a boolean/],
    ['huge value', JSON.stringify({ service: 'api', padding: 'x'.repeat(16 * 1024) }), /larger than 16384 bytes/],
  ])('%s', (_name, raw, error) => {
    const decoded = decodeRoute(KEY, raw);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toMatch(error);
  });

  it('measures the size in bytes, not characters', () => {
    const raw = JSON.stringify({ service: 'api', padding: 'é'.repeat(8200) }); // ~16.4 KB in UTF-8
    expect(raw.length).toBeLessThan(16 * 1024);
    expect(decodeRoute(KEY, raw)).toMatchObject({ ok: false, error: expect.stringMatching(/larger than/) });
  });
});

describe('parseRouteFlag', () => {
  it.each<[string, Pick<RouteRule, 'host' | 'pathPrefix' | 'service'>]>([
    ['api.example.com/v1=api', { host: 'api.example.com', pathPrefix: '/v1', service: 'api' }],
    ['API.example.com=api', { host: 'api.example.com', pathPrefix: '/', service: 'api' }],
    ['*.example.com=web', { host: '*.example.com', pathPrefix: '/', service: 'web' }],
    ['*.example.com/app/=web', { host: '*.example.com', pathPrefix: '/app/', service: 'web' }],
    ['/static=assets', { host: undefined, pathPrefix: '/static', service: 'assets' }],
    ['=web', { host: undefined, pathPrefix: '/', service: 'web' }],
    ['/=web', { host: undefined, pathPrefix: '/', service: 'web' }],
    ['  /x=web  ', { host: undefined, pathPrefix: '/x', service: 'web' }],
    ['/q=a=web', { host: undefined, pathPrefix: '/q=a', service: 'web' }],
    ['10.0.0.1/x=web', { host: '10.0.0.1', pathPrefix: '/x', service: 'web' }],
    ['[::1]/x=web', { host: '::1', pathPrefix: '/x', service: 'web' }],
  ])('%s', (raw, expected) => {
    expect(parseRouteFlag(raw)).toEqual({ ...expected, lb: undefined, sticky: false, source: 'flag' });
  });

  it.each<[string, RegExp]>([
    ['web', /expected <host><path>=<service>/],
    ['', /expected <host><path>=<service>/],
    ['/api=', /service must be/],
    ['/api=a/b', /service must be/],
    ['api.example.com:8080/v1=api', /must not include a port/],
    ['a.*.example.com=web', /leading "\*\." label/],
    ['bad_host=web', /host must be/],
    ['/a b=web', /whitespace/],
  ])('rejects %j', (raw, error) => {
    expect(() => parseRouteFlag(raw)).toThrow(error);
  });

  it('names the expected syntax and the input in its message', () => {
    expect(() => parseRouteFlag('bad_host=web')).toThrow(
      /"bad_host=web".*expected <host><path>=<service> such as api\.example\.com\/v1=api/,
    );
  });
});

describe('route keys', () => {
  it.each<[string, string, string, string | RegExp]>([
    ['simple name', '/routes', '/routes/api', 'api'],
    ['prefix with trailing slash', '/routes/', '/routes/api', 'api'],
    ['prefix without leading slash; name with slashes', 'routes', '/routes/team/a/api-v1', 'team/a/api-v1'],
    ['root prefix', '/', '/api', 'api'],
    ['512-character name', '/routes', `/routes/${'n'.repeat(512)}`, 'n'.repeat(512)],
    ['empty name', '/routes', '/routes/', /needs a name/],
    ['sibling prefix', '/routes', '/routesx/api', /outside the routes prefix/],
    ['entry key', '/routes', '/services/web/a', /outside the routes prefix/],
    ['space in name', '/routes', '/routes/a b', /whitespace/],
    ['control character in name', '/routes', '/routes/a\u0007', /control/],
    ['513-character name', '/routes', `/routes/${'n'.repeat(513)}`, /longer than 512/],
  ])('%s', (_name, prefix, key, expected) => {
    const parsed = parseRouteKey(prefix, key);
    if (typeof expected === 'string') expect(parsed).toEqual({ ok: true, value: expected });
    else expect(parsed).toMatchObject({ ok: false, error: expect.stringMatching(expected) });
  });

  it('routeKey and parseRouteKey agree', () => {
    const key = routeKey(DEFAULT_ROUTES_PREFIX, 'api-v1');
    expect(key).toBe('/routes/api-v1');
    expect(parseRouteKey(DEFAULT_ROUTES_PREFIX, key)).toEqual({ ok: true, value: 'api-v1' });
  });
});

describe('encodeRoute', () => {
  it.each([
    '{"service":"api"}',
    '{"host":"*.example.com","pathPrefix":"/v1","service":"api","lb":"least-request","sticky":true}',
  ])('round-trips %s canonically', (raw) => {
    const decoded = decodeRoute(KEY, raw);
    expect(decoded.ok && encodeRoute(decoded.value)).toBe(raw);
  });
});
