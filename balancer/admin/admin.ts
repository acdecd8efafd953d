// The admin listener: health, readiness, metrics, the live table as JSON and a dashboard at `/`.
// It is a separate listener (default 127.0.0.1:9090): the proxy port never answers admin paths.
import { sendJson, sendText, StatusServer } from '../../common/status-server.js';
import type { Logger } from '../../common/logger.js';
import { dashboardHandler } from './dashboard.js';
import { backendState } from './metrics.js';
import type { TrafficSnapshot } from './stats.js';
import { policyJson } from '../../common/route-policy.js';
import { ruleId } from '../../common/route-spec.js';
import { DECLARED_SOURCE } from '../table/declared-routes.js';
import type { RouteRule, RouteTable } from '../types.js';

export interface AdminSource {
  table(): RouteTable;
  isEjected(id: string): boolean;
  /** Failed its active check. */
  isUnhealthy(id: string): boolean;
  inflight(id: string): number;
  readiness(): { ready: boolean; detail: Record<string, unknown> };
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Per-service request counts for /api/stats; absent where nothing is proxied (see statsJson). */
  stats?(): TrafficSnapshot;
  /** The certificates the TLS listener serves, in selection order; absent without --tls-listen. */
  certificates?(): readonly CertSummary[];
}

/** One served certificate as /api/certificates and the dashboard show it (no key material). */
export interface CertSummary {
  readonly name: string;
  readonly source: 'file' | 'etcd';
  readonly dnsNames: readonly string[];
  /** ISO 8601. */
  readonly notAfter: string;
}

const DAY_MS = 86_400_000;

/** The JSON of /api/certificates: each certificate with whole days to expiry (negative: expired). */
export function certificatesJson(certs: readonly CertSummary[], now = Date.now()): Record<string, unknown> {
  return {
    certificates: certs.map((c) => ({
      ...c,
      daysLeft: Math.floor((Date.parse(c.notAfter) - now) / DAY_MS),
    })),
  };
}

/** A route's policy fields in their route-value form (`stripPrefix`, `rateLimit`, …); {} for a plain route. */
function policiesOf(rule: RouteRule): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (rule.policy !== undefined) policyJson(rule.policy, rule.pathPrefix, out);
  return out;
}

/** A declared rule's declarers (its service's entries that declare it); null for flags and route keys. */
function declaredBy(table: RouteTable, rule: RouteRule): Array<Record<string, unknown>> | null {
  if (!rule.source.startsWith(DECLARED_SOURCE)) return null;
  return (table.declared.declarations.get(ruleId(rule)) ?? [])
    .filter((d) => d.backend.service === rule.service)
    .map(({ backend: b }) => ({
      instance: b.instance,
      container: b.entry.container?.name ?? null,
      node: b.entry.node ?? null,
    }));
}

/** The JSON of /api/table: what the balancer routes right now. */
export function tableJson(
  table: RouteTable,
  src: Pick<AdminSource, 'isEjected' | 'isUnhealthy' | 'inflight'>,
): Record<string, unknown> {
  return {
    revision: table.revision,
    defaultService: table.defaultService ?? null,
    udpEntries: table.udpEntries,
    routes: table.routes.map((r) => ({
      host: r.host ?? null,
      pathPrefix: r.pathPrefix,
      service: r.service,
      lb: r.lb ?? null,
      sticky: r.sticky,
      source: r.source,
      services: r.policy?.services?.map(({ name, weight }) => ({ name, weight })) ?? null,
      policies: policiesOf(r),
      declaredBy: declaredBy(table, r),
    })),
    conflicts: [...table.declared.conflicts]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, c]) => ({
        host: c.host ?? null,
        pathPrefix: c.pathPrefix,
        reason: c.reason,
        winner: c.winner,
        losers: c.losers,
      })),
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
        state: backendState(b, src),
        inflight: src.inflight(b.id),
      })),
    })),
  };
}

/**
 * The JSON of /api/stats. The primary of `--workers N` proxies nothing and has no `stats`: it answers
 * empty counts plus `workers: N`, and the dashboard shows no rates. Aggregating would mean asking every
 * worker over IPC on each poll (as prom-client's clusterMetrics does for /metrics); the totals are in
 * /metrics as balancer_requests_total.
 */
export function statsJson(src: Pick<AdminSource, 'stats' | 'readiness'>): TrafficSnapshot {
  if (src.stats) return src.stats();
  const { workers } = src.readiness().detail;
  return { time: Date.now(), services: {}, ...(typeof workers === 'number' ? { workers } : {}) };
}

export function createAdminServer(src: AdminSource, log: Logger): StatusServer {
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
      '/api/stats': (_req, res) => sendJson(res, 200, statsJson(src)),
      '/api/certificates': (_req, res) => sendJson(res, 200, certificatesJson(src.certificates?.() ?? [])),
      '/': dashboardHandler,
    },
    (err) => log.error({ err }, 'admin endpoint failed'),
  );
}
