// How an upstream attempt failed, as the retry policy (retry-decision.ts) and the ejector need it.
// Every failure the engine reports is an UpstreamError with a `kind`, a stable `code`, a short
// `reason` for 502 bodies and logs (the errno code where there is one, as the HTTP edge printed
// before), and the facts about what had been exchanged when it failed.

/**
 * - `connect`: refused, unreachable, DNS, connect timeout, or the backend was released while the
 *   request waited: the request never reached the backend.
 * - `idle-race`: a reused keep-alive socket closed or reset before any response byte (the backend
 *   closed it idle as we wrote: Go net/http's errServerClosedIdle).
 * - `reset`: a fresh socket closed or reset before the response ended, or a reused one after response
 *   bytes arrived.
 * - `timeout`: no byte from the backend for `upstreamIdleTimeoutMs` after the response head.
 * - `protocol`: the backend broke HTTP/1.1 framing (bad head, bad chunk, bytes after the response, an
 *   unexpected 101); the socket is destroyed.
 * - `pool-full`: every socket to the backend is busy and its wait queue is full: nothing was sent.
 * - `client`: the client's request body failed or ended early: not the backend's fault.
 */
export type FailureKind = 'connect' | 'idle-race' | 'reset' | 'timeout' | 'protocol' | 'pool-full' | 'client';

export const FAILURE_CODES: Readonly<Record<FailureKind, string>> = Object.freeze({
  connect: 'ERR_UPSTREAM_CONNECT',
  'idle-race': 'ERR_UPSTREAM_IDLE_RACE',
  reset: 'ERR_UPSTREAM_RESET',
  timeout: 'ERR_UPSTREAM_IDLE_TIMEOUT',
  protocol: 'ERR_UPSTREAM_PROTOCOL',
  'pool-full': 'ERR_UPSTREAM_POOL_FULL',
  client: 'ERR_UPSTREAM_CLIENT_BODY',
});

/** The `client` failure's reason when the request body exceeded the attempt's limit. */
export const BODY_TOO_LARGE = 'request body too large';

/** What the attempt had exchanged when it failed. */
export interface AttemptFacts {
  /** The socket had carried a complete exchange before this one. */
  readonly reused: boolean;
  /** Bytes of the client's request body taken from its stream (and written upstream). */
  readonly bodyBytesSent: number;
  /** Any byte of a response (interim or final) arrived from the backend. */
  readonly responseStarted: boolean;
  /** The final response head was delivered to the sink. */
  readonly headersReceived: boolean;
}

export class UpstreamError extends Error implements AttemptFacts {
  readonly code: string;
  readonly reused: boolean;
  readonly bodyBytesSent: number;
  readonly responseStarted: boolean;
  readonly headersReceived: boolean;

  constructor(
    readonly kind: FailureKind,
    /** Short and stable: `ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `EPROTO`, `pool full`… */
    readonly reason: string,
    facts: AttemptFacts,
    /** Why, for logs (a parser message, the socket error's message). */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`upstream ${kind}: ${reason}${detail === '' ? '' : ` (${detail})`}`, options);
    this.name = 'UpstreamError';
    this.code = FAILURE_CODES[kind];
    this.reused = facts.reused;
    this.bodyBytesSent = facts.bodyBytesSent;
    this.responseStarted = facts.responseStarted;
    this.headersReceived = facts.headersReceived;
  }
}
