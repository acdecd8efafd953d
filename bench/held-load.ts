// The held-load client (issue 14): opens many idle keep-alive HTTP/1.1 connections and open WebSockets
// to one address and holds them, in its own process (its file descriptors and event loop are its own).
// Driven over IPC one phase at a time so the harness can read the server's memory between phases:
//   {cmd: 'http'}   open `connections` sockets, each sends one GET and reads its 200, then stays idle
//   {cmd: 'ws'}     open `websockets` WebSockets (an echo backend behind the server)
//   {cmd: 'check'}  one more GET on every idle connection and one echoed message on every WebSocket:
//                   proves each was still open and usable after the hold
//   {cmd: 'close'}  closes everything and exits
// Each phase answers {type: 'done', cmd, ok, errors, ms}; errors counts failures by kind, and any
// connection that closed while held. Every phase has a deadline; opening runs `parallel` at a time.
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { echo, openWebSocket } from './lib/ws-client.js';

export interface HeldParams {
  readonly port: number;
  readonly host: string;
  readonly connections: number;
  readonly websockets: number;
  readonly parallel: number;
  readonly phaseTimeoutMs: number;
}

export interface PhaseResult {
  readonly type: 'done';
  readonly cmd: string;
  readonly ok: number;
  readonly errors: Record<string, number>;
  readonly ms: number;
}

const p = JSON.parse(process.argv[2] ?? '{}') as HeldParams;
const errors: Record<string, number> = {};
const count = (kind: string): void => void (errors[kind] = (errors[kind] ?? 0) + 1);
let closing = false;

/** An idle keep-alive connection: one request at a time, the response read by Content-Length. */
class Conn {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: ((ok: boolean) => void) | undefined;
  readonly socket: Socket;

  constructor() {
    this.socket = connect(p.port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', (err: NodeJS.ErrnoException) => count(err.code ?? 'socket-error'));
    this.socket.on('close', () => {
      if (!closing) count('closed-while-held');
      this.settle(false);
    });
  }

  request(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        count('timeout');
        this.settle(false);
      }, timeoutMs);
      this.waiting = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
      this.socket.write(`GET / HTTP/1.1\r\nHost: ${p.host}\r\n\r\n`);
    });
  }

  private settle(ok: boolean): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(ok);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 'NaN');
    if (!Number.isFinite(length)) {
      count('no-content-length');
      return this.settle(false);
    }
    if (this.buf.length < end + 4 + length) return;
    this.buf = this.buf.subarray(end + 4 + length);
    const ok = head.startsWith('HTTP/1.1 200');
    if (!ok) count(`status ${head.slice(9, 12)}`);
    this.settle(ok);
  }
}

const conns: Conn[] = [];
const sockets: WebSocket[] = [];

/** Runs `fn(i)` for i < n, `parallel` at a time, until done or the deadline. */
async function pool(n: number, fn: (i: number) => Promise<boolean>): Promise<number> {
  const deadline = performance.now() + p.phaseTimeoutMs;
  let next = 0;
  let ok = 0;
  const worker = async (): Promise<void> => {
    while (next < n && performance.now() < deadline) if (await fn(next++)) ok++;
  };
  await Promise.all(Array.from({ length: Math.min(p.parallel, n) }, worker));
  if (next < n) errors['phase-deadline'] = n - next;
  return ok;
}

const openConn = async (): Promise<boolean> => {
  const c = new Conn();
  conns.push(c);
  return c.request(10_000);
};

function openWs(): Promise<boolean> {
  const { ws, opened } = openWebSocket(p.port, p.host, '/ws', 10_000, count);
  sockets.push(ws);
  ws.on('close', () => {
    if (!closing) count('ws-closed-while-held');
  });
  return opened;
}

async function phase(cmd: string): Promise<number> {
  switch (cmd) {
    case 'http':
      return pool(p.connections, openConn);
    case 'ws':
      return pool(p.websockets, openWs);
    case 'check': {
      const http = await pool(conns.length, (i) => conns[i]!.request(10_000));
      return (
        http + (await pool(sockets.length, (i) => echo(sockets[i]!, `held-${i}-${performance.now()}`, 10_000, count)))
      );
    }
    case 'close':
      closing = true;
      for (const c of conns) c.socket.destroy();
      for (const ws of sockets) ws.terminate();
      return 0;
    default:
      throw new Error(`unknown phase ${cmd}`);
  }
}

process.on('message', (m: { cmd?: string }) => {
  const cmd = m.cmd ?? '';
  const t0 = performance.now();
  void phase(cmd).then((ok) => {
    const result: PhaseResult = { type: 'done', cmd, ok, errors: { ...errors }, ms: performance.now() - t0 };
    process.send?.(result, () => {
      if (cmd === 'close') process.exit(0);
    });
  });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
