// The optional policy fields of a route value, through the one public path (decodeRoute): each
// field valid and invalid, all errors reported, a bad field rejecting the whole route.
import { describe, expect, it } from 'vitest';
import { decodeRoute, encodeRoute, parseRouteFlag } from '../../../common/route-spec.js';
import type { RoutePolicy } from '../../../common/route-policy.js';

const KEY = '/routes/p';
const base = { host: 'p.test', pathPrefix: '/api', service: 'web' };

function policyOf(fields: object): RoutePolicy | undefined {
  const d = decodeRoute(KEY, JSON.stringify({ ...base, ...fields }));
  if (!d.ok) throw new Error(d.error);
  return d.value.policy;
}

function errorOf(fields: object, over: object = base): string {
  const d = decodeRoute(KEY, JSON.stringify({ ...over, ...fields }));
  if (d.ok) throw new Error(`accepted ${JSON.stringify(fields)}`);
  return d.error;
}

describe('policy fields: accepted', () => {
  it.each<[string, object, Partial<RoutePolicy>]>([
    ['stripPrefix true → the pathPrefix', { stripPrefix: true }, { stripPrefix: '/api' }],
    ['stripPrefix string, shorter', { pathPrefix: '/api/v1', stripPrefix: '/api' }, { stripPrefix: '/api' }],
    ['stripPrefix string, longer', { stripPrefix: '/api/v1' }, { stripPrefix: '/api/v1' }],
    ['stripPrefix under pathPrefix /', { pathPrefix: '/', stripPrefix: '/x' }, { stripPrefix: '/x' }],
    ['addPrefix', { addPrefix: '/v2' }, { addPrefix: '/v2', stripPrefix: undefined }],
    [
      'requestHeaders set and remove, names lowercased',
      { requestHeaders: { set: { 'X-Env': 'prod', 'X-Empty': '' }, remove: ['Cookie'] } },
      {
        requestHeaders: {
          set: [
            ['x-env', 'prod'],
            ['x-empty', ''],
          ],
          remove: ['cookie'],
        },
      },
    ],
    [
      'responseHeaders remove only',
      { responseHeaders: { remove: ['Server'] } },
      { responseHeaders: { set: [], remove: ['server'] } },
    ],
    ['header value with tab and obs-text', { requestHeaders: { set: { 'x-a': 'a\tb é' } } }, {}],
    ['set-cookie may be set on responses', { responseHeaders: { set: { 'Set-Cookie': 'a=1' } } }, {}],
    [
      'redirect: defaults code 308, keepPath true; URL normalised',
      { redirect: { to: 'https://New.Example' } },
      { redirect: { to: 'https://new.example/', code: 308, keepPath: true } },
    ],
    [
      'redirect 301 without path, query allowed then',
      { redirect: { to: 'http://x.test/a?b=1', code: 301, keepPath: false } },
      { redirect: { to: 'http://x.test/a?b=1', code: 301, keepPath: false } },
    ],
    [
      'redirect codes 302 and 307',
      { redirect: { to: 'https://x.test', code: 307 } },
      { redirect: { to: 'https://x.test/', code: 307, keepPath: true } },
    ],
    ['httpsRedirect', { httpsRedirect: true }, { httpsRedirect: true }],
    ['timeout', { timeout: '5s' }, { timeoutMs: 5000 }],
    ['timeout in ms', { timeout: '250ms' }, { timeoutMs: 250 }],
    ['retries 0', { retries: 0 }, { retries: 0 }],
    ['retries 10', { retries: 10 }, { retries: 10 }],
    ['maxBodyBytes 0', { maxBodyBytes: 0 }, { maxBodyBytes: 0 }],
    ['maxBodyBytes 1 MB', { maxBodyBytes: 1048576 }, { maxBodyBytes: 1048576 }],
    [
      'rateLimit defaults: burst = ceil(average), period 1s',
      { rateLimit: { average: 2.5 } },
      { rateLimit: { average: 2.5, burst: 3, periodMs: 1000 } },
    ],
    [
      'rateLimit, all given',
      { rateLimit: { average: 100, burst: 20, period: '1m' } },
      { rateLimit: { average: 100, burst: 20, periodMs: 60000 } },
    ],
    [
      'rateLimit below 1 per period: burst 1',
      { rateLimit: { average: 0.5 } },
      { rateLimit: { average: 0.5, burst: 1, periodMs: 1000 } },
    ],
    [
      'allow: CIDRs and addresses, IPv4 and IPv6, canonical',
      { allow: ['10.1.2.3/8', '192.168.0.1', 'FD00::/8', '::ffff:10.0.0.0/104'] },
      {},
    ],
    ['deny', { deny: ['0.0.0.0/0', '::/0'] }, {}],
    [
      'services replaces service; weights, one of them 0',
      {
        service: undefined,
        services: [
          { name: 'web', weight: 90 },
          { name: 'web-canary', weight: 10 },
          { name: 'old', weight: 0 },
        ],
      },
      {
        services: [
          { name: 'web', weight: 90 },
          { name: 'web-canary', weight: 10 },
          { name: 'old', weight: 0 },
        ],
      },
    ],
  ])('%s', (_name, fields, expected) => {
    const policy = policyOf(fields);
    expect(policy).toBeDefined();
    expect(policy).toMatchObject(expected);
    expect(Object.isFrozen(policy)).toBe(true);
  });

  it('CIDRs are kept in canonical form, single addresses as /32 and /128', () => {
    const p = policyOf({ allow: ['10.1.2.3/8', '192.168.0.1', 'FD00::1', '::ffff:10.0.0.0/104'] });
    expect(p?.allow?.map((b) => b.text)).toEqual(['10.0.0.0/8', '192.168.0.1/32', 'fd00::1/128', '10.0.0.0/8']);
  });

  it('no policy field → policy undefined (httpsRedirect false is the default)', () => {
    expect(policyOf({})).toBeUndefined();
    expect(policyOf({ httpsRedirect: false, sticky: true, lb: 'least-request' })).toBeUndefined();
  });

  it('a split route serves its first service with weight > 0; a redirect-only route needs no service', () => {
    const split = decodeRoute(KEY, '{"services":[{"name":"off","weight":0},{"name":"web","weight":1}]}');
    expect(split).toMatchObject({ ok: true, value: { service: 'web' } });
    const redirect = decodeRoute(KEY, '{"host":"old.test","redirect":{"to":"https://new.test"}}');
    expect(redirect).toMatchObject({ ok: true, value: { service: '', policy: { redirect: { code: 308 } } } });
  });

  it('unknown top-level fields stay ignored next to policies', () => {
    expect(policyOf({ stripPrefix: true, middlewares: ['x'], priority: 3 })).toMatchObject({ stripPrefix: '/api' });
  });
});

describe('policy fields: rejected (the whole route)', () => {
  it.each<[string, object, RegExp]>([
    ['stripPrefix false', { stripPrefix: false }, /stripPrefix must be true or a path prefix/],
    ['stripPrefix number', { stripPrefix: 1 }, /stripPrefix must be true or a path prefix/],
    ['stripPrefix without /', { stripPrefix: 'api' }, /stripPrefix must be a string starting with \//],
    ['stripPrefix with query', { stripPrefix: '/api?x' }, /stripPrefix must not contain \? or #/],
    ['stripPrefix unrelated to pathPrefix', { stripPrefix: '/web' }, /can never match a path under pathPrefix/],
    ['stripPrefix inside a segment', { stripPrefix: '/ap' }, /can never match/],
    ['addPrefix without /', { addPrefix: 'v2' }, /addPrefix must be a string starting with \//],
    ['addPrefix with space', { addPrefix: '/v 2' }, /addPrefix must not contain whitespace/],
    ['addPrefix true', { addPrefix: true }, /addPrefix must be a string/],
    ['requestHeaders not an object', { requestHeaders: ['x'] }, /requestHeaders must be an object/],
    ['requestHeaders unknown key', { requestHeaders: { add: { a: 'b' } } }, /unknown key "add"/],
    ['set not an object', { requestHeaders: { set: [['a', 'b']] } }, /requestHeaders.set must be an object/],
    ['remove not an array', { responseHeaders: { remove: 'server' } }, /responseHeaders.remove must be an array/],
    ['name not a token', { requestHeaders: { set: { 'x a': 'b' } } }, /must be an HTTP token/],
    ['name with colon', { requestHeaders: { remove: ['x:a'] } }, /must be an HTTP token/],
    ['empty name', { requestHeaders: { remove: [''] } }, /must be an HTTP token/],
    ['name too long', { requestHeaders: { remove: ['x'.repeat(129)] } }, /must be an HTTP token of 1 to 128/],
    ['name not a string', { requestHeaders: { remove: [7] } }, /must be an HTTP token/],
    ['__proto__', { requestHeaders: { remove: ['__proto__'] } }, /__proto__ is not supported/],
    ['value with CR LF', { requestHeaders: { set: { 'x-a': 'a\r\nInjected: 1' } } }, /without CR, LF, NUL/],
    ['value with NUL', { responseHeaders: { set: { 'x-a': 'a\u0000' } } }, /without CR, LF, NUL/],
    ['value with another control char', { responseHeaders: { set: { 'x-a': 'a\u0007' } } }, /control characters/],
    ['value above U+00FF', { responseHeaders: { set: { 'x-a': '😀' } } }, /control characters/],
    ['value not a string', { requestHeaders: { set: { 'x-a': 1 } } }, /must be a string/],
    ['value too long', { requestHeaders: { set: { 'x-a': 'v'.repeat(4097) } } }, /at most 4096/],
    ['name twice (case-insensitive)', { requestHeaders: { set: { 'X-A': '1', 'x-a': '2' } } }, /named more than once/],
    ['name set and removed', { requestHeaders: { set: { 'x-a': '1' }, remove: ['X-A'] } }, /named more than once/],
    [
      '33 headers set',
      { requestHeaders: { set: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`x-${i}`, 'v'])) } },
      /more than 32/,
    ],
    [
      '33 headers removed',
      { responseHeaders: { remove: Array.from({ length: 33 }, (_, i) => `x-${i}`) } },
      /more than 32/,
    ],
    ...(
      [
        'Connection',
        'Keep-Alive',
        'Proxy-Connection',
        'TE',
        'Trailer',
        'Transfer-Encoding',
        'Upgrade',
        'X-Forwarded-For',
        'X-Forwarded-Proto',
        'x-forwarded-anything',
        'Forwarded',
        'X-Real-IP',
        'X-Request-Id',
        'Host',
        'Content-Length',
      ] as const
    ).flatMap((h): [string, object, RegExp][] => [
      [`set ${h}`, { requestHeaders: { set: { [h]: 'x' } } }, /hop-by-hop or set by the proxy/],
      [`remove ${h} from responses`, { responseHeaders: { remove: [h] } }, /hop-by-hop or set by the proxy/],
    ]),
    ['redirect not an object', { redirect: 'https://x.test' }, /redirect must be \{"to"/],
    ['redirect without to', { redirect: { code: 301 } }, /redirect.to must be an absolute http/],
    ['redirect to ftp', { redirect: { to: 'ftp://x.test/' } }, /redirect.to must be an absolute http/],
    ['redirect to javascript:', { redirect: { to: 'javascript:alert(1)' } }, /absolute http/],
    ['redirect to a relative path', { redirect: { to: '/elsewhere' } }, /absolute http/],
    ['redirect to scheme-relative', { redirect: { to: '//x.test/' } }, /absolute http/],
    ['redirect to https: without slashes', { redirect: { to: 'https:x.test' } }, /absolute http/],
    ['redirect with space', { redirect: { to: 'https://x.test/a b' } }, /absolute http/],
    ['redirect bad URL', { redirect: { to: 'https://[::1/' } }, /not a valid URL/],
    ['redirect with credentials', { redirect: { to: 'https://u:p@x.test/' } }, /credentials/],
    ['redirect with fragment', { redirect: { to: 'https://x.test/#a' } }, /fragment/],
    ['redirect query with keepPath', { redirect: { to: 'https://x.test/?a=1' } }, /query when keepPath/],
    ['redirect too long', { redirect: { to: `https://x.test/${'a'.repeat(2048)}` } }, /at most 2048/],
    ['redirect code 303', { redirect: { to: 'https://x.test', code: 303 } }, /301, 302, 307 or 308/],
    ['redirect code as string', { redirect: { to: 'https://x.test', code: '301' } }, /301, 302, 307 or 308/],
    ['redirect keepPath string', { redirect: { to: 'https://x.test', keepPath: 'no' } }, /keepPath must be a boolean/],
    ['redirect unknown key', { redirect: { to: 'https://x.test', status: 301 } }, /unknown key "status"/],
    ['httpsRedirect string', { httpsRedirect: 'yes' }, /httpsRedirect must be a boolean/],
    ['timeout number', { timeout: 5 }, /timeout must be a duration string/],
    ['timeout garbage', { timeout: 'soon' }, /timeout must be a duration from 10ms/],
    ['timeout negative', { timeout: '-1s' }, /timeout must be a duration/],
    ['timeout too short', { timeout: '1ms' }, /from 10ms to 3600000ms/],
    ['timeout too long', { timeout: '2h' }, /from 10ms to 3600000ms/],
    ['retries negative', { retries: -1 }, /retries must be an integer from 0 to 10/],
    ['retries fractional', { retries: 1.5 }, /retries must be an integer/],
    ['retries too many', { retries: 11 }, /retries must be an integer/],
    ['retries string', { retries: '2' }, /retries must be an integer/],
    ['maxBodyBytes negative', { maxBodyBytes: -1 }, /maxBodyBytes must be an integer of at least 0/],
    ['maxBodyBytes fractional', { maxBodyBytes: 0.5 }, /maxBodyBytes must be an integer/],
    ['maxBodyBytes huge', { maxBodyBytes: 1e300 }, /maxBodyBytes must be an integer/],
    ['maxBodyBytes string', { maxBodyBytes: '1mb' }, /maxBodyBytes must be an integer/],
    ['rateLimit not an object', { rateLimit: 10 }, /rateLimit must be \{"average"/],
    ['rateLimit without average', { rateLimit: { burst: 1 } }, /rateLimit.average must be a number above 0/],
    ['rateLimit average 0', { rateLimit: { average: 0 } }, /rateLimit.average must be a number above 0/],
    ['rateLimit average negative', { rateLimit: { average: -5 } }, /rateLimit.average/],
    ['rateLimit burst 0', { rateLimit: { average: 1, burst: 0 } }, /rateLimit.burst must be an integer from 1/],
    ['rateLimit burst fractional', { rateLimit: { average: 1, burst: 1.5 } }, /rateLimit.burst/],
    [
      'rateLimit period number',
      { rateLimit: { average: 1, period: 1000 } },
      /rateLimit.period must be a duration string/,
    ],
    ['rateLimit period 0', { rateLimit: { average: 1, period: '0s' } }, /rateLimit.period must be a duration from 1ms/],
    ['rateLimit period 2 days', { rateLimit: { average: 1, period: '48h' } }, /rateLimit.period/],
    ['rateLimit unknown key', { rateLimit: { average: 1, perClient: true } }, /unknown key "perClient"/],
    ['allow not a list', { allow: '10.0.0.0/8' }, /allow must be a list of 1 to 256/],
    ['allow empty', { allow: [] }, /allow must be a list of 1 to 256/],
    ['deny too long', { deny: Array.from({ length: 257 }, () => '10.0.0.1') }, /deny must be a list of 1 to 256/],
    ['allow garbage', { allow: ['10.0.0.0/33'] }, /allow: expected CIDR such as 10.0.0.0\/8, got "10.0.0.0\/33"/],
    ['allow hostname', { allow: ['example.com'] }, /allow: expected CIDR/],
    ['allow with spaces', { allow: [' 10.0.0.0/8'] }, /allow: expected CIDR/],
    ['allow number', { allow: [10] }, /allow: expected CIDR/],
    ['allow zone id', { allow: ['fe80::1%eth0'] }, /allow: expected CIDR/],
    ['deny IPv6 prefix > 128', { deny: ['::/129'] }, /deny: expected CIDR/],
    ['services and service', { services: [{ name: 'a', weight: 1 }] }, /service or services, not both/],
    ['services empty', { service: undefined, services: [] }, /services must be a list of 1 to 16/],
    ['services not a list', { service: undefined, services: { a: 1 } }, /services must be a list/],
    [
      '17 services',
      { service: undefined, services: Array.from({ length: 17 }, (_, i) => ({ name: `s${i}`, weight: 1 })) },
      /list of 1 to 16/,
    ],
    [
      'services all weight 0',
      { service: undefined, services: [{ name: 'a', weight: 0 }] },
      /at least one service with weight above 0/,
    ],
    [
      'services weight negative',
      { service: undefined, services: [{ name: 'a', weight: -1 }] },
      /weight must be an integer from 0/,
    ],
    [
      'services weight fractional',
      { service: undefined, services: [{ name: 'a', weight: 0.5 }] },
      /weight must be an integer/,
    ],
    ['services weight missing', { service: undefined, services: [{ name: 'a' }] }, /weight must be an integer/],
    [
      'services bad name',
      { service: undefined, services: [{ name: 'a/b', weight: 1 }] },
      /services\[0\].name must be a service name/,
    ],
    [
      'services name twice',
      {
        service: undefined,
        services: [
          { name: 'a', weight: 1 },
          { name: 'a', weight: 2 },
        ],
      },
      /listed twice/,
    ],
    ['services item not an object', { service: undefined, services: ['a'] }, /services\[0\] must be/],
    [
      'services item unknown key',
      { service: undefined, services: [{ name: 'a', weight: 1, tag: 'x' }] },
      /unknown key "tag"/,
    ],
  ])('%s', (_name, fields, error) => {
    expect(errorOf(fields)).toMatch(error);
  });

  it('neither service nor services nor redirect', () => {
    expect(errorOf({}, { host: 'p.test', stripPrefix: true })).toMatch(/service must be a service name/);
  });

  it('reports every problem at once, not only the first', () => {
    const error = errorOf({ timeout: 'x', retries: -1, allow: ['nope'], redirect: { to: 'ftp://x' }, lb: 'random' });
    for (const part of [/timeout/, /retries/, /allow/, /redirect.to/, /lb must be/]) expect(error).toMatch(part);
  });

  it('caps the message at 8 problems', () => {
    const set = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`bad name ${i}`, 'v']));
    const error = errorOf({ requestHeaders: { set } });
    expect(error.split('; ')).toHaveLength(9);
    expect(error).toMatch(/and 12 more$/);
  });
});

describe('encodeRoute with policies', () => {
  it.each([
    '{"host":"p.test","pathPrefix":"/api","service":"web","stripPrefix":true,"addPrefix":"/v2"}',
    '{"pathPrefix":"/api/v1","service":"web","stripPrefix":"/api"}',
    '{"service":"web","requestHeaders":{"set":{"x-env":"prod"},"remove":["cookie"]}}',
    '{"service":"web","responseHeaders":{"set":{"strict-transport-security":"max-age=60"},"remove":["server"]}}',
    '{"host":"old.test","redirect":{"to":"https://new.test/"}}',
    '{"host":"old.test","redirect":{"to":"https://new.test/x?a=1","code":301,"keepPath":false}}',
    '{"service":"web","httpsRedirect":true,"timeout":"5s","retries":0,"maxBodyBytes":1024}',
    '{"service":"web","timeout":"1500ms","rateLimit":{"average":10,"burst":20,"period":"1m"}}',
    '{"service":"web","rateLimit":{"average":5,"burst":5}}',
    '{"service":"web","allow":["10.0.0.0/8","fd00::/8"],"deny":["10.1.2.3/32"]}',
    '{"host":"web.test","services":[{"name":"web","weight":90},{"name":"web-canary","weight":10}],"sticky":true}',
  ])('round-trips %s canonically', (raw) => {
    const decoded = decodeRoute(KEY, raw);
    if (!decoded.ok) throw new Error(decoded.error);
    expect(encodeRoute(decoded.value)).toBe(raw);
  });

  it('encodes what it decoded to an equal rule', () => {
    const raw = {
      services: [{ name: 'a', weight: 1 }],
      stripPrefix: true,
      pathPrefix: '/x',
      rateLimit: { average: 3 },
    };
    const first = decodeRoute(KEY, JSON.stringify(raw));
    if (!first.ok) throw new Error(first.error);
    const again = decodeRoute(KEY, encodeRoute(first.value));
    expect(again).toEqual(first);
  });
});

describe('parseRouteFlag: a JSON object', () => {
  it('takes the same fields as a route value, host/pathPrefix/service included', () => {
    const rule = parseRouteFlag(' {"host":"API.test","pathPrefix":"/api","service":"api","stripPrefix":true} ');
    expect(rule).toMatchObject({ host: 'api.test', pathPrefix: '/api', service: 'api', source: 'flag' });
    expect(rule.policy).toMatchObject({ stripPrefix: '/api' });
  });

  it('a split from a flag', () => {
    const rule = parseRouteFlag('{"services":[{"name":"a","weight":1},{"name":"b","weight":3}]}');
    expect(rule).toMatchObject({ service: 'a', policy: { services: [{ name: 'a' }, { name: 'b' }] } });
  });

  it.each<[string, RegExp]>([
    ['{"service":"api"', /not valid JSON in --route/],
    ['{"service":"api","retries":-1}', /retries must be an integer.* in --route/],
    ['{"host":"a.test"}', /service must be/],
  ])('rejects %s', (raw, error) => {
    expect(() => parseRouteFlag(raw)).toThrow(error);
  });
});
