import { describe, expect, it } from 'vitest';
import { backendState, createBalancerMetrics } from '../../../../balancer/admin/metrics.js';
import { backendFromEntry, buildTable, emptyTable } from '../../../../balancer/table/route-table.js';

describe('balancer metrics', () => {
  it('forgetServices drops every per-service series of the services that left, and only those', async () => {
    const m = createBalancerMetrics({
      table: () => emptyTable(undefined),
      isEjected: () => false,
      isUnhealthy: () => false,
      inflight: () => 0,
    });
    for (const service of ['gone', 'kept']) {
      m.observeRequest(service, 200, 0.01);
      m.observeFailOpen(service);
      m.retries.inc({ service });
      m.ejections.inc({ service });
      m.retryBudgetExhausted.inc({ service });
    }
    m.forgetServices(['gone']);
    const text = await m.registry.metrics();
    expect(text).not.toContain('service="gone"');
    for (const name of [
      'balancer_requests_total',
      'balancer_request_duration_seconds_count',
      'balancer_retries_total',
      'balancer_ejections_total',
      'balancer_retry_budget_exhausted_total',
      'balancer_fail_open_total',
    ]) {
      expect(text).toMatch(new RegExp(`^${name}\\{[^}]*service="kept"[^}]*\\} 1$`, 'm'));
    }
  });

  it('balancer_backends counts each backend once, in the first state that applies', async () => {
    const entry = { host: '10.0.0.1', port: 80, weight: 1, tags: [], draining: false };
    const events = ['up', 'sick', 'ejected', 'both', 'drain'].map((name) => ({
      kind: 'entry-put' as const,
      key: `/services/web/${name}`,
      backend: backendFromEntry('web', name, name === 'drain' ? { ...entry, draining: true } : entry),
    }));
    const table = buildTable(events, 1, []);
    const unhealthy = new Set(['web/sick', 'web/both', 'web/drain']);
    const ejected = new Set(['web/ejected', 'web/both', 'web/drain']);
    const src = { isEjected: (id: string) => ejected.has(id), isUnhealthy: (id: string) => unhealthy.has(id) };
    const m = createBalancerMetrics({ table: () => table, inflight: () => 0, ...src });
    const text = await m.registry.metrics();
    const states = { up: 1, unhealthy: 2, ejected: 1, draining: 1 };
    for (const [state, n] of Object.entries(states))
      expect(text).toContain(`balancer_backends{service="web",state="${state}"} ${n}`);
    expect(table.services.get('web')?.backends.map((b) => backendState(b, src))).toEqual([
      'unhealthy',
      'draining',
      'ejected',
      'unhealthy',
      'up',
    ]);
  });
});
