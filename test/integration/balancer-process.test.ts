// The balancer program against a real etcd and real node:http backends on loopback: outages,
// WebSockets, graceful shutdown, header trust, the backend allow-list, workers and the CLI.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { get, runLoad } from '../helpers/load.js';
import { runProgram, startProgram, stopAllPrograms, type Program } from '../helpers/program.js';
import { delay, waitFor } from '../helpers/wait.js';
import { startBalancerProgram } from '../helpers/balancer-program.js';

let etcd: EtcdServer;
let client: Etcd3;
const servers: Server[] = [];

interface Backend {
  port: number;
  seen: IncomingHttpHeaders[];
}

/** A loopback backend answering `name` (after `delayMs`), recording request headers. */
async function backend(name: string, delayMs = 0): Promise<Backend> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    setTimeout(() => res.end(name), delayMs);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`${name}:${m.toString()}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, seen };
}

async function register(service: string, instance: string, port: number, host = '127.0.0.1'): Promise<void> {
  await client.put(`/services/${service}/${instance}`).value(JSON.stringify({ host, port }));
}

async function startBalancer(args: string[] = []): Promise<{ p: Program; proxy: string; admin: string }> {
  return startBalancerProgram(etcd.endpoint, args);
}

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

describe('balancer process', () => {
  it('keeps serving the last table while etcd is down, and applies changes again once it is back', async () => {
    const a = await backend('a');
    await register('web', 'a', a.port);
    const { proxy, admin } = await startBalancer(['--default-service', 'web']);
    await etcd.stop();
    const during = await runLoad({ url: `${proxy}/`, concurrency: 4, durationMs: 1500 });
    expect(during.failures).toEqual([]);
    expect(during.ok).toBeGreaterThan(50);
    const ready = (await (await fetch(`${admin}/readyz`)).json()) as { ready: boolean; etcd: { connected: boolean } };
    expect(ready.ready).toBe(true);
    await waitFor(
      'etcd reported disconnected',
      async () => !((await (await fetch(`${admin}/readyz`)).json()) as { etcd: { connected: boolean } }).etcd.connected,
      10_000,
    );
    await etcd.start();
    const b = await backend('b');
    await register('web', 'b', b.port);
    await client.delete().key('/services/web/a');
    await waitFor('change after etcd returned', async () => (await get(`${proxy}/`)).body === 'b', 15_000);
  });

  it('a WebSocket through the balancer survives an unrelated registry change', async () => {
    const a = await backend('a');
    await register('ws', 'a', a.port);
    const { proxy } = await startBalancer(['--default-service', 'ws']);
    const ws = new WebSocket(proxy.replace('http', 'ws'));
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(m.toString()));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send('one');
    await waitFor('first echo', () => messages.includes('a:one'));
    const other = await backend('other');
    await register('unrelated', 'x', other.port);
    await register('ws', 'b', other.port); // the same service gains a backend: still unrelated to this socket
    await delay(300);
    ws.send('two');
    await waitFor('echo after the change', () => messages.includes('a:two'));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('closes a WebSocket within --drain when its backend is withdrawn; drops the backend’s metric series', async () => {
    const a = await backend('a');
    const b = await backend('b');
    await register('ws', 'a', a.port);
    const { proxy, admin } = await startBalancer(['--default-service', 'ws', '--drain', '1s']);
    const ws = new WebSocket(proxy.replace('http', 'ws'));
    const echoes: string[] = [];
    ws.on('message', (m) => echoes.push(m.toString()));
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send('hi');
    await waitFor('echo', () => echoes.includes('a:hi'));
    await get(`${proxy}/`);
    expect(await (await fetch(`${admin}/metrics`)).text()).toContain('balancer_backend_up{service="ws",backend="a"} 1');
    await register('ws', 'b', b.port);
    const withdrawn = Date.now();
    await client.delete().key('/services/ws/a');
    await closed;
    expect(Date.now() - withdrawn).toBeLessThan(1500);
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).not.toContain('backend="a"');
    expect(metrics).toContain('balancer_backend_up{service="ws",backend="b"} 1');
  });

  it('SIGTERM under load: readiness drops first, no in-flight request fails, exit 0', async () => {
    const slow = await backend('slow', 300);
    await register('web', 'slow', slow.port);
    const { p, proxy, admin } = await startBalancer(['--default-service', 'web', '--grace', '5s']);
    const inflight = Array.from({ length: 20 }, () => get(`${proxy}/`));
    await delay(100);
    p.proc.kill('SIGTERM');
    await waitFor(
      'readiness dropped',
      async () => (await fetch(`${admin}/readyz`).catch(() => undefined))?.status === 503,
      2000,
      10,
    );
    const results = await Promise.all(inflight);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    expect(await p.exited()).toBe(0);
  });

  it('trusts X-Forwarded-For only from --trusted-proxies', async () => {
    const a = await backend('a');
    await register('web', 'a', a.port);
    const untrusted = await startBalancer(['--default-service', 'web']);
    await get(`${untrusted.proxy}/`, { headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil.test' } });
    expect(a.seen.at(-1)?.['x-forwarded-for']).toBe('127.0.0.1');
    expect(a.seen.at(-1)?.['x-forwarded-proto']).toBe('http');
    expect(a.seen.at(-1)?.['x-request-id']).toMatch(/\S+/);
    await untrusted.p.stop();
    const trusted = await startBalancer(['--default-service', 'web', '--trusted-proxies', '127.0.0.0/8']);
    await get(`${trusted.proxy}/`, { headers: { 'x-forwarded-for': '6.6.6.6' } });
    expect(a.seen.at(-1)?.['x-forwarded-for']).toBe('6.6.6.6, 127.0.0.1');
  });

  it('--backends-allow rejects entries outside the allowed CIDRs and counts them', async () => {
    const a = await backend('a');
    await register('web', 'inside', a.port, '127.0.0.1');
    await register('web', 'outside', a.port, '127.0.0.2');
    await register('web', 'dns', a.port, 'localhost');
    const { proxy, admin } = await startBalancer(['--default-service', 'web', '--backends-allow', '127.0.0.1/32']);
    const table = (await (await fetch(`${admin}/api/table`)).json()) as {
      services: Array<{ backends: Array<{ instance: string }> }>;
    };
    expect(table.services[0]?.backends.map((b) => b.instance)).toEqual(['inside']);
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/^balancer_invalid_entries_total 2$/m);
    expect((await get(`${proxy}/`)).status).toBe(200);
  });

  it('--workers 2 serves traffic from two processes, reports readiness and aggregated metrics', async () => {
    const a = await backend('a');
    await register('web', 'a', a.port);
    const { proxy, admin } = await startBalancer(['--default-service', 'web', '--workers', '2']);
    const ready = (await (await fetch(`${admin}/readyz`)).json()) as { workersReady: number };
    expect(ready.workersReady).toBe(2);
    const result = await runLoad({ url: `${proxy}/`, concurrency: 8, maxRequests: 400, durationMs: 5000 });
    expect(result.failures).toEqual([]);
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/^balancer_requests_total\{service="web",code="200"\} 400$/m);
    // Each worker served part of it (node:cluster hands connections round-robin).
    type Served = { workersServed: Array<{ worker: number; served: number }> };
    const served = await waitFor(
      'both workers report',
      async () => {
        const r = (await (await fetch(`${admin}/readyz`)).json()) as Served;
        const total = r.workersServed.reduce((n, w) => n + w.served, 0);
        return r.workersServed.length === 2 && total === 400 ? r.workersServed : undefined;
      },
      3000,
      100,
    );
    for (const w of served) expect(w.served).toBeGreaterThan(0);
    const table = (await (await fetch(`${admin}/api/table`)).json()) as { services: unknown[] };
    expect(table.services).toHaveLength(1);
  });
});

describe('balancer workers', () => {
  it("the primary's /api/table shows the workers' ejections and in-flight requests", async () => {
    const slow = await backend('slow', 1500);
    await register('web', 'slow', slow.port);
    await register('web', 'dead', 1); // nothing listens on port 1: connection refused, ejected
    const { proxy, admin } = await startBalancer(['--default-service', 'web', '--workers', '2']);
    type Table = { services: Array<{ backends: Array<{ instance: string; state: string; inflight: number }> }> };
    const backends = async (): Promise<Table['services'][0]['backends']> =>
      ((await (await fetch(`${admin}/api/table`)).json()) as Table).services[0]?.backends ?? [];
    const inflight = Array.from({ length: 6 }, () => get(`${proxy}/`));
    const seen = await waitFor(
      'ejection and in-flight reported',
      async () => {
        const b = await backends();
        const dead = b.find((x) => x.instance === 'dead');
        const s = b.find((x) => x.instance === 'slow');
        return dead?.state === 'ejected' && (s?.inflight ?? 0) > 0 ? b : undefined;
      },
      3000,
      100,
    );
    expect(seen.find((x) => x.instance === 'slow')?.inflight).toBeLessThanOrEqual(6);
    expect((await Promise.all(inflight)).map((r) => r.status)).toEqual(Array(6).fill(200));
    await waitFor('in-flight back to 0', async () => (await backends()).every((x) => x.inflight === 0), 3000, 100);
  });

  it('re-forks a crashing worker with a growing delay, and traffic goes on through the other', async () => {
    const a = await backend('a');
    await register('web', 'a', a.port);
    const { p, proxy } = await startBalancer(['--default-service', 'web', '--workers', '2']);
    const workerPids = (): number[] => [
      ...new Set(
        p
          .logs()
          .filter((l) => l.msg === 'worker listening')
          .map((l) => Number(l.pid)),
      ),
    ];
    await waitFor('two workers', () => workerPids().length === 2, 10_000);
    const delays: number[] = [];
    for (let crash = 0; crash < 3; crash++) {
      const victim = workerPids().at(-1)!;
      const known = workerPids().length;
      process.kill(victim, 'SIGKILL');
      const line = await waitFor(
        'exit logged',
        () => p.logs().filter((l) => l.msg === 'worker exited; starting a new one')[crash],
        5_000,
      );
      delays.push(Number(line.delayMs));
      const served = await get(`${proxy}/`);
      expect(served.status).toBe(200);
      await waitFor('worker re-forked', () => workerPids().length === known + 1, 10_000);
    }
    // 250–500, 500–1000, 1000–2000 ms: full jitter over a doubling cap.
    expect(delays[0]).toBeGreaterThanOrEqual(250);
    expect(delays[0]).toBeLessThanOrEqual(500);
    expect(delays[1]).toBeGreaterThanOrEqual(500);
    expect(delays[1]).toBeLessThanOrEqual(1000);
    expect(delays[2]).toBeGreaterThanOrEqual(1000);
    expect(delays[2]).toBeLessThanOrEqual(2000);
  });
});

describe('balancer CLI', () => {
  it.each([
    [['--lb', 'random'], '--lb'],
    [['--retries', '-1'], '--retries'],
    [['--upstream-timeout', 'soon'], '--upstream-timeout'],
    [['--route', 'no-equals-sign'], '--route'],
    [['--trusted-proxies', '10.0.0.0/33'], '--trusted-proxies'],
    [['--backends-allow', 'x'], '--backends-allow'],
    [['--listen', 'nope'], '--listen'],
    [['--workers', '0'], '--workers'],
    [['--routes-prefix', '/services'], '--routes-prefix'],
  ])('%j exits 2 naming %s', async (args, flag) => {
    const { code, output } = await runProgram('balancer', args);
    expect(code).toBe(2);
    expect(output).toContain(`invalid configuration: ${flag}`);
  });

  it('--log-format pretty writes human-readable lines instead of JSON', async () => {
    const p = startProgram('balancer', [
      '--log-format',
      'pretty',
      '--etcd-endpoints',
      etcd.endpoint,
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
    ]);
    await waitFor('a pretty log line', () => /INFO.*balancer listening/.test(p.output()), 10_000);
    expect(
      p
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{')),
    ).toEqual([]);
    expect(await p.stop()).toBe(0);
  });

  it('--help lists the options grouped with examples', async () => {
    const { code, output } = await runProgram('balancer', ['--help']);
    expect(code).toBe(0);
    for (const text of [
      'routing:',
      '--route <rule>',
      '--lb',
      '--retries',
      '--upstream-timeout',
      '--admin',
      '(default 127.0.0.1:9090)',
      '--workers',
      'Examples:',
    ])
      expect(output).toContain(text);
  });
});
