// The ownership rule as a table: adopt or delete only what no other live lease holds.
import { describe, expect, it } from 'vitest';
import { decide, type Action, type Observed } from '../../../sidekick/claims.js';
import type { Verdict } from '../../../sidekick/lease-judge.js';
import { Holdings } from '../../../sidekick/holdings.js';

const OURS = '111';
const OTHER = '222';
const at = (lease: string, value = 'v1', mod = '7'): Observed => ({ value, lease, mod });

describe('decide', () => {
  it.each<[string, string | undefined, Observed | undefined, Verdict | undefined, boolean, Action]>([
    // nothing there
    ['wanted, absent', 'v1', undefined, undefined, false, 'put'],
    ['not wanted, absent', undefined, undefined, undefined, false, 'none'],
    // on our lease
    ['wanted, ours, same value', 'v1', at(OURS), undefined, true, 'none'],
    ['wanted, ours, value edited behind our back', 'v2', at(OURS), undefined, true, 'put'],
    ['not wanted, ours', undefined, at(OURS), undefined, true, 'delete'],
    [
      'not wanted, ours, even if it no longer decodes as ours',
      undefined,
      at(OURS, 'garbage'),
      undefined,
      false,
      'delete',
    ],
    // no lease (written by hand, or re-put by hand without --lease)
    ['wanted, no lease: adopt', 'v1', at('0'), undefined, true, 'put'],
    ['wanted, no lease, other value: adopt', 'v1', at('0', 'hand'), undefined, false, 'put'],
    ['not wanted, no lease, our node: delete', undefined, at('0'), undefined, true, 'delete'],
    ['not wanted, no lease, another node: leave it', undefined, at('0'), undefined, false, 'forget'],
    // another lease
    ['wanted, dead lease (an earlier run): adopt', 'v1', at(OTHER), 'dead', true, 'put'],
    ['not wanted, dead lease, our node: delete', undefined, at(OTHER), 'dead', true, 'delete'],
    ['not wanted, dead lease, another node: leave it', undefined, at(OTHER), 'dead', false, 'forget'],
    ['wanted, live lease: another sidekick of our node holds it', 'v1', at(OTHER), 'live', true, 'yield'],
    ['wanted, live lease, same value: still theirs', 'v1', at(OTHER, 'v1'), 'live', true, 'yield'],
    ['not wanted, live lease, our node: theirs, a duplicate', undefined, at(OTHER), 'live', true, 'yield'],
    ['not wanted, live lease, another node', undefined, at(OTHER), 'live', false, 'forget'],
    ['wanted, lease not judged yet', 'v1', at(OTHER), 'pending', true, 'wait'],
    ['not wanted, lease not judged yet, our node', undefined, at(OTHER), 'pending', true, 'wait'],
    ['not wanted, lease not judged yet, another node', undefined, at(OTHER), 'pending', false, 'forget'],
  ])('%s → %s', (_label, want, seen, verdict, mine, expected) => {
    expect(decide({ want, seen, ours: OURS, verdict, mine })).toBe(expected);
  });

  it('never deletes or overwrites an entry held by a live foreign lease, whatever is wanted', () => {
    for (const want of ['v1', 'v2', undefined])
      for (const mine of [true, false]) {
        const action = decide({ want, seen: at(OTHER), ours: OURS, verdict: 'live', mine });
        expect(['yield', 'forget']).toContain(action);
      }
  });
});

describe('Holdings', () => {
  it('indexes keys by owner and moves a key to its new owner', () => {
    const h = new Holdings();
    h.set('/s/web/n:a:80', 'c1', 'v', '5');
    h.set('/s/web/n:b:80', 'c1', 'v', '6');
    expect(h.keysOf('c1').sort()).toEqual(['/s/web/n:a:80', '/s/web/n:b:80']);
    h.set('/s/web/n:a:80', 'c2', 'v2', '9'); // the container was recreated under the same name
    expect(h.keysOf('c1')).toEqual(['/s/web/n:b:80']);
    expect(h.keysOf('c2')).toEqual(['/s/web/n:a:80']);
    expect(h.get('/s/web/n:a:80')).toEqual({ owner: 'c2', value: 'v2', mod: '9' });
    h.delete('/s/web/n:b:80');
    expect(h.keysOf('c1')).toEqual([]);
    expect(h.size).toBe(1);
  });
});
