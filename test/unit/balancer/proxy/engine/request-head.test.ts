// The request head serialiser, table-driven: exact bytes, body framing, and the refusals that keep a
// header from injecting another line.
import { describe, expect, it } from 'vitest';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  type RequestHeaders,
  serializeRequestHead,
} from '../../../../../balancer/proxy/engine/request-head.js';

const HOST = '10.0.0.1:8080';

interface Case {
  readonly name: string;
  readonly method?: string;
  readonly path?: string;
  readonly headers: RequestHeaders;
  readonly text: string;
  readonly framing: number;
  readonly contentLength?: number;
  readonly close?: boolean;
}

const CASES: Case[] = [
  {
    name: 'a GET: Host kept as given, keep-alive added, no framing',
    headers: { host: 'web.test', accept: '*/*' },
    text: 'GET / HTTP/1.1\r\nhost: web.test\r\naccept: */*\r\nConnection: keep-alive\r\n\r\n',
    framing: BODY_NONE,
  },
  {
    name: 'no Host: the backend authority',
    path: '/a?b=1',
    headers: { 'x-request-id': 'r1' },
    text: 'GET /a?b=1 HTTP/1.1\r\nx-request-id: r1\r\nHost: 10.0.0.1:8080\r\nConnection: keep-alive\r\n\r\n',
    framing: BODY_NONE,
  },
  {
    name: 'arrays: one line per value; cookie joined with "; "; numbers; undefined skipped',
    headers: {
      host: 'h',
      'x-forwarded-for': ['1.1.1.1', '2.2.2.2'],
      cookie: ['a=1', 'b=2'],
      'x-n': 3,
      'x-u': undefined,
    },
    text:
      'GET / HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\ncookie: a=1; b=2\r\n' +
      'x-n: 3\r\nConnection: keep-alive\r\n\r\n',
    framing: BODY_NONE,
  },
  {
    name: 'a one-element cookie array is one line',
    headers: { host: 'h', cookie: ['a=1'] },
    text: 'GET / HTTP/1.1\r\nhost: h\r\ncookie: a=1\r\nConnection: keep-alive\r\n\r\n',
    framing: BODY_NONE,
  },
  {
    name: 'Content-Length passed as is, in place',
    method: 'POST',
    headers: { host: 'h', 'content-length': '42', 'content-type': 'text/plain' },
    text:
      'POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 42\r\ncontent-type: text/plain\r\n' +
      'Connection: keep-alive\r\n\r\n',
    framing: BODY_LENGTH,
    contentLength: 42,
  },
  {
    name: 'Content-Length 0: no body to stream',
    method: 'DELETE',
    headers: { host: 'h', 'content-length': '0' },
    text: 'DELETE / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\nConnection: keep-alive\r\n\r\n',
    framing: BODY_NONE,
  },
  {
    name: 'a chunked client body stays chunked',
    method: 'PUT',
    headers: { host: 'h', 'transfer-encoding': 'chunked' },
    text: 'PUT / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\nConnection: keep-alive\r\n\r\n',
    framing: BODY_CHUNKED,
  },
  {
    name: "the caller's Connection is kept (no keep-alive added); close noted",
    headers: { host: 'h', connection: 'close' },
    text: 'GET / HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n',
    framing: BODY_NONE,
    close: true,
  },
  {
    name: 'Connection: upgrade is not close',
    headers: { host: 'h', connection: 'upgrade', upgrade: 'websocket' },
    text: 'GET / HTTP/1.1\r\nhost: h\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n',
    framing: BODY_NONE,
    close: false,
  },
  {
    name: 'tabs and obs-text in values are allowed',
    path: '/caf\xe9',
    headers: { host: 'h', 'x-a': 'a\tb\xff' },
    text: 'GET /caf\xe9 HTTP/1.1\r\nhost: h\r\nx-a: a\tb\xff\r\nConnection: keep-alive\r\n\r\n',
    framing: BODY_NONE,
  },
];

describe('request head', () => {
  it.each(CASES)('$name', (c) => {
    const head = serializeRequestHead(c.method ?? 'GET', c.path ?? '/', c.headers, HOST);
    expect(head.text).toBe(c.text);
    expect(head.framing).toBe(c.framing);
    expect(head.contentLength).toBe(c.contentLength ?? 0);
    expect(head.close).toBe(c.close ?? false);
  });

  const REFUSED: Array<[string, string, string, RequestHeaders, RegExp]> = [
    ['CRLF in a value', 'GET', '/', { 'x-a': 'a\r\nx-b: 1' }, /invalid character/],
    ['LF in a value', 'GET', '/', { 'x-a': 'a\nb' }, /invalid character/],
    ['NUL in a value', 'GET', '/', { 'x-a': 'a\0b' }, /invalid character/],
    ['a character above latin1', 'GET', '/', { 'x-a': 'a\u0100' }, /invalid character/],
    ['CRLF in an array element', 'GET', '/', { 'x-a': ['ok', 'b\r\nc'] }, /invalid character/],
    ['a name that is not a token', 'GET', '/', { 'x a': '1' }, /invalid header name/],
    ['an empty name', 'GET', '/', { '': '1' }, /invalid header name/],
    ['a method that is not a token', 'G T', '/', {}, /invalid method/],
    ['a space in the path', 'GET', '/a b', {}, /invalid request path/],
    ['an empty path', 'GET', '', {}, /invalid request path/],
    ['both TE and CL', 'POST', '/', { 'content-length': '3', 'transfer-encoding': 'chunked' }, /both/],
    ['a non-digit Content-Length', 'POST', '/', { 'content-length': '3x' }, /content-length/],
  ];
  it.each(REFUSED)('refuses %s', (_name, method, path, headers, error) => {
    expect(() => serializeRequestHead(method, path, headers, HOST)).toThrow(error);
  });

  it('throws a coded error', () => {
    try {
      serializeRequestHead('GET', '/', { 'x-a': '\r' }, HOST);
      expect.unreachable();
    } catch (err) {
      expect((err as { code?: string }).code).toBe('ERR_UPSTREAM_INVALID_REQUEST');
    }
  });
});
