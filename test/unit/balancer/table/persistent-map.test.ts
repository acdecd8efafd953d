import { describe, expect, it } from 'vitest';
import { diffMaps, PersistentMap, persistent } from '../../../../balancer/table/persistent-map.js';
import { prng } from '../../../helpers/prng.js';

const sorted = <V>(m: ReadonlyMap<string, V>): [string, V][] => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function naiveDiff<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>): [string, V | undefined, V | undefined][] {
  const out: [string, V | undefined, V | undefined][] = [];
  for (const [k, v] of a) if (!b.has(k) || b.get(k) !== v) out.push([k, v, b.get(k)]);
  for (const [k, v] of b) if (!a.has(k)) out.push([k, undefined, v]);
  return out.sort(([x], [y]) => (x < y ? -1 : 1));
}

function diffOf<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>): [string, V | undefined, V | undefined][] {
  const out: [string, V | undefined, V | undefined][] = [];
  diffMaps(a, b, (k, before, after) => out.push([k, before, after]));
  return out.sort(([x], [y]) => (x < y ? -1 : 1));
}

describe('PersistentMap', () => {
  it('starts empty and reads like a Map', () => {
    const m = PersistentMap.from<number>([
      ['a', 1],
      ['b', 2],
    ]);
    expect(PersistentMap.empty().size).toBe(0);
    expect([m.size, m.get('a'), m.get('z'), m.has('b'), m.has('z')]).toEqual([2, 1, undefined, true, false]);
    expect(sorted(m)).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect([...m.keys()].sort()).toEqual(['a', 'b']);
    expect([...m.values()].sort()).toEqual([1, 2]);
    const seen: string[] = [];
    m.forEach((v, k) => seen.push(`${k}=${v}`));
    expect(seen.sort()).toEqual(['a=1', 'b=2']);
    expect(persistent(m)).toBe(m);
    expect(sorted(persistent(new Map([['x', 9]])))).toEqual([['x', 9]]);
  });

  it('an edit leaves the base untouched and returns the base when nothing changed', () => {
    const base = PersistentMap.from<number>(Array.from({ length: 100 }, (_, i) => [`k${i}`, i] as [string, number]));
    const e = base.edit();
    e.set('k1', 100);
    e.delete('k2');
    e.set('new', 5);
    const next = e.done();
    expect([base.get('k1'), base.get('k2'), base.has('new'), base.size]).toEqual([1, 2, false, 100]);
    expect([next.get('k1'), next.has('k2'), next.get('new'), next.size]).toEqual([100, false, 5, 100]);
    const noop = next.edit();
    noop.set('k1', 100); // same value
    noop.delete('absent');
    expect(noop.done()).toBe(next);
    // An editor keeps working after done(), without touching what it published.
    e.set('k3', -1);
    expect(next.get('k3')).toBe(3);
    expect(e.done().get('k3')).toBe(-1);
  });

  it.each([1, 2, 3, 4, 5])('matches a Map and a naive diff over random edits (seed %i)', (seed) => {
    const random = prng(seed);
    // A small key space forces re-puts, deletes and bucket splits/collapses; 40 rounds of batches.
    const keySpace = 50 + Math.floor(random() * 3000);
    let model = new Map<string, number>();
    let map = PersistentMap.empty<number>();
    for (let round = 0; round < 40; round++) {
      const prevModel = new Map(model);
      const prevMap = map;
      const e = map.edit();
      const ops = 1 + Math.floor(random() * (round === 0 ? 2000 : 60));
      for (let i = 0; i < ops; i++) {
        const key = `/services/s${Math.floor(random() * keySpace)}/i`;
        if (random() < 0.3) {
          e.delete(key);
          model.delete(key);
        } else {
          const v = Math.floor(random() * 5);
          e.set(key, v);
          model.set(key, v);
        }
        expect(e.get(key)).toBe(model.get(key));
      }
      map = e.done();
      expect(map.size).toBe(model.size);
      expect(sorted(map)).toEqual(sorted(model));
      expect(sorted(prevMap)).toEqual(sorted(prevModel)); // the previous version is intact
      expect(diffOf(prevMap, map)).toEqual(naiveDiff(prevModel, model));
      expect(diffOf(map, prevModel)).toEqual(naiveDiff(model, prevModel)); // against a plain Map
      model = new Map(model);
    }
  });
});
