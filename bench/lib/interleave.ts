// Interleaved throughput runs for scenarios that compare a few variants (a balancer with and without an
// access log, a policy route against a plain one, HTTPS peers): each variant has its own load command,
// the order rotates round by round, and each variant's medians (req/s, p99, CPU µs/request of its
// processes from /proc) are reported with the same row format as the throughput set.
import type { WrkResult } from './components.js';
import { treeCpuSeconds } from './proc-stats.js';
import type { Row } from './report.js';
import { log, median } from './util.js';

export interface Variant {
  readonly name: string;
  /** Whose CPU is charged to the variant's requests (the process and its direct children). */
  readonly pid?: number;
  /** One load run of `seconds`; a load that reads the CPU itself (its own window) reports `cpuSeconds`. */
  run(seconds: number): Promise<WrkResult & { readonly cpuSeconds?: number }>;
}

/** What a variant's operations are called in its rows: requests by default, handshakes, messages. */
export interface Units {
  /** Rate unit, e.g. "req/s". */
  readonly rate: string;
  /** One operation in "CPU µs/<per>", e.g. "req". */
  readonly per: string;
}

export const REQUESTS: Units = { rate: 'req/s', per: 'req' };

export interface VariantRun extends WrkResult {
  readonly round: number;
  readonly variant: string;
  readonly cpuUsPerReq: number;
}

export interface VariantMedian {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuUsPerReq: number;
}

export interface Interleaved {
  readonly rounds: number;
  readonly seconds: number;
  readonly runs: VariantRun[];
  readonly medians: Record<string, VariantMedian>;
}

/**
 * Rounds for a two-variant target (≤ 10 % fewer req/s): at least 5, even in quick mode, because a
 * median of two per-round ratios on a shared machine is one noisy round away from either verdict.
 */
export const pairRounds = (rounds: number): number => Math.max(5, rounds);

/** Medians of a variant's runs; errors are summed (socket errors and non-2xx answers). */
export function medianOf(runs: readonly VariantRun[]): VariantMedian {
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((a, r) => a + r.errors + r.non2xx, 0),
    cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)),
  };
}

/** A short unmeasured run of each variant (JIT, pools, TLS sessions), then `rounds` rotated rounds. */
export async function interleave(
  what: string,
  variants: readonly Variant[],
  rounds: number,
  seconds: number,
): Promise<Interleaved> {
  log(
    `${what}: ${variants.length} variants × ${rounds} rounds × ${seconds}s: ${variants.map((v) => v.name).join(', ')}`,
  );
  for (const v of variants) await v.run(1);
  const runs: VariantRun[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + round) % variants.length]!;
      const cpu0 = v.pid === undefined ? Number.NaN : treeCpuSeconds(v.pid);
      const r = await v.run(seconds);
      const cpu = r.cpuSeconds ?? (v.pid === undefined ? Number.NaN : treeCpuSeconds(v.pid) - cpu0);
      runs.push({ ...r, round, variant: v.name, cpuUsPerReq: (cpu / r.requests) * 1e6 });
    }
  }
  const medians = Object.fromEntries(variants.map((v) => [v.name, medianOf(runs.filter((r) => r.variant === v.name))]));
  return { rounds, seconds, runs, medians };
}

const fixed = (v: number | undefined, digits: number): string =>
  v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '?';

/** "<name> req/s (median)" with p99, CPU µs/request and errors in the note, as the throughput rows. */
export function variantRow(scenario: string, label: string, m: VariantMedian, extra = '', u = REQUESTS): Row {
  return {
    scenario,
    metric: `${label} ${u.rate} (median)`,
    value: m.rps,
    unit: u.rate,
    note:
      `${m.errors > 0 ? `${m.errors} errors, ` : ''}p99 ${fixed(m.p99, 2)} ms, ` +
      `CPU ${fixed(m.cpuUsPerReq, 0)} µs/${u.per}${extra}`,
  };
}

/**
 * `a`'s req/s over `b`'s as the median of the per-round ratios: the two ran back to back in each round,
 * so a round where the shared machine was slower for both cancels out (the ratio of the medians does
 * not: it pairs runs from different rounds). With `min` it is a target (≥ min×, tagged with `goal`).
 * Errors in either variant fail the target: a faster run that dropped requests proves nothing.
 */
export function ratioRow(
  scenario: string,
  metric: string,
  raw: Interleaved,
  a: string,
  b: string,
  target?: { min: number; goal: string },
  u = REQUESTS,
): Row | undefined {
  const ma = raw.medians[a];
  const mb = raw.medians[b];
  if (!ma || !mb) return undefined;
  const ratios: number[] = [];
  for (const ra of raw.runs.filter((r) => r.variant === a)) {
    const rb = raw.runs.find((r) => r.variant === b && r.round === ra.round);
    if (rb) ratios.push(ra.rps / rb.rps);
  }
  const value = median(ratios);
  const errors = ma.errors + mb.errors;
  const cpu = `CPU ${fixed(ma.cpuUsPerReq, 0)} vs ${fixed(mb.cpuUsPerReq, 0)} µs/${u.per}`;
  const note =
    `median of ${ratios.length} per-round ratios; medians ${Math.round(ma.rps)} vs ${Math.round(mb.rps)} ${u.rate}, ` +
    `${cpu}${errors > 0 ? `, ${errors} errors` : ''}`;
  if (!target) return { scenario, metric, value, unit: '×', note };
  return {
    scenario,
    metric,
    value,
    unit: '×',
    target: `≥ ${target.min}×`,
    pass: Number.isFinite(value) && value >= target.min && errors === 0,
    note,
    goal: target.goal,
  };
}
