import { createRequire } from 'node:module';
import { parse } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { HeaderBag } from '../../../../balancer/proxy/forwarded.js';
import {
  applyEmptyBodyLength,
  isPlainPath,
  isProxyableTarget,
  proxyablePath,
  joinPath,
  upstreamPath,
} from '../../../../balancer/proxy/outgoing.js';
import { prng } from '../../../helpers/prng.js';

// The reference: what http-proxy 1.18.1 computed (setupOutgoing with prependPath false, toProxy false).
const require = createRequire(import.meta.url);
const common = require('http-proxy/lib/http-proxy/common.js') as { urlJoin(...parts: string[]): string };
const httpProxyPath = (url: string): string => common.urlJoin('', parse(url).path ?? '');
/** The result, or the error code when the legacy parser throws (it does for e.g. `http://[`). */
const outcome = (f: (url: string) => string, url: string): string => {
  try {
    return f(url);
  } catch (err) {
    return `throws ${(err as NodeJS.ErrnoException).code}`;
  }
};

const ALPHABET = [
  '/',
  '/',
  '/',
  'a',
  'b',
  'Z',
  '0',
  '?',
  '?',
  '&',
  '=',
  '%',
  '%2F',
  ':',
  'http:',
  'https:',
  '.',
  '..',
  '-',
  '_',
  '~',
  ';',
  '+',
  ',',
  '@',
  '!',
  '$',
  '*',
  '(',
  ')',
  '[',
  ']',
  '#',
  '"',
  "'",
  '<',
  '>',
  '\\',
  '^',
  '`',
  '{',
  '|',
  '}',
  ' ',
  '\t',
  'é',
  '\u00ff',
  '\u2603',
];

describe('upstreamPath', () => {
  it.each([
    '/',
    '/a/b?c=d',
    '/a?b?c',
    '/a?',
    '//a//b',
    '/a//b?x=//y',
    '/http:/x',
    '/r/http://x',
    '/https:/x',
    '/a#frag',
    '/a?b#c',
    '/a b',
    '/a"b',
    "/a'b",
    '/a{b}',
    '/a|b',
    '/a\\b',
    '/a^b',
    '/a`b',
    '/a<b>',
    '/%7B',
    '/é',
    '*',
    'http://h/a//b?c',
    'http://h',
    '',
    '/a:/b',
    'http://[',
  ])('%j matches http-proxy', (url) => {
    expect(outcome(upstreamPath, url)).toBe(outcome(httpProxyPath, url));
  });

  it('matches http-proxy on 20,000 random request targets', () => {
    const next = prng(42);
    for (let n = 0; n < 20_000; n++) {
      let url = next() < 0.9 ? '/' : '';
      const len = Math.floor(next() * 12);
      for (let i = 0; i < len; i++) url += ALPHABET[Math.floor(next() * ALPHABET.length)];
      expect(outcome(upstreamPath, url), JSON.stringify(url)).toBe(outcome(httpProxyPath, url));
    }
  });

  it('takes the fast path only for targets the legacy parser leaves as they are', () => {
    expect(isPlainPath('/api/v1/items?id=3&x=%2F')).toBe(true);
    for (const url of ['api', '//a', '/a//b', '/a#b', '/a b', '/http:/x', '/é', '/a?x=//y'])
      expect(isPlainPath(url), url).toBe(false);
  });

  it('joinPath leaves the query alone', () => {
    expect(joinPath('//a//b?x=//y?z')).toBe('/a/b?x=//y?z');
    expect(joinPath('')).toBe('');
  });
});

describe('applyEmptyBodyLength', () => {
  it.each<[string, HeaderBag, HeaderBag]>([
    ['DELETE', {}, { 'content-length': '0' }],
    ['OPTIONS', { 'transfer-encoding': 'chunked' }, { 'content-length': '0' }],
    ['DELETE', { 'content-length': '5' }, { 'content-length': '5' }],
    ['DELETE', { 'content-length': '' }, { 'content-length': '0' }],
    ['GET', {}, {}],
    ['POST', { 'transfer-encoding': 'chunked' }, { 'transfer-encoding': 'chunked' }],
  ])('%s %j → %j', (method, headers, out) => {
    applyEmptyBodyLength(method, headers);
    expect(headers).toEqual(out);
  });
});

describe('isProxyableTarget', () => {
  it.each([
    ['/', true],
    ['/a/b?c=d', true],
    ['http://x.test/a', true],
    ['//a', true],
    ['*', true],
    ['http://[', false],
    ['http://[/ws', false],
    ['https://[::1/x', false],
  ] as const)('%s → %s', (url, ok) => {
    expect(isProxyableTarget(url)).toBe(ok);
    expect(proxyablePath(url)).toBe(ok ? upstreamPath(url) : undefined);
    if (ok) expect(() => upstreamPath(url)).not.toThrow();
  });
});
