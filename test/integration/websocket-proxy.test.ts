// WebSocket upgrades through the proxy edge, against real `ws` servers on 127.0.0.1 with a stub
// lookup and a stub round-robin picker. Every server and socket is closed in afterEach.
import http, { type IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createProxy, type ProxyEvents, type ProxyHandler, STICKY_COOKIE } from '../../balancer/proxy/proxy.js';
import type { Backend, Lookup, RouteMatch, RouteRule } from '../../balancer/types.js';
import { parseRouteFlag } from '../../common/route-spec.js';
import { backendFor } from '../helpers/backends.js';
import { closeHttp, listen } from '../helpers/servers.js';
import { stubPicker } from '../helpers/stub-picker.js';
import { delay, waitFor } from '../helpers/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface WsBackend {
  readonly backend: Backend;
  readonly wss: WebSocketServer;
  readonly handshakes: IncomingHttpHeaders[];
  closes: number;
}

/** A `ws` echo server that answers "<name>:<message>". */
async function startWsBackend(name: string): Promise<WsBackend> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server });
  const b: WsBackend = { wss, handshakes: [], closes: 0, backend: backendFor(name, 0, 'chat') };
  wss.on('connection', (sock, req) => {
    b.handshakes.push(req.headers);
    sock.on('message', (data) => sock.send(`${name}:${data.toString()}`));
    sock.on('close', () => b.closes++);
  });
  const port = await listen(server);
  (b as { backend: Backend }).backend = backendFor(name, port, 'chat');
  cleanups.push(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await closeHttp(server);
  });
  return b;
}

interface Route {
  readonly sticky?: boolean;
  /** Route policies, as the route parser makes them. */
  readonly policy?: RouteRule['policy'];
  backends: Backend[] | undefined;
}

function stubLookup(routes: Map<string, Route>): Lookup {
  return (host: string): RouteMatch | undefined => {
    const r = routes.get(host.replace(/:\d+$/, ''));
    if (r === undefined) return undefined;
    const rule: RouteRule = {
      host,
      pathPrefix: '/',
      service: 'chat',
      lb: undefined,
      sticky: r.sticky ?? false,
      source: 'test',
      policy: r.policy,
    };
    return {
      rule,
      service: 'chat',
      view:
        r.backends === undefined
          ? undefined
          : { name: 'chat', backends: [...r.backends].sort((a, b) => (a.id < b.id ? -1 : 1)) },
    };
  };
}

interface Rec {
  opened: string[];
  closed: string[];
  statuses: number[];
  ejects: string[];
}

async function startProxy(
  routes: Map<string, Route>,
  upstreamTimeoutMs = 5_000,
): Promise<{ proxy: ProxyHandler; port: number; rec: Rec; server: http.Server }> {
  const rec: Rec = { opened: [], closed: [], statuses: [], ejects: [] };
  const events: ProxyEvents = {
    onResponse: (_s, _id, status) => rec.statuses.push(status),
    onWebSocketOpen: (_s, id) => rec.opened.push(id),
    onWebSocketClose: (_s, id) => rec.closed.push(id),
    onEject: (_s, id) => rec.ejects.push(id),
  };
  const proxy = createProxy({
    lookup: stubLookup(routes),
    picker: stubPicker,
    defaultLb: 'round-robin',
    upstreamTimeoutMs,
    events,
    trustedProxies: [],
  });
  const server = http.createServer((req, res) => proxy.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head));
  const port = await listen(server);
  cleanups.push(async () => {
    proxy.close();
    await closeHttp(server);
  });
  return { proxy, port, rec, server };
}

function connections(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/** Opens a client and waits for the handshake; terminated in afterEach. */
async function openClient(
  port: number,
  host = 'chat.test',
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; res: http.IncomingMessage }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/room`, { headers: { host, ...headers }, handshakeTimeout: 4_000 });
  cleanups.push(() => ws.terminate());
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    ws.once('upgrade', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, r) => reject(new Error(`unexpected response ${r.statusCode}`)));
  });
  await new Promise<void>((resolve) =>
    ws.readyState === WebSocket.OPEN ? resolve() : ws.once('open', () => resolve()),
  );
  return { ws, res };
}

function roundTrip(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no echo within 3 s')), 3_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve(data.toString());
    });
    ws.send(text);
  });
}

/** Sends a raw upgrade request and returns everything the proxy wrote before closing. */
function rawUpgrade(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    cleanups.push(() => {
      sock.destroy();
    });
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      out += d;
    });
    sock.on('close', () => resolve(out));
    sock.on('error', reject);
    sock.setTimeout(4_000, () => sock.destroy(new Error('raw upgrade: no close within 4 s')));
    sock.write(
      `GET /room HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
  });
}

describe('websocket proxying', () => {
  it('echoes through the proxy with forwarded headers and a request id', async () => {
    const a = await startWsBackend('a');
    const { port, proxy, rec } = await startProxy(new Map([['chat.test', { backends: [a.backend] }]]));
    const { ws, res } = await openClient(port, 'chat.test', {
      'x-request-id': 'ws-req-1',
      'x-forwarded-for': '6.6.6.6',
    });
    expect(await roundTrip(ws, 'hello')).toBe('a:hello');
    expect(await roundTrip(ws, 'again')).toBe('a:again');
    expect(res.headers['x-request-id']).toBe('ws-req-1');
    const h = a.handshakes[0]!;
    expect(h['x-request-id']).toBe('ws-req-1');
    expect(h['x-forwarded-for']).toBe('127.0.0.1'); // untrusted client value replaced
    expect(h['x-forwarded-host']).toBe('chat.test');
    expect(h.upgrade).toBe('websocket');
    expect(proxy.openWebSockets(a.backend.id)).toBe(1);
    expect(rec.opened).toEqual([a.backend.id]);
    expect(rec.statuses).toEqual([101]);
    expect(proxy.inflightTotal()).toBe(0); // tunnels are not HTTP requests in flight
  });

  it('survives releaseBackend and closeBackendSockets of an unrelated backend, and table changes', async () => {
    const a = await startWsBackend('a');
    const b = await startWsBackend('b');
    const routes = new Map<string, Route>([['chat.test', { backends: [a.backend] }]]);
    const { port, proxy } = await startProxy(routes);
    const { ws } = await openClient(port);
    expect(await roundTrip(ws, 'one')).toBe('a:one');
    routes.get('chat.test')!.backends = [a.backend, b.backend]; // unrelated table change
    proxy.releaseBackend(b.backend.id);
    proxy.closeBackendSockets(b.backend.id, 50);
    proxy.releaseBackend(a.backend.id); // HTTP keep-alive release does not touch tunnels either
    await delay(200);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(await roundTrip(ws, 'two')).toBe('a:two');
    expect(proxy.openWebSockets()).toBe(1);
  });

  it('closeBackendSockets closes the backend’s tunnels within the drain period, both sides', async () => {
    const a = await startWsBackend('a');
    const b = await startWsBackend('b');
    const { port, proxy, rec } = await startProxy(new Map([['chat.test', { backends: [a.backend, b.backend] }]]));
    const clients = await Promise.all([openClient(port), openClient(port), openClient(port), openClient(port)]);
    const onA: WebSocket[] = [];
    const onB: WebSocket[] = [];
    for (const { ws } of clients) {
      if ((await roundTrip(ws, 'who')).startsWith('a:')) onA.push(ws);
      else onB.push(ws);
    }
    expect(onA.length).toBe(2);
    expect(onB.length).toBe(2);
    const drainMs = 400;
    const t0 = Date.now();
    const closedAt = onA.map(
      (ws) => new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now() - t0))),
    );
    proxy.closeBackendSockets(a.backend.id, drainMs);
    const times = await Promise.all(closedAt);
    for (const t of times) expect(t).toBeLessThanOrEqual(drainMs + 150);
    await waitFor('backend a to see both sockets close', () => a.closes === 2, 2_000);
    await waitFor('tunnels forgotten', () => proxy.openWebSockets(a.backend.id) === 0, drainMs + 150);
    expect(rec.closed.filter((id) => id === a.backend.id)).toHaveLength(2);
    // The other backend's tunnels are untouched.
    for (const ws of onB) expect(await roundTrip(ws, 'still')).toBe('b:still');
    expect(b.closes).toBe(0);
  });

  it('destroys both sides when the backend drops the connection', async () => {
    const a = await startWsBackend('a');
    const { port, proxy } = await startProxy(new Map([['chat.test', { backends: [a.backend] }]]));
    const { ws } = await openClient(port);
    expect(await roundTrip(ws, 'x')).toBe('a:x');
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    for (const c of a.wss.clients) c.terminate();
    await closed;
    await waitFor('tunnel forgotten', () => proxy.openWebSockets() === 0, 2_000);
  });

  it('destroys the backend side when the client drops the connection', async () => {
    const a = await startWsBackend('a');
    const { port, proxy } = await startProxy(new Map([['chat.test', { backends: [a.backend] }]]));
    const { ws } = await openClient(port);
    expect(await roundTrip(ws, 'x')).toBe('a:x');
    ws.terminate();
    await waitFor('backend to see the close', () => a.closes === 1, 2_000);
    await waitFor('tunnel forgotten', () => proxy.openWebSockets() === 0, 2_000);
  });

  // http-proxy only half-closes the client after an upstream error (#783, #1510): a client that
  // keeps its side open would pin the proxy's socket forever. Here the client allows half-open
  // sockets and never ends its side; the proxy must still release its socket.
  it('an upstream reset releases the client socket even if the client would stay half-open', async () => {
    const rst = http.createServer();
    const upgraded = new Set<import('node:stream').Duplex>();
    rst.on('upgrade', (_req, socket) => {
      upgraded.add(socket);
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Accept: x\r\n\r\n',
      );
      setTimeout(() => (socket as import('node:net').Socket).resetAndDestroy(), 50);
    });
    const rstPort = await listen(rst);
    cleanups.push(() => {
      for (const s of upgraded) s.destroy();
      return closeHttp(rst);
    });
    const { port, proxy, server } = await startProxy(
      new Map([['chat.test', { backends: [backendFor('rst', rstPort, 'chat')] }]]),
    );
    const sock = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    cleanups.push(() => {
      sock.destroy();
    });
    let got = '';
    let ended = false;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      got += d;
    });
    sock.on('end', () => {
      ended = true;
    });
    sock.on('error', () => undefined);
    sock.write(
      'GET /room HTTP/1.1\r\nHost: chat.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    await waitFor('101 through the proxy', () => got.startsWith('HTTP/1.1 101 Switching Protocols'), 2_000);
    await waitFor('the proxy to end the client side', () => ended, 2_000);
    await waitFor('the proxy to release its client socket', async () => (await connections(server)) === 0, 2_000);
    expect(proxy.openWebSockets()).toBe(0);
  });

  it('answers a raw 503 when no backend is live, and 404 when no route matches', async () => {
    const { port, rec } = await startProxy(new Map([['chat.test', { backends: [] }]]));
    const r503 = await rawUpgrade(port, 'chat.test');
    expect(r503.startsWith('HTTP/1.1 503 Service Unavailable\r\n')).toBe(true);
    expect(r503.endsWith('\r\n\r\nno live backend for service chat\n')).toBe(true);
    const r404 = await rawUpgrade(port, 'nowhere.test');
    expect(r404.startsWith('HTTP/1.1 404 Not Found\r\n')).toBe(true);
    expect(r404.endsWith('\r\n\r\nno route for nowhere.test/room\n')).toBe(true);
    expect(rec.statuses).toEqual([503, 404]);
  });

  it('answers 502 and ejects a backend that refuses the connection', async () => {
    const s = createNetServer();
    const deadPort = await listen(s);
    await new Promise<void>((r) => s.close(() => r()));
    const dead = backendFor('dead', deadPort, 'chat');
    const { port, proxy, rec } = await startProxy(new Map([['chat.test', { backends: [dead] }]]));
    const reply = await rawUpgrade(port, 'chat.test');
    expect(reply.startsWith('HTTP/1.1 502 Bad Gateway\r\n')).toBe(true);
    expect(reply.endsWith('bad gateway: ECONNREFUSED from service chat\n')).toBe(true);
    expect(proxy.ejector.isEjected(dead.id)).toBe(true);
    expect(rec.ejects).toEqual([dead.id]);
    expect(proxy.openWebSockets()).toBe(0);
  });

  it('answers 504 when the backend never completes the handshake, and closes the upstream', async () => {
    let upstreamClosed = false;
    const hang = http.createServer();
    const upgraded = new Set<import('node:stream').Duplex>();
    hang.on('upgrade', (_req, socket) => {
      upgraded.add(socket);
      // Read, so the proxy's FIN is noticed; http servers allow half-open sockets, so FIN shows as 'end'.
      for (const ev of ['end', 'close', 'error'])
        socket.once(ev, () => {
          upstreamClosed = true;
        });
      socket.resume();
    });
    const hangPort = await listen(hang);
    cleanups.push(() => {
      for (const s of upgraded) s.destroy(); // upgraded sockets are not the server's to close
      return closeHttp(hang);
    });
    const { port, proxy } = await startProxy(
      new Map([['chat.test', { backends: [backendFor('hang', hangPort, 'chat')] }]]),
      300,
    );
    const reply = await rawUpgrade(port, 'chat.test');
    expect(reply.startsWith('HTTP/1.1 504 Gateway Timeout\r\n')).toBe(true);
    expect(reply.endsWith('upstream timeout from service chat\n')).toBe(true);
    await waitFor('upstream handshake socket closed', () => upstreamClosed, 2_000);
    expect(proxy.openWebSockets()).toBe(0);
  });

  it("a route's timeout bounds the handshake instead of --upstream-timeout", async () => {
    const hang = http.createServer();
    const upgraded = new Set<import('node:stream').Duplex>();
    hang.on('upgrade', (_req, socket) => upgraded.add(socket.resume()));
    const hangPort = await listen(hang);
    cleanups.push(() => {
      for (const s of upgraded) s.destroy();
      return closeHttp(hang);
    });
    const { policy } = parseRouteFlag('{"host":"chat.test","service":"chat","timeout":"300ms"}');
    const route = { policy, backends: [backendFor('hang', hangPort, 'chat')] };
    const { port } = await startProxy(new Map([['chat.test', route]]), 30_000);
    const t0 = Date.now();
    const reply = await rawUpgrade(port, 'chat.test');
    expect(reply.startsWith('HTTP/1.1 504 Gateway Timeout\r\n')).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it('sets the sticky cookie on the 101 and honours it', async () => {
    const a = await startWsBackend('a');
    const b = await startWsBackend('b');
    const { port } = await startProxy(new Map([['chat.test', { sticky: true, backends: [a.backend, b.backend] }]]));
    const first = await openClient(port);
    const who = (await roundTrip(first.ws, 'q')).split(':')[0]!;
    const id = `chat/${who}`;
    const setCookie = first.res.headers['set-cookie'];
    expect(setCookie).toHaveLength(1);
    expect(setCookie?.[0]).toMatch(new RegExp(`^${STICKY_COOKIE}=[A-Za-z0-9_-]{22}; Path=/; HttpOnly; SameSite=Lax$`));
    expect(setCookie?.[0]).not.toContain(encodeURIComponent(id));
    for (let i = 0; i < 3; i++) {
      const again = await openClient(port, 'chat.test', { cookie: setCookie![0]!.split(';')[0]! });
      expect(await roundTrip(again.ws, 'q')).toBe(`${who}:q`);
      expect(again.res.headers['set-cookie']).toBeUndefined();
    }
  });
});
