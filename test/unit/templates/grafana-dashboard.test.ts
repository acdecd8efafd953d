// The Grafana dashboard must only query metrics the programs really export, with the labels they have.
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createBalancerMetrics } from '../../../balancer/admin/metrics.js';
import { emptyTable } from '../../../balancer/table/route-table.js';
import { createSidekickMetrics } from '../../../sidekick/metrics.js';

interface Panel {
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Array<{ expr: string }>;
}
const dashboard = JSON.parse(
  readFileSync(new URL('../../../templates/grafana/dashboard.json', import.meta.url), 'utf8'),
) as { uid: string; panels: Panel[] };

async function exported(): Promise<Map<string, Set<string>>> {
  const balancer = createBalancerMetrics(
    { table: () => emptyTable(), isEjected: () => false, isUnhealthy: () => false, inflight: () => 0 },
    new Registry(),
  );
  const sidekick = createSidekickMetrics(new Registry());
  const names = new Map<string, Set<string>>();
  for (const reg of [balancer.registry, sidekick.registry]) {
    for (const m of reg.getMetricsAsArray() as unknown as Array<{ name: string; type: string; labelNames: string[] }>) {
      const labels = new Set<string>(m.labelNames);
      names.set(m.name, labels);
      if (m.type === 'histogram')
        for (const suffix of ['_bucket', '_sum', '_count']) names.set(m.name + suffix, new Set([...labels, 'le']));
    }
  }
  return names;
}

describe('templates/grafana/dashboard.json', () => {
  it('queries only exported metrics, grouped by labels they carry', async () => {
    const names = await exported();
    const queried = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(queried.length).toBeGreaterThan(10);
    for (const expr of queried) {
      const metrics = [...expr.matchAll(/\b((?:balancer|sidekick)_[a-z_]+)\b/g)].map((m) => m[1] as string);
      expect(metrics.length, expr).toBeGreaterThan(0);
      for (const name of metrics) expect(names.has(name), `${name} in ${expr}`).toBe(true);
      for (const by of expr.matchAll(/by \(([^)]*)\)/g)) {
        for (const label of (by[1] ?? '').split(',').map((l) => l.trim())) {
          if (label === 'instance') continue; // added by Prometheus at scrape time
          expect(
            metrics.some((n) => names.get(n)?.has(label)),
            `label ${label} in ${expr}`,
          ).toBe(true);
        }
      }
    }
  });

  it('lays panels out on the 24-column grid without overlaps', () => {
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });
});
