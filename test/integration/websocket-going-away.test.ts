// Shutdown of open WebSockets through the proxy edge, on real sockets: raw backends that write their
// 101 and first frame bytes in one segment, so what the balancer sends each side can be read byte
// by byte. A 1001 close frame goes to the client unmasked and to the backend masked, never into the
// middle of a frame.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { createServer, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createProxy, type ProxyHandler } from '../../balancer/proxy/proxy.js';
import { backendFor } from '../helpers/backends.js';
import { closeHttp, listen } from '../helpers/servers.js';
import { stubPicker } from '../helpers/stub-picker.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface RawBackend {
  readonly port: number;
  /** Bytes received after the upgrade request's head. */
  received(): Buffer;
  closed: Promise<void>;
}

/** Answers the upgrade with its 101 and `first` in one write, then records what it receives. */
async function rawBackend(first: Buffer): Promise<RawBackend> {
  let head = '';
  let after = Buffer.alloc(0);
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const sockets: Socket[] = [];
  const server = createServer((sock) => {
    sockets.push(sock);
    sock.on('close', resolveClosed);
    sock.on('data', (d: Buffer) => {
      if (head.endsWith('\r\n\r\n')) {
        after = Buffer.concat([after, d]);
        return;
      }
      head += d.toString('latin1');
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1];
      if (!head.endsWith('\r\n\r\n') || key === undefined) return;
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      const response =
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`;
      sock.write(Buffer.concat([Buffer.from(response, 'latin1'), first]));
    });
    sock.on('end', () => sock.end());
    sock.on('error', () => sock.destroy());
  });
  const port = await listen(server);
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port, received: () => after, closed };
}

async function startProxy(port: number): Promise<{ proxy: ProxyHandler; url: string }> {
  const backend = backendFor('a', port, 'chat');
  const proxy = createProxy({
    lookup: () => ({ rule: undefined, service: 'chat', view: { name: 'chat', backends: [backend] } }),
    picker: stubPicker,
    defaultLb: 'round-robin',
    trustedProxies: [],
  });
  const server = http.createServer((req, res) => proxy.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head));
  const proxyPort = await listen(server);
  cleanups.push(async () => {
    proxy.close();
    await closeHttp(server);
  });
  return { proxy, url: `ws://127.0.0.1:${proxyPort}/` };
}

/** An unmasked text frame, as a server sends it. */
const text = (s: string): Buffer => Buffer.concat([Buffer.from([0x81, s.length]), Buffer.from(s)]);

/** The close code of a masked close frame at the start of `b`, or undefined. */
function maskedCloseCode(b: Buffer): number | undefined {
  if (b.length < 8 || b[0] !== 0x88 || b[1] !== 0x82) return undefined;
  return ((b[6]! ^ b[2]!) << 8) | (b[7]! ^ b[3]!);
}

describe('goAwayWebSockets', () => {
  it('a greeting sent with the 101 arrives whole; then 1001: to the client unmasked, the backend masked', async () => {
    const b = await rawBackend(text('hello'));
    const { proxy, url } = await startProxy(b.port);
    const ws = new WebSocket(url);
    cleanups.push(() => ws.terminate());
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(m.toString()));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    await waitFor('the greeting', () => messages.length === 1, 3000);
    expect(messages).toEqual(['hello']); // following the frames took no byte from the relay
    expect(proxy.openWebSockets()).toBe(1);

    await proxy.goAwayWebSockets(2000);
    expect(await closed).toBe(1001); // ws reports 1006 when the connection ends without a close frame
    await b.closed;
    expect(maskedCloseCode(b.received())).toBe(1001);
    expect(b.received()).toHaveLength(8); // exactly one masked close frame, nothing after it
    expect(proxy.openWebSockets()).toBe(0);
  });

  it('never writes a close frame into a frame cut in half: that side only sees the connection end', async () => {
    // The backend sends the header of a 100-byte binary frame and 10 of its bytes, then nothing.
    const half = Buffer.concat([Buffer.from([0x82, 100]), Buffer.alloc(10, 7)]);
    const b = await rawBackend(half);
    const { proxy, url } = await startProxy(b.port);
    const client = new URL(url);
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = new Socket();
      s.connect(Number(client.port), '127.0.0.1', () => resolve(s)).once('error', reject);
    });
    cleanups.push(() => void sock.destroy());
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    const ended = new Promise<void>((resolve) => sock.once('end', resolve));
    sock.write(
      'GET / HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const frameStart = (): number => got.indexOf('\r\n\r\n') + 4;
    await waitFor('the half frame', () => got.length - frameStart() === half.length && frameStart() > 3, 3000);
    // The client, in turn, is mid-frame towards the backend: no close frame may follow those bytes either.
    sock.write(Buffer.from([0x82, 0x80 | 50, 1, 2, 3, 4, 9, 9]));
    await waitFor('the backend got the client bytes', () => b.received().length === 8, 3000);

    await proxy.goAwayWebSockets(2000);
    await ended;
    expect(got.subarray(frameStart())).toEqual(half); // ended right after the half frame, nothing added
    await b.closed;
    expect(b.received()).toEqual(Buffer.from([0x82, 0x80 | 50, 1, 2, 3, 4, 9, 9]));
    expect(proxy.openWebSockets()).toBe(0);
  });
});
