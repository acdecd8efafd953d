// One pooled socket to a backend and the exchange it carries. Socket and body listeners are bound
// once per connection; the attempt in flight is a field, so a request costs no closure. A socket
// carries one exchange at a time and is reused only after a complete, keep-alive response to a
// completely written request; after any failure, or any byte while idle, it is destroyed.
import type { Socket } from 'node:net';
import type { ResolvedEngineOptions } from './engine-options.js';
import type { ResponseHeaders } from './header-fields.js';
import { BODY_CHUNKED, BODY_NONE } from './request-head.js';
import { P_ABORTED, P_DONE, P_UPGRADE, type ParserHandler, ResponseParser } from './response-parser.js';
import { A_ACTIVE, A_DONE, A_WAITING, type AttemptHost, type UpstreamAttempt } from './upstream-attempt.js';
import { BODY_TOO_LARGE, type FailureKind, UpstreamError } from './upstream-error.js';

/** What a connection tells its pool. */
export interface ConnectionOwner {
  readonly options: ResolvedEngineOptions;
  /** The socket is free again (connected with no attempt, or after a reusable exchange). */
  released(conn: UpstreamConnection): void;
  /** The socket is gone; called once. */
  closed(conn: UpstreamConnection): void;
}

export const C_CONNECTING = 0;
/** Released; waits one loop turn before reuse (see backend-pool.ts). */
export const C_SETTLING = 1;
export const C_IDLE = 2;
export const C_BUSY = 3;
export const C_CLOSED = 4;

const LAST_CHUNK = '0\r\n\r\n';

export class UpstreamConnection implements ParserHandler, AttemptHost {
  state = C_CONNECTING;
  attempt: UpstreamAttempt | undefined = undefined;
  /** Complete exchanges carried: > 0 means the next one is on a reused socket. */
  served = 0;
  /** Sweeps since the last byte (busy) or since it became idle. */
  quietTicks = 0;
  /** False while settling (the pool counts settling sockets). */
  settled = true;
  /** Reading is paused because the sink returned false. */
  private paused = false;
  private bodyPaused = false;
  private bodyAttached = false;
  private readonly parser: ResponseParser;

  constructor(
    private readonly owner: ConnectionOwner,
    readonly socket: Socket,
    secure: boolean,
  ) {
    this.parser = new ResponseParser(this, owner.options.parserLimits);
    this.onConnect = this.onConnect.bind(this);
    this.onData = this.onData.bind(this);
    this.onEnd = this.onEnd.bind(this);
    this.onError = this.onError.bind(this);
    this.onClose = this.onClose.bind(this);
    this.onTimeout = this.onTimeout.bind(this);
    this.onDrain = this.onDrain.bind(this);
    this.onBodyData = this.onBodyData.bind(this);
    this.onBodyEnd = this.onBodyEnd.bind(this);
    this.onBodyError = this.onBodyError.bind(this);
    this.onBodyClose = this.onBodyClose.bind(this);
    socket.setTimeout(owner.options.connectTimeoutMs);
    socket.once(secure ? 'secureConnect' : 'connect', this.onConnect);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('timeout', this.onTimeout);
    socket.on('drain', this.onDrain);
  }

  /** Puts `a` on this (connected, free) socket: one write of the head, then the body if any. */
  start(a: UpstreamAttempt): void {
    this.state = C_BUSY;
    this.attempt = a;
    this.quietTicks = 0;
    a.host = this;
    a.state = A_ACTIVE;
    a.reused = this.served > 0;
    this.parser.reset(a.isHead);
    this.socket.write(a.head.text, 'latin1');
    const body = a.body;
    if (a.head.framing === BODY_NONE || body === undefined) {
      a.requestDone = true;
      return;
    }
    this.bodyAttached = true;
    this.bodyPaused = false;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
    body.on('close', this.onBodyClose);
    if (body.readableEnded) this.onBodyEnd();
    else body.resume();
  }

  /** Marks the socket settling: released, not yet available. */
  settleStart(): void {
    this.state = C_SETTLING;
    this.settled = false;
    this.quietTicks = 0;
  }

  /** Marks the socket idle (the pool pushed it on its stack). */
  idle(): void {
    this.state = C_IDLE;
    this.quietTicks = 0;
  }

  /** One sweep of the engine's timer: closes an expired idle socket, fails a body stalled too long. */
  tick(): void {
    const o = this.owner.options;
    if (this.state === C_IDLE) {
      if (++this.quietTicks >= o.idleTicks) this.destroy();
    } else if (this.state === C_BUSY && this.attempt?.headersReceived === true && !this.paused) {
      if (++this.quietTicks >= o.upstreamIdleTicks) {
        this.fail(this.attempt, 'timeout', 'ETIMEDOUT', `no byte from the backend for ${o.upstreamIdleTimeoutMs} ms`);
      }
    }
  }

  /** Destroys the socket now (never reused); the pool hears `closed` once. */
  destroy(): void {
    if (this.state === C_CLOSED) return;
    this.state = C_CLOSED;
    this.socket.destroy();
    this.owner.closed(this);
  }

  abortAttempt(a: UpstreamAttempt): void {
    if (a !== this.attempt) return;
    this.attempt = undefined;
    this.detachBody(a);
    // A socket still connecting is kept: once connected it serves the next request.
    if (this.state === C_CONNECTING) return;
    this.parser.abort();
    this.destroy();
  }

  resumeAttempt(a: UpstreamAttempt): void {
    if (a !== this.attempt || !this.paused) return;
    this.paused = false;
    this.quietTicks = 0;
    this.socket.resume();
  }

  onInterim(status: number, _reason: string, headers: ResponseHeaders): void {
    if (status === 100 || status === 103) (this.attempt as UpstreamAttempt).sink.onInterim(status, headers);
  }

  onHead(status: number, reason: string, headers: ResponseHeaders): void {
    const a = this.attempt as UpstreamAttempt;
    a.headersReceived = true;
    a.sink.onResponse(status, reason, headers);
  }

  onBody(buf: Buffer, start: number, end: number): void {
    if (start === end) return;
    const chunk = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
    if (!(this.attempt as UpstreamAttempt).sink.onData(chunk) && !this.paused && this.state === C_BUSY) {
      this.paused = true;
      this.socket.pause();
    }
  }

  onTrailers(trailers: ResponseHeaders): void {
    (this.attempt as UpstreamAttempt).sink.onTrailers(trailers);
  }

  private onConnect(): void {
    this.socket.setTimeout(0);
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 1_000);
    const a = this.attempt;
    if (a !== undefined && a.state === A_WAITING) this.start(a);
    else this.owner.released(this);
  }

  private onData(buf: Buffer): void {
    const a = this.attempt;
    if (a === undefined || this.state !== C_BUSY) {
      // A byte nobody asked for: the connection is out of sync.
      this.destroy();
      return;
    }
    this.quietTicks = 0;
    a.responseStarted = true;
    const n = this.parser.execute(buf);
    const state = this.parser.state;
    if (state < P_DONE || state === P_ABORTED || a.state === A_DONE) return;
    if (state === P_DONE) {
      if (n === buf.length) this.complete(a);
      else this.fail(a, 'protocol', 'EPROTO', 'bytes after the end of the response');
    } else if (state === P_UPGRADE) {
      this.fail(a, 'protocol', 'EPROTO', 'unexpected 101 Switching Protocols');
    } else {
      this.fail(a, 'protocol', 'EPROTO', this.parser.error);
    }
  }

  private onEnd(): void {
    const a = this.attempt;
    if (a === undefined || this.state !== C_BUSY) this.destroy();
    else if (this.parser.finish()) this.complete(a);
    else this.failClosed(a, 'ECONNRESET', this.parser.error, undefined);
  }

  private onError(err: NodeJS.ErrnoException): void {
    const a = this.attempt;
    const code = typeof err.code === 'string' ? err.code : '';
    if (a === undefined) this.destroy();
    else if (this.state === C_CONNECTING) this.failConnect(a, code || 'ECONNREFUSED', err.message, err);
    else this.failClosed(a, code || 'ECONNRESET', err.message, err);
  }

  private onClose(): void {
    const a = this.attempt;
    if (a !== undefined) {
      if (this.state === C_CONNECTING) this.failConnect(a, 'ECONNREFUSED', 'socket closed while connecting', undefined);
      else this.failClosed(a, 'ECONNRESET', 'socket closed', undefined);
    }
    this.destroy();
  }

  private onTimeout(): void {
    if (this.state !== C_CONNECTING) return;
    const a = this.attempt;
    const ms = this.owner.options.connectTimeoutMs;
    if (a !== undefined) this.failConnect(a, 'ETIMEDOUT', `connect timeout after ${ms} ms`, undefined);
    else this.destroy();
  }

  private onDrain(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    this.attempt?.body?.resume();
  }

  private onBodyData(chunk: Buffer): void {
    const a = this.attempt;
    if (a === undefined || chunk.length === 0) return;
    a.bodyBytesSent += chunk.length;
    if (a.bodyBytesSent > a.bodyLimit) {
      this.fail(a, 'client', BODY_TOO_LARGE, `more than ${a.bodyLimit} bytes`);
      return;
    }
    const socket = this.socket;
    let ok: boolean;
    if (a.head.framing === BODY_CHUNKED) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      ok = socket.write(chunk);
    }
    if (!ok && !this.bodyPaused) {
      this.bodyPaused = true;
      a.body?.pause();
    }
  }

  private onBodyEnd(): void {
    const a = this.attempt;
    if (a === undefined || a.requestDone) return;
    if (a.head.framing === BODY_CHUNKED) this.socket.write(LAST_CHUNK, 'latin1');
    a.requestDone = true;
    this.detachBody(a);
  }

  private onBodyError(err: Error): void {
    const a = this.attempt;
    if (a !== undefined && !a.requestDone) this.fail(a, 'client', 'client body error', err.message, err);
  }

  private onBodyClose(): void {
    const a = this.attempt;
    if (a !== undefined && !a.requestDone) this.fail(a, 'client', 'client body aborted', 'request stream closed early');
  }

  private detachBody(a: UpstreamAttempt): void {
    if (!this.bodyAttached) return;
    this.bodyAttached = false;
    this.bodyPaused = false;
    const body = a.body;
    if (body === undefined) return;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    body.off('error', this.onBodyError);
    body.off('close', this.onBodyClose);
    // Unconsumed data stays in the stream (for a retry, or for node:http to discard).
    if (!a.requestDone) body.pause();
  }

  /** Detaches `a` from this connection; the sink is told by the caller, after the socket's fate is settled. */
  private endAttempt(a: UpstreamAttempt): void {
    this.attempt = undefined;
    a.state = A_DONE;
    a.host = undefined;
    this.detachBody(a);
  }

  private complete(a: UpstreamAttempt): void {
    const reusable = this.parser.keepAlive && a.requestDone && !a.head.close;
    this.endAttempt(a);
    if (reusable) {
      this.served++;
      // An idle socket must read, to notice a close or a stray byte.
      if (this.paused) {
        this.paused = false;
        this.socket.resume();
      }
      this.owner.released(this);
    } else {
      this.destroy();
    }
    a.sink.onEnd();
  }

  private fail(a: UpstreamAttempt, kind: FailureKind, reason: string, detail: string, cause?: unknown): void {
    this.endAttempt(a);
    this.parser.abort();
    this.destroy();
    a.sink.onError(new UpstreamError(kind, reason, a, detail, { cause }));
  }

  /** The socket closed or reset under an exchange: the keep-alive race if reused and nothing came back. */
  private failClosed(a: UpstreamAttempt, reason: string, detail: string, cause: unknown): void {
    this.fail(a, a.reused && !a.responseStarted ? 'idle-race' : 'reset', reason, detail, cause);
  }

  private failConnect(a: UpstreamAttempt, reason: string, detail: string, cause: unknown): void {
    this.fail(a, 'connect', reason, detail, cause);
  }
}
