// chart.svg: the run's headline numbers as bar charts (throughput, CPU per request, latency at a fixed
// rate, the HTTPS / access-log / route-policy variants, convergence), drawn from the scenarios' raw results.
import { renderSvg, type Panel, type Row } from './report.js';
import type { ConvergenceRaw } from '../scenarios/convergence.js';
import type { LatencyRaw } from '../scenarios/latency.js';
import type { ThroughputRaw } from '../scenarios/throughput.js';
import type { Interleaved } from './interleave.js';

export function chart(rows: readonly Row[], raw: Record<string, unknown>, title: string, subtitle: string): string {
  const panels: Panel[] = [];
  const bySize = (t: ThroughputRaw, of: 'rps' | 'cpuUsPerReq'): Panel['groups'] =>
    t.competitors.map((c) => ({
      label: c,
      values: [t.medians[c]?.small?.[of] ?? Number.NaN, t.medians[c]?.['64KiB']?.[of] ?? Number.NaN],
    }));
  const t = raw.throughput as ThroughputRaw | undefined;
  if (t) {
    panels.push({
      title: 'Throughput, static nginx backend, wrk -t1 -c32 keep-alive (median req/s)',
      series: ['small', '64 KiB'],
      unit: '',
      groups: bySize(t, 'rps'),
    });
    panels.push({
      title: 'CPU time per request, static backend (median µs; all of its processes)',
      series: ['small', '64 KiB'],
      unit: 'µs',
      groups: bySize(t, 'cpuUsPerReq'),
    });
  }
  const tn = raw['throughput-node'] as ThroughputRaw | undefined;
  if (tn) {
    panels.push({
      title: 'Throughput, node:http backend (median req/s)',
      series: ['small', '64 KiB'],
      unit: '',
      groups: bySize(tn, 'rps'),
    });
  }
  const l = raw.latency as LatencyRaw | undefined;
  if (l) {
    const nginxP99 = l.medians.nginx?.p99 ?? Number.NaN;
    panels.push({
      title: 'Latency at a fixed 1,000 req/s, static backend (median of rounds, ms)',
      series: ['p50', 'p99', 'p99.9'],
      unit: 'ms',
      groups: Object.entries(l.medians).map(([c, v]) => ({ label: c, values: [v.p50, v.p99, v.p999] })),
      ...(Number.isFinite(nginxP99) ? { marker: { value: nginxP99 + 1, label: 'target: nginx p99 + 1 ms' } } : {}),
    });
  }
  // The variant comparisons (issues 13 and 15): one bar per variant, req/s and CPU µs/request.
  const variants = (['https', 'access-log', 'route-policy'] as const).flatMap((k) => {
    const v = raw[k] as Interleaved | undefined;
    // Short labels (the chart's label column is narrow): "w1 --access-log", "w1 policy route", …
    const label = (name: string): string =>
      k === 'access-log' && name === 'balancer-w1' ? 'w1, no access log' : name.replace('balancer-w1', 'w1');
    return v ? Object.entries(v.medians).map(([name, m]) => ({ label: label(name), m })) : [];
  });
  if (variants.length > 0) {
    panels.push({
      title: 'HTTPS, access log, route policy (median req/s)',
      series: ['req/s'],
      unit: '',
      groups: variants.map(({ label, m }) => ({ label, values: [m.rps] })),
    });
    panels.push({
      title: 'HTTPS, access log, route policy: CPU per request (median µs)',
      series: ['µs/request'],
      unit: 'µs',
      groups: variants.map(({ label, m }) => ({ label, values: [m.cpuUsPerReq] })),
    });
  }
  const c = raw.convergence as ConvergenceRaw | undefined;
  if (c) {
    const labels: Record<string, string> = {
      putToRouted: 'put → routed',
      deleteToRemoved: 'delete → removed',
      startToFirst200: 'start → first 200',
      healthyToFirst200: 'healthy → first 200',
      stopToNoNew: 'stop → no new requests',
    };
    panels.push({
      title: 'Convergence (ms)',
      series: ['p50', 'p99'],
      unit: 'ms',
      groups: Object.entries(labels).map(([k, label]) => ({
        label: `${label} (n=${c.summaries[k]?.n ?? 0})`,
        values: [c.summaries[k]?.p50 ?? Number.NaN, c.summaries[k]?.p99 ?? Number.NaN],
      })),
      marker: { value: 100, label: 'target 100 ms' },
    });
  }
  const verdicts = rows.filter((r) => r.pass !== undefined);
  const failed = verdicts.filter((r) => r.pass === false).length;
  return renderSvg(title, `${subtitle} · ${verdicts.length - failed}/${verdicts.length} targets met`, panels);
}
