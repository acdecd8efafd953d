// Balancer metrics on a registry of its own. Per-backend and per-service gauges are computed at
// scrape time from the live table, so series of vanished backends disappear by construction
// (fabio removes them on swap; Traefik's stale series were a long-running bug).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RouteTable } from '../types.js';

export interface BackendStateSource {
  table(): RouteTable;
  isEjected(id: string): boolean;
  /** Failed its active check (see proxy/health). */
  isUnhealthy(id: string): boolean;
  inflight(): number;
  /** The TLS certificates served now (name, notAfter), when the TLS listener is on. */
  certificates?(): ReadonlyArray<{ readonly name: string; readonly notAfter: Date }>;
}

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type BackendState = 'up' | 'unhealthy' | 'ejected' | 'draining';

/** Draining (the operator's word) first, then the active check's verdict, then passive ejection. */
export function backendState(
  b: { id: string; entry: { draining: boolean; weight: number } },
  src: { isEjected(id: string): boolean; isUnhealthy(id: string): boolean },
): BackendState {
  if (b.entry.draining || b.entry.weight === 0) return 'draining';
  if (src.isUnhealthy(b.id)) return 'unhealthy';
  return src.isEjected(b.id) ? 'ejected' : 'up';
}

export function createBalancerMetrics(source: BackendStateSource, registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: 'balancer_process_' });
  const requests = new Counter({
    name: 'balancer_requests_total',
    help: 'Proxied requests by service and status code',
    labelNames: ['service', 'code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'balancer_request_duration_seconds',
    help: 'Request duration from arrival to response end, by service',
    labelNames: ['service'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const m = {
    registry,
    requests,
    duration,
    retries: new Counter({
      name: 'balancer_retries_total',
      help: 'Requests retried on another backend after a connect failure',
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    retryBudgetExhausted: new Counter({
      name: 'balancer_retry_budget_exhausted_total',
      help: 'Retries refused because the retry budget was spent',
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    ejections: new Counter({
      name: 'balancer_ejections_total',
      help: 'Backends ejected after a connect failure',
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    failOpen: new Counter({
      name: 'balancer_fail_open_total',
      help: 'Backends picked although unhealthy or ejected, because every usable backend of the service was',
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    registryRevision: new Gauge({
      name: 'balancer_registry_revision',
      aggregator: 'max',
      help: 'etcd revision the route table reflects',
      registers: [registry],
    }),
    lastSync: new Gauge({
      name: 'balancer_last_sync_timestamp_seconds',
      aggregator: 'max',
      help: 'Unix time of the last applied registry snapshot or change',
      registers: [registry],
    }),
    invalidEntries: new Counter({
      name: 'balancer_invalid_entries_total',
      aggregator: 'max', // every worker watches the same registry: summing would count it N times
      help: 'Registry values skipped as invalid (entries and routes)',
      registers: [registry],
    }),
    routeConflicts: new Counter({
      name: 'balancer_route_conflicts_total',
      aggregator: 'max', // every worker derives the same table: summing would count it N times
      help: 'Declared routes that conflicted with a flag, a route key, another service or another instance',
      registers: [registry],
    }),
    watchReconnects: new Counter({
      name: 'balancer_watch_reconnects_total',
      aggregator: 'max', // every worker watches the same registry: summing would count it N times
      help: 'Watch losses recovered by a fresh snapshot',
      registers: [registry],
    }),
    drift: new Counter({
      name: 'balancer_registry_drift_total',
      aggregator: 'max', // every worker watches the same registry: summing would count it N times
      help: 'Changes found by the periodic consistency check (should stay 0)',
      registers: [registry],
    }),
    udpEntries: new Gauge({
      name: 'balancer_udp_entries',
      aggregator: 'max', // every worker has the same table: summing would multiply it
      help: 'Registry entries with "protocol": "udp": valid, never proxied to',
      registers: [registry],
      collect() {
        this.set(source.table().udpEntries);
      },
    }),
    etcdConnected: new Gauge({
      name: 'balancer_etcd_connected',
      aggregator: 'max',
      help: '1 while the registry watch is connected',
      registers: [registry],
    }),
    tableApply: new Histogram({
      name: 'balancer_table_apply_seconds',
      help: 'Time to apply one batch of registry changes',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
    backends: new Gauge({
      name: 'balancer_backends',
      aggregator: 'max', // every worker has the same table: summing would multiply it
      help: 'Backends per service and state (up, unhealthy, ejected, draining)',
      labelNames: ['service', 'state'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [name, view] of source.table().services) {
          const counts: Record<BackendState, number> = { up: 0, unhealthy: 0, ejected: 0, draining: 0 };
          for (const b of view.backends) counts[backendState(b, source)]++;
          for (const [state, n] of Object.entries(counts)) this.set({ service: name, state }, n);
        }
      },
    }),
    backendUp: new Gauge({
      name: 'balancer_backend_up',
      aggregator: 'max',
      help: '1 when the backend takes new requests, 0 when unhealthy, ejected or draining',
      labelNames: ['service', 'backend'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [name, view] of source.table().services) {
          for (const b of view.backends)
            this.set({ service: name, backend: b.instance }, backendState(b, source) === 'up' ? 1 : 0);
        }
      },
    }),
    clientRequests: new Counter({
      name: 'balancer_client_requests_total',
      help: 'Requests received from clients, by protocol (HTTP/1.0, HTTP/1.1, HTTP/2) and TLS',
      labelNames: ['protocol', 'tls'] as const,
      registers: [registry],
    }),
    tlsHandshakes: new Counter({
      name: 'balancer_tls_handshakes_total',
      help: 'TLS handshakes on the HTTPS listener, by result (ok, error)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    tlsCertificateErrors: new Counter({
      name: 'balancer_tls_certificate_errors_total',
      help: 'Certificate loads that failed after start (the previous certificate kept serving)',
      registers: [registry],
    }),
    tlsCertificateExpiry: new Gauge({
      name: 'balancer_tls_certificate_expiry_seconds',
      aggregator: 'min',
      help: 'Seconds until each served certificate expires (negative: expired)',
      labelNames: ['name'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const c of source.certificates?.() ?? []) this.set({ name: c.name }, (c.notAfter.getTime() - now) / 1000);
      },
    }),
    inflight: new Gauge({
      name: 'balancer_inflight_requests',
      help: 'Requests being proxied now',
      registers: [registry],
      collect() {
        this.set(source.inflight());
      },
    }),
  };
  // Label lookups cost a hash per call: keep the children of the hot-path series.
  const requestChildren = new Map<string, { inc(): void }>();
  const protocolChildren = new Map<string, { inc(): void }>();
  const durationChildren = new Map<string, { observe(v: number): void }>();
  const failOpenChildren = new Map<string, { inc(): void }>();
  return {
    ...m,
    /** Hot path: one cached child lookup per series. */
    observeRequest(service: string, code: number, seconds: number): void {
      const key = `${service}\u0000${code}`;
      let c = requestChildren.get(key);
      if (!c) requestChildren.set(key, (c = requests.labels(service, String(code))));
      c.inc();
      let d = durationChildren.get(service);
      if (!d) durationChildren.set(service, (d = duration.labels(service)));
      d.observe(seconds);
    },
    /** Hot path: one cached child per protocol and TLS flag. */
    observeClientRequest(protocol: string, tls: boolean): void {
      const key = tls ? `${protocol} tls` : protocol;
      let c = protocolChildren.get(key);
      if (!c) protocolChildren.set(key, (c = m.clientRequests.labels(protocol, String(tls))));
      c.inc();
    },
    /** Per pick while a service is down to unhealthy or ejected backends: a cached child per service. */
    observeFailOpen(service: string): void {
      let c = failOpenChildren.get(service);
      if (!c) failOpenChildren.set(service, (c = m.failOpen.labels(service)));
      c.inc();
    },
    /** Drops the per-service series of services that left the table. */
    forgetServices(gone: Iterable<string>): void {
      for (const service of gone) {
        for (const key of requestChildren.keys()) {
          if (!key.startsWith(`${service}\u0000`)) continue;
          requestChildren.delete(key);
          requests.remove(service, key.slice(service.length + 1));
        }
        if (durationChildren.delete(service)) duration.remove(service);
        failOpenChildren.delete(service);
        for (const perService of [m.retries, m.retryBudgetExhausted, m.ejections, m.failOpen])
          perService.remove(service);
      }
    },
  };
}

export type BalancerMetrics = ReturnType<typeof createBalancerMetrics>;
