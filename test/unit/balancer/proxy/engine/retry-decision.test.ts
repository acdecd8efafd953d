// The retry rule as a table: every failure kind against method, Idempotency-Key, body bytes sent and
// whether the client response had started.
import { describe, expect, it } from 'vitest';
import {
  countsAgainstBackend,
  failureStatus,
  retryDecision,
  type RetryFacts,
} from '../../../../../balancer/proxy/engine/retry-decision.js';
import type { FailureKind } from '../../../../../balancer/proxy/engine/upstream-error.js';

type Row = [FailureKind, string, boolean, number, boolean, boolean];
// kind, method, Idempotency-Key, body bytes sent, client response started → retry?
const TABLE: Row[] = [
  // Never reached the backend: any method.
  ['connect', 'POST', false, 0, false, true],
  ['connect', 'PATCH', false, 0, false, true],
  ['connect', 'GET', false, 0, false, true],
  ['pool-full', 'POST', false, 0, false, true],
  // The keep-alive race: any method without body bytes; none with.
  ['idle-race', 'POST', false, 0, false, true],
  ['idle-race', 'GET', false, 0, false, true],
  ['idle-race', 'POST', false, 10, false, false],
  ['idle-race', 'PUT', false, 10, false, false],
  // A fresh socket that reset: only idempotent requests, and only without body bytes.
  ['reset', 'POST', false, 0, false, false],
  ['reset', 'PATCH', false, 0, false, false],
  ['reset', 'GET', false, 0, false, true],
  ['reset', 'HEAD', false, 0, false, true],
  ['reset', 'OPTIONS', false, 0, false, true],
  ['reset', 'TRACE', false, 0, false, true],
  ['reset', 'PUT', false, 0, false, true],
  ['reset', 'DELETE', false, 0, false, true],
  ['reset', 'POST', true, 0, false, true],
  ['reset', 'PUT', false, 5, false, false],
  ['reset', 'POST', true, 5, false, false],
  ['reset', 'get', false, 0, false, false],
  // Framing violations and stalls: like reset.
  ['protocol', 'GET', false, 0, false, true],
  ['protocol', 'POST', false, 0, false, false],
  ['timeout', 'GET', false, 0, false, true],
  ['timeout', 'POST', false, 0, false, false],
  // Once the client saw a status line, nothing is retried.
  ['connect', 'GET', false, 0, true, false],
  ['idle-race', 'GET', false, 0, true, false],
  ['reset', 'GET', false, 0, true, false],
  ['protocol', 'GET', false, 0, true, false],
  // The client's own body failed: never.
  ['client', 'GET', false, 0, false, false],
  ['client', 'PUT', true, 3, false, false],
];

describe('retryDecision', () => {
  it.each(TABLE)('%s %s key=%s body=%d started=%s → %s', (kind, method, key, body, started, expected) => {
    const facts: RetryFacts = {
      kind,
      method,
      idempotencyKey: key,
      bodyBytesSent: body,
      clientResponseStarted: started,
    };
    expect(retryDecision(facts)).toBe(expected);
  });

  it.each([
    ['connect', 502, true],
    ['idle-race', 502, false],
    ['reset', 502, true],
    ['timeout', 504, false],
    ['protocol', 502, true],
    ['pool-full', 503, false],
    ['client', 502, false],
  ] as const)('%s answers %d; counts against the backend: %s', (kind, status, counts) => {
    expect(failureStatus(kind)).toBe(status);
    expect(countsAgainstBackend(kind)).toBe(counts);
  });
});
