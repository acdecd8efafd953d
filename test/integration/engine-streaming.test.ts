// Bodies stream with backpressure both ways, never buffered whole: a sink that stops accepting pauses
// the backend socket (the backend's writes block; the process holds a bounded amount), and a backend
// that stops reading pauses the client's request stream (node:http front server → engine → raw backend).
import http from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamConnection } from '../../balancer/proxy/engine/upstream-connection.js';
import { UpstreamEngine } from '../../balancer/proxy/engine/upstream-engine.js';
import { engineBackend, rawBackend, readRequests, RecordingSink } from '../helpers/engine-kit.js';
import { closeHttp, listen } from '../helpers/servers.js';
import { delay, waitFor } from '../helpers/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const MiB = 1024 * 1024;

describe('engine streaming: backpressure', () => {
  it('a sink that stops accepting pauses the backend socket; resume() delivers the rest', async () => {
    const total = 48 * MiB;
    let written = 0;
    const b = await rawBackend((sock) =>
      readRequests(sock, () => {
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
        const piece = Buffer.alloc(64 * 1024, 0x61);
        const pump = (): void => {
          while (written < total) {
            written += piece.length;
            if (!sock.write(piece)) {
              sock.once('drain', pump);
              return;
            }
          }
        };
        pump();
      }),
    );
    cleanups.push(() => b.close());
    const e = new UpstreamEngine({ upstreamIdleTimeoutMs: 100 });
    cleanups.push(() => e.destroy());
    const sink = new RecordingSink();
    sink.store = false;
    sink.accept = false;
    const attempt = e.pool(engineBackend('a', b.port)).request('GET', '/big', { host: 'x' }, undefined, sink);
    sink.attempt = attempt;
    await waitFor('first body bytes', () => sink.bytes > 0, 2_000);
    // Longer than the idle timeout: a pause we asked for is not the backend's silence.
    await delay(500);
    const conn = attempt.host as UpstreamConnection;
    expect(conn.socket.isPaused()).toBe(true);
    expect(sink.error).toBeUndefined();
    // The engine holds at most a read or two; the backend is blocked on full socket buffers.
    expect(sink.bytes).toBeLessThan(2 * MiB);
    expect(conn.socket.bytesRead).toBeLessThan(4 * MiB);
    expect(written).toBeLessThan(total / 2);
    const before = sink.bytes;
    await delay(100);
    expect(sink.bytes).toBe(before);
    sink.accept = true;
    attempt.resume();
    await sink.finished;
    expect(sink.error).toBeUndefined();
    expect(sink.bytes).toBe(total);
  });

  it('a backend that stops reading pauses the client request stream (node:http front server)', async () => {
    const total = 48 * MiB;
    let received = 0;
    let release: (() => void) | undefined;
    const b = await rawBackend((sock) => {
      let head = true;
      sock.pause();
      release = () => sock.resume();
      sock.on('data', (d: Buffer) => {
        if (head) {
          const end = d.indexOf('\r\n\r\n');
          received += d.length - end - 4;
          head = false;
        } else {
          received += d.length;
        }
        if (received >= total) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    cleanups.push(() => b.close());
    const e = new UpstreamEngine();
    cleanups.push(() => e.destroy());
    const pool = e.pool(engineBackend('a', b.port));
    let frontReq: http.IncomingMessage | undefined;
    const front = http.createServer((req, res) => {
      frontReq = req;
      const sink = new RecordingSink();
      sink.onHead = () => res.writeHead(sink.status);
      void sink.finished.then(() => res.end(sink.body()));
      pool.request('POST', '/upload', { host: 'x', 'content-length': String(total) }, req, sink);
    });
    const port = await listen(front);
    cleanups.push(() => closeHttp(front));
    let sent = 0;
    const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { port, host: '127.0.0.1', method: 'POST', path: '/', agent: false, headers: { 'content-length': total } },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      const piece = Buffer.alloc(64 * 1024, 0x62);
      const pump = (): void => {
        while (sent < total) {
          sent += piece.length;
          const more = sent < total ? req.write(piece) : req.end(piece) && false;
          if (!more && sent < total) {
            req.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    await waitFor('front request started', () => frontReq !== undefined, 2_000);
    await delay(500);
    expect(frontReq?.isPaused()).toBe(true);
    expect(sent).toBeLessThan(total / 2);
    release?.();
    const r = await reply;
    expect(r).toEqual({ status: 200, body: 'ok' });
    expect(received).toBe(total);
  });

  it('streams a response to a slow client through a node:http front server without buffering it', async () => {
    const total = 32 * MiB;
    const b = await rawBackend((sock) =>
      readRequests(sock, () => {
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
        let n = 0;
        const piece = Buffer.alloc(64 * 1024, 0x63);
        const pump = (): void => {
          while (n < total) {
            n += piece.length;
            if (!sock.write(piece)) {
              sock.once('drain', pump);
              return;
            }
          }
        };
        pump();
      }),
    );
    cleanups.push(() => b.close());
    const e = new UpstreamEngine();
    cleanups.push(() => e.destroy());
    const pool = e.pool(engineBackend('a', b.port));
    let upstream: UpstreamConnection | undefined;
    const front = http.createServer((_req, res) => {
      // The sink a caller would write: forward chunks, pause on false, resume on drain.
      const sink = new RecordingSink();
      sink.store = false;
      const onData = sink.onData.bind(sink);
      sink.onHead = () => res.writeHead(sink.status, { 'content-length': total });
      sink.onData = (chunk) => {
        onData(chunk);
        return res.write(chunk);
      };
      void sink.finished.then(() => res.end());
      const attempt = pool.request('GET', '/', { host: 'x' }, undefined, sink);
      upstream = attempt.host as UpstreamConnection;
      res.on('drain', () => attempt.resume());
    });
    const port = await listen(front);
    cleanups.push(() => closeHttp(front));
    let got = 0;
    let clientRes: http.IncomingMessage | undefined;
    const done = new Promise<void>((resolve) => {
      http.get({ port, host: '127.0.0.1', agent: false }, (res) => {
        clientRes = res;
        res.pause();
        const slow = new Writable({
          highWaterMark: 64 * 1024,
          write: (chunk: Buffer, _enc, cb) => {
            got += chunk.length;
            cb();
          },
        });
        res.on('end', resolve);
        setTimeout(() => res.pipe(slow), 500);
      });
    });
    await waitFor('client response', () => clientRes !== undefined, 2_000);
    await delay(300);
    expect(upstream?.socket.isPaused()).toBe(true);
    expect(upstream?.socket.bytesRead ?? 0).toBeLessThan(8 * MiB);
    await done;
    expect(got).toBe(total);
  });
});
