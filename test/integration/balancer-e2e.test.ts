// End to end on real parts: containers on the real Docker engine, a sidekick publishing them to a
// real etcd, a balancer process proxying to them. What users of the whole system rely on.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { docker, removeTestContainers, runContainer, testRun, uniq } from '../helpers/docker.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { get, runLoad } from '../helpers/load.js';
import { startProgram, stopAllPrograms, type Program } from '../helpers/program.js';
import { delay, waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
let etcd: EtcdServer;
let sidekick: Program;
let balancer: Program;
let proxyUrl: string;
let adminUrl: string;
const node = uniq('n');

async function etcdctl(...args: string[]): Promise<void> {
  await run('etcdctl', ['--endpoints', etcd.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
}

async function backendsOf(service: string): Promise<Array<{ instance: string; state: string }>> {
  const table = (await (await fetch(`${adminUrl}/api/table`)).json()) as {
    services: Array<{ name: string; backends: Array<{ instance: string; state: string }> }>;
  };
  return table.services.find((s) => s.name === service)?.backends ?? [];
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

/** Starts `n` web containers for `service`, each answering "served by <name>", and routes `<service>.test` to them. */
async function webService(
  n: number,
  weights: readonly number[] = [],
): Promise<{ service: string; host: string; names: string[] }> {
  const service = uniq('w');
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = uniq(`${service}-${i}`);
    names.push(name);
    const labels: Record<string, string> = {
      'sidekick.service': service,
      ...(weights[i] !== undefined ? { 'sidekick.weight': String(weights[i]) } : {}),
    };
    await runContainer({ name, labels, publish: ['127.0.0.1::80'], extra: ['--hostname', name] });
  }
  await waitFor(
    `${n} backends of ${service} in the table`,
    async () => (await backendsOf(service)).length === n,
    10_000,
  );
  await etcdctl('put', `/routes/${service}`, JSON.stringify({ host: `${service}.test`, service }));
  await waitFor(
    'route live',
    async () => (await get(`${proxyUrl}/`, { headers: { host: `${service}.test` } })).status === 200,
    5000,
    5,
  );
  return { service, host: `${service}.test`, names };
}

beforeAll(async () => {
  etcd = await startEtcd();
  // TTL well above the few seconds one test freezes the sidekick for (its lease must outlive it).
  sidekick = startProgram('sidekick', [
    '--etcd-endpoints',
    etcd.endpoint,
    '--node',
    node,
    '--host-ip',
    '127.0.0.1',
    '--metrics',
    'off',
    '--ttl',
    '15s',
  ]);
  balancer = startProgram('balancer', [
    '--etcd-endpoints',
    etcd.endpoint,
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    // 2 s: a healthy busybox backend behind docker-proxy can take over 1 s on a loaded CI machine.
    '--upstream-timeout',
    '2s',
    '--grace',
    '2s',
  ]);
  const line = await waitFor(
    'balancer listening',
    () => balancer.logs().find((l) => l.msg === 'balancer listening'),
    10_000,
  );
  proxyUrl = `http://${String(line.proxy)}`;
  adminUrl = `http://${String(line.admin)}`;
  await waitFor('balancer ready', async () => (await fetch(`${adminUrl}/readyz`)).status === 200, 10_000);
});

afterEach(async () => {
  await removeTestContainers();
});

afterAll(async () => {
  await stopAllPrograms();
  await removeTestContainers();
  await etcd?.destroy();
});

describe('balancer in front of sidekick-published containers', () => {
  it('spreads requests over three containers in weighted round-robin proportion', async () => {
    const { host, names } = await webService(3, [1, 2, 3]);
    const counts = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await get(`${proxyUrl}/`, { headers: { host } });
      expect(r.status).toBe(200);
      const who = r.body.trim().replace('served by ', '');
      counts.set(who, (counts.get(who) ?? 0) + 1);
    }
    // Smooth WRR is periodic over the weight sum (6): 60 requests give 10/20/30.
    names.forEach((name, i) => expect(counts.get(name)).toBe(10 * (i + 1)));
  });

  it('a route added with etcdctl put is live within 100 ms', async () => {
    const { service } = await webService(1);
    const host = `${uniq('late')}.test`;
    expect((await get(`${proxyUrl}/`, { headers: { host } })).status).toBe(404);
    await etcdctl('put', `/routes/${uniq('r')}`, JSON.stringify({ host, service }));
    const written = Date.now();
    await waitFor(
      'new route live',
      async () => (await get(`${proxyUrl}/`, { headers: { host } })).status === 200,
      1000,
      2,
    );
    expect(Date.now() - written).toBeLessThanOrEqual(100);
  });

  it('docker stop of one container under load: 0 failed requests', async () => {
    const { host, names } = await webService(3);
    const load = runLoad({ url: `${proxyUrl}/`, headers: { host }, concurrency: 8, durationMs: 4000 });
    await delay(800);
    await docker('stop', '-t', '2', names[0] as string);
    const result = await load;
    expect(result.failures).toEqual([]);
    expect(result.ok).toBeGreaterThan(200);
    expect(await backendsOf(names[0] as string)).toEqual([]);
  });

  it('SIGKILL of one container under load, registry lagging: 0 failed GETs, the backend is ejected', async () => {
    const { service, host, names } = await webService(3);
    const ejectionsBefore = await metric(`balancer_ejections_total{service="${service}"}`);
    // Freeze the sidekick so the registry still lists the dead container: the balancer alone must
    // absorb the failure (retry on another backend) and eject it (fabio #578, #991).
    sidekick.proc.kill('SIGSTOP');
    try {
      const load = runLoad({ url: `${proxyUrl}/`, headers: { host }, concurrency: 8, durationMs: 3000 });
      await delay(800);
      await docker('kill', names[1] as string);
      const result = await load;
      expect(result.failures).toEqual([]);
      expect(result.ok).toBeGreaterThan(200);
      expect((await backendsOf(service)).find((b) => b.instance.includes(names[1] as string))?.state).toBe('ejected');
      expect(await metric(`balancer_ejections_total{service="${service}"}`)).toBeGreaterThan(ejectionsBefore);
      expect(await metric(`balancer_retries_total{service="${service}"}`)).toBeGreaterThan(0);
    } finally {
      sidekick.proc.kill('SIGCONT');
    }
    await waitFor(
      'withdrawn once the sidekick runs again',
      async () => (await backendsOf(service)).length === 2,
      10_000,
    );
  });

  it('answers 404 without a route, 503 without a live backend, 504 when the backend hangs', async () => {
    const unknown = await get(`${proxyUrl}/some/path`, { headers: { host: 'nowhere.test' } });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('nowhere.test/some/path');

    const empty = uniq('empty');
    await etcdctl('put', `/routes/${empty}`, JSON.stringify({ host: `${empty}.test`, service: empty }));
    await waitFor(
      '503 for a service without backends',
      async () => (await get(`${proxyUrl}/`, { headers: { host: `${empty}.test` } })).status === 503,
      2000,
    );
    expect((await get(`${proxyUrl}/`, { headers: { host: `${empty}.test` } })).body).toContain(empty);

    const hang = uniq('hang');
    // busybox nc accepts the connection, reads the request and never answers (its stdin, a pipe
    // from sleep, never ends, so it never closes the connection either).
    await runContainerCmd(hang, ['sh', '-c', 'while true; do sleep 3600 | nc -l -p 80 >/dev/null; done']);
    await etcdctl('put', `/routes/${hang}`, JSON.stringify({ host: `${hang}.test`, service: hang }));
    await waitFor('hang backend in table', async () => (await backendsOf(hang)).length === 1, 10_000);
    const started = Date.now();
    const r = await get(`${proxyUrl}/`, { headers: { host: `${hang}.test` } });
    expect(r.status).toBe(504);
    expect(r.body).toContain('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('skips and counts garbage values written with etcdctl while traffic continues', async () => {
    const { service, host } = await webService(2);
    const invalidBefore = await metric('balancer_invalid_entries_total');
    const load = runLoad({ url: `${proxyUrl}/`, headers: { host }, concurrency: 4, durationMs: 1500 });
    await etcdctl('put', `/services/${service}/garbage-1`, 'not json');
    await etcdctl('put', `/services/${service}/garbage-2`, JSON.stringify({ host: '127.0.0.1', port: 0 }));
    await etcdctl('put', `/routes/${uniq('bad')}`, JSON.stringify({ host: 'x.test' }));
    const result = await load;
    expect(result.failures).toEqual([]);
    await waitFor(
      'invalid values counted',
      async () => (await metric('balancer_invalid_entries_total')) >= invalidBefore + 3,
      3000,
    );
    expect((await backendsOf(service)).map((b) => b.instance).some((i) => i.startsWith('garbage'))).toBe(false);
    expect(balancer.proc.exitCode).toBeNull();
  });
});

async function runContainerCmd(service: string, cmd: string[]): Promise<void> {
  await docker(
    'run',
    '-d',
    '--name',
    uniq(service),
    '--label',
    `sidekick.test=${testRun()}`,
    '--label',
    `sidekick.service=${service}`,
    '-p',
    '127.0.0.1::80',
    'sidekick-test/web:latest',
    ...cmd,
  );
}
