// Optional (--profile): the single-worker balancer under `node --cpu-prof` while wrk drives small
// requests through it; writes the .cpuprofile (open it in Chrome DevTools or speedscope), a flame
// graph SVG and a text summary of the top functions and packages into bench-results/profile/.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBalancer, wrk } from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { loadProfile, renderFlameSvg, renderProfileText, summarizeProfile, type ProfileSummary } from '../lib/profile.js';
import { log } from '../lib/util.js';

export async function profile(ctx: Context, outDir: string): Promise<{ rps: number; summary: ProfileSummary; files: string[] }> {
  const dir = join(outDir, 'profile');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await ctx.etcd.client.put('/prof/services/bench/direct:backend:1').value(JSON.stringify({ host: '127.0.0.1', port: ctx.backendPort }));
  const b = await startBalancer('balancer-profiled', {
    etcd: ctx.etcd.endpoint, prefix: '/prof/services', routesPrefix: '/prof/routes', defaultService: 'bench', workers: 1,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', 'balancer.cpuprofile'],
  });
  log(`profile: balancer-w1 under --cpu-prof, wrk small for ${ctx.params.profileSeconds}s`);
  await wrk(`${b.url}/`, 1, 32);
  const r = await wrk(`${b.url}/`, ctx.params.profileSeconds, 32);
  await b.proc.stop('SIGTERM', 20_000);
  const file = join(dir, 'balancer.cpuprofile');
  const p = loadProfile(file);
  const summary = summarizeProfile(p, 30);
  writeFileSync(join(dir, 'summary.txt'), `wrk -t1 -c32 small through balancer-w1: ${r.rps.toFixed(0)} req/s (under the profiler)\n\n${renderProfileText(summary)}`);
  writeFileSync(join(dir, 'flame.svg'), renderFlameSvg(p, `balancer-w1, wrk -t1 -c32 small, ${r.rps.toFixed(0)} req/s under --cpu-prof`));
  ctx.rows.push({ scenario: 'profile', metric: 'balancer-w1 small req/s under --cpu-prof', value: r.rps, unit: 'req/s', note: 'see bench-results/profile/' });
  return { rps: r.rps, summary, files: [file, join(dir, 'summary.txt'), join(dir, 'flame.svg')] };
}
