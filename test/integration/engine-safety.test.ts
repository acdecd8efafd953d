// What keeps one backend's bytes from another request and a POST from being sent twice, on real
// sockets: smuggled second responses (same read, next read), framing violations (socket destroyed,
// never pooled), a backend resetting after reading a POST (reset: not retried), the keep-alive race
// on a reused socket (idle-race: retried only without body bytes), the mid-body idle timeout, and
// aborts and client body failures.
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { retryDecision } from '../../balancer/proxy/engine/retry-decision.js';
import { UpstreamEngine, type UpstreamEngineOptions } from '../../balancer/proxy/engine/upstream-engine.js';
import type { UpstreamError } from '../../balancer/proxy/engine/upstream-error.js';
import {
  answering,
  engineBackend,
  exchange,
  type RawBackend,
  rawBackend,
  readRequests,
  RecordingSink,
} from '../helpers/engine-kit.js';
import { delay, waitFor } from '../helpers/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function engine(opts: UpstreamEngineOptions = {}): UpstreamEngine {
  const e = new UpstreamEngine(opts);
  cleanups.push(() => e.destroy());
  return e;
}

async function raw(onConnection: Parameters<typeof rawBackend>[0]): Promise<RawBackend & { closes: () => number }> {
  let closes = 0;
  const b = await rawBackend((sock, i) => {
    sock.on('close', () => closes++);
    onConnection(sock, i);
  });
  cleanups.push(() => b.close());
  return Object.assign(b, { closes: () => closes });
}

const REAL = 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal';
const SMUGGLED = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled';

/** What the HTTP exchange would decide for this failure, nothing having reached the client. */
function wouldRetry(err: UpstreamError | undefined, method: string): boolean {
  if (err === undefined) throw new Error('no error');
  return retryDecision({
    kind: err.kind,
    method,
    idempotencyKey: false,
    bodyBytesSent: err.bodyBytesSent,
    clientResponseStarted: false,
  });
}

describe('engine safety: smuggled responses', () => {
  it('a second response in the same read fails the exchange; the socket is destroyed, not pooled', async () => {
    let requests = 0;
    const b = await raw(
      answering(() => (requests++ === 0 ? `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok${SMUGGLED}` : REAL)),
    );
    const pool = engine().pool(engineBackend('a', b.port));
    const first = await exchange(pool);
    expect(first.error).toMatchObject({ kind: 'protocol', reason: 'EPROTO', headersReceived: true });
    expect(first.error?.detail).toMatch(/bytes after the end/);
    await waitFor('socket closed', () => b.closes() === 1, 2_000);
    const second = await exchange(pool);
    expect(second.body()).toBe('real');
    expect(second.attempt?.reused).toBe(false);
    expect(b.connections()).toBe(2);
  });

  it('a second response in the next read reaches no request, even one sent from onEnd', async () => {
    // Response A is exactly one 64 KiB read; the smuggled B comes in the next read of the same poll.
    const headA = 'HTTP/1.1 200 OK\r\nContent-Length: ';
    const total = 64 * 1024;
    const bodyLen = total - headA.length - 9; // 5 digits + CRLF CRLF
    const a = `${headA}${bodyLen}\r\n\r\n${'a'.repeat(bodyLen)}`;
    expect(a.length).toBe(total);
    let requests = 0;
    const b = await raw(answering(() => (requests++ === 0 ? a + SMUGGLED : REAL)));
    const pool = engine().pool(engineBackend('a', b.port));
    const next = new RecordingSink();
    const first = new RecordingSink();
    const firstEnd = first.onEnd.bind(first);
    first.onEnd = () => {
      firstEnd();
      next.attempt = pool.request('GET', '/next', { host: 'x' }, undefined, next);
    };
    first.attempt = pool.request('GET', '/', { host: 'x' }, undefined, first);
    await first.finished;
    await next.finished;
    expect(first.bytes).toBe(bodyLen);
    expect(next.body()).toBe('real');
    expect(next.events).toEqual(['response 200', 'data', 'end']);
    expect(b.connections()).toBe(2);
  });

  it('bytes arriving while the socket is idle destroy it: the next request never sees them', async () => {
    const b = await raw((sock) =>
      readRequests(sock, (_r, i) => {
        if (i > 0) return;
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        setTimeout(() => sock.write(SMUGGLED), 20);
      }),
    );
    const pool = engine().pool(engineBackend('a', b.port));
    expect((await exchange(pool)).body()).toBe('ok');
    await waitFor('socket destroyed', () => b.closes() === 1, 2_000);
    expect(pool.stats().sockets).toBe(0);
    const again = await exchange(pool);
    expect(again.body()).toBe('ok');
    expect(again.attempt?.reused).toBe(false);
  });
});

const INVALID: Array<{ name: string; response: string }> = [
  { name: 'not HTTP', response: 'HTTP/2 200\r\n\r\n' },
  { name: 'both CL and TE', response: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n' },
  { name: 'two Content-Lengths', response: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd' },
  { name: 'a non-digit Content-Length', response: 'HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\nabc' },
  { name: 'a bad chunk size', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' },
  { name: 'no CRLF after chunk data', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n' },
  { name: 'obs-fold', response: 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n' },
  { name: 'a bare LF', response: 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n' },
  { name: 'an unrequested 101', response: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n' },
];

describe('engine safety: framing violations', () => {
  it.each(INVALID)('$name → protocol; the socket is destroyed and the next request uses a new one', async (c) => {
    let requests = 0;
    const b = await raw(answering(() => (requests++ === 0 ? c.response : REAL)));
    const pool = engine().pool(engineBackend('a', b.port));
    const s = await exchange(pool);
    expect(s.error?.kind).toBe('protocol');
    expect(s.error?.code).toBe('ERR_UPSTREAM_PROTOCOL');
    await waitFor('socket closed', () => b.closes() === 1, 2_000);
    const next = await exchange(pool);
    expect(next.body()).toBe('real');
    expect(next.attempt?.reused).toBe(false);
  });
});

describe('engine safety: resets and the keep-alive race', () => {
  it('a backend resetting after reading a bodiless POST on a fresh socket: reset, not retried', async () => {
    const b = await raw((sock) => readRequests(sock, () => sock.resetAndDestroy()));
    const s = await exchange(engine().pool(engineBackend('a', b.port)), 'POST', '/order', {
      host: 'x',
      'content-length': '0',
    });
    expect(s.error).toMatchObject({ kind: 'reset', reused: false, responseStarted: false, bodyBytesSent: 0 });
    expect(wouldRetry(s.error, 'POST')).toBe(false);
    // The same failure on a GET would be retried (idempotent, nothing reached the client).
    expect(wouldRetry(s.error, 'GET')).toBe(true);
  });

  it('a backend closing after reading a POST with a body: reset, body bytes sent, not retried', async () => {
    const b = await raw((sock) => readRequests(sock, () => sock.end()));
    const body = new PassThrough();
    const done = exchange(
      engine().pool(engineBackend('a', b.port)),
      'POST',
      '/',
      { host: 'x', 'content-length': '5' },
      body,
    );
    body.end('hello');
    const s = await done;
    expect(s.error).toMatchObject({ kind: 'reset', reason: 'ECONNRESET', reused: false, bodyBytesSent: 5 });
    expect(wouldRetry(s.error, 'POST')).toBe(false);
    expect(wouldRetry(s.error, 'PUT')).toBe(false);
  });

  it('a reused socket closed before any response byte is the idle race: retried without body bytes', async () => {
    const b = await raw((sock) =>
      readRequests(sock, (_r, i) =>
        i === 0 ? sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n') : sock.destroy(),
      ),
    );
    const pool = engine().pool(engineBackend('a', b.port));
    expect((await exchange(pool)).status).toBe(200);
    const s = await exchange(pool, 'POST', '/', { host: 'x' });
    expect(s.error).toMatchObject({ kind: 'idle-race', reused: true, responseStarted: false, bodyBytesSent: 0 });
    expect(s.error?.code).toBe('ERR_UPSTREAM_IDLE_RACE');
    expect(wouldRetry(s.error, 'POST')).toBe(true);
  });

  it('the idle race after body bytes were streamed is not retried', async () => {
    const b = await raw((sock) =>
      readRequests(sock, (_r, i) =>
        i === 0 ? sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n') : sock.resetAndDestroy(),
      ),
    );
    const pool = engine().pool(engineBackend('a', b.port));
    await exchange(pool);
    const body = new PassThrough();
    const done = exchange(pool, 'POST', '/', { host: 'x', 'content-length': '3' }, body);
    body.end('abc');
    const s = await done;
    expect(s.error).toMatchObject({ kind: 'idle-race', reused: true, bodyBytesSent: 3 });
    expect(wouldRetry(s.error, 'POST')).toBe(false);
  });

  it('a reused socket that breaks after response bytes is a reset', async () => {
    const b = await raw((sock) =>
      readRequests(sock, (_r, i) => {
        if (i === 0) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
        else {
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
          setTimeout(() => sock.destroy(), 20);
        }
      }),
    );
    const pool = engine().pool(engineBackend('a', b.port));
    await exchange(pool);
    const s = await exchange(pool);
    expect(s.events).toEqual(['response 200', 'data', 'error reset']);
    expect(s.error).toMatchObject({ kind: 'reset', reused: true, responseStarted: true, headersReceived: true });
  });
});

describe('engine safety: timeouts, aborts, client failures', () => {
  it('fails a body with no byte for upstreamIdleTimeoutMs as timeout, and destroys the socket', async () => {
    const b = await raw((sock) =>
      readRequests(sock, () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')),
    );
    const pool = engine({ upstreamIdleTimeoutMs: 200 }).pool(engineBackend('a', b.port));
    const started = performance.now();
    const s = await exchange(pool);
    const took = performance.now() - started;
    expect(s.events).toEqual(['response 200', 'data', 'error timeout']);
    expect(s.error).toMatchObject({ kind: 'timeout', code: 'ERR_UPSTREAM_IDLE_TIMEOUT', headersReceived: true });
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1_000);
    await waitFor('socket closed', () => b.closes() === 1, 2_000);
  });

  it('keeps the idle timer off before the head (time to headers is the caller’s) and while bytes flow', async () => {
    const b = await raw((sock) =>
      readRequests(sock, async () => {
        await delay(300);
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n');
        for (const ch of 'abcdef') {
          await delay(60);
          sock.write(ch);
        }
      }),
    );
    const s = await exchange(engine({ upstreamIdleTimeoutMs: 150 }).pool(engineBackend('a', b.port)));
    expect(s.error).toBeUndefined();
    expect(s.body()).toBe('abcdef');
  });

  it('abort() destroys the socket and the sink hears nothing more', async () => {
    const b = await raw((sock) =>
      readRequests(sock, () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab')),
    );
    const sink = new RecordingSink();
    sink.attempt = engine().pool(engineBackend('a', b.port)).request('GET', '/', { host: 'x' }, undefined, sink);
    await waitFor('some body', () => sink.bytes > 0, 2_000);
    sink.attempt.abort();
    await waitFor('socket closed', () => b.closes() === 1, 2_000);
    await delay(50);
    expect(sink.events).toEqual(['response 200', 'data']);
    expect(sink.attempt.done).toBe(true);
  });

  it('a client body that fails mid-stream fails as client and destroys the upstream socket', async () => {
    const b = await raw((sock) => readRequests(sock, () => undefined));
    const body = new PassThrough();
    const done = exchange(
      engine().pool(engineBackend('a', b.port)),
      'POST',
      '/',
      { host: 'x', 'content-length': '100' },
      body,
    );
    body.write('partial');
    await delay(30);
    body.destroy(new Error('client went away'));
    const s = await done;
    expect(s.error).toMatchObject({ kind: 'client', bodyBytesSent: 7 });
    expect(wouldRetry(s.error, 'PUT')).toBe(false);
    await waitFor('socket closed', () => b.closes() === 1, 2_000);
  });
});
