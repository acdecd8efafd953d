// The balancer's proxy edge: routes each request with a `Lookup`, chooses a backend with a `Picker`
// and streams it over a keep-alive agent per backend. It never sees etcd.
// Engines stay behind `createProxy`: HTTP requests go through bare `http.request` (http-exchange.ts,
// measurably faster than http-proxy's `web()`, with the same wire behaviour), WebSocket upgrades
// through http-proxy 1.18.1's `ws()`. Its known traps are handled here and in websocket-proxy.ts:
// error callback on every call, forwarded headers built by us and set on the incoming request
// before the engine sees it (#1478); and on both edges our own response timer (#1331) and the
// upstream destroyed on client abort (#1586).
// This file holds the shared core and the entry points; one HTTP request with its retries is an
// `Exchange` (http-exchange.ts), upgrades are tunnels (websocket-proxy.ts), and the keep-alive
// agents live in an `UpstreamPool` (upstream-pool.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import httpProxy from 'http-proxy';
import type { Logger } from '../../common/logger.js';
import { type AddressMatcher, type CidrBlock, createMatcher } from '../../common/cidr.js';
import { Ejector } from './ejector.js';
import {
  applyForwarded,
  describeTarget,
  ensureRequestId,
  type ForwardedContext,
  normalizePeer,
  requestTarget,
  STICKY_COOKIE,
  type StripOptions,
  stripHopByHop,
} from './forwarded.js';
import { isProxyableTarget } from './outgoing.js';
import { Exchange, type ExchangeContext, sendText } from './http-exchange.js';
import { Inflight } from './inflight.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import type { Backend, LbPolicy, Lookup, Picker } from '../types.js';
import { type Upstream, UpstreamPool, type UpstreamTarget } from './upstream-pool.js';
import { WebSocketProxy } from './websocket-proxy.js';

export { sendText, STICKY_COOKIE };

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
  /** The proxy adds its own `component: 'proxy'` binding: pass the parent logger. */
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
  retries: 2,
  upstreamTimeoutMs: 30_000,
  connectTimeoutMs: 3_000,
  maxSocketsPerBackend: 256,
  agentIdleTimeoutMs: 4_000,
});

const REQUEST_STRIP: StripOptions = { direction: 'request' };

class ProxyCore implements ExchangeContext {
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
  private readonly upstreams: UpstreamPool;
  private readonly isTrusted: AddressMatcher;
  /** Per client connection: its peer address and trust are worked out once, not per request. */
  private readonly peers = new WeakMap<Socket, ForwardedContext>();

  constructor(opts: ProxyOptions) {
    this.lookup = opts.lookup;
    this.defaultLb = opts.defaultLb;
    this.events = opts.events ?? {};
    this.log = opts.logger?.child({ component: 'proxy' });
    this.retries = opts.retries ?? PROXY_DEFAULTS.retries;
    this.upstreamTimeoutMs = opts.upstreamTimeoutMs ?? PROXY_DEFAULTS.upstreamTimeoutMs;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? PROXY_DEFAULTS.connectTimeoutMs;
    this.inflight = opts.inflight ?? new Inflight();
    this.ejector =
      opts.ejector ?? new Ejector(opts.ejectCooldownMs === undefined ? {} : { cooldownMs: opts.ejectCooldownMs });
    this.budget = opts.retryBudget instanceof RetryBudget ? opts.retryBudget : new RetryBudget(opts.retryBudget);
    this.isTrusted = createMatcher(opts.trustedProxies ?? []);
    this.picker =
      typeof opts.picker === 'function'
        ? opts.picker({ isEjected: this.ejector.isEjected, inflight: this.inflight.get })
        : opts.picker;
    this.upstreams = new UpstreamPool({
      maxSocketsPerBackend: opts.maxSocketsPerBackend ?? PROXY_DEFAULTS.maxSocketsPerBackend,
      agentIdleTimeoutMs: opts.agentIdleTimeoutMs ?? PROXY_DEFAULTS.agentIdleTimeoutMs,
    });
    this.engine = httpProxy.createProxyServer({ xfwd: false, changeOrigin: false, prependPath: false, ws: false });
    // Every call passes a callback; this listener only keeps a stray engine error from throwing.
    this.engine.on('error', (err: Error) => this.log?.error({ err }, 'proxy engine error'));
  }

  forwarded(socket: Socket): ForwardedContext {
    let ctx = this.peers.get(socket);
    if (ctx === undefined) {
      const addr = socket.remoteAddress;
      ctx = {
        peer: normalizePeer(addr),
        trusted: addr !== undefined && this.isTrusted(addr),
        proto: (socket as TLSSocket).encrypted ? 'https' : 'http',
      };
      if (addr !== undefined) this.peers.set(socket, ctx);
    }
    return ctx;
  }

  upstream(backend: Backend): Upstream {
    return this.upstreams.get(backend);
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
    this.ejector.restore(id);
    this.upstreams.release(id);
  }

  close(): void {
    this.closed = true;
    this.upstreams.close();
    this.ejector.close();
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
      if (!isProxyableTarget(req.url ?? '/')) {
        sendText(res, 400, 'bad request target\n', requestId);
        core.events.onResponse?.('', undefined, 400, (performance.now() - started) / 1000);
        return;
      }
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
