// Which backends the balancer program sends requests to, through a real etcd and real node:http
// backends: never a udp entry, least-request away from a backend that holds its requests, no new
// requests to a draining backend while its running one finishes, and backends and listeners on ::1.
import { createServer, type IncomingHttpHeaders, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { get, runLoad } from '../helpers/load.js';
import { metric } from '../helpers/metrics.js';
import { startBalancerProgram } from '../helpers/balancer-program.js';
import { stopAllPrograms } from '../helpers/program.js';
import { waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
let client: Etcd3;
const servers: Server[] = [];

interface Backend {
  readonly port: number;
  /** Requests received (answered or held). */
  received: number;
  readonly seen: IncomingHttpHeaders[];
  /** Requests held by a `hold` backend until `release()`. */
  readonly held: ServerResponse[];
  release(): void;
}

/** A backend answering `name`; with `hold`, it keeps every response open until `release()`. */
async function backend(name: string, opts: { hold?: boolean; host?: string } = {}): Promise<Backend> {
  let holding = opts.hold === true;
  const b: Omit<Backend, 'port'> = {
    received: 0,
    seen: [],
    held: [],
    release() {
      holding = false;
      for (const res of b.held.splice(0)) res.end(name);
    },
  };
  const server = createServer((req, res) => {
    b.received++;
    b.seen.push(req.headers);
    if (holding) b.held.push(res);
    else res.end(name);
  });
  await new Promise<void>((r) => server.listen(0, opts.host ?? '127.0.0.1', r));
  servers.push(server);
  return Object.assign(b, { port: (server.address() as AddressInfo).port });
}

async function register(service: string, instance: string, value: Record<string, unknown>): Promise<void> {
  await client.put(`/services/${service}/${instance}`).value(JSON.stringify({ host: '127.0.0.1', ...value }));
}

type TableJson = {
  udpEntries: number;
  services: Array<{ name: string; backends: Array<{ instance: string; state: string }> }>;
};
const tableOf = async (admin: string): Promise<TableJson> =>
  (await (await fetch(`${admin}/api/table`)).json()) as TableJson;

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
});
afterEach(async () => {
  await stopAllPrograms();
  await client.delete().all();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});
afterAll(async () => {
  await etcd?.destroy();
});

describe('udp entries', () => {
  it('get no traffic, are counted, are not drift for the consistency check, and turn live as tcp', async () => {
    const a = await backend('a');
    // An HTTP server on TCP behind the udp entry: if the balancer proxied to the entry, it would answer.
    const u = await backend('u');
    await register('web', 'a', { port: a.port });
    await register('web', 'n1:dns-1:53:udp', { port: u.port, protocol: 'udp' });
    await register('dns', 'n1:dns-2:53:udp', { port: u.port, protocol: 'udp' });
    await client.put('/routes/dns').value(JSON.stringify({ host: 'dns.test', service: 'dns' }));
    const { proxy, admin } = await startBalancer(['--default-service', 'web', '--resync', '1s']);

    const load = await runLoad({ url: `${proxy}/`, concurrency: 4, maxRequests: 60, durationMs: 20_000 });
    expect(load.failures).toEqual([]);
    expect(load.bodies).toEqual(new Map([['a', 60]]));
    expect(u.received).toBe(0);
    const onlyUdp = await get(`${proxy}/`, { headers: { host: 'dns.test' } });
    expect([onlyUdp.status, onlyUdp.body]).toEqual([503, 'no live backend for service dns\n']);
    expect(u.received).toBe(0);

    const table = await tableOf(admin);
    expect(table.udpEntries).toBe(2);
    expect(table.services.map((s) => [s.name, s.backends.map((b) => b.instance)])).toEqual([['web', ['a']]]);
    expect(await metric(admin, 'balancer_udp_entries', NaN)).toBe(2);

    // Two consistency checks later (--resync 1s) the mirror still holds them: no drift corrected.
    const lastSync = async (): Promise<string> =>
      ((await (await fetch(`${admin}/readyz`)).json()) as { etcd: { lastSync: string } }).etcd.lastSync;
    const first = await lastSync();
    await waitFor('a consistency check after the first', async () => (await lastSync()) > first, 5000, 100);
    const second = await lastSync();
    await waitFor('another consistency check', async () => (await lastSync()) > second, 5000, 100);
    expect(await metric(admin, 'balancer_registry_drift_total', NaN)).toBe(0);
    expect(await metric(admin, 'balancer_udp_entries', NaN)).toBe(2);

    // The same key turned tcp joins its service: the exclusion was the protocol and nothing else.
    await register('web', 'n1:dns-1:53:udp', { port: u.port });
    await waitFor('the entry turned tcp is served', async () => (await get(`${proxy}/`)).body === 'u', 5000);
    expect(await metric(admin, 'balancer_udp_entries', NaN)).toBe(1);
  });
});

describe('least-request', () => {
  it('sends new requests to the backend with fewer in flight; a backend holding its requests gets few', async () => {
    const hold = await backend('hold', { hold: true });
    const fast = await backend('fast');
    await register('web', 'hold', { port: hold.port });
    await register('web', 'fast', { port: fast.port });
    const { proxy } = await startBalancer(['--default-service', 'web', '--lb', 'least-request']);
    // 4 clients in a loop. Least-request picks `hold` only while it has no more in flight than `fast`,
    // and the 4 clients have at most 4 requests in flight, so `hold` can get at most 2 (ties included)
    // and 2 clients always keep going through `fast`. Round-robin would send every other request to
    // `hold` and strand all 4 clients there: `fast` would stop at a handful and this wait time out.
    const results: Array<Promise<{ status: number; body: string }>> = [];
    let stop = false;
    const client = async (): Promise<void> => {
      for (let i = 0; i < 1000 && !stop; i++) {
        const r = get(`${proxy}/`);
        results.push(r);
        await r;
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await waitFor('200 requests served by fast', () => fast.received >= 200, 30_000, 20);
    stop = true;
    expect(hold.received).toBeGreaterThan(0); // it was a candidate: the tie of two idle backends goes either way
    expect(hold.received).toBeLessThanOrEqual(2);
    hold.release();
    await Promise.all(clients);
    const all = await Promise.all(results);
    expect(all.filter((r) => r.status !== 200)).toEqual([]);
    expect(all.filter((r) => r.body === 'hold')).toHaveLength(hold.received);
  });
});

describe('draining', () => {
  it('a backend set draining gets no new requests while its running request finishes', async () => {
    const a = await backend('a', { hold: true });
    const b = await backend('b');
    await register('web', 'a', { port: a.port });
    const { proxy, admin } = await startBalancer(['--default-service', 'web']);
    const running = get(`${proxy}/`);
    await waitFor('the request is running at a', () => a.held.length === 1, 5000, 20);
    await register('web', 'b', { port: b.port });
    await register('web', 'a', { port: a.port, draining: true });
    await waitFor(
      'a draining in /api/table',
      async () => (await tableOf(admin)).services[0]?.backends.find((x) => x.instance === 'a')?.state === 'draining',
      5000,
    );
    const load = await runLoad({ url: `${proxy}/`, concurrency: 4, maxRequests: 100, durationMs: 20_000 });
    expect(load.failures).toEqual([]);
    expect(load.bodies).toEqual(new Map([['b', 100]]));
    expect(a.received).toBe(1);
    a.release();
    expect(await running).toMatchObject({ status: 200, body: 'a' });
    // Draining is reversible: the same key without the flag takes requests again.
    await register('web', 'a', { port: a.port });
    await waitFor('a serves again', async () => (await get(`${proxy}/`)).body === 'a', 5000);
  });
});

describe('IPv6', () => {
  it('proxy and admin listeners on [::1], backends on ::1: routed, forwarded for ::1, a dead one ejected', async () => {
    const a = await backend('a6', { host: '::1' });
    const dead = await backend('dead', { host: '::1' });
    const deadPort = dead.port;
    await new Promise<void>((r) => servers.pop()?.close(() => r())); // a port on ::1 that refuses
    await register('web', 'a6', { host: '::1', port: a.port });
    await register('web', 'dead', { host: '::1', port: deadPort });
    const { proxyPort, admin } = await startBalancer([
      ...['--default-service', 'web', '--listen', '[::1]:0', '--admin', '[::1]:0'],
    ]);
    expect(admin).toMatch(/^http:\/\/\[::1\]:\d+$/);
    const proxy = `http://[::1]:${proxyPort}`;
    const load = await runLoad({ url: `${proxy}/`, concurrency: 4, maxRequests: 40, durationMs: 20_000 });
    expect(load.failures).toEqual([]); // the refused backend on ::1 is retried elsewhere, then ejected
    expect(load.bodies).toEqual(new Map([['a6', 40]]));
    expect(a.seen.at(-1)?.['x-forwarded-for']).toBe('::1');
    const table = await tableOf(admin);
    const states = table.services[0]?.backends.map((x) => [x.instance, x.state]);
    expect(states).toEqual([
      ['a6', 'up'],
      ['dead', 'ejected'],
    ]);
    await expect(fetch(`http://127.0.0.1:${proxyPort}/`)).rejects.toThrow(); // bound to ::1 only
  });
});

async function startBalancer(args: string[]): Promise<{ proxy: string; proxyPort: number; admin: string }> {
  const started = await startBalancerProgram(etcd.endpoint, args);
  return { proxy: started.proxy, proxyPort: started.proxyPort, admin: started.admin };
}
