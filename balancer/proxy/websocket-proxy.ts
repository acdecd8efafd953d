// WebSocket upgrades: same routing, picking and forwarded headers as HTTP, then a raw byte tunnel
// (http-proxy's `ws()`). Each tunnel is tracked under its backend id, so when that backend is
// withdrawn its tunnels can be closed over a drain period, while table changes that do not remove
// it leave them alone. http-proxy leaks sockets on errors (#783, #1510): here any error or close on
// either side destroys both.
//
// Upgrades are not retried: http-proxy ends the client socket after an upstream error. A backend
// that refuses the connection is still ejected, so the client's reconnect goes elsewhere.
// Open tunnels are not counted in `Inflight` (they would pin least-request and block shutdown).
// At shutdown each tunnel is ended the WebSocket way: both directions are followed frame by frame
// (headers only, ws-frames.ts) so that a 1001 close frame can be sent between two frames, to the
// client unmasked and to the backend masked, before each side is ended.
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Backend } from '../types.js';
import { admit, type Refused } from './admission.js';
import type { EdgeContext } from './edge-context.js';
import { failureKind, failureReason } from './ejector.js';
import { ensureRequestId, type StripOptions } from './forwarded.js';
import { NO_EXCLUDE } from './pickers.js';
import { rejectUpgrade } from './responses.js';
import { clearTimer } from './timer.js';
import { closeFrame, FrameBoundary, GOING_AWAY } from './ws-frames.js';

const UPGRADE_STRIP: StripOptions = { direction: 'request', upgrade: true };

type UpgradeRefusal = Pick<Refused, 'service' | 'status' | 'body' | 'requestId'> & Partial<Pick<Refused, 'header'>>;

function destroySelf(this: Duplex): void {
  this.destroy();
}

function isWebSocketUpgrade(value: string | undefined): boolean {
  return value !== undefined && value.split(',').some((t) => t.trim().toLowerCase() === 'websocket');
}

interface TunnelInit {
  readonly client: Duplex;
  readonly backend: Backend;
  readonly service: string;
  readonly requestId: string;
  /** The sticky cookie to add to the 101, when the client was (re)pinned. */
  readonly setCookie: string | undefined;
  readonly started: number;
  /** Time allowed for the backend's 101: the route's `timeout`, else --upstream-timeout. */
  readonly timeoutMs: number;
}

/** One client ↔ backend pair, from the upgrade request until either side closes. */
class Tunnel {
  readonly backend: Backend;
  private readonly client: Duplex;
  private readonly service: string;
  private readonly requestId: string;
  private readonly setCookie: string | undefined;
  private readonly started: number;
  private readonly timeoutMs: number;
  private upstream: Socket | undefined;
  private upstreamReq: ClientRequest | undefined;
  private openedAt = 0;
  /** A status line reached (or is on its way to) the client: ours or the backend's. */
  private answered = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private drainTimers: NodeJS.Timeout[] | undefined;
  /** Where each direction stands in its frame stream, from the 101 on. */
  private readonly toClient = new FrameBoundary();
  private readonly toBackend = new FrameBoundary();
  /** Sides closed since `goAway`: the tunnel is done when both are. */
  private sidesClosed = 0;

  constructor(
    private readonly owner: WebSocketProxy,
    private readonly ctx: EdgeContext,
    init: TunnelInit,
  ) {
    this.backend = init.backend;
    this.client = init.client;
    this.service = init.service;
    this.requestId = init.requestId;
    this.setCookie = init.setCookie;
    this.started = init.started;
    this.timeoutMs = init.timeoutMs;
  }

  /** Watches the client socket and starts the time-to-101 timer. */
  start(): void {
    this.client.once('close', this.close);
    this.timer = setTimeout(this.onTimer, this.timeoutMs);
  }

  onUpstreamRequest(proxyReq: ClientRequest): void {
    this.upstreamReq = proxyReq;
    // Registered before http-proxy's own listeners, so the 101 headers can still be amended.
    proxyReq.once('upgrade', this.onUpgrade);
    proxyReq.once('response', this.onResponse);
  }

  private readonly onUpgrade = (res: IncomingMessage, socket: Socket): void => {
    this.timer = clearTimer(this.timer);
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.answered = true;
    this.upstream = socket;
    this.openedAt = performance.now();
    res.headers['x-request-id'] = this.requestId;
    if (this.setCookie !== undefined)
      res.headers['set-cookie'] = [...(res.headers['set-cookie'] ?? []), this.setCookie];
    socket.on('error', this.close);
    socket.once('close', this.close);
    // http-proxy unshifts the backend's first bytes and pipes both sockets right after this handler;
    // listening now would take those bytes from the pipe. Its pipes start flowing on a later tick.
    process.nextTick(this.followFrames);
    const { events } = this.ctx;
    events.onResponse?.(this.service, this.backend.id, 101, (this.openedAt - this.started) / 1000);
    events.onWebSocketOpen?.(this.service, this.backend.id);
  };

  private readonly followFrames = (): void => {
    if (this.closed || this.upstream === undefined) return;
    this.upstream.on('data', this.onBackendBytes);
    this.client.on('data', this.onClientBytes);
  };

  private readonly onBackendBytes = (chunk: Buffer): void => this.toClient.feed(chunk);
  private readonly onClientBytes = (chunk: Buffer): void => this.toBackend.feed(chunk);

  /**
   * Shutdown: stop relaying, send each side a 1001 close frame where its stream stands between two
   * frames (a frame cut in half cannot be followed by one: that side only sees the connection end),
   * end both, and let each answer and close; whatever is left after `waitMs` is destroyed.
   */
  goAway(waitMs: number): void {
    if (this.closed) return;
    const up = this.upstream;
    if (up === undefined) return this.close(); // no 101 yet: nothing speaks WebSocket
    for (const t of this.drainTimers ?? []) clearTimeout(t);
    up.unpipe(this.client);
    this.client.unpipe(up);
    for (const side of [this.client, up]) {
      side.off('close', this.close);
      side.once('close', this.sideClosed);
      side.resume(); // read what comes (the peer's close frame, its FIN) so each side can finish
    }
    up.off('error', this.close);
    up.on('error', destroySelf);
    // A tunnel already draining (its backend withdrawn) may have ended a side: nothing more goes there.
    if (this.toClient.atBoundary && !this.client.writableEnded) this.client.write(closeFrame(GOING_AWAY, false));
    if (this.toBackend.atBoundary && !up.writableEnded) up.write(closeFrame(GOING_AWAY, true));
    this.client.end();
    up.end();
    const hard = setTimeout(this.close, waitMs);
    hard.unref();
    this.drainTimers = [hard];
  }

  private readonly sideClosed = (): void => {
    if (++this.sidesClosed === 2) this.close();
  };

  /** The backend refused the upgrade with a normal response; http-proxy relays it to the client. */
  private readonly onResponse = (res: IncomingMessage): void => {
    this.timer = clearTimer(this.timer);
    this.answered = true;
    this.ctx.events.onResponse?.(
      this.service,
      this.backend.id,
      res.statusCode ?? 0,
      (performance.now() - this.started) / 1000,
    );
  };

  readonly onEngineError = (err: Error): void => {
    if (this.closed) return;
    this.timer = clearTimer(this.timer);
    if (this.answered) {
      this.close();
      return;
    }
    const reason = failureReason(err);
    if (failureKind(err) !== 'other') this.ctx.backendFailed(this.backend, reason);
    this.reject(502, `bad gateway: ${reason} from service ${this.service}\n`);
  };

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.answered || this.closed) return;
    this.upstreamReq?.destroy();
    this.reject(504, `upstream timeout from service ${this.service}\n`);
  };

  private reject(status: number, body: string): void {
    this.answered = true;
    rejectUpgrade(this.client, status, body, this.requestId);
    this.ctx.events.onResponse?.(this.service, this.backend.id, status, (performance.now() - this.started) / 1000);
  }

  /** Half-close both sides at a jittered moment (spreading reconnects), destroy at the deadline. */
  drain(drainMs: number): void {
    if (this.closed || this.drainTimers !== undefined) return;
    if (!(drainMs > 0)) {
      this.close();
      return;
    }
    const soft = setTimeout(this.endBoth, Math.floor(Math.random() * drainMs * 0.8));
    const hard = setTimeout(this.close, drainMs);
    soft.unref();
    hard.unref();
    this.drainTimers = [soft, hard];
  }

  private readonly endBoth = (): void => {
    this.client.end();
    this.upstream?.end();
  };

  readonly close = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.timer = clearTimer(this.timer);
    for (const t of this.drainTimers ?? []) clearTimeout(t);
    this.client.destroy();
    this.upstream?.destroy();
    if (this.openedAt === 0) this.upstreamReq?.destroy();
    this.owner.forget(this);
    if (this.openedAt > 0)
      this.ctx.events.onWebSocketClose?.(this.service, this.backend.id, (performance.now() - this.openedAt) / 1000);
  };
}

export class WebSocketProxy {
  private readonly byBackend = new Map<string, Set<Tunnel>>();
  /** Set by `goAway`: called when the last tunnel is gone. */
  private onEmpty: (() => void) | undefined;
  /** Only populated during the synchronous `engine.ws()` call, to hand the upstream request over. */
  private readonly pending = new WeakMap<IncomingMessage, Tunnel>();

  constructor(private readonly ctx: EdgeContext) {
    ctx.engine.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage) =>
      this.pending.get(req)?.onUpstreamRequest(proxyReq),
    );
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const started = performance.now();
    const { ctx } = this;
    socket.on('error', destroySelf);
    if (req.method !== 'GET' || !isWebSocketUpgrade(req.headers.upgrade)) {
      const requestId = ensureRequestId(req.headers);
      return this.refuse(
        socket,
        { service: '', status: 400, body: 'expected a WebSocket upgrade\n', requestId },
        started,
      );
    }
    // The target check also keeps http-proxy's url.parse from throwing.
    const admitted = admit(req, ctx, UPGRADE_STRIP, started);
    if (!admitted.ok) return this.refuse(socket, admitted, started);
    const { match, requestId } = admitted;
    // http-proxy builds the upstream path from req.url: hand it the route's rewrite.
    if (admitted.policy?.rewritePath !== undefined) req.url = admitted.path;
    const sticky = match.rule?.sticky === true;
    const preferred = sticky ? ctx.sticky.preferred(req.headers.cookie, match.view) : undefined;
    const view = match.view;
    const lb = match.rule?.lb ?? ctx.defaultLb;
    const backend = view === undefined ? undefined : ctx.picker.pick(view, lb, NO_EXCLUDE, preferred);
    if (backend === undefined) {
      const body = `no live backend for service ${match.service}\n`;
      return this.refuse(socket, { service: match.service, status: 503, body, requestId }, started);
    }
    const setCookie = sticky && backend.id !== preferred ? ctx.sticky.setCookie(backend.id) : undefined;
    const tunnel = new Tunnel(this, ctx, {
      client: socket,
      backend,
      service: match.service,
      requestId,
      setCookie,
      started,
      timeoutMs: admitted.policy?.timeoutMs ?? ctx.upstreamTimeoutMs,
    });
    let set = this.byBackend.get(backend.id);
    if (set === undefined) this.byBackend.set(backend.id, (set = new Set()));
    set.add(tunnel);
    tunnel.start();
    this.pending.set(req, tunnel);
    try {
      ctx.engine.ws(req, socket, head, { target: ctx.targetFor(backend), agent: false }, tunnel.onEngineError);
    } finally {
      this.pending.delete(req);
    }
  }

  /** Our own answer on the raw socket (admission refusals included), reported like any response. */
  private refuse(socket: Duplex, r: UpgradeRefusal, started: number): void {
    rejectUpgrade(socket, r.status, r.body, r.requestId, r.header);
    this.ctx.events.onResponse?.(r.service, undefined, r.status, (performance.now() - started) / 1000);
  }

  /** Closes the backend's tunnels within `drainMs` (jittered half-close, then destroy at the deadline). */
  closeBackend(id: string, drainMs: number): void {
    const set = this.byBackend.get(id);
    if (set === undefined) return;
    for (const t of [...set]) t.drain(drainMs);
  }

  count(backendId?: string): number {
    if (backendId !== undefined) return this.byBackend.get(backendId)?.size ?? 0;
    let n = 0;
    for (const set of this.byBackend.values()) n += set.size;
    return n;
  }

  forget(t: Tunnel): void {
    const set = this.byBackend.get(t.backend.id);
    if (set === undefined) return;
    set.delete(t);
    if (set.size === 0) this.byBackend.delete(t.backend.id);
    if (this.byBackend.size === 0) this.onEmpty?.();
  }

  /** Every tunnel gets its 1001 close (see `Tunnel.goAway`); resolves once all are closed, ≤ `waitMs`. */
  goAway(waitMs: number): Promise<void> {
    const done = new Promise<void>((resolve) => (this.onEmpty = resolve));
    if (this.byBackend.size === 0) return Promise.resolve();
    for (const set of [...this.byBackend.values()]) for (const t of [...set]) t.goAway(waitMs);
    return done;
  }

  close(): void {
    for (const set of [...this.byBackend.values()]) for (const t of [...set]) t.close();
    this.byBackend.clear();
  }
}
