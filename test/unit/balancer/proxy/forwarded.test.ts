import { describe, expect, it } from 'vitest';
import {
  applyForwarded,
  describeTarget,
  ensureRequestId,
  forwardResponseHeaders,
  type HeaderBag,
  normalizePeer,
  readCookie,
  requestTarget,
  saneRequestId,
  stripHopByHop,
} from '../../../../balancer/proxy/forwarded.js';

describe('stripHopByHop', () => {
  const cases: Array<{ name: string; dir: 'request' | 'response'; upgrade?: boolean; in: HeaderBag; out: HeaderBag }> =
    [
      {
        name: 'request: the fixed list goes, end-to-end headers stay, Transfer-Encoding kept for framing',
        dir: 'request',
        in: {
          host: 'a',
          connection: 'keep-alive',
          'keep-alive': 'timeout=5',
          'proxy-authorization': 'Basic x',
          'proxy-authenticate': 'x',
          'proxy-connection': 'keep-alive',
          te: 'trailers',
          trailer: 'x-sum',
          upgrade: 'h2c',
          'transfer-encoding': 'chunked',
          accept: '*/*',
        },
        out: { host: 'a', 'transfer-encoding': 'chunked', accept: '*/*' },
      },
      {
        name: 'response: Transfer-Encoding goes too (Node re-frames)',
        dir: 'response',
        in: {
          'content-type': 'text/plain',
          'transfer-encoding': 'chunked',
          connection: 'close',
          'keep-alive': 'timeout=5',
        },
        out: { 'content-type': 'text/plain' },
      },
      {
        name: 'headers named in Connection go (any case, any spacing)',
        dir: 'request',
        in: { connection: 'close, X-Secret ,x-other', 'x-secret': '1', 'x-other': '2', 'x-keep': '3' },
        out: { 'x-keep': '3' },
      },
      {
        name: 'Connection cannot remove framing or routing headers',
        dir: 'request',
        in: { connection: 'content-length, host, transfer-encoding', 'content-length': '5', host: 'h' },
        out: { 'content-length': '5', host: 'h' },
      },
      {
        name: 'websocket upgrade keeps Upgrade and sends Connection: upgrade',
        dir: 'request',
        upgrade: true,
        in: {
          connection: 'keep-alive, Upgrade, x-hop',
          upgrade: 'websocket',
          'x-hop': '1',
          'sec-websocket-key': 'k',
          te: 'x',
        },
        out: { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k' },
      },
      { name: 'nothing to strip', dir: 'request', in: { a: '1' }, out: { a: '1' } },
    ];
  it.each(cases)('$name', (c) => {
    const h = { ...c.in };
    stripHopByHop(h, { direction: c.dir, upgrade: c.upgrade ?? false });
    expect(h).toEqual(c.out);
  });
});

describe('applyForwarded', () => {
  const cases: Array<{ name: string; trusted: boolean; proto?: 'http' | 'https'; in: HeaderBag; out: HeaderBag }> = [
    {
      name: 'untrusted peer: client values replaced, Forwarded and X-Real-IP dropped',
      trusted: false,
      in: {
        host: 'example.com',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.com',
        forwarded: 'for=6.6.6.6',
        'x-real-ip': '6.6.6.6',
      },
      out: {
        host: 'example.com',
        'x-forwarded-for': '10.0.0.9',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'example.com',
      },
    },
    {
      name: 'trusted peer: XFF appended, proto and host kept, Forwarded and X-Real-IP kept',
      trusted: true,
      in: {
        host: 'internal:8080',
        'x-forwarded-for': '1.1.1.1, 2.2.2.2',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'example.com',
        forwarded: 'for=1.1.1.1',
        'x-real-ip': '1.1.1.1',
      },
      out: {
        host: 'internal:8080',
        'x-forwarded-for': '1.1.1.1, 2.2.2.2, 10.0.0.9',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'example.com',
        forwarded: 'for=1.1.1.1',
        'x-real-ip': '1.1.1.1',
      },
    },
    {
      name: 'trusted peer without client values: derived from the connection',
      trusted: true,
      proto: 'https',
      in: { host: 'example.com' },
      out: {
        host: 'example.com',
        'x-forwarded-for': '10.0.0.9',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'example.com',
      },
    },
    {
      name: 'trusted peer, empty client values count as absent; duplicate XFF lines joined',
      trusted: true,
      in: { host: 'h', 'x-forwarded-for': ['1.1.1.1', '2.2.2.2'], 'x-forwarded-proto': ' ' },
      out: {
        host: 'h',
        'x-forwarded-for': '1.1.1.1, 2.2.2.2, 10.0.0.9',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'h',
      },
    },
    {
      name: 'no Host header (HTTP/1.0): no X-Forwarded-Host, a spoofed one removed',
      trusted: false,
      in: { 'x-forwarded-host': 'evil.com' },
      out: { 'x-forwarded-for': '10.0.0.9', 'x-forwarded-proto': 'http' },
    },
  ];
  it.each(cases)('$name', (c) => {
    const h = { ...c.in };
    applyForwarded(h, { peer: '10.0.0.9', trusted: c.trusted, proto: c.proto ?? 'http' });
    expect(h).toEqual(c.out);
  });
});

describe('normalizePeer', () => {
  it.each([
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['::ffff:abcd', '::ffff:abcd'],
    [undefined, 'unknown'],
    ['', 'unknown'],
  ])('%s → %s', (input, expected) => {
    expect(normalizePeer(input)).toBe(expected);
  });
});

describe('request ids', () => {
  it.each([
    ['abc-123', 'abc-123'],
    ['0f8fad5b-d9cb-469f-a165-70867728950e', '0f8fad5b-d9cb-469f-a165-70867728950e'],
    ['x'.repeat(200), 'x'.repeat(200)],
    ['x'.repeat(201), undefined],
    ['', undefined],
    ['has space', undefined],
    ['tab\there', undefined],
    ['new\nline', undefined],
    ['ünïcode', undefined],
    [['a', 'b'], undefined],
    [undefined, undefined],
  ] as const)('saneRequestId(%j) = %j', (input, expected) => {
    expect(saneRequestId(input as string | string[] | undefined)).toBe(expected);
  });

  it('keeps a sane id, replaces an insane one, creates a missing one, and sets the header', () => {
    const gen = (): string => 'generated';
    const a: HeaderBag = { 'x-request-id': 'client-1' };
    expect(ensureRequestId(a, gen)).toBe('client-1');
    expect(a['x-request-id']).toBe('client-1');
    const b: HeaderBag = { 'x-request-id': 'bad id' };
    expect(ensureRequestId(b, gen)).toBe('generated');
    expect(b['x-request-id']).toBe('generated');
    const c: HeaderBag = {};
    expect(ensureRequestId(c)).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('cookies', () => {
  it.each([
    ['a=1; lb_sticky=web%2Fn1%3Ax%3A80; b=2', 'lb_sticky', 'web%2Fn1%3Ax%3A80'],
    ['lb_sticky="quoted"', 'lb_sticky', 'quoted'],
    ['xlb_sticky=1; lb_sticky=2', 'lb_sticky', '2'],
    ['a=1;b=2', 'b', '2'],
    ['a=1', 'lb_sticky', undefined],
    ['', 'lb_sticky', undefined],
    ['novalue; lb_sticky', 'lb_sticky', undefined],
  ])('readCookie(%j, %s) = %j', (header, name, expected) => {
    expect(readCookie(header, name)).toBe(expected);
  });
});

describe('requestTarget', () => {
  it.each([
    ['example.com', '/foo?x=1', 'example.com', '/foo'],
    ['example.com:8080', '/', 'example.com:8080', '/'],
    [undefined, '/a', '', '/a'],
    ['ignored.com', 'http://real.com:81/p?q', 'real.com:81', '/p'],
    ['h', '*', 'h', '*'],
    ['h', undefined, 'h', '/'],
  ])('host %j url %j → %j %j', (host, url, eh, ep) => {
    expect(requestTarget(host, url)).toEqual({ host: eh, path: ep });
  });

  it('describeTarget is printable and bounded', () => {
    expect(describeTarget({ host: 'example.com', path: '/foo' })).toBe('example.com/foo');
    expect(describeTarget({ host: 'h\u0000', path: '/é' })).toBe('h?/?');
    expect(describeTarget({ host: 'h', path: `/${'a'.repeat(1000)}` })).toHaveLength(300);
  });
});

describe('forwardResponseHeaders', () => {
  /** The old pipeline: strip in place, assign, then every defined header in key order. */
  function reference(
    headers: HeaderBag,
    connection: string,
    requestId: string,
    setCookie: string | undefined,
  ): Array<[string, unknown]> {
    const h = structuredClone(headers);
    stripHopByHop(h, { direction: 'response' });
    h.connection = connection;
    h['x-request-id'] = requestId;
    if (setCookie !== undefined)
      h['set-cookie'] = h['set-cookie'] === undefined ? [setCookie] : [...(h['set-cookie'] as string[]), setCookie];
    return Object.keys(h)
      .filter((k) => h[k] !== undefined)
      .map((k) => [k, h[k]]);
  }

  function forwarded(
    headers: HeaderBag,
    connection: string,
    requestId: string,
    setCookie: string | undefined,
  ): Array<[string, unknown]> {
    const out: Array<[string, unknown]> = [];
    const before = structuredClone(headers);
    forwardResponseHeaders(headers, { connection, requestId, setCookie }, { setHeader: (n, v) => out.push([n, v]) });
    expect(headers).toStrictEqual(before); // the backend's object is left alone
    return out;
  }

  it('drops hop-by-hop and Connection-named headers, appends ours, keeps the order', () => {
    const h: HeaderBag = {
      'content-type': 'text/plain',
      connection: 'keep-alive, X-Drop',
      'keep-alive': 'timeout=5',
      'x-drop': '1',
      'transfer-encoding': 'chunked',
      'content-length': '3',
      date: 'd',
    };
    expect(forwarded(h, 'keep-alive', 'id1', undefined)).toEqual([
      ['content-type', 'text/plain'],
      ['content-length', '3'],
      ['date', 'd'],
      ['connection', 'keep-alive'],
      ['x-request-id', 'id1'],
    ]);
  });

  it('replaces the backend’s X-Request-Id in place and adds the sticky cookie to its own', () => {
    const h: HeaderBag = { 'x-request-id': 'theirs', 'set-cookie': ['a=1'], 'x-a': 'b' };
    expect(forwarded(h, 'close', 'ours', 'lb_sticky=x')).toEqual([
      ['x-request-id', 'ours'],
      ['set-cookie', ['a=1', 'lb_sticky=x']],
      ['x-a', 'b'],
      ['connection', 'close'],
    ]);
  });

  it('matches strip-in-place + assign on 5,000 random header sets', () => {
    const names = [
      'connection',
      'keep-alive',
      'te',
      'trailer',
      'upgrade',
      'transfer-encoding',
      'proxy-authenticate',
      'proxy-connection',
      'content-length',
      'host',
      'x-request-id',
      'set-cookie',
      'x-a',
      'x-b',
      'content-type',
      'date',
    ];
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
    for (let n = 0; n < 5000; n++) {
      const h: HeaderBag = {};
      const count = Math.floor(next() * 8);
      for (let i = 0; i < count; i++) {
        const name = pick(names);
        if (name === 'set-cookie') h[name] = ['c=1', 'd=2'].slice(0, 1 + Math.floor(next() * 2));
        else if (name === 'connection')
          h[name] = Array.from({ length: 1 + Math.floor(next() * 3) }, () =>
            pick([...names, ' X-A ', 'close', '']),
          ).join(pick([',', ', ', ' ,']));
        else h[name] = `v${i}`;
      }
      const cookie = next() < 0.5 ? 'lb_sticky=s' : undefined;
      expect(forwarded(h, 'keep-alive', 'rid', cookie), JSON.stringify({ h, cookie })).toEqual(
        reference(h, 'keep-alive', 'rid', cookie),
      );
    }
  });
});
