// Shared parts of the chaos harness: the world a scenario runs in (etcd, balancer, sidekicks,
// containers, load), the oracle (registry and route table against `docker ps`), and the result row.
// It reuses the test helpers (compiled alongside into dist/chaos by chaos/tsconfig.json).
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { docker, runContainer, testRun, uniq } from '../test/helpers/docker.js';
import type { EtcdServer } from '../test/helpers/etcd.js';
import { runLoad, type LoadResult } from '../test/helpers/load.js';
import { metricSum } from '../test/helpers/metrics.js';
import { startProgram, type Program } from '../test/helpers/program.js';
import { waitFor } from '../test/helpers/wait.js';

const run = promisify(execFile);

/** The image run.sh builds with scripts/build-web-image.sh under a chaos-only tag (tests pass theirs). */
export const chaosImage = (): string => process.env.CHAOS_IMAGE ?? 'sidekick-chaos/web:latest';

const finalizers = new Set<() => Promise<void>>();

/** Registers teardown for resources the test helpers do not track (clusters, netns, a private dockerd). */
export function registerCleanup(fn: () => Promise<void>): () => void {
  finalizers.add(fn);
  return () => void finalizers.delete(fn);
}

/** Runs every registered teardown once (on SIGINT, or after a scenario that threw). */
export async function runCleanups(): Promise<void> {
  for (const fn of [...finalizers].reverse()) {
    finalizers.delete(fn);
    await fn().catch(() => undefined);
  }
}

export interface Row {
  scenario: string;
  sent: number;
  failed: number;
  /** Worst time to converge measured in the scenario (ms); undefined when not applicable. */
  convergeMs?: number;
  /** Entries in the registry or the table that no running container backs, plus missing ones. */
  stale: number;
  target: string;
  pass: boolean;
  note: string;
}

export interface Balancer {
  readonly program: Program;
  readonly proxyUrl: string;
  readonly adminUrl: string;
}

export async function startBalancer(endpoints: string, extra: readonly string[] = []): Promise<Balancer> {
  // CHAOS_LOG_LEVEL=debug makes the proxy log every failed upstream attempt (evidence for failures).
  const level = process.env.CHAOS_LOG_LEVEL;
  const program = startProgram('balancer', [
    '--etcd-endpoints',
    endpoints,
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--log-format',
    'json',
    ...(level ? ['--log-level', level] : []),
    ...extra,
  ]);
  const line = await waitFor(
    'balancer listening',
    () => {
      if (program.proc.exitCode !== null) throw new Error(`balancer exited: ${program.output().slice(-2000)}`);
      return program.logs().find((l) => l.msg === 'balancer listening');
    },
    15_000,
  );
  const b = { program, proxyUrl: `http://${String(line.proxy)}`, adminUrl: `http://${String(line.admin)}` };
  await waitFor('balancer ready', async () => (await fetch(`${b.adminUrl}/readyz`)).status === 200, 15_000);
  return b;
}

export function startSidekick(endpoints: string, node: string, extra: readonly string[] = []): Program {
  const p = startProgram('sidekick', [
    '--etcd-endpoints',
    endpoints,
    '--node',
    node,
    '--host-ip',
    '127.0.0.1',
    '--metrics',
    'off',
    '--log-format',
    'json',
    ...(extra.includes('--ttl') ? [] : ['--ttl', '10s']),
    ...extra,
  ]);
  p.exited().then(
    (code) => {
      if (code !== 0 && code !== 'SIGKILL' && code !== 'SIGTERM')
        console.error(`chaos: sidekick exited ${code}: ${p.output().slice(-1500)}`);
    },
    () => undefined,
  );
  return p;
}

/** Starts a web container for `service` (published on loopback), answering "served by <name>". */
export async function webContainer(service: string, name = uniq(service)): Promise<string> {
  await runContainer({
    name,
    image: chaosImage(),
    labels: { 'sidekick.service': service, 'chaos.service': service },
    publish: ['127.0.0.1::80'],
    extra: ['--hostname', name],
  });
  return name;
}

/** The truth: names of this run's running containers for `service`. */
export async function truth(service: string, dockerHost?: string): Promise<string[]> {
  const args = [
    'ps',
    '--filter',
    `label=sidekick.test=${testRun()}`,
    '--filter',
    `label=chaos.service=${service}`,
    '--format',
    '{{.Names}}',
  ];
  const out = dockerHost ? (await run('docker', ['-H', dockerHost, ...args])).stdout.trim() : await docker(...args);
  return out.split('\n').filter(Boolean).sort();
}

/** Container names in the registry for `service`, one per key (duplicates kept). */
export async function registryNames(client: Etcd3, service: string, prefix = '/services'): Promise<string[]> {
  const keys = await client.getAll().prefix(`${prefix}/${service}/`).keys();
  return keys.map((k) => (k.split('/').pop() ?? '').split(':')[1] ?? k).sort();
}

interface Table {
  revision: number;
  services: Array<{ name: string; backends: Array<{ instance: string; state: string; target: string }> }>;
}

export async function table(b: Balancer): Promise<Table> {
  return (await (await fetch(`${b.adminUrl}/api/table`)).json()) as Table;
}

export async function tableNames(b: Balancer, service: string): Promise<string[]> {
  const t = await table(b);
  return (t.services.find((s) => s.name === service)?.backends ?? [])
    .map((x) => x.instance.split(':')[1] ?? x.instance)
    .sort();
}

export interface Comparison {
  truth: string[];
  registry: string[];
  table: string[];
  stale: number;
  equal: boolean;
}

/** Compares registry and table with the running containers; `stale` counts extra, missing and duplicate entries. */
export async function compare(
  client: Etcd3,
  b: Balancer | undefined,
  service: string,
  dockerHost?: string,
): Promise<Comparison> {
  const t = await truth(service, dockerHost);
  const r = await registryNames(client, service);
  const tb = b ? await tableNames(b, service) : r;
  const diff = (a: string[], want: string[]): number => {
    const left = [...want];
    let n = 0;
    for (const x of a) {
      const i = left.indexOf(x);
      if (i >= 0) left.splice(i, 1);
      else n++;
    }
    return n + left.length;
  };
  const stale = diff(r, t) + diff(tb, t);
  return { truth: t, registry: r, table: tb, stale, equal: stale === 0 };
}

/** Polls until registry and table equal the truth; returns the time taken (ms) and the last comparison. */
export async function converge(
  client: Etcd3,
  b: Balancer | undefined,
  service: string,
  timeoutMs: number,
  dockerHost?: string,
): Promise<{ ms: number; last: Comparison }> {
  const t0 = Date.now();
  let last: Comparison = { truth: [], registry: [], table: [], stale: -1, equal: false };
  while (Date.now() - t0 < timeoutMs) {
    try {
      last = await compare(client, b, service, dockerHost);
      if (last.equal) return { ms: Date.now() - t0, last };
    } catch {
      // etcd may still be electing: keep polling until the deadline
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ms: Number.POSITIVE_INFINITY, last };
}

/** Bounded load that runs until `stop()` (or a 5-minute cap); at most `concurrency` requests in flight. */
export function backgroundLoad(
  url: string,
  headers: Record<string, string> = {},
  concurrency = 8,
): { stop(): Promise<LoadResult> } {
  const ac = new AbortController();
  const p = runLoad({ url, headers, concurrency, durationMs: 300_000, maxRequests: 2_000_000, signal: ac.signal });
  return {
    stop: async () => {
      ac.abort();
      return p;
    },
  };
}

export function describeFailures(r: LoadResult): string {
  const by = new Map<string, number>();
  for (const f of r.failures)
    by.set(`${f.status} ${f.body.trim()}`.slice(0, 80), (by.get(`${f.status} ${f.body.trim()}`.slice(0, 80)) ?? 0) + 1);
  return [...by].map(([k, n]) => `${n}× ${k}`).join('; ');
}

/** The sum of every series whose line starts with `name`. */
export function metric(b: Balancer, name: string): Promise<number> {
  return metricSum(b.adminUrl, name);
}

/** Open file descriptors and resident memory (KiB) of a process, from /proc. */
export function procStats(pid: number): { fds: number; rssKiB: number } {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { fds, rssKiB: Number(m?.[1] ?? 0) };
}

export const fmtMs = (ms: number | undefined): string =>
  ms === undefined ? '—' : Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'never';

export function printTable(rows: readonly Row[]): string {
  const head = ['scenario', 'sent', 'failed', 'max converge', 'stale', 'target', 'result'];
  const body = rows.map((r) => [
    r.scenario,
    String(r.sent),
    String(r.failed),
    fmtMs(r.convergeMs),
    String(r.stale),
    r.target,
    r.pass ? (r.note ? `PASS (${r.note})` : 'PASS') : `FAIL: ${r.note}`,
  ]);
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...body.map((c) => `| ${c.map((x) => x.replace(/\|/g, '/')).join(' | ')} |`),
  ];
  return lines.join('\n');
}

export { uniq };
export type { EtcdServer, LoadResult, Program };
