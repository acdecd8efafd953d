// The balancer program's edges towards clients, on real sockets with a real etcd: the accept grace
// and WebSockets at SIGTERM, and the client timeout for idle keep-alive connections and stalled
// request bodies.
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { get, runLoad } from '../helpers/load.js';
import { startBalancerProgram } from '../helpers/balancer-program.js';
import { stopAllPrograms, type Program } from '../helpers/program.js';
import { delay, waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
let client: Etcd3;
const servers: Server[] = [];
const sockets: Socket[] = [];

interface Backend {
  readonly port: number;
  /** Requests whose body ended early because the proxy gave up on them. */
  aborted: number;
  completed: number;
}

async function backend(): Promise<Backend> {
  const b: Backend = { port: 0, aborted: 0, completed: 0 };
  const server = createServer((req, res) => {
    req.on('aborted', () => b.aborted++);
    req.resume();
    req.on('end', () => {
      b.completed++;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return Object.assign(b, { port: (server.address() as AddressInfo).port });
}

async function startBalancer(
  args: string[],
): Promise<{ p: Program; proxyPort: number; admin: string; backend: Backend }> {
  const b = await backend();
  await client.put('/services/web/a').value(JSON.stringify({ host: '127.0.0.1', port: b.port }));
  const started = await startBalancerProgram(etcd.endpoint, ['--default-service', 'web', ...args]);
  return { ...started, backend: b };
}

/** A raw client connection; resolves once connected. */
function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
    sockets.push(s);
  });
}

function readAll(s: Socket): { text: () => string; closed: Promise<number> } {
  let text = '';
  const t0 = Date.now();
  s.setEncoding('utf8');
  s.on('data', (d: string) => (text += d));
  return { text: () => text, closed: new Promise((r) => s.once('close', () => r(Date.now() - t0))) };
}

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await stopAllPrograms();
  await client.delete().all();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});
afterAll(async () => {
  await etcd?.destroy();
});

describe('--accept-grace', () => {
  it('SIGTERM: /readyz 503 at once, new connections still served for the grace, then refused; exit 0', async () => {
    const { p, proxyPort, admin } = await startBalancer(['--accept-grace', '2s', '--grace', '1s']);
    p.proc.kill('SIGTERM');
    const signalled = Date.now();
    await waitFor('readiness dropped', async () => (await fetch(`${admin}/readyz`)).status === 503, 500, 10);
    expect(Date.now() - signalled).toBeLessThan(500);
    // A client that opens a new connection per request keeps being served through the grace.
    const during = await runLoad({ url: `http://127.0.0.1:${proxyPort}/`, concurrency: 4, durationMs: 1300 });
    expect(during.failures).toEqual([]);
    expect(during.ok).toBeGreaterThan(20);
    expect((await fetch(`${admin}/readyz`)).status).toBe(503); // the admin listener still answers
    await waitFor(
      'listener closed after the accept grace',
      () =>
        open(proxyPort).then(
          (s) => (s.destroy(), false),
          (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
        ),
      3000,
      50,
    );
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(1900);
    expect(await p.exited()).toBe(0);
  });
});

describe('SIGTERM with open WebSockets', () => {
  it('they keep relaying through the grace, then get a 1001 close frame both ways; exit 0', async () => {
    // A backend with a slow HTTP path (keeps the grace running) and a WebSocket echo that records the
    // close code it receives from the balancer.
    const backendCloses: number[] = [];
    let slowSeen = 0;
    const server = createServer((req, res) => {
      slowSeen++;
      setTimeout(() => res.end('slow'), 1000);
    });
    new WebSocketServer({ server }).on('connection', (ws) => {
      ws.on('message', (m) => ws.send(`echo:${m.toString()}`));
      ws.on('close', (code) => backendCloses.push(code));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    await client
      .put('/services/ws/a')
      .value(JSON.stringify({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }));
    const { p, proxy, admin } = await startBalancerProgram(etcd.endpoint, ['--default-service', 'ws', '--grace', '5s']);

    const ws = new WebSocket(proxy.replace('http', 'ws'));
    const echoes: string[] = [];
    ws.on('message', (m) => echoes.push(m.toString()));
    const closed = new Promise<{ code: number; at: number }>((resolve) =>
      ws.once('close', (code) => resolve({ code, at: Date.now() })),
    );
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send('before');
    await waitFor('echo before', () => echoes.includes('echo:before'), 5000);

    const slow = get(`${proxy}/slow`);
    await waitFor('the slow request reached the backend', () => slowSeen === 1, 5000, 10);
    p.proc.kill('SIGTERM');
    const signalled = Date.now();
    ws.send('during'); // the grace is running: the tunnel still relays
    await waitFor('echo during the grace', () => echoes.includes('echo:during'), 5000);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect((await fetch(`${admin}/readyz`)).status).toBe(503); // the admin listener answers through the grace

    const { code, at } = await closed;
    const answered = await slow;
    expect([answered.status, answered.body]).toEqual([200, 'slow']);
    expect(code).toBe(1001); // a close frame, not a dropped connection (1006)
    // Not before the in-flight request was done: it had ~1000 ms left when the signal went.
    expect(at - signalled).toBeGreaterThanOrEqual(900);
    await waitFor('the backend got its close frame', () => backendCloses.length === 1, 5000);
    expect(backendCloses).toEqual([1001]);
    expect(await p.exited()).toBe(0);
  });
});

describe('--client-timeout', () => {
  it('closes a keep-alive connection idle for the timeout', async () => {
    const { proxyPort } = await startBalancer(['--client-timeout', '1s']);
    const s = await open(proxyPort);
    const r = readAll(s);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor('response', () => r.text().includes('\r\n\r\nok'), 3000);
    const idle = await r.closed;
    expect(idle).toBeGreaterThanOrEqual(900);
    expect(idle).toBeLessThan(3000);
  });

  it('answers 408 to a request body that stalls, aborts its upstream request, and keeps serving others', async () => {
    const { proxyPort, backend: b } = await startBalancer(['--client-timeout', '1s']);
    const s = await open(proxyPort);
    const r = readAll(s);
    s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
    const closedAfter = await r.closed;
    expect(r.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfter).toBeGreaterThanOrEqual(900);
    expect(closedAfter).toBeLessThan(3500);
    await waitFor('upstream request aborted', () => b.aborted === 1, 2000);
    const after = await runLoad({ url: `http://127.0.0.1:${proxyPort}/`, concurrency: 2, maxRequests: 20 });
    expect(after.failures).toEqual([]);
  });

  it('lets a slow body through while its bytes keep coming', async () => {
    const { proxyPort } = await startBalancer(['--client-timeout', '1s']);
    const s = await open(proxyPort);
    const r = readAll(s);
    s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n');
    for (let i = 0; i < 6; i++) {
      await delay(400); // 2.4 s in all, never 1 s without a byte
      s.write('x');
    }
    await waitFor('response', () => r.text().includes('\r\n\r\nok'), 3000);
    expect(r.text()).toMatch(/^HTTP\/1\.1 200 /);
  });
});
