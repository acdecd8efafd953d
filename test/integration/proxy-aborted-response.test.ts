// A backend that dies after its response headers but before its body (chaos scenario 4: a busybox
// httpd container SIGKILLed between its header and body writes while the balancer still routed to
// it). While nothing has reached the client, an idempotent request is retried on another backend
// and the dead attempt's headers never leak; a non-idempotent one is broken off, not repeated.
import http, { type IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy, type ProxyHandler } from '../../balancer/proxy/proxy.js';
import type { Backend, Lookup } from '../../balancer/types.js';
import { backendFor } from '../helpers/backends.js';
import { closeHttp, listen } from '../helpers/servers.js';
import { stubPicker } from '../helpers/stub-picker.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Answers every request with a status line and headers promising 100 bytes, then dies. */
async function dyingBackend(name: string): Promise<{ backend: Backend; requests: () => number }> {
  let requests = 0;
  const s = createNetServer((sock) => {
    sock.once('data', () => {
      requests++;
      sock.write('HTTP/1.1 200 OK\r\ncontent-type: application/x-dying\r\ncontent-length: 100\r\nx-dying: yes\r\n\r\n');
      setTimeout(() => sock.destroy(), 20);
    });
    sock.on('error', () => undefined);
  });
  const port = await listen(s);
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return { backend: backendFor(name, port), requests: () => requests };
}

async function healthyBackend(name: string): Promise<{ backend: Backend; requests: () => number }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`served by ${name}`);
  });
  const port = await listen(server);
  cleanups.push(() => closeHttp(server));
  return { backend: backendFor(name, port), requests: () => requests };
}

async function startProxy(backends: Backend[]): Promise<{ proxy: ProxyHandler; port: number; retries: () => number }> {
  let retries = 0;
  const view = { name: 'web', backends };
  const lookup: Lookup = () => ({ rule: undefined, service: 'web', view });
  const proxy = createProxy({
    lookup,
    picker: stubPicker,
    defaultLb: 'round-robin',
    upstreamTimeoutMs: 5_000,
    ejectCooldownMs: 60_000,
    events: { onRetry: () => retries++ },
  });
  const server = http.createServer((req, res) => proxy.handleRequest(req, res));
  const port = await listen(server);
  cleanups.push(async () => {
    await closeHttp(server);
    proxy.close();
  });
  return { proxy, port, retries: () => retries };
}

type Outcome = { status: number; headers: IncomingHttpHeaders; body: string } | { error: string };

function send(port: number, method: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, agent: false, headers: { host: 'web.test' } },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', (e) => resolve({ error: e.message }));
      },
    );
    req.on('error', (e) => resolve({ error: e.message }));
    req.setTimeout(8_000, () => req.destroy(new Error('client timeout')));
    req.end();
  });
}

describe('backend dies after its response headers, before any byte reached the client', () => {
  it.each(['GET', 'PUT', 'DELETE', 'OPTIONS'])(
    'an idempotent %s is retried on another backend; the dead attempt is ejected and its headers dropped',
    async (method) => {
      const dying = await dyingBackend('a');
      const healthy = await healthyBackend('b');
      const { proxy, port, retries } = await startProxy([dying.backend, healthy.backend]);
      const r = await send(port, method);
      expect(r).toMatchObject({ status: 200, body: 'served by b' });
      if ('headers' in r) {
        expect(r.headers['x-dying']).toBeUndefined();
        expect(r.headers['content-type']).toBe('text/plain');
      }
      expect(dying.requests()).toBe(1);
      expect(healthy.requests()).toBe(1);
      expect(retries()).toBe(1);
      expect(proxy.ejector.isEjected(dying.backend.id)).toBe(true);
      await waitFor('inflight released', () => proxy.inflightTotal() === 0, 2_000);
    },
  );

  it('a POST is not repeated: the client sees the break and no other backend gets it', async () => {
    const dying = await dyingBackend('a');
    const healthy = await healthyBackend('b');
    const { proxy, port, retries } = await startProxy([dying.backend, healthy.backend]);
    const r = await send(port, 'POST');
    expect(r).toEqual({ error: 'socket hang up' });
    expect(healthy.requests()).toBe(0);
    expect(retries()).toBe(0);
    await waitFor('inflight released', () => proxy.inflightTotal() === 0, 2_000);
  });

  it('when every attempt dies the same way: 502 after the retries, without any dead attempt’s headers', async () => {
    const dying = await Promise.all(['a', 'b', 'c'].map((n) => dyingBackend(n)));
    const { proxy, port, retries } = await startProxy(dying.map((d) => d.backend));
    const r = await send(port, 'GET');
    expect(r).toMatchObject({ status: 502, body: 'bad gateway: ECONNRESET from service web\n' });
    if ('headers' in r) {
      expect(r.headers['x-dying']).toBeUndefined();
      expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    }
    expect(dying.map((d) => d.requests())).toEqual([1, 1, 1]);
    expect(retries()).toBe(2);
    await waitFor('inflight released', () => proxy.inflightTotal() === 0, 2_000);
  });
});
