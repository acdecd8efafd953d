// Scenario 6: dockerd restarted. Restarting the machine's engine would kill everyone else's
// containers, so this runs a private dockerd (own socket, data root, exec root and bridge, live-restore
// so running containers survive the restart as in production) and points a sidekick at it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testRun, uniq } from '../test/helpers/docker.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { stopAllPrograms } from '../test/helpers/program.js';
import { delay, waitFor } from '../test/helpers/wait.js';
import {
  backgroundLoad,
  registerCleanup,
  chaosImage,
  compare,
  converge,
  describeFailures,
  startBalancer,
  startSidekick,
  table,
  type Row,
} from './lib.js';

const run = promisify(execFile);
const sh = async (cmd: string, ...args: string[]): Promise<string> =>
  (await run(cmd, args, { maxBuffer: 64 * 1024 * 1024 })).stdout.trim();

interface PrivateDockerd {
  readonly host: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy: () => Promise<void>;
}

async function startPrivateDockerd(): Promise<PrivateDockerd> {
  const id = Math.random().toString(36).slice(2, 7);
  const bridge = `chaosbr${id.slice(0, 4)}`;
  const subnet = 200 + Math.floor(Math.random() * 50);
  const execRoot = `/run/chaosd-${id}`;
  const sock = `/run/chaosd-${id}.sock`;
  const host = `unix://${sock}`;
  const dataRoot = mkdtempSync(join(tmpdir(), 'chaos-dockerd-'));
  let proc: ChildProcess | undefined;
  let log = '';
  await sh('ip', 'link', 'add', bridge, 'type', 'bridge');
  await sh('ip', 'addr', 'add', `172.31.${subnet}.1/24`, 'dev', bridge);
  await sh('ip', 'link', 'set', bridge, 'up');
  const d: PrivateDockerd = {
    host,
    async start() {
      proc = spawn(
        'dockerd',
        [
          '--host',
          host,
          '--data-root',
          dataRoot,
          '--exec-root',
          execRoot,
          '--pidfile',
          `${execRoot}.pid`,
          '--bridge',
          bridge,
          '--iptables=false',
          '--ip-masq=false',
          '--live-restore',
          '--log-level',
          'error',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      proc.stderr?.on('data', (b: Buffer) => {
        log = (log + b.toString()).slice(-3000);
      });
      await waitFor(
        `private dockerd (${log})`,
        async () => {
          if (proc?.exitCode !== null) throw new Error(`dockerd exited: ${log}`);
          return (
            (await run('docker', ['-H', host, 'version', '--format', '{{.Server.Version}}']).then(
              () => true,
              () => false,
            )) || undefined
          );
        },
        30_000,
        200,
      );
    },
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
    async destroy() {
      if (proc && proc.exitCode === null) {
        const ids = (await sh('docker', '-H', host, 'ps', '-aq').catch(() => '')).split('\n').filter(Boolean);
        if (ids.length) await sh('docker', '-H', host, 'rm', '-f', ...ids).catch(() => '');
      }
      await d.stop();
      // The engine's own containerd (started under our exec root) may outlive it: end it by pid.
      for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(execRoot)) process.kill(Number(pid), 'SIGTERM');
        } catch {
          // gone
        }
      }
      await delay(500);
      await sh('sh', '-c', `grep -o ' ${dataRoot}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`).catch(
        () => '',
      );
      rmSync(dataRoot, { recursive: true, force: true });
      rmSync(execRoot, { recursive: true, force: true });
      await sh('ip', 'link', 'del', bridge).catch(() => '');
    },
  };
  const unregister = registerCleanup(() => d.destroy());
  const destroy = d.destroy.bind(d);
  d.destroy = async () => {
    unregister();
    await destroy();
  };
  try {
    await d.start();
    await sh('sh', '-c', `docker save ${chaosImage()} | docker -H ${host} load -q`);
  } catch (err) {
    await d.destroy();
    throw err;
  }
  return d;
}

export async function dockerdRestart(): Promise<Row> {
  const etcd = await startEtcd();
  let dockerd: PrivateDockerd | undefined;
  try {
    dockerd = await startPrivateDockerd();
    const host = dockerd.host;
    const service = uniq('cd');
    const node = uniq('cn');
    startSidekick(etcd.endpoint, node, ['--docker-host', host, '--address', 'container', '--ttl', '10s']);
    const b = await startBalancer(etcd.endpoint, ['--default-service', service, '--upstream-timeout', '2s']);
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const name = uniq(service);
      await sh(
        'docker',
        '-H',
        host,
        'run',
        '-d',
        '--name',
        name,
        '--hostname',
        name,
        '--label',
        `sidekick.test=${testRun()}`,
        '--label',
        `sidekick.service=${service}`,
        '--label',
        `chaos.service=${service}`,
        chaosImage(),
      );
      names.push(name);
    }
    const client = etcd.client();
    const c0 = await converge(client, b, service, 15_000, host);
    if (!c0.last.equal) throw new Error(`setup never converged: ${JSON.stringify(c0.last)}`);
    const victimPid = Number(await sh('docker', '-H', host, 'inspect', '-f', '{{.State.Pid}}', names[0] as string));
    const load = backgroundLoad(`${b.proxyUrl}/`);
    await delay(1000);
    await dockerd.stop();
    // While the engine is down, one container's process dies: nobody can report it until it returns.
    process.kill(victimPid, 'SIGKILL');
    await delay(5000);
    await dockerd.start();
    const back = Date.now();
    const c = await converge(client, b, service, 20_000, host);
    const ms = Number.isFinite(c.ms) ? Date.now() - back : c.ms;
    await delay(500);
    const result = await load.stop();
    const end = await compare(client, b, service, host);
    // Addresses must be the containers' current ones, not just the names.
    const t = await table(b);
    const targets = (t.services.find((s) => s.name === service)?.backends ?? []).map((x) => x.target).sort();
    const ips = (
      await Promise.all(
        end.truth.map((n) =>
          sh('docker', '-H', host, 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', n),
        ),
      )
    )
      .map((ip) => `http://${ip}:80`)
      .sort();
    const problems: string[] = [];
    if (result.failures.length > 0) problems.push(`${result.failures.length} failed: ${describeFailures(result)}`);
    if (ms > 5000) problems.push(`converged after ${ms} ms (${JSON.stringify(c.last)})`);
    if (!end.equal || end.truth.includes(names[0] as string))
      problems.push(`not equal at the end: ${JSON.stringify(end)}`);
    if (JSON.stringify(targets) !== JSON.stringify(ips))
      problems.push(`targets ${targets.join(',')} != ${ips.join(',')}`);
    return {
      scenario: '6 dockerd restarted (live-restore), container died meanwhile',
      sent: result.sent,
      failed: result.failures.length,
      convergeMs: ms,
      stale: end.stale,
      target: '0 failed; reconciled ≤ 5 s after dockerd answers; no stale entries',
      pass: problems.length === 0,
      note: problems.join('; '),
    };
  } finally {
    await stopAllPrograms();
    await dockerd?.destroy();
    await etcd.destroy();
  }
}
