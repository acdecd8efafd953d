// The upstream engine's socket pool on real sockets: keep-alive reuse (LIFO), sockets the backend
// closed or wrote to while idle dropped before reuse, the idle timeout, the socket bound with its
// wait queue and the pool-full failure, release/close, a changed target, connect failures, and TLS.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamEngine, type UpstreamEngineOptions } from '../../balancer/proxy/engine/upstream-engine.js';
import { answering, engineBackend, exchange, rawBackend, readRequests, RecordingSink } from '../helpers/engine-kit.js';
import { makeCerts } from '../helpers/certs.js';
import { closeHttp, listen } from '../helpers/servers.js';
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

async function raw(onConnection: Parameters<typeof rawBackend>[0]) {
  const b = await rawBackend(onConnection);
  cleanups.push(() => b.close());
  return b;
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

describe('engine pool: keep-alive reuse', () => {
  it('carries sequential requests over one socket, reused after the first', async () => {
    let connections = 0;
    const server = http.createServer((req, res) => res.end(`hello ${req.url}`));
    server.on('connection', () => connections++);
    const port = await listen(server);
    cleanups.push(() => closeHttp(server));
    const pool = engine().pool(engineBackend('a', port));
    for (let i = 0; i < 20; i++) {
      const s = await exchange(pool, 'GET', `/${i}`);
      expect(s.error).toBeUndefined();
      expect(s.status).toBe(200);
      expect(s.body()).toBe(`hello /${i}`);
      expect(s.attempt?.reused).toBe(i > 0);
    }
    expect(connections).toBe(1);
    expect(pool.stats()).toMatchObject({ sockets: 1, idle: 1, busy: 0 });
  });

  it('reuses the most recently released (settled) socket first (LIFO)', async () => {
    const held: Array<() => void> = [];
    const seenOn: number[] = [];
    const b = await raw((sock, index) =>
      readRequests(sock, () => {
        seenOn.push(index);
        if (seenOn.length <= 3) held.push(() => sock.write(OK));
        else sock.write(OK);
      }),
    );
    const pool = engine().pool(engineBackend('a', b.port));
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    for (const s of sinks) pool.request('GET', '/', { host: 'x' }, undefined, s);
    await waitFor('three requests held', () => held.length === 3, 2_000);
    // Released in the order 0, 2, 1: socket 1 is the warmest.
    const order = [0, 2, 1];
    for (const i of order) {
      held[seenOn.indexOf(i)]?.();
      await sinks[seenOn.indexOf(i)]?.finished;
    }
    // Released sockets settle for a loop turn before reuse (backend-pool.ts); LIFO among settled ones.
    await delay(10);
    const next = await exchange(pool);
    expect(next.status).toBe(200);
    expect(seenOn[3]).toBe(1);
    expect(b.connections()).toBe(3);
  });
});

describe('engine pool: idle sockets', () => {
  it('drops an idle socket the backend closed; the next request gets a fresh one', async () => {
    const b = await raw(
      answering((_req, _i, sock) => {
        setTimeout(() => sock.end(), 30);
        return OK;
      }),
    );
    const pool = engine().pool(engineBackend('a', b.port));
    expect((await exchange(pool)).status).toBe(200);
    await waitFor('idle socket dropped', () => pool.stats().sockets === 0, 2_000);
    const second = await exchange(pool);
    expect(second.error).toBeUndefined();
    expect(second.attempt?.reused).toBe(false);
    expect(b.connections()).toBe(2);
  });

  it('destroys an idle socket that receives any byte', async () => {
    let closed = false;
    const b = await raw((sock) => {
      sock.on('close', () => (closed = true));
      readRequests(sock, () => {
        sock.write(OK);
        setTimeout(() => sock.write('X'), 30);
      });
    });
    const pool = engine().pool(engineBackend('a', b.port));
    expect((await exchange(pool)).body()).toBe('ok');
    await waitFor('socket destroyed', () => closed && pool.stats().sockets === 0, 2_000);
    expect((await exchange(pool)).attempt?.reused).toBe(false);
  });

  it('closes idle sockets after idleTimeoutMs, not before', async () => {
    let closedAt = 0;
    const b = await raw((sock) => {
      sock.on('close', () => (closedAt = performance.now()));
      readRequests(sock, () => sock.write(OK));
    });
    const pool = engine({ idleTimeoutMs: 200 }).pool(engineBackend('a', b.port));
    await exchange(pool);
    const idleFrom = performance.now();
    await delay(120);
    expect(closedAt).toBe(0);
    expect(pool.stats().idle).toBe(1);
    await waitFor('idle socket closed', () => closedAt > 0, 2_000);
    // Swept every idleTimeoutMs / 8: closed within one sweep (plus scheduling noise) of the timeout.
    expect(closedAt - idleFrom).toBeGreaterThanOrEqual(190);
    expect(closedAt - idleFrom).toBeLessThan(600);
    expect(pool.stats().sockets).toBe(0);
  });

  it('does not reuse a socket after Connection: close or an HTTP/1.0 response without keep-alive', async () => {
    const replies = [
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok',
      OK,
    ];
    let n = 0;
    const b = await raw(answering(() => replies[n++]));
    const pool = engine().pool(engineBackend('a', b.port));
    for (let i = 0; i < 4; i++) expect((await exchange(pool)).body()).toBe('ok');
    // close → new, 1.0 → new, 1.0 keep-alive → reused for the 4th.
    expect(b.connections()).toBe(3);
  });
});

describe('engine pool: bounds', () => {
  it('holds at most maxSockets, queues maxWaiters FIFO, then fails pool-full', async () => {
    const held: Socket[] = [];
    const b = await raw((sock) => readRequests(sock, () => held.push(sock)));
    const pool = engine({ maxSocketsPerBackend: 2, maxWaitersPerBackend: 2 }).pool(engineBackend('a', b.port));
    const sinks = Array.from({ length: 5 }, () => new RecordingSink());
    for (const s of sinks) s.attempt = pool.request('GET', '/', { host: 'x' }, undefined, s);
    await sinks[4]?.finished;
    expect(sinks[4]?.error?.kind).toBe('pool-full');
    expect(sinks[4]?.error?.code).toBe('ERR_UPSTREAM_POOL_FULL');
    await waitFor('two requests at the backend', () => held.length === 2, 2_000);
    expect(pool.stats()).toMatchObject({ sockets: 2, busy: 2, waiting: 2 });
    // An aborted waiter leaves the queue; the next one is served first-come first-served.
    sinks[2]?.attempt?.abort();
    expect(pool.stats().waiting).toBe(1);
    held[0]?.write(OK);
    await sinks[0]?.finished;
    await waitFor('waiter 3 at the backend', () => held.length === 3, 2_000);
    held[2]?.write(OK);
    held[1]?.write(OK);
    await Promise.all([sinks[1]?.finished, sinks[3]?.finished]);
    expect(sinks.map((s) => s.events.at(-1))).toEqual(['end', 'end', undefined, 'end', 'error pool-full']);
    expect(sinks[3]?.attempt?.reused).toBe(true);
    expect(b.connections()).toBe(2);
  });

  it('gives a waiter a new connection when a busy socket closes instead of being reused', async () => {
    const b = await raw(
      answering((_r, _i, sock) => {
        setTimeout(() => sock.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'), 20);
        return undefined;
      }),
    );
    const pool = engine({ maxSocketsPerBackend: 1 }).pool(engineBackend('a', b.port));
    const [x, y] = await Promise.all([exchange(pool), exchange(pool)]);
    expect([x.body(), y.body()]).toEqual(['ok', 'ok']);
    expect(b.connections()).toBe(2);
  });
});

describe('engine pool: release, close, targets', () => {
  it('release(id): idle now, busy after its exchange, and a new pool afterwards', async () => {
    const held: Socket[] = [];
    const closed: number[] = [];
    let answerAtOnce = true;
    const b = await raw((sock, index) => {
      sock.on('close', () => closed.push(index));
      readRequests(sock, () => (answerAtOnce ? sock.write(OK) : held.push(sock)));
    });
    const e = engine();
    const backend = engineBackend('a', b.port);
    const pool = e.pool(backend);
    // Two sockets: both answered at once, both idle.
    await Promise.all([exchange(pool), exchange(pool)]);
    expect(pool.stats().idle).toBe(2);
    answerAtOnce = false;
    const busy = new RecordingSink();
    pool.request('GET', '/', { host: 'x' }, undefined, busy);
    await waitFor('one held', () => held.length === 1, 2_000);
    const busyIndex = b.sockets.indexOf(held[0] as Socket);
    e.release(backend.id);
    await waitFor('idle socket closed', () => closed.length === 1, 2_000);
    expect(closed).toEqual([1 - busyIndex]);
    held[0]?.write(OK);
    await busy.finished;
    expect(busy.ended).toBe(true);
    await waitFor('busy socket closed after its exchange', () => closed.length === 2, 2_000);
    answerAtOnce = true;
    const again = await exchange(e.pool(backend));
    expect(again.attempt?.reused).toBe(false);
    expect(b.connections()).toBe(3);
  });

  it('fails requests waiting on a released backend as connect (nothing was sent)', async () => {
    const b = await raw(() => undefined);
    const e = engine({ maxSocketsPerBackend: 1 });
    const backend = engineBackend('a', b.port);
    const pool = e.pool(backend);
    const first = new RecordingSink();
    const waiter = new RecordingSink();
    pool.request('GET', '/', { host: 'x' }, undefined, first);
    pool.request('GET', '/', { host: 'x' }, undefined, waiter);
    e.release(backend.id);
    await waiter.finished;
    expect(waiter.error?.kind).toBe('connect');
    expect(pool.request('GET', '/', { host: 'x' }, undefined, new RecordingSink()).done).toBe(false);
    first.attempt?.abort();
  });

  it('keys pools by backend id and ties them to the target: a changed port gets a new pool', async () => {
    const one = await raw(answering(() => 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none'));
    const two = await raw(answering(() => 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo'));
    const e = engine();
    const before = e.pool(engineBackend('a', one.port));
    expect((await exchange(before)).body()).toBe('one');
    const after = e.pool(engineBackend('a', two.port));
    expect(after).not.toBe(before);
    expect(e.pool(engineBackend('a', two.port))).toBe(after);
    expect((await exchange(after)).body()).toBe('two');
    await waitFor('old pool closed', () => before.stats().sockets === 0, 2_000);
  });

  it('close() releases every backend', async () => {
    const b = await raw(answering(() => OK));
    const e = engine();
    const pool = e.pool(engineBackend('a', b.port));
    await exchange(pool);
    e.close();
    expect(pool.stats().sockets).toBe(0);
  });
});

/** A listener that never accepts (its process is stopped) and whose accept queue is full. */
async function blackhole(): Promise<{ port: number; close(): void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(String(s.address().port) + '\\n');
         setTimeout(() => process.kill(process.pid, 'SIGSTOP'), 50);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
  });
  await delay(200);
  const fillers: Socket[] = [];
  for (let i = 0; i < 6; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await delay(200);
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}

describe('engine pool: connect failures', () => {
  it('classifies a refused connection as connect (ECONNREFUSED)', async () => {
    const b = await raw(() => undefined);
    const port = b.port;
    await b.close();
    const s = await exchange(engine().pool(engineBackend('dead', port)), 'POST', '/', {
      host: 'x',
      'content-length': '0',
    });
    expect(s.error).toMatchObject({ kind: 'connect', reason: 'ECONNREFUSED', reused: false, bodyBytesSent: 0 });
  });

  it('classifies a connect that does not complete in connectTimeoutMs as connect (ETIMEDOUT)', async () => {
    const hole = await blackhole();
    cleanups.push(() => hole.close());
    const started = performance.now();
    const s = await exchange(engine({ connectTimeoutMs: 300 }).pool(engineBackend('hole', hole.port)));
    const took = performance.now() - started;
    expect(s.error).toMatchObject({ kind: 'connect', reason: 'ETIMEDOUT', responseStarted: false });
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(2_000);
  });
});

describe('engine pool: https backends', () => {
  it('speaks TLS to an https target, verifying its certificate, and reuses the connection', async () => {
    const certs = await makeCerts();
    cleanups.push(() => certs.cleanup());
    let connections = 0;
    const server = https.createServer(
      { cert: readFileSync(certs.serverCertFile), key: readFileSync(certs.serverKeyFile) },
      (req, res) => res.end(`tls ${req.url}`),
    );
    server.on('secureConnection', () => connections++);
    const port = await listen(server);
    cleanups.push(() => closeHttp(server));
    const trusted = engine({ tls: { ca: readFileSync(certs.caFile) } }).pool(engineBackend('s', port, 'https'));
    expect((await exchange(trusted, 'GET', '/a')).body()).toBe('tls /a');
    const again = await exchange(trusted, 'GET', '/b');
    expect(again.body()).toBe('tls /b');
    expect(again.attempt?.reused).toBe(true);
    expect(connections).toBe(1);
    // Without the CA the certificate does not verify: a connect failure, nothing sent.
    const untrusted = await exchange(engine().pool(engineBackend('s', port, 'https')));
    expect(untrusted.error?.kind).toBe('connect');
    expect(untrusted.error?.reason).toMatch(/CERT|SIGNATURE|ISSUER/);
  });
});
