// Row 11, active health checks under load: three loopback backends with an HTTP check (1 s interval)
// behind a balancer with --workers 2, so the primary probes and relays its verdicts to both workers.
// One backend starts answering 500 to everything, its probes included, while 8 keep-alive clients
// send GETs. Its 500s are forgiven only until it is marked unhealthy: the moment /api/table first
// shows it (polled every 10 ms; the primary sends its workers the verdict in the turn it flips, so
// before any request started after that answer reaches a worker). Every request started after the
// mark must succeed. Failures before its first failed probe (nothing could know yet) and between
// that probe and the mark (the verdict on its way) are reported apart. Then it recovers and must
// get traffic again.
import { createServer, type Server } from 'node:http';
import { startEtcd } from '../test/helpers/etcd.js';
import { stopAllPrograms } from '../test/helpers/program.js';
import { closeHttp, listen } from '../test/helpers/servers.js';
import { delay, waitFor } from '../test/helpers/wait.js';
import { backgroundLoad, describeFailures, metric, startBalancer, table, type Balancer, type Row } from './lib.js';
import type { Scenario } from './scenarios.js';

const INTERVAL_MS = 1000;

interface Backend {
  readonly name: string;
  readonly server: Server;
  port: number;
  failing: boolean;
  /** When the first probe answered 500 (0: not yet). */
  firstFailedProbeAt: number;
  /** Arrival times of the requests that were not probes. */
  readonly arrivals: number[];
}

async function backend(name: string): Promise<Backend> {
  const b: Backend = {
    name,
    server: createServer((req, res) => {
      req.resume();
      if (req.url === '/healthz') {
        if (b.failing && b.firstFailedProbeAt === 0) b.firstFailedProbeAt = Date.now();
      } else b.arrivals.push(Date.now());
      res.statusCode = b.failing ? 500 : 200;
      res.end(b.failing ? `failing: ${name}\n` : `served by ${name}\n`);
    }),
    port: 0,
    failing: false,
    firstFailedProbeAt: 0,
    arrivals: [],
  };
  b.port = await listen(b.server);
  return b;
}

async function stateOf(bal: Balancer, service: string, instance: string): Promise<string | undefined> {
  const t = await table(bal);
  return t.services.find((s) => s.name === service)?.backends.find((x) => x.instance === instance)?.state;
}

async function activeChecksUnderLoad(): Promise<Row> {
  const etcd = await startEtcd();
  const backends: Backend[] = [];
  try {
    const service = 'checked';
    for (const name of ['a', 'b', 'c']) backends.push(await backend(name));
    const victim = backends[1] as Backend;
    const client = etcd.client();
    const check = { path: '/healthz', interval: `${INTERVAL_MS}ms`, timeout: '500ms' };
    for (const b of backends)
      await client
        .put(`/services/${service}/${b.name}`)
        .value(JSON.stringify({ host: '127.0.0.1', port: b.port, check }));
    const bal = await startBalancer(etcd.endpoint, ['--default-service', service, '--workers', '2']);
    await waitFor(
      'all three up',
      async () => (await table(bal)).services.find((s) => s.name === service)?.backends.length === 3,
      10_000,
    );
    const load = backgroundLoad(`${bal.proxyUrl}/`);
    await delay(1500);
    const faultAt = Date.now();
    victim.failing = true;
    let markedAt = 0;
    await waitFor('victim unhealthy', async () => (await stateOf(bal, service, victim.name)) === 'unhealthy', 5000, 10)
      .then(() => (markedAt = Date.now()))
      .catch(() => undefined);
    await delay(3000);
    const recoverAt = Date.now();
    victim.failing = false;
    let backAt = 0;
    await waitFor('victim up again', async () => (await stateOf(bal, service, victim.name)) === 'up', 5000, 20)
      .then(() => (backAt = Date.now()))
      .catch(() => undefined);
    const servedAgain =
      backAt > 0 &&
      (await waitFor('victim served again', () => victim.arrivals.some((t) => t > backAt), 5000, 20).catch(
        () => false,
      )) === true;
    await delay(500);
    const result = await load.stop();
    const failOpen = await metric(bal, 'balancer_fail_open_total');

    // Not marked: nothing is forgiven after the fault (and the row fails on that anyway).
    const cutoff = markedAt > 0 ? markedAt : faultAt;
    const firstFailed = victim.firstFailedProbeAt > 0 ? victim.firstFailedProbeAt : Number.POSITIVE_INFINITY;
    // A failure with no start time is counted: it cannot be shown to be early.
    const startOf = (f: { startedAt?: number }): number => f.startedAt ?? Number.POSITIVE_INFINITY;
    const counted = result.failures.filter((f) => startOf(f) >= cutoff);
    const beforeProbe = result.failures.filter((f) => startOf(f) < Math.min(firstFailed, cutoff)).length;
    const inFlight = result.failures.length - counted.length - beforeProbe;
    const notVictims = result.failures.filter((f) => f.status !== 500 || f.body.trim() !== `failing: ${victim.name}`);
    const quiet = victim.arrivals.filter((t) => t >= cutoff && t < recoverAt).length;
    const problems: string[] = [];
    if (victim.firstFailedProbeAt === 0) problems.push('no probe saw the 500');
    if (markedAt === 0) problems.push('never shown unhealthy in /api/table');
    if (counted.length > 0)
      problems.push(
        `${counted.length} failed once marked unhealthy: ${describeFailures({ ...result, failures: counted })}`,
      );
    if (notVictims.length > 0) problems.push(`${notVictims.length} failures not from the failing backend`);
    if (!servedAgain) problems.push('not back in rotation after its check passed');
    if (failOpen > 0) problems.push(`balancer_fail_open_total ${failOpen} with two healthy siblings`);
    const note =
      `after the fault: first failed probe +${victim.firstFailedProbeAt - faultAt} ms, ` +
      `unhealthy in /api/table +${markedAt - faultAt} ms; failed: ${beforeProbe} before the first failed probe, ` +
      `${inFlight} between it and the mark; reached it after the mark: ${quiet}; ` +
      `up again ${backAt - recoverAt} ms after it recovered`;
    return {
      scenario: '11 backend answers 500 under load (active checks, --workers 2)',
      sent: result.sent,
      failed: counted.length,
      convergeMs: markedAt > 0 ? markedAt - faultAt : Number.POSITIVE_INFINITY,
      stale: 0,
      target: '0 failed once unhealthy in /api/table; back after its check passes',
      pass: problems.length === 0,
      note: problems.length === 0 ? note : `${problems.join('; ')} (${note})`,
    };
  } finally {
    await stopAllPrograms();
    for (const b of backends) await closeHttp(b.server);
    await etcd.destroy();
  }
}

export const activeCheckScenarios: readonly Scenario[] = [
  { id: '11', name: 'backend answers 500 under load (active checks)', fast: true, run: activeChecksUnderLoad },
];
