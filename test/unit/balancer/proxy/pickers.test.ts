import { describe, expect, it } from 'vitest';
import { createPicker, powerOfTwoPick } from '../../../../balancer/proxy/pickers.js';
import { backendFromEntry } from '../../../../balancer/table/route-table.js';
import type { Backend, LbPolicy, Picker, ServiceView } from '../../../../balancer/types.js';

interface Spec {
  readonly weight?: number;
  readonly draining?: boolean;
}

/** `view('web', {a: 5, b: {weight: 1, draining: true}})`; instance names are the ids' suffixes. */
function view(name: string, specs: Record<string, number | Spec>): ServiceView {
  const backends = Object.entries(specs).map(([instance, s]) => {
    const { weight = 1, draining = false } = typeof s === 'number' ? { weight: s } : s;
    return backendFromEntry(name, instance, { host: '10.0.0.1', port: 80, weight, tags: [], draining });
  });
  return { name, backends: backends.sort((a, b) => (a.id < b.id ? -1 : 1)) };
}

interface Harness {
  readonly picker: Picker;
  readonly ejected: Set<string>;
  readonly inflight: Map<string, number>;
  /** Services of the picks made in panic mode, in order. */
  readonly failOpen: string[];
}

function harness(random?: () => number): Harness {
  const ejected = new Set<string>();
  const inflight = new Map<string, number>();
  const failOpen: string[] = [];
  const picker = createPicker({
    ...(random ? { random } : {}),
    isEjected: (id) => ejected.has(id),
    inflight: (id) => inflight.get(id) ?? 0,
    onFailOpen: (service) => failOpen.push(service),
  });
  return { picker, ejected, inflight, failOpen };
}

/** Marks backends of `v` unhealthy, as the health state does on the live table's objects. */
function markUnhealthy(v: ServiceView, ...instances: string[]): void {
  for (const b of v.backends) if (instances.includes(b.instance)) b.health.unhealthy = true;
}

/** Instance names of `n` successive picks. */
function picks(
  p: Picker,
  v: ServiceView,
  n: number,
  policy: LbPolicy = 'round-robin',
  exclude: ReadonlySet<string> = new Set(),
): (string | undefined)[] {
  return Array.from({ length: n }, () => p.pick(v, policy, exclude)?.instance);
}

/** A random source replaying `values` in a loop. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}

const POLICIES: LbPolicy[] = ['round-robin', 'least-request'];

describe('smooth weighted round-robin', () => {
  it.each<[string, Record<string, number>, number, string]>([
    ['nginx order for {a:5,b:1,c:1}', { a: 5, b: 1, c: 1 }, 7, 'a a b a c a a'],
    ['the cycle repeats', { a: 5, b: 1, c: 1 }, 14, 'a a b a c a a a a b a c a a'],
    ['equal weights rotate in id order', { a: 1, b: 1, c: 1 }, 6, 'a b c a b c'],
    ['interleaved, not bursts', { a: 2, b: 1 }, 6, 'a b a a b a'],
    ['single backend', { a: 3 }, 3, 'a a a'],
  ])('%s', (_name, weights, n, expected) => {
    expect(picks(harness().picker, view('web', weights), n).join(' ')).toBe(expected);
  });

  it.each<[Record<string, number>, number]>([
    [{ a: 3, b: 2, c: 1 }, 600],
    [{ a: 100, b: 1 }, 1010],
    [{ a: 7, b: 13, c: 5, d: 1 }, 2600],
  ])('picks in proportion to weight: %j', (weights, n) => {
    const counts: Record<string, number> = {};
    for (const name of picks(harness().picker, view('web', weights), n))
      counts[name ?? '-'] = (counts[name ?? '-'] ?? 0) + 1;
    const total = Object.values(weights).reduce((s, w) => s + w, 0);
    // n is a whole number of cycles, so the counts are exact.
    expect(counts).toEqual(Object.fromEntries(Object.entries(weights).map(([k, w]) => [k, (n * w) / total])));
  });

  it('keeps its rotation across a table swap (new view and backend objects)', () => {
    const { picker } = harness();
    const weights = { a: 5, b: 1, c: 1 };
    const before = picks(picker, view('web', weights), 3);
    const after = picks(picker, view('web', weights), 4);
    expect([...before, ...after].join(' ')).toBe('a a b a c a a');
  });

  it('keeps a separate rotation per service', () => {
    const { picker } = harness();
    const web = view('web', { a: 1, b: 1 });
    const api = view('api', { a: 1, b: 1 });
    expect([picker.pick(web, 'round-robin', new Set())?.id, picker.pick(api, 'round-robin', new Set())?.id]).toEqual([
      'web/a',
      'api/a',
    ]);
  });

  it('forgets a backend that left: when it returns it starts from zero', () => {
    const { picker } = harness();
    expect(picks(picker, view('web', { a: 1, b: 1, c: 1 }), 1)).toEqual(['a']); // a = -2, b = 1, c = 1
    expect(picks(picker, view('web', { b: 1, c: 1 }), 1)).toEqual(['b']); //       b = 0, c = 2; a forgotten
    // Remembering a = -2 would give c b; starting a from 0 gives c a.
    expect(picks(picker, view('web', { a: 1, b: 1, c: 1 }), 2)).toEqual(['c', 'a']);
  });
});

describe('eligibility (both policies)', () => {
  const mixed = { a: 1, zero: 0, drain: { weight: 5, draining: true }, b: 1 };

  it.each(POLICIES)('%s never picks weight-0 or draining backends', (policy) => {
    const { picker } = harness(sequence(0, 0.3, 0.6, 0.9));
    expect(new Set(picks(picker, view('web', mixed), 50, policy))).toEqual(new Set(['a', 'b']));
  });

  it.each(POLICIES)('%s skips ejected backends', (policy) => {
    const h = harness(sequence(0, 0.3, 0.6, 0.9));
    h.ejected.add('web/a');
    expect(new Set(picks(h.picker, view('web', { a: 1, b: 1, c: 1 }), 30, policy))).toEqual(new Set(['b', 'c']));
  });

  it.each(POLICIES)('%s falls back to ejected backends when all usable ones are ejected (panic mode)', (policy) => {
    const h = harness(sequence(0, 0.5, 0.99));
    for (const id of ['web/a', 'web/b']) h.ejected.add(id);
    const v = view('web', { ...mixed, c: 1 });
    h.ejected.add('web/c');
    // draining, weight 0 and excluded stay out even in panic mode
    expect(new Set(picks(h.picker, v, 30, policy, new Set(['web/c'])))).toEqual(new Set(['a', 'b']));
    expect(h.failOpen).toEqual(Array.from({ length: 30 }, () => 'web'));
  });

  it.each(POLICIES)('%s skips unhealthy backends, without counting a fail-open', (policy) => {
    const h = harness(sequence(0, 0.3, 0.6, 0.9));
    const v = view('web', { a: 1, b: 1, c: 1 });
    markUnhealthy(v, 'b');
    expect(new Set(picks(h.picker, v, 30, policy))).toEqual(new Set(['a', 'c']));
    expect(h.failOpen).toEqual([]);
  });

  it.each(POLICIES)('%s fails open, counted per pick, when every usable backend is unhealthy or ejected', (policy) => {
    const h = harness(sequence(0, 0.5, 0.99));
    const v = view('web', { a: 1, b: 1, drain: { weight: 1, draining: true } });
    markUnhealthy(v, 'a');
    h.ejected.add('web/b');
    expect(new Set(picks(h.picker, v, 20, policy))).toEqual(new Set(['a', 'b']));
    expect(h.failOpen).toHaveLength(20);
    // One healthy backend is enough to leave panic mode.
    h.ejected.delete('web/b');
    expect(new Set(picks(h.picker, v, 10, policy))).toEqual(new Set(['b']));
    expect(h.failOpen).toHaveLength(20);
  });

  it.each(POLICIES)('%s: a retry past the healthy backends gets none of the unhealthy ones, uncounted', (policy) => {
    const h = harness(sequence(0, 0.5, 0.99));
    const v = view('web', { a: 1, b: 1, c: 1 });
    markUnhealthy(v, 'a');
    h.ejected.add('web/b');
    // c is healthy and was tried: the service is not in panic, so a and b stay out.
    expect(h.picker.pick(v, policy, new Set(['web/c']))).toBeUndefined();
    expect(h.failOpen).toEqual([]);
    // Once c is ejected too, every backend is: the retry fails open to one not tried yet, counted.
    h.ejected.add('web/c');
    expect(new Set(picks(h.picker, v, 20, policy, new Set(['web/c'])))).toEqual(new Set(['a', 'b']));
    expect(h.failOpen).toHaveLength(20);
  });

  it.each(POLICIES)('%s respects exclude, and returns undefined when nothing is left', (policy) => {
    const { picker } = harness(sequence(0, 0.5, 0.99));
    const v = view('web', { a: 1, b: 1, c: 1 });
    expect(new Set(picks(picker, v, 20, policy, new Set(['web/a', 'web/c'])))).toEqual(new Set(['b']));
    expect(picker.pick(v, policy, new Set(['web/a', 'web/b', 'web/c']))).toBeUndefined();
  });

  it.each(POLICIES)('%s returns undefined for an empty or all-draining service', (policy) => {
    const { picker } = harness();
    expect(picker.pick(view('web', {}), policy, new Set())).toBeUndefined();
    expect(picker.pick(view('web', { a: { draining: true }, b: 0 }), policy, new Set())).toBeUndefined();
  });
});

describe('sticky preference', () => {
  it.each<[string, string, (h: Harness, v: ServiceView) => void, ReadonlySet<string>, string]>([
    ['an eligible preferred backend wins', 'web/c', () => {}, new Set(), 'c'],
    ['unknown id: normal pick', 'web/zz', () => {}, new Set(), 'a'],
    ['draining preferred: normal pick', 'web/d', () => {}, new Set(), 'a'],
    ['ejected preferred: normal pick', 'web/c', (h) => h.ejected.add('web/c'), new Set(), 'a'],
    ['unhealthy preferred: normal pick', 'web/c', (_h, v) => markUnhealthy(v, 'c'), new Set(), 'a'],
    ['excluded preferred (a retry): normal pick', 'web/c', () => {}, new Set(['web/c']), 'a'],
    [
      'in panic mode the preferred ejected backend wins',
      'web/c',
      (h) => ['web/a', 'web/b', 'web/c'].forEach((id) => h.ejected.add(id)),
      new Set(),
      'c',
    ],
  ])('%s', (_name, preferred, setup, exclude, expected) => {
    const h = harness();
    const v = view('web', { a: 3, b: 1, c: 1, d: { draining: true } });
    setup(h, v);
    expect(h.picker.pick(v, 'round-robin', exclude, preferred)?.instance).toBe(expected);
  });

  it('a sticky pick does not advance the rotation', () => {
    const { picker } = harness();
    const v = view('web', { a: 5, b: 1, c: 1 });
    const seq = [
      picker.pick(v, 'round-robin', new Set())?.instance,
      picker.pick(v, 'round-robin', new Set(), 'web/c')?.instance,
      ...picks(picker, v, 6),
    ];
    expect(seq.join(' ')).toBe('a c a b a c a a');
  });
});

describe('least-request (power of two choices)', () => {
  const abc = view('web', { a: 1, b: 1, c: 1 });

  it.each<[string, number[], Record<string, number>, string]>([
    // randoms → i = floor(r0 * 3), j = floor(r1 * 2) skipping i
    ['draws a and b, b has fewer in flight', [0, 0], { 'web/a': 3, 'web/b': 1 }, 'b'],
    ['draws a and c (j skips i)', [0, 0.5], { 'web/a': 3, 'web/b': 0, 'web/c': 2 }, 'c'],
    ['draws c and b', [0.99, 0.5], { 'web/a': 0, 'web/b': 4, 'web/c': 5 }, 'b'],
    ['tie: the first drawn', [0.5, 0.9], { 'web/b': 2, 'web/c': 2 }, 'b'],
    ['the least loaded of all is not considered if not drawn', [0, 0], { 'web/a': 2, 'web/b': 2, 'web/c': 0 }, 'a'],
    ['a random() of 1 is clamped', [1, 1], { 'web/b': 1, 'web/c': 0 }, 'c'],
  ])('%s', (_name, randoms, inflight, expected) => {
    const h = harness(sequence(...randoms));
    for (const [id, n] of Object.entries(inflight)) h.inflight.set(id, n);
    expect(h.picker.pick(abc, 'least-request', new Set())?.instance).toBe(expected);
  });

  it.each<[string, Record<string, number>, Record<string, number>, string]>([
    ['idle: the heavier backend', { a: 1, b: 4 }, {}, 'b'],
    ['(inflight + 1) / weight: 3/4 beats 1/1', { a: 1, b: 4 }, { 'web/b': 2 }, 'b'],
    ['(inflight + 1) / weight: 1/1 beats 5/4', { a: 1, b: 4 }, { 'web/b': 4 }, 'a'],
  ])('weights: %s', (_name, weights, inflight, expected) => {
    const h = harness(sequence(0, 0));
    for (const [id, n] of Object.entries(inflight)) h.inflight.set(id, n);
    expect(h.picker.pick(view('web', weights), 'least-request', new Set())?.instance).toBe(expected);
  });

  it('does not call random for a single candidate', () => {
    const random = (): number => {
      throw new Error('random called');
    };
    const only: Backend[] = [...view('web', { a: 1 }).backends];
    expect(powerOfTwoPick(only, random, () => 0)?.instance).toBe('a');
    expect(powerOfTwoPick([], random, () => 0)).toBeUndefined();
  });

  it('always draws two distinct backends', () => {
    const seen: string[][] = [];
    const inflight = (id: string): number => {
      seen.at(-1)?.push(id);
      return 0;
    };
    for (const r0 of [0, 0.34, 0.67, 0.99]) {
      for (const r1 of [0, 0.49, 0.5, 0.99]) {
        seen.push([]);
        powerOfTwoPick(abc.backends, sequence(r0, r1), inflight);
        const [x, y] = seen.at(-1) ?? [];
        expect(x).not.toBe(y);
      }
    }
  });

  it('uses Math.random by default', () => {
    const { picker } = harness();
    expect(['a', 'b', 'c']).toContain(picker.pick(abc, 'least-request', new Set())?.instance);
  });
});
