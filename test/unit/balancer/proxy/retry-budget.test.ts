import { describe, expect, it } from 'vitest';
import { RetryBudget, RetryBudgets } from '../../../../balancer/proxy/retry-budget.js';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

/** Retries granted out of `attempts` tries. */
function grant(b: RetryBudget, attempts: number): number {
  let n = 0;
  for (let i = 0; i < attempts; i++) if (b.tryRetry()) n++;
  return n;
}

describe('RetryBudget', () => {
  it('uses the documented defaults: 20 %, 10 s window, floor of 3/s', () => {
    const c = clock();
    const b = new RetryBudget({ now: c.now });
    expect(b.ratio).toBe(0.2);
    expect(b.windowMs).toBe(10_000);
    expect(b.minRetries).toBe(30);
    // Quiet balancer: no requests at all still allows the floor.
    expect(grant(b, 100)).toBe(30);
  });

  it.each([
    // requests, ratio, floor/s, expected retries granted out of a burst of 1000
    [0, 0.2, 0, 0],
    [10, 0.2, 0, 2],
    [14, 0.2, 0, 2], // 2.8 → 2 whole retries
    [15, 0.2, 0, 3],
    [100, 0.2, 0, 20],
    [100, 0.2, 3, 30], // floor wins at low traffic
    [1000, 0.2, 3, 200], // ratio wins at high traffic
    [1000, 0, 1, 10],
    [50, 1, 0, 50],
  ] as const)('%i requests, ratio %f, floor %i/s → %i retries', (requests, ratio, minRetriesPerSecond, expected) => {
    const c = clock();
    const b = new RetryBudget({ ratio, minRetriesPerSecond, now: c.now });
    for (let i = 0; i < requests; i++) b.recordRequest();
    expect(grant(b, 1000)).toBe(expected);
    expect(b.totals()).toEqual({ requests, retries: expected });
  });

  it('forgets requests and retries that slide out of the window', () => {
    const c = clock();
    const b = new RetryBudget({ ratio: 0.5, minRetriesPerSecond: 0, windowMs: 10_000, buckets: 10, now: c.now });
    for (let i = 0; i < 10; i++) b.recordRequest();
    expect(grant(b, 100)).toBe(5);
    c.advance(5_000);
    expect(grant(b, 100)).toBe(0); // still inside the window
    for (let i = 0; i < 4; i++) b.recordRequest();
    expect(grant(b, 100)).toBe(2); // 14 requests × 0.5 = 7, 5 used
    c.advance(5_500); // the first second's bucket (10 requests, 5 retries) has left the window
    expect(b.totals()).toEqual({ requests: 4, retries: 2 });
    expect(grant(b, 100)).toBe(0); // 4 × 0.5 = 2, 2 used
    c.advance(10_000); // everything has left
    expect(b.totals()).toEqual({ requests: 0, retries: 0 });
    expect(b.allowance()).toBe(0);
  });

  it('a retry storm is bounded: with every request failing, retries stay at ratio × requests + floor', () => {
    const c = clock();
    const b = new RetryBudget({ ratio: 0.2, minRetriesPerSecond: 3, now: c.now });
    let retries = 0;
    let requests = 0;
    // 60 s of 100 requests/s, each wanting 2 retries.
    for (let ms = 0; ms < 60_000; ms += 10) {
      b.recordRequest();
      requests++;
      for (let r = 0; r < 2; r++) if (b.tryRetry()) retries++;
      c.advance(10);
    }
    expect(requests).toBe(6000);
    expect(retries).toBeLessThanOrEqual(0.2 * requests + 30);
    expect(retries).toBeGreaterThanOrEqual(0.2 * requests - 30);
  });

  it('ignores a clock that steps backwards without throwing or granting extra', () => {
    const c = clock();
    const b = new RetryBudget({ ratio: 0.2, minRetriesPerSecond: 0, now: c.now });
    for (let i = 0; i < 10; i++) b.recordRequest();
    expect(grant(b, 10)).toBe(2);
    c.advance(-60_000);
    expect(grant(b, 10)).toBe(0);
  });

  it.each([
    [{ ratio: -0.1 }, 'ratio'],
    [{ ratio: 1.5 }, 'ratio'],
    [{ windowMs: 0 }, 'window'],
    [{ minRetriesPerSecond: -1 }, 'floor'],
    [{ buckets: 0 }, 'buckets'],
    [{ buckets: 2.5 }, 'buckets'],
  ])('rejects %j', (opts, word) => {
    expect(() => new RetryBudget(opts)).toThrow(word);
  });
});

describe('RetryBudgets', () => {
  it('keeps a separate budget per service and forgets the services that left', () => {
    let now = 0;
    const budgets = new RetryBudgets({ ratio: 0, minRetriesPerSecond: 0.1, now: () => now });
    expect(budgets.for('web').tryRetry()).toBe(true);
    expect(budgets.for('web').tryRetry()).toBe(false); // web's single retry per window is spent
    expect(budgets.for('api').tryRetry()).toBe(true); // api still has its own
    expect(budgets.for('web')).toBe(budgets.for('web'));
    expect(budgets.size()).toBe(2);
    budgets.forget(['web']);
    expect(budgets.size()).toBe(1);
    now += 1; // a fresh budget for a service that comes back
    expect(budgets.for('web').tryRetry()).toBe(true);
  });
});
