import { describe, expect, it } from 'vitest';
import { WatchProgress } from '../../../../balancer/registry/watch-progress.js';

type Step =
  | ['snapshot', number, boolean?]
  | ['created', 'entry' | 'route', number, number]
  | ['response', 'entry' | 'route', number, number | undefined]
  | ['settle']
  | ['dropped'];

function run(steps: readonly Step[]): number[] {
  const p = new WatchProgress();
  const seen: number[] = [];
  for (const step of steps) {
    if (step[0] === 'snapshot') p.snapshot(step[1], step[2] ?? false);
    else if (step[0] === 'created') p.created(step[1], step[2], step[3]);
    else if (step[0] === 'response') p.response(step[1], step[2], step[3]);
    else if (step[0] === 'settle') p.settle();
    else p.dropped();
    seen.push(p.revision());
  }
  return seen;
}

// Snapshot at 10, both watchers created from 11 at head (synced) unless a step says otherwise.
const start: Step[] = [
  ['snapshot', 10],
  ['created', 'entry', 10, 11],
  ['created', 'route', 10, 11],
];

describe('WatchProgress: the revision the table reflects', () => {
  it.each<[string, Step[], number[]]>([
    ['a snapshot is complete at its revision', [['snapshot', 10]], [10]],
    [
      'entry-only changes move the revision: the quiet route watcher counts from the next flush',
      [...start, ['response', 'entry', 12, 12], ['settle']],
      [10, 10, 10, 10, 12],
    ],
    [
      'a sibling header does not count in the flush that brought it (the other half of its txn may follow)',
      [...start, ['response', 'entry', 12, 12]],
      [10, 10, 10, 10],
    ],
    [
      'one txn on both prefixes: complete once both halves arrived',
      [...start, ['response', 'entry', 12, 12], ['response', 'route', 12, 12]],
      [10, 10, 10, 10, 12],
    ],
    [
      'a route watcher created behind the head waits for its own proof',
      [
        ['snapshot', 10],
        ['created', 'entry', 10, 11],
        ['created', 'route', 11, 11],
        ['response', 'entry', 12, 12],
        ['settle'],
      ],
      [10, 10, 10, 10, 10],
    ],
    [
      '... which a catch-up that reached the head gives',
      [
        ['snapshot', 10],
        ['created', 'route', 11, 11],
        ['created', 'entry', 10, 11],
        ['response', 'route', 11, 11],
        ['response', 'entry', 12, 12],
        ['settle'],
      ],
      [10, 10, 10, 10, 11, 12],
    ],
    [
      'a possibly partial catch-up (header above its last event) counts to its last event only',
      [...start, ['response', 'route', 50, 20], ['response', 'entry', 50, 50], ['settle']],
      [10, 10, 10, 10, 20, 20],
    ],
    [
      'a progress notification (no events) proves its watcher synced at its header',
      [
        ['snapshot', 10],
        ['created', 'entry', 10, 11],
        ['created', 'route', 11, 11],
        ['response', 'route', 30, undefined],
        ['settle'],
      ],
      [10, 10, 10, 10, 30],
    ],
    [
      'dropped watchers vouch for nothing until re-created',
      [...start, ['response', 'entry', 12, 12], ['dropped'], ['settle']],
      [10, 10, 10, 10, 10, 10],
    ],
    [
      'a check snapshot raises a lagging watcher',
      [...start, ['response', 'route', 50, 20], ['snapshot', 40]],
      [10, 10, 10, 10, 40],
    ],
    [
      'a rebuild (etcd went backwards) starts over at the snapshot',
      [...start, ['response', 'entry', 12, 12], ['response', 'route', 12, 12], ['dropped'], ['snapshot', 3, true]],
      [10, 10, 10, 10, 12, 12, 3],
    ],
  ])('%s', (_name, steps, want) => {
    expect(run(steps)).toEqual(want);
  });

  it('settle() says whether the next flush would raise the revision', () => {
    const p = new WatchProgress();
    p.snapshot(10, false);
    p.created('entry', 10, 11);
    p.created('route', 10, 11);
    p.response('entry', 12, 12);
    expect(p.settle()).toBe(true);
    expect(p.revision()).toBe(12);
    expect(p.settle()).toBe(false);
  });
});
