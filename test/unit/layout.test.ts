// The source layout as a tested fact: no import cycle in balancer/, sidekick/ or common/, and the
// balancer's stages import only what their place in the pipeline allows (registry → table → proxy →
// admin; balancer.ts is the one composition root). A new import that breaks a rule fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SOURCE_DIRS = ['balancer', 'sidekick', 'common'];

interface Import {
  /** Repo-relative path of the imported .ts file, or the bare module name. */
  readonly target: string;
  readonly typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const IMPORT_RE = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*['"]([^'"]+)['"]/g;
const DYNAMIC_RE = /import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file: string): Import[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean): void => {
    const target = spec.startsWith('.')
      ? relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts')
      : spec;
    out.push({ target, typeOnly });
  };
  for (const m of src.matchAll(IMPORT_RE)) {
    // `import { type A, type B } from` is type-only too.
    const names = m[3] ?? '';
    const allTyped =
      /^\{[^}]*\}$/.test(names) &&
      names
        .slice(1, -1)
        .split(',')
        .every((n) => /^\s*(type\s|$)/.test(n));
    add(m[4] ?? '', m[2] !== undefined || allTyped);
  }
  for (const m of src.matchAll(DYNAMIC_RE)) add(m[1] ?? '', false);
  return out;
}

const files = SOURCE_DIRS.flatMap(sourceFiles).sort();
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Every cycle's files, found by Tarjan's strongly connected components. */
function cycles(): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const { target: w } of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      const selfLoop = (graph.get(v) ?? []).some((i) => i.target === v);
      if (scc.length > 1 || selfLoop) found.push(scc.sort());
    }
  };
  for (const f of graph.keys()) if (!idx.has(f)) visit(f);
  return found;
}

type Stage = 'registry' | 'table' | 'proxy' | 'admin';
const stageOf = (file: string): Stage | undefined =>
  /^balancer\/(registry|table|proxy|admin)\//.exec(file)?.[1] as Stage | undefined;

/** Which balancer stages each stage may import; `types` means the model file balancer/types.ts. */
const ALLOWED: Record<Stage, { value: readonly string[]; typeOnly: readonly string[] }> = {
  table: { value: ['table', 'types'], typeOnly: [] },
  registry: { value: ['registry', 'table', 'types'], typeOnly: [] },
  proxy: { value: ['proxy', 'types'], typeOnly: [] },
  admin: { value: ['admin', 'table', 'types'], typeOnly: ['proxy', 'registry'] },
};
const ROOT_FILES = new Set([
  'balancer/balancer.ts',
  'balancer/main.ts',
  'balancer/primary.ts',
  'balancer/config.ts',
  'balancer/table-swap.ts',
  'balancer/tls-setup.ts',
]);
// Modules that do I/O: the pure table stage may only name their types.
const IO_MODULES =
  /^(node:(net|http|https|http2|tls|fs|fs\/promises|child_process|cluster|dgram|dns)|etcd3|dockerode)$/;

function violations(): string[] {
  const out: string[] = [];
  for (const [file, imports] of graph) {
    const stage = stageOf(file);
    for (const { target, typeOnly } of imports) {
      if (file.startsWith('common/') && /^(balancer|sidekick)\//.test(target)) out.push(`${file} → ${target}`);
      if (file.startsWith('sidekick/') && target.startsWith('balancer/')) out.push(`${file} → ${target}`);
      if (stage === undefined) continue;
      if (ROOT_FILES.has(target)) out.push(`${file} → ${target} (the composition root)`);
      if (target === 'etcd3' && stage !== 'registry') out.push(`${file} → etcd3 (only registry/ talks to etcd)`);
      if (stage === 'table' && !typeOnly && IO_MODULES.test(target)) out.push(`${file} → ${target} (I/O in table/)`);
      if (!target.startsWith('balancer/')) continue;
      const to = target === 'balancer/types.ts' ? 'types' : stageOf(target);
      if (to === undefined) continue;
      const rule = ALLOWED[stage];
      if (!rule.value.includes(to) && !(typeOnly && rule.typeOnly.includes(to))) {
        out.push(`${file} → ${target} (${stage}/ may not import ${to}${typeOnly ? ' types' : ''})`);
      }
    }
  }
  return out.sort();
}

describe('source layout', () => {
  it('reads every source file of the three programs', () => {
    expect(files.length).toBeGreaterThan(50);
    for (const s of ['registry', 'table', 'proxy', 'admin']) {
      expect(files.some((f) => f.startsWith(`balancer/${s}/`))).toBe(true);
    }
  });

  it('has no import cycle in balancer/, sidekick/ or common/', () => {
    expect(cycles()).toEqual([]);
  });

  it('keeps each balancer stage to the imports its place allows', () => {
    expect(violations()).toEqual([]);
  });

  it('catches a cycle and a stage violation when there is one (the checks can fail)', () => {
    graph.set('balancer/proxy/zz-probe.ts', [
      { target: 'balancer/registry/registry-watch.ts', typeOnly: false },
      { target: 'balancer/proxy/zz-probe.ts', typeOnly: false },
    ]);
    try {
      expect(cycles()).toContainEqual(['balancer/proxy/zz-probe.ts']);
      expect(violations()).toContain(
        'balancer/proxy/zz-probe.ts → balancer/registry/registry-watch.ts (proxy/ may not import registry)',
      );
    } finally {
      graph.delete('balancer/proxy/zz-probe.ts');
    }
  });
});
