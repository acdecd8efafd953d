// The balancer's proxy edge: routes each request with a `Lookup`, chooses a backend with a `Picker`
// and streams it through http-proxy over a keep-alive agent per backend. It never sees etcd.
// The engine (http-proxy 1.18.1) stays behind `createProxy` so it can be swapped; its known traps
// are handled here: error callback on every call, forwarded headers built by us, headers set on the
// incoming request before `web()` (#1478), our own response timer (#1331), upstream destroyed on
// client abort (#1586).
//
// Retry policy. A failed attempt is retried on another backend (its id goes into `exclude`) when
// the backend was unreachable (`connect`) or the connection broke before any response byte
// (`reset`), at most `retries` times and only while the RetryBudget allows. Bodies are streamed,
// never buffered, so a request body is piped into the upstream request only once its TCP connection
// is established: a refused or timed-out connect therefore never consumes the body and any request
// can be retried; once body bytes have been piped, a failure answers 502 instead.
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex, Stream } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import httpProxy from 'http-proxy';
import type { Logger } from '../common/logger.js';
import { type AddressMatcher, type CidrBlock, createMatcher } from './cidr.js';
import { Ejector, failureKind, failureReason } from './ejector.js';
import {
  applyForwarded, describeTarget, ensureRequestId, type ForwardedContext, normalizePeer, type RequestTarget,
  requestTarget, STICKY_COOKIE, type StripOptions, stickyBackendId, stickySetCookie, stripHopByHop,
} from './forwarded.js';
import { Inflight } from './inflight.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import type { Backend, LbPolicy, Lookup, Picker, RouteMatch } from './types.js';
import { type EdgeContext, type UpstreamTarget, WebSocketProxy } from './websocket-proxy.js';

export { STICKY_COOKIE };

/** Observability hooks (the metrics module subscribes). Service is '' when no route matched. */
export interface ProxyEvents {
  /** Every finished exchange, including ones we answered; 499 = client left before a response. */
  onResponse?(service: string, backendId: string | undefined, status: number, durationSeconds: number): void;
  onRetry?(service: string, failedBackendId: string): void;
  onEject?(service: string, backendId: string): void;
  onBudgetExhausted?(service: string): void;
  onWebSocketOpen?(service: string, backendId: string): void;
  onWebSocketClose?(service: string, backendId: string, durationSeconds: number): void;
}

/** What a picker factory needs from the proxy (matches `createPicker`'s options). */
export interface PickerDeps {
  readonly isEjected: (id: string) => boolean;
  readonly inflight: (id: string) => number;
}

export interface ProxyOptions {
  readonly lookup: Lookup;
  /** A picker, or a factory handed this proxy's ejector and inflight counters. */
  readonly picker: Picker | ((deps: PickerDeps) => Picker);
  readonly defaultLb: LbPolicy;
  /** Extra attempts after a connect/reset failure. Default 2. */
  readonly retries?: number;
  /** From dispatch until response headers; then 504. Default 30 000 ms. */
  readonly upstreamTimeoutMs?: number;
  /** A connection still not established after this is a connect failure (eject, retry). Default 3 000 ms. */
  readonly connectTimeoutMs?: number;
  readonly ejectCooldownMs?: number;
  /** CIDRs whose X-Forwarded-* headers are believed. Default: none. */
  readonly trustedProxies?: string | readonly string[] | readonly CidrBlock[];
  readonly retryBudget?: RetryBudget | RetryBudgetOptions;
  readonly events?: ProxyEvents;
  readonly logger?: Logger;
  readonly maxSocketsPerBackend?: number;
  /** Idle keep-alive sockets are closed after this; keep it below the backends' keep-alive (Node: 5 s). */
  readonly agentIdleTimeoutMs?: number;
  /** Share counters created by the caller (e.g. to build the picker first). */
  readonly inflight?: Inflight;
  readonly ejector?: Ejector;
}

export interface ProxyHandler {
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** The backend left the table: close its keep-alive sockets (idle now, busy ones when released). */
  releaseBackend(id: string): void;
  /** Close the backend's WebSockets, spread over `drainMs`. */
  closeBackendSockets(id: string, drainMs: number): void;
  readonly inflight: Inflight;
  readonly ejector: Ejector;
  readonly budget: RetryBudget;
  inflightTotal(): number;
  /** Resolves true when no HTTP request is in flight, false after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean>;
  openWebSockets(backendId?: string): number;
  close(): void;
}

export const PROXY_DEFAULTS = Object.freeze({
  retries: 2, upstreamTimeoutMs: 30_000, connectTimeoutMs: 3_000, maxSocketsPerBackend: 256, agentIdleTimeoutMs: 4_000,
});

/** One backend's keep-alive agent and target (copied per attempt: the copy's identity tells this attempt's errors from stale ones). */
interface Upstream { readonly url: string; readonly target: UpstreamTarget; readonly agent: http.Agent }

const REQUEST_STRIP: StripOptions = { direction: 'request' };
const RESPONSE_STRIP: StripOptions = { direction: 'response' };
const NO_EXCLUDE: ReadonlySet<string> = new Set();

export function sendText(res: ServerResponse, status: number, body: string, requestId: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body),
    'x-request-id': requestId, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store',
  });
  res.end(body);
}

function retire(agent: http.Agent): void {
  // Idle sockets go now; sockets still serving a request close when the agent would pool them.
  agent.on('free', (socket: Socket) => socket.destroy());
  for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
}

class ProxyCore implements EdgeContext {
  readonly engine: httpProxy;
  readonly picker: Picker;
  readonly events: ProxyEvents;
  readonly retries: number;
  readonly upstreamTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly inflight: Inflight;
  readonly ejector: Ejector;
  readonly budget: RetryBudget;
  readonly lookup: Lookup;
  readonly defaultLb: LbPolicy;
  readonly log: Logger | undefined;
  closed = false;
  private readonly upstreams = new Map<string, Upstream>();
  private readonly isTrusted: AddressMatcher;
  private readonly peers = new WeakMap<Socket, ForwardedContext>();
  private readonly agentOptions: http.AgentOptions;

  constructor(opts: ProxyOptions) {
    this.lookup = opts.lookup;
    this.defaultLb = opts.defaultLb;
    this.events = opts.events ?? {};
    this.log = opts.logger?.child({ component: 'proxy' });
    this.retries = opts.retries ?? PROXY_DEFAULTS.retries;
    this.upstreamTimeoutMs = opts.upstreamTimeoutMs ?? PROXY_DEFAULTS.upstreamTimeoutMs;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? PROXY_DEFAULTS.connectTimeoutMs;
    this.inflight = opts.inflight ?? new Inflight();
    this.ejector = opts.ejector ?? new Ejector(opts.ejectCooldownMs === undefined ? {} : { cooldownMs: opts.ejectCooldownMs });
    this.budget = opts.retryBudget instanceof RetryBudget ? opts.retryBudget : new RetryBudget(opts.retryBudget);
    this.isTrusted = createMatcher(opts.trustedProxies ?? []);
    this.picker = typeof opts.picker === 'function' ? opts.picker({ isEjected: this.ejector.isEjected, inflight: this.inflight.get }) : opts.picker;
    const maxSockets = opts.maxSocketsPerBackend ?? PROXY_DEFAULTS.maxSocketsPerBackend;
    const timeout = opts.agentIdleTimeoutMs ?? PROXY_DEFAULTS.agentIdleTimeoutMs;
    this.agentOptions = { keepAlive: true, keepAliveMsecs: 1_000, maxSockets, maxFreeSockets: maxSockets, timeout, scheduling: 'lifo' };
    this.engine = httpProxy.createProxyServer({ xfwd: false, changeOrigin: false, prependPath: false, ws: false });
    // Every call passes a callback; this listener only keeps a stray engine error from throwing.
    this.engine.on('error', (err: Error) => this.log?.error({ err }, 'proxy engine error'));
  }

  forwarded(socket: Socket): ForwardedContext {
    let ctx = this.peers.get(socket);
    if (ctx === undefined) {
      const addr = socket.remoteAddress;
      ctx = { peer: normalizePeer(addr), trusted: addr !== undefined && this.isTrusted(addr), proto: (socket as TLSSocket).encrypted ? 'https' : 'http' };
      if (addr !== undefined) this.peers.set(socket, ctx);
    }
    return ctx;
  }

  upstream(backend: Backend): Upstream {
    let up = this.upstreams.get(backend.id);
    if (up === undefined || up.url !== backend.target) {
      if (up !== undefined) retire(up.agent);
      const u = new URL(backend.target);
      const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
      const tls = u.protocol === 'https:';
      const port = u.port || (tls ? '443' : '80');
      up = { url: backend.target, target: { protocol: u.protocol, hostname, host: hostname, port }, agent: tls ? new https.Agent(this.agentOptions) : new http.Agent(this.agentOptions) };
      this.upstreams.set(backend.id, up);
    }
    return up;
  }

  targetFor(backend: Backend): UpstreamTarget {
    return { ...this.upstream(backend).target };
  }

  backendFailed(backend: Backend, reason: string): void {
    if (!this.ejector.eject(backend.id)) return;
    this.log?.warn({ backend: backend.id, reason, cooldownMs: this.ejector.cooldownMs }, 'backend ejected');
    this.events.onEject?.(backend.service, backend.id);
  }

  release(id: string): void {
    const up = this.upstreams.get(id);
    this.ejector.restore(id);
    if (up === undefined) return;
    this.upstreams.delete(id);
    retire(up.agent);
  }

  close(): void {
    this.closed = true;
    for (const up of this.upstreams.values()) up.agent.destroy();
    this.upstreams.clear();
    this.ejector.close();
  }
}

/** One client request, across its attempts. Listeners are bound once per exchange, not per event. */
class Exchange {
  private backend: Backend | undefined;
  private attemptTarget: UpstreamTarget | undefined;
  private proxyReq: ClientRequest | undefined;
  private upstreamRes: IncomingMessage | undefined;
  private counted: string | undefined;
  private tried: Set<string> | undefined;
  private attempts = 0;
  private bodyPiped = false;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private connectPhase = false;
  private dispatchedAt = 0;
  private readonly hasBody: boolean;
  private readonly preferredId: string | undefined;

  constructor(
    private readonly core: ProxyCore, private readonly req: IncomingMessage, private readonly res: ServerResponse,
    private readonly where: RequestTarget, private match: RouteMatch, private readonly requestId: string, private readonly started: number,
  ) {
    const h = req.headers;
    this.hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
    this.preferredId = match.rule?.sticky ? stickyBackendId(h.cookie) : undefined;
  }

  start(): void {
    this.res.once('close', this.onClientClose);
    this.dispatch(undefined);
  }

  /** Called by http-proxy as `options.buffer.pipe(proxyReq)`: our hook to get the upstream request. */
  pipe(dest: ClientRequest): ClientRequest {
    this.proxyReq = dest;
    dest.once('response', this.onUpstreamResponse);
    if (!this.hasBody) dest.end();
    else dest.once('socket', this.onUpstreamSocket);
    return dest;
  }

  private dispatch(lastReason: string | undefined): void {
    const { view, rule, service } = this.match;
    const exclude = this.tried ?? NO_EXCLUDE;
    const backend = view === undefined ? undefined : this.core.picker.pick(view, rule?.lb ?? this.core.defaultLb, exclude, this.attempts === 0 ? this.preferredId : undefined);
    if (backend === undefined) {
      if (lastReason === undefined) this.answer(503, `no live backend for service ${service}\n`);
      else this.answer(502, `bad gateway: ${lastReason} from service ${service}\n`);
      return;
    }
    const up = this.core.upstream(backend);
    const target = { ...up.target };
    this.attempts++;
    (this.tried ??= new Set()).add(backend.id);
    this.backend = backend;
    this.attemptTarget = target;
    this.proxyReq = undefined;
    this.upstreamRes = undefined;
    this.core.inflight.inc(backend.id);
    this.counted = backend.id;
    this.dispatchedAt = performance.now();
    this.connectPhase = this.core.connectTimeoutMs < this.core.upstreamTimeoutMs;
    this.timer = setTimeout(this.onTimer, this.connectPhase ? this.core.connectTimeoutMs : this.core.upstreamTimeoutMs);
    this.core.engine.web(this.req, this.res, { target, agent: up.agent, buffer: this as unknown as Stream }, this.onEngineError);
  }

  private readonly onUpstreamSocket = (socket: Socket): void => {
    if (this.proxyReq?.socket !== socket) return;
    if (socket.connecting) socket.once('connect', this.startBody);
    else this.startBody();
  };

  private readonly startBody = (): void => {
    const dest = this.proxyReq;
    if (dest === undefined || dest.destroyed || this.bodyPiped) return;
    this.bodyPiped = true;
    this.req.pipe(dest);
  };

  private readonly onUpstreamResponse = (proxyRes: IncomingMessage): void => {
    if (this.done || this.attemptTarget === undefined) return;
    this.clearTimer();
    this.upstreamRes = proxyRes;
    const h = proxyRes.headers;
    stripHopByHop(h, RESPONSE_STRIP);
    // http-proxy copies `connection` from the (already stripped) request; answer what Node decided.
    h.connection = this.res.shouldKeepAlive ? 'keep-alive' : 'close';
    h['x-request-id'] = this.requestId;
    const backend = this.backend;
    if (this.match.rule?.sticky && backend !== undefined && backend.id !== this.preferredId) {
      const cookie = stickySetCookie(backend.id);
      h['set-cookie'] = h['set-cookie'] === undefined ? [cookie] : [...h['set-cookie'], cookie];
    }
    proxyRes.once('close', this.onUpstreamResClose);
  };

  private readonly onUpstreamResClose = (): void => {
    // The backend went away mid-response: the client must see a broken response, not a hang.
    if (this.upstreamRes?.complete === false && !this.res.writableFinished) this.res.destroy();
  };

  private readonly onEngineError = (err: Error, _req: IncomingMessage, _res: ServerResponse | Socket, target?: unknown): void => {
    if (this.attemptTarget === undefined || target !== this.attemptTarget) return; // an attempt we already abandoned
    this.attemptFailed(err);
  };

  private attemptFailed(err: Error): void {
    const backend = this.backend as Backend;
    const reused = this.proxyReq?.reusedSocket === true;
    const responded = this.upstreamRes !== undefined;
    this.endAttempt(true);
    // http-proxy reports the client's request stream errors through the same callback: not the backend's fault.
    if (responded || this.res.headersSent || err === this.req.errored) {
      this.done = true;
      this.res.destroy();
      return;
    }
    const kind = failureKind(err);
    const reason = failureReason(err);
    if (this.core.log?.isLevelEnabled('debug')) this.core.log.debug({ backend: backend.id, reason, kind, reused }, 'upstream attempt failed');
    // A reset on a pooled socket is the keep-alive close race, not a sick backend: retry, don't eject.
    if (kind === 'connect' || (kind === 'reset' && !reused)) this.core.backendFailed(backend, reason);
    const retryable = kind !== 'other' && !(this.hasBody && this.bodyPiped) && !this.done && !this.core.closed;
    if (retryable && this.attempts <= this.core.retries) {
      if (this.core.budget.tryRetry()) {
        this.core.events.onRetry?.(this.match.service, backend.id);
        // Re-read the table: the view may have changed (and vanished backends must not be dialled).
        const fresh = this.core.lookup(this.where.host, this.where.path);
        if (fresh !== undefined) {
          this.match = fresh;
          this.dispatch(reason);
          return;
        }
      } else {
        this.core.events.onBudgetExhausted?.(this.match.service);
      }
    }
    this.answer(502, `bad gateway: ${reason} from service ${this.match.service}\n`);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.attemptTarget === undefined) return;
    if (this.connectPhase) {
      this.connectPhase = false;
      const socket = this.proxyReq?.socket;
      if (socket?.connecting === true) {
        this.attemptFailed(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
        return;
      }
      const remaining = this.core.upstreamTimeoutMs - (performance.now() - this.dispatchedAt);
      if (remaining >= 1) {
        this.timer = setTimeout(this.onTimer, remaining);
        return;
      }
    }
    this.endAttempt(true);
    this.answer(504, `upstream timeout from service ${this.match.service}\n`);
  };

  private readonly onClientClose = (): void => {
    const finished = this.res.writableFinished;
    this.done = true;
    this.endAttempt(!finished); // client abort: destroy the upstream request (http-proxy #1586)
    const status = this.res.headersSent ? this.res.statusCode : 499;
    this.core.events.onResponse?.(this.match.service, this.backend?.id, status, (performance.now() - this.started) / 1000);
  };

  private answer(status: number, body: string): void {
    this.done = true;
    sendText(this.res, status, body, this.requestId);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Ends the current attempt exactly once: timer off, inflight released, upstream optionally destroyed. */
  private endAttempt(destroyUpstream: boolean): void {
    this.clearTimer();
    const dest = this.proxyReq;
    this.proxyReq = undefined;
    this.attemptTarget = undefined;
    if (this.counted !== undefined) {
      this.core.inflight.dec(this.counted);
      this.counted = undefined;
    }
    if (destroyUpstream && dest !== undefined && !dest.destroyed) dest.destroy();
  }
}

export function createProxy(opts: ProxyOptions): ProxyHandler {
  const core = new ProxyCore(opts);
  const ws = new WebSocketProxy(core);
  return {
    inflight: core.inflight,
    ejector: core.ejector,
    budget: core.budget,
    handleRequest(req, res) {
      const started = performance.now();
      const headers = req.headers;
      const requestId = ensureRequestId(headers);
      const where = requestTarget(headers.host, req.url);
      const match = core.lookup(where.host, where.path);
      if (match === undefined) {
        sendText(res, 404, `no route for ${describeTarget(where)}\n`, requestId);
        core.events.onResponse?.('', undefined, 404, (performance.now() - started) / 1000);
        return;
      }
      core.budget.recordRequest();
      if (where.host !== '' && where.host !== headers.host) headers.host = where.host; // absolute-form URL
      stripHopByHop(headers, REQUEST_STRIP);
      applyForwarded(headers, core.forwarded(req.socket));
      new Exchange(core, req, res, where, match, requestId, started).start();
    },
    handleUpgrade: (req, socket, head) => ws.handleUpgrade(req, socket, head),
    releaseBackend: (id) => core.release(id),
    closeBackendSockets: (id, drainMs) => ws.closeBackend(id, drainMs),
    inflightTotal: () => core.inflight.total(),
    whenIdle: (timeoutMs) => core.inflight.whenIdle(timeoutMs),
    openWebSockets: (id) => ws.count(id),
    close() {
      ws.close();
      core.close();
      core.engine.close();
    },
  };
}
