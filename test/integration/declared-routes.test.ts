// Routes declared by containers, end to end on real parts: labels and environment variables on real
// containers, the real sidekick writing them into entries in a real etcd, the real balancer deriving
// routes from those entries and proxying over real sockets. The test image serves "served by
// <hostname>" at / and "ok" at /health, so a stripped prefix is visible in the answer.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBalancerProgram, type BalancerProgram } from '../helpers/balancer-program.js';
import { docker, hostPortOf, removeTestContainers, runContainer, uniq } from '../helpers/docker.js';
import { etcdctl, startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { get } from '../helpers/load.js';
import { runProgram, startProgram, stopAllPrograms } from '../helpers/program.js';
import { waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
let balancer: BalancerProgram;
const node = uniq('n');

interface TableRoute {
  host: string | null;
  pathPrefix: string;
  service: string;
  source: string;
  policies: Record<string, unknown>;
  declaredBy: Array<{ instance: string; container: string | null }> | null;
}
interface Table {
  routes: TableRoute[];
  services: Array<{ name: string }>;
  conflicts: Array<{ host: string | null; pathPrefix: string; reason: string; winner: string; losers: string[] }>;
}

async function table(): Promise<Table> {
  return (await (await fetch(`${balancer.admin}/api/table`)).json()) as Table;
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${balancer.admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

const ask = (host: string, path = '/') => get(`${balancer.proxy}${path}`, { headers: { host } });

/** Waits until `host + path` answers `status` with a body containing `body`; returns the answer. */
async function until(host: string, path: string, status: number, body: string) {
  return waitFor(
    `${host}${path} → ${status} ${body}`,
    async () => {
      const r = await ask(host, path);
      return r.status === status && r.body.includes(body) ? r : undefined;
    },
    15_000,
    50,
  );
}

beforeAll(async () => {
  etcd = await startEtcd();
  startProgram('sidekick', [
    ...['--etcd-endpoints', etcd.endpoint, '--node', node, '--host-ip', '127.0.0.1'],
    ...['--metrics', 'off', '--ttl', '10s'],
  ]);
  balancer = await startBalancerProgram(etcd.endpoint, []);
});

afterEach(async () => {
  await removeTestContainers();
});

afterAll(async () => {
  await stopAllPrograms();
  await removeTestContainers();
  await etcd?.destroy();
});

describe('routes declared by containers', () => {
  it('sidekick.route with sidekick.route.stripPrefix reaches the backend with the prefix stripped', async () => {
    const service = uniq('sr');
    const host = `${service}.test`;
    const name = uniq('c');
    await runContainer({
      name,
      labels: {
        'sidekick.service': service,
        'sidekick.route': `${host}/api`,
        'sidekick.route.stripPrefix': 'true',
      },
      publish: ['127.0.0.1::80'],
      extra: ['--hostname', name],
    });
    // /api/health reaches the backend as /health (busybox answers "ok"); unstripped it would be a 404.
    await until(host, '/api/health', 200, 'ok');
    expect((await ask(host, '/api/')).body).toContain(`served by ${name}`);
    // Outside the declared path prefix nothing matches.
    expect((await ask(host, '/other')).status).toBe(404);
    const route = (await table()).routes.find((r) => r.host === host);
    expect(route).toMatchObject({
      pathPrefix: '/api',
      service,
      source: `declared:${service}`,
      policies: { stripPrefix: true },
      declaredBy: [{ instance: `${node}:${name}:80`, container: name }],
    });
  });

  it.each([
    ['environment variables', 'env'],
    ['labels', 'labels'],
  ] as const)(
    'VIRTUAL_HOST, VIRTUAL_PATH and VIRTUAL_PORT as %s publish without sidekick.service',
    async (_what, where) => {
      const first = `${uniq('vh')}.test`;
      const second = `${uniq('vh2')}.test`;
      const name = uniq('c');
      const virtual = { VIRTUAL_HOST: `${first}, ${second}`, VIRTUAL_PATH: '/app', VIRTUAL_PORT: '8080' };
      await runContainer({
        name,
        // The image listens on PORT; two published ports, so only VIRTUAL_PORT can choose 8080.
        env: { PORT: '8080', ...(where === 'env' ? virtual : {}) },
        labels: { ...(where === 'labels' ? virtual : {}), 'sidekick.route.stripPrefix': 'true' },
        publish: ['127.0.0.1::80', '127.0.0.1::8080'],
        extra: ['--hostname', name],
      });
      await until(first, '/app/health', 200, 'ok');
      await until(second, '/app/health', 200, 'ok');
      expect((await ask(first, '/app')).body).toContain(`served by ${name}`);
      expect((await ask(first, '/elsewhere')).status).toBe(404);
      const t = await table();
      // Named after the first VIRTUAL_HOST host, as nginx-proxy groups containers.
      expect(t.services.map((s) => s.name)).toContain(first);
      const declared = t.routes.filter((r) => r.service === first).map((r) => `${r.host}${r.pathPrefix}`);
      expect(declared.sort()).toEqual([`${first}/app`, `${second}/app`].sort());
    },
  );

  it('a declared route stays while one declaring container runs and goes with the last one', async () => {
    const service = uniq('last');
    const host = `${service}.test`;
    const names = [uniq('c1'), uniq('c2')];
    for (const name of names) {
      await runContainer({
        name,
        labels: { 'sidekick.service': service, 'sidekick.route': host },
        publish: ['127.0.0.1::80'],
        extra: ['--hostname', name],
      });
    }
    await waitFor('both declare the route', async () => {
      const r = (await table()).routes.find((x) => x.host === host);
      return r?.declaredBy?.length === 2;
    });
    await docker('stop', '-t', '1', names[0]!);
    await until(host, '/', 200, `served by ${names[1]}`);
    expect((await table()).routes.find((x) => x.host === host)?.declaredBy?.map((d) => d.container)).toEqual([
      names[1],
    ]);
    await docker('stop', '-t', '1', names[1]!);
    const gone = await until(host, '/', 404, 'no route for');
    expect(gone.body).toContain(host);
    expect((await table()).routes.some((x) => x.host === host)).toBe(false);
  });

  it('a declared route leaves with its lease when the sidekick dies and the container keeps running', async () => {
    const host = `${uniq('lease')}.test`;
    const name = uniq('c');
    // No sidekick.service: only the per-container sidekick below publishes it (as its image name, web).
    await runContainer({
      name,
      labels: { 'sidekick.route': host },
      publish: ['127.0.0.1::80'],
      extra: ['--hostname', name],
    });
    const own = startProgram('sidekick', [
      ...['--etcd-endpoints', etcd.endpoint, '--node', uniq('own'), '--host-ip', '127.0.0.1'],
      ...['--metrics', 'off', '--ttl', '2s', '--container', name],
    ]);
    await until(host, '/', 200, `served by ${name}`);
    await own.stop('SIGKILL');
    // Nothing revoked the lease: the entry, and with it the route, go when the lease expires.
    await until(host, '/', 404, 'no route for');
    expect(await docker('inspect', '-f', '{{.State.Running}}', name)).toBe('true');
  });

  it('an etcd route key for the same rule wins, and the conflict is counted and shown', async () => {
    const declaring = uniq('decl');
    const keyed = uniq('keyed');
    const host = `${declaring}.test`;
    const [d, k] = [uniq('d'), uniq('k')];
    await runContainer({
      name: d,
      labels: { 'sidekick.service': declaring, 'sidekick.route': host },
      publish: ['127.0.0.1::80'],
      extra: ['--hostname', d],
    });
    await runContainer({
      name: k,
      labels: { 'sidekick.service': keyed },
      publish: ['127.0.0.1::80'],
      extra: ['--hostname', k],
    });
    await until(host, '/', 200, `served by ${d}`);
    await waitFor('the keyed service in the table', async () => (await table()).services.some((s) => s.name === keyed));
    const before = await metric('balancer_route_conflicts_total');
    await etcdctl(etcd, ['put', `/routes/${keyed}`, JSON.stringify({ host, service: keyed })]);
    await until(host, '/', 200, `served by ${k}`);
    expect((await metric('balancer_route_conflicts_total')) - before).toBe(1);
    const t = await table();
    expect(t.conflicts).toContainEqual({
      host,
      pathPrefix: '/',
      reason: 'route',
      winner: `/routes/${keyed}`,
      losers: [declaring],
    });
    expect(t.routes.filter((r) => r.host === host).map((r) => r.source)).toEqual([`/routes/${keyed}`]);
    expect(
      balancer.p.logs().filter((l) => l.msg === 'declared route conflict resolved' && l.host === host),
    ).toHaveLength(1);
    // The key gone, the declaration serves again and the conflict is over.
    await etcdctl(etcd, ['del', `/routes/${keyed}`]);
    await until(host, '/', 200, `served by ${d}`);
    expect((await table()).conflicts.some((c) => c.host === host)).toBe(false);
  });

  it('an invalid declared route written by hand: the entry is served, the route skipped and counted', async () => {
    const service = uniq('bad');
    const k = uniq('k');
    await runContainer({
      name: k,
      labels: { 'sidekick.service': service },
      publish: ['127.0.0.1::80'],
      extra: ['--hostname', k],
    });
    const good = `${service}.test`;
    await etcdctl(etcd, ['put', `/routes/${service}`, JSON.stringify({ host: good, service })]);
    await until(good, '/', 200, `served by ${k}`);
    const before = await metric('balancer_invalid_entries_total');
    const port = await hostPortOf(k);
    const value = { host: '127.0.0.1', port, routes: [{ host: `${service}-x.test`, stripPrefix: 5 }] };
    await etcdctl(etcd, ['put', `/services/${service}/manual:x:1`, JSON.stringify(value)]);
    await waitFor('counted', async () => (await metric('balancer_invalid_entries_total')) > before);
    const t = await table();
    expect(t.routes.some((r) => r.host === `${service}-x.test`)).toBe(false);
    expect(
      (
        t.services.find((s) => s.name === service) as { backends?: Array<{ instance: string }> } | undefined
      )?.backends?.map((b) => b.instance),
    ).toContain('manual:x:1');
    expect(balancer.p.logs().some((l) => l.msg === 'invalid declared route skipped; the entry is served')).toBe(true);
    await etcdctl(etcd, ['del', `/services/${service}/manual:x:1`]);
  });

  it('sidekick --dry-run prints the declared routes', async () => {
    const service = uniq('dry');
    const name = uniq('c');
    await runContainer({
      name,
      labels: { 'sidekick.service': service, 'sidekick.route': `${service}.test/v1`, 'sidekick.route.retries': '2' },
      publish: ['127.0.0.1::80'],
    });
    const { code, output } = await runProgram('sidekick', [
      ...['--dry-run', '--node', 'n1', '--host-ip', '127.0.0.1', '--etcd-endpoints', 'http://127.0.0.1:1'],
    ]);
    expect(code).toBe(0);
    expect(output).toContain(`# route ${service}.test/v1 → ${service} (container ${name}) {"retries":2}`);
    const line = output.split('\n').find((l) => l.startsWith(`/services/${service}/n1:${name}:80 `)) ?? '';
    expect(JSON.parse(line.slice(line.indexOf(' ') + 1)).routes).toEqual([
      { host: `${service}.test`, pathPrefix: '/v1', retries: 2 },
    ]);
  });
});
