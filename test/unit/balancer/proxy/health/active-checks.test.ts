import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../../../common/logger.js';
import { validateCheck, type EntryCheck } from '../../../../../common/entry-check.js';
import {
  ActiveChecks,
  HEALTH_SYNC,
  healthTargets,
  isHealthMessage,
  isHealthSyncMessage,
} from '../../../../../balancer/proxy/health/active-checks.js';
import type { ProbeResult, ProbeTarget } from '../../../../../balancer/proxy/health/probe.js';
import { backendFromEntry } from '../../../../../balancer/table/route-table.js';
import type { Backend } from '../../../../../balancer/types.js';

function check(json: unknown): EntryCheck {
  const c = validateCheck(json);
  if (!c.ok) throw new Error(c.error);
  return c.value;
}

function backend(instance: string, port: number, c?: unknown): Backend {
  const entry = { host: '10.0.0.7', port, weight: 1, tags: [], draining: false };
  return backendFromEntry('web', instance, c === undefined ? entry : { ...entry, check: check(c) });
}

describe('healthTargets', () => {
  it('maps the entries that declare a check, with their interval and timeout, and skips the rest', () => {
    const targets = healthTargets([
      backend('a', 80, { path: '/healthz' }),
      backend('b', 81),
      backend('c', 82, { tcp: true, interval: '3s', timeout: '500ms' }),
    ]);
    expect(targets).toEqual([
      {
        id: 'web/a',
        host: '10.0.0.7',
        port: 80,
        intervalMs: 10_000,
        spec: { type: 'http', path: '/healthz', timeoutMs: 2000 },
      },
      { id: 'web/c', host: '10.0.0.7', port: 82, intervalMs: 3000, spec: { type: 'tcp', timeoutMs: 500 } },
    ]);
  });
});

describe('isHealthMessage', () => {
  it.each([
    [{ type: 'health', unhealthy: ['web/a'] }, true],
    [{ type: 'health', unhealthy: [] }, true],
    [{ type: 'health', unhealthy: [1] }, false],
    [{ type: 'health' }, false],
    [{ type: 'state', unhealthy: [] }, false],
    [undefined, false],
  ])('%j → %s', (msg, ok) => expect(isHealthMessage(msg)).toBe(ok));

  it.each([
    [HEALTH_SYNC, true],
    [{ type: 'health' }, false],
    ['health-sync', false],
    [undefined, false],
  ])('health-sync: %j → %s', (msg, ok) => expect(isHealthSyncMessage(msg)).toBe(ok));
});

describe('ActiveChecks', () => {
  // Timers are fake (probe intervals); setImmediate is real: the batched message goes at the end of
  // the turn, and `told()` waits for that turn to end.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  const turnEnd = (): Promise<void> => new Promise((r) => setImmediate(r));
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A probe answering per port; every call recorded. */
  function probes(answers: Map<number, ProbeResult>): {
    calls: number[];
    probe: (t: ProbeTarget) => Promise<ProbeResult>;
  } {
    const calls: number[] = [];
    return {
      calls,
      probe: (t) => (calls.push(t.port), Promise.resolve(answers.get(t.port) ?? { ok: true, reason: '' })),
    };
  }

  /** A probing ActiveChecks over `answers`, recording every set it tells the workers. */
  function telling(answers: Map<number, ProbeResult>): {
    p: ReturnType<typeof probes>;
    told: string[][];
    checks: ActiveChecks;
  } {
    const p = probes(answers);
    const told: string[][] = [];
    const checks = new ActiveChecks({
      probe: true,
      log: silentLogger(),
      onChange: (ids) => told.push([...ids]),
      prober: { probe: p.probe, random: () => 0.5 },
    });
    return { p, told, checks };
  }

  it('probes the checked backends of a changed service, flags the failing one, says so once per change', async () => {
    const answers = new Map<number, ProbeResult>([[81, { ok: false, reason: 'status 500' }]]);
    const { p, told, checks } = telling(answers);
    const a = backend('a', 80, { path: '/ok' });
    const b = backend('b', 81, { path: '/ok' });
    const plain = backend('c', 82);
    checks.serviceChanged('web', [a, b, plain]);
    await vi.advanceTimersByTimeAsync(0);
    await turnEnd();
    expect(p.calls.sort()).toEqual([80, 81]);
    expect([a.health.unhealthy, b.health.unhealthy, plain.health.unhealthy]).toEqual([false, true, false]);
    expect(told).toEqual([['web/b']]);
    answers.delete(81);
    await vi.advanceTimersByTimeAsync(10_000);
    expect([b.health.unhealthy, checks.unhealthy()]).toEqual([false, []]);
    await turnEnd(); // the workers hear of it at the end of the turn
    expect(told).toEqual([['web/b'], []]);
    checks.close();
  });

  it('forgets an unhealthy backend that leaves, and tells the workers', async () => {
    const { told, checks } = telling(new Map([[81, { ok: false, reason: 'timeout' }]]));
    checks.serviceChanged('web', [backend('b', 81, { tcp: true })]);
    await vi.advanceTimersByTimeAsync(0);
    await turnEnd();
    checks.serviceChanged('web', []);
    await turnEnd();
    expect(told).toEqual([['web/b'], []]);
    // The same id back (a restarted container) starts healthy and is probed afresh.
    const again = backend('b', 81, { tcp: true });
    checks.serviceChanged('web', [again]);
    expect(again.health.unhealthy).toBe(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(again.health.unhealthy).toBe(true);
    checks.close();
  });

  it('many flips in one turn are told once, as the whole set; nothing is told after close', async () => {
    const failing = new Map<number, ProbeResult>();
    for (let port = 1000; port < 1500; port++) failing.set(port, { ok: false, reason: 'timeout' });
    const { p, told, checks } = telling(failing);
    const backends = [...failing.keys()].map((port) => backend(`b${port}`, port, { tcp: true, interval: '1h' }));
    checks.serviceChanged('web', backends);
    await vi.advanceTimersByTimeAsync(0);
    await turnEnd();
    expect(p.calls).toHaveLength(500);
    expect(told).toHaveLength(1);
    expect(told[0]?.sort()).toEqual(backends.map((b) => b.id).sort());
    // The service leaves: 500 verdicts forgotten in one swap, one message.
    checks.serviceChanged('web', []);
    await turnEnd();
    expect(told).toEqual([told[0], []]);
    checks.serviceChanged('web', [backend('x', 1000, { tcp: true })]);
    await vi.advanceTimersByTimeAsync(0); // x fails its probe: a message is due at the end of the turn
    checks.close();
    await turnEnd();
    expect(told).toHaveLength(2);
  });

  it('a follower (a worker) never probes: it takes the verdicts it is handed', async () => {
    const p = probes(new Map());
    const checks = new ActiveChecks({ probe: false, log: silentLogger(), prober: { probe: p.probe } });
    const a = backend('a', 80, { path: '/ok' });
    checks.serviceChanged('web', [a]);
    checks.follow(['web/a']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect([p.calls, a.health.unhealthy, checks.isUnhealthy('web/a')]).toEqual([[], true, true]);
    checks.follow([]);
    expect(a.health.unhealthy).toBe(false);
  });
});
