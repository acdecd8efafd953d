// Scenario 1: throughput and latency. The same backend behind each competitor; wrk with keep-alive
// clients; competitors interleaved round by round (rotating the order), medians and ratios reported.
// Then latency at a fixed 1,000 req/s (open loop, Node load generator), interleaved the same way.
import { availableParallelism } from 'node:os';
import {
  type Endpoint,
  loadgen,
  startBalancer,
  startNginx,
  startPlainProxy,
  startRefProxy,
  wrk,
  type WrkResult,
} from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { treeCpuSeconds } from '../lib/proc-stats.js';
import { log, median } from '../lib/util.js';

const SIZES = [
  { name: 'small', path: '/' },
  { name: '64KiB', path: '/64k' },
] as const;

export interface ThroughputRaw {
  competitors: string[];
  runs: Array<{ round: number; competitor: string; size: string; cpuUsPerReq: number } & WrkResult>;
  medians: Record<
    string,
    Record<string, { rps: number; p50: number; p99: number; errors: number; cpuUsPerReq: number }>
  >;
  fixedRate: Array<{
    round: number;
    competitor: string;
    p50: number;
    p99: number;
    p999: number;
    max: number;
    achievedRate: number;
    failed: number;
    cpuPercent: number;
  }>;
  fixedRateMedians: Record<string, { p50: number; p99: number; p999: number; cpuPercent: number }>;
}

export async function throughput(ctx: Context): Promise<ThroughputRaw> {
  const { etcd, backendPort, params } = ctx;
  await etcd.client
    .put('/s1/services/bench/direct:backend:1')
    .value(JSON.stringify({ host: '127.0.0.1', port: backendPort }));
  const common = { etcd: etcd.endpoint, prefix: '/s1/services', routesPrefix: '/s1/routes', defaultService: 'bench' };
  const [nginx, plain, b1, bAuto] = await Promise.all([
    startNginx(ctx.work, backendPort),
    startPlainProxy(`http://127.0.0.1:${backendPort}`),
    startBalancer('balancer-w1', { ...common, workers: 1 }),
    startBalancer('balancer-auto', { ...common, workers: 'auto' }),
  ]);
  const competitors: Endpoint[] = [
    { name: 'direct', url: `http://127.0.0.1:${backendPort}`, proc: ctx.backendProc },
    nginx,
    plain,
    { name: 'balancer-w1', url: b1.url, proc: b1.proc },
    { name: `balancer-auto`, url: bAuto.url, proc: bAuto.proc },
  ];
  // CPU time per request (the process and its workers, from /proc): unlike req/s it barely depends on
  // how much of the shared machine the competitor got during its turn.
  const cpu = (c: Endpoint): number => (c.proc ? treeCpuSeconds(c.proc.pid) : Number.NaN);
  const raw: ThroughputRaw = {
    competitors: competitors.map((c) => c.name),
    runs: [],
    medians: {},
    fixedRate: [],
    fixedRateMedians: {},
  };
  log(
    `throughput: ${competitors.length} competitors × ${SIZES.length} sizes × ${params.rounds} rounds × ${params.seconds}s (auto = ${availableParallelism()} workers)`,
  );
  // Warm-up for the Node competitors (JIT, pools); nginx and the backend need none.
  for (const c of competitors) if (c.name !== 'direct' && c.name !== 'nginx') await wrk(c.url + '/', 1, 32);
  for (let round = 0; round < params.rounds; round++) {
    for (const size of SIZES) {
      for (let k = 0; k < competitors.length; k++) {
        const c = competitors[(k + round) % competitors.length]!; // rotate so no one always runs first
        const cpu0 = cpu(c);
        const r = await wrk(c.url + size.path, params.seconds, 32);
        raw.runs.push({
          round,
          competitor: c.name,
          size: size.name,
          ...r,
          cpuUsPerReq: ((cpu(c) - cpu0) / r.requests) * 1e6,
        });
      }
    }
  }
  for (const c of competitors) {
    raw.medians[c.name] = {};
    for (const size of SIZES) {
      const runs = raw.runs.filter((r) => r.competitor === c.name && r.size === size.name);
      raw.medians[c.name]![size.name] = {
        rps: median(runs.map((r) => r.rps)),
        p50: median(runs.map((r) => r.p50)),
        p99: median(runs.map((r) => r.p99)),
        errors: runs.reduce((a, r) => a + r.errors + r.non2xx, 0),
        cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)),
      };
    }
  }
  // Fixed rate: open-loop 1,000 req/s, latency from the intended send time. A bare Node proxy
  // (http.request over a keep-alive agent, nothing else) runs too: it separates what Node's event
  // loop and HTTP stack cost at this rate from what the balancer's own work adds.
  const refNode = await startRefProxy('node', `http://127.0.0.1:${backendPort}`);
  await wrk(refNode.url + '/', 1, 32);
  const rateCompetitors = [nginx, competitors[3]!, competitors[4]!, refNode];
  log(
    `latency at 1,000 req/s: ${rateCompetitors.length} competitors × ${params.rounds} rounds × ${params.rateSeconds}s`,
  );
  for (let round = 0; round < params.rounds; round++) {
    for (let k = 0; k < rateCompetitors.length; k++) {
      const c = rateCompetitors[(k + round) % rateCompetitors.length]!;
      const cpu0 = cpu(c);
      const t0 = performance.now();
      const r = await loadgen(`loadgen-rate-${c.name}`, {
        mode: 'rate',
        url: c.url + '/',
        rate: 1000,
        durationMs: params.rateSeconds * 1000,
        warmupMs: params.rateWarmupMs,
      });
      const cpuPercent = ((cpu(c) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
      raw.fixedRate.push({
        round,
        competitor: c.name,
        ...r.latencyMs,
        achievedRate: r.achievedRate,
        failed: r.failed,
        cpuPercent,
      });
    }
  }
  for (const c of rateCompetitors) {
    const runs = raw.fixedRate.filter((r) => r.competitor === c.name);
    raw.fixedRateMedians[c.name] = {
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      p999: median(runs.map((r) => r.p999)),
      cpuPercent: median(runs.map((r) => r.cpuPercent)),
    };
  }
  report(ctx, raw);
  await Promise.all([nginx.proc?.stop(), plain.proc?.stop(), b1.proc.stop(), bAuto.proc.stop(), refNode.proc?.stop()]);
  return raw;
}

function report(ctx: Context, raw: ThroughputRaw): void {
  const S = '1 throughput';
  const m = raw.medians;
  const rps = (c: string, s: string): number => m[c]?.[s]?.rps ?? Number.NaN;
  for (const size of SIZES.map((s) => s.name)) {
    for (const c of raw.competitors) {
      const errs = m[c]?.[size]?.errors ?? 0;
      const us = m[c]?.[size]?.cpuUsPerReq ?? Number.NaN;
      ctx.rows.push({
        scenario: S,
        metric: `${c} ${size} req/s (median)`,
        value: rps(c, size),
        unit: 'req/s',
        note: `${errs > 0 ? `${errs} errors, ` : ''}p99 ${m[c]?.[size]?.p99.toFixed(2)} ms, CPU ${Number.isFinite(us) ? us.toFixed(0) : '?'} µs/req`,
      });
    }
    const usOf = (c: string): number => m[c]?.[size]?.cpuUsPerReq ?? Number.NaN;
    ctx.rows.push({
      scenario: S,
      metric: `CPU per request, balancer-w1/nginx ${size}`,
      value: usOf('balancer-w1') / usOf('nginx'),
      unit: '×',
      note: `${usOf('balancer-w1').toFixed(0)} vs ${usOf('nginx').toFixed(0)} µs; contention-independent view of the req/s ratio`,
    });
    for (const b of ['balancer-w1', 'balancer-auto']) {
      const vsNginx = rps(b, size) / rps('nginx', size);
      const vsPlain = rps(b, size) / rps('plain-http-proxy', size);
      ctx.rows.push({
        scenario: S,
        metric: `${b}/nginx ${size}`,
        value: vsNginx,
        unit: '×',
        target: '≥ 0.5×',
        pass: vsNginx >= 0.5,
      });
      ctx.rows.push({
        scenario: S,
        metric: `${b}/plain-http-proxy ${size}`,
        value: vsPlain,
        unit: '×',
        target: '≥ 2.5×',
        pass: vsPlain >= 2.5,
      });
    }
    ctx.rows.push({
      scenario: S,
      metric: `workers auto/1 ${size}`,
      value: rps('balancer-auto', size) / rps('balancer-w1', size),
      unit: '×',
      target: '> 1× (scales)',
      pass: rps('balancer-auto', size) > rps('balancer-w1', size),
    });
  }
  const fr = raw.fixedRateMedians;
  const nginxP99 = fr.nginx?.p99 ?? Number.NaN;
  const best = (c: string): number => Math.min(...raw.fixedRate.filter((r) => r.competitor === c).map((r) => r.p99));
  ctx.rows.push({
    scenario: S,
    metric: 'nginx p99 @1,000 req/s',
    value: nginxP99,
    unit: 'ms',
    note: `p50 ${fr.nginx?.p50.toFixed(2)} ms, best round ${best('nginx').toFixed(2)} ms, CPU ${fr.nginx?.cpuPercent.toFixed(0)} %`,
  });
  for (const b of ['balancer-w1', 'balancer-auto']) {
    const p99 = fr[b]?.p99 ?? Number.NaN;
    const failed = raw.fixedRate.filter((r) => r.competitor === b).reduce((a, r) => a + r.failed, 0);
    ctx.rows.push({
      scenario: S,
      metric: `${b} p99 @1,000 req/s`,
      value: p99,
      unit: 'ms',
      target: `≤ nginx + 2 ms (${(nginxP99 + 2).toFixed(2)})`,
      pass: p99 <= nginxP99 + 2,
      note: `p50 ${fr[b]?.p50.toFixed(2)} ms, best round ${best(b).toFixed(2)} ms, CPU ${fr[b]?.cpuPercent.toFixed(0)} %${failed ? `, ${failed} failed` : ''}`,
    });
  }
  const ref = fr['ref-node'];
  if (ref)
    ctx.rows.push({
      scenario: S,
      metric: 'bare Node proxy (ref-node) p99 @1,000 req/s',
      value: ref.p99,
      unit: 'ms',
      note: `p50 ${ref.p50.toFixed(2)} ms, best round ${best('ref-node').toFixed(2)} ms, CPU ${ref.cpuPercent.toFixed(0)} %; reference, no target`,
    });
}
