// Wires the balancer: registry watch → table store → proxy, plus metrics and the admin listener.
// Ordered shutdown (fabio, fastify): not ready → stop accepting → let in-flight requests finish
// within the grace period → close the rest → stop the watch.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { StatusServer } from '../common/status-server.js';
import { createAdminServer } from './admin/admin.js';
import { createMatcher } from '../common/cidr.js';
import type { BalancerConfig } from './config.js';
import { createBalancerMetrics, type BalancerMetrics } from './admin/metrics.js';
import { createPicker } from './proxy/pickers.js';
import { createProxy, type ProxyHandler } from './proxy/proxy.js';
import { RegistryWatch } from './registry/registry-watch.js';
import { matchRoute } from './table/route-table.js';
import { TrafficStats } from './admin/stats.js';
import { goneServices, TableStore, vanishedBackends } from './table/table-store.js';

export interface BalancerDeps {
  readonly config: BalancerConfig;
  readonly etcd: Etcd3;
  readonly log: Logger;
  /** Workers serve traffic only; the primary process serves admin. Default true. */
  readonly admin?: boolean;
  /** Workers do not listen for traffic in the primary. Default true. */
  readonly proxyListener?: boolean;
}

export interface BalancerAddresses {
  readonly proxy: AddressInfo | undefined;
  readonly admin: AddressInfo | undefined;
}

export class Balancer {
  readonly store: TableStore;
  readonly proxy: ProxyHandler;
  readonly metrics: BalancerMetrics;
  /** Per-service request and 5xx counts for the dashboard (/api/stats). */
  readonly traffic = new TrafficStats();
  private readonly watch: RegistryWatch;
  private readonly server: Server;
  private readonly adminServer: StatusServer | undefined;
  private readonly log: Logger;
  private shuttingDown = false;

  constructor(private readonly deps: BalancerDeps) {
    const { config } = deps;
    this.log = deps.log.child({ component: 'balancer' });
    this.store = new TableStore(config.defaultService, deps.log.child({ component: 'table' }));
    this.proxy = createProxy({
      lookup: (host, path) => matchRoute(this.store.current, host, path),
      picker: (pickerDeps) => createPicker(pickerDeps),
      defaultLb: config.lb,
      retries: config.retries,
      upstreamTimeoutMs: config.upstreamTimeout,
      ejectCooldownMs: config.ejectCooldown,
      trustedProxies: config.trustedProxies,
      logger: deps.log, // the proxy adds component: 'proxy'
      events: {
        onResponse: (service, _backend, status, seconds) => {
          this.metrics.observeRequest(service || 'none', status, seconds);
          this.traffic.record(service || 'none', status);
        },
        onRetry: (service) => this.metrics.retries.inc({ service }),
        onEject: (service, id) => {
          this.metrics.ejections.inc({ service });
          this.log.warn(
            { service, backend: id, cooldownMs: config.ejectCooldown },
            'backend ejected after a connect failure',
          );
        },
        onBudgetExhausted: (service) => this.metrics.retryBudgetExhausted.inc({ service }),
      },
    });
    this.metrics = createBalancerMetrics({
      table: () => this.store.current,
      isEjected: (id) => this.proxy.ejector.isEjected(id),
      inflight: () => this.proxy.inflightTotal(),
    });
    this.store.subscribe((prev, next) => {
      for (const id of vanishedBackends(prev, next)) {
        this.proxy.releaseBackend(id);
        this.proxy.closeBackendSockets(id, config.drain);
      }
      const gone = goneServices(prev, next);
      if (gone.length > 0) {
        this.metrics.forgetServices(gone);
        this.traffic.forget(gone);
      }
    });
    const allow = config.backendsAllow !== undefined ? createMatcher(config.backendsAllow) : undefined;
    this.watch = new RegistryWatch({
      client: deps.etcd,
      prefix: config.prefix,
      routesPrefix: config.routesPrefix,
      flagRoutes: config.route,
      defaultService: config.defaultService,
      ...(allow ? { allowBackend: allow } : {}),
      store: this.store,
      log: deps.log, // the watch adds component: 'registry-watch'
      resyncMs: config.resync,
      restoreGraceMs: config.restoreGrace,
      events: {
        onInvalid: () => this.metrics.invalidEntries.inc(),
        onApplied: (revision, _changes, applyMs) => {
          this.metrics.registryRevision.set(revision);
          this.metrics.lastSync.set(Date.now() / 1000);
          this.metrics.tableApply.observe(applyMs / 1000);
        },
        onRevision: (revision) => this.metrics.registryRevision.set(revision),
        onReconnect: () => this.metrics.watchReconnects.inc(),
        onConnection: (state) => this.metrics.etcdConnected.set(state === 'connected' ? 1 : 0),
        onDrift: (n) => this.metrics.drift.inc(n),
      },
    });
    this.server = createServer(
      { requestTimeout: 0, headersTimeout: 30_000, connectionsCheckingInterval: 1000 },
      (req, res) => {
        // While draining, tell keep-alive clients to reconnect elsewhere after this response.
        if (this.shuttingDown) res.setHeader('connection', 'close');
        try {
          this.proxy.handleRequest(req, res);
        } catch (err) {
          // A bug in one request's handling must cost that request, never the process and its other connections.
          this.log.error(
            { err, url: req.url?.slice(0, 200), code: ErrorCode.requestHandler },
            'request handler failed',
          );
          res.destroy();
        }
      },
    );
    this.server.keepAliveTimeout = 65_000;
    this.server.on('upgrade', (req, socket, head) => {
      try {
        this.proxy.handleUpgrade(req, socket, head);
      } catch (err) {
        this.log.error({ err, url: req.url?.slice(0, 200), code: ErrorCode.requestHandler }, 'upgrade handler failed');
        socket.destroy();
      }
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // Malformed requests, oversized headers (431) and header timeouts end here, never in a crash.
      if (!socket.writable) return socket.destroy();
      const status =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? '408 Request Timeout'
            : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    });
    this.adminServer =
      deps.admin === false
        ? undefined
        : createAdminServer(
            {
              table: () => this.store.current,
              isEjected: (id) => this.proxy.ejector.isEjected(id),
              inflight: (id) => this.proxy.inflight.get(id),
              readiness: () => this.readiness(),
              metrics: async () => ({
                contentType: this.metrics.registry.contentType,
                body: await this.metrics.registry.metrics(),
              }),
              stats: () => this.traffic.snapshot(),
            },
            this.log,
          );
  }

  readiness(): { ready: boolean; detail: Record<string, unknown> } {
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
    return { proxy, admin };
  }

  async stop(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const { grace } = this.deps.config;
    this.log.info(
      { inflight: this.proxy.inflightTotal(), graceMs: grace },
      'shutting down: not ready, draining in-flight requests',
    );
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const drained = await this.proxy.whenIdle(grace);
    if (!drained)
      this.log.warn({ inflight: this.proxy.inflightTotal() }, 'grace period over; closing remaining connections');
    this.server.closeAllConnections();
    await closed;
    this.proxy.close();
    await this.watch.stop();
    await this.adminServer?.close();
  }
}
