// One client request through the HTTP edge, across its attempts: pick a backend, stream the request
// with `http.request` over that backend's keep-alive agent, and answer 502/503/504 ourselves when no
// attempt succeeds. The proxy core (proxy.ts) creates one `Exchange` per routed request.
//
// The engine is bare node:http: http-proxy (still used for WebSockets) cost ~15 % of throughput in
// per-request option copies, url.parse, listeners and events we never used. What it did that a
// backend or client can see is kept: the upstream path (outgoing.ts), DELETE/OPTIONS framing, the
// response status, message and headers, `connection: close` towards HTTP/1.0 clients, and its error
// routing (a client ECONNRESET after its socket died only aborts the upstream request).
//
// Retry policy. A failed attempt is retried on another backend (its id goes into `exclude`) when
// the backend was unreachable (`connect`) or the connection broke before any response byte
// (`reset`), at most `retries` times and only while the RetryBudget allows. Bodies are streamed,
// never buffered, so a request body is piped into the upstream request only once its TCP connection
// is established: a refused or timed-out connect therefore never consumes the body and any request
// can be retried; once body bytes have been piped, a failure answers 502 instead.
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { failureKind, failureReason } from './ejector.js';
import { forwardResponseHeaders, type RequestTarget } from './forwarded.js';
import { applyEmptyBodyLength } from './outgoing.js';
import type { CompiledPolicy } from './policy/compile-policy.js';
import type { Backend, RouteMatch } from '../types.js';
import type { Admitted } from './admission.js';
import type { ExchangeContext } from './edge-context.js';
import { NO_EXCLUDE } from './pickers.js';
import { sendText } from './responses.js';
import { clearTimer } from './timer.js';

/** RFC 9110 idempotent methods: safe to repeat after the backend began (but did not finish) answering. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** One client request, across its attempts. Listeners are bound once per exchange, not per event. */
export class Exchange {
  private backend: Backend | undefined;
  /** The current attempt's upstream request; undefined between attempts and once the last one ended. */
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
  private readonly where: RequestTarget;
  private match: RouteMatch;
  private readonly requestId: string;
  private readonly started: number;
  private readonly path: string;
  private readonly headers: IncomingHttpHeaders;
  private readonly policy: CompiledPolicy | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private bodyBytes = 0;

  constructor(
    private readonly core: ExchangeContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    admitted: Admitted,
  ) {
    this.where = admitted.where;
    this.match = admitted.match;
    this.requestId = admitted.requestId;
    this.started = admitted.started;
    this.path = admitted.path;
    const policy = (this.policy = admitted.policy);
    this.timeoutMs = policy?.timeoutMs ?? core.upstreamTimeoutMs;
    this.retries = policy?.retries ?? core.retries;
    const h = (this.headers = admitted.headers);
    this.hasBody =
      h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
    this.preferredId = this.match.rule?.sticky ? core.sticky.preferred(h.cookie, this.match.view) : undefined;
  }

  start(): void {
    this.res.once('close', this.onClientClose);
    this.req.on('error', this.onClientError);
    this.dispatch(undefined);
  }

  private dispatch(lastReason: string | undefined): void {
    const { view, rule, service } = this.match;
    let exclude = NO_EXCLUDE;
    if (this.attempts > 0) {
      // A retry: exclude every backend tried so far (the set is only built when it is needed).
      const tried = (this.tried ??= new Set());
      tried.add((this.backend as Backend).id);
      exclude = tried;
    }
    const backend =
      view === undefined
        ? undefined
        : this.core.picker.pick(
            view,
            rule?.lb ?? this.core.defaultLb,
            exclude,
            this.attempts === 0 ? this.preferredId : undefined,
          );
    if (backend === undefined) {
      if (lastReason === undefined) this.answer(503, `no live backend for service ${service}\n`);
      else this.answer(502, `bad gateway: ${lastReason} from service ${service}\n`);
      return;
    }
    const up = this.core.upstream(backend);
    this.attempts++;
    this.backend = backend;
    this.upstreamRes = undefined;
    this.core.inflight.inc(backend.id);
    this.counted = backend.id;
    this.dispatchedAt = performance.now();
    this.connectPhase = this.core.connectTimeoutMs < this.timeoutMs;
    this.timer = setTimeout(this.onTimer, this.connectPhase ? this.core.connectTimeoutMs : this.timeoutMs);
    const req = this.req;
    applyEmptyBodyLength(req.method, this.headers);
    const t = up.target;
    // No copy of the headers: http.request copies them into the outgoing message. No `host` option
    // either: node:http ignores it next to `hostname`, and every option key is copied again by the agent.
    const dest = up.request({
      hostname: t.hostname,
      port: t.port,
      method: req.method,
      path: this.path,
      headers: this.headers,
      agent: up.agent,
    });
    this.proxyReq = dest;
    dest.on('error', (err: Error) => this.onUpstreamError(dest, err));
    dest.once('response', this.onUpstreamResponse);
    if (!this.hasBody) dest.end();
    else dest.once('socket', this.onUpstreamSocket);
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
    const max = this.policy?.maxBodyBytes;
    // A Content-Length above the limit was refused at admission; other bodies are counted as they pass.
    if (max !== undefined && this.headers['content-length'] === undefined) this.req.on('data', this.countBody);
    this.req.pipe(dest);
  };

  private readonly countBody = (chunk: Buffer): void => {
    this.bodyBytes += chunk.length;
    if (this.bodyBytes <= this.policy!.maxBodyBytes! || this.done) return;
    this.req.off('data', this.countBody);
    this.req.unpipe();
    this.endAttempt(true);
    this.res.shouldKeepAlive = false; // the rest of the body is never read
    this.answer(413, 'request body too large\n');
  };

  private readonly onUpstreamResponse = (proxyRes: IncomingMessage): void => {
    if (this.done || this.proxyReq === undefined) return;
    this.timer = clearTimer(this.timer);
    this.upstreamRes = proxyRes;
    const res = this.res;
    proxyRes.once('close', this.onUpstreamResClose);
    if (!res.headersSent) {
      const backend = this.backend;
      const sticky = this.match.rule?.sticky === true && backend !== undefined && backend.id !== this.preferredId;
      // Node decides whether the client connection stays open; HTTP/1.0 clients were always told `close`.
      // HTTP/2 has no Connection header (node:http2 throws on one).
      const h1 = this.req.httpVersionMajor === 1;
      const connection = !h1
        ? undefined
        : this.req.httpVersion === '1.0' || !res.shouldKeepAlive
          ? 'close'
          : 'keep-alive';
      // setHeader, not writeHead: headers count as sent only once the first body byte goes out,
      // which is what tells a 499 (client left first) from the backend's status.
      forwardResponseHeaders(
        proxyRes.headers,
        {
          connection,
          requestId: this.requestId,
          setCookie: sticky ? this.core.sticky.setCookie((backend as Backend).id) : undefined,
        },
        res,
      );
      this.policy?.responseHeaders?.(res);
      res.statusCode = proxyRes.statusCode ?? 200;
      if (proxyRes.statusMessage && h1) res.statusMessage = proxyRes.statusMessage;
    }
    if (!res.writableEnded) proxyRes.pipe(res);
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

  private onUpstreamError(dest: ClientRequest, err: NodeJS.ErrnoException): void {
    // The client is gone (its socket died): only abort, there is no one to answer.
    if (err.code === 'ECONNRESET' && this.req.socket.destroyed) {
      dest.destroy();
      return;
    }
    if (dest === this.proxyReq) this.attemptFailed(err); // else an attempt we already abandoned
  }

  /** The client's request stream failed (e.g. it left mid-body). */
  private readonly onClientError = (err: NodeJS.ErrnoException): void => {
    const dest = this.proxyReq;
    if (dest === undefined) return;
    if (err.code === 'ECONNRESET' && this.req.socket.destroyed) dest.destroy();
    else this.attemptFailed(err);
  };

  private attemptFailed(err: Error): void {
    const backend = this.backend as Backend;
    const reused = this.proxyReq?.reusedSocket === true;
    const responded = this.upstreamRes !== undefined;
    this.endAttempt(true);
    // The client's request stream errors come through here too: not the backend's fault.
    if (responded || this.res.headersSent || err === this.req.errored) {
      this.done = true;
      this.res.destroy();
      return;
    }
    const kind = failureKind(err);
    const reason = failureReason(err);
    if (this.core.log?.isLevelEnabled('debug'))
      this.core.log.debug({ backend: backend.id, reason, kind, reused }, 'upstream attempt failed');
    // A reset on a pooled socket is the keep-alive close race, not a sick backend: retry, don't eject.
    if (kind === 'connect' || (kind === 'reset' && !reused)) this.core.backendFailed(backend, reason);
    const retryable = kind !== 'other' && !(this.hasBody && this.bodyPiped) && !this.done && !this.core.closed;
    if (retryable && this.attempts <= this.retries) {
      if (this.core.budgets.for(this.match.service).tryRetry()) {
        this.core.events.onRetry?.(this.match.service, backend.id);
        // Re-read the table: the view may have changed (and vanished backends must not be dialled).
        // A split route keeps the service it chose for this request.
        const fresh = this.policy?.split
          ? { rule: this.match.rule, service: this.match.service, view: this.core.view(this.match.service) }
          : this.core.lookup(this.where.host, this.where.path);
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
    if (this.proxyReq === undefined) return;
    if (this.connectPhase) {
      this.connectPhase = false;
      const socket = this.proxyReq.socket;
      if (socket?.connecting === true) {
        this.attemptFailed(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
        return;
      }
      const remaining = this.timeoutMs - (performance.now() - this.dispatchedAt);
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
    // Client abort (http-proxy #1586), or we answered before its body was in (408): drop the upstream request.
    this.endAttempt(!finished || !this.req.complete);
    const status = this.res.headersSent ? this.res.statusCode : 499;
    this.core.events.onResponse?.(
      this.match.service,
      this.backend?.id,
      status,
      (performance.now() - this.started) / 1000,
    );
  };

  private answer(status: number, body: string): void {
    this.done = true;
    if (!this.res.headersSent) this.policy?.responseHeaders?.(this.res);
    sendText(this.res, status, body, this.requestId);
  }

  /** Ends the current attempt exactly once: timer off, inflight released, upstream optionally destroyed. */
  private endAttempt(destroyUpstream: boolean): void {
    this.timer = clearTimer(this.timer);
    const dest = this.proxyReq;
    this.proxyReq = undefined;
    if (this.counted !== undefined) {
      this.core.inflight.dec(this.counted);
      this.counted = undefined;
    }
    if (destroyUpstream && dest !== undefined && !dest.destroyed) dest.destroy();
  }
}
