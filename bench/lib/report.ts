// Results: rows of (scenario, metric, value, target, PASS/FAIL), printed as a table, written as JSON,
// and drawn as a hand-written SVG bar chart.
import { writeFileSync } from 'node:fs';

export interface Row {
  readonly scenario: string;
  readonly metric: string;
  readonly value: number | string;
  readonly unit: string;
  /** Human-readable target, e.g. "≥ 0.5×". */
  readonly target?: string;
  /** true PASS, false FAIL, undefined: informational. */
  readonly pass?: boolean;
  readonly note?: string;
  /** Whose target this is (e.g. "issue 12"): such rows are also listed in the summary and in results.json. */
  readonly goal?: string;
}

/** Rows with a target of `goal`, as results.json lists them. */
export function goalSummary(rows: readonly Row[]): Array<{
  goal: string;
  metric: string;
  value: number | string;
  unit: string;
  target: string;
  met: boolean;
}> {
  return rows
    .filter((r) => r.goal !== undefined && r.pass !== undefined)
    .map((r) => ({
      goal: r.goal!,
      metric: r.metric,
      value: r.value,
      unit: r.unit,
      target: r.target ?? '',
      met: r.pass!,
    }));
}

/** One line per goal row: "met    balancer-w1/nginx small req/s  0.62× (target ≥ 0.6×)". */
export function renderGoals(rows: readonly Row[]): string {
  const goals = goalSummary(rows);
  const out: string[] = [];
  for (const goal of [...new Set(goals.map((g) => g.goal))]) {
    const mine = goals.filter((g) => g.goal === goal);
    out.push(
      `targets of ${goal}: ${mine.filter((g) => g.met).length} met, ${mine.filter((g) => !g.met).length} missed`,
    );
    const width = Math.max(...mine.map((g) => g.metric.length));
    for (const g of mine)
      out.push(
        `  ${g.met ? 'met   ' : 'MISSED'}  ${g.metric.padEnd(width)}  ${fmt(g.value, g.unit)} (target ${g.target})`,
      );
  }
  return out.join('\n');
}

export function fmt(v: number | string, unit = ''): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return 'n/a';
  const abs = Math.abs(v);
  const text =
    abs >= 1000
      ? Math.round(v).toLocaleString('en-US')
      : abs >= 100
        ? v.toFixed(0)
        : abs >= 10
          ? v.toFixed(1)
          : abs >= 1
            ? v.toFixed(2)
            : v.toFixed(3);
  return unit === '×' ? `${text}×` : unit ? `${text} ${unit}` : text;
}

const verdict = (r: Row): string => (r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL');

export function renderTable(rows: readonly Row[]): string {
  const header = ['scenario', 'metric', 'value', 'target', 'result'];
  const cells = rows.map((r) => [
    r.scenario,
    r.metric + (r.note ? ` (${r.note})` : ''),
    fmt(r.value, r.unit),
    r.target ?? '',
    verdict(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string =>
    c
      .map((x, i) => (i === 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** The same table as Markdown, for the README's Performance section. */
export function renderMarkdown(rows: readonly Row[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = ['| scenario | metric | value | target | result |', '|---|---|--:|---|---|'];
  for (const r of rows)
    out.push(
      `| ${esc(r.scenario)} | ${esc(r.metric + (r.note ? ` (${r.note})` : ''))} | ` +
        `${esc(fmt(r.value, r.unit))} | ${esc(r.target ?? '')} | ${verdict(r)} |`,
    );
  return out.join('\n');
}

export function writeJson(file: string, data: unknown): void {
  writeFileSync(
    file,
    `${JSON.stringify(data, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
}

// ---- SVG --------------------------------------------------------------------------------------

export interface BarGroup {
  readonly label: string;
  readonly values: readonly number[];
}
export interface Panel {
  readonly title: string;
  readonly series: readonly string[];
  readonly groups: readonly BarGroup[];
  readonly unit: string;
  /** A vertical dashed line, e.g. a target. */
  readonly marker?: { readonly value: number; readonly label: string };
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2'];
const escXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function panelSvg(p: Panel, y0: number, width: number): { svg: string; height: number } {
  const labelW = 190;
  const barH = 14;
  const gap = 8;
  const plotW = width - labelW - 90;
  const finite = p.groups.flatMap((g) => g.values).filter((v) => Number.isFinite(v));
  const max = Math.max(1e-9, ...finite, p.marker?.value ?? 0) * 1.05;
  const parts: string[] = [];
  parts.push(`<text x="10" y="${y0 + 18}" font-size="15" font-weight="bold">${escXml(p.title)}</text>`);
  let y = y0 + 32;
  p.series.forEach((s, i) => {
    const x = labelW + i * 150;
    parts.push(
      `<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>` +
        `<text x="${x + 16}" y="${y}" font-size="12">${escXml(s)}</text>`,
    );
  });
  y += 12;
  const top = y;
  for (const g of p.groups) {
    parts.push(
      `<text x="${labelW - 8}" y="${y + (barH * g.values.length) / 2 + 4}" font-size="12" text-anchor="end">` +
        `${escXml(g.label)}</text>`,
    );
    g.values.forEach((v, i) => {
      const w = Number.isFinite(v) ? (v / max) * plotW : 0;
      parts.push(
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" ` +
          `fill="${COLORS[i % COLORS.length]}"/>`,
      );
      parts.push(`<text x="${labelW + w + 4}" y="${y + barH - 4}" font-size="11">${escXml(fmt(v, p.unit))}</text>`);
      y += barH;
    });
    y += gap;
  }
  if (p.marker) {
    const x = labelW + (p.marker.value / max) * plotW;
    parts.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${y}" ` +
        'stroke="#d00" stroke-dasharray="4 3"/>',
    );
    parts.push(
      `<text x="${x.toFixed(1)}" y="${y + 12}" font-size="11" fill="#d00" text-anchor="middle">` +
        `${escXml(p.marker.label)}</text>`,
    );
    y += 14;
  }
  parts.push(`<line x1="${labelW}" y1="${top - 4}" x2="${labelW}" y2="${y}" stroke="#333"/>`);
  return { svg: parts.join('\n'), height: y - y0 + 16 };
}

export function renderSvg(title: string, subtitle: string, panels: readonly Panel[]): string {
  const width = 900;
  let y = 50;
  const bodies: string[] = [];
  for (const p of panels) {
    const { svg, height } = panelSvg(p, y, width);
    bodies.push(svg);
    y += height;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" ` +
      `viewBox="0 0 ${width} ${y + 10}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="18" font-weight="bold">${escXml(title)}</text>`,
    `<text x="10" y="40" font-size="12" fill="#555">${escXml(subtitle)}</text>`,
    ...bodies,
    '</svg>',
    '',
  ].join('\n');
}
