// Sidekick metrics, on a registry of its own (never prom-client's global one).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export function createSidekickMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: 'sidekick_process_' });
  return {
    registry,
    entriesPublished: new Gauge({
      name: 'sidekick_entries_published',
      help: 'Registry entries this sidekick currently publishes',
      registers: [registry],
    }),
    yieldedEntries: new Gauge({
      name: 'sidekick_yielded_entries',
      help: 'Entries of this node held by another live sidekick with the same --node (ERR_DUPLICATE_NODE)',
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'sidekick_reconciles_total',
      help: 'Reconciles run, by kind (container|full) and result (ok|error)',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    dockerEvents: new Counter({
      name: 'sidekick_docker_events_total',
      help: 'Docker container events received, by action',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    etcdErrors: new Counter({
      name: 'sidekick_etcd_errors_total',
      help: 'Failed etcd operations',
      registers: [registry],
    }),
    dockerErrors: new Counter({
      name: 'sidekick_docker_errors_total',
      help: 'Failed Docker API calls and event stream disconnects',
      registers: [registry],
    }),
    leaseLosses: new Counter({
      name: 'sidekick_lease_losses_total',
      help: 'Leases lost (expired, revoked or wiped) and replaced',
      registers: [registry],
    }),
    lastReconcile: new Gauge({
      name: 'sidekick_last_reconcile_timestamp_seconds',
      help: 'Unix time of the last successful full reconcile',
      registers: [registry],
    }),
    dockerConnected: new Gauge({
      name: 'sidekick_docker_connected',
      help: '1 while the Docker event stream is connected',
      registers: [registry],
    }),
    etcdConnected: new Gauge({
      name: 'sidekick_etcd_connected',
      help: '1 while the last etcd operation succeeded',
      registers: [registry],
    }),
  };
}

export type SidekickMetrics = ReturnType<typeof createSidekickMetrics>;
