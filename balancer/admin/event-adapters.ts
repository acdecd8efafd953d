// Named adapters from the proxy's and the registry watch's events to metrics and dashboard stats,
// so the composition root wires components instead of holding inline lambdas.
import { ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { ProxyEvents } from '../proxy/edge-context.js';
import type { RegistryWatchEvents } from '../registry/registry-watch.js';
import { newConflicts } from '../table/declared-routes.js';
import type { TableListener } from '../table/table-store.js';
import type { BalancerMetrics } from './metrics.js';
import type { TrafficStats } from './stats.js';

/**
 * Requests, retries, ejections, budget refusals and fail-open picks; a request no route matched counts
 * as service 'none'.
 */
export function proxyEventsFor(metrics: BalancerMetrics, stats: TrafficStats): ProxyEvents {
  return {
    onResponse(service, _backend, status, seconds) {
      const name = service || 'none';
      metrics.observeRequest(name, status, seconds);
      stats.record(name, status);
    },
    onRetry: (service) => metrics.retries.inc({ service }),
    onEject: (service) => metrics.ejections.inc({ service }),
    onBudgetExhausted: (service) => metrics.retryBudgetExhausted.inc({ service }),
    onFailOpen: (service) => metrics.observeFailOpen(service),
  };
}

/** Registry health: invalid values, applied batches, revision, reconnects, connection state, drift. */
export function watchEventsFor(metrics: BalancerMetrics): RegistryWatchEvents {
  return {
    onInvalid: () => metrics.invalidEntries.inc(),
    onApplied(revision, _changes, applyMs) {
      metrics.registryRevision.set(revision);
      metrics.lastSync.set(Date.now() / 1000);
      metrics.tableApply.observe(applyMs / 1000);
    },
    onRevision: (revision) => metrics.registryRevision.set(revision),
    onReconnect: () => metrics.watchReconnects.inc(),
    onConnection: (state) => metrics.etcdConnected.set(state === 'connected' ? 1 : 0),
    onDrift: (n) => metrics.drift.inc(n),
  };
}

/** Route conflicts the new table resolved that the last did not: logged once each and counted. */
export function conflictReporter(metrics: BalancerMetrics, log: Logger): TableListener {
  return (prev, next) => {
    for (const c of newConflicts(prev.declared, next.declared)) {
      metrics.routeConflicts.inc();
      log.warn(
        {
          host: c.host ?? null,
          pathPrefix: c.pathPrefix,
          reason: c.reason,
          winner: c.winner,
          losers: c.losers,
          code: ErrorCode.routeConflict,
        },
        'declared route conflict resolved',
      );
    }
  };
}
