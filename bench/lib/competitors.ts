// The throughput competitors by name, each started in front of one given backend. `--only` accepts these
// names to measure a subset. CPU per request is read for `proc` and its direct children (nginx master +
// worker, balancer primary + workers), so every competitor's number covers all of its processes.
import { startBalancer, startPlainProxy, startRefProxy, type Endpoint } from './components.js';
import type { Context } from './context.js';
import { assertLoopbackOnly } from './listeners.js';
import { startCaddy, startHaproxy, startNginxProxy } from './peers.js';
import type { Proc } from './procs.js';

export const COMPETITORS = [
  'direct',
  'nginx',
  'haproxy',
  'caddy',
  'plain-http-proxy',
  'ref-undici',
  'ref-node',
  'balancer-w1',
  'balancer-auto',
] as const;
export type CompetitorName = (typeof COMPETITORS)[number];

export const DESCRIPTIONS: Record<CompetitorName, string> = {
  direct: "wrk straight to the backend (its CPU is the backend's)",
  nginx: 'nginx proxy, one worker, upstream keep-alive',
  haproxy: 'HAProxy, nbthread 1, http-reuse always',
  caddy: 'Caddy 2 reverse_proxy, default GOMAXPROCS',
  'plain-http-proxy': 'http-proxy 1.18.1 without an agent (a connection per request)',
  'ref-undici': 'bare node:http server + undici Pool (bench/ref-proxy.ts)',
  'ref-node': 'bare node:http server + http.request keep-alive agent (bench/ref-proxy.ts)',
  'balancer-w1': 'our balancer --workers 1 (metrics, routing, request ids, accounting on)',
  'balancer-auto': 'our balancer --workers auto',
};

export interface Competitor extends Endpoint {
  readonly name: CompetitorName;
  /** Started for this set (stopped with it); `direct` is the backend and belongs to the scenario. */
  readonly owned: boolean;
  readonly proc?: Proc;
  /** Node competitors get a warm-up (JIT, pools) before the first measured run. */
  readonly warm: boolean;
  readonly listening: readonly string[];
}

export interface BackendRef {
  readonly port: number;
  readonly proc?: Proc;
}

/** The names of `wanted` that `--only` lets through (all when it named no competitor). */
export function selected(ctx: Context, wanted: readonly CompetitorName[]): CompetitorName[] {
  return wanted.filter((n) => ctx.competitors === undefined || ctx.competitors.has(n));
}

async function startOne(ctx: Context, name: CompetitorName, b: BackendRef, tag: string): Promise<Competitor> {
  const target = `http://127.0.0.1:${b.port}`;
  const own = async (e: Endpoint): Promise<Competitor> => {
    try {
      return { ...e, name, owned: true, warm: true, listening: e.proc ? assertLoopbackOnly(name, e.proc.pid) : [] };
    } catch (err) {
      await e.proc?.stop();
      throw err;
    }
  };
  const balancer = { etcd: ctx.etcd.endpoint, prefix: `/${tag}/services`, routesPrefix: `/${tag}/routes` };
  switch (name) {
    case 'direct':
      return { name, url: target, proc: b.proc, owned: false, warm: false, listening: [] };
    case 'nginx':
      return { ...(await startNginxProxy(ctx.work, b.port)), name, owned: true, warm: false };
    case 'haproxy':
      return { ...(await startHaproxy(ctx.work, b.port)), name, owned: true, warm: false };
    case 'caddy':
      return { ...(await startCaddy(ctx.work, b.port)), name, owned: true, warm: true };
    case 'plain-http-proxy':
      return own(await startPlainProxy(target));
    case 'ref-undici':
      return own(await startRefProxy('undici', target));
    case 'ref-node':
      return own(await startRefProxy('node', target));
    case 'balancer-w1':
    case 'balancer-auto': {
      const workers = name === 'balancer-w1' ? 1 : 'auto';
      const p = await startBalancer(`${tag}-${name}`, { ...balancer, defaultService: 'bench', workers });
      return own({ ...p, name });
    }
  }
}

export async function stopCompetitors(list: readonly Competitor[]): Promise<void> {
  await Promise.all(list.filter((c) => c.owned).map((c) => c.proc?.stop()));
}

/**
 * Starts `names` in front of backend `b` (in parallel); `tag` keeps their etcd keys and log names apart
 * from other sets. If one fails, the others are stopped before the error is thrown.
 */
export async function startCompetitors(
  ctx: Context,
  b: BackendRef,
  names: readonly CompetitorName[],
  tag: string,
): Promise<Competitor[]> {
  await ctx.etcd.client
    .put(`/${tag}/services/bench/direct:backend:1`)
    .value(JSON.stringify({ host: '127.0.0.1', port: b.port }));
  const settled = await Promise.allSettled(names.map((n) => startOne(ctx, n, b, tag)));
  const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopCompetitors(ok);
    throw failed.reason;
  }
  return ok;
}
