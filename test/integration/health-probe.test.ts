// The active health probe against real sockets on loopback: what passes, what fails and why.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { probe } from '../../balancer/proxy/health/probe.js';

const servers: Array<Server | NetServer> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function listen<T extends Server | NetServer>(s: T): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

async function httpAnswering(status: number): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const s = createHttpServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.host} ${req.headers.connection}`);
    res.statusCode = status;
    res.end('body that is never read');
  });
  return { port: await listen(s), seen };
}

const http = (path = '/healthz', timeoutMs = 500) => ({ type: 'http' as const, path, timeoutMs });

describe('health probe', () => {
  it.each([
    [200, true, ''],
    [204, true, ''],
    [302, true, ''],
    [404, false, 'status 404'],
    [500, false, 'status 500'],
  ])('HTTP %i → ok %s', async (status, ok, reason) => {
    const b = await httpAnswering(status);
    expect(await probe({ host: '127.0.0.1', port: b.port }, http('/healthz?deep=1'))).toEqual({ ok, reason });
    expect(b.seen).toEqual([`GET /healthz?deep=1 127.0.0.1:${b.port} close`]);
  });

  it('tcp passes on an accepted connection and fails on a refused one', async () => {
    const port = await listen(createServer((s) => s.resume().end()));
    expect(await probe({ host: '127.0.0.1', port }, { type: 'tcp', timeoutMs: 500 })).toEqual({ ok: true, reason: '' });
    const closed = createServer();
    const gone = await listen(closed);
    servers.pop();
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await probe({ host: '127.0.0.1', port: gone }, { type: 'tcp', timeoutMs: 500 });
    expect(refused).toEqual({ ok: false, reason: 'ECONNREFUSED' });
  });

  it('times out on a backend that accepts and never answers', async () => {
    // It reads (so it sees the probe hang up) but never answers.
    const port = await listen(createServer((s) => s.resume()));
    const t0 = Date.now();
    expect(await probe({ host: '127.0.0.1', port }, http('/', 200))).toEqual({ ok: false, reason: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('an aborted probe resolves at once and closes its socket', async () => {
    let closed!: () => void;
    const peerClosed = new Promise<void>((r) => (closed = r));
    // Accepts and never answers: only the abort can end this probe before its 10 s timeout.
    const port = await listen(createServer((s) => s.resume().once('close', closed)));
    const ac = new AbortController();
    const pending = probe({ host: '127.0.0.1', port }, http('/', 10_000), ac.signal);
    await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    expect(await pending).toEqual({ ok: false, reason: 'aborted' });
    await peerClosed; // bounded by the test timeout: the backend saw the probe's socket go
    expect(await probe({ host: '127.0.0.1', port }, http(), ac.signal)).toEqual({ ok: false, reason: 'aborted' });
  });

  it('fails on something that is not HTTP, and on a close before the status line', async () => {
    const garbage = await listen(createServer((s) => s.resume().end('SSH-2.0-OpenSSH\r\n')));
    expect(await probe({ host: '127.0.0.1', port: garbage }, http())).toEqual({ ok: false, reason: 'bad status line' });
    const silent = await listen(createServer((s) => s.resume().end()));
    expect(await probe({ host: '127.0.0.1', port: silent }, http())).toEqual({
      ok: false,
      reason: 'closed before a status line',
    });
  });
});
