import { describe, expect, it } from 'vitest';
import { diffEntries, isEmptyDiff, type PublishedValue } from '../../../sidekick/diff.js';

const desired = (o: Record<string, string>) => new Map(Object.entries(o));
const published = (o: Record<string, string | PublishedValue>) =>
  new Map(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? { value: v } : v] as const));

describe('diffEntries', () => {
  it.each([
    ['both empty', {}, {}, undefined, [], []],
    ['in sync', { '/s/a/1': 'A' }, { '/s/a/1': 'A' }, undefined, [], []],
    ['missing → put', { '/s/a/1': 'A' }, {}, undefined, [['/s/a/1', 'A']], []],
    ['changed → put the new value', { '/s/a/1': 'B' }, { '/s/a/1': 'A' }, undefined, [['/s/a/1', 'B']], []],
    ['no longer desired → delete', {}, { '/s/a/1': 'A' }, undefined, [], ['/s/a/1']],
    ['same value on our lease → nothing', { '/s/a/1': 'A' }, { '/s/a/1': { value: 'A', lease: '7' } }, '7', [], []],
    [
      'same value on another lease → put',
      { '/s/a/1': 'A' },
      { '/s/a/1': { value: 'A', lease: '6' } },
      '7',
      [['/s/a/1', 'A']],
      [],
    ],
    [
      'same value on no lease (0) → put',
      { '/s/a/1': 'A' },
      { '/s/a/1': { value: 'A', lease: '0' } },
      '7',
      [['/s/a/1', 'A']],
      [],
    ],
    ['lease unknown (from memory) → nothing', { '/s/a/1': 'A' }, { '/s/a/1': { value: 'A' } }, '7', [], []],
    [
      'our lease id not given → lease ignored',
      { '/s/a/1': 'A' },
      { '/s/a/1': { value: 'A', lease: '6' } },
      undefined,
      [],
      [],
    ],
    ['not desired on another lease → delete', {}, { '/s/a/1': { value: 'A', lease: '6' } }, '7', [], ['/s/a/1']],
  ] as const)('%s', (_label, want, have, lease, puts, deletes) => {
    const d = diffEntries(desired(want), published(have), lease);
    expect(d).toEqual({ puts, deletes });
    expect(isEmptyDiff(d)).toBe(puts.length === 0 && deletes.length === 0);
  });

  it('mixes puts and deletes and sorts both by key', () => {
    const d = diffEntries(
      desired({ '/s/b/2': 'new', '/s/a/1': 'A', '/s/c/3': 'C2', '/s/a/0': 'Z' }),
      published({ '/s/z/9': 'old', '/s/a/1': 'A', '/s/c/3': 'C1', '/s/b/1': 'gone' }),
    );
    expect(d).toEqual({
      puts: [
        ['/s/a/0', 'Z'],
        ['/s/b/2', 'new'],
        ['/s/c/3', 'C2'],
      ],
      deletes: ['/s/b/1', '/s/z/9'],
    });
  });

  it('is deterministic: the same inputs in any insertion order give the same diff', () => {
    const want = [
      ['/s/x/1', '1'],
      ['/s/a/1', '2'],
      ['/s/m/1', '3'],
    ] as const;
    const have = [
      ['/s/q/1', 'q'],
      ['/s/b/1', 'b'],
      ['/s/m/1', 'old'],
    ] as const;
    const a = diffEntries(new Map(want), new Map(have.map(([k, v]) => [k, { value: v }])));
    const b = diffEntries(
      new Map([...want].reverse()),
      new Map([...have].reverse().map(([k, v]) => [k, { value: v }])),
    );
    expect(b).toEqual(a);
    expect(a.puts.map(([k]) => k)).toEqual(['/s/a/1', '/s/m/1', '/s/x/1']);
    expect(a.deletes).toEqual(['/s/b/1', '/s/q/1']);
  });

  it('sorts by code unit, not locale (uppercase before lowercase)', () => {
    const d = diffEntries(desired({ '/s/b/1': 'x', '/s/B/1': 'x', '/s/a/1': 'x' }), new Map());
    expect(d.puts.map(([k]) => k)).toEqual(['/s/B/1', '/s/a/1', '/s/b/1']);
  });

  it('does not modify its inputs', () => {
    const want = desired({ '/s/a/1': 'A' });
    const have = published({ '/s/b/1': 'B' });
    diffEntries(want, have);
    expect([...want]).toEqual([['/s/a/1', 'A']]);
    expect([...have]).toEqual([['/s/b/1', { value: 'B' }]]);
  });
});
