import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HealthProber, type HealthTarget } from '../../../../../balancer/proxy/health/health-prober.js';
import { HealthState } from '../../../../../balancer/proxy/health/health-state.js';
import type { ProbeResult } from '../../../../../balancer/proxy/health/probe.js';
import { backendFromEntry } from '../../../../../balancer/table/route-table.js';

const target = (id: string, intervalMs = 1000, path = '/healthz'): HealthTarget => ({
  id,
  host: '10.0.0.1',
  port: 80,
  intervalMs,
  spec: { type: 'http', path, timeoutMs: 100 },
});

/** A probe whose answers the test sets per backend id (default: pass). */
function scriptedProbe(): { answers: Map<string, ProbeResult>; calls: string[]; fn: () => never } {
  const answers = new Map<string, ProbeResult>();
  const calls: string[] = [];
  const fn = ((t: { host: string; port: number }, spec: { path?: string }) => {
    const id = [...answers.keys()].find((k) => k.endsWith(spec.path ?? '')) ?? '';
    calls.push(`${t.host}:${t.port}${spec.path ?? ''}`);
    return Promise.resolve(answers.get(id) ?? { ok: true, reason: '' });
  }) as never;
  return { answers, calls, fn };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('HealthProber', () => {
  it('probes a new target at once and then every interval (±10 %), marking it unhealthy and back', async () => {
    const state = new HealthState();
    const changes: Array<[string, boolean, string]> = [];
    let answer: ProbeResult = { ok: true, reason: '' };
    let calls = 0;
    const prober = new HealthProber(
      state,
      { onChange: (id, healthy, reason) => changes.push([id, healthy, reason]) },
      { probe: () => (calls++, Promise.resolve(answer)), random: () => 0.5 },
    );
    prober.syncService('web', [target('web/a')]);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    expect(state.isUnhealthy('web/a')).toBe(false);
    expect(changes).toEqual([]); // a passing first probe is no change
    answer = { ok: false, reason: 'status 500' };
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    expect(state.isUnhealthy('web/a')).toBe(true);
    answer = { ok: true, reason: '' };
    await vi.advanceTimersByTimeAsync(1000);
    expect(state.isUnhealthy('web/a')).toBe(false);
    expect(changes).toEqual([
      ['web/a', false, 'status 500'],
      ['web/a', true, ''],
    ]);
    prober.close();
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toBe(3);
  });

  it('stops probing targets that left (and forgets their state), restarts changed ones, keeps the rest', async () => {
    const state = new HealthState();
    const { calls, fn } = scriptedProbe();
    const prober = new HealthProber(state, {}, { probe: fn, random: () => 0.5 });
    prober.syncService('web', [target('web/a', 1000, '/a'), target('web/b', 1000, '/b')]);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.sort()).toEqual(['10.0.0.1:80/a', '10.0.0.1:80/b']);
    state.set('web/b', false);
    calls.length = 0;
    // b leaves, a's path changes: a is probed again at once, b never again.
    prober.syncService('web', [target('web/a', 1000, '/a2')]);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual(['10.0.0.1:80/a2']);
    expect(state.isUnhealthy('web/b')).toBe(false);
    await vi.advanceTimersByTimeAsync(3000);
    expect(calls.filter((c) => c.endsWith('/b'))).toEqual([]);
    calls.length = 0;
    prober.syncService('web', [target('web/a', 1000, '/a2')]); // unchanged: no extra probe
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([]);
    prober.close();
  });

  it('counts a probe that throws as failed, and keeps probing', async () => {
    const state = new HealthState();
    let calls = 0;
    const prober = new HealthProber(state, {}, { probe: () => (calls++, Promise.reject(new Error('bad port'))) });
    prober.syncService('web', [target('web/a')]);
    await vi.advanceTimersByTimeAsync(0);
    expect(state.isUnhealthy('web/a')).toBe(true);
    await vi.advanceTimersByTimeAsync(1100);
    expect(calls).toBe(2);
    prober.close();
  });

  it('syncs one service without touching the loops of another', async () => {
    const state = new HealthState();
    let calls = 0;
    const prober = new HealthProber(state, {}, { probe: () => (calls++, Promise.resolve({ ok: true, reason: '' })) });
    prober.syncService('web', [target('web/a')]);
    prober.syncService('api', [target('api/a')]);
    await vi.advanceTimersByTimeAsync(0);
    expect([calls, prober.size()]).toEqual([2, 2]);
    prober.syncService('api', []);
    expect(prober.size()).toBe(1);
    prober.syncService('web', [target('web/a')]); // unchanged: not probed again
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
    prober.close();
    expect(prober.size()).toBe(0);
  });

  it('keeps at most maxInFlight probes in flight; the rest go, oldest first, as slots free', async () => {
    const state = new HealthState();
    const started: string[] = [];
    const release = new Map<string, (r: ProbeResult) => void>();
    const prober = new HealthProber(
      state,
      {},
      {
        maxInFlight: 3,
        probe: (_t, spec) => {
          const path = (spec as { path: string }).path;
          started.push(path);
          return new Promise((r) => release.set(path, r));
        },
      },
    );
    prober.syncService(
      'web',
      ['/1', '/2', '/3', '/4', '/5', '/6'].map((p) => target(`web${p}`, 60_000, p)),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['/1', '/2', '/3']);
    release.get('/2')?.({ ok: true, reason: '' });
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['/1', '/2', '/3', '/4']);
    // A waiting target that leaves gives up its turn.
    prober.syncService(
      'web',
      ['/1', '/2', '/3', '/4', '/6'].map((p) => target(`web${p}`, 60_000, p)),
    );
    release.get('/1')?.({ ok: true, reason: '' });
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['/1', '/2', '/3', '/4', '/6']);
    prober.close();
  });

  it('aborts the probes in flight when a target leaves and when it closes', async () => {
    const state = new HealthState();
    const signals = new Map<string, AbortSignal>();
    const prober = new HealthProber(
      state,
      {},
      {
        probe: (_t, spec, signal) => {
          signals.set((spec as { path: string }).path, signal);
          return new Promise(() => undefined);
        },
      },
    );
    prober.syncService('web', [target('web/a', 1000, '/a'), target('web/b', 1000, '/b')]);
    await vi.advanceTimersByTimeAsync(0);
    expect([signals.get('/a')?.aborted, signals.get('/b')?.aborted]).toEqual([false, false]);
    prober.syncService('web', [target('web/b', 1000, '/b')]);
    expect([signals.get('/a')?.aborted, signals.get('/b')?.aborted]).toEqual([true, false]);
    prober.close();
    expect(signals.get('/b')?.aborted).toBe(true);
  });

  it('a handler that throws is reported and the loop goes on; a thrown non-Error is a reason too', async () => {
    const state = new HealthState();
    const errors: unknown[] = [];
    let calls = 0;
    const prober = new HealthProber(
      state,
      {
        onChange: () => {
          throw new Error('handler broke');
        },
        onError: (_id, err) => errors.push(err),
      },
      { probe: () => (calls++, Promise.reject('no socket')), random: () => 0.5 },
    );
    prober.syncService('web', [target('web/a')]);
    await vi.advanceTimersByTimeAsync(0);
    expect(state.isUnhealthy('web/a')).toBe(true);
    expect(errors.map((e) => (e as Error).message)).toEqual(['handler broke']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(2);
    prober.close();
  });

  it('ignores the result of a probe that was running when its target left', async () => {
    const state = new HealthState();
    let release!: (r: ProbeResult) => void;
    const prober = new HealthProber(state, {}, { probe: () => new Promise((r) => (release = r)) });
    prober.syncService('web', [target('web/a')]);
    prober.syncService('web', []);
    release({ ok: false, reason: 'timeout' });
    await vi.advanceTimersByTimeAsync(0);
    expect(state.isUnhealthy('web/a')).toBe(false);
    prober.close();
  });
});

describe('HealthState', () => {
  const backend = (id: string) =>
    backendFromEntry('web', id.slice(4), { host: '10.0.0.1', port: 80, weight: 1, tags: [], draining: false });

  it('writes each verdict into the flag of the live backend object, and old verdicts into new objects', () => {
    const s = new HealthState();
    const a = backend('web/a');
    const b = backend('web/b');
    s.track('web', [a, b]);
    expect(s.set('web/a', false)).toBe(true);
    expect(s.set('web/a', false)).toBe(false); // no change, no version bump
    expect([a.health.unhealthy, b.health.unhealthy, s.version]).toEqual([true, false, 1]);
    // A changed entry is a new object: it inherits the verdict when its table goes live.
    const a2 = backend('web/a');
    s.track('web', [a2, b]);
    expect(a2.health.unhealthy).toBe(true);
    s.set('web/a', true);
    expect([a2.health.unhealthy, a.health.unhealthy]).toEqual([false, true]); // the old object is no longer written
    expect(s.isUnhealthy('web/a')).toBe(false);
  });

  it('replaces the set whole (a worker following its primary), also for backends its table lacks yet', () => {
    const s = new HealthState();
    const a = backend('web/a');
    s.track('web', [a]);
    s.replace(['web/a', 'web/late']);
    expect([s.ids(), a.health.unhealthy]).toEqual([['web/a', 'web/late'], true]);
    const late = backend('web/late');
    s.track('web', [a, late]);
    expect(late.health.unhealthy).toBe(true);
    s.replace(['web/late']);
    expect([a.health.unhealthy, late.health.unhealthy, s.ids()]).toEqual([false, true, ['web/late']]);
    s.track('web', []); // the service left: nothing is written any more
    s.replace([]);
    expect(late.health.unhealthy).toBe(true);
  });
});
