import { describe, expect, it } from 'vitest';
import { serviceOfBackendId, ServiceSplit } from '../../../../../balancer/proxy/policy/service-split.js';

const split = (weights: Record<string, number>) =>
  new ServiceSplit(Object.entries(weights).map(([name, weight]) => ({ name, weight })));

function run(s: ServiceSplit, n: number, preferred?: string, unavailable = 0): string[] {
  return Array.from({ length: n }, () => s.pick(preferred, unavailable));
}

describe('ServiceSplit (smooth weighted round-robin)', () => {
  it('interleaves like nginx: {a:5,b:1,c:1} → a a b a c a a', () => {
    expect(run(split({ a: 5, b: 1, c: 1 }), 7).join(' ')).toBe('a a b a c a a');
  });

  it.each<[Record<string, number>, number]>([
    [{ web: 90, canary: 10 }, 100],
    [{ a: 1, b: 1 }, 10],
    [{ a: 3, b: 2, c: 0 }, 50],
    [{ a: 7 }, 7],
  ])('is exact over each cycle: %j', (weights, n) => {
    const picks = run(split(weights), n);
    const total = Object.values(weights).reduce((x, y) => x + y, 0);
    for (const [name, w] of Object.entries(weights))
      expect([name, picks.filter((p) => p === name).length]).toEqual([name, (w * n) / total]);
  });

  it('spreads the small share out instead of sending it in a burst', () => {
    const picks = run(split({ web: 90, canary: 10 }), 100);
    const at = picks.flatMap((p, i) => (p === 'canary' ? [i] : []));
    const gaps = at.slice(1).map((x, i) => x - at[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(9);
  });

  it('is deterministic: two splits with the same weights pick the same sequence', () => {
    expect(run(split({ a: 2, b: 3, c: 5 }), 40)).toEqual(run(split({ a: 2, b: 3, c: 5 }), 40));
  });

  it('keeps a sticky client on its service while that service has weight', () => {
    const s = split({ web: 1, canary: 1 });
    expect(run(s, 5, 'canary')).toEqual(Array(5).fill('canary'));
    expect(run(s, 2, 'unknown')).toEqual(['web', 'canary']); // not in the split: a normal pick
    const rolledBack = split({ web: 1, canary: 0 });
    expect(rolledBack.pick('canary')).toBe('web'); // weight 0 moves sticky clients too
  });

  it('skips services marked unavailable, and fails open when all are', () => {
    const s = split({ a: 1, b: 1, c: 1 });
    const noB = s.bit('b');
    expect(run(s, 6, undefined, noB)).not.toContain('b');
    expect(s.pick('b', noB)).not.toBe('b');
    const all = s.bit('a') | s.bit('b') | s.bit('c');
    expect(['a', 'b', 'c']).toContain(s.pick(undefined, all));
    expect(s.bit('nope')).toBe(0);
  });

  it('keeps separate state per instance (per route)', () => {
    const one = split({ a: 1, b: 1 });
    const two = split({ a: 1, b: 1 });
    one.pick();
    expect(two.pick()).toBe('a');
    expect(one.pick()).toBe('b');
  });
});

describe('serviceOfBackendId', () => {
  it.each<[string | undefined, string | undefined]>([
    ['web-canary/node1:c:80', 'web-canary'],
    ['web/a/b', 'web'],
    ['noslash', undefined],
    ['/x', undefined],
    [undefined, undefined],
  ])('%s → %s', (id, service) => {
    expect(serviceOfBackendId(id)).toBe(service);
  });
});
