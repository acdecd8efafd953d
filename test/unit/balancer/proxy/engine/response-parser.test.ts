// The response parser, table-driven: valid framings (what is delivered, where the message ends,
// whether the socket may be reused) and invalid ones (rejected, with the reason), each also fed
// split at every byte boundary and one byte at a time.
import { describe, expect, it } from 'vitest';
import type { ResponseHeaders } from '../../../../../balancer/proxy/engine/header-fields.js';
import {
  P_DONE,
  P_ERROR,
  P_UPGRADE,
  type ParserHandler,
  ResponseParser,
} from '../../../../../balancer/proxy/engine/response-parser.js';

interface Outcome {
  state: number;
  error: string;
  consumed: number;
  keepAlive: boolean;
  interims: Array<[number, ResponseHeaders]>;
  status: number;
  reason: string;
  headers: ResponseHeaders | undefined;
  body: string;
  trailers: ResponseHeaders | undefined;
}

/** Feeds `pieces` in order (stopping at a terminal state), then EOF if `eof`. */
function run(pieces: Buffer[], opts: { isHead?: boolean; eof?: boolean; maxHeaderBytes?: number } = {}): Outcome {
  const out: Outcome = {
    state: 0,
    error: '',
    consumed: 0,
    keepAlive: false,
    interims: [],
    status: 0,
    reason: '',
    headers: undefined,
    body: '',
    trailers: undefined,
  };
  const handler: ParserHandler = {
    onInterim: (status, _reason, headers) => out.interims.push([status, headers]),
    onHead: (status, reason, headers) => Object.assign(out, { status, reason, headers }),
    onBody: (buf, start, end) => (out.body += buf.toString('latin1', start, end)),
    onTrailers: (trailers) => (out.trailers = trailers),
  };
  const p = new ResponseParser(handler, {
    maxHeaderBytes: opts.maxHeaderBytes ?? 64 * 1024,
    maxHeaderFields: 16,
    maxInterim: 3,
  });
  p.reset(opts.isHead ?? false);
  for (const piece of pieces) {
    const n = p.execute(piece);
    out.consumed += n;
    if (n < piece.length || p.state >= P_DONE) break;
  }
  if (opts.eof && p.state < P_DONE) p.finish();
  return Object.assign(out, { state: p.state, error: p.error, keepAlive: p.keepAlive });
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Valid {
  readonly name: string;
  readonly input: string;
  readonly isHead?: boolean;
  /** The backend closes after the input (close-delimited bodies). */
  readonly eof?: boolean;
  readonly status: number;
  readonly reason?: string;
  readonly headers?: ResponseHeaders;
  readonly body: string;
  readonly trailers?: ResponseHeaders;
  readonly interims?: number[];
  readonly keepAlive: boolean;
  /** Bytes of the message when more follow (the caller treats the rest as a desync). */
  readonly consumed?: number;
}

const VALID: Valid[] = [
  {
    name: 'Content-Length',
    input: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
    status: 200,
    reason: 'OK',
    headers: { 'content-type': 'text/plain', 'content-length': '5' },
    body: 'hello',
    keepAlive: true,
  },
  {
    name: 'Content-Length with leading zeros and trailing spaces',
    input: 'HTTP/1.1 200 OK\r\nContent-Length:  003  \r\n\r\nabc',
    status: 200,
    body: 'abc',
    keepAlive: true,
  },
  {
    name: 'Content-Length 0',
    input: 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n',
    status: 201,
    reason: 'Created',
    body: '',
    keepAlive: true,
  },
  {
    name: 'chunked, hex sizes in both cases, extensions, trailers',
    input:
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na;x=1;y="q z"\r\n0123456789\r\nB\r\nabcdefghijk\r\n' +
      '0;last\r\nX-Sum: 21\r\nServer-Timing: a, b\r\n\r\n',
    status: 200,
    body: '0123456789abcdefghijk',
    trailers: { 'x-sum': '21', 'server-timing': 'a, b' },
    keepAlive: true,
  },
  {
    name: 'chunked without trailers, TE "gzip, chunked"',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n',
    status: 200,
    body: 'ab',
    trailers: undefined,
    keepAlive: true,
  },
  {
    name: 'TE without chunked last: until close',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\nab\r\n',
    eof: true,
    status: 200,
    body: '2\r\nab\r\n',
    keepAlive: false,
  },
  {
    name: 'no length: until close',
    input: 'HTTP/1.1 200 OK\r\n\r\nuntil close',
    eof: true,
    status: 200,
    body: 'until close',
    keepAlive: false,
  },
  {
    name: 'HTTP/1.0 without keep-alive',
    input: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
    status: 200,
    body: 'ok',
    keepAlive: false,
  },
  {
    name: 'HTTP/1.0 with keep-alive',
    input: 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok',
    status: 200,
    body: 'ok',
    keepAlive: true,
  },
  {
    name: 'Connection: close',
    input: 'HTTP/1.1 200 OK\r\nConnection: x-a, close\r\nContent-Length: 2\r\n\r\nok',
    status: 200,
    body: 'ok',
    keepAlive: false,
  },
  {
    name: 'HEAD: a Content-Length but no body',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n',
    isHead: true,
    status: 200,
    body: '',
    keepAlive: true,
  },
  {
    name: 'HEAD without a length: no body, but not reused (as node:http)',
    input: 'HTTP/1.1 200 OK\r\n\r\n',
    isHead: true,
    status: 200,
    body: '',
    keepAlive: false,
  },
  {
    name: '204 ignores a Content-Length',
    input: 'HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n',
    status: 204,
    body: '',
    keepAlive: true,
  },
  {
    name: '304 ignores Transfer-Encoding',
    input: 'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n',
    status: 304,
    body: '',
    keepAlive: true,
  },
  {
    name: 'interim 100 and 103 before the response',
    input:
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
    status: 200,
    interims: [100, 103],
    body: 'x',
    keepAlive: true,
  },
  {
    name: 'empty reason, with and without the space',
    input: 'HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n',
    status: 404,
    reason: '',
    body: '',
    keepAlive: true,
  },
  {
    name: 'node merge rules: set-cookie array, cookie joined, singletons keep the first, others joined',
    input:
      'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Type: a\r\ncontent-type: b\r\n' +
      'Vary: x\r\nVARY: y\r\nX-Empty:\r\nX-Ws: \t v \t\r\nContent-Length: 0\r\n\r\n',
    status: 200,
    headers: {
      'set-cookie': ['a=1', 'b=2'],
      'content-type': 'a',
      vary: 'x, y',
      'x-empty': '',
      'x-ws': 'v',
      'content-length': '0',
    },
    body: '',
    keepAlive: true,
  },
  {
    name: 'obs-text in a value (latin1)',
    input: 'HTTP/1.1 200 OK\r\nX-A: caf\xe9\r\nContent-Length: 0\r\n\r\n',
    status: 200,
    headers: { 'x-a': 'caf\xe9', 'content-length': '0' },
    body: '',
    keepAlive: true,
  },
  {
    name: 'stops at the end of the message: the rest is left unread',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n',
    status: 200,
    body: 'ok',
    keepAlive: true,
    consumed: 40,
  },
];

interface Invalid {
  readonly name: string;
  readonly input: string;
  readonly error: RegExp;
  readonly eof?: boolean;
}

const INVALID: Invalid[] = [
  { name: 'HTTP/2 status line', input: 'HTTP/2.0 200 OK\r\n\r\n', error: /status line/ },
  { name: 'lower-case version', input: 'http/1.1 200 OK\r\n\r\n', error: /status line/ },
  { name: 'two-digit status', input: 'HTTP/1.1 20 OK\r\n\r\n', error: /status line/ },
  { name: 'status 600', input: 'HTTP/1.1 600 X\r\n\r\n', error: /status line/ },
  { name: 'leading CRLF', input: '\r\nHTTP/1.1 200 OK\r\n\r\n', error: /status line/ },
  { name: 'a control in the reason', input: 'HTTP/1.1 200 O\x01K\r\n\r\n', error: /invalid character/ },
  { name: 'bare LF', input: 'HTTP/1.1 200 OK\nX: a\r\n\r\n', error: /invalid character/ },
  { name: 'bare CR in a value', input: 'HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n', error: /invalid character/ },
  { name: 'NUL in a value', input: 'HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n', error: /invalid character/ },
  { name: 'DEL in a value', input: 'HTTP/1.1 200 OK\r\nX: a\x7fb\r\n\r\n', error: /invalid character/ },
  { name: 'obs-fold', input: 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', error: /header field/ },
  { name: 'space before the colon', input: 'HTTP/1.1 200 OK\r\nX : a\r\n\r\n', error: /header field/ },
  { name: 'empty name', input: 'HTTP/1.1 200 OK\r\n: a\r\n\r\n', error: /header field/ },
  { name: 'no colon', input: 'HTTP/1.1 200 OK\r\nX-A\r\n\r\n', error: /header field/ },
  {
    name: 'more fields than the limit (16)',
    input: `HTTP/1.1 200 OK\r\n${'X: 1\r\n'.repeat(17)}\r\n`,
    error: /header field/,
  },
  {
    name: 'a header section over the size limit',
    input: `HTTP/1.1 200 OK\r\nX: ${'v'.repeat(70 * 1024)}\r\n\r\n`,
    error: /too large/,
  },
  {
    name: 'several Content-Lengths, even equal',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na',
    error: /several Content-Length/,
  },
  { name: 'Content-Length list', input: 'HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\na', error: /Content-Length/ },
  { name: 'Content-Length +1', input: 'HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na', error: /Content-Length/ },
  { name: 'empty Content-Length', input: 'HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n', error: /Content-Length/ },
  {
    name: 'both TE and CL',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
    error: /both/,
  },
  {
    name: 'TE with an empty element',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n',
    error: /Transfer/,
  },
  {
    name: 'chunked twice',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n',
    error: /twice/,
  },
  { name: 'a tab in TE', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n', error: /tab/ },
  {
    name: 'chunk size not hex',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n',
    error: /chunk size/,
  },
  {
    name: 'space after the chunk size',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n',
    error: /chunk line/,
  },
  {
    name: 'chunk size overflow',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n',
    error: /too large/,
  },
  {
    name: 'a bad chunk extension',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1; a=b\r\na\r\n0\r\n\r\n',
    error: /extension/,
  },
  {
    name: 'chunk data longer than its size',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n',
    error: /CRLF after chunk/,
  },
  {
    name: 'a bad trailer',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n',
    error: /trailer/,
  },
  {
    name: 'an interim response that closes the connection',
    input: 'HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\n\r\n',
    error: /interim/,
  },
  {
    name: 'too many interim responses (3)',
    input: 'HTTP/1.1 102 P\r\n\r\n'.repeat(4),
    error: /interim/,
  },
  {
    name: 'truncated body',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc',
    eof: true,
    error: /closed mid-response/,
  },
  {
    name: 'truncated chunked body (no last chunk)',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n',
    eof: true,
    error: /closed mid-response/,
  },
  { name: 'closed before any byte', input: '', eof: true, error: /before any response byte/ },
];

/** The input as one read, split in two at every boundary, and one byte per read. */
function splits(input: string): Array<[string, Buffer[]]> {
  const b = bytes(input);
  const out: Array<[string, Buffer[]]> = [['one read', [b]]];
  for (let i = 1; i < b.length; i++) out.push([`split at ${i}`, [b.subarray(0, i), b.subarray(i)]]);
  if (b.length > 1) out.push(['byte by byte', [...b].map((x) => Buffer.from([x]))]);
  return out;
}

describe('response parser: valid framings', () => {
  it.each(VALID)('$name', (c) => {
    for (const [how, pieces] of c.input.length > 2000 ? [] : splits(c.input)) {
      const o = run(pieces, { isHead: c.isHead, eof: c.eof });
      const where = `${c.name}, ${how}`;
      expect(o.state, where).toBe(P_DONE);
      expect(o.status, where).toBe(c.status);
      if (c.reason !== undefined) expect(o.reason, where).toBe(c.reason);
      if (c.headers !== undefined) expect(o.headers, where).toEqual(c.headers);
      expect(o.body, where).toBe(c.body);
      expect(o.trailers, where).toEqual(c.trailers);
      expect(
        o.interims.map(([s]) => s),
        where,
      ).toEqual(c.interims ?? []);
      expect(o.keepAlive, where).toBe(c.keepAlive);
      expect(o.consumed, where).toBe(c.consumed ?? c.input.length);
    }
  });

  it('keeps header key order and gives the 103 its own headers', () => {
    const o = run([bytes('HTTP/1.1 103 EH\r\nLink: <a>\r\nlink: <b>\r\n\r\nHTTP/1.1 200 OK\r\nB: 1\r\nA: 2\r\n\r\n')], {
      eof: true,
    });
    expect(o.interims).toEqual([[103, { link: '<a>, <b>' }]]);
    expect(Object.keys(o.headers ?? {})).toEqual(['b', 'a']);
  });

  it('stops at a 101 with the bytes after its head unread (for an upgrade)', () => {
    const input = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    const o = run([bytes(`${input}\x81\x05hello`)]);
    expect(o.state).toBe(P_UPGRADE);
    expect(o.consumed).toBe(input.length);
  });

  it('streams a large Content-Length body as slices, without copying', () => {
    const body = Buffer.alloc(100_000, 0x61);
    const buf = Buffer.concat([bytes('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n'), body]);
    const slices: Buffer[] = [];
    const p = new ResponseParser({
      onInterim: () => undefined,
      onHead: () => undefined,
      onBody: (b, s, e) => slices.push(b.subarray(s, e)),
      onTrailers: () => undefined,
    });
    p.reset(false);
    expect(p.execute(buf)).toBe(buf.length);
    expect(p.state).toBe(P_DONE);
    expect(slices).toHaveLength(1);
    expect(slices[0]?.buffer).toBe(buf.buffer);
  });

  it('is reusable: reset() between responses on one connection', () => {
    const out: number[] = [];
    const p = new ResponseParser({
      onInterim: () => undefined,
      onHead: (s) => out.push(s),
      onBody: () => undefined,
      onTrailers: () => undefined,
    });
    for (const status of [200, 404, 500]) {
      p.reset(false);
      const input = bytes(`HTTP/1.1 ${status} X\r\nContent-Length: 1\r\n\r\nx`);
      expect(p.execute(input)).toBe(input.length);
      expect(p.state).toBe(P_DONE);
    }
    expect(out).toEqual([200, 404, 500]);
  });
});

describe('response parser: invalid framings', () => {
  it.each(INVALID)('$name', (c) => {
    for (const [how, pieces] of c.input.length > 2000 ? [['one read', [bytes(c.input)]] as const] : splits(c.input)) {
      const o = run([...pieces], { eof: c.eof });
      const where = `${c.name}, ${how}`;
      expect(o.state, where).toBe(P_ERROR);
      expect(o.error, where).toMatch(c.error);
    }
  });
});
