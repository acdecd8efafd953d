import { describe, expect, it } from 'vitest';
import { clientKey, RateLimiter } from '../../../../../balancer/proxy/policy/rate-limiter.js';

function limiter(average: number, burst: number, periodMs = 1000, maxKeys?: number) {
  const clock = { t: 0 };
  const l = new RateLimiter({ average, burst, periodMs }, { now: () => clock.t, maxKeys });
  return { l, clock };
}

describe('RateLimiter (token bucket per key)', () => {
  it('lets a burst through, then refuses with Retry-After in whole seconds', () => {
    const { l } = limiter(1, 3);
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 0]);
    expect(l.take('a')).toBe(1);
  });

  it.each<[string, number, number, number, number]>([
    // [name, average, burst, periodMs, expected Retry-After after the burst]
    ['1 per second', 1, 1, 1000, 1],
    ['1 per minute', 1, 1, 60_000, 60],
    ['1 per 2.5 s rounds up', 2, 1, 5000, 3],
    ['10 per second: a token in 100 ms, still 1 s', 10, 1, 1000, 1],
    ['0.5 per second', 0.5, 1, 1000, 2],
  ])('Retry-After: %s', (_name, average, burst, periodMs, retryAfter) => {
    const { l } = limiter(average, burst, periodMs);
    for (let i = 0; i < burst; i++) expect(l.take('k')).toBe(0);
    expect(l.take('k')).toBe(retryAfter);
  });

  it('refills at average per period, up to burst', () => {
    const { l, clock } = limiter(2, 2); // 1 token per 500 ms
    l.take('a');
    l.take('a');
    expect(l.take('a')).toBe(1);
    clock.t = 499;
    expect(l.take('a')).toBe(1);
    clock.t = 500;
    expect(l.take('a')).toBe(0);
    expect(l.take('a')).toBe(1);
    clock.t = 10_000; // long idle: full again, but never more than burst
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 1]);
  });

  it('a refused request takes nothing: the client gets in as soon as a token is there', () => {
    const { l, clock } = limiter(1, 1);
    l.take('a');
    for (let t = 100; t < 1000; t += 100) {
      clock.t = t;
      expect(l.take('a')).toBe(1);
    }
    clock.t = 1000;
    expect(l.take('a')).toBe(0);
  });

  it('keeps keys apart', () => {
    const { l } = limiter(1, 1);
    expect([l.take('a'), l.take('b'), l.take('a'), l.take('b')]).toEqual([0, 0, 1, 1]);
  });

  it('holds at most maxKeys buckets, dropping the least recently used', () => {
    const { l } = limiter(1, 1, 1000, 3);
    for (const k of ['a', 'b', 'c']) l.take(k);
    l.take('a'); // refused, but now the most recently used
    l.take('d'); // evicts b (the least recently used), not a
    expect(l.size).toBe(3);
    expect(l.take('a')).toBe(1); // still limited: its bucket was kept
    expect(l.take('b')).toBe(0); // forgotten, so a fresh bucket (evicting c)
    for (let i = 0; i < 10_000; i++) l.take(`k${i}`);
    expect(l.size).toBe(3);
  });

  it('drops buckets that have refilled (idle clients cost nothing)', () => {
    const { l, clock } = limiter(1, 5);
    for (let i = 0; i < 100; i++) l.take(`k${i}`);
    expect(l.size).toBe(100);
    clock.t = 500; // half a token back each (4.5 of 5): not full, so kept
    l.take('x');
    expect(l.size).toBe(101);
    clock.t = 2000; // full again: each call drops up to two of them
    for (let i = 0; i < 60; i++) l.take('x');
    expect(l.size).toBeLessThanOrEqual(1);
  });
});

describe('clientKey', () => {
  it.each<[string, string]>([
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['::1', '::/64'],
    ['fe80::1%eth0', 'fe80::/64'],
    ['unknown', 'unknown'],
  ])('%s → %s', (address, key) => {
    expect(clientKey(address)).toBe(key);
  });

  it('puts every address of one /64 in one bucket', () => {
    expect(clientKey('2001:db8:0:1::a')).toBe(clientKey('2001:db8:0:1:ffff:ffff:ffff:ffff'));
    expect(clientKey('2001:db8:0:1::a')).not.toBe(clientKey('2001:db8:0:2::a'));
  });
});
