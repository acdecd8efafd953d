// Scenario 2: how fast the registry's truth reaches the proxy. Each time is measured by polling through
// the balancer back to back (one loopback round trip, well under 1 ms, per poll):
//   put → routed          etcd put issued → first 200 through the balancer
//   delete → removed      etcd delete issued → first 503 (no live backend)
//   start → first 200     Docker `start` event (container running) → first 200 from that container via
//                         the sidekick; includes busybox httpd's own start, so it bounds ready → 200 from above
//   healthy → first 200   Docker `health_status: healthy` event → first 200 from that container
//   stop → no new requests  Engine API stop issued → first request no longer sent to it
// and 0 failed requests while 3 backends are restarted one by one under load.
import {
  type BalancerProc,
  startBalancer,
  startClosedLoad,
  startSidekick,
  waitSidekickSynced,
} from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { docker, EventLog, HEALTH_IMAGE, removeRunContainers, runContainer, WEB_IMAGE } from '../lib/docker.js';
import { get, getJson, pollUntil } from '../lib/http.js';
import { runCommand } from '../lib/procs.js';
import { epochMs, log, sleep, summarize, waitFor, type Summary } from '../lib/util.js';

export interface ConvergenceRaw {
  putToRouted: number[];
  /** etcd's acknowledgement of each put, for reading putToRouted: most of it is etcd's commit. */
  putAck: number[];
  deleteToRemoved: number[];
  startToFirst200: number[];
  healthyToFirst200: number[];
  stopToNoNew: number[];
  /** Docker's share of stopToNoNew: Engine API stop called → its `kill` event. */
  stopToKillEvent: number[];
  summaries: Record<string, Summary>;
  rolling: {
    requests: number;
    failed: number;
    failures: Record<string, number>;
    perBackend: Record<string, number>;
    restarts: number;
    seconds: number;
  };
}

interface TableJson {
  services: Array<{ name: string; backends: Array<{ instance: string; state: string }> }>;
}

async function backendsOf(b: BalancerProc, service: string): Promise<Array<{ instance: string; state: string }>> {
  const t = await getJson<TableJson>(`${b.admin}/api/table`);
  return t.services.find((s) => s.name === service)?.backends ?? [];
}

export async function convergence(ctx: Context): Promise<ConvergenceRaw> {
  const { etcd, params, run } = ctx;
  const prefix = '/conv/services';
  const b = await startBalancer('balancer-conv', {
    etcd: etcd.endpoint,
    prefix,
    routesPrefix: '/conv/routes',
    workers: 1,
    routes: ['conv.bench=conv', 'web.bench=benchweb', 'health.bench=benchhealth', 'roll.bench=benchroll'],
  });
  const raw: ConvergenceRaw = {
    putToRouted: [],
    putAck: [],
    deleteToRemoved: [],
    startToFirst200: [],
    healthyToFirst200: [],
    stopToNoNew: [],
    stopToKillEvent: [],
    summaries: {},
    rolling: { requests: 0, failed: 0, failures: {}, perBackend: {}, restarts: 0, seconds: 0 },
  };
  const url = `${b.url}/`;

  // -- registry only: put → routed, delete → removed ---------------------------------------------
  log(`convergence: ${params.putTrials} put/delete trials`);
  for (let i = 0; i < params.putTrials; i++) {
    const key = `${prefix}/conv/bench:t${i}:${ctx.backendPort}`;
    const t0 = epochMs();
    const put = etcd.client
      .put(key)
      .value(JSON.stringify({ host: '127.0.0.1', port: ctx.backendPort }))
      .exec(); // builders are lazy: start it now
    void put.then(() => raw.putAck.push(epochMs() - t0));
    const routed = await pollUntil(url, 'conv.bench', (r) => r.status === 200, 5000);
    await put;
    raw.putToRouted.push(routed.reply.at - t0);
    const t1 = epochMs();
    const del = etcd.client.delete().key(key).exec();
    const removed = await pollUntil(url, 'conv.bench', (r) => r.status === 503, 5000);
    await del;
    raw.deleteToRemoved.push(removed.reply.at - t1);
  }

  // -- containers through the sidekick --------------------------------------------------------------
  const events = new EventLog();
  await events.open(run);
  const sidekick = await startSidekick('sidekick-conv', etcd.endpoint, prefix, `bench-${run}`, true);
  const removals: Promise<unknown>[] = [];
  try {
    await waitSidekickSynced(sidekick);
    log(`convergence: ${params.containerTrials} container start/stop trials`);
    for (let i = 0; i < params.containerTrials; i++) {
      const name = `bench-${run}-web${i}`;
      const served = (r: { status: number; body: string }): boolean => r.status === 200 && r.body.includes(name);
      const c = await runContainer(run, name, WEB_IMAGE, { 'sidekick.service': 'benchweb' });
      const first = await pollUntil(url, 'web.bench', served, 15_000);
      const started = await events.find((e) => e.id === c.id && e.action === 'start', 5000);
      raw.startToFirst200.push(Math.max(0, first.reply.at - started.timeMs));
      const t0 = epochMs();
      const stopping = docker.getContainer(c.id).stop({ t: 1 });
      const gone = await pollUntil(url, 'web.bench', (r) => !served(r), 15_000);
      raw.stopToNoNew.push(gone.reply.at - t0);
      const kill = await events.find((e) => e.id === c.id && e.action === 'kill', 5000).catch(() => undefined);
      if (kill) raw.stopToKillEvent.push(kill.timeMs - t0);
      removals.push(stopping.then(() => docker.getContainer(c.id).remove({ force: true })).catch(() => undefined));
    }
    log(`convergence: ${params.healthTrials} healthy → routed trials (HEALTHCHECK interval 1 s)`);
    for (let i = 0; i < params.healthTrials; i++) {
      const name = `bench-${run}-health${i}`;
      const c = await runContainer(run, name, HEALTH_IMAGE, { 'sidekick.service': 'benchhealth' });
      const touched = await runCommand('docker', ['exec', c.id, 'touch', '/tmp/healthy'], 15_000);
      if (touched.code !== 0) throw new Error(`docker exec touch failed: ${touched.stderr}`);
      const first = await pollUntil(url, 'health.bench', (r) => r.status === 200 && r.body.includes(name), 15_000);
      const healthy = await events.find((e) => e.id === c.id && e.action === 'health_status: healthy', 5000);
      raw.healthyToFirst200.push(Math.max(0, first.reply.at - healthy.timeMs));
      removals.push(
        docker
          .getContainer(c.id)
          .remove({ force: true })
          .catch(() => undefined),
      );
    }
    await Promise.all(removals.splice(0));

    // -- rolling restart of 3 backends under load ----------------------------------------------------
    log('convergence: rolling restart of 3 backends under load');
    const roll = [];
    for (let i = 0; i < 3; i++)
      roll.push(await runContainer(run, `bench-${run}-roll${i}`, WEB_IMAGE, { 'sidekick.service': 'benchroll' }));
    const allUp = async (): Promise<boolean> => {
      const bs = await backendsOf(b, 'benchroll');
      return bs.length === 3 && bs.every((x) => x.state === 'up');
    };
    await waitFor('3 rolling backends in the table', allUp, 15_000, 20);
    // In the table is not yet answering (httpd may still be starting): wait for a 200 before loading.
    await waitFor(
      '3 rolling backends answering',
      async () => {
        const r = await get(url, 'roll.bench');
        return r.status === 200;
      },
      5000,
      20,
    );
    const t0 = epochMs();
    const load = await startClosedLoad('loadgen-rolling', {
      url,
      host: 'roll.bench',
      concurrency: 8,
      durationMs: 120_000,
    });
    for (const c of roll) {
      await docker.getContainer(c.id).restart({ t: 1 });
      raw.rolling.restarts++;
      // Back in the table is enough: a backend dialled before its httpd listened may sit out its ejection.
      await waitFor(
        `${c.name} back in the table`,
        async () => (await backendsOf(b, 'benchroll')).length === 3,
        15_000,
        20,
      );
      await sleep(100);
    }
    const res = await load.stop();
    raw.rolling = {
      requests: res.sent,
      failed: res.failed,
      failures: res.failures,
      perBackend: res.bodies,
      restarts: raw.rolling.restarts,
      seconds: (epochMs() - t0) / 1000,
    };
  } finally {
    events.close();
    await sidekick.proc.stop('SIGTERM', 10_000);
    await Promise.all(removals);
    await removeRunContainers(run);
    await b.proc.stop();
  }
  for (const k of [
    'putToRouted',
    'putAck',
    'deleteToRemoved',
    'startToFirst200',
    'healthyToFirst200',
    'stopToNoNew',
    'stopToKillEvent',
  ] as const)
    raw.summaries[k] = summarize(raw[k]);
  report(ctx, raw);
  return raw;
}

const LABELS: Record<string, string> = {
  putToRouted: 'etcd put → first request routed',
  deleteToRemoved: 'withdrawn entry → removed (503)',
  startToFirst200: 'container start → first 200 via sidekick',
  healthyToFirst200: 'container healthy → first 200 via sidekick',
  stopToNoNew: 'docker stop → no new requests to it',
};

function report(ctx: Context, raw: ConvergenceRaw): void {
  const S = '2 convergence';
  for (const [k, label] of Object.entries(LABELS)) {
    const s = raw.summaries[k]!;
    ctx.rows.push({ scenario: S, metric: `${label} p50`, value: s.p50, unit: 'ms', note: `n=${s.n}` });
    const extra =
      k === 'putToRouted'
        ? `; etcd put ack p50 ${raw.summaries.putAck!.p50.toFixed(1)} / p99 ${raw.summaries.putAck!.p99.toFixed(1)} ms`
        : k === 'stopToNoNew'
          ? `; Docker's API → kill event p50 ${raw.summaries.stopToKillEvent!.p50.toFixed(1)} / ` +
            `p99 ${raw.summaries.stopToKillEvent!.p99.toFixed(1)} ms`
          : '';
    ctx.rows.push({
      scenario: S,
      metric: `${label} p99`,
      value: s.p99,
      unit: 'ms',
      target: '≤ 100 ms',
      pass: s.n > 0 && s.p99 <= 100,
      note: `n=${s.n}, max ${s.max.toFixed(1)} ms${extra}`,
    });
  }
  const r = raw.rolling;
  ctx.rows.push({
    scenario: S,
    metric: 'failed requests, rolling restart of 3 backends',
    value: r.failed,
    unit: '',
    target: '0',
    pass: r.failed === 0 && r.requests > 0,
    note: `${r.requests} requests in ${r.seconds.toFixed(1)} s`,
  });
}
