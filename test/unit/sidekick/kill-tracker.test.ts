import { describe, expect, it } from 'vitest';
import type { Container } from '../../../sidekick/container.js';
import { KillTracker, signalNumber } from '../../../sidekick/kill-tracker.js';
import { container } from '../../helpers/container-fixture.js';

const STARTED = '2026-01-02T03:04:05.123456789Z';
const T0 = Date.parse(STARTED);

/** A tracker on a clock the test moves. */
function tracker(start = T0 + 10_000) {
  let now = start;
  const t = new KillTracker(() => now);
  return { t, advance: (ms: number) => (now += ms), at: () => now };
}

const run = (over: Partial<Container> = {}) => container({ startedAt: STARTED, ...over });
const iso = (ms: number) => new Date(ms).toISOString();

describe('signalNumber', () => {
  it.each([
    ['15', 15],
    ['9', 9],
    ['SIGTERM', 15],
    ['TERM', 15],
    ['sigkill', 9],
    ['int', 2],
    ['SIGQUIT', 3],
    ['HUP', 1],
    ['SIGUSR1', 10],
    ['SIGWINCH', 28],
    ['SIGRTMIN', 34],
    ['SIGRTMIN+3', 37],
    ['rtmin+3', 37],
    ['RTMAX', 64],
    ['SIGRTMAX-1', 63],
    ['SIGRTMIN-1', undefined],
    ['SIGRTMAX+1', undefined],
    ['', undefined],
    [undefined, undefined],
    ['SIGBOGUS', undefined],
  ])('%j → %s', (raw, n) => {
    expect(signalNumber(raw)).toBe(n);
  });
});

describe('KillTracker: which kills withdraw', () => {
  it.each([
    ['SIGTERM (15)', true, '15', 'SIGTERM'],
    ['SIGKILL (9)', true, '9', 'SIGTERM'],
    ['SIGINT (2)', true, '2', 'SIGTERM'],
    ['SIGQUIT (3)', true, '3', 'SIGTERM'],
    ['SIGHUP (1)', false, '1', 'SIGTERM'],
    ['SIGUSR1 (10) with default stop signal', false, '10', 'SIGTERM'],
    ['SIGWINCH (28)', false, '28', 'SIGTERM'],
    ['the container StopSignal SIGUSR1', true, '10', 'SIGUSR1'],
    ['the container StopSignal given as a number', true, '10', '10'],
    ['the container StopSignal SIGHUP', true, '1', 'SIGHUP'],
    ['the container StopSignal SIGRTMIN+3 (systemd images)', true, '37', 'SIGRTMIN+3'],
    ['no signal attribute (treated as terminating)', true, undefined, 'SIGTERM'],
  ])('%s → withdrawn: %s', (_label, withdrawn, signal, stopSignal) => {
    const { t } = tracker();
    t.killed(run().id, signal);
    expect(t.suppresses(run({ stopSignal }))).toBe(withdrawn);
  });
});

describe('KillTracker: runs', () => {
  it('withdraws the run current at the kill, on every later reconcile of that run', () => {
    const { t, advance } = tracker();
    const c = run();
    expect(t.suppresses(c)).toBe(false);
    t.killed(c.id, '15');
    expect(t.suppresses(c)).toBe(true);
    advance(5000);
    expect(t.suppresses(c)).toBe(true); // still running out its stop grace period
  });

  it('publishes a new run (later StartedAt) again', () => {
    const { t, advance, at } = tracker();
    t.killed(run().id, '15');
    advance(2000);
    const restarted = run({ startedAt: iso(at() - 500) });
    expect(t.suppresses(restarted)).toBe(false);
  });

  it('a kill of the new run withdraws it again', () => {
    const { t, advance, at } = tracker();
    t.killed(run().id, '15');
    advance(2000);
    const restarted = run({ startedAt: iso(at() - 500) });
    expect(t.suppresses(restarted)).toBe(false);
    advance(1000);
    t.killed(restarted.id, '15');
    expect(t.suppresses(restarted)).toBe(true);
  });

  it('forgets the kill once the container is no longer running', () => {
    const { t } = tracker();
    t.killed(run().id, '9');
    expect(t.suppresses(run({ running: false }))).toBe(false);
    // The record is gone: the same run seen running again (e.g. a stale inspect) is not suppressed.
    expect(t.suppresses(run())).toBe(false);
  });

  it('only suppresses the container that was killed', () => {
    const { t } = tracker();
    t.killed('other-id', '15');
    expect(t.suppresses(run())).toBe(false);
  });

  it('forget() drops the kill', () => {
    const { t } = tracker();
    const c = run();
    t.killed(c.id, '15');
    t.forget(c.id);
    expect(t.suppresses(c)).toBe(false);
  });

  it('stops suppressing after 5 minutes (a container that ignores its stop signal)', () => {
    const { t, advance } = tracker();
    const c = run();
    t.killed(c.id, '15');
    advance(5 * 60_000 - 1);
    expect(t.suppresses(c)).toBe(true);
    advance(1);
    expect(t.suppresses(c)).toBe(false);
  });

  it('treats an unparseable StartedAt as the same run', () => {
    const { t } = tracker();
    t.killed(run().id, '15');
    expect(t.suppresses(run({ startedAt: '' }))).toBe(true);
  });

  it('a SIGHUP after the SIGTERM does not bring the dying run back', () => {
    const { t, advance } = tracker();
    const c = run();
    t.killed(c.id, '15');
    advance(100);
    t.killed(c.id, '1'); // e.g. a reload signal sent while the process shuts down
    expect(t.suppresses(c)).toBe(true);
  });

  it('a SIGTERM after a SIGHUP withdraws', () => {
    const { t, advance } = tracker();
    const c = run();
    t.killed(c.id, '1');
    expect(t.suppresses(c)).toBe(false);
    advance(100);
    t.killed(c.id, '15');
    expect(t.suppresses(c)).toBe(true);
  });
});

describe('KillTracker: withdrawing at the kill from the last inspect (no new inspect)', () => {
  it.each([
    ['a SIGTERM of the inspected run', { signal: '15' }, true],
    ['a SIGKILL of the inspected run', { signal: '9' }, true],
    ['no signal attribute', { signal: undefined }, true],
    ['a SIGHUP', { signal: '1' }, false],
    ['the run’s own STOPSIGNAL (SIGUSR1)', { signal: '10', stopSignal: 'SIGUSR1' }, true],
    ['SIGUSR1 when the STOPSIGNAL is SIGTERM', { signal: '10' }, false],
    [
      'a kill sent before the inspected run started (a late event of the previous run)',
      { signal: '15', killAt: T0 - 1 },
      false,
    ],
    ['a kill at the very start of the run', { signal: '15', killAt: T0 }, true],
    ['an unparseable StartedAt (assumed the same run)', { signal: '15', startedAt: '' }, true],
    ['a container last seen not running', { signal: '15', running: false }, false],
    ['a container never inspected', { signal: '15', observed: false }, false],
    [
      'a kill event over 5 minutes old',
      { signal: '15', killAt: T0 + 10_000 - 5 * 60_000 - 1, startedAt: iso(T0 - 10 * 60_000) },
      false,
    ],
  ] as const)('%s → %s', (_label, o, expected) => {
    const { t } = tracker();
    const opts = o as {
      signal: string | undefined;
      stopSignal?: string;
      killAt?: number;
      startedAt?: string;
      running?: boolean;
      observed?: boolean;
    };
    const c = run({
      stopSignal: opts.stopSignal ?? 'SIGTERM',
      startedAt: opts.startedAt ?? STARTED,
      running: opts.running ?? true,
    });
    if (opts.observed !== false) t.observed(c);
    expect(t.killed(c.id, opts.signal, opts.killAt ?? T0 + 5000)).toBe(expected);
  });

  it('a kill it withdraws at also suppresses the run on its next inspect (the two never disagree)', () => {
    const { t } = tracker();
    const c = run();
    t.observed(c);
    expect(t.killed(c.id, '15', T0 + 5000)).toBe(true);
    expect(t.suppresses(c)).toBe(true);
  });

  it('a new run seen by a later inspect replaces the old one', () => {
    const { t, at } = tracker();
    t.observed(run());
    const restarted = run({ startedAt: iso(at() - 100) });
    t.observed(restarted);
    expect(t.killed(restarted.id, '15', at() - 500)).toBe(false); // sent before the new run started
    expect(t.killed(restarted.id, '15', at())).toBe(true);
  });

  it('forget() and retainRuns() drop what the last inspect saw', () => {
    const { t } = tracker();
    const a = run({ id: 'a'.repeat(64) });
    const b = run({ id: 'b'.repeat(64) });
    const c = run({ id: 'c'.repeat(64) });
    for (const x of [a, b, c]) t.observed(x);
    t.forget(a.id);
    t.retainRuns(new Set([c.id]));
    expect([a, b, c].map((x) => t.killed(x.id, '15', T0 + 5000))).toEqual([false, false, true]);
  });
});
