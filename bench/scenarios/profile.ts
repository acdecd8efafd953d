// Optional (--profile): the single-worker balancer under `node --cpu-prof`, twice:
//   proxy  wrk -t1 -c32 small requests through it (the request hot path)
//   churn  1,000 entry changes/s at 10,000 entries (the registry apply path)
// and, interleaved, the balancer next to two bare reference engines (bench/ref-proxy.ts), to see
// whether http-proxy or Node itself is the ceiling.
// For each: the .cpuprofile (open it in Chrome DevTools or speedscope), a flame graph SVG and a text
// summary of the top functions and packages, in bench-results/profile/.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BalancerOptions, startBackend, startBalancer, startRefProxy, wrk } from '../lib/components.js';
import type { Context } from '../lib/context.js';
import {
  loadProfile,
  renderFlameSvg,
  renderProfileText,
  summarizeProfile,
  type ProfileSummary,
} from '../lib/profile.js';
import { log, median } from '../lib/util.js';
import { churnWrites, writeScaleRegistry } from './scale.js';

interface Profiled {
  summary: ProfileSummary;
  files: string[];
}

async function profiled(
  ctx: Context,
  dir: string,
  name: string,
  opts: Omit<BalancerOptions, 'nodeArgs'>,
  minRevision: number,
  load: (url: string) => Promise<string>,
): Promise<Profiled & { what: string }> {
  const b = await startBalancer(
    `balancer-profiled-${name}`,
    { ...opts, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}.cpuprofile`] },
    minRevision,
  );
  const skipMs = performance.now() - b.startedAt; // start-up is not what we profile
  const what = await load(b.url);
  await b.proc.stop('SIGTERM', 20_000);
  const file = join(dir, `${name}.cpuprofile`);
  const p = loadProfile(file);
  const summary = summarizeProfile(p, 30, skipMs);
  writeFileSync(
    join(dir, `${name}-summary.txt`),
    `${what}\n(first ${skipMs.toFixed(0)} ms, start-up, left out)\n\n${renderProfileText(summary)}`,
  );
  writeFileSync(join(dir, `${name}-flame.svg`), renderFlameSvg(p, `balancer-w1: ${what}`, skipMs));
  return { what, summary, files: [file, join(dir, `${name}-summary.txt`), join(dir, `${name}-flame.svg`)] };
}

export async function profile(ctx: Context, outDir: string): Promise<Record<string, Profiled>> {
  const dir = join(outDir, 'profile');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const seconds = ctx.params.profileSeconds;
  await ctx.etcd.client
    .put('/prof/services/bench/direct:backend:1')
    .value(JSON.stringify({ host: '127.0.0.1', port: ctx.backendPort }));
  log(`profile: proxy path, wrk small for ${seconds}s under --cpu-prof`);
  let rps = Number.NaN;
  const proxy = await profiled(
    ctx,
    dir,
    'proxy',
    {
      etcd: ctx.etcd.endpoint,
      prefix: '/prof/services',
      routesPrefix: '/prof/routes',
      defaultService: 'bench',
      workers: 1,
    },
    0,
    async (url) => {
      await wrk(`${url}/`, 1, 32);
      rps = (await wrk(`${url}/`, seconds, 32)).rps;
      return `wrk -t1 -c32 -d${seconds}s small: ${rps.toFixed(0)} req/s under the profiler`;
    },
  );
  ctx.rows.push({
    scenario: 'profile',
    metric: 'balancer-w1 small req/s under --cpu-prof',
    value: rps,
    unit: 'req/s',
    note: 'bench-results/profile/proxy-*',
  });

  // Is the engine the ceiling? The balancer next to bare engines, interleaved, small responses.
  const target = `http://127.0.0.1:${ctx.backendPort}`;
  const refs = [
    await startRefProxy('node', target),
    await startRefProxy('http-proxy-ka', target),
    await startRefProxy('undici', target),
  ];
  const b = await startBalancer('balancer-ref', {
    etcd: ctx.etcd.endpoint,
    prefix: '/prof/services',
    routesPrefix: '/prof/routes',
    defaultService: 'bench',
    workers: 1,
  });
  const competitors = [{ name: 'balancer-w1', url: b.url }, ...refs];
  log(`profile: engines, ${competitors.length} competitors × ${ctx.params.rounds} rounds × ${ctx.params.seconds}s`);
  const runs: Array<{ competitor: string; rps: number }> = [];
  for (const c of competitors) await wrk(`${c.url}/`, 1, 32);
  for (let round = 0; round < ctx.params.rounds; round++) {
    for (let k = 0; k < competitors.length; k++) {
      const c = competitors[(k + round) % competitors.length]!;
      runs.push({ competitor: c.name, rps: (await wrk(`${c.url}/`, ctx.params.seconds, 32)).rps });
    }
  }
  await Promise.all([b.proc.stop(), ...refs.map((r) => r.proc?.stop())]);
  const med = (n: string): number => median(runs.filter((r) => r.competitor === n).map((r) => r.rps));
  for (const c of competitors)
    ctx.rows.push({
      scenario: 'profile',
      metric: `engine ${c.name} small req/s (median)`,
      value: med(c.name),
      unit: 'req/s',
      note: c.name === 'balancer-w1' ? '' : `balancer-w1 = ${(med('balancer-w1') / med(c.name)).toFixed(2)}× this`,
    });

  log(`profile: apply path, churn 1,000/s at 10k entries for ${seconds}s under --cpu-prof`);
  const backends = await startBackend('backend-10ports-profile', 10);
  const { lastRevision } = await writeScaleRegistry(ctx, backends.ports);
  let acked = 0;
  const churn = await profiled(
    ctx,
    dir,
    'churn',
    { etcd: ctx.etcd.endpoint, prefix: '/scale/services', routesPrefix: '/scale/routes', workers: 1 },
    lastRevision,
    async () => {
      const w = await churnWrites(ctx, backends.ports, 1000, seconds);
      acked = w.acked;
      return `${w.acked} entry changes in ${w.seconds.toFixed(1)} s at 10,000 entries`;
    },
  );
  await backends.proc.stop();
  ctx.rows.push({
    scenario: 'profile',
    metric: 'churn changes applied under --cpu-prof',
    value: acked,
    unit: '',
    note: 'bench-results/profile/churn-*',
  });
  return { proxy, churn };
}
