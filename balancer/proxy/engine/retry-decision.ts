// When a failed attempt may be repeated on another backend, pure. The caller (the HTTP exchange)
// applies it, then its own limits: the retry count, the retry budget, and a backend not tried yet.
//
// The rule, first match wins:
// 1. Something already reached the client (the status line went out): never; break the response.
// 2. `client`: the client's own body failed: never.
// 3. Request body bytes were taken from the client's stream: never. Bodies are streamed, not
//    buffered, so there is nothing left to send again.
// 4. `connect` or `pool-full`: the request never reached that backend: retry.
// 5. `idle-race` (a reused socket that closed before any response byte, with no body byte sent):
//    retry; this is the keep-alive close race, and the idle timeout below the backends' keep-alive
//    makes it rare. Unlike Go's Transport, which repeats such a request only when it is idempotent,
//    a bodiless POST is repeated here too: a backend that read it and then closed without a byte
//    of answer on a socket it had kept alive is indistinguishable from the race.
// 6. The method is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE; RFC 9110 §9.2.2) or the
//    request carries `Idempotency-Key`: retry.
// 7. Otherwise never: a POST/PATCH written to a fresh socket that then reset may have been acted on.
import type { FailureKind } from './upstream-error.js';

export interface RetryFacts {
  readonly kind: FailureKind;
  readonly method: string;
  /** The request carries an `Idempotency-Key` header. */
  readonly idempotencyKey: boolean;
  /** Bytes of the client's body the failed attempt took (UpstreamError.bodyBytesSent). */
  readonly bodyBytesSent: number;
  /** The client response's status line was sent (`res.headersSent`). */
  readonly clientResponseStarted: boolean;
}

const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string, idempotencyKey: boolean): boolean {
  return idempotencyKey || IDEMPOTENT.has(method);
}

/** Whether the failed attempt may be repeated on another backend (see the rule above). */
export function retryDecision(f: RetryFacts): boolean {
  if (f.clientResponseStarted || f.kind === 'client' || f.bodyBytesSent > 0) return false;
  if (f.kind === 'connect' || f.kind === 'pool-full' || f.kind === 'idle-race') return true;
  return isIdempotent(f.method, f.idempotencyKey);
}

/** The status to answer when the attempt is not retried and nothing reached the client yet. */
export function failureStatus(kind: FailureKind): 502 | 503 | 504 {
  if (kind === 'pool-full') return 503; // with Retry-After
  if (kind === 'timeout') return 504;
  return 502;
}

/**
 * Whether the failure says the backend is unhealthy (passive ejection). Not the keep-alive race, a
 * full pool, a slow body or the client's own failure.
 */
export function countsAgainstBackend(kind: FailureKind): boolean {
  return kind === 'connect' || kind === 'reset' || kind === 'protocol';
}
