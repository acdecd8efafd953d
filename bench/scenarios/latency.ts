// Scenario 1, latency: a fixed 1,000 req/s (open loop, the Node load generator in its own process,
// latency from each request's intended send time) through nginx, the balancer and a bare Node proxy,
// interleaved round by round, all in front of the fast static backend. The bare Node proxy
// (http.request over a keep-alive agent, nothing else) separates what Node's event loop and HTTP stack
// cost at this rate from what the balancer's own work adds.
import { loadgen } from '../lib/components.js';
import { type CompetitorName, selected, startCompetitors, stopCompetitors } from '../lib/competitors.js';
import type { Context } from '../lib/context.js';
import { startNginxStatic } from '../lib/peers.js';
import { log, median } from '../lib/util.js';
import { GOAL } from './throughput-report.js';
import { cpuOf, warmUp } from './throughput.js';

const RATE_SET: readonly CompetitorName[] = ['nginx', 'balancer-w1', 'balancer-auto', 'ref-node'];
const RATE = 1000;
const SCENARIO = '1 latency';

export interface LatencyRaw {
  backend: string;
  rate: number;
  competitors: string[];
  runs: Array<{
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
  medians: Record<string, { p50: number; p99: number; p999: number; cpuPercent: number; failed: number }>;
}

export async function latency(ctx: Context): Promise<LatencyRaw | undefined> {
  const names = selected(ctx, RATE_SET);
  if (names.length === 0) {
    log('latency: skipped, --only named none of its competitors');
    return undefined;
  }
  const { params } = ctx;
  const backend = await startNginxStatic(ctx.work, 'nginx-static-latency');
  try {
    const competitors = await startCompetitors(ctx, backend, names, 't3');
    const raw: LatencyRaw = {
      backend: 'nginx static, one worker',
      rate: RATE,
      competitors: [...names],
      runs: [],
      medians: {},
    };
    try {
      log(`latency at ${RATE} req/s: ${names.join(', ')} × ${params.rounds} rounds × ${params.rateSeconds}s`);
      await warmUp(competitors);
      for (let round = 0; round < params.rounds; round++) {
        for (let k = 0; k < competitors.length; k++) {
          const c = competitors[(k + round) % competitors.length]!;
          const cpu0 = cpuOf(c);
          const t0 = performance.now();
          const r = await loadgen(`loadgen-rate-${c.name}`, {
            mode: 'rate',
            url: `${c.url}/`,
            rate: RATE,
            durationMs: params.rateSeconds * 1000,
            warmupMs: params.rateWarmupMs,
          });
          const cpuPercent = ((cpuOf(c) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
          raw.runs.push({
            round,
            competitor: c.name,
            ...r.latencyMs,
            achievedRate: r.achievedRate,
            failed: r.failed,
            cpuPercent,
          });
        }
      }
    } finally {
      await stopCompetitors(competitors);
    }
    for (const name of names) {
      const runs = raw.runs.filter((r) => r.competitor === name);
      raw.medians[name] = {
        p50: median(runs.map((r) => r.p50)),
        p99: median(runs.map((r) => r.p99)),
        p999: median(runs.map((r) => r.p999)),
        cpuPercent: median(runs.map((r) => r.cpuPercent)),
        failed: runs.reduce((a, r) => a + r.failed, 0),
      };
    }
    report(ctx, raw);
    return raw;
  } finally {
    await backend.proc.stop();
  }
}

function report(ctx: Context, raw: LatencyRaw): void {
  const best = (c: string): number => Math.min(...raw.runs.filter((r) => r.competitor === c).map((r) => r.p99));
  const nginxP99 = raw.medians.nginx?.p99;
  for (const c of raw.competitors) {
    const m = raw.medians[c]!;
    const note =
      `p50 ${m.p50.toFixed(2)} ms, best round ${best(c).toFixed(2)} ms, CPU ${m.cpuPercent.toFixed(0)} %` +
      `${m.failed ? `, ${m.failed} failed` : ''}${c === 'ref-node' ? '; reference, no target' : ''}`;
    const row = { scenario: SCENARIO, metric: `${c} p99 @1,000 req/s`, value: m.p99, unit: 'ms', note };
    if (c.startsWith('balancer') && nginxP99 !== undefined)
      ctx.rows.push({
        ...row,
        target: `≤ nginx + 1 ms (${(nginxP99 + 1).toFixed(2)})`,
        pass: m.p99 <= nginxP99 + 1 && m.failed === 0,
        goal: GOAL,
      });
    else ctx.rows.push(row);
  }
}
