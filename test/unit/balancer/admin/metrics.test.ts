import { describe, expect, it } from 'vitest';
import { createBalancerMetrics } from '../../../../balancer/admin/metrics.js';
import { emptyTable } from '../../../../balancer/table/route-table.js';

describe('balancer metrics', () => {
  it('forgetServices drops every per-service series of the services that left, and only those', async () => {
    const m = createBalancerMetrics({ table: () => emptyTable(undefined), isEjected: () => false, inflight: () => 0 });
    for (const service of ['gone', 'kept']) {
      m.observeRequest(service, 200, 0.01);
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
    ]) {
      expect(text).toMatch(new RegExp(`^${name}\\{[^}]*service="kept"[^}]*\\} 1$`, 'm'));
    }
  });
});
