// One attempt of one request on one backend: the request (head already serialised), the caller's
// sink, and the facts the retry policy needs. It is the caller's handle (`abort`, `resume`) and the
// engine's per-request state object, so no closure is made per request. While it waits for a socket
// its host is the pool; once a socket carries it, the connection.
import type { Readable } from 'node:stream';
import type { ResponseHeaders } from './header-fields.js';
import type { RequestHead } from './request-head.js';
import type { AttemptFacts, UpstreamError } from './upstream-error.js';

/**
 * Where the response goes. Calls arrive in order: any `onInterim`, then `onResponse`, `onData`…,
 * `onTrailers` (only if the backend sent trailers), then exactly one of `onEnd` or `onError` — or
 * nothing more once the caller called `abort()`. `onError` may come at any point, also before
 * `onResponse` (then nothing reached the client and the caller may retry, see retry-decision.ts).
 * Callbacks may call `abort()` and `resume()` synchronously.
 */
export interface ResponseSink {
  /** A `100 Continue` or `103 Early Hints` (other 1xx are skipped). */
  onInterim(status: number, headers: ResponseHeaders): void;
  /** The final response head, as soon as it is parsed (before any body byte). */
  onResponse(status: number, reason: string, headers: ResponseHeaders): void;
  /** A slice of the body. Return false to stop reading from the backend until `attempt.resume()`. */
  onData(chunk: Buffer): boolean;
  onTrailers(trailers: ResponseHeaders): void;
  onEnd(): void;
  onError(err: UpstreamError): void;
}

/** Who holds the attempt now: the pool's wait queue or a connection. */
export interface AttemptHost {
  abortAttempt(attempt: UpstreamAttempt): void;
  resumeAttempt(attempt: UpstreamAttempt): void;
}

/** Waiting for a socket (queued or connecting). */
export const A_WAITING = 0;
/** Its request is on a socket. */
export const A_ACTIVE = 1;
/** Ended, failed or aborted: the sink hears nothing more. */
export const A_DONE = 2;

export class UpstreamAttempt implements AttemptFacts {
  state = A_WAITING;
  host: AttemptHost | undefined = undefined;
  reused = false;
  bodyBytesSent = 0;
  responseStarted = false;
  headersReceived = false;
  /** The whole request (head and body) is written. */
  requestDone = false;

  constructor(
    readonly head: RequestHead,
    readonly isHead: boolean,
    readonly body: Readable | undefined,
    readonly sink: ResponseSink,
    /** Body bytes allowed; one more fails the attempt as `client` (BODY_TOO_LARGE). */
    readonly bodyLimit = Infinity,
  ) {}

  /**
   * Cancels the attempt (the client left, or the caller's time-to-headers timer fired): its socket
   * is destroyed (or it leaves the wait queue) and the sink hears nothing more. Idempotent.
   */
  abort(): void {
    if (this.state === A_DONE) return;
    this.state = A_DONE;
    const host = this.host;
    this.host = undefined;
    host?.abortAttempt(this);
  }

  /** Reading from the backend continues after `onData` returned false (the client drained). */
  resume(): void {
    this.host?.resumeAttempt(this);
  }

  get done(): boolean {
    return this.state === A_DONE;
  }
}
