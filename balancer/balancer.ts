// The composition root: registry watch → table store → proxy → listener, with metrics and the admin
// listener reading the table and the proxy. Ordered shutdown (fabio, fastify): not ready → keep
// accepting for the accept grace → stop accepting → let in-flight requests finish within the grace
// period → WebSockets closed with 1001 → close the rest → stop the watch.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { createMatcher } from '../common/cidr.js';
import { ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { StatusServer } from '../common/status-server.js';
import { type AdminSource, type CertSummary, createAdminServer } from './admin/admin.js';
import { conflictReporter, proxyEventsFor, watchEventsFor } from './admin/event-adapters.js';
import { createBalancerMetrics, type BalancerMetrics } from './admin/metrics.js';
import { TrafficStats } from './admin/stats.js';
import type { WorkerProxyState } from './admin/worker-state.js';
import type { BalancerConfig } from './config.js';
import { AccessLog } from './proxy/access-log.js';
import { ActiveChecks } from './proxy/health/active-checks.js';
import { createPicker } from './proxy/pickers.js';
import { createEdgeHandlers, createProxyListener, type HandlerOptions } from './proxy/listener.js';
import type { TlsEdge } from './proxy/tls/tls-edge.js';
import { createProxy, type ProxyHandler } from './proxy/proxy.js';
import type { CertWatch } from './registry/cert-watch.js';
import { RegistryWatch } from './registry/registry-watch.js';
import { matchRoute } from './table/route-index.js';
import { TableStore } from './table/table-store.js';
import { applyTableSwap, type SwapParts } from './table-swap.js';
import { createCertWatch, createTlsEdge } from './tls-setup.js';

/** After the 1001 close frames, how long peers get to answer and close before their sockets are destroyed. */
const WEBSOCKET_CLOSE_WAIT_MS = 1000;

export interface BalancerDeps {
  readonly config: BalancerConfig;
  readonly etcd: Etcd3;
  readonly log: Logger;
  /** Workers serve traffic only; the primary process serves admin. Default true. */
  readonly admin?: boolean;
  /** Workers do not listen for traffic in the primary. Default true. */
  readonly proxyListener?: boolean;
  /** TLS session ticket keys (48 bytes) shared by the workers of one balancer. Default: random. */
  readonly ticketKeys?: Buffer;
  /** Run the active health checks here (default); a worker follows its primary's verdicts instead. */
  readonly probeBackends?: boolean;
  /** The unhealthy set changed (the primary relays it to its workers). */
  readonly onHealthChange?: (unhealthy: readonly string[]) => void;
}

export interface BalancerAddresses {
  readonly proxy: AddressInfo | undefined;
  readonly tls: AddressInfo | undefined;
  readonly admin: AddressInfo | undefined;
}

export interface Readiness {
  readonly ready: boolean;
  readonly detail: Record<string, unknown>;
}

export class Balancer {
  readonly store: TableStore;
  readonly proxy: ProxyHandler;
  readonly metrics: BalancerMetrics;
  /** Active health checks: verdicts, and the probes where this process runs them. */
  readonly checks: ActiveChecks;
  /** Per-service request and 5xx counts for the dashboard (/api/stats). */
  private readonly traffic = new TrafficStats();
  private readonly watch: RegistryWatch;
  private readonly server: Server;
  /** The HTTPS listener and its certificates, with --tls-listen. */
  private readonly tls: TlsEdge | undefined;
  private tlsPort: number | undefined;
  private readonly adminServer: StatusServer | undefined;
  /** --tls-prefix: certificates from etcd into the TLS edge. */
  private readonly certWatch: CertWatch | undefined;
  /** --access-log, in the processes that serve traffic. */
  private readonly accessLog: AccessLog | undefined;
  private readonly log: Logger;
  /** SIGTERM seen: not ready. */
  private shuttingDown = false;
  /** The accept grace is over: no new connections, keep-alive clients told to go. */
  private draining = false;

  constructor(private readonly deps: BalancerDeps) {
    const { config, log } = deps;
    this.log = log.child({ component: 'balancer' });
    this.store = new TableStore(config.defaultService, log.child({ component: 'table' }));
    const store = this.store;
    this.checks = new ActiveChecks({
      probe: deps.probeBackends !== false,
      log,
      ...(deps.onHealthChange ? { onChange: deps.onHealthChange } : {}),
    });
    // The gauges read the proxy at scrape time, so the metrics can exist before it (and feed its events).
    this.metrics = createBalancerMetrics({
      table: () => store.current,
      isEjected: (id) => this.proxy.ejector.isEjected(id),
      isUnhealthy: (id) => this.checks.isUnhealthy(id),
      inflight: () => this.proxy.inflightTotal(),
      certificates: () => this.tls?.certificates() ?? [],
    });
    this.proxy = createProxy({
      lookup: (host, path) => matchRoute(store.current, host, path),
      view: (service) => store.current.services.get(service),
      httpsPort: () => this.httpsPort(),
      picker: createPicker,
      defaultLb: config.lb,
      retries: config.retries,
      upstreamTimeoutMs: config.upstreamTimeout,
      upstreamIdleTimeoutMs: config.upstreamIdleTimeout,
      ejectCooldownMs: config.ejectCooldown,
      trustedProxies: config.trustedProxies,
      stickySecret: config.stickySecret,
      logger: log, // the proxy adds component: 'proxy'
      events: proxyEventsFor(this.metrics, this.traffic),
    });
    const proxy = this.proxy;
    const swap: SwapParts = {
      proxy,
      checks: this.checks,
      metrics: this.metrics,
      traffic: this.traffic,
      drainMs: config.drain,
    };
    this.store.subscribe((prev, next) => applyTableSwap(swap, prev, next));
    this.store.subscribe(conflictReporter(this.metrics, log.child({ component: 'table' })));
    this.watch = new RegistryWatch({
      client: deps.etcd,
      prefix: config.prefix,
      routesPrefix: config.routesPrefix,
      flagRoutes: config.route,
      defaultService: config.defaultService,
      ...(config.backendsAllow !== undefined ? { allowBackend: createMatcher(config.backendsAllow) } : {}),
      store,
      log, // the watch adds component: 'registry-watch'
      resyncMs: config.resync,
      restoreGraceMs: config.restoreGrace,
      events: watchEventsFor(this.metrics),
    });
    this.accessLog = deps.proxyListener === false ? undefined : this.openAccessLog();
    const handlerOptions: HandlerOptions = {
      proxy,
      log: this.log,
      draining: () => this.draining,
      clientTimeoutMs: config.clientTimeout,
      onRequest: (protocol, tls) => this.metrics.observeClientRequest(protocol, tls),
      accessLog: this.accessLog,
      isTrusted: createMatcher(config.trustedProxies ?? []),
    };
    const plain = createEdgeHandlers(handlerOptions, {
      redirectHttpsPort: config.redirectHttps ? () => this.httpsPort() : undefined,
    });
    this.server = createProxyListener(plain, config.clientTimeout);
    this.tls = deps.proxyListener === false ? undefined : createTlsEdge(deps, handlerOptions, this.metrics);
    this.certWatch = this.tls === undefined ? undefined : createCertWatch(deps, this.tls, this.metrics);
    this.adminServer = deps.admin === false ? undefined : createAdminServer(this.adminSource(), this.log);
  }

  private openAccessLog(): AccessLog | undefined {
    const { accessLog, accessLogFormat } = this.deps.config;
    if (accessLog === 'off') return undefined;
    const log = this.deps.log.child({ component: 'access-log' });
    return new AccessLog({
      target: accessLog,
      format: accessLogFormat,
      onError: (err, count) =>
        log.error({ err, count, target: accessLog, code: ErrorCode.accessLog }, 'access log write failed'),
    });
  }

  /** What the admin listener reads; the primary of --workers N builds its own from this one. */
  adminSource(): AdminSource {
    return {
      table: () => this.store.current,
      isEjected: (id) => this.proxy.ejector.isEjected(id),
      isUnhealthy: (id) => this.checks.isUnhealthy(id),
      inflight: (id) => this.proxy.inflight.get(id),
      readiness: () => this.readiness(),
      metrics: async () => ({
        contentType: this.metrics.registry.contentType,
        body: await this.metrics.registry.metrics(),
      }),
      stats: () => this.traffic.snapshot(),
      certificates: () => this.certificateSummaries(),
    };
  }

  private certificateSummaries(): CertSummary[] {
    return (this.tls?.certificates() ?? []).map((c) => ({
      name: c.name,
      source: c.slot.kind,
      dnsNames: c.dnsNames,
      notAfter: c.notAfter.toISOString(),
    }));
  }

  /** This process's ejections and in-flight counts, for a worker's report to the primary. */
  workerState(): WorkerProxyState {
    return {
      ejected: this.proxy.ejector.ejected(),
      inflight: this.proxy.inflight.entries(),
      served: this.traffic.total(),
      ...(this.tls === undefined ? {} : { certificates: this.certificateSummaries() }),
    };
  }

  readiness(): Readiness {
    const s = this.watch.status();
    const ready = this.store.ready && !this.shuttingDown;
    return {
      ready,
      detail: {
        shuttingDown: this.shuttingDown,
        snapshotApplied: this.store.ready,
        revision: this.store.current.revision,
        etcd: { connected: s.connected, lastSync: s.lastSync?.toISOString() ?? null, lastError: s.lastError ?? null },
        services: this.store.current.services.size,
        inflight: this.proxy.inflightTotal(),
      },
    };
  }

  async start(): Promise<BalancerAddresses> {
    const { config } = this.deps;
    // A log that cannot be opened (main checks it first; this is the race) stops the start, before any traffic.
    await this.accessLog?.ready.catch((err: Error) => {
      throw new Error(`--access-log: cannot open ${config.accessLog}: ${err.message}`);
    });
    this.watch.start();
    const admin = this.adminServer ? await this.adminServer.listen(config.admin) : undefined;
    let proxy: AddressInfo | undefined;
    if (this.deps.proxyListener !== false) {
      proxy = await new Promise<AddressInfo>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(config.listen.port, config.listen.host, () => {
          this.server.off('error', reject);
          resolve(this.server.address() as AddressInfo);
        });
      });
    }
    const tls = await this.tls?.start();
    this.tlsPort = tls?.port;
    this.certWatch?.start();
    return { proxy, tls, admin };
  }

  /** Where HTTPS redirects point: the bound TLS port (the configured one before it listens), else 443. */
  private httpsPort(): number {
    return this.tlsPort ?? this.deps.config.tlsListen?.port ?? 443;
  }

  /** SIGHUP: certificate files re-read now, the access log file reopened (logrotate). */
  async reload(): Promise<void> {
    this.accessLog?.reopen();
    await this.tls?.reload();
  }

  async stop(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const { grace, acceptGrace } = this.deps.config;
    if (acceptGrace > 0 && this.server.listening) {
      // Readiness is already 503: an upstream load balancer gets this long to stop sending here.
      this.log.info({ acceptGraceMs: acceptGrace }, 'shutting down: not ready, still accepting');
      await delay(acceptGrace);
    }
    this.draining = true;
    const inflight = this.proxy.inflightTotal();
    this.log.info({ inflight, graceMs: grace }, 'shutting down: not ready, draining in-flight requests');
    const closed = Promise.all([
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      this.tls?.close(), // HTTP/2 sessions get GOAWAY, idle HTTP/1.1 connections close
    ]);
    this.server.closeIdleConnections();
    const drained = await this.proxy.whenIdle(grace);
    if (!drained) {
      this.log.warn({ inflight: this.proxy.inflightTotal() }, 'grace period over; closing remaining connections');
    }
    // Upgraded sockets hold server.close() open and closeAllConnections() does not see them: end
    // them the WebSocket way (1001 Going Away), which also lets clients reconnect elsewhere at once.
    const websockets = this.proxy.openWebSockets();
    if (websockets > 0) {
      this.log.info({ websockets }, 'closing open WebSockets: 1001 going away');
      await this.proxy.goAwayWebSockets(WEBSOCKET_CLOSE_WAIT_MS);
    }
    this.server.closeAllConnections();
    this.tls?.closeAllConnections();
    await closed;
    this.proxy.close();
    this.checks.close();
    await this.certWatch?.stop();
    await this.watch.stop();
    await this.adminServer?.close();
    await this.accessLog?.close();
  }
}
