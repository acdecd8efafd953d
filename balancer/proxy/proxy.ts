// The balancer's proxy edge: routes each request with a `Lookup`, chooses a backend with a `Picker`
// and streams it over the upstream engine's keep-alive sockets. It never sees etcd.
// Engines stay behind `createProxy`: HTTP requests go through our own HTTP/1.1 client (engine/,
// driven by http-exchange.ts; ~4× cheaper per request than `http.request` and its Agent),
// WebSocket upgrades through http-proxy 1.18.1's `ws()`. Its known traps are handled here and in websocket-proxy.ts:
// error callback on every call, forwarded headers built by us and set on the incoming request
// before the engine sees it (#1478); and on both edges our own response timer (#1331) and the
// upstream destroyed on client abort (#1586).
// This file holds the shared core and the entry points; one HTTP request with its retries is an
// `Exchange` (http-exchange.ts), upgrades are tunnels (websocket-proxy.ts), and the keep-alive
// sockets live in the `UpstreamEngine` (engine/upstream-engine.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import httpProxy from 'http-proxy';
import { type AddressMatcher, type CidrBlock, createMatcher } from '../../common/cidr.js';
import type { Logger } from '../../common/logger.js';
import type { Backend, LbPolicy, Lookup, Picker, RouteRule, ServiceView } from '../types.js';
import type { AccessEntry } from './access-entry.js';
import { admit } from './admission.js';
import type { ExchangeContext, PickerDeps, ProxyEvents } from './edge-context.js';
import { Ejector } from './ejector.js';
import { type ForwardedContext, normalizePeer, type StripOptions } from './forwarded.js';
import { Exchange } from './http-exchange.js';
import { Inflight } from './inflight.js';
import { PolicyCache } from './policy/compile-policy.js';
import { sendRefusal, sendText } from './responses.js';
import { RetryBudgets, type RetryBudgetOptions } from './retry-budget.js';
import { STICKY_COOKIE, StickyCookies } from './sticky-cookie.js';
import type { BackendPool } from './engine/backend-pool.js';
import { ENGINE_DEFAULTS, type EngineOptions } from './engine/engine-options.js';
import { UpstreamEngine } from './engine/upstream-engine.js';
import { type UpstreamTarget, upstreamTarget } from './upstream-target.js';
import { WebSocketProxy } from './websocket-proxy.js';

export type { PickerDeps, ProxyEvents };
export { sendText, STICKY_COOKIE };

export interface ProxyOptions {
  readonly lookup: Lookup;
  /** The TLS listener's port (known once it listens), for `httpsRedirect` routes. Default 443. */
  readonly httpsPort?: () => number;
  /** A service's current view, for split routes (`services`). Default: none known. */
  readonly view?: (service: string) => ServiceView | undefined;
  /** Builds the picker from this proxy's ejector and in-flight counters. */
  readonly picker: (deps: PickerDeps) => Picker;
  readonly defaultLb: LbPolicy;
  /** Extra attempts after a connect/reset failure. Default 2. */
  readonly retries?: number;
  /** From dispatch until response headers; then 504. Default 30 000 ms. */
  readonly upstreamTimeoutMs?: number;
  /** No byte from the backend for this long after its response head ends the exchange. Default 60 000 ms. */
  readonly upstreamIdleTimeoutMs?: number;
  /** The upstream engine's other knobs: sockets and waiters per backend, connect and pool idle timeouts. */
  readonly engine?: Omit<EngineOptions, 'upstreamIdleTimeoutMs'>;
  readonly ejectCooldownMs?: number;
  /** CIDRs whose X-Forwarded-* headers are believed. Default: none. */
  readonly trustedProxies?: string | readonly string[] | readonly CidrBlock[];
  readonly retryBudget?: RetryBudgetOptions;
  /** Key of the sticky cookie's MAC; default: random per proxy (workers must share one: see main.ts). */
  readonly stickySecret?: string;
  readonly events?: ProxyEvents;
  /** The proxy adds its own `component: 'proxy'` binding: pass the parent logger. */
  readonly logger?: Logger;
}

export interface ProxyHandler {
  /**
   * `access`: this request's access-log entry (--access-log), filled in as it is served; an exchange
   * claims it and completes it when the response closes, otherwise the caller must (completeOnClose).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, access?: AccessEntry): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Compiles a newly published table's route policies before traffic needs them. */
  warmPolicies(routes: readonly RouteRule[]): void;
  /** The backend left the table: close its keep-alive sockets (idle now, busy ones when released). */
  releaseBackend(id: string): void;
  /** Close the backend's WebSockets, spread over `drainMs`. */
  closeBackendSockets(id: string, drainMs: number): void;
  readonly inflight: Inflight;
  readonly ejector: Ejector;
  readonly budgets: RetryBudgets;
  inflightTotal(): number;
  /** Resolves true when no HTTP request is in flight, false after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean>;
  openWebSockets(backendId?: string): number;
  /** Shutdown: every open WebSocket gets a 1001 close frame both ways; resolves when all are closed (≤ waitMs). */
  goAwayWebSockets(waitMs: number): Promise<void>;
  close(): void;
}

export const PROXY_DEFAULTS = Object.freeze({
  retries: 2,
  upstreamTimeoutMs: 30_000,
  upstreamIdleTimeoutMs: ENGINE_DEFAULTS.upstreamIdleTimeoutMs,
});

const REQUEST_STRIP: StripOptions = { direction: 'request' };

class ProxyCore implements ExchangeContext {
  readonly engine: httpProxy;
  readonly picker: Picker;
  readonly events: ProxyEvents;
  readonly retries: number;
  readonly upstreamTimeoutMs: number;
  readonly inflight: Inflight;
  readonly ejector: Ejector;
  readonly budgets: RetryBudgets;
  readonly lookup: Lookup;
  readonly defaultLb: LbPolicy;
  readonly log: Logger | undefined;
  readonly sticky: StickyCookies;
  readonly policies = new PolicyCache();
  readonly view: (service: string) => ServiceView | undefined;
  readonly isTrusted: AddressMatcher;
  readonly httpsPort: () => number;
  closed = false;
  private readonly upstreams: UpstreamEngine;
  /** Per client connection: its peer address and trust are worked out once, not per request. */
  private readonly peers = new WeakMap<Socket, ForwardedContext>();

  constructor(opts: ProxyOptions) {
    this.lookup = opts.lookup;
    this.view = opts.view ?? (() => undefined);
    this.httpsPort = opts.httpsPort ?? (() => 443);
    this.defaultLb = opts.defaultLb;
    this.events = opts.events ?? {};
    this.log = opts.logger?.child({ component: 'proxy' });
    this.retries = opts.retries ?? PROXY_DEFAULTS.retries;
    this.upstreamTimeoutMs = opts.upstreamTimeoutMs ?? PROXY_DEFAULTS.upstreamTimeoutMs;
    this.inflight = new Inflight();
    this.ejector = new Ejector(opts.ejectCooldownMs === undefined ? {} : { cooldownMs: opts.ejectCooldownMs });
    this.budgets = new RetryBudgets(opts.retryBudget);
    this.isTrusted = createMatcher(opts.trustedProxies ?? []);
    this.sticky = new StickyCookies(opts.stickySecret);
    this.picker = opts.picker({
      isEjected: this.ejector.isEjected,
      inflight: this.inflight.get,
      onFailOpen: (service) => this.events.onFailOpen?.(service),
    });
    this.upstreams = new UpstreamEngine({
      ...opts.engine,
      upstreamIdleTimeoutMs: opts.upstreamIdleTimeoutMs ?? PROXY_DEFAULTS.upstreamIdleTimeoutMs,
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

  pool(backend: Backend): BackendPool {
    return this.upstreams.pool(backend);
  }

  targetFor(backend: Backend): UpstreamTarget {
    return upstreamTarget(backend);
  }

  backendFailed(backend: Backend, reason: string): void {
    if (!this.ejector.eject(backend.id)) return;
    const { cooldownMs } = this.ejector;
    this.log?.warn({ service: backend.service, backend: backend.id, reason, cooldownMs }, 'backend ejected');
    this.events.onEject?.(backend.service, backend.id);
  }

  release(id: string): void {
    this.ejector.restore(id);
    this.upstreams.release(id);
  }

  close(): void {
    this.closed = true;
    this.upstreams.destroy();
    this.ejector.close();
  }
}

export function createProxy(opts: ProxyOptions): ProxyHandler {
  const core = new ProxyCore(opts);
  const ws = new WebSocketProxy(core);
  return {
    inflight: core.inflight,
    ejector: core.ejector,
    budgets: core.budgets,
    handleRequest(req, res, access) {
      const started = performance.now();
      const admitted = admit(req, core, REQUEST_STRIP, started);
      if (!admitted.ok) {
        if (access !== undefined) {
          const record = access.record;
          record.requestId = admitted.requestId;
          record.service = admitted.service === '' ? null : admitted.service;
          record.bytes = Buffer.byteLength(admitted.body);
        }
        sendRefusal(res, admitted);
        core.events.onResponse?.(admitted.service, undefined, admitted.status, (performance.now() - started) / 1000);
        return;
      }
      core.budgets.for(admitted.match.service).recordRequest();
      new Exchange(core, req, res, admitted, access).start();
    },
    handleUpgrade: (req, socket, head) => ws.handleUpgrade(req, socket, head),
    warmPolicies: (routes) => core.policies.warm(routes),
    releaseBackend: (id) => core.release(id),
    closeBackendSockets: (id, drainMs) => ws.closeBackend(id, drainMs),
    inflightTotal: () => core.inflight.total(),
    whenIdle: (timeoutMs) => core.inflight.whenIdle(timeoutMs),
    openWebSockets: (id) => ws.count(id),
    goAwayWebSockets: (waitMs) => ws.goAway(waitMs),
    close() {
      ws.close();
      core.close();
      core.engine.close();
    },
  };
}
