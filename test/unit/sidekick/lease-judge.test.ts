// Telling a live twin's lease from a dead predecessor's by two TTL readings a keepalive apart.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaseJudge, firstLook, recheckDelayMs, secondLook, type LeaseReading } from '../../../sidekick/lease-judge.js';

describe('firstLook', () => {
  it.each<[LeaseReading, string]>([
    [{ ttl: -1, granted: 0 }, 'gone'],
    [{ ttl: 0, granted: 10 }, 'dead'],
    [{ ttl: 10, granted: 10 }, 'pending'],
    // A live holder renews every 10/3 s: dead only with less than a third left (two periods missed).
    [{ ttl: 5, granted: 10 }, 'pending'],
    [{ ttl: 4, granted: 10 }, 'pending'],
    [{ ttl: 3, granted: 10 }, 'dead'],
    [{ ttl: 1, granted: 10 }, 'dead'],
    [{ ttl: 2, granted: 3 }, 'pending'],
    [{ ttl: 1, granted: 3 }, 'pending'],
    [{ ttl: 10, granted: 30 }, 'pending'],
    [{ ttl: 9, granted: 30 }, 'dead'],
  ])('%j → %s', (r, expected) => {
    expect(firstLook(r)).toBe(expected);
  });
});

describe('secondLook', () => {
  it.each<[string, LeaseReading, LeaseReading, number, string]>([
    ['renewed in between', { ttl: 9, granted: 10 }, { ttl: 9, granted: 10 }, 7, 'live'],
    ['renewed, read just before the next keepalive', { ttl: 10, granted: 10 }, { ttl: 6, granted: 10 }, 7, 'live'],
    ['renewed, keepalive 1.5 s late', { ttl: 10, granted: 10 }, { ttl: 5, granted: 10 }, 7, 'live'],
    ['counting down: dead', { ttl: 9, granted: 10 }, { ttl: 2, granted: 10 }, 7, 'dead'],
    ['counted down further than the wait', { ttl: 9, granted: 10 }, { ttl: 1, granted: 10 }, 7, 'dead'],
    ['expired in between', { ttl: 3, granted: 3 }, { ttl: -1, granted: 0 }, 3, 'gone'],
    ['overdue, not revoked yet (reads 0)', { ttl: 2, granted: 3 }, { ttl: 0, granted: 3 }, 4, 'dead'],
    ['short TTL, renewed', { ttl: 2, granted: 3 }, { ttl: 2, granted: 3 }, 4, 'live'],
  ])('%s', (_label, a, b, elapsed, expected) => {
    expect(secondLook(a, b, elapsed)).toBe(expected);
  });

  it('a lease nobody renews is always judged dead, at any TTL and read phase', () => {
    for (const granted of [2, 3, 5, 10, 30, 60])
      for (let phase = 0; phase < 1; phase += 0.1) {
        const remaining1 = granted - phase; // true remaining seconds at the first read
        const wait = recheckDelayMs(granted) / 1000;
        const first = { ttl: Math.floor(remaining1), granted };
        // etcd truncates toward zero, so an overdue lease reads 0 until it is revoked
        const left = remaining1 - wait - 0.05;
        const second = { ttl: left < -1 ? -1 : Math.trunc(left), granted };
        expect(secondLook(first, second, Math.floor(wait))).not.toBe('live');
      }
  });

  it('a lease renewed every TTL/3 (keepalive up to 1.9 s late, a second left) is always judged live', () => {
    for (const granted of [2, 3, 5, 10, 30, 60])
      for (let since = 0; since <= Math.min(granted / 3 + 1.9, granted - 1); since += 0.1) {
        const wait = recheckDelayMs(granted) / 1000;
        const first = { ttl: granted, granted }; // just renewed: the best case for looking dead
        const second = { ttl: Math.floor(granted - since), granted }; // renewed `since` s before reading
        expect(secondLook(first, second, Math.floor(wait))).toBe('live');
      }
  });
});

describe('LeaseJudge', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads once on first sight, shares concurrent reads, and settles after the second reading', async () => {
    vi.useFakeTimers();
    let clock = 0;
    const readings: LeaseReading[] = [
      { ttl: 10, granted: 10 },
      { ttl: 9, granted: 10 },
    ];
    const read = vi.fn(async () => readings.shift() ?? { ttl: 10, granted: 10 });
    const settled = vi.fn();
    const judge = new LeaseJudge({ read, settled, now: () => clock });
    expect(await Promise.all([judge.judge('L'), judge.judge('L')])).toEqual(['pending', 'pending']);
    expect(read).toHaveBeenCalledTimes(1);
    clock += recheckDelayMs(10);
    await vi.advanceTimersByTimeAsync(recheckDelayMs(10));
    expect(settled).toHaveBeenCalledWith('L', 'live');
    expect(await judge.judge('L')).toBe('live');
    expect(read).toHaveBeenCalledTimes(2);
    judge.stop();
  });

  it('judges a lease that only counts down as dead, and a vanished live one too', async () => {
    vi.useFakeTimers();
    let clock = 0;
    const readings: LeaseReading[] = [
      { ttl: 9, granted: 10 },
      { ttl: 2, granted: 10 }, // 7 s later: counted down by 7
      { ttl: 10, granted: 10 },
      { ttl: 10, granted: 10 },
      { ttl: -1, granted: 0 },
    ];
    const settled = vi.fn();
    const judge = new LeaseJudge({
      read: async () => readings.shift() ?? { ttl: -1, granted: 0 },
      settled,
      now: () => clock,
    });
    expect(await judge.judge('dead')).toBe('pending');
    clock += recheckDelayMs(10);
    await vi.advanceTimersByTimeAsync(recheckDelayMs(10));
    expect(settled).toHaveBeenLastCalledWith('dead', 'dead');
    expect(await judge.judge('dead')).toBe('dead');

    expect(await judge.judge('twin')).toBe('pending');
    clock += recheckDelayMs(10);
    await vi.advanceTimersByTimeAsync(recheckDelayMs(10));
    expect(settled).toHaveBeenLastCalledWith('twin', 'live');
    await vi.advanceTimersByTimeAsync(11_000); // the live lease is re-read about once per TTL: now gone
    expect(settled).toHaveBeenLastCalledWith('twin', 'dead');
    expect(await judge.judge('twin')).toBe('dead');
    judge.stop();
  });

  it('a dead verdict lasts only as long as the lease could exist: a wrong verdict heals', async () => {
    let clock = 0;
    const readings: LeaseReading[] = [
      { ttl: 2, granted: 10 }, // a holder whose keepalives stalled: looks dead
      { ttl: 10, granted: 10 }, // …but it is still there after its lease would have run out
    ];
    const read = vi.fn(async () => readings.shift() ?? { ttl: 10, granted: 10 });
    const judge = new LeaseJudge({ read, settled: () => undefined, now: () => clock });
    expect(await judge.judge('x')).toBe('dead');
    clock += 2_900;
    expect(await judge.judge('x')).toBe('dead');
    expect(read).toHaveBeenCalledTimes(1);
    clock += 200;
    expect(await judge.judge('x')).toBe('pending');
    expect(read).toHaveBeenCalledTimes(2);
    judge.stop();
  });

  it('a lease already expired or clearly unrenewed is dead at first sight; retain forgets the rest', async () => {
    const readings: LeaseReading[] = [
      { ttl: -1, granted: 0 },
      { ttl: 2, granted: 10 },
      { ttl: 10, granted: 10 },
      { ttl: 10, granted: 10 },
    ];
    const read = vi.fn(async () => readings.shift() ?? { ttl: 10, granted: 10 });
    const judge = new LeaseJudge({ read, settled: () => undefined });
    expect(await judge.judge('a')).toBe('dead');
    expect(await judge.judge('b')).toBe('dead');
    expect(await judge.judge('c')).toBe('pending');
    judge.retain(new Set(['a']));
    expect(await judge.judge('a')).toBe('dead');
    expect(await judge.judge('c')).toBe('pending'); // read again: it was forgotten
    expect(read).toHaveBeenCalledTimes(4);
    judge.stop();
  });
});
