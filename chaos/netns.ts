// Scenario 10: a network partition between one sidekick "host" and etcd. That sidekick runs in its
// own network namespace, reaching etcd over a veth pair (Docker over its unix socket, a file); the
// link is cut with `ip link set down`. A second sidekick on the host keeps the service up.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeTestContainers, uniq } from '../test/helpers/docker.js';
import { stopAllPrograms } from '../test/helpers/program.js';
import { delay, waitFor } from '../test/helpers/wait.js';
import { startCluster } from './cluster.js';
import {
  backgroundLoad,
  registerCleanup,
  compare,
  converge,
  describeFailures,
  startBalancer,
  startSidekick,
  webContainer,
  type Row,
} from './lib.js';

const run = promisify(execFile);
const ip = async (...args: string[]): Promise<void> => void (await run('ip', args));
const root = join(import.meta.dirname, '..', '..', '..');

export async function partition(): Promise<Row> {
  const id = Math.random().toString(36).slice(2, 6);
  const ns = `chaos-${id}`;
  const hostIf = `chh${id}`;
  const nsIf = `chn${id}`;
  const net = 10 + Math.floor(Math.random() * 200);
  const hostIp = `10.251.${net}.1`;
  let setUp = false;
  let nsSidekick: ChildProcess | undefined;
  const teardownNet = async (): Promise<void> => {
    if (nsSidekick && nsSidekick.exitCode === null) nsSidekick.kill('SIGKILL');
    if (setUp) await ip('link', 'del', hostIf).catch(() => undefined);
    await ip('netns', 'del', ns).catch(() => undefined);
  };
  const unregister = registerCleanup(teardownNet);
  await ip('netns', 'add', ns);
  try {
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    setUp = true;
    await ip('link', 'set', nsIf, 'netns', ns);
    await ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('netns', 'exec', ns, 'ip', 'addr', 'add', `10.251.${net}.2/30`, 'dev', nsIf);
    await ip('netns', 'exec', ns, 'ip', 'link', 'set', nsIf, 'up');
    await ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    const cluster = await startCluster(1, [hostIp]);
    try {
      const member = cluster.members[0];
      if (!member) throw new Error('no member');
      const ttlS = 5;
      const service = uniq('cp');
      const onHost = await webContainer(service);
      const inNs = await webContainer(service);
      startSidekick(member.endpoint, uniq('host'), ['--container', onHost, '--ttl', `${ttlS}s`]);
      let out = '';
      nsSidekick = spawn(
        'ip',
        [
          'netns',
          'exec',
          ns,
          process.execPath,
          join(root, 'dist', 'sidekick', 'main.js'),
          '--etcd-endpoints',
          `http://${hostIp}:${member.clientPort}`,
          '--node',
          uniq('nsnode'),
          '--host-ip',
          '127.0.0.1',
          '--metrics',
          'off',
          '--log-format',
          'json',
          '--container',
          inNs,
          '--ttl',
          `${ttlS}s`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCD_ENDPOINTS: '', DOCKER_HOST: '' } },
      );
      nsSidekick.stdout?.on('data', (d: Buffer) => {
        out = (out + d.toString()).slice(-4000);
      });
      nsSidekick.stderr?.on('data', (d: Buffer) => {
        out = (out + d.toString()).slice(-4000);
      });
      const b = await startBalancer(member.endpoint, ['--default-service', service, '--upstream-timeout', '2s']);
      const client = cluster.client();
      const c0 = await converge(client, b, service, 20_000);
      if (!c0.last.equal)
        throw new Error(`setup never converged: ${JSON.stringify(c0.last)}; ns sidekick: ${out.slice(-800)}`);
      const load = backgroundLoad(`${b.proxyUrl}/`);
      await delay(1000);
      await ip('link', 'set', hostIf, 'down');
      const cut = Date.now();
      let expiredMs = Number.POSITIVE_INFINITY;
      await waitFor(
        'partitioned entry expired',
        async () => {
          const c = await compare(client, b, service);
          return !c.registry.includes(inNs) && !c.table.includes(inNs);
        },
        30_000,
        25,
      ).then(
        () => (expiredMs = Date.now() - cut),
        () => undefined,
      );
      await delay(2000);
      await ip('link', 'set', hostIf, 'up');
      const healed = Date.now();
      const c = await converge(client, b, service, 30_000);
      const returnMs = Number.isFinite(c.ms) ? Date.now() - healed : c.ms;
      await delay(500);
      const result = await load.stop();
      const end = await compare(client, b, service);
      const problems: string[] = [];
      if (result.failures.length > 0) problems.push(`${result.failures.length} failed: ${describeFailures(result)}`);
      if (expiredMs > (ttlS + 1) * 1000) problems.push(`partitioned entry gone after ${expiredMs} ms > TTL + 1 s`);
      if (returnMs > 5000) problems.push(`entry back after ${returnMs} ms > 5 s (${JSON.stringify(c.last)})`);
      if (!end.equal) problems.push(`not equal at the end: ${JSON.stringify(end)}`);
      if (nsSidekick.exitCode !== null) problems.push(`ns sidekick exited ${nsSidekick.exitCode}`);
      const seconds = (ms: number): string => (ms / 1000).toFixed(2);
      return {
        scenario: `10 partition (netns): gone ${seconds(expiredMs)} s, back ${seconds(returnMs)} s`,
        sent: result.sent,
        failed: result.failures.length,
        convergeMs: Math.max(expiredMs, returnMs),
        stale: end.stale,
        target: `expire ≤ TTL + 1 s (TTL ${ttlS} s); back ≤ 5 s after healing; 0 failed`,
        pass: problems.length === 0,
        note: problems.join('; '),
      };
    } finally {
      if (nsSidekick && nsSidekick.exitCode === null) {
        const p = nsSidekick;
        const exited = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGKILL');
        await exited;
      }
      await stopAllPrograms();
      await removeTestContainers();
      await cluster.destroy();
    }
  } finally {
    unregister();
    await teardownNet();
  }
}
