// The admin listener: health, readiness, metrics and the live table as JSON.
// It is a separate listener (default 127.0.0.1:9090): the proxy port never answers admin paths.
import { sendJson, sendText, StatusServer, type Handler } from '../common/status-server.js';
import type { Logger } from '../common/logger.js';
import { backendState } from './metrics.js';
import type { RouteTable } from './types.js';

export interface AdminSource {
  table(): RouteTable;
  isEjected(id: string): boolean;
  inflight(id: string): number;
  readiness(): { ready: boolean; detail: Record<string, unknown> };
  metrics(): Promise<{ contentType: string; body: string }>;
}

/** The JSON of /api/table: what the balancer routes right now. */
export function tableJson(table: RouteTable, src: Pick<AdminSource, 'isEjected' | 'inflight'>): Record<string, unknown> {
  return {
    revision: table.revision,
    defaultService: table.defaultService ?? null,
    routes: table.routes.map((r) => ({ host: r.host ?? null, pathPrefix: r.pathPrefix, service: r.service, lb: r.lb ?? null, sticky: r.sticky, source: r.source })),
    services: [...table.services.values()].map((view) => ({
      name: view.name,
      backends: view.backends.map((b) => ({
        id: b.id,
        instance: b.instance,
        target: b.target,
        host: b.entry.host,
        port: b.entry.port,
        weight: b.entry.weight,
        draining: b.entry.draining,
        tags: b.entry.tags,
        node: b.entry.node ?? null,
        state: backendState(b, src.isEjected(b.id)),
        inflight: src.inflight(b.id),
      })),
    })),
  };
}

export function createAdminServer(src: AdminSource, log: Logger, extra: Readonly<Record<string, Handler>> = {}): StatusServer {
  return new StatusServer(
    {
      '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
      '/readyz': (_req, res) => {
        const { ready, detail } = src.readiness();
        sendJson(res, ready ? 200 : 503, { ready, ...detail });
      },
      '/metrics': async (_req, res) => {
        const m = await src.metrics();
        sendText(res, 200, m.body, m.contentType);
      },
      '/api/table': (_req, res) => sendJson(res, 200, tableJson(src.table(), src)),
      ...extra,
    },
    (err) => log.error({ err }, 'admin endpoint failed'),
  );
}
