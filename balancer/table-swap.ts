// What the balancer does when a new route table goes live, in the swap's own turn: health flags for
// the new backend objects first (before any request can pick them), then policies warmed, then the
// backends that left released and the series of services that left forgotten.
import type { BalancerMetrics } from './admin/metrics.js';
import type { TrafficStats } from './admin/stats.js';
import type { ActiveChecks } from './proxy/health/active-checks.js';
import type { ProxyHandler } from './proxy/proxy.js';
import { changedServices, goneServices, vanishedBackends } from './table/table-store.js';
import type { RouteTable } from './types.js';

export interface SwapParts {
  readonly proxy: Pick<ProxyHandler, 'warmPolicies' | 'releaseBackend' | 'closeBackendSockets' | 'budgets'>;
  readonly checks: Pick<ActiveChecks, 'serviceChanged'>;
  readonly metrics: Pick<BalancerMetrics, 'forgetServices'>;
  readonly traffic: Pick<TrafficStats, 'forget'>;
  /** --drain: how long the WebSockets of a backend that left get to close. */
  readonly drainMs: number;
}

export function applyTableSwap(parts: SwapParts, prev: RouteTable, next: RouteTable): void {
  const { proxy } = parts;
  // First, so that nothing thrown below can leave a new backend object without its verdict.
  for (const [service, backends] of changedServices(prev, next)) parts.checks.serviceChanged(service, backends);
  if (prev.routes !== next.routes) proxy.warmPolicies(next.routes);
  for (const id of vanishedBackends(prev, next)) {
    proxy.releaseBackend(id);
    proxy.closeBackendSockets(id, parts.drainMs);
  }
  const gone = goneServices(prev, next);
  if (gone.length > 0) {
    parts.metrics.forgetServices(gone);
    parts.traffic.forget(gone);
    proxy.budgets.forget(gone);
  }
}
