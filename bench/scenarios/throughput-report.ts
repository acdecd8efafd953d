// Rows for the throughput sets: one per competitor and size (req/s, with p99, CPU µs/request and the
// ratio to nginx in its note), then the targets. Issue 12's targets are tagged with their goal, so the
// summary and results.json list them with met/missed; a target whose competitors were left out by
// `--only` is not reported at all.
import type { Context } from '../lib/context.js';
import type { Row } from '../lib/report.js';
import type { ThroughputRaw } from './throughput.js';

export const GOAL = 'issue 12';

const fixed = (v: number | undefined, digits: number): string =>
  v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '?';

export function reportSet(ctx: Context, scenario: string, raw: ThroughputRaw): void {
  const m = raw.medians;
  for (const size of Object.keys(m[raw.competitors[0] ?? ''] ?? {})) {
    const nginx = m.nginx?.[size]?.rps;
    for (const c of raw.competitors) {
      const s = m[c]?.[size];
      if (!s) continue;
      const vsNginx = nginx !== undefined && c !== 'nginx' ? `, ${fixed(s.rps / nginx, 2)}× nginx` : '';
      ctx.rows.push({
        scenario,
        metric: `${c} ${size} req/s (median)`,
        value: s.rps,
        unit: 'req/s',
        note:
          `${s.errors > 0 ? `${s.errors} errors, ` : ''}p99 ${fixed(s.p99, 2)} ms, ` +
          `CPU ${fixed(s.cpuUsPerReq, 0)} µs/req${vsNginx}`,
      });
    }
  }
}

interface Ratio {
  readonly metric: string;
  readonly a: string;
  readonly b: string;
  readonly size: string;
  readonly of: 'rps' | 'cpuUsPerReq';
  /** value ≥ min (or ≤ max) passes. */
  readonly min?: number;
  readonly max?: number;
  readonly goal?: string;
}

const ISSUE_12: readonly Ratio[] = [
  { metric: 'balancer-w1/nginx small req/s', a: 'balancer-w1', b: 'nginx', size: 'small', of: 'rps', min: 0.6 },
  { metric: 'balancer-w1/caddy small req/s', a: 'balancer-w1', b: 'caddy', size: 'small', of: 'rps', min: 2 },
  { metric: 'balancer-w1/nginx 64KiB req/s', a: 'balancer-w1', b: 'nginx', size: '64KiB', of: 'rps', min: 0.6 },
  ...['small', '64KiB'].map((size): Ratio => ({
    metric: `balancer-auto/balancer-w1 ${size} req/s`,
    a: 'balancer-auto',
    b: 'balancer-w1',
    size,
    of: 'rps',
    min: 1.1,
  })),
  ...['small', '64KiB'].map((size): Ratio => ({
    metric: `CPU per request balancer-w1/nginx ${size}`,
    a: 'balancer-w1',
    b: 'nginx',
    size,
    of: 'cpuUsPerReq',
    max: 2.5,
  })),
];
const RATIOS = ISSUE_12.map((r): Ratio => ({ ...r, goal: GOAL }));

// The project's earlier target (README): at least 2.5× what a plain Node proxy does.
const PLAIN: readonly Ratio[] = ['balancer-w1', 'balancer-auto'].flatMap((a) =>
  ['small', '64KiB'].map((size) => ({
    metric: `${a}/plain-http-proxy ${size} req/s`,
    a,
    b: 'plain-http-proxy',
    size,
    of: 'rps' as const,
    min: 2.5,
  })),
);

function ratioRow(raw: ThroughputRaw, scenario: string, r: Ratio): Row | undefined {
  const a = raw.medians[r.a]?.[r.size]?.[r.of];
  const b = raw.medians[r.b]?.[r.size]?.[r.of];
  if (a === undefined || b === undefined) return undefined;
  const value = a / b;
  const digits = r.of === 'rps' ? 0 : 1;
  const unit = r.of === 'rps' ? 'req/s' : 'µs';
  return {
    scenario,
    metric: r.metric,
    value,
    unit: '×',
    target: r.min !== undefined ? `≥ ${r.min}×` : `≤ ${r.max}×`,
    pass: Number.isFinite(value) && (r.min !== undefined ? value >= r.min : value <= r.max!),
    note: `${a.toFixed(digits)} vs ${b.toFixed(digits)} ${unit}`,
    ...(r.goal ? { goal: r.goal } : {}),
  };
}

export function reportTargets(ctx: Context, raw: ThroughputRaw): void {
  const scenario = '1 throughput, static backend';
  for (const r of [...RATIOS, ...PLAIN]) {
    const row = ratioRow(raw, scenario, r);
    if (row) ctx.rows.push(row);
  }
}
