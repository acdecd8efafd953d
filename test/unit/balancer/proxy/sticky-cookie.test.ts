import { describe, expect, it } from 'vitest';
import { STICKY_COOKIE, StickyCookies } from '../../../../balancer/proxy/sticky-cookie.js';
import type { ServiceView } from '../../../../balancer/types.js';
import { backendFor } from '../../../helpers/backends.js';

const view: ServiceView = { name: 'web', backends: [backendFor('n1:web-1:80', 1), backendFor('n2:web-2:80', 2)] };
const [b1, b2] = view.backends as [ServiceView['backends'][0], ServiceView['backends'][0]];
const cookieOf = (setCookie: string): string => setCookie.split(';')[0]!;

describe('StickyCookies', () => {
  it('issues an opaque 22-character token that names no part of the backend id', () => {
    const s = new StickyCookies('k');
    const set = s.setCookie(b1.id);
    expect(set).toMatch(/^lb_sticky=[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/);
    for (const part of ['n1', 'web-1', ':80', encodeURIComponent(b1.id)]) expect(cookieOf(set)).not.toContain(part);
    expect(s.token(b1.id)).not.toBe(s.token(b2.id));
  });

  it('maps its own tokens back to the backend, and those of another instance with the same key', () => {
    const issuer = new StickyCookies('shared');
    const reader = new StickyCookies('shared');
    const header = `a=1; ${cookieOf(issuer.setCookie(b2.id))}; z=2`;
    expect(issuer.preferred(header, view)).toBe(b2.id);
    expect(reader.preferred(header, view)).toBe(b2.id); // computed from the view: nothing cached yet
    expect(reader.preferred(header, view)).toBe(b2.id); // and again from the cache
  });

  it.each([
    ['a token under another key', `${STICKY_COOKIE}=${new StickyCookies('other').token('web/n1:web-1:80')}`],
    ['the plain backend id', `${STICKY_COOKIE}=${encodeURIComponent('web/n1:web-1:80')}`],
    ['a made-up token', `${STICKY_COOKIE}=${'A'.repeat(22)}`],
    ['a token of the wrong length', `${STICKY_COOKIE}=abc`],
    ['no cookie', undefined],
    ['an empty value', `${STICKY_COOKIE}=`],
  ])('ignores %s', (_what, header) => {
    expect(new StickyCookies('k').preferred(header, view)).toBeUndefined();
  });

  it('does not name a backend that left the view, nor answer without a view', () => {
    const s = new StickyCookies('k');
    const header = cookieOf(s.setCookie('web/gone:web-9:80'));
    expect(s.preferred(header, view)).toBe('web/gone:web-9:80'); // cached: the picker skips ids not in the view
    expect(new StickyCookies('k').preferred(header, view)).toBeUndefined();
    expect(s.preferred(cookieOf(s.setCookie(b1.id)), undefined)).toBeUndefined();
  });

  it('keys are random per instance when no secret is given', () => {
    expect(new StickyCookies().token(b1.id)).not.toBe(new StickyCookies().token(b1.id));
  });
});
