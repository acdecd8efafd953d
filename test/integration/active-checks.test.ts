// Active health checks through the balancer program, real etcd and real backends on loopback: a
// backend whose check fails gets no new requests while its sibling serves, and gets them again once
// the check passes; a TCP check; every backend unhealthy fails open and is counted; with --workers 2
// the backend sees one probe per interval (the primary probes), both workers avoid it, and a worker
// restarted meanwhile avoids it from its first request.
import { Agent, createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBalancerProgram, type BalancerProgram } from '../helpers/balancer-program.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { get } from '../helpers/load.js';
import { stopAllPrograms } from '../helpers/program.js';
import { metric } from '../helpers/metrics.js';
import { closeHttp, listen } from '../helpers/servers.js';
import { delay, waitFor } from '../helpers/wait.js';

interface CheckedBackend {
  readonly name: string;
  port: number;
  /** What GET /healthz answers. */
  health: number;
  probes: number;
  /** Requests other than the probes. */
  traffic: number;
  readonly server: Server;
}

let etcd: EtcdServer;
let client: Etcd3;
const servers: Server[] = [];
const netServers: NetServer[] = [];
// A new connection per request, so that cluster workers share the requests.
const fresh = new Agent({ keepAlive: false });
let serviceCount = 0;

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
});
afterEach(async () => {
  await stopAllPrograms();
  for (const s of servers.splice(0)) await closeHttp(s);
  for (const s of netServers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});
afterAll(async () => {
  fresh.destroy();
  await etcd?.destroy();
});

async function checkedBackend(name: string, port = 0): Promise<CheckedBackend> {
  const server = createServer((req, res) => {
    req.resume();
    if (req.url === '/healthz') {
      b.probes++;
      res.statusCode = b.health;
      res.end('health\n');
      return;
    }
    b.traffic++;
    res.end(`served by ${name}\n`);
  });
  const b: CheckedBackend = { name, port, health: 200, probes: 0, traffic: 0, server };
  servers.push(server);
  if (port === 0) b.port = await listen(server);
  else await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return b;
}

// The longest timeout a 1 s interval allows: a probe of a healthy backend must not time out because
// this machine is busy (the backends live in the test process).
const HTTP_CHECK = { path: '/healthz', interval: '1s', timeout: '1s' };

/** `check` undefined: a sibling with no check at all, so its state cannot move under a loaded machine. */
async function register(service: string, b: { name: string; port: number }, check?: unknown): Promise<void> {
  await client.put(`/services/${service}/${b.name}`).value(JSON.stringify({ host: '127.0.0.1', port: b.port, check }));
}

function newService(): string {
  return `hc${++serviceCount}-${process.pid}`;
}

interface TableJson {
  services: Array<{ name: string; backends: Array<{ instance: string; state: string }> }>;
}

async function states(bal: BalancerProgram, service: string): Promise<Record<string, string>> {
  const t = (await (await fetch(`${bal.admin}/api/table`)).json()) as TableJson;
  const s = t.services.find((x) => x.name === service);
  return Object.fromEntries((s?.backends ?? []).map((b) => [b.instance, b.state]));
}

async function waitState(bal: BalancerProgram, service: string, want: Record<string, string>): Promise<void> {
  let last: Record<string, string> = {};
  await waitFor(
    `states ${JSON.stringify(want)} (last ${JSON.stringify(last)})`,
    async () => {
      last = await states(bal, service);
      return Object.entries(want).every(([k, v]) => last[k] === v);
    },
    10_000,
    25,
  );
}

/** `n` concurrent GETs, each on its own connection; the bodies' tally. */
async function burst(bal: BalancerProgram, n: number): Promise<Map<string, number>> {
  const results = await Promise.all(Array.from({ length: n }, () => get(`${bal.proxy}/x`, { agent: fresh })));
  const tally = new Map<string, number>();
  for (const r of results)
    tally.set(`${r.status} ${r.body.trim()}`, (tally.get(`${r.status} ${r.body.trim()}`) ?? 0) + 1);
  return tally;
}

/** A new service of `a` (HTTP check) and `b` (no check), both up behind a balancer started with `args`. */
async function checkedAndPlain(
  args: readonly string[],
): Promise<{ service: string; a: CheckedBackend; b: CheckedBackend; bal: BalancerProgram }> {
  const service = newService();
  const a = await checkedBackend('a');
  const b = await checkedBackend('b');
  await register(service, a, HTTP_CHECK);
  await register(service, b);
  const bal = await startBalancerProgram(etcd.endpoint, ['--default-service', service, ...args]);
  await waitState(bal, service, { a: 'up', b: 'up' });
  return { service, a, b, bal };
}

/** Requests served per worker id, as the workers last reported them to the primary (every second). */
async function servedByWorker(bal: BalancerProgram): Promise<Map<number, number>> {
  const r = (await (await fetch(`${bal.admin}/readyz`)).json()) as {
    workersServed: Array<{ worker: number; served: number }>;
  };
  return new Map(r.workersServed.map((w) => [w.worker, w.served]));
}

/** Bursts of requests until every worker in `ids` reports more served than in `before`. */
async function untilServedBy(bal: BalancerProgram, ids: readonly number[], before: Map<number, number>): Promise<void> {
  await waitFor(
    `workers ${ids.join(', ')} served`,
    async () => {
      const now = await servedByWorker(bal);
      if (ids.every((id) => (now.get(id) ?? 0) > (before.get(id) ?? 0))) return true;
      await burst(bal, 10);
      return false;
    },
    15_000,
    100,
  );
}

/** Worker id by pid, from the workers' "worker listening" lines. */
function workerPids(bal: BalancerProgram): Map<number, number> {
  const lines = bal.p.logs().filter((l) => l.msg === 'worker listening');
  return new Map(lines.map((l) => [Number(l.pid), Number(l.worker)]));
}

describe('active health checks', () => {
  it('a backend whose check answers 500 gets no requests while its sibling serves; again once it passes', async () => {
    const { service, a, bal } = await checkedAndPlain(['--log-format', 'json']);
    await waitFor('a probed', () => a.probes > 0, 5000);

    a.health = 500;
    await waitState(bal, service, { a: 'unhealthy', b: 'up' });
    a.traffic = 0;
    expect(await burst(bal, 40)).toEqual(new Map([['200 served by b', 40]]));
    expect(a.traffic).toBe(0);
    expect(await metric(bal.admin, `balancer_backends{service="${service}",state="unhealthy"}`)).toBe(1);
    expect(await metric(bal.admin, `balancer_backend_up{service="${service}",backend="a"}`)).toBe(0);
    const warn = bal.p.logs().find((l) => l.msg === 'backend unhealthy: active check failed, no new requests');
    expect(warn).toMatchObject({ backend: `${service}/a`, reason: 'status 500', component: 'health' });

    a.health = 200;
    await waitState(bal, service, { a: 'up', b: 'up' });
    // Until a has served (a probe timing out on a busy machine may flip it once more): every answer a 200.
    await waitFor(
      'a serves again',
      async () => {
        const back = await burst(bal, 20);
        expect((back.get('200 served by a') ?? 0) + (back.get('200 served by b') ?? 0)).toBe(20);
        return a.traffic > 0;
      },
      10_000,
      0,
    );
    expect(await metric(bal.admin, `balancer_fail_open_total{service="${service}"}`)).toBe(0);
  });

  it('a TCP check: a port that refuses is unhealthy before any request tried it, and up once it accepts', async () => {
    const service = newService();
    const b = await checkedBackend('b');
    // A port that was free a moment ago: nothing listens there until the test says so.
    const probe = createNetServer();
    const port = await listen(probe);
    await new Promise<void>((r) => probe.close(() => r()));
    await register(service, { name: 'c', port }, { tcp: true, interval: '1s', timeout: '500ms' });
    await register(service, b);
    const bal = await startBalancerProgram(etcd.endpoint, ['--default-service', service]);
    await waitState(bal, service, { c: 'unhealthy', b: 'up' });
    expect(await burst(bal, 20)).toEqual(new Map([['200 served by b', 20]]));
    // No request went to c: nothing was refused, so nothing was ejected.
    expect(await metric(bal.admin, `balancer_ejections_total{service="${service}"}`)).toBe(0);

    const c = await checkedBackend('c', port);
    await waitState(bal, service, { c: 'up', b: 'up' });
    await waitFor('c serves', async () => (await burst(bal, 10), c.traffic > 0), 10_000, 0);
  });

  it('when every backend is unhealthy they are still tried (fail open), and each such pick is counted', async () => {
    const service = newService();
    const a = await checkedBackend('a');
    const b = await checkedBackend('b');
    a.health = 500;
    b.health = 503;
    await register(service, a, HTTP_CHECK);
    await register(service, b, HTTP_CHECK);
    const bal = await startBalancerProgram(etcd.endpoint, ['--default-service', service]);
    await waitState(bal, service, { a: 'unhealthy', b: 'unhealthy' });
    const tally = await burst(bal, 30);
    expect((tally.get('200 served by a') ?? 0) + (tally.get('200 served by b') ?? 0)).toBe(30);
    expect(await metric(bal.admin, `balancer_fail_open_total{service="${service}"}`)).toBe(30);
    expect(await metric(bal.admin, `balancer_backends{service="${service}",state="unhealthy"}`)).toBe(2);
  });

  it('--workers 2: only the primary probes (one probe of a 1 h check); both workers avoid a failing one', async () => {
    const service = newService();
    // p's interval is an hour: each process that probes sends exactly one probe, at once.
    const p = await checkedBackend('p');
    const a = await checkedBackend('a');
    const b = await checkedBackend('b');
    await register(service, p, { path: '/healthz', interval: '1h', timeout: '1s' });
    await register(service, a, HTTP_CHECK);
    await register(service, b);
    const bal = await startBalancerProgram(etcd.endpoint, ['--default-service', service, '--workers', '2']);
    await waitState(bal, service, { p: 'up', a: 'up', b: 'up' });
    const ids = [...workerPids(bal).values()];
    expect(ids).toHaveLength(2);
    // Both workers have the service in their tables (they served it); a worker that probed would
    // have sent its probe when the service entered its table, before it served.
    await untilServedBy(bal, ids, new Map());
    await delay(500); // its probe, were there one, would have arrived by now
    expect(p.probes).toBe(1);

    a.health = 500;
    await waitState(bal, service, { a: 'unhealthy' });
    // The workers get the verdict over IPC right after the primary's flip; a round of requests on
    // fresh connections (the cluster deals them to both workers) must then leave `a` alone.
    await waitFor(
      'a round of requests that avoids a',
      async () => {
        a.traffic = 0;
        await burst(bal, 20);
        return a.traffic === 0;
      },
      5000,
      0,
    );
    const servedBefore = await servedByWorker(bal);
    a.traffic = 0;
    for (let round = 0; round < 3; round++) {
      const tally = await burst(bal, 40);
      expect((tally.get('200 served by b') ?? 0) + (tally.get('200 served by p') ?? 0)).toBe(40);
    }
    await untilServedBy(bal, ids, servedBefore);
    expect(a.traffic).toBe(0);
  });

  it('--workers 2: a worker restarted while a backend is unhealthy avoids it from its first request', async () => {
    const { service, a, bal } = await checkedAndPlain(['--workers', '2']);
    a.health = 500;
    await waitState(bal, service, { a: 'unhealthy' });
    // a stays unhealthy from here on: no flip, so no broadcast; a new worker learns it only by asking.
    await waitFor(
      'both workers avoid a',
      async () => ((a.traffic = 0), await burst(bal, 20), a.traffic === 0),
      5000,
      0,
    );
    const before = workerPids(bal);
    const [victim] = [...before.keys()];
    process.kill(victim as number, 'SIGKILL');
    a.traffic = 0;
    // Requests on fresh connections all along, so the new worker gets some as soon as it listens.
    const isReady = async (): Promise<boolean> => {
      const r = (await (await fetch(`${bal.admin}/readyz`)).json()) as { workersReady: number };
      return r.workersReady === 2 && workerPids(bal).size === 3;
    };
    await waitFor(
      'a new worker, ready',
      async () => (
        await Promise.allSettled(Array.from({ length: 10 }, () => get(`${bal.proxy}/x`, { agent: fresh }))),
        isReady()
      ),
      15_000,
      0,
    );
    const fresher = [...workerPids(bal)].find(([pid]) => !before.has(pid))?.[1] as number;
    await untilServedBy(bal, [fresher], new Map());
    expect(a.traffic).toBe(0);
  });
});
