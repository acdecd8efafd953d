// The keep-alive sockets of one backend (one target host:port): at most `maxSocketsPerBackend`
// (connecting + busy + idle), reused last-in first-out (the warmest socket; the coldest ones age out
// by the idle timeout), then a FIFO wait queue of at most `maxWaitersPerBackend` attempts, then a
// `pool-full` failure. `retire()` drops the backend: idle sockets now, busy ones when their exchange
// ends, waiters fail as `connect` (nothing was sent; they may go to another backend).
//
// A released socket settles before reuse: it becomes available only after the event loop has polled
// sockets once more, so bytes a backend sent after the response it owed (a second response in its
// own TCP segment) are read while nobody is waiting for them, and the socket is destroyed instead of
// handing them to the next request. A request that finds no idle socket while one is settling waits
// for it (one or two loop turns) rather than opening another connection.
import net from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import type { ResolvedEngineOptions } from './engine-options.js';
import { BODY_NONE, InvalidRequestError, type RequestHeaders, serializeRequestHead } from './request-head.js';
import { A_DONE, A_WAITING, type AttemptHost, type ResponseSink, UpstreamAttempt } from './upstream-attempt.js';
import { C_BUSY, C_SETTLING, type ConnectionOwner, UpstreamConnection } from './upstream-connection.js';
import { type FailureKind, UpstreamError } from './upstream-error.js';

export interface PoolStats {
  readonly sockets: number;
  readonly idle: number;
  readonly busy: number;
  readonly waiting: number;
}

/** Where and how to connect. */
export interface PoolTarget {
  readonly hostname: string;
  readonly port: number;
  /** `Host` header value when the request has none (`host[:port]`, IPv6 bracketed). */
  readonly authority: string;
  /** TLS options for an https backend; undefined for plain TCP. */
  readonly tls: tls.ConnectionOptions | undefined;
}

function failLater(a: UpstreamAttempt, kind: FailureKind, reason: string, detail: string): void {
  process.nextTick(emitFailure, a, kind, reason, detail);
}

function settleLater(pool: BackendPool): void {
  pool.settle();
}

function emitFailure(a: UpstreamAttempt, kind: FailureKind, reason: string, detail: string): void {
  // The caller may have aborted in between.
  if (a.state !== A_WAITING) return;
  a.state = A_DONE;
  a.host = undefined;
  a.sink.onError(new UpstreamError(kind, reason, a, detail));
}

export class BackendPool implements ConnectionOwner, AttemptHost {
  private readonly idleStack: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private waiters: Array<UpstreamAttempt | undefined> = [];
  private waitHead = 0;
  private waiting = 0;
  private retired = false;
  /** Released during the current loop turn, and released during the previous one (ready next turn). */
  private settling: UpstreamConnection[] = [];
  private armed: UpstreamConnection[] = [];
  private settlingLive = 0;
  private settleScheduled = false;

  constructor(
    readonly id: string,
    /** The backend URL this pool was made for; a backend whose target changes gets a new pool. */
    readonly url: string,
    readonly target: PoolTarget,
    readonly options: ResolvedEngineOptions,
  ) {}

  /**
   * Starts one attempt: `headers` is the caller's header object (hop-by-hop already stripped,
   * forwarded headers added), `body` the client's request stream when the headers announce a body
   * (Content-Length > 0 or Transfer-Encoding); a body longer than `bodyLimit` bytes fails the attempt
   * as `client` with reason BODY_TOO_LARGE. Throws InvalidRequestError, synchronously and before
   * anything is sent, on an invalid method, path or header.
   */
  request(
    method: string,
    path: string,
    headers: RequestHeaders,
    body: Readable | undefined,
    sink: ResponseSink,
    bodyLimit = Infinity,
  ): UpstreamAttempt {
    const head = serializeRequestHead(method, path, headers, this.target.authority);
    if (head.framing !== BODY_NONE && body === undefined)
      throw new InvalidRequestError('a body was announced but not given');
    const a = new UpstreamAttempt(head, method === 'HEAD', body, sink, bodyLimit);
    if (this.retired) {
      failLater(a, 'connect', 'ECONNREFUSED', 'backend released');
      return a;
    }
    const conn = this.idleStack.pop();
    if (conn !== undefined) conn.start(a);
    else if (this.settlingLive > this.waiting) this.enqueue(a);
    else if (this.all.size < this.options.maxSocketsPerBackend) this.open(a);
    else if (this.waiting < this.options.maxWaitersPerBackend) this.enqueue(a);
    else failLater(a, 'pool-full', 'pool full', `${this.all.size} sockets busy, ${this.waiting} waiting`);
    return a;
  }

  stats(): PoolStats {
    let busy = 0;
    for (const c of this.all) if (c.state === C_BUSY) busy++;
    return { sockets: this.all.size, idle: this.idleStack.length + this.settlingLive, busy, waiting: this.waiting };
  }

  /** Drops the backend: idle sockets now, busy ones after their exchange; waiters fail as `connect`. */
  retire(): void {
    this.retired = true;
    for (const c of this.idleStack.splice(0)) c.destroy();
    for (const c of [...this.settling, ...this.armed]) if (c.state === C_SETTLING) c.destroy();
    for (let w = this.nextWaiter(); w !== undefined; w = this.nextWaiter()) {
      failLater(w, 'connect', 'ECONNREFUSED', 'backend released');
    }
  }

  /** Retires and destroys busy sockets too (their attempts fail as `reset`). */
  destroy(): void {
    this.retire();
    for (const c of [...this.all]) c.socket.destroy();
  }

  get isEmpty(): boolean {
    return this.all.size === 0;
  }

  /** The engine's sweep: idle expiry and stalled bodies. */
  sweep(): void {
    for (const c of this.all) c.tick();
  }

  released(conn: UpstreamConnection): void {
    if (this.retired) {
      conn.destroy();
      return;
    }
    conn.settleStart();
    this.settlingLive++;
    this.settling.push(conn);
    if (!this.settleScheduled) {
      this.settleScheduled = true;
      setImmediate(settleLater, this);
    }
  }

  /** One loop turn passed: sockets armed last turn become available, this turn's releases are armed. */
  settle(): void {
    this.settleScheduled = false;
    const ready = this.armed;
    this.armed = this.settling;
    this.settling = ready;
    for (let i = 0; i < ready.length; i++) {
      const c = ready[i] as UpstreamConnection;
      if (c.state !== C_SETTLING) continue; // destroyed meanwhile (a stray byte, a close)
      this.settlingLive--;
      c.settled = true;
      const w = this.retired ? undefined : this.nextWaiter();
      if (this.retired) {
        c.destroy();
      } else if (w !== undefined) {
        c.start(w);
      } else {
        c.idle();
        this.idleStack.push(c);
      }
    }
    ready.length = 0;
    if (this.armed.length > 0) {
      this.settleScheduled = true;
      setImmediate(settleLater, this);
    }
  }

  closed(conn: UpstreamConnection): void {
    this.all.delete(conn);
    if (!conn.settled) {
      conn.settled = true;
      this.settlingLive--;
    }
    const i = this.idleStack.indexOf(conn);
    if (i !== -1) this.idleStack.splice(i, 1);
    // A socket slot came free: a waiter gets a new connection.
    if (!this.retired && this.waiting > 0 && this.all.size < this.options.maxSocketsPerBackend) {
      const w = this.nextWaiter();
      if (w !== undefined) this.open(w);
    }
  }

  abortAttempt(a: UpstreamAttempt): void {
    // Left in the queue as a hole; nextWaiter skips it.
    if (this.waiting > 0) this.waiting--;
    a.host = undefined;
  }

  resumeAttempt(): void {}

  private open(a: UpstreamAttempt): void {
    const t = this.target;
    const socket =
      t.tls === undefined
        ? net.connect({ host: t.hostname, port: t.port })
        : tls.connect({
            ALPNProtocols: ['http/1.1'],
            ...t.tls,
            host: t.hostname,
            port: t.port,
            servername: net.isIP(t.hostname) === 0 ? t.hostname : undefined,
          });
    const conn = new UpstreamConnection(this, socket, t.tls !== undefined);
    this.all.add(conn);
    conn.attempt = a;
    a.host = conn;
  }

  private enqueue(a: UpstreamAttempt): void {
    a.host = this;
    this.waiting++;
    // Drop the consumed front of the queue now and then, so holes and served slots do not pile up.
    if (this.waitHead > 1024 && this.waitHead * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.waitHead);
      this.waitHead = 0;
    }
    this.waiters.push(a);
  }

  private nextWaiter(): UpstreamAttempt | undefined {
    while (this.waitHead < this.waiters.length) {
      const w = this.waiters[this.waitHead];
      this.waiters[this.waitHead++] = undefined;
      if (w !== undefined && w.state === A_WAITING && w.host === this) {
        this.waiting--;
        w.host = undefined;
        return w;
      }
    }
    this.waiters.length = 0;
    this.waitHead = 0;
    return undefined;
  }
}
