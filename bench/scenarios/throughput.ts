// Scenario 1, throughput: every competitor in front of the same backend, wrk with keep-alive clients,
// competitors interleaved round by round (the order rotates so no one always runs first), medians and
// ratios reported. Two sets, each with its own backend and its own competitor processes:
//   throughput       the fast static backend (nginx, one worker, keep-alive without a request cap), so
//                    a proxy's own cost shows; issue 12's targets are computed from this set
//   throughput-node  the node:http backend (bench/backend.ts) of earlier runs: it tops out near 25k
//                    req/s by itself, so it hides part of a fast proxy's advantage
import { wrk, type WrkResult } from '../lib/components.js';
import {
  type BackendRef,
  type Competitor,
  type CompetitorName,
  COMPETITORS,
  DESCRIPTIONS,
  selected,
  startCompetitors,
  stopCompetitors,
} from '../lib/competitors.js';
import type { Context } from '../lib/context.js';
import { startNginxStatic } from '../lib/peers.js';
import { treeCpuSeconds } from '../lib/proc-stats.js';
import { log, median } from '../lib/util.js';
import { reportSet, reportTargets } from './throughput-report.js';

export const SIZES = [
  { name: 'small', path: '/' },
  { name: '64KiB', path: '/64k' },
] as const;

export const STATIC_SET: readonly CompetitorName[] = COMPETITORS;
export const NODE_SET: readonly CompetitorName[] = [
  'direct',
  'nginx',
  'plain-http-proxy',
  'balancer-w1',
  'balancer-auto',
];

export interface SetMedian {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuUsPerReq: number;
}

export interface ThroughputRaw {
  backend: string;
  competitors: string[];
  describe: Record<string, string>;
  /** What each competitor's processes listened on, from /proc (loopback only, checked). */
  listening: Record<string, readonly string[]>;
  rounds: number;
  seconds: number;
  runs: Array<{ round: number; competitor: string; size: string; cpuUsPerReq: number } & WrkResult>;
  medians: Record<string, Record<string, SetMedian>>;
}

/** CPU seconds of a competitor's processes (and their direct children), NaN without a process. */
export const cpuOf = (c: { proc?: { pid: number } }): number => (c.proc ? treeCpuSeconds(c.proc.pid) : Number.NaN);

/** Warm-up for the competitors that need one (JIT, pools), all at once to save time; native ones need none. */
export async function warmUp(competitors: readonly Competitor[]): Promise<void> {
  await Promise.all(competitors.filter((c) => c.warm).map((c) => wrk(`${c.url}/`, 2, 8)));
}

async function measure(
  ctx: Context,
  backend: string,
  competitors: readonly Competitor[],
  rounds: number,
): Promise<ThroughputRaw> {
  const { seconds } = ctx.params;
  const raw: ThroughputRaw = {
    backend,
    competitors: competitors.map((c) => c.name),
    describe: Object.fromEntries(competitors.map((c) => [c.name, DESCRIPTIONS[c.name]])),
    listening: Object.fromEntries(competitors.map((c) => [c.name, c.listening])),
    rounds,
    seconds,
    runs: [],
    medians: {},
  };
  log(
    `throughput (${backend}): ${competitors.length} competitors × ${SIZES.length} sizes × ${rounds} rounds × ` +
      `${seconds}s: ${raw.competitors.join(', ')}`,
  );
  await warmUp(competitors);
  for (let round = 0; round < rounds; round++) {
    for (const size of SIZES) {
      for (let k = 0; k < competitors.length; k++) {
        const c = competitors[(k + round) % competitors.length]!;
        // CPU time per request (all of the competitor's processes, from /proc): unlike req/s it barely
        // depends on how much of the shared machine the competitor got during its turn.
        const cpu0 = cpuOf(c);
        const r = await wrk(c.url + size.path, seconds, 32);
        const cpuUsPerReq = ((cpuOf(c) - cpu0) / r.requests) * 1e6;
        raw.runs.push({ round, competitor: c.name, size: size.name, ...r, cpuUsPerReq });
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
  return raw;
}

async function runSet(
  ctx: Context,
  backend: string,
  ref: BackendRef,
  names: readonly CompetitorName[],
  tag: string,
  rounds: number,
): Promise<ThroughputRaw> {
  const competitors = await startCompetitors(ctx, ref, names, tag);
  try {
    return await measure(ctx, backend, competitors, rounds);
  } finally {
    await stopCompetitors(competitors);
  }
}

/** The main set: the fast static nginx backend, every competitor, issue 12's targets. */
export async function throughput(ctx: Context): Promise<ThroughputRaw | undefined> {
  const names = selected(ctx, STATIC_SET);
  if (names.length === 0) return skip('throughput');
  const backend = await startNginxStatic(ctx.work);
  try {
    const label = 'nginx static, one worker';
    const raw = await runSet(ctx, label, backend, names, 't1', ctx.params.rounds);
    reportSet(ctx, '1 throughput, static backend', raw);
    reportTargets(ctx, raw);
    return { ...raw, listening: { ...raw.listening, backend: backend.listening } };
  } finally {
    await backend.proc.stop();
  }
}

/** The second set: the same measurement behind the node:http backend. */
export async function throughputNode(ctx: Context): Promise<ThroughputRaw | undefined> {
  const names = selected(ctx, NODE_SET);
  if (names.length === 0) return skip('throughput-node');
  const rounds = Math.min(ctx.params.nodeRounds, ctx.params.rounds);
  const ref = { port: ctx.backendPort, proc: ctx.backendProc };
  const raw = await runSet(ctx, 'node:http (bench/backend.ts)', ref, names, 't2', rounds);
  reportSet(ctx, '1 throughput, node backend', raw);
  return raw;
}

function skip(scenario: string): undefined {
  log(`${scenario}: skipped, --only named none of its competitors`);
  return undefined;
}
