// Scenario 3a: the balancer at registry scale. 10,000 entries (1,000 services × 10 instances, all
// pointing at 10 real backend ports) and 1,000 route keys, written in transactions; then
//   initial sync     spawn → /readyz 200 at the last write's revision, next to the same for an empty
//                    registry (the difference is the sync itself, without Node's start-up)
//   apply            one changed entry: the balancer's own balancer_table_apply_seconds histogram
//                    (bucket upper bound of the p99), and put → routed for a probe entry whose port
//                    changes each time (the backend names its port in x-port)
//   RSS              VmRSS after sync and the maximum during churn
//   churn            1,000 puts/s for N s; every 200 ms a probe change is timed until routed; after the
//                    last put a final probe measures the catch-up (changes apply in order, so when the
//                    probe is routed everything before it is in the table)
//   throughput       wrk on one 10-backend service at 10k entries vs a balancer holding only that service
// Why a probe and not /readyz's revision: the probe measures what a client sees (a request routed to
// the changed port), end to end, rather than the balancer's own account of its progress.
import { type BalancerProc, spawnBalancer, startBackend, startBalancer, waitReady, wrk } from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { putMany, type PutOp } from '../lib/etcd.js';
import { get, pollUntil } from '../lib/http.js';
import { cpuSeconds, histogramDelta, parseHistogram, rssMiB } from '../lib/proc-stats.js';
import { epochMs, log, median, sleep, summarize, type Summary } from '../lib/util.js';

const SERVICES = 1000;
const PER_SERVICE = 10;
const pad = (n: number): string => String(n).padStart(4, '0');
const PROBE_KEY = '/scale/services/probe/bench:probe:1';

export interface ScaleRaw {
  writeMs: number;
  lastRevision: number;
  readyEmptyMs: number[];
  readyScaleMs: number[];
  syncMs: number;
  rssAfterSyncMiB: number;
  apply: { histogram: { count: number; mean: number; quantileLe: number }; putToVisible: Summary };
  churn: {
    seconds: number;
    target: number;
    acked: number;
    achievedRate: number;
    probeLags: Summary;
    probeLagSeries: number[];
    catchUpMs: number;
    rssMaxMiB: number;
    cpuPercent: number;
    writerSkipped: number;
    putErrors: number;
  };
  throughput: {
    runs: Array<{ round: number; competitor: string; rps: number; p99: number; errors: number }>;
    scaleRps: number;
    tenRps: number;
    ratio: number;
  };
}

function entryValue(port: number, weight = 1): string {
  return JSON.stringify({ host: '127.0.0.1', port, weight, tags: ['bench'], node: 'bench' });
}

/** The scale registry: 10,000 entries under /scale/services, 1,000 route keys, and the 10-backend case under /small. */
export async function writeScaleRegistry(
  ctx: Context,
  ports: readonly number[],
): Promise<{ lastRevision: number; writeMs: number; keys: number }> {
  const ops: PutOp[] = [];
  for (let s = 0; s < SERVICES; s++) {
    for (let i = 0; i < PER_SERVICE; i++)
      ops.push({ key: `/scale/services/s${pad(s)}/bench:n${i}:${ports[i]}`, value: entryValue(ports[i]!) });
  }
  // 1,000 route keys: 999 to services, one to the probe service.
  for (let s = 0; s < SERVICES - 1; s++)
    ops.push({
      key: `/scale/routes/r${pad(s)}`,
      value: JSON.stringify({ host: `s${pad(s)}.bench`, service: `s${pad(s)}` }),
    });
  ops.push({ key: '/scale/routes/probe', value: JSON.stringify({ host: 'probe.bench', service: 'probe' }) });
  // The "10-backend case": the same service alone.
  for (let i = 0; i < PER_SERVICE; i++)
    ops.push({ key: `/small/services/s0500/bench:n${i}:${ports[i]}`, value: entryValue(ports[i]!) });
  ops.push({ key: '/small/routes/r0500', value: JSON.stringify({ host: 's0500.bench', service: 's0500' }) });
  log(`scale: writing ${ops.length} keys`);
  const w0 = performance.now();
  const lastRevision = await putMany(ctx.etcd.client, ops);
  return { lastRevision, writeMs: performance.now() - w0, keys: ops.length };
}

export interface ChurnStats {
  seconds: number;
  acked: number;
  skipped: number;
  putErrors: number;
}

/** Changes existing entries (weights) at `rate` per second for `seconds`, paced in 10 ms steps, ≤ 256 in flight. */
export async function churnWrites(
  ctx: Context,
  ports: readonly number[],
  rate: number,
  seconds: number,
): Promise<ChurnStats> {
  const total = rate * seconds;
  const maxInFlight = 256;
  let issued = 0;
  let acked = 0;
  let inFlight = 0;
  let skipped = 0;
  let putErrors = 0;
  const t0 = performance.now();
  const put = (i: number): void => {
    inFlight++;
    const s = (i * 7919) % SERVICES;
    const n = i % PER_SERVICE;
    ctx.etcd.client
      .put(`/scale/services/s${pad(s)}/bench:n${n}:${ports[n]}`)
      .value(entryValue(ports[n]!, 1 + (i % 5)))
      .then(
        () => acked++,
        () => putErrors++,
      )
      .finally(() => inFlight--);
  };
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (issued < due) {
      if (inFlight >= maxInFlight) {
        skipped += due - issued;
        issued = due;
        break;
      }
      put(issued++);
    }
    await sleep(10);
  }
  for (let k = 0; k < 2000 && inFlight > 0; k++) await sleep(5);
  return { seconds: (performance.now() - t0) / 1000, acked, skipped, putErrors };
}

export async function scale(ctx: Context): Promise<ScaleRaw> {
  const { etcd, params } = ctx;
  const backends = await startBackend('backend-10ports', PER_SERVICE);
  const ports = backends.ports;
  const { lastRevision, writeMs } = await writeScaleRegistry(ctx, ports);
  const scaleOpts = {
    etcd: etcd.endpoint,
    prefix: '/scale/services',
    routesPrefix: '/scale/routes',
    workers: 1 as const,
  };

  log(`scale: initial sync, ${params.startTrials} starts each of an empty and a 10k-entry registry`);
  const readyEmptyMs: number[] = [];
  const readyScaleMs: number[] = [];
  let big: BalancerProc | undefined;
  for (let i = 0; i < params.startTrials; i++) {
    const empty = await spawnBalancer('balancer-empty', {
      etcd: etcd.endpoint,
      prefix: '/empty/services',
      routesPrefix: '/empty/routes',
      workers: 1,
    });
    readyEmptyMs.push(await waitReady(empty, 0, 30_000, 2));
    await empty.proc.stop();
    const b = await spawnBalancer('balancer-scale', scaleOpts);
    readyScaleMs.push(await waitReady(b, lastRevision, 30_000, 2));
    if (i < params.startTrials - 1) await b.proc.stop();
    else big = b;
  }
  const scaleB = big!;
  await sleep(500);
  const rssAfterSyncMiB = rssMiB(scaleB.proc.pid);

  // -- apply of one change ---------------------------------------------------------------------
  log(`scale: ${params.applyTrials} single changes`);
  const metricsText = async (): Promise<string> =>
    (await get(`${scaleB.admin}/metrics`, undefined, undefined, 10_000)).body;
  const probe = probeFn(ctx, scaleB, ports);
  const h0 = parseHistogram(await metricsText(), 'balancer_table_apply_seconds');
  const visible: number[] = [];
  for (let i = 0; i < params.applyTrials; i++) visible.push((await probe(0)).ms);
  const h1 = parseHistogram(await metricsText(), 'balancer_table_apply_seconds');
  const apply = { histogram: histogramDelta(h0, h1, 0.99), putToVisible: summarize(visible) };

  // -- churn -------------------------------------------------------------------------------------
  log(`scale: churn at ${params.churnRate}/s for ${params.churnSeconds}s`);
  const churn = await runChurn(ctx, scaleB, ports, probe);

  // -- throughput at scale vs the 10-backend case ---------------------------------------------------
  const ten = await startBalancer('balancer-10', {
    etcd: etcd.endpoint,
    prefix: '/small/services',
    routesPrefix: '/small/routes',
    workers: 1,
  });
  log(`scale: throughput at 10k entries vs 10 backends, ${params.rounds} rounds × ${params.seconds}s`);
  const competitors = [
    { name: 'scale-10k', url: scaleB.url },
    { name: 'ten-backends', url: ten.url },
  ];
  const runs: ScaleRaw['throughput']['runs'] = [];
  for (const c of competitors) await wrk(`${c.url}/`, 1, 32, 's0500.bench');
  for (let round = 0; round < params.rounds; round++) {
    for (let k = 0; k < competitors.length; k++) {
      const c = competitors[(k + round) % competitors.length]!;
      const r = await wrk(`${c.url}/`, params.seconds, 32, 's0500.bench');
      runs.push({ round, competitor: c.name, rps: r.rps, p99: r.p99, errors: r.errors + r.non2xx });
    }
  }
  const scaleRps = median(runs.filter((r) => r.competitor === 'scale-10k').map((r) => r.rps));
  const tenRps = median(runs.filter((r) => r.competitor === 'ten-backends').map((r) => r.rps));
  await Promise.all([scaleB.proc.stop(), ten.proc.stop(), backends.proc.stop()]);
  const raw: ScaleRaw = {
    writeMs,
    lastRevision,
    readyEmptyMs,
    readyScaleMs,
    syncMs: median(readyScaleMs) - median(readyEmptyMs),
    rssAfterSyncMiB,
    apply,
    churn,
    throughput: { runs, scaleRps, tenRps, ratio: scaleRps / tenRps },
  };
  report(ctx, raw);
  return raw;
}

type Probe = (pauseMs: number) => Promise<{ ms: number; at: number }>;

/** Changes the probe entry's port and times put → first response from that port through the balancer. */
function probeFn(ctx: Context, b: BalancerProc, ports: readonly number[]): Probe {
  let n = 0;
  return async (pauseMs) => {
    const port = ports[n++ % ports.length]!;
    const t0 = epochMs();
    const put = ctx.etcd.client.put(PROBE_KEY).value(entryValue(port)).exec();
    const r = await pollUntil(
      `${b.url}/`,
      'probe.bench',
      (x) => x.status === 200 && x.headers['x-port'] === String(port),
      30_000,
      pauseMs,
    );
    await put;
    return { ms: r.reply.at - t0, at: r.reply.at };
  };
}

async function runChurn(
  ctx: Context,
  b: BalancerProc,
  ports: readonly number[],
  probe: Probe,
): Promise<ScaleRaw['churn']> {
  const { params } = ctx;
  let rssMax = rssMiB(b.proc.pid);
  const probeLags: number[] = [];
  const cpu0 = cpuSeconds(b.proc.pid);
  const t0 = performance.now();
  let writing = true;
  // Every 200 ms one probe change, timed until routed (polls 2 ms apart, to add little load).
  const prober = (async () => {
    while (writing) {
      const p = await probe(2);
      probeLags.push(p.ms);
      rssMax = Math.max(rssMax, rssMiB(b.proc.pid));
      await sleep(Math.max(0, 200 - p.ms));
    }
  })();
  const w = await churnWrites(ctx, ports, params.churnRate, params.churnSeconds);
  const lastAck = epochMs();
  writing = false;
  await prober;
  // Everything written is routed once a change written after it is.
  const final = await probe(0);
  const catchUpMs = final.at - lastAck;
  const cpuPercent = ((cpuSeconds(b.proc.pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
  rssMax = Math.max(rssMax, rssMiB(b.proc.pid));
  return {
    seconds: w.seconds,
    target: params.churnRate,
    acked: w.acked,
    achievedRate: w.acked / w.seconds,
    probeLags: summarize(probeLags),
    probeLagSeries: probeLags,
    catchUpMs,
    rssMaxMiB: rssMax,
    cpuPercent,
    writerSkipped: w.skipped,
    putErrors: w.putErrors,
  };
}

function report(ctx: Context, raw: ScaleRaw): void {
  const S = '3 scale';
  ctx.rows.push({
    scenario: S,
    metric: 'write 10,000 entries + 1,000 routes (txns of 100)',
    value: raw.writeMs,
    unit: 'ms',
  });
  const scaleReady = median(raw.readyScaleMs);
  ctx.rows.push({
    scenario: S,
    metric: 'balancer spawn → ready, empty registry',
    value: median(raw.readyEmptyMs),
    unit: 'ms',
    note: `n=${raw.readyEmptyMs.length}`,
  });
  ctx.rows.push({
    scenario: S,
    metric: 'balancer spawn → ready at 10k entries',
    value: scaleReady,
    unit: 'ms',
    target: '≤ 1,000 ms',
    pass: scaleReady <= 1000,
    note: `n=${raw.readyScaleMs.length}, incl. Node start-up`,
  });
  ctx.rows.push({
    scenario: S,
    metric: 'initial sync of 10k entries (difference)',
    value: raw.syncMs,
    unit: 'ms',
    target: '≤ 1,000 ms',
    pass: raw.syncMs <= 1000,
  });
  const h = raw.apply.histogram;
  ctx.rows.push({
    scenario: S,
    metric: 'apply one change at 10k, p99 (apply histogram)',
    value: h.quantileLe * 1000,
    unit: 'ms',
    target: '≤ 1 ms',
    pass: h.quantileLe <= 0.001,
    note: `bucket bound; mean ${(h.mean * 1000).toFixed(3)} ms, n=${h.count}`,
  });
  const v = raw.apply.putToVisible;
  ctx.rows.push({
    scenario: S,
    metric: 'put → routed at 10k entries, p99',
    value: v.p99,
    unit: 'ms',
    note: `p50 ${v.p50.toFixed(2)} ms, n=${v.n}`,
  });
  ctx.rows.push({
    scenario: S,
    metric: 'RSS after sync at 10k',
    value: raw.rssAfterSyncMiB,
    unit: 'MiB',
    target: '≤ 150 MB',
    pass: raw.rssAfterSyncMiB * 1.048576 <= 150,
  });
  ctx.rows.push({
    scenario: S,
    metric: 'RSS max during churn',
    value: raw.churn.rssMaxMiB,
    unit: 'MiB',
    target: '≤ 150 MB',
    pass: raw.churn.rssMaxMiB * 1.048576 <= 150,
  });
  const c = raw.churn;
  const sustained = c.catchUpMs <= 1000 && c.probeLags.max <= 1000 && c.putErrors === 0;
  ctx.rows.push({
    scenario: S,
    metric: `churn: changes/s written for ${c.seconds.toFixed(0)} s`,
    value: c.achievedRate,
    unit: '/s',
    target: `≥ ${c.target * 0.95}/s`,
    pass: c.achievedRate >= 0.95 * c.target,
    note: `${c.acked} acked${c.writerSkipped ? `, ${c.writerSkipped} skipped by the writer` : ''}`,
  });
  ctx.rows.push({
    scenario: S,
    metric: 'churn: put → routed during churn, p99',
    value: c.probeLags.p99,
    unit: 'ms',
    note:
      `p50 ${c.probeLags.p50.toFixed(1)}, max ${c.probeLags.max.toFixed(1)} ms, n=${c.probeLags.n}; ` +
      `balancer CPU ${c.cpuPercent.toFixed(0)} %`,
  });
  ctx.rows.push({
    scenario: S,
    metric: 'churn: last put → everything routed',
    value: c.catchUpMs,
    unit: 'ms',
    target: '≤ 1,000 ms (no backlog)',
    pass: sustained,
  });
  const t = raw.throughput;
  ctx.rows.push({
    scenario: S,
    metric: 'req/s at 10k entries / 10-backend case',
    value: t.ratio,
    unit: '×',
    target: '≥ 0.9×',
    pass: t.ratio >= 0.9,
    note: `${Math.round(t.scaleRps)} vs ${Math.round(t.tenRps)} req/s`,
  });
}
