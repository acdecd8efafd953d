// `npm run bench [-- --quick] [-- --profile]`: runs every scenario in one go against real processes on
// loopback, prints a table with targets, writes bench-results/results.json, results.md and chart.svg,
// and stops everything it started. Exits 0 when it measured (even with FAIL rows), non-zero when the
// harness itself failed. See bench/README.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startBackend } from './lib/components.js';
import { FULL, QUICK, type Context, type Params } from './lib/context.js';
import { buildImages, docker, removeRunContainers } from './lib/docker.js';
import { startEtcd, type Etcd } from './lib/etcd.js';
import { abort, aborted, runCommand, setWorkDir, stopAll } from './lib/procs.js';
import { COMPETITORS } from './lib/competitors.js';
import { chart } from './lib/chart.js';
import { goalSummary, renderGoals, renderMarkdown, renderTable, writeJson, type Row } from './lib/report.js';
import { log, sleep } from './lib/util.js';
import { convergence } from './scenarios/convergence.js';
import { profile } from './scenarios/profile.js';
import { scale } from './scenarios/scale.js';
import { sidekickScale } from './scenarios/sidekick.js';
import { latency } from './scenarios/latency.js';
import { throughput, throughputNode } from './scenarios/throughput.js';
import { accessLog } from './scenarios/access-log.js';
import { https } from './scenarios/https.js';
import { FDS_NEEDED, heldLoad } from './scenarios/held-load.js';
import { ownership } from './scenarios/ownership.js';
import { routePolicy } from './scenarios/route-policy.js';
import { websocket } from './scenarios/websocket.js';

const SCENARIOS = [
  'throughput',
  'throughput-node',
  'latency',
  'https',
  'access-log',
  'route-policy',
  'websocket',
  'held-load',
  'convergence',
  'scale',
  'sidekick',
  'ownership',
  'profile',
] as const;
type Scenario = (typeof SCENARIOS)[number];
/** What `--only` runs when it names competitors but no scenario. */
const WITH_COMPETITORS: readonly Scenario[] = ['throughput', 'throughput-node', 'latency'];

const HELP = `Usage: npm run bench -- [options]

  --quick              short runs and fewer trials (about four minutes of measuring)
  --only <list>        comma-separated scenarios and/or competitors. Scenarios:
                         ${SCENARIOS.join(', ')}
                       (throughput: fast static nginx backend; throughput-node: the node:http backend;
                       latency: fixed 1,000 req/s; https: balancer and nginx over TLS, HTTP/1.1 and h2;
                       access-log: --access-log on/off; route-policy: policy route vs plain route;
                       websocket: handshakes/s and echoes/s through direct, nginx, plain-http-proxy, balancer-w1;
                       held-load: 10,000 idle connections + 1,000 WebSockets, needs ulimit -Hn ≥ ${FDS_NEEDED};
                       ownership: sidekick periodic check with 10,000 foreign entries).
                       Competitors (limit the throughput, throughput-node, latency and websocket scenarios to them):
                         ${COMPETITORS.join(', ')}
                       e.g. --only throughput,nginx,caddy,haproxy,balancer-w1
  --profile            also profile the balancer under --cpu-prof (writes bench-results/profile/)
  --containers <n>     containers for the sidekick scale test (quick 20, full 200)
  --rounds <n>         interleaved rounds per competitor (quick 2, full 5; throughput-node at most 1 / 3;
                       access-log and route-policy at least 5)
  --seconds <n>        seconds per wrk or h2load run (quick 1, full 5)
  --out <dir>          results directory (default bench-results)
  --keep               keep the temporary work dir (logs of every process)
`;

const isCompetitor = (n: string): boolean => (COMPETITORS as readonly string[]).includes(n);

async function machine(): Promise<Record<string, unknown>> {
  const version = async (cmd: string, args: string[]): Promise<string> => {
    const r = await runCommand(cmd, args, 10_000).catch(() => undefined);
    return ((r?.stdout ?? '') + (r?.stderr ?? '')).split('\n')[0]?.trim() ?? '';
  };
  let os = '';
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // not Linux-like
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os,
    kernel: release(),
    node: process.version,
    nginx: (await version('nginx', ['-v'])).replace('nginx version: nginx/', ''),
    haproxy: (await version('haproxy', ['-v'])).replace(/^HAProxy version (\S+).*/, '$1'),
    caddy: (await version('caddy', ['version'])).split(' ')[0],
    wrk: (await version('wrk', ['-v'])).split(' [')[0],
    etcd: await version('etcd', ['--version']),
    docker: await docker.version().then(
      (v) => v.Version,
      () => 'unreachable',
    ),
    loadAverageAtStart: loadavg().map((l) => Number(l.toFixed(2))),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      containers: { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      out: { type: 'string', default: join(ROOT, 'bench-results') },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const named = (values.only ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const unknown = named.filter((n) => !(SCENARIOS as readonly string[]).includes(n) && !isCompetitor(n));
  if (unknown.length > 0)
    throw new Error(
      `--only: unknown ${unknown.join(', ')} ` +
        `(scenarios: ${SCENARIOS.join(', ')}; competitors: ${COMPETITORS.join(', ')})`,
    );
  const onlyCompetitors = named.filter(isCompetitor);
  const onlyScenarios = named.filter((n): n is Scenario => (SCENARIOS as readonly string[]).includes(n));
  const chosen = new Set<Scenario>(
    onlyScenarios.length > 0
      ? onlyScenarios
      : onlyCompetitors.length > 0
        ? WITH_COMPETITORS
        : SCENARIOS.filter((s) => s !== 'profile'),
  );
  if (values.profile) chosen.add('profile');
  const base = values.quick ? QUICK : FULL;
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got ${v}`);
    return n;
  };
  const params: Params = {
    ...base,
    skContainers: num(values.containers, 'containers') ?? base.skContainers,
    rounds: num(values.rounds, 'rounds') ?? base.rounds,
    seconds: num(values.seconds, 'seconds') ?? base.seconds,
  };
  const outDir = values.out!;
  mkdirSync(outDir, { recursive: true });
  const ownWork = process.env.BENCH_WORK === undefined;
  const work = process.env.BENCH_WORK ?? mkdtempSync(join(tmpdir(), 'sidekick-bench-'));
  mkdirSync(work, { recursive: true });
  setWorkDir(work);
  const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const needsDocker = chosen.has('convergence') || chosen.has('sidekick') || chosen.has('ownership');
  let etcd: Etcd | undefined;
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    abort();
    etcd?.client.close();
    await stopAll(5000);
    if (needsDocker) {
      // Twice: a create call already in flight when we started may land after the first pass.
      await removeRunContainers(run).catch((err: unknown) =>
        log(`container cleanup failed: ${(err as Error).message}`),
      );
      await sleep(1000);
      await removeRunContainers(run).catch(() => undefined);
    }
    if (ownWork && !values.keep) rmSync(work, { recursive: true, force: true });
    else if (values.keep) log(`work dir kept: ${work}`);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping everything`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const started = Date.now();
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  const errors: string[] = [];
  try {
    log(`mode ${values.quick ? 'quick' : 'full'}, scenarios ${[...chosen].join(', ')}, work dir ${work}`);
    const info = await machine();
    if (needsDocker) {
      if (info.docker === 'unreachable')
        throw new Error('no Docker engine answers on /var/run/docker.sock (bench/run.sh starts one)');
      await buildImages();
    }
    etcd = await startEtcd(work);
    const backend = await startBackend('backend', 1);
    const ctx: Context = {
      quick: values.quick!,
      params,
      work,
      run,
      etcd,
      backendPort: backend.ports[0]!,
      backendProc: backend.proc,
      ...(onlyCompetitors.length > 0 ? { competitors: new Set(onlyCompetitors) } : {}),
      rows,
      raw,
    };
    const steps: Array<[Scenario, () => Promise<unknown>]> = [
      ['throughput', () => throughput(ctx)],
      ['throughput-node', () => throughputNode(ctx)],
      ['latency', () => latency(ctx)],
      ['https', () => https(ctx)],
      ['access-log', () => accessLog(ctx)],
      ['route-policy', () => routePolicy(ctx)],
      ['websocket', () => websocket(ctx)],
      ['held-load', () => heldLoad(ctx)],
      ['convergence', () => convergence(ctx)],
      ['scale', () => scale(ctx)],
      ['sidekick', () => sidekickScale(ctx)],
      ['ownership', () => ownership(ctx)],
      ['profile', () => profile(ctx, outDir)],
    ];
    for (const [name, fn] of steps) {
      if (!chosen.has(name) || aborted()) continue;
      const t0 = Date.now();
      try {
        raw[name] = await fn();
        log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        const msg = `${name}: harness error: ${(err as Error).stack ?? String(err)}`;
        errors.push(msg);
        log(msg);
        rows.push({
          scenario: name,
          metric: 'HARNESS ERROR',
          value: (err as Error).message.slice(0, 120),
          unit: '',
          pass: false,
        });
      }
    }
    if (aborted()) {
      log('interrupted: results not written (the previous ones are kept)');
      return 130;
    }
    const seconds = (Date.now() - started) / 1000;
    const mode = values.quick ? 'quick' : 'full';
    const argv = process.argv.slice(2);
    const results = {
      date: new Date().toISOString(),
      mode,
      command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
      seconds,
      params,
      machine: info,
      rows,
      goals: goalSummary(rows),
      raw,
      errors,
    };
    writeJson(join(outDir, 'results.json'), results);
    const machineLine =
      `${info.cpu as string}, ${info.cores as number} cores, ${info.memoryGiB as number} GiB, ` +
      `${info.os as string}, Node ${info.node as string}, nginx ${info.nginx as string}, ` +
      `HAProxy ${info.haproxy as string}, Caddy ${info.caddy as string}, ` +
      `etcd ${String(info.etcd).replace('etcd Version: ', '')}`;
    const load = (info.loadAverageAtStart as number[]).join(', ');
    const date = results.date.slice(0, 16).replace('T', ' ');
    writeFileSync(join(outDir, 'chart.svg'), chart(rows, raw, `${results.command} — ${date} UTC`, machineLine));
    const failed = rows.filter((r) => r.pass === false);
    const goals = renderGoals(rows);
    const md = [
      `Measured ${results.date.slice(0, 10)} with \`${results.command}\` (${mode} mode, ${seconds.toFixed(0)} s) ` +
        `on ${machineLine}; load average at start ${load}.`,
      '',
      renderMarkdown(rows),
      '',
      failed.length ? `Targets missed: ${failed.map((r) => r.metric).join('; ')}.` : 'All targets met.',
      '',
      ...(goals ? ['```', goals, '```', ''] : []),
    ].join('\n');
    writeFileSync(join(outDir, 'results.md'), md);
    process.stdout.write(`\n${renderTable(rows)}\n\n`);
    if (goals) process.stdout.write(`${goals}\n\n`);
    process.stdout.write(`machine: ${machineLine}; load average at start ${load}\n`);
    const files = ['results.json', 'results.md', 'chart.svg'].map((f) => join(outDir, f)).join(', ');
    process.stdout.write(`mode: ${mode}, ${seconds.toFixed(0)} s; results: ${files}\n`);
    const verdicts = rows.filter((r) => r.pass !== undefined);
    const missed = failed.length ? ` (${failed.map((r) => r.metric).join('; ')})` : '';
    process.stdout.write(`targets: ${verdicts.length - failed.length} PASS, ${failed.length} FAIL${missed}\n`);
    process.stdout.write(
      'note: absolute numbers drift on a shared machine; compare the ratios of competitors run interleaved ' +
        'in the same run.\n',
    );
  } finally {
    await cleanup();
  }
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: fatal: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
