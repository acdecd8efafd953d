// Starting and driving the Node competitors: backend, plain http-proxy, reference proxies, our balancer,
// the sidekick, wrk and the Node load generator (nginx, HAProxy, Caddy: peers.ts). Loopback only.
import { join } from 'node:path';
import type { LoadgenParams, LoadgenResult } from '../loadgen.js';
import type { Etcd } from './etcd.js';
import { get } from './http.js';
import { forkNode, runCommand, start, type Proc } from './procs.js';
import { freePort, sleep, waitFor } from './util.js';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const DIST = join(ROOT, 'dist');

export interface Backend {
  readonly proc: Proc;
  readonly ports: readonly number[];
}

export async function startBackend(name: string, ports = 1): Promise<Backend> {
  const proc = forkNode(name, join(DIST, 'bench', 'backend.js'), [String(ports)]);
  const msg = await new Promise<{ ports: number[] }>((resolve, reject) => {
    proc.child.once('message', (m) => resolve(m as { ports: number[] }));
    void proc.exited.then((c) => reject(new Error(`${name} exited ${c}: ${proc.tail()}`)));
  });
  return { proc, ports: msg.ports };
}

export interface Endpoint {
  readonly name: string;
  readonly url: string;
  readonly proc?: Proc;
}

export async function startPlainProxy(target: string): Promise<Endpoint> {
  const port = await freePort();
  const proc = forkNode('plain-http-proxy', join(DIST, 'bench', 'plain-proxy.js'), [String(port), target]);
  await new Promise<void>((resolve, reject) => {
    proc.child.once('message', () => resolve());
    void proc.exited.then((c) => reject(new Error(`plain-http-proxy exited ${c}: ${proc.tail()}`)));
  });
  return { name: 'plain-http-proxy', url: `http://127.0.0.1:${port}`, proc };
}

/** A reference proxy (bench/ref-proxy.ts): `node` (bare http.request + keep-alive), `http-proxy-ka` or `undici`. */
export async function startRefProxy(mode: 'node' | 'http-proxy-ka' | 'undici', target: string): Promise<Endpoint> {
  const port = await freePort();
  const name = `ref-${mode}`;
  const proc = forkNode(name, join(DIST, 'bench', 'ref-proxy.js'), [mode, String(port), target]);
  await new Promise<void>((resolve, reject) => {
    proc.child.once('message', () => resolve());
    void proc.exited.then((c) => reject(new Error(`${name} exited ${c}: ${proc.tail()}`)));
  });
  return { name, url: `http://127.0.0.1:${port}`, proc };
}

export interface BalancerOptions {
  readonly etcd: string;
  readonly prefix: string;
  readonly routesPrefix: string;
  readonly workers?: number | 'auto';
  readonly defaultService?: string;
  readonly routes?: readonly string[];
  readonly nodeArgs?: readonly string[];
  readonly extra?: readonly string[];
}

export interface BalancerProc extends Endpoint {
  readonly proc: Proc;
  readonly admin: string;
  readonly startedAt: number;
}

export async function spawnBalancer(name: string, o: BalancerOptions): Promise<BalancerProc> {
  const port = await freePort();
  const adminPort = await freePort();
  const args = [
    ...(o.nodeArgs ?? []),
    join(DIST, 'balancer', 'main.js'),
    '--etcd-endpoints',
    o.etcd,
    '--listen',
    `127.0.0.1:${port}`,
    '--admin',
    `127.0.0.1:${adminPort}`,
    '--prefix',
    o.prefix,
    '--routes-prefix',
    o.routesPrefix,
    '--workers',
    String(o.workers ?? 1),
    ...(o.defaultService ? ['--default-service', o.defaultService] : []),
    ...(o.routes ?? []).flatMap((r) => ['--route', r]),
    ...(o.extra ?? []),
  ];
  const startedAt = performance.now();
  const proc = start(name, process.execPath, args, { LOG_FORMAT: 'json' });
  return { name, url: `http://127.0.0.1:${port}`, admin: `http://127.0.0.1:${adminPort}`, proc, startedAt };
}

export interface Readyz {
  ready: boolean;
  revision: number;
  services?: number;
  workersReady?: number;
}

/** Polls /readyz every `intervalMs` until ready (and at `minRevision` or later); returns ms since spawn. */
export async function waitReady(b: BalancerProc, minRevision = 0, timeoutMs = 30_000, intervalMs = 5): Promise<number> {
  await waitFor(
    `${b.name} ready at revision ≥ ${minRevision}`,
    async () => {
      if (!b.proc.alive()) throw new Error(`${b.name} exited: ${b.proc.tail()}`);
      const r = await get(`${b.admin}/readyz`, undefined, undefined, 2000).catch(() => undefined);
      if (r?.status !== 200) return false;
      return (JSON.parse(r.body) as Readyz).revision >= minRevision;
    },
    timeoutMs,
    intervalMs,
  );
  return performance.now() - b.startedAt;
}

export async function startBalancer(name: string, o: BalancerOptions, minRevision = 0): Promise<BalancerProc> {
  const b = await spawnBalancer(name, o);
  await waitReady(b, minRevision);
  return b;
}

/**
 * A balancer --workers 1 on etcd prefixes of its own (`/<tag>/services`, `/<tag>/routes`) whose service
 * `bench` is one backend, the default service unless `o` says otherwise.
 */
export async function startBenchBalancer(
  etcd: Etcd,
  tag: string,
  backendPort: number,
  o: Partial<BalancerOptions> = {},
): Promise<BalancerProc> {
  await etcd.client
    .put(`/${tag}/services/bench/direct:backend:1`)
    .value(JSON.stringify({ host: '127.0.0.1', port: backendPort }));
  return startBalancer(`${tag}-balancer-w1`, {
    etcd: etcd.endpoint,
    prefix: `/${tag}/services`,
    routesPrefix: `/${tag}/routes`,
    defaultService: 'bench',
    workers: 1,
    ...o,
  });
}

export async function readyz(b: { admin: string }): Promise<Readyz> {
  const r = await get(`${b.admin}/readyz`, undefined, undefined, 2000);
  return JSON.parse(r.body) as Readyz;
}

export interface SidekickProc {
  readonly proc: Proc;
  readonly metrics: string | undefined;
}

/** Starts a host-wide sidekick publishing container IPs; `metrics` adds its /healthz listener. */
export async function startSidekick(
  name: string,
  etcd: string,
  prefix: string,
  node: string,
  metrics = false,
  extra: readonly string[] = [],
): Promise<SidekickProc> {
  const port = metrics ? await freePort() : 0;
  const proc = start(name, process.execPath, [
    join(DIST, 'sidekick', 'main.js'),
    '--etcd-endpoints',
    etcd,
    '--prefix',
    prefix,
    '--node',
    node,
    '--host-ip',
    '127.0.0.1',
    '--address',
    'container',
    '--metrics',
    metrics ? `127.0.0.1:${port}` : 'off',
    '--log-level',
    'warn',
    '--log-format',
    'json',
    ...extra,
  ]);
  return { proc, metrics: metrics ? `http://127.0.0.1:${port}` : undefined };
}

/** Waits until the sidekick is connected to Docker and etcd and has finished its first full reconcile. */
export async function waitSidekickSynced(s: SidekickProc, timeoutMs = 30_000): Promise<void> {
  if (!s.metrics) throw new Error('waitSidekickSynced needs a sidekick started with metrics');
  await waitFor(
    'sidekick connected and reconciled',
    async () => {
      if (!s.proc.alive()) throw new Error(`sidekick exited: ${s.proc.tail()}`);
      const r = await get(`${s.metrics}/healthz`, undefined, undefined, 2000).catch(() => undefined);
      if (r?.status !== 200) return false;
      const h = JSON.parse(r.body) as { dockerConnected?: boolean; etcdOk?: boolean; lastFullReconcile?: string };
      return h.dockerConnected === true && h.etcdOk === true && h.lastFullReconcile !== undefined;
    },
    timeoutMs,
    20,
  );
}

// ---- load ---------------------------------------------------------------------------------------

export interface WrkResult {
  rps: number;
  requests: number;
  /** Latency percentiles in ms from --latency. */
  p50: number;
  p90: number;
  p99: number;
  errors: number;
  non2xx: number;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 'NaN');
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1]!, m[2]!) : Number.NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    p50: pct('50'),
    p90: pct('90'),
    p99: pct('99'),
    errors,
    non2xx: /Non-2xx or 3xx responses: (\d+)/.test(out) ? num(/Non-2xx or 3xx responses: (\d+)/) : 0,
  };
}

export async function wrk(url: string, seconds: number, connections = 32, host?: string): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    '--latency',
    '--timeout',
    '5s',
    ...(host ? ['-H', `Host: ${host}`] : []),
    url,
  ];
  const r = await runCommand('wrk', args, (seconds + 30) * 1000);
  if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  const res = parseWrk(r.stdout);
  if (!Number.isFinite(res.rps)) throw new Error(`cannot parse wrk output: ${r.stdout}`);
  return res;
}

/**
 * Forks a load process (`dist/bench/<module>.js`, its parameters as one JSON argument) and resolves with
 * the `result` it sends over IPC; `onMessage` sees every other message. Rejects if it exits without one.
 */
export function forkLoad<P, R>(
  name: string,
  module: string,
  p: P,
  onMessage?: (m: { type?: string }) => void,
): { proc: Proc; result: Promise<R> } {
  const proc = forkNode(name, join(DIST, 'bench', `${module}.js`), [JSON.stringify(p)]);
  const result = new Promise<R>((resolve, reject) => {
    proc.child.on('message', (m: { type?: string; result?: R }) => {
      if (m.type === 'result' && m.result) resolve(m.result);
      else onMessage?.(m);
    });
    void proc.exited.then((c) => reject(new Error(`${name} exited ${c} without a result: ${proc.tail()}`)));
  });
  return { proc, result };
}

/** Runs the Node load generator in its own process; closed mode stops when `stop` resolves. */
export async function loadgen(
  name: string,
  p: LoadgenParams,
  stop?: Promise<void>,
  onStarted?: () => void,
): Promise<LoadgenResult> {
  const { proc, result } = forkLoad<LoadgenParams, LoadgenResult>(name, 'loadgen', p, (m) => {
    if (m.type === 'started') onStarted?.();
  });
  if (stop) {
    void stop.then(() => {
      if (proc.child.connected) proc.child.send({ type: 'stop' });
    });
  }
  const r = await result;
  await proc.exited;
  return r;
}

export interface ClosedLoad {
  stop(): Promise<LoadgenResult>;
}

/** Starts closed-mode load and resolves once it is sending; `stop()` ends it and returns its result. */
export async function startClosedLoad(name: string, p: Omit<LoadgenParams, 'mode'>): Promise<ClosedLoad> {
  let release!: () => void;
  const stop = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const done = loadgen(name, { ...p, mode: 'closed' }, stop, started);
  await Promise.race([running, done]);
  await sleep(100);
  return {
    stop: async () => {
      release();
      return done;
    },
  };
}
