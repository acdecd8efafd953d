// Reads a V8 .cpuprofile (node --cpu-prof) and reports where the time went: top functions by self
// time, by inclusive time, and by package; and draws a flame graph as SVG.
// Also a CLI: [SKIP_MS=n] node dist/bench/lib/profile.js <file.cpuprofile> [flame.svg]
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  name: string;
  where: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
}
export interface ProfileSummary {
  durationMs: number;
  busyMs: number;
  idleMs: number;
  topSelf: FunctionTime[];
  topTotal: FunctionTime[];
  packages: Array<{ name: string; selfMs: number; selfPct: number; totalMs: number; totalPct: number }>;
}

function shortUrl(url: string): string {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

/** The package a frame belongs to: an npm package, node's own code, our code, or V8 (gc, program). */
function packageOf(f: CallFrame): string {
  const url = f.url;
  if (!url) return f.functionName.startsWith('(') ? f.functionName : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const dist = /\/dist\/([^/]+)\/([^/]+)$/.exec(url);
  if (dist) return `ours:${dist[1]}/${dist[2]}`;
  return url;
}

const keyOf = (f: CallFrame): string =>
  `${f.functionName || '(anonymous)'}\u0000${shortUrl(f.url)}:${f.lineNumber + 1}`;

/** Per node id, the µs of samples taken at least `skipMs` after the profile started. */
function sampleTimes(profile: CpuProfile, skipMs: number): Map<number, number> {
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  const from = profile.startTime + skipMs * 1000;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const dt = Math.max(0, profile.timeDeltas[i + 1] ?? 0);
    if (t < from) continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  return selfUs;
}

/** `skipMs`: leave out the first milliseconds (process start-up, before the load began). */
export function summarizeProfile(profile: CpuProfile, top = 25, skipMs = 0): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = sampleTimes(profile, skipMs);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const pkgSelf = new Map<string, number>();
  const pkgTotal = new Map<string, number>();
  let idleUs = 0;
  let allUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    allUs += us;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const k = keyOf(node.callFrame);
    self.set(k, (self.get(k) ?? 0) + us);
    const p = packageOf(node.callFrame);
    pkgSelf.set(p, (pkgSelf.get(p) ?? 0) + us);
    const seen = new Set<string>();
    const seenPkg = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (f.functionName === '(root)') break;
      const fk = keyOf(f);
      if (!seen.has(fk)) {
        seen.add(fk);
        total.set(fk, (total.get(fk) ?? 0) + us);
      }
      const fp = packageOf(f);
      if (!seenPkg.has(fp)) {
        seenPkg.add(fp);
        pkgTotal.set(fp, (pkgTotal.get(fp) ?? 0) + us);
      }
    }
  }
  const busyUs = allUs - idleUs;
  const pct = (us: number): number => (busyUs > 0 ? (us / busyUs) * 100 : 0);
  const fn = (k: string): FunctionTime => {
    const [name, where] = k.split('\u0000') as [string, string];
    const s = self.get(k) ?? 0;
    const t = total.get(k) ?? 0;
    return { name, where, selfMs: s / 1000, selfPct: pct(s), totalMs: t / 1000, totalPct: pct(t) };
  };
  const sortBy = (m: Map<string, number>): string[] => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  return {
    durationMs: (profile.endTime - profile.startTime) / 1000 - skipMs,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    topSelf: sortBy(self).slice(0, top).map(fn),
    topTotal: sortBy(total)
      .filter((k) => !k.startsWith('(program)') && !k.startsWith('(garbage'))
      .slice(0, top)
      .map(fn),
    packages: sortBy(pkgSelf).map((p) => ({
      name: p,
      selfMs: (pkgSelf.get(p) ?? 0) / 1000,
      selfPct: pct(pkgSelf.get(p) ?? 0),
      totalMs: (pkgTotal.get(p) ?? 0) / 1000,
      totalPct: pct(pkgTotal.get(p) ?? 0),
    })),
  };
}

export function renderProfileText(s: ProfileSummary): string {
  const lines = [
    `profile: ${s.durationMs.toFixed(0)} ms, busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms ` +
      '(percentages are of busy time)',
    '',
    'top self time:',
  ];
  for (const f of s.topSelf) lines.push(`  ${f.selfPct.toFixed(1).padStart(5)} %  ${f.name}  ${f.where}`);
  lines.push('', 'top inclusive time:');
  for (const f of s.topTotal) lines.push(`  ${f.totalPct.toFixed(1).padStart(5)} %  ${f.name}  ${f.where}`);
  lines.push('', 'by package (self / inclusive):');
  for (const p of s.packages.slice(0, 30))
    lines.push(`  ${p.selfPct.toFixed(1).padStart(5)} % / ${p.totalPct.toFixed(1).padStart(5)} %  ${p.name}`);
  return lines.join('\n') + '\n';
}

/** A flame graph (root at the bottom) of the non-idle time, frames under 0.1 % dropped. */
export function renderFlameSvg(profile: CpuProfile, title: string, skipMs = 0): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = sampleTimes(profile, skipMs);
  const totalOf = new Map<number, number>();
  const total = (id: number): number => {
    const cached = totalOf.get(id);
    if (cached !== undefined) return cached;
    const n = byId.get(id)!;
    if (n.callFrame.functionName === '(idle)') return 0;
    let t = selfUs.get(id) ?? 0;
    for (const c of n.children ?? []) t += total(c);
    totalOf.set(id, t);
    return t;
  };
  const root = profile.nodes[0]!;
  const rootUs = total(root.id);
  const width = 1200;
  const rowH = 16;
  const rects: Array<{ x: number; w: number; depth: number; label: string; pct: number }> = [];
  let maxDepth = 0;
  const walk = (id: number, x: number, depth: number): void => {
    const t = total(id);
    if (t <= 0 || t / rootUs < 0.001) return;
    const n = byId.get(id)!;
    const w = (t / rootUs) * width;
    const f = n.callFrame;
    rects.push({
      x,
      w,
      depth,
      label: `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`,
      pct: (t / rootUs) * 100,
    });
    maxDepth = Math.max(maxDepth, depth);
    let cx = x;
    for (const c of n.children ?? []) {
      walk(c, cx, depth + 1);
      cx += (total(c) / rootUs) * width;
    }
  };
  walk(root.id, 0, 0);
  const height = (maxDepth + 1) * rowH + 40;
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const color = (label: string): string => {
    let h = 0;
    for (let i = 0; i < label.length; i++) h = (h * 31 + label.charCodeAt(i)) >>> 0;
    return label.includes('node_modules')
      ? `hsl(${20 + (h % 30)},80%,${55 + (h % 15)}%)`
      : label.includes('dist/')
        ? `hsl(${200 + (h % 30)},60%,${60 + (h % 15)}%)`
        : `hsl(${40 + (h % 20)},70%,${60 + (h % 15)}%)`;
  };
  const body = rects.map((r) => {
    const y = height - 10 - (r.depth + 1) * rowH;
    const text =
      r.w > 40
        ? `<text x="${(r.x + 3).toFixed(1)}" y="${y + 12}" font-size="11">` +
          `${esc(r.label.slice(0, Math.floor(r.w / 6.5)))}</text>`
        : '';
    const w = Math.max(0.5, r.w - 0.5).toFixed(1);
    return (
      `<g><title>${esc(r.label)} (${r.pct.toFixed(1)} %)</title>` +
      `<rect x="${r.x.toFixed(1)}" y="${y}" width="${w}" height="${rowH - 1}" fill="${color(r.label)}"/>${text}</g>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="monospace">`,
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<text x="5" y="16" font-size="13" font-family="sans-serif">${esc(title)} (non-idle time; hover for names)</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

export function loadProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/lib/profile.js <file.cpuprofile> [flame.svg]\n');
    process.exit(2);
  }
  const p = loadProfile(file);
  const skip = Number(process.env.SKIP_MS ?? '0');
  process.stdout.write(renderProfileText(summarizeProfile(p, 30, skip)));
  if (process.argv[3]) writeFileSync(process.argv[3], renderFlameSvg(p, file, skip));
}
