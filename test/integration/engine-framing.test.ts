// Response framing and the request head on real sockets: Content-Length, chunked (extensions,
// trailers), close-delimited, HEAD, 204, 304, interim 100/103, a response fed one byte per write,
// server-sent-event headers before any body byte, and what a backend receives: the request head in
// one piece, headers as given, bodies framed by Content-Length or re-chunked.
import http from 'node:http';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamEngine } from '../../balancer/proxy/engine/upstream-engine.js';
import { answering, engineBackend, exchange, rawBackend, readRequests, RecordingSink } from '../helpers/engine-kit.js';
import { closeHttp, listen } from '../helpers/servers.js';
import { delay, waitFor } from '../helpers/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function newEngine(): UpstreamEngine {
  const e = new UpstreamEngine();
  cleanups.push(() => e.destroy());
  return e;
}

interface FramingCase {
  readonly name: string;
  readonly method?: string;
  readonly response: string;
  /** The backend closes the socket after writing. */
  readonly thenClose?: boolean;
  readonly events: string[];
  readonly body?: string;
  readonly trailers?: Record<string, string>;
  /** Whether the socket goes back to the pool. */
  readonly reusable: boolean;
}

const CASES: FramingCase[] = [
  {
    name: 'Content-Length',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    events: ['response 200', 'data', 'end'],
    body: 'hello',
    reusable: true,
  },
  {
    name: 'chunked with extensions and trailers',
    response:
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n',
    events: ['response 200', 'data', 'trailers', 'end'],
    body: 'hello world',
    trailers: { 'x-sum': '42' },
    reusable: true,
  },
  {
    name: 'close-delimited',
    response: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close',
    thenClose: true,
    events: ['response 200', 'data', 'end'],
    body: 'until close',
    reusable: false,
  },
  {
    name: 'HEAD with a Content-Length',
    method: 'HEAD',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n',
    events: ['response 200', 'end'],
    body: '',
    reusable: true,
  },
  {
    name: '204',
    response: 'HTTP/1.1 204 No Content\r\n\r\n',
    events: ['response 204', 'end'],
    reusable: true,
  },
  {
    name: '304 with a Content-Length',
    response: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 10\r\n\r\n',
    events: ['response 304', 'end'],
    reusable: true,
  },
  {
    name: '100 Continue, then the response',
    response: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    events: ['interim 100', 'response 200', 'data', 'end'],
    body: 'ok',
    reusable: true,
  },
  {
    name: '103 Early Hints (a 102 is skipped)',
    response:
      'HTTP/1.1 102 Processing\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nLink: </b.js>\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    events: ['interim 103', 'response 200', 'data', 'end'],
    body: 'ok',
    reusable: true,
  },
];

describe('engine framing: responses', () => {
  it.each(CASES)('$name', async (c) => {
    let requests = 0;
    const b = await rawBackend(
      answering((_req, _index, sock) => {
        if (requests++ > 0) return 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext';
        sock.write(c.response);
        if (c.thenClose) sock.end();
        return undefined;
      }),
    );
    cleanups.push(() => b.close());
    const pool = newEngine().pool(engineBackend('a', b.port));
    const s = await exchange(pool, c.method ?? 'GET');
    expect(s.events).toEqual(c.events);
    if (c.body !== undefined) expect(s.body()).toBe(c.body);
    if (c.trailers !== undefined) expect(s.trailers).toEqual(c.trailers);
    if (c.name.startsWith('103')) expect(s.interims[0]?.headers).toEqual({ link: '</a.css>; rel=preload, </b.js>' });
    const next = await exchange(pool);
    expect(next.body()).toBe('next');
    expect(next.attempt?.reused).toBe(c.reusable);
  });

  it('parses a response that arrives one byte per write', async () => {
    const response =
      'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '3\r\nabc\r\n0\r\nX-T: t\r\n\r\n';
    const b = await rawBackend((sock) =>
      readRequests(sock, async () => {
        for (const ch of response) {
          sock.write(ch);
          await delay(1);
        }
      }),
    );
    cleanups.push(() => b.close());
    const s = await exchange(newEngine().pool(engineBackend('a', b.port)));
    expect(s.status).toBe(200);
    expect(s.headers).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'transfer-encoding': 'chunked' });
    expect(s.body()).toBe('abc');
    expect(s.trailers).toEqual({ 'x-t': 't' });
    expect(s.events.at(-1)).toBe('end');
  });

  it('delivers server-sent-event headers before any body byte', async () => {
    let sendEvent: (() => void) | undefined;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      sendEvent = () => res.end('data: hello\n\n');
    });
    const port = await listen(server);
    cleanups.push(() => closeHttp(server));
    const sink = new RecordingSink();
    const started = performance.now();
    let headAt = 0;
    sink.onHead = () => (headAt = performance.now());
    newEngine().pool(engineBackend('a', port)).request('GET', '/events', { host: 'x' }, undefined, sink);
    await waitFor('response head', () => headAt > 0, 2_000);
    expect(sink.events).toEqual(['response 200']);
    expect(sink.headers?.['content-type']).toBe('text/event-stream');
    expect(headAt - started).toBeLessThan(1_000);
    await delay(100);
    expect(sink.bytes).toBe(0);
    sendEvent?.();
    await sink.finished;
    expect(sink.body()).toBe('data: hello\n\n');
    expect(sink.events).toEqual(['response 200', 'data', 'end']);
  });
});

describe('engine framing: the request', () => {
  async function capture(): Promise<{ port: number; raw: () => string }> {
    let bytes = '';
    const b = await rawBackend((sock) => {
      sock.on('data', (d: Buffer) => (bytes += d.toString('latin1')));
      readRequests(sock, () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    });
    cleanups.push(() => b.close());
    return { port: b.port, raw: () => bytes };
  }

  it('writes the head as given: arrays repeated, cookie joined, Host kept, keep-alive added, no framing', async () => {
    const c = await capture();
    const s = await exchange(newEngine().pool(engineBackend('a', c.port)), 'GET', '/p?q=1', {
      host: 'web.test',
      'x-multi': ['a', 'b'],
      cookie: ['a=1', 'b=2'],
      'x-n': 7,
      'x-skip': undefined,
    });
    expect(s.status).toBe(200);
    expect(c.raw()).toBe(
      'GET /p?q=1 HTTP/1.1\r\nhost: web.test\r\nx-multi: a\r\nx-multi: b\r\ncookie: a=1; b=2\r\nx-n: 7\r\n' +
        'Connection: keep-alive\r\n\r\n',
    );
  });

  it('passes a Content-Length body as is', async () => {
    const c = await capture();
    const body = new PassThrough();
    const done = exchange(
      newEngine().pool(engineBackend('a', c.port)),
      'POST',
      '/up',
      {
        host: 'x',
        'content-length': '11',
      },
      body,
    );
    body.write('hello ');
    await delay(20);
    body.end('world');
    expect((await done).status).toBe(200);
    expect(c.raw()).toBe(
      'POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 11\r\nConnection: keep-alive\r\n\r\nhello world',
    );
  });

  it('re-frames a chunked client body as chunked', async () => {
    const c = await capture();
    const body = new PassThrough();
    const done = exchange(
      newEngine().pool(engineBackend('a', c.port)),
      'PUT',
      '/up',
      {
        host: 'x',
        'transfer-encoding': 'chunked',
      },
      body,
    );
    body.write('abc');
    await delay(20);
    body.end('defghijklmnopqrstu');
    expect((await done).status).toBe(200);
    expect(c.raw()).toBe(
      'PUT /up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nConnection: keep-alive\r\n\r\n' +
        '3\r\nabc\r\n12\r\ndefghijklmnopqrstu\r\n0\r\n\r\n',
    );
  });

  it('a node:http backend reads both framings and answers on the same socket', async () => {
    const got: string[] = [];
    let connections = 0;
    const server = http.createServer((req, res) => {
      let data = '';
      req.on('data', (d: Buffer) => (data += d.toString()));
      req.on('end', () => {
        got.push(`${req.method} ${req.headers['transfer-encoding'] ?? req.headers['content-length']} ${data}`);
        res.end('done');
      });
    });
    server.on('connection', () => connections++);
    const port = await listen(server);
    cleanups.push(() => closeHttp(server));
    const pool = newEngine().pool(engineBackend('a', port));
    const one = new PassThrough();
    const first = exchange(pool, 'POST', '/', { host: 'x', 'transfer-encoding': 'chunked' }, one);
    one.end('chunked body');
    expect((await first).body()).toBe('done');
    const two = new PassThrough();
    const second = exchange(pool, 'POST', '/', { host: 'x', 'content-length': '6' }, two);
    two.end('length');
    expect((await second).body()).toBe('done');
    expect(got).toEqual(['POST chunked chunked body', 'POST 6 length']);
    expect(connections).toBe(1);
  });

  it('refuses an invalid header before sending anything', () => {
    const pool = newEngine().pool(engineBackend('a', 1));
    const sink = new RecordingSink();
    expect(() => pool.request('GET', '/', { host: 'x', 'x-bad': 'a\r\nx-injected: 1' }, undefined, sink)).toThrow(
      /invalid character/,
    );
    expect(() => pool.request('GET', '/a b', { host: 'x' }, undefined, sink)).toThrow(/invalid request path/);
    expect(() => pool.request('POST', '/', { host: 'x', 'content-length': '3' }, undefined, sink)).toThrow(/announced/);
    expect(pool.stats().sockets).toBe(0);
  });
});
