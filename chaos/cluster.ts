// Scenario 3: a 3-member etcd cluster on loopback; kill the leader, then a follower, under load and
// container churn. The test helper starts single-member servers only, so members are spawned here.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { docker, uniq } from '../test/helpers/docker.js';
import { freePort } from '../test/helpers/ports.js';
import { stopAllPrograms } from '../test/helpers/program.js';
import { removeTestContainers } from '../test/helpers/docker.js';
import { delay, waitFor } from '../test/helpers/wait.js';
import {
  backgroundLoad,
  registerCleanup,
  compare,
  converge,
  describeFailures,
  metric,
  startBalancer,
  startSidekick,
  webContainer,
  type Balancer,
  type Row,
} from './lib.js';

const run = promisify(execFile);

export interface Member {
  readonly name: string;
  readonly endpoint: string;
  readonly clientPort: number;
  start(): Promise<void>;
  kill(): Promise<void>;
  running(): boolean;
}

export interface Cluster {
  readonly members: readonly Member[];
  readonly endpoints: string;
  client(): Etcd3;
  leader(): Promise<Member>;
  destroy: () => Promise<void>;
}

/** `n` members on loopback; `extraClientHosts` adds client listeners (e.g. a veth address). */
export async function startCluster(n: number, extraClientHosts: readonly string[] = []): Promise<Cluster> {
  const token = uniq('chaos-cluster');
  const specs = await Promise.all(
    Array.from({ length: n }, async (_, i) => ({
      name: `m${i}`,
      clientPort: await freePort(),
      peerPort: await freePort(),
      dataDir: mkdtempSync(join(tmpdir(), 'sk-chaos-etcd-')),
    })),
  );
  const initial = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const clients: Etcd3[] = [];
  const members: Member[] = specs.map((s) => {
    let proc: ChildProcess | undefined;
    let stderr = '';
    const endpoint = `http://127.0.0.1:${s.clientPort}`;
    const listen = [endpoint, ...extraClientHosts.map((h) => `http://${h}:${s.clientPort}`)].join(',');
    return {
      name: s.name,
      endpoint,
      clientPort: s.clientPort,
      running: () => proc !== undefined && proc.exitCode === null && proc.signalCode === null,
      async start() {
        proc = spawn(
          'etcd',
          [
            '--name',
            s.name,
            '--data-dir',
            s.dataDir,
            '--listen-client-urls',
            listen,
            '--advertise-client-urls',
            endpoint,
            '--listen-peer-urls',
            `http://127.0.0.1:${s.peerPort}`,
            '--initial-advertise-peer-urls',
            `http://127.0.0.1:${s.peerPort}`,
            '--initial-cluster',
            initial,
            '--initial-cluster-state',
            'new',
            '--initial-cluster-token',
            token,
            '--logger',
            'zap',
            '--log-level',
            'error',
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        proc.stderr?.on('data', (d: Buffer) => {
          stderr = (stderr + d.toString()).slice(-3000);
        });
      },
      async kill() {
        const p = proc;
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGKILL');
        await exited;
      },
      toString: () => stderr,
    };
  });
  const endpoints = members.map((m) => m.endpoint).join(',');
  const healthy = async (m: Member): Promise<boolean> =>
    (await fetch(`${m.endpoint}/health`).catch(() => undefined))?.ok === true;
  const cluster: Cluster = {
    members,
    endpoints,
    client() {
      const c = new Etcd3({
        hosts: members.map((m) => m.endpoint),
        faultHandling: { host: () => ({ execute: (fn: () => unknown) => fn() }) as never },
      });
      clients.push(c);
      return c;
    },
    async leader() {
      return waitFor(
        'a leader',
        async () => {
          const live = members.filter((m) => m.running());
          const { stdout } = await run(
            'etcdctl',
            [
              '--endpoints',
              live.map((m) => m.endpoint).join(','),
              'endpoint',
              'status',
              '-w',
              'json',
              '--command-timeout',
              '2s',
            ],
            { env: { ...process.env, ETCDCTL_API: '3' } },
          );
          // member ids are uint64: keep them as strings
          const st = JSON.parse(stdout.replace(/:(\d{15,})/g, ':"$1"')) as Array<{
            Endpoint: string;
            Status: { header: { member_id: string }; leader: string };
          }>;
          const l = st.find((x) => x.Status.leader === x.Status.header.member_id);
          return l ? members.find((m) => m.endpoint === l.Endpoint) : undefined;
        },
        15_000,
        200,
      );
    },
    async destroy() {
      for (const c of clients.splice(0)) c.close();
      for (const m of members) await m.kill();
      for (const s of specs) rmSync(s.dataDir, { recursive: true, force: true });
    },
  };
  const unregister = registerCleanup(() => cluster.destroy());
  const destroy = cluster.destroy;
  cluster.destroy = async () => {
    unregister();
    await destroy();
  };
  for (const m of members) await m.start();
  try {
    await waitFor('cluster healthy', async () => (await Promise.all(members.map(healthy))).every(Boolean), 20_000, 100);
  } catch (err) {
    await cluster.destroy();
    throw new Error(`${(err as Error).message}: ${members.map(String).join(' | ')}`);
  }
  return cluster;
}

const RESYNC_MS = 2000;

/** The balancer's last snapshot or consistency check (readyz etcd.lastSync) once it is after `after`. */
async function lastCheck(b: Balancer, after: number): Promise<number | undefined> {
  const read = async (): Promise<number> => {
    const r = (await (await fetch(`${b.adminUrl}/readyz`)).json()) as { etcd: { lastSync: string | null } };
    return Date.parse(r.etcd.lastSync ?? '') || 0;
  };
  return waitFor(
    'a consistency check after the churn',
    async () => {
      const t = await read();
      return t > after ? t : undefined;
    },
    15_000,
    200,
  ).catch(() => undefined);
}

export async function clusterScenario(): Promise<Row> {
  const cluster = await startCluster(3);
  let churning = true;
  let churnErrors = 0;
  try {
    const service = uniq('cc');
    const node = uniq('cn');
    startSidekick(cluster.endpoints, node, ['--ttl', '10s']);
    // --resync 2s: the consistency check (and its drift counter) runs a dozen times during the faults;
    // at the default 60 s it would never run in this scenario and "no drift" could not fail.
    const b = await startBalancer(cluster.endpoints, [
      ...['--default-service', service, '--upstream-timeout', '2s', '--resync', `${RESYNC_MS / 1000}s`],
    ]);
    const client = cluster.client();
    const running: string[] = [];
    for (let i = 0; i < 3; i++) running.push(await webContainer(service));
    const c0 = await converge(client, b, service, 15_000);
    if (!c0.last.equal) throw new Error(`setup never converged: ${JSON.stringify(c0.last)}`);
    const load = backgroundLoad(`${b.proxyUrl}/`);
    // Churn: every 700 ms start a container or stop the oldest, keeping 2–5 running.
    const churn = (async () => {
      let i = 0;
      while (churning) {
        try {
          if ((i++ % 2 === 0 && running.length < 5) || running.length <= 2) running.push(await webContainer(service));
          else await docker('stop', '-t', '1', running.shift() as string);
        } catch {
          churnErrors++;
        }
        await delay(700);
      }
    })();
    await delay(2000);
    const leader = await cluster.leader();
    await leader.kill();
    await delay(6000);
    await leader.start();
    await delay(4000);
    const newLeader = await cluster.leader();
    const follower = (cluster.members.find((m) => m !== newLeader && m !== leader && m.running()) ??
      cluster.members.find((m) => m !== newLeader && m.running())) as typeof leader;
    await follower.kill();
    await delay(6000);
    await follower.start();
    await delay(3000);
    churning = false;
    await churn;
    const stopped = Date.now();
    const c = await converge(client, b, service, 20_000);
    const ms = Number.isFinite(c.ms) ? Date.now() - stopped : c.ms;
    await delay(500);
    const result = await load.stop();
    const end = await compare(client, b, service);
    // Read the counter only after a check that started after the churn has finished.
    const checkedAt = await lastCheck(b, stopped + RESYNC_MS);
    const drift = await metric(b, 'balancer_registry_drift_total');
    const problems: string[] = [];
    if (result.failures.length > 0) problems.push(`${result.failures.length} failed: ${describeFailures(result)}`);
    if (ms > 5000) problems.push(`converged after ${ms} ms (${JSON.stringify(c.last)})`);
    if (!end.equal) problems.push(`not equal at the end: ${JSON.stringify(end)}`);
    if (drift > 0) problems.push(`balancer_registry_drift_total ${drift}`);
    if (checkedAt === undefined) problems.push('no consistency check ran after the churn');
    if (churnErrors > 0) problems.push(`${churnErrors} docker churn errors`);
    return {
      scenario: `3 cluster: leader ${leader.name} then follower ${follower.name} killed`,
      sent: result.sent,
      failed: result.failures.length,
      convergeMs: ms,
      stale: end.stale,
      target: '0 failed; table == registry == truth ≤ 5 s after churn; no drift (checks every 2 s)',
      pass: problems.length === 0,
      note: [`drift ${drift} after a check ${checkedAt === undefined ? '—' : checkedAt - stopped} ms after the churn`]
        .concat(problems)
        .join('; '),
    };
  } finally {
    churning = false;
    await stopAllPrograms();
    await removeTestContainers();
    await cluster.destroy();
  }
}
