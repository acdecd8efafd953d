import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../../sidekick/work-queue.js';

const ALL = '*all*';

/** Lets every queued promise callback (the queue's `.finally` chains) run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A WorkQueue whose tasks are deferred promises the test settles one by one. Every start is
 * checked against the queue's promises: no two runs of one container at once, and a full
 * reconcile never overlaps any container reconcile.
 */
function harness(concurrency = 4) {
  const started: string[] = [];
  const violations: string[] = [];
  const running = new Map<string, () => void>();
  const begin = (what: string): Promise<void> => {
    if (running.has(what)) violations.push(`${what} started while already running`);
    if (what === ALL && running.size > 0)
      violations.push(`full reconcile started while ${[...running.keys()].join(',')} ran`);
    if (what !== ALL && running.has(ALL)) violations.push(`${what} started during the full reconcile`);
    started.push(what);
    return new Promise<void>((resolve) => running.set(what, resolve));
  };
  const q = new WorkQueue({ reconcileOne: (id) => begin(id), reconcileAll: () => begin(ALL), concurrency });
  return {
    q,
    started,
    violations,
    running: () => [...running.keys()].sort(),
    /** Completes the running task `what` and lets the queue react. */
    async finish(what: string): Promise<void> {
      const resolve = running.get(what);
      if (!resolve) throw new Error(`${what} is not running (running: ${[...running.keys()].join(',') || 'none'})`);
      running.delete(what);
      resolve();
      await flush();
    },
  };
}

/** Tracks whether a promise has settled, without awaiting it. */
function settled(p: Promise<unknown>): () => boolean {
  let done = false;
  void p.then(() => (done = true));
  return () => done;
}

describe('WorkQueue: container reconciles', () => {
  it('runs a marked container at once and is idle when it finishes', async () => {
    const h = harness();
    h.q.mark('a');
    expect(h.running()).toEqual(['a']);
    const idle = settled(h.q.idle());
    await flush();
    expect(idle()).toBe(false);
    await h.finish('a');
    expect(idle()).toBe(true);
    expect(h.started).toEqual(['a']);
  });

  it('idle() resolves at once when nothing was ever queued', async () => {
    const h = harness();
    const idle = settled(h.q.idle());
    await flush();
    expect(idle()).toBe(true);
  });

  it.each([1, 2, 5])('coalesces %i marks during a run into exactly one more run', async (marks) => {
    const h = harness();
    h.q.mark('a');
    for (let i = 0; i < marks; i++) h.q.mark('a');
    expect(h.running()).toEqual(['a']);
    await h.finish('a');
    expect(h.running()).toEqual(['a']);
    await h.finish('a');
    await h.q.idle();
    expect(h.started).toEqual(['a', 'a']);
    expect(h.violations).toEqual([]);
  });

  it('a mark after the run finished runs again (nothing is lost)', async () => {
    const h = harness();
    h.q.mark('a');
    await h.finish('a');
    h.q.mark('a');
    expect(h.running()).toEqual(['a']);
    await h.finish('a');
    expect(h.started).toEqual(['a', 'a']);
  });

  it('runs different containers concurrently up to the limit, then the rest as slots free up', async () => {
    const h = harness(2);
    h.q.mark('a');
    h.q.mark('b');
    h.q.mark('c');
    expect(h.running()).toEqual(['a', 'b']);
    await h.finish('b');
    expect(h.running()).toEqual(['a', 'c']);
    await h.finish('a');
    await h.finish('c');
    await h.q.idle();
    expect(h.started).toEqual(['a', 'b', 'c']);
    expect(h.violations).toEqual([]);
  });

  it('never runs one container twice at once, even when its re-run waits for a free slot', async () => {
    const h = harness(1);
    h.q.mark('a');
    h.q.mark('b');
    h.q.mark('a'); // a is running: coalesced
    await h.finish('a');
    expect(h.running()).toEqual(['b']);
    await h.finish('b');
    expect(h.running()).toEqual(['a']);
    await h.finish('a');
    await h.q.idle();
    expect(h.started).toEqual(['a', 'b', 'a']);
    expect(h.violations).toEqual([]);
  });

  it('idle() waits for work queued by the time the current run ends', async () => {
    const h = harness();
    h.q.mark('a');
    const idle = settled(h.q.idle());
    h.q.mark('a');
    await h.finish('a');
    expect(idle()).toBe(false);
    h.q.mark('b');
    await h.finish('a');
    expect(idle()).toBe(false);
    await h.finish('b');
    expect(idle()).toBe(true);
  });
});

describe('WorkQueue: full reconciles run alone', () => {
  it('a full reconcile waits for running container reconciles and none start meanwhile', async () => {
    const h = harness();
    h.q.mark('a');
    h.q.mark('b');
    h.q.markAll();
    h.q.mark('c');
    expect(h.running()).toEqual(['a', 'b']);
    await h.finish('a');
    expect(h.running()).toEqual(['b']);
    await h.finish('b');
    expect(h.running()).toEqual([ALL]);
    h.q.mark('d'); // during the full reconcile: waits
    await flush();
    expect(h.running()).toEqual([ALL]);
    await h.finish(ALL);
    expect(h.running()).toEqual(['d']);
    await h.finish('d');
    await h.q.idle();
    expect(h.violations).toEqual([]);
  });

  it('starts at once when nothing runs', () => {
    const h = harness();
    h.q.markAll();
    expect(h.running()).toEqual([ALL]);
  });

  it('coalesces markAll calls during a full reconcile into exactly one more', async () => {
    const h = harness();
    h.q.markAll();
    h.q.markAll();
    h.q.markAll();
    await h.finish(ALL);
    expect(h.running()).toEqual([ALL]);
    await h.finish(ALL);
    await h.q.idle();
    expect(h.started).toEqual([ALL, ALL]);
  });

  it('a pending full reconcile goes before container hints that arrive while it waits', async () => {
    const h = harness();
    h.q.mark('a');
    h.q.markAll();
    h.q.mark('x');
    await h.finish('a');
    expect(h.running()).toEqual([ALL]);
    await h.finish(ALL);
    await flush();
    for (const w of h.running()) await h.finish(w);
    await h.q.idle();
    expect(h.started.slice(0, 2)).toEqual(['a', ALL]);
    expect(h.violations).toEqual([]);
  });

  it('idle() resolves only after the full reconcile and the work queued behind it', async () => {
    const h = harness();
    h.q.markAll();
    h.q.mark('a');
    const idle = settled(h.q.idle());
    await h.finish(ALL);
    expect(idle()).toBe(false);
    await h.finish('a');
    expect(idle()).toBe(true);
  });
});

describe('WorkQueue: stop', () => {
  it('stop() waits for running work, then takes no more', async () => {
    const h = harness();
    h.q.mark('a');
    const stopped = settled(h.q.stop());
    await flush();
    expect(stopped()).toBe(false);
    h.q.mark('b');
    h.q.markAll();
    await flush();
    expect(h.running()).toEqual(['a']);
    await h.finish('a');
    expect(stopped()).toBe(true);
    expect(h.running()).toEqual([]);
    expect(h.started).toEqual(['a']);
  });

  it('stop() drops queued work and waits for a running full reconcile', async () => {
    const h = harness(1);
    h.q.markAll();
    h.q.mark('a');
    const stopped = settled(h.q.stop());
    await flush();
    expect(stopped()).toBe(false);
    await h.finish(ALL);
    expect(stopped()).toBe(true);
    expect(h.started).toEqual([ALL]);
    const idle = settled(h.q.idle()); // the dropped work does not keep the queue busy
    await flush();
    expect(idle()).toBe(true);
  });

  it('stop() with a coalesced re-run pending does not run it again', async () => {
    const h = harness();
    h.q.mark('a');
    h.q.mark('a');
    const stopped = settled(h.q.stop());
    await h.finish('a');
    expect(stopped()).toBe(true);
    expect(h.started).toEqual(['a']);
  });

  it('idle() waiters registered before stop() are released too', async () => {
    const h = harness();
    h.q.mark('a');
    const idle = settled(h.q.idle());
    void h.q.stop();
    await h.finish('a');
    expect(idle()).toBe(true);
  });

  it('stop() resolves at once when idle', async () => {
    const h = harness();
    await expect(h.q.stop()).resolves.toBeUndefined();
  });
});
