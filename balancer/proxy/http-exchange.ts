// One client request through the HTTP edge, across its attempts: pick a backend, send the request
// through the upstream engine (engine/: pooled keep-alive sockets, our own response parser) and
// stream the response back, or answer 502/503/504 ourselves when no attempt succeeds. The proxy
// core (proxy.ts) creates one `Exchange` per routed request; the exchange is the engine's
// ResponseSink, so a request costs no closure.
//
// Kept from the node:http engine it replaced, as a client or backend sees it: the upstream path
// (outgoing.ts), DELETE/OPTIONS framing, the response status, message and headers, `connection:
// close` towards HTTP/1.0 clients, 499 when the client left first.
//
// Retry policy: engine/retry-decision.ts says whether a failed attempt may go to another backend
// (never once the client's status line went out, never after body bytes were sent, a POST written to
// a fresh socket never twice); this file adds the retry count, the per-service RetryBudget and the
// backends already tried. Bodies are streamed, not buffered.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessEntry } from './access-entry.js';
import type { AccessRecord } from './access-log.js';
import { type ResponseHeaders } from './engine/header-fields.js';
import { InvalidRequestError } from './engine/request-head.js';
import { countsAgainstBackend, failureStatus, retryDecision } from './engine/retry-decision.js';
import type { ResponseSink, UpstreamAttempt } from './engine/upstream-attempt.js';
import { BODY_TOO_LARGE, type UpstreamError } from './engine/upstream-error.js';
import { forwardResponseHeaders, type RequestTarget } from './forwarded.js';
import { applyEmptyBodyLength } from './outgoing.js';
import type { CompiledPolicy } from './policy/compile-policy.js';
import type { Backend, RouteMatch } from '../types.js';
import type { Admitted } from './admission.js';
import type { ExchangeContext } from './edge-context.js';
import { NO_EXCLUDE } from './pickers.js';
import { sendText } from './responses.js';
import { clearTimer } from './timer.js';

/** Seconds a client is asked to wait when every socket to the backend is busy and its queue is full. */
const POOL_FULL_RETRY_AFTER = '1';

// The exchange rides on its request and response under a symbol, and their listeners, its timer and
// its head flush are module-level functions: a request allocates no bound functions.
const EXCHANGE = Symbol('exchange');
type Carrier = { [EXCHANGE]?: Exchange };

function onClientClose(this: ServerResponse): void {
  (this as Carrier)[EXCHANGE]?.clientClosed();
}
function onClientDrain(this: ServerResponse): void {
  (this as Carrier)[EXCHANGE]?.drained();
}
function onClientError(this: IncomingMessage): void {
  (this as Carrier)[EXCHANGE]?.clientFailed();
}
function onHeadersTimeout(x: Exchange): void {
  x.timedOut();
}
function flushHeadLater(x: Exchange): void {
  x.flushHead();
}

/** One client request, across its attempts. */
export class Exchange implements ResponseSink {
  private backend: Backend | undefined;
  /** The current attempt; undefined between attempts and once the last one ended. */
  private attempt: UpstreamAttempt | undefined;
  private counted: string | undefined;
  private tried: Set<string> | undefined;
  private attempts = 0;
  private done = false;
  /** The backend's response head is set on `res` but not flushed yet. */
  private headPending = false;
  private waitingDrain = false;
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() at the last dispatch, kept for the access log only. */
  private dispatchedAt = 0;
  private readonly hasBody: boolean;
  private readonly idempotencyKey: boolean;
  private readonly trailers: boolean;
  private readonly preferredId: string | undefined;
  private readonly where: RequestTarget;
  private match: RouteMatch;
  private readonly requestId: string;
  private readonly started: number;
  private readonly path: string;
  private readonly method: string;
  private readonly headers: Admitted['headers'];
  private readonly policy: CompiledPolicy | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  /** A Content-Length above the route's limit was refused at admission; other bodies are counted as they pass. */
  private readonly bodyLimit: number;
  /** The access-log line being filled (--access-log), completed when the response closes. */
  private readonly record: AccessRecord | undefined;

  constructor(
    private readonly core: ExchangeContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    admitted: Admitted,
    private readonly access: AccessEntry | undefined,
  ) {
    const record = (this.record = access?.record);
    this.where = admitted.where;
    this.match = admitted.match;
    this.requestId = admitted.requestId;
    this.started = admitted.started;
    this.path = admitted.path;
    this.method = req.method ?? 'GET';
    const policy = (this.policy = admitted.policy);
    this.timeoutMs = policy?.timeoutMs ?? core.upstreamTimeoutMs;
    this.retries = policy?.retries ?? core.retries;
    const h = (this.headers = admitted.headers);
    applyEmptyBodyLength(this.method, h);
    this.hasBody =
      h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
    this.idempotencyKey = h['idempotency-key'] !== undefined;
    const max = policy?.maxBodyBytes;
    this.bodyLimit = max !== undefined && h['content-length'] === undefined ? max : Infinity;
    // TE is hop-by-hop: we state our own willingness for trailers, and only on the client's behalf.
    this.trailers = admitted.trailers;
    if (this.trailers) h.te = 'trailers';
    this.preferredId = this.match.rule?.sticky ? core.sticky.preferred(h.cookie, this.match.view) : undefined;
    if (record !== undefined) record.requestId = this.requestId;
  }

  start(): void {
    (this.res as Carrier)[EXCHANGE] = this;
    this.res.once('close', onClientClose);
    this.access?.claim(); // completed in clientClosed(): one 'close' listener serves both
    // A bodiless request is complete once parsed: its stream has no more bytes to fail on.
    if (this.hasBody) {
      (this.req as Carrier)[EXCHANGE] = this;
      this.req.on('error', onClientError);
    }
    this.dispatch(undefined);
  }

  private dispatch(lastFailure: UpstreamError | undefined): void {
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
      if (lastFailure === undefined) this.answer(503, `no live backend for service ${service}\n`);
      else this.answerFailure(lastFailure);
      return;
    }
    this.attempts++;
    this.backend = backend;
    try {
      this.attempt = this.core
        .pool(backend)
        .request(this.method, this.path, this.headers, this.hasBody ? this.req : undefined, this, this.bodyLimit);
    } catch (err) {
      // A header a route policy set, or a request line node:http accepted but HTTP/1.1 cannot carry.
      if (!(err instanceof InvalidRequestError)) throw err;
      this.core.log?.warn({ err, service }, 'request cannot be sent upstream');
      this.answer(400, 'bad request\n');
      return;
    }
    this.core.inflight.inc(backend.id);
    this.counted = backend.id;
    if (this.record !== undefined) {
      this.record.service = service;
      this.record.backend = backend.id;
      this.record.attempts = this.attempts;
      this.dispatchedAt = performance.now();
    }
    this.timer = setTimeout(onHeadersTimeout, this.timeoutMs, this);
  }

  onInterim(status: number, headers: ResponseHeaders): void {
    if (this.done || this.res.headersSent) return;
    if (status === 100) this.res.writeContinue();
    else if (status === 103 && headers.link !== undefined) this.res.writeEarlyHints(headers);
  }

  onResponse(status: number, reason: string, headers: ResponseHeaders): void {
    if (this.done) return;
    this.timer = clearTimer(this.timer);
    const res = this.res;
    if (res.headersSent) return;
    if (this.record !== undefined) this.record.upstreamMs = performance.now() - this.dispatchedAt;
    const backend = this.backend as Backend;
    const sticky = this.match.rule?.sticky === true && backend.id !== this.preferredId;
    // Node decides whether the client connection stays open; HTTP/1.0 clients were always told `close`.
    // HTTP/2 has no Connection header (node:http2 throws on one).
    const h1 = this.req.httpVersionMajor === 1;
    const connection = !h1
      ? undefined
      : this.req.httpVersion === '1.0' || !res.shouldKeepAlive
        ? 'close'
        : 'keep-alive';
    forwardResponseHeaders(
      headers,
      {
        connection,
        requestId: this.requestId,
        setCookie: sticky ? this.core.sticky.setCookie(backend.id) : undefined,
      },
      res,
    );
    this.policy?.responseHeaders?.(res);
    res.statusCode = status;
    if (reason !== '' && h1) res.statusMessage = reason;
    // A streamed body (chunked or close-delimited: server-sent events, long polls) must not wait for
    // its first byte: the head goes out after this read, with any body bytes it held (one write).
    // A Content-Length body follows its head at once, so that head waits for the first byte: until
    // then a backend that dies leaves nothing at the client, and an idempotent request is retried.
    if (headers['content-length'] === undefined) {
      this.headPending = true;
      process.nextTick(flushHeadLater, this);
    }
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return true;
    this.headPending = false;
    if (this.record !== undefined) this.record.bytes += chunk.length;
    if (this.res.write(chunk)) return true;
    if (!this.waitingDrain) {
      this.waitingDrain = true;
      this.res.once('drain', onClientDrain);
    }
    return false;
  }

  onTrailers(trailers: ResponseHeaders): void {
    if (this.trailers && !this.done) this.res.addTrailers(trailers);
  }

  onEnd(): void {
    this.headPending = false;
    this.endAttempt(false);
    if (!this.done) this.res.end();
  }

  onError(err: UpstreamError): void {
    const backend = this.backend as Backend;
    this.attempt = undefined;
    this.endAttempt(false);
    if (this.done) return;
    const { kind, reason } = err;
    const res = this.res;
    if (kind === 'client' && reason === BODY_TOO_LARGE) {
      res.shouldKeepAlive = false; // the rest of the body is never read
      this.answer(413, 'request body too large\n');
      return;
    }
    if (kind === 'client') {
      // The client's body stream failed or ended early: not the backend's fault, nobody to answer.
      this.done = true;
      res.destroy();
      return;
    }
    if (this.core.log?.isLevelEnabled('debug'))
      this.core.log.debug({ backend: backend.id, reason, kind, reused: err.reused }, 'upstream attempt failed');
    if (countsAgainstBackend(kind)) this.core.backendFailed(backend, reason);
    if (res.headersSent) {
      this.done = true;
      res.destroy(); // the client must see a broken response, not a hang
      return;
    }
    this.headPending = false;
    const retryable = retryDecision({
      kind,
      method: this.method,
      idempotencyKey: this.idempotencyKey,
      bodyBytesSent: err.bodyBytesSent,
      clientResponseStarted: false,
    });
    if (err.headersReceived && !retryable) {
      // The backend answered a request that must not be repeated, then broke: the client sees the
      // break as it happened rather than a 502 that claims the backend never answered.
      this.done = true;
      res.destroy();
      return;
    }
    // A failed attempt's response head may be set but not sent yet: take it back.
    if (err.headersReceived) for (const name of res.getHeaderNames()) res.removeHeader(name);
    if (retryable && !this.core.closed && this.attempts <= this.retries) {
      if (this.core.budgets.for(this.match.service).tryRetry()) {
        this.core.events.onRetry?.(this.match.service, backend.id);
        // Re-read the table: the view may have changed (and vanished backends must not be dialled).
        // A split route keeps the service it chose for this request.
        const fresh = this.policy?.split
          ? { rule: this.match.rule, service: this.match.service, view: this.core.view(this.match.service) }
          : this.core.lookup(this.where.host, this.where.path);
        if (fresh !== undefined) {
          this.match = fresh;
          this.dispatch(err);
          return;
        }
      } else {
        this.core.events.onBudgetExhausted?.(this.match.service);
      }
    }
    this.answerFailure(err);
  }

  /** No attempt succeeded: the status says why the last one failed (503 pool full, 504, else 502). */
  private answerFailure({ kind, reason }: UpstreamError): void {
    const status = failureStatus(kind);
    const service = this.match.service;
    if (status === 503) {
      this.res.setHeader('retry-after', POOL_FULL_RETRY_AFTER);
      this.answer(503, `backend busy: ${reason} for service ${service}\n`);
    } else if (status === 504) {
      this.answer(504, `upstream timeout from service ${service}\n`);
    } else {
      this.answer(502, `bad gateway: ${reason} from service ${service}\n`);
    }
  }

  flushHead(): void {
    if (!this.headPending) return;
    this.headPending = false;
    if (!this.done && !this.res.headersSent) this.res.flushHeaders();
  }

  drained(): void {
    this.waitingDrain = false;
    this.attempt?.resume();
  }

  timedOut(): void {
    this.timer = undefined;
    if (this.attempt === undefined) return;
    this.endAttempt(true);
    this.answer(504, `upstream timeout from service ${this.match.service}\n`);
  }

  clientClosed(): void {
    this.done = true;
    (this.res as Carrier)[EXCHANGE] = undefined;
    if (this.hasBody) (this.req as Carrier)[EXCHANGE] = undefined;
    // Client abort (http-proxy #1586), or we answered before the backend finished: drop the upstream exchange.
    this.endAttempt(true);
    const status = this.res.headersSent ? this.res.statusCode : 499;
    this.access?.end(this.res);
    this.core.events.onResponse?.(
      this.match.service,
      this.backend?.id,
      status,
      (performance.now() - this.started) / 1000,
    );
  }

  /** The client's request stream failed (it left mid-body); the engine reports the attempt as `client`. */
  clientFailed(): void {
    if (this.attempt !== undefined && this.req.socket?.destroyed !== false) this.endAttempt(true);
  }

  private answer(status: number, body: string): void {
    this.done = true;
    if (this.record !== undefined) {
      this.record.service = this.match.service;
      this.record.bytes = Buffer.byteLength(body);
    }
    if (!this.res.headersSent) this.policy?.responseHeaders?.(this.res);
    sendText(this.res, status, body, this.requestId);
  }

  /** Ends the current attempt exactly once: timer off, inflight released, upstream optionally aborted. */
  private endAttempt(abort: boolean): void {
    this.timer = clearTimer(this.timer);
    const a = this.attempt;
    this.attempt = undefined;
    if (this.counted !== undefined) {
      this.core.inflight.dec(this.counted);
      this.counted = undefined;
    }
    if (abort && a !== undefined) a.abort();
  }
}
