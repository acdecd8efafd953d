// The primary of --workers N: forks the workers that share the proxy port (node:cluster), re-forks
// one that exits, serves the admin listener and aggregates the workers' metrics. It keeps a registry
// watch of its own so /api/table and readiness answer without asking the workers, and probes the
// backends from that table for all of them (active checks, relayed over IPC). The process-level
// parts (signals, stderr) are handed in by main.ts.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { Backoff } from '../common/backoff.js';
import { createEtcdClient } from '../common/etcd-client.js';
import { ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { createAdminServer } from './admin/admin.js';
import { isWorkerStateMessage, WorkerStates } from './admin/worker-state.js';
import { Balancer } from './balancer.js';
import type { BalancerConfig } from './config.js';
import { healthMessage, isHealthSyncMessage } from './proxy/health/active-checks.js';

export interface PrimaryProcess {
  /** Resolves with the signal's name at SIGTERM/SIGINT. */
  waitForSignal(): Promise<string>;
  /** Calls back at every SIGHUP. */
  onReload(listener: () => void): void;
  /** A message for the operator on stderr. */
  fail(message: string): void;
}

interface WorkerMessage {
  type?: string;
  proxy?: string;
}

// A worker that keeps crashing is re-forked after 0.25–0.5 s, then twice as long each time, up to
// 15–30 s; one that had run for a minute counts as healthy again.
const REFORK_BACKOFF = { initialMs: 500, maxMs: 30_000 };
const STABLE_UPTIME_MS = 60_000;

function stopWorker(w: Worker, killAfterMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => w.process.kill('SIGKILL'), killAfterMs);
    w.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    w.process.kill('SIGTERM');
  });
}

/**
 * A send to a worker that has just died (killed, crashed) fails with EPIPE or a closed channel,
 * emitted as the worker's 'error' event: without a listener that event would crash the primary
 * and every other worker with it. The exit handler re-forks the worker; here it is only logged.
 */
export function guardWorker(
  w: { readonly id: number; on(event: 'error', listener: (err: Error) => void): unknown },
  log: Logger,
): void {
  w.on('error', (err: Error) =>
    log.warn({ err, worker: w.id, code: ErrorCode.workerIpc }, 'message to a worker failed (it is exiting)'),
  );
}

export async function runPrimary(config: BalancerConfig, log: Logger, proc: PrimaryProcess): Promise<number> {
  const etcd = createEtcdClient(config);
  // The primary probes (it watches the registry anyway) and relays the verdicts: one probe per
  // backend and interval however many workers there are, and every worker avoids the same backends.
  // At most once per turn (ActiveChecks batches the flips), with the whole set.
  const tellWorkers = (unhealthy: readonly string[]): void => {
    const msg = healthMessage(unhealthy);
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(msg);
  };
  const balancer = new Balancer({
    config,
    etcd,
    log,
    admin: false,
    proxyListener: false,
    onHealthChange: tellWorkers,
  });
  const ready = new Set<number>();
  let stopping = false;
  let announceProxy!: (addr: string) => void;
  const proxyAddress = new Promise<string>((r) => (announceProxy = r));
  const aggregator = new AggregatorRegistry();
  const backoff = new Backoff(REFORK_BACKOFF);
  const forkedAt = new Map<number, number>();
  const states = new WorkerStates();
  const fork = (): Worker => {
    const w = cluster.fork();
    forkedAt.set(w.id, Date.now());
    guardWorker(w, log);
    w.on('message', (msg: WorkerMessage) => {
      if (isWorkerStateMessage(msg)) return states.update(w.id, msg.state);
      if (msg?.type === 'ready') ready.add(w.id);
      // Answered in this turn, so the verdicts reach the worker before the answer to its listen.
      if (isHealthSyncMessage(msg) && w.isConnected()) w.send(healthMessage(balancer.checks.unhealthy()));
      if (msg?.type === 'listening' && msg.proxy) announceProxy(msg.proxy);
    });
    return w;
  };
  cluster.on('exit', (w, code, signal) => {
    ready.delete(w.id);
    states.drop(w.id);
    const uptimeMs = Date.now() - (forkedAt.get(w.id) ?? 0);
    forkedAt.delete(w.id);
    if (stopping) return;
    if (uptimeMs >= STABLE_UPTIME_MS) backoff.reset();
    const delayMs = backoff.next();
    log.error({ worker: w.id, code, signal, uptimeMs, delayMs }, 'worker exited; starting a new one');
    setTimeout(() => !stopping && fork(), delayMs);
  });
  for (let i = 0; i < config.workers; i++) fork();
  // Each worker reloads its own certificates (and reopens its access log).
  proc.onReload(() => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  });
  const own = balancer.adminSource();
  const admin = createAdminServer(
    {
      ...own,
      // The table is the primary's own (same registry); ejections and in-flight are the workers'.
      isEjected: (id) => states.isEjected(id),
      inflight: (id) => states.inflight(id),
      readiness: () => {
        const r = own.readiness();
        const allReady = ready.size === config.workers && !stopping;
        return {
          ready: r.ready && allReady,
          detail: {
            ...r.detail,
            inflight: states.inflightTotal(),
            workers: config.workers,
            workersReady: ready.size,
            workersServed: states.served(),
          },
        };
      },
      metrics: async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }),
      // The primary proxies nothing: /api/stats says so (see statsJson) instead of showing zeros.
      stats: undefined,
      certificates: () => states.certificates(),
    },
    log,
  );
  await balancer.start();
  try {
    const a = await admin.listen(config.admin);
    // Workers share one listener (node:cluster): the first one to listen reports its address.
    const proxy = await proxyAddress;
    const where = `${a.address}:${a.port}`;
    log.info({ proxy, admin: where, address: where, workers: config.workers }, 'balancer listening');
  } catch (err) {
    proc.fail(`balancer: --admin: cannot listen: ${(err as Error).message}\n`);
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGKILL');
    await balancer.stop();
    etcd.close();
    return 2;
  }
  const reason = await proc.waitForSignal();
  stopping = true;
  log.info({ reason }, 'shutting down workers');
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  await Promise.all(workers.map((w) => stopWorker(w, config.grace + 5000)));
  await admin.close();
  await balancer.stop();
  etcd.close();
  return 0;
}
