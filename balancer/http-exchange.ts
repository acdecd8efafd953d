// One client request through the HTTP edge, across its attempts: pick a backend, stream the request
// through http-proxy over that backend's keep-alive agent, and answer 502/503/504 ourselves when no
// attempt succeeds. The proxy core (proxy.ts) creates one `Exchange` per routed request.
//
// Retry policy. A failed attempt is retried on another backend (its id goes into `exclude`) when
// the backend was unreachable (`connect`) or the connection broke before any response byte
// (`reset`), at most `retries` times and only while the RetryBudget allows. Bodies are streamed,
// never buffered, so a request body is piped into the upstream request only once its TCP connection
// is established: a refused or timed-out connect therefore never consumes the body and any request
// can be retried; once body bytes have been piped, a failure answers 502 instead.
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Stream } from 'node:stream';
import type { Logger } from '../common/logger.js';
import { failureKind, failureReason } from './ejector.js';
import { type RequestTarget, type StripOptions, stickyBackendId, stickySetCookie, stripHopByHop } from './forwarded.js';
import type { Inflight } from './inflight.js';
import type { RetryBudget } from './retry-budget.js';
import type { Backend, RouteMatch } from './types.js';
import type { Upstream, UpstreamTarget } from './upstream-pool.js';
import type { EdgeContext } from './websocket-proxy.js';

/** What an exchange needs from the proxy core, beyond what the WebSocket edge uses. */
export interface ExchangeContext extends EdgeContext {
  readonly retries: number;
  readonly connectTimeoutMs: number;
  readonly inflight: Inflight;
  readonly budget: RetryBudget;
  readonly log: Logger | undefined;
  /** Set once the proxy is closing: no new attempts. */
  readonly closed: boolean;
  upstream(backend: Backend): Upstream;
}

const RESPONSE_STRIP: StripOptions = { direction: 'response' };
const NO_EXCLUDE: ReadonlySet<string> = new Set();
/** RFC 9110 idempotent methods: safe to repeat after the backend began (but did not finish) answering. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Our own plain-text answer; once a status line has gone out the response can only be broken off. */
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

/** One client request, across its attempts. Listeners are bound once per exchange, not per event. */
export class Exchange {
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
    private readonly core: ExchangeContext, private readonly req: IncomingMessage, private readonly res: ServerResponse,
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
    const up = this.upstreamRes;
    if (up?.complete !== false || this.res.writableFinished) return;
    // The backend went away mid-response (e.g. SIGKILLed between its header and body writes). While
    // nothing has reached the client an idempotent request is retried like a reset before the
    // response; the failed attempt's headers are taken back first.
    if (!this.res.headersSent && !this.done && IDEMPOTENT.has(this.req.method ?? '')) {
      for (const name of Object.keys(up.headers)) this.res.removeHeader(name);
      this.upstreamRes = undefined;
      this.attemptFailed(Object.assign(new Error('upstream response aborted'), { code: 'ECONNRESET' }));
      return;
    }
    // Otherwise the client must see a broken response, not a hang.
    this.res.destroy();
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
