import { describe, expect, it } from 'vitest';
import { compileRewrite } from '../../../../../balancer/proxy/policy/path-rewrite.js';
import { compileRedirect, httpsLocation, locationPath } from '../../../../../balancer/proxy/policy/redirect.js';
import { decodeRoute } from '../../../../../common/route-spec.js';

function redirectOf(fields: object) {
  const d = decodeRoute('/routes/r', JSON.stringify({ host: 'old.test', ...fields }));
  if (!d.ok || d.value.policy?.redirect === undefined) throw new Error(d.ok ? 'no redirect' : d.error);
  const p = d.value.policy;
  return compileRedirect(p.redirect!, compileRewrite(p.stripPrefix, p.addPrefix));
}

describe('redirect Location', () => {
  it.each<[string, object, string, string]>([
    ['path and query appended', { to: 'https://new.example' }, '/a/b?x=1', 'https://new.example/a/b?x=1'],
    ['no double slash after a trailing one', { to: 'https://new.example/' }, '/a', 'https://new.example/a'],
    ['onto a base path', { to: 'https://new.example/base' }, '/a?q', 'https://new.example/base/a?q'],
    ['onto a base path ending in /', { to: 'https://new.example/base/' }, '/a', 'https://new.example/base/a'],
    ['root request', { to: 'https://new.example/base' }, '/', 'https://new.example/base/'],
    ['OPTIONS *', { to: 'https://new.example' }, '*', 'https://new.example/'],
    [
      'keepPath false: to as is',
      { to: 'https://new.example/x?y=1', keepPath: false },
      '/a?b',
      'https://new.example/x?y=1',
    ],
    ['port and http kept', { to: 'http://new.example:8080' }, '/a', 'http://new.example:8080/a'],
    ['odd bytes escaped', { to: 'https://n.test' }, '/caf\u00e9 x', 'https://n.test/caf%E9%20x'],
  ])('%s', (_name, redirect, target, location) => {
    expect(redirectOf({ redirect })(target)).toBe(location);
  });

  it('uses the rewritten path when the route also strips or adds a prefix', () => {
    const loc = redirectOf({
      pathPrefix: '/old',
      stripPrefix: true,
      addPrefix: '/new',
      redirect: { to: 'https://n.test' },
    });
    expect(loc('/old/page?x=1')).toBe('https://n.test/new/page?x=1');
    expect(loc('/old')).toBe('https://n.test/new/');
  });

  it('locationPath', () => {
    expect(locationPath('')).toBe('/');
    expect(locationPath('/ok/~path?a=b&c=%20')).toBe('/ok/~path?a=b&c=%20');
    expect(locationPath('/a\u0001b')).toBe('/a%01b');
    expect(locationPath('/\u{1f600}')).toBe('/%F0%9F%98%80');
    expect(locationPath('/\ud800x')).toBe('/%EF%BF%BDx');
  });
});

describe('httpsLocation', () => {
  it.each<[string, string, number | undefined, string]>([
    ['example.com', '/a?b', undefined, 'https://example.com/a?b'],
    ['example.com:80', '/a', undefined, 'https://example.com/a'],
    ['example.com:8080', '/a', 8443, 'https://example.com:8443/a'],
    ['[::1]:80', '/', undefined, 'https://[::1]/'],
    ['10.0.0.1:80', '*', 443, 'https://10.0.0.1/'],
  ])('%s %s (port %s) → %s', (host, target, port, expected) => {
    expect(httpsLocation(host, target, port)).toBe(expected);
  });
});
