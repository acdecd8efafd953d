import { describe, expect, it } from 'vitest';
import { isWorkerStateMessage, WorkerStates } from '../../../../balancer/admin/worker-state.js';

describe('WorkerStates', () => {
  it('merges the workers: ejected by any, in-flight summed, a dropped worker forgotten', () => {
    const s = new WorkerStates();
    s.update(1, { ejected: ['web/a'], inflight: [['web/b', 2]], served: 7 });
    s.update(2, {
      ejected: [],
      inflight: [
        ['web/b', 3],
        ['web/c', 1],
      ],
      served: 3,
    });
    expect(s.isEjected('web/a')).toBe(true);
    expect(s.isEjected('web/b')).toBe(false);
    expect(s.inflight('web/b')).toBe(5);
    expect(s.inflightTotal()).toBe(6);
    expect(s.served()).toEqual([
      { worker: 1, served: 7 },
      { worker: 2, served: 3 },
    ]);
    s.update(1, { ejected: [], inflight: [], served: 8 }); // a newer report replaces the older one
    expect(s.isEjected('web/a')).toBe(false);
    s.drop(2);
    expect(s.inflightTotal()).toBe(0);
  });

  it.each([
    [{ type: 'state', state: { ejected: [], inflight: [], served: 0 } }, true],
    [{ type: 'state', state: { ejected: 'x', inflight: [] } }, false],
    [{ type: 'ready' }, false],
    [undefined, false],
  ])('recognises a state message: %j → %s', (msg, expected) => {
    expect(isWorkerStateMessage(msg)).toBe(expected);
  });
});
