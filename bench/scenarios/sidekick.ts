// Scenario 3b: the sidekick at container scale. K labelled containers are started first; then a
// sidekick starts and we time spawn → all K entries in etcd (one full reconcile), check that every
// key hangs on one lease, and measure its CPU while nothing changes.
import { startSidekick } from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { countEngineEvents, removeRunContainers, runContainer, WEB_IMAGE } from '../lib/docker.js';
import { countPrefix } from '../lib/etcd.js';
import { cpuSeconds, rssMiB } from '../lib/proc-stats.js';
import { log, sleep } from '../lib/util.js';

export interface SidekickRaw {
  requested: number;
  started: number;
  startError?: string;
  containersStartMs: number;
  publishMs: number;
  published: number;
  leases: number;
  idleSeconds: number;
  idleCpuPercent: number;
  /** Container events on the engine during the idle window (other users' containers wake the sidekick too). */
  engineEvents: number;
  rssMiB: number;
}

export async function sidekickScale(ctx: Context): Promise<SidekickRaw> {
  const { etcd, params, run } = ctx;
  const k = params.skContainers;
  const prefix = '/sk/services';
  const svcPrefix = `${prefix}/benchsk/`;
  log(`sidekick: starting ${k} containers`);
  let started = 0;
  let startError: string | undefined;
  let next = 0;
  const c0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < k && startError === undefined) {
      const i = next++;
      try {
        await runContainer(run, `bench-${run}-sk${i}`, WEB_IMAGE, { 'sidekick.service': 'benchsk' });
        started++;
      } catch (err) {
        startError = (err as Error).message;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: 4 }, worker));
    const containersStartMs = performance.now() - c0;
    if (startError !== undefined) log(`sidekick: stopped at ${started} containers: ${startError}`);
    const t0 = performance.now();
    const sk = (await startSidekick('sidekick-scale', etcd.endpoint, prefix, `bench-sk-${run}`)).proc;
    let published = 0;
    let publishMs = Number.NaN;
    for (let i = 0; i < 6000 && performance.now() - t0 < 60_000; i++) {
      if (!sk.alive()) throw new Error(`sidekick exited: ${sk.tail()}`);
      published = await countPrefix(etcd.client, svcPrefix);
      if (published >= started) {
        publishMs = performance.now() - t0;
        break;
      }
      await sleep(10);
    }
    const res = await etcd.client.kv.range({
      key: Buffer.from(svcPrefix),
      range_end: Buffer.from(prefix + '/benchsk0'),
    });
    const leases = new Set(res.kvs.map((kv) => String(kv.lease))).size;
    await sleep(1000);
    log(`sidekick: idle CPU over ${params.idleSeconds}s`);
    const foreign = await countEngineEvents();
    const cpu0 = cpuSeconds(sk.pid);
    const i0 = performance.now();
    await sleep(params.idleSeconds * 1000);
    const idleSeconds = (performance.now() - i0) / 1000;
    const idleCpuPercent = ((cpuSeconds(sk.pid) - cpu0) / idleSeconds) * 100;
    const engineEvents = foreign.stop();
    const rss = rssMiB(sk.pid);
    await sk.stop('SIGTERM', 10_000);
    const raw: SidekickRaw = {
      requested: k,
      started,
      ...(startError ? { startError } : {}),
      containersStartMs,
      publishMs,
      published,
      leases,
      idleSeconds,
      idleCpuPercent,
      engineEvents,
      rssMiB: rss,
    };
    report(ctx, raw);
    return raw;
  } finally {
    log('sidekick: removing containers');
    await removeRunContainers(run);
  }
}

function report(ctx: Context, raw: SidekickRaw): void {
  const S = '3 scale';
  const limited = raw.started < raw.requested ? ` of ${raw.requested} requested (machine limit)` : '';
  const n = `${raw.started} containers${limited}`;
  ctx.rows.push({
    scenario: S,
    metric: `sidekick: spawn → ${raw.started} entries published`,
    value: raw.publishMs,
    unit: 'ms',
    target: '≤ 2,000 ms',
    pass: raw.publishMs <= 2000 && raw.published >= raw.started,
    note: n,
  });
  ctx.rows.push({
    scenario: S,
    metric: 'sidekick: leases holding its keys',
    value: raw.leases,
    unit: '',
    target: '1',
    pass: raw.leases === 1,
  });
  ctx.rows.push({
    scenario: S,
    metric: 'sidekick: idle CPU',
    value: raw.idleCpuPercent,
    unit: '% of a core',
    target: '≈ 0 (< 1 %)',
    pass: raw.idleCpuPercent < 1,
    note:
      `over ${raw.idleSeconds.toFixed(0)} s with ${raw.engineEvents} foreign engine events, ` +
      `RSS ${raw.rssMiB.toFixed(0)} MiB`,
  });
}
