// Active health checks through the balancer program, real etcd and real backends on loopback: a
// backend whose check fails gets no new requests while its sibling serves, and gets them again once
// the check passes; a TCP check; every backend unhealthy fails open and is counted; with --workers 2
// the backend sees one probe per interval (the primary probes), and both workers avoid it.
import { Agent, createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBalancerProgram, type BalancerProgram } from '../helpers/balancer-program.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { get } from '../helpers/load.js';
import { stopAllPrograms } from '../helpers/program.js';
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

async function register(service: string, b: { name: string; port: number }, check: unknown): Promise<void> {
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

async function metric(bal: BalancerProgram, series: string): Promise<number> {
  const text = await (await fetch(`${bal.admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** `n` concurrent GETs, each on its own connection; the bodies' tally. */
async function burst(bal: BalancerProgram, n: number): Promise<Map<string, number>> {
  const results = await Promise.all(Array.from({ length: n }, () => get(`${bal.proxy}/x`, { agent: fresh })));
  const tally = new Map<string, number>();
  for (const r of results)
    tally.set(`${r.status} ${r.body.trim()}`, (tally.get(`${r.status} ${r.body.trim()}`) ?? 0) + 1);
  return tally;
}

describe('active health checks', () => {
  it('a backend whose check answers 500 gets no requests while its sibling serves; again once it passes', async () => {
    const service = newService();
    const a = await checkedBackend('a');
    const b = await checkedBackend('b');
    await register(service, a, HTTP_CHECK);
    await register(service, b, HTTP_CHECK);
    const bal = await startBalancerProgram(etcd.endpoint, ['--default-service', service, '--log-format', 'json']);
    await waitState(bal, service, { a: 'up', b: 'up' });
    await waitFor('both probed', () => a.probes > 0 && b.probes > 0, 5000);

    a.health = 500;
    await waitState(bal, service, { a: 'unhealthy', b: 'up' });
    a.traffic = 0;
    expect(await burst(bal, 40)).toEqual(new Map([['200 served by b', 40]]));
    expect(a.traffic).toBe(0);
    expect(await metric(bal, `balancer_backends{service="${service}",state="unhealthy"}`)).toBe(1);
    expect(await metric(bal, `balancer_backend_up{service="${service}",backend="a"}`)).toBe(0);
    const warn = bal.p.logs().find((l) => l.msg === 'backend unhealthy: active check failed, no new requests');
    expect(warn).toMatchObject({ backend: `${service}/a`, reason: 'status 500', component: 'health' });

    a.health = 200;
    await waitState(bal, service, { a: 'up', b: 'up' });
    const back = await burst(bal, 40);
    expect(back.get('200 served by a')).toBeGreaterThan(0);
    expect((back.get('200 served by a') ?? 0) + (back.get('200 served by b') ?? 0)).toBe(40);
    expect(await metric(bal, `balancer_fail_open_total{service="${service}"}`)).toBe(0);
  });

  it('a TCP check: a port that refuses is unhealthy before any request tried it, and up once it accepts', async () => {
    const service = newService();
    const b = await checkedBackend('b');
    // A port that was free a moment ago: nothing listens there until the test says so.
    const probe = createNetServer();
    const port = await listen(probe);
    await new Promise<void>((r) => probe.close(() => r()));
    await register(service, { name: 'c', port }, { tcp: true, interval: '1s', timeout: '500ms' });
    await register(service, b, HTTP_CHECK);
    const bal = await startBalancerProgram(etcd.endpoint, ['--default-service', service]);
    await waitState(bal, service, { c: 'unhealthy', b: 'up' });
    expect(await burst(bal, 20)).toEqual(new Map([['200 served by b', 20]]));
    // No request went to c: nothing was refused, so nothing was ejected.
    expect(await metric(bal, `balancer_ejections_total{service="${service}"}`)).toBe(0);

    const c = await checkedBackend('c', port);
    await waitState(bal, service, { c: 'up', b: 'up' });
    await burst(bal, 20);
    expect(c.traffic).toBeGreaterThan(0);
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
    expect(await metric(bal, `balancer_fail_open_total{service="${service}"}`)).toBe(30);
    expect(await metric(bal, `balancer_backends{service="${service}",state="unhealthy"}`)).toBe(2);
  });

  it('--workers 2: one probe per interval reaches the backend, and both workers avoid it once unhealthy', async () => {
    const service = newService();
    const a = await checkedBackend('a');
    const b = await checkedBackend('b');
    await register(service, a, HTTP_CHECK);
    await register(service, b, HTTP_CHECK);
    const bal = await startBalancerProgram(etcd.endpoint, ['--default-service', service, '--workers', '2']);
    await waitState(bal, service, { a: 'up', b: 'up' });
    await waitFor('a probed', () => a.probes > 0, 5000);

    // 1 s ± 10 %: at most floor(4000 / 900) + 1 = 5 probes in 4 s from one prober, plus one that
    // may have been waiting in this busy process when the count was read; three processes probing
    // would make about 12 (measured: 12), the two workers alone 8 to 10.
    const before = a.probes;
    await delay(4000);
    const probes = a.probes - before;
    expect(probes).toBeLessThanOrEqual(6);
    expect(probes).toBeGreaterThanOrEqual(2);

    a.health = 500;
    await waitState(bal, service, { a: 'unhealthy' });
    // The workers get the verdict over IPC right after the primary's flip; a round of requests on
    // fresh connections (the cluster deals them to both workers) must then leave `a` alone.
    const served = async (): Promise<Map<number, number>> => {
      const r = (await (await fetch(`${bal.admin}/readyz`)).json()) as {
        workersServed: Array<{ worker: number; served: number }>;
      };
      return new Map(r.workersServed.map((w) => [w.worker, w.served]));
    };
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
    const servedBefore = await served();
    a.traffic = 0;
    for (let round = 0; round < 3; round++) expect(await burst(bal, 40)).toEqual(new Map([['200 served by b', 40]]));
    expect(a.traffic).toBe(0);
    // Worker reports come every second: wait until both show requests beyond the earlier count.
    await waitFor(
      'both workers served some of the 120 requests',
      async () => {
        const now = await served();
        return (
          servedBefore.size === 2 &&
          [...servedBefore].every(([w, n]) => (now.get(w) ?? 0) > n) &&
          [...now.values()].reduce((s, n) => s + n, 0) - [...servedBefore.values()].reduce((s, n) => s + n, 0) >= 120
        );
      },
      5000,
    );
  });
});
