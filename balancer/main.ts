#!/usr/bin/env node
// The only balancer file that touches `process`: config, signals, exit codes, worker processes.
// --workers N > 1: the primary forks N workers that share the proxy port (node:cluster), each with
// its own registry watch and table; the primary serves the admin listener, aggregates metrics and
// runs the active health checks, whose verdicts its workers follow.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import { createEtcdClient } from '../common/etcd-client.js';
import { ConfigError } from '../common/errors.js';
import { hostPort } from '../common/registry.js';
import { createLogger, logFormat, type Logger } from '../common/logger.js';
import { renderHelp } from '../common/options.js';
import { packageVersion } from '../common/version.js';
import { WORKER_STATE_INTERVAL_MS } from './admin/worker-state.js';
import { Balancer } from './balancer.js';
import { balancerOptions, loadBalancerConfig, type BalancerConfig, type LoadedBalancerConfig } from './config.js';
import { runPrimary } from './primary.js';
import { HEALTH_SYNC, isHealthMessage } from './proxy/health/active-checks.js';
import { CertError } from './proxy/tls/cert-store.js';
import { certFilePairs, checkCertificateFiles } from './proxy/tls/tls-edge.js';

/** Set by the primary of --workers N for its workers only: not an operator option. */
const TICKET_KEYS_ENV = 'BALANCER_INTERNAL_TLS_TICKET_KEYS';

const USAGE =
  'Usage: balancer [options]\n\nProxies HTTP and WebSocket traffic to the live backends registered in etcd.';
const EXAMPLES = [
  'balancer --etcd-endpoints http://10.0.0.5:2379 --listen :80 --default-service web',
  "balancer --route 'api.example.com/v1=api' --route '*.example.com=web' --lb least-request",
  'ETCDCTL_API=3 etcdctl put /routes/api \'{"host":"api.example.com","service":"api"}\'   # a live route',
];

/** Why the access log file cannot be appended to (a missing directory, no permission), if it cannot. */
function accessLogProblem(target: string): string | undefined {
  if (target === 'off' || target === 'stdout' || target === 'stderr') return undefined;
  try {
    closeSync(openSync(target, 'a'));
    return undefined;
  } catch (err) {
    return `cannot open ${target}: ${(err as Error).message}`;
  }
}

/** `host:port` as a URL authority: an IPv6 address in brackets, so the logged address can be pasted. */
function addressText(a: AddressInfo): string {
  return hostPort({ host: a.address, port: a.port });
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/** One process doing everything (workers = 1), or one worker (no admin listener). */
async function runBalancer(config: BalancerConfig, log: Logger, role: 'single' | 'worker'): Promise<number> {
  // Listen for the stop signal before anything starts: a SIGTERM during start-up still stops cleanly.
  const signalled = waitForSignal();
  const etcd = createEtcdClient(config);
  const keys = process.env[TICKET_KEYS_ENV];
  const ticketKeys = role === 'worker' && keys !== undefined ? Buffer.from(keys, 'base64') : undefined;
  const balancer = new Balancer({
    config,
    etcd,
    log,
    admin: role === 'single',
    // A worker's primary probes the backends and sends the verdicts (primary.ts).
    probeBackends: role === 'single',
    ...(ticketKeys ? { ticketKeys } : {}),
  });
  if (role === 'worker') {
    process.on('message', (msg) => {
      if (isHealthMessage(msg)) balancer.checks.follow(msg.unhealthy);
    });
    // Ask for the verdicts now: they arrive before the answer to this worker's listen (one channel).
    process.send?.(HEALTH_SYNC);
  }
  // logrotate and certificate renewals: reload without a restart.
  process.on('SIGHUP', () => void balancer.reload());
  let addrs;
  try {
    addrs = await balancer.start();
  } catch (err) {
    process.stderr.write(`balancer: cannot listen: ${(err as Error).message} (check --listen and --admin)\n`);
    await balancer.stop();
    etcd.close();
    return 2;
  }
  if (role === 'worker') {
    // Constructing one installs prom-client's worker-side listener that answers the primary.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([balancer.metrics.registry]);
    process.send?.({ type: 'listening', proxy: addrs.proxy && addressText(addrs.proxy) });
    void balancer.store.whenReady.then(() => process.send?.({ type: 'ready' }));
    setInterval(
      () => process.send?.({ type: 'state', state: balancer.workerState() }),
      WORKER_STATE_INTERVAL_MS,
    ).unref();
  }
  // A worker's line has its own message: "balancer listening" is said once, with both addresses.
  log.info(
    {
      proxy: addrs.proxy && addressText(addrs.proxy),
      tls: addrs.tls && addressText(addrs.tls),
      admin: addrs.admin && addressText(addrs.admin),
      address: addrs.admin && addressText(addrs.admin),
      etcd: config.etcdEndpoints,
      role,
    },
    role === 'worker' ? 'worker listening' : 'balancer listening',
  );
  const reason = await signalled;
  log.info({ reason }, 'shutting down');
  await balancer.stop();
  etcd.close();
  return 0;
}

async function main(): Promise<number> {
  let loaded: LoadedBalancerConfig;
  try {
    loaded = loadBalancerConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`balancer: invalid configuration: ${p}\n`);
      return 2;
    }
    throw err;
  }
  if (loaded.help) {
    process.stdout.write(renderHelp(balancerOptions, USAGE, EXAMPLES));
    return 0;
  }
  if (loaded.version) {
    process.stdout.write(`balancer ${packageVersion()}\n`);
    return 0;
  }
  const { config } = loaded;
  if (config.tlsListen !== undefined && !cluster.isWorker) {
    try {
      checkCertificateFiles(certFilePairs(config.tlsCert, config.tlsKey));
    } catch (err) {
      if (!(err instanceof CertError)) throw err;
      const flag = config.tlsKey.includes(err.origin) ? '--tls-key' : '--tls-cert';
      process.stderr.write(`balancer: invalid configuration: ${flag}: ${err.message}\n`);
      return 2;
    }
  }
  if (!cluster.isWorker) {
    const problem = accessLogProblem(config.accessLog);
    if (problem !== undefined) {
      process.stderr.write(`balancer: invalid configuration: --access-log: ${problem}\n`);
      return 2;
    }
  }
  const log = createLogger(
    'balancer',
    config.logLevel,
    logFormat(config.logFormat, process.stdout.isTTY === true),
  ).child(cluster.isWorker ? { worker: cluster.worker?.id } : {});
  if (cluster.isWorker) return runBalancer(config, log, 'worker');
  if (config.workers > 1) {
    // Workers must sign sticky cookies with one key, or a cookie from one worker is unknown to the next.
    if (config.stickySecret === undefined) process.env.BALANCER_STICKY_SECRET = randomBytes(32).toString('base64url');
    // And share TLS session ticket keys, so a session resumes on whichever worker gets the connection.
    process.env[TICKET_KEYS_ENV] = randomBytes(48).toString('base64');
    return runPrimary(config, log, {
      waitForSignal,
      onReload: (listener) => process.on('SIGHUP', listener),
      fail: (m) => void process.stderr.write(m),
    });
  }
  return runBalancer(config, log, 'single');
}

main().then(
  (code) => {
    process.exitCode = code;
    // etcd3/grpc may keep handles open after close(); we are done either way.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`balancer: fatal: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
