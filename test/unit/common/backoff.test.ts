import { describe, expect, it } from 'vitest';
import { Backoff, retryForever, sleep } from '../../../common/backoff.js';

describe('Backoff', () => {
  it.each([
    ['lowest jitter (random 0) is half the cap', 0, [50, 100, 200, 400, 500, 500]],
    ['highest jitter (random 1) is the cap', 1, [100, 200, 400, 800, 1000, 1000]],
    ['middle jitter', 0.5, [75, 150, 300, 600, 750, 750]],
  ])('%s', (_label, r, delays) => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => r });
    expect(delays.map(() => b.next())).toEqual(delays);
  });

  it('reset() starts again from the initial delay', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 1 });
    b.next();
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('stays capped after very many failures (no overflow to Infinity/NaN)', () => {
    const b = new Backoff({ initialMs: 250, maxMs: 5000, random: () => 1 });
    let last = 0;
    for (let i = 0; i < 2000; i++) last = b.next();
    expect(last).toBe(5000);
  });

  it('with Math.random every delay lies in [cap/2, cap]', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 80 });
    const caps = [10, 20, 40, 80, 80, 80, 80, 80];
    for (const cap of caps) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(cap / 2);
      expect(d).toBeLessThanOrEqual(cap);
    }
  });
});

describe('sleep', () => {
  it('waits about the given time', async () => {
    const t0 = performance.now();
    await sleep(30);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
  });

  it('resolves early when the signal aborts', async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    const p = sleep(10_000, ac.signal);
    setTimeout(() => ac.abort(), 10);
    await p;
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('resolves at once for an already aborted signal', async () => {
    const t0 = performance.now();
    await sleep(10_000, AbortSignal.abort());
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('retryForever', () => {
  it('returns the first success, reporting each failure with its attempt and delay', async () => {
    const ac = new AbortController();
    const seen: Array<[string, number, number]> = [];
    let calls = 0;
    const result = await retryForever(
      async () => {
        calls++;
        if (calls < 4) throw new Error(`fail ${calls}`);
        return 'ok';
      },
      {
        initialMs: 1,
        maxMs: 4,
        random: () => 1,
        signal: ac.signal,
        onError: (err, attempt, delay) => seen.push([(err as Error).message, attempt, delay]),
      },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(4);
    expect(seen).toEqual([
      ['fail 1', 1, 1],
      ['fail 2', 2, 2],
      ['fail 3', 3, 4],
    ]);
  });

  it('returns undefined without calling fn when already aborted', async () => {
    let calls = 0;
    const r = await retryForever(async () => ++calls, {
      initialMs: 1,
      maxMs: 1,
      signal: AbortSignal.abort(),
      onError: () => {},
    });
    expect(r).toBeUndefined();
    expect(calls).toBe(0);
  });

  it('returns undefined (never throws) when aborted while failing', async () => {
    const ac = new AbortController();
    let errors = 0;
    const p = retryForever(
      async () => {
        throw new Error('down');
      },
      {
        initialMs: 5,
        maxMs: 5,
        signal: ac.signal,
        onError: () => {
          errors++;
          if (errors === 3) ac.abort();
        },
      },
    );
    await expect(p).resolves.toBeUndefined();
    expect(errors).toBe(3);
  });

  it('does not report the failure that happens after the abort', async () => {
    const ac = new AbortController();
    let errors = 0;
    const r = await retryForever(
      async () => {
        ac.abort();
        throw new Error('aborted mid-call');
      },
      { initialMs: 1, maxMs: 1, signal: ac.signal, onError: () => errors++ },
    );
    expect(r).toBeUndefined();
    expect(errors).toBe(0);
  });
});
