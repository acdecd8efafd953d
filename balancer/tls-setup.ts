// The HTTPS edge as configured: the TLS listener (--tls-listen, its handlers the plain listener's
// plus HSTS) and, with --tls-prefix, the watch that feeds it certificates from etcd.
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../common/logger.js';
import type { BalancerMetrics } from './admin/metrics.js';
import type { BalancerConfig } from './config.js';
import { createEdgeHandlers, type HandlerOptions } from './proxy/listener.js';
import { certFilePairs, TlsEdge } from './proxy/tls/tls-edge.js';
import { CertWatch } from './registry/cert-watch.js';

type TlsMetrics = Pick<BalancerMetrics, 'tlsHandshakes' | 'tlsCertificateErrors'>;

interface TlsDeps {
  readonly config: BalancerConfig;
  readonly log: Logger;
  /** Shared by the workers of one balancer (see main.ts). */
  readonly ticketKeys?: Buffer | undefined;
}

export function createTlsEdge(deps: TlsDeps, handlerOptions: HandlerOptions, metrics: TlsMetrics): TlsEdge | undefined {
  const { config, log, ticketKeys } = deps;
  if (config.tlsListen === undefined) return undefined;
  const secure = createEdgeHandlers(handlerOptions, {
    tls: true,
    hsts: config.hsts === undefined ? undefined : `max-age=${config.hsts}`,
  });
  return new TlsEdge({
    listen: config.tlsListen,
    pairs: certFilePairs(config.tlsCert, config.tlsKey),
    log,
    onRequest: secure.onRequest,
    onUpgrade: secure.onUpgrade,
    onHandshake: (result) => metrics.tlsHandshakes.inc({ result }),
    onCertError: () => metrics.tlsCertificateErrors.inc(),
    ...(ticketKeys ? { ticketKeys } : {}),
    keepAliveTimeoutMs: config.clientTimeout,
  });
}

export function createCertWatch(
  deps: TlsDeps & { readonly etcd: Etcd3 },
  tls: TlsEdge,
  metrics: TlsMetrics,
): CertWatch | undefined {
  const { config, etcd, log } = deps;
  if (config.tlsPrefix === undefined) return undefined;
  return new CertWatch({
    client: etcd,
    prefix: config.tlsPrefix,
    log,
    sink: {
      put: (name, value, key) => tls.putEtcd(name, value.cert, value.key, key),
      delete: (name) => tls.deleteEtcd(name),
    },
    onInvalid: () => metrics.tlsCertificateErrors.inc(),
  });
}
