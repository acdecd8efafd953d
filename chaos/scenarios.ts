// The chaos scenarios: each starts what it needs, injects one fault under bounded loopback load,
// measures, compares registry and route table with `docker ps`, cleans up, and returns its row.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { docker, removeTestContainers, uniq } from '../test/helpers/docker.js';
import { etcdctl, startEtcd, type EtcdServer } from '../test/helpers/etcd.js';
import { get, runLoad } from '../test/helpers/load.js';
import { stopAllPrograms } from '../test/helpers/program.js';
import { startTcpProxy } from '../test/helpers/tcp-proxy.js';
import { delay, waitFor } from '../test/helpers/wait.js';
import type { Program } from '../test/helpers/program.js';
import { Timeline, traceFailures } from './trace.js';
import {
  backgroundLoad,
  compare,
  converge,
  describeFailures,
  metric,
  procStats,
  startBalancer,
  startSidekick,
  table,
  webContainer,
  type Balancer,
  type Row,
} from './lib.js';

export interface Scenario {
  readonly id: string;
  readonly name: string;
  /** Part of the fast set (`CHAOS_FAST=1`). */
  readonly fast: boolean;
  run(): Promise<Row>;
}

/** Runs `body` with a fresh etcd; always tears down programs, containers and etcd. */
async function withEtcd<T>(body: (etcd: EtcdServer) => Promise<T>): Promise<T> {
  const etcd = await startEtcd();
  try {
    return await body(etcd);
  } finally {
    await stopAllPrograms();
    await removeTestContainers();
    await etcd.destroy();
  }
}

/** etcd + one per-host sidekick + a balancer defaulting to `service` + `n` web containers, converged. */
async function standardWorld(
  etcd: EtcdServer,
  n: number,
  opts: { ttl?: string; balancerEndpoints?: string; balancerArgs?: string[] } = {},
): Promise<{ service: string; node: string; b: Balancer; names: string[]; sidekick: Program }> {
  const service = uniq('cw');
  const node = uniq('cn');
  const sidekick = startSidekick(etcd.endpoint, node, ['--ttl', opts.ttl ?? '10s']);
  const extra = opts.balancerArgs ?? [];
  const b = await startBalancer(opts.balancerEndpoints ?? etcd.endpoint, [
    '--default-service',
    service,
    ...(extra.includes('--upstream-timeout') ? [] : ['--upstream-timeout', '2s']),
    ...extra,
  ]);
  const names: string[] = [];
  for (let i = 0; i < n; i++) names.push(await webContainer(service));
  const c = await converge(etcd.client(), b, service, 15_000);
  if (!c.last.equal) throw new Error(`setup never converged: ${JSON.stringify(c.last)}`);
  return { service, node, b, names, sidekick };
}

function row(
  scenario: string,
  target: string,
  fields: Omit<Row, 'scenario' | 'target' | 'pass' | 'note'>,
  problems: string[],
): Row {
  return { scenario, target, ...fields, pass: problems.length === 0, note: problems.join('; ') };
}

// ---------------------------------------------------------------------------------------------

async function etcdOutage(fresh: boolean, outageMs: number): Promise<Row> {
  const scenario = fresh ? '2 etcd data lost' : `1 etcd down ${outageMs / 1000} s`;
  return withEtcd(async (etcd) => {
    const { service, b, names, sidekick } = await standardWorld(etcd, 3);
    const load = backgroundLoad(`${b.proxyUrl}/`);
    await delay(1000);
    await etcd.stop();
    let added = '';
    if (!fresh) {
      // Churn while etcd is away: one container stopped, one started.
      added = await webContainer(service);
      await docker('stop', '-t', '1', names[0] as string);
    }
    await delay(outageMs);
    await etcd.start({ fresh });
    const c = await converge(etcd.client(), b, service, 20_000);
    await delay(1000);
    const result = await load.stop();
    const end = await compare(etcd.client(), b, service);
    const problems: string[] = [];
    if (result.failures.length > 0) problems.push(`${result.failures.length} failed: ${describeFailures(result)}`);
    if (c.ms > 5000) problems.push(`converged after ${c.ms} ms > 5000 ms (${JSON.stringify(c.last)})`);
    if (!end.equal) problems.push(`not equal at the end: ${JSON.stringify(end)}`);
    if (!fresh && !end.truth.includes(added)) problems.push('added container missing from truth');
    if (fresh && result.failures.length > 0) {
      // Evidence: when the balancer rebuilt from the wiped registry, and when the sidekick republished.
      const at = (l: Record<string, unknown> | undefined): number => (l ? Date.parse(String(l.time)) : Number.NaN);
      const rebuilt = at(b.program.logs().find((l) => String(l.msg).startsWith('etcd revision went backwards')));
      const granted = at(sidekick.logs().filter((l) => l.msg === 'lease granted')[1]);
      problems.push(`balancer rebuilt from the empty registry ${granted - rebuilt} ms before the sidekick's new lease`);
    }
    return row(
      scenario,
      '0 failed; table == truth ≤ 5 s after etcd returns',
      { sent: result.sent, failed: result.failures.length, convergeMs: c.ms, stale: end.stale },
      problems,
    );
  });
}

async function compactionWhileCut(): Promise<Row> {
  return withEtcd(async (etcd) => {
    const proxy = await startTcpProxy({ port: etcd.clientPort });
    try {
      const { service, b, names } = await standardWorld(etcd, 3, {
        balancerEndpoints: `http://127.0.0.1:${proxy.port}`,
      });
      const tl = new Timeline();
      const reconnectsBefore = await metric(b, 'balancer_watch_reconnects_total');
      const load = backgroundLoad(`${b.proxyUrl}/`);
      tl.mark('load started');
      await delay(500);
      proxy.block(true);
      tl.mark('watch link cut');
      const added = await webContainer(service);
      tl.mark(`started ${added}`);
      await docker('stop', '-t', '1', names[1] as string);
      tl.mark(`stopped ${names[1] as string}`);
      const client = etcd.client();
      await waitFor('sidekick caught up', async () => (await compare(client, undefined, service)).equal, 10_000);
      tl.mark('registry caught up');
      for (let i = 0; i < 300; i++) await client.put(`/chaos-filler/${i % 7}`).value(String(i));
      const rev = JSON.parse(await etcdctl(etcd, ['endpoint', 'status', '-w', 'json'])) as Array<{
        Status: { header: { revision: number } };
      }>;
      await etcdctl(etcd, ['compact', String(rev[0]?.Status.header.revision)]);
      tl.mark('compacted');
      await delay(1000);
      proxy.block(false);
      tl.mark('watch link restored');
      const c = await converge(client, b, service, 20_000);
      tl.mark('converged');
      await delay(500);
      const result = await load.stop();
      const end = await compare(client, b, service);
      const trace = traceFailures('4', result, tl, b.program.logs());
      const problems: string[] = [];
      if (result.failures.length > 0)
        problems.push(`${result.failures.length} failed: ${describeFailures(result)} [${trace}]`);
      if (c.ms > 5000) problems.push(`converged after ${c.ms} ms (${JSON.stringify(c.last)})`);
      if (!end.equal || !end.table.includes(added)) problems.push(`not equal at the end: ${JSON.stringify(end)}`);
      if ((await metric(b, 'balancer_watch_reconnects_total')) <= reconnectsBefore)
        problems.push('no watch reconnect counted');
      return row(
        '4 compaction while watch cut',
        '0 failed; resync, table == truth ≤ 5 s after the link returns',
        { sent: result.sent, failed: result.failures.length, convergeMs: c.ms, stale: end.stale },
        problems,
      );
    } finally {
      await proxy.close();
    }
  });
}

async function sidekickKill(): Promise<Row> {
  return withEtcd(async (etcd) => {
    const ttlS = 5;
    const service = uniq('ck');
    const node = uniq('cn');
    const names: string[] = [];
    for (let i = 0; i < 3; i++) names.push(await webContainer(service));
    const sk = names.map((n) => startSidekick(etcd.endpoint, node, ['--container', n, '--ttl', `${ttlS}s`]));
    const b = await startBalancer(etcd.endpoint, ['--default-service', service, '--upstream-timeout', '2s']);
    const client = etcd.client();
    const c0 = await converge(client, b, service, 15_000);
    if (!c0.last.equal) throw new Error(`setup never converged: ${JSON.stringify(c0.last)}`);
    const load = backgroundLoad(`${b.proxyUrl}/`);
    await delay(500);
    sk[0]?.proc.kill('SIGKILL');
    const killed = Date.now();
    const victim = names[0] as string;
    await waitFor(
      'victim entry expired',
      async () => !(await compare(client, b, service)).registry.includes(victim),
      30_000,
      25,
    );
    const expiredMs = Date.now() - killed;
    startSidekick(etcd.endpoint, node, ['--container', victim, '--ttl', `${ttlS}s`]);
    const c = await converge(client, b, service, 15_000);
    await delay(ttlS * 1000 + 1000); // the restarted entry must survive the old lease's TTL, once
    const result = await load.stop();
    const end = await compare(client, b, service);
    const problems: string[] = [];
    if (result.failures.length > 0) problems.push(`${result.failures.length} failed: ${describeFailures(result)}`);
    if (expiredMs > (ttlS + 1) * 1000) problems.push(`entry gone after ${expiredMs} ms > TTL + 1 s`);
    if (!end.equal) problems.push(`not equal at the end (duplicates or missing): ${JSON.stringify(end)}`);
    return row(
      '5 sidekick SIGKILL',
      `entries gone ≤ TTL + 1 s (TTL ${ttlS} s); no duplicates after restart`,
      { sent: result.sent, failed: result.failures.length, convergeMs: Math.max(expiredMs, c.ms), stale: end.stale },
      problems,
    );
  });
}

async function backendKill(): Promise<Row> {
  return withEtcd(async (etcd) => {
    const { service, b, names, sidekick } = await standardWorld(etcd, 3, { balancerArgs: ['--eject-cooldown', '30s'] });
    const client = etcd.client();
    const load = backgroundLoad(`${b.proxyUrl}/`);
    await delay(800);
    // Phase 1: the registry keeps the dead backend (its sidekick is frozen): the balancer alone
    // absorbs the failure and ejects it.
    const skPid = sidekick.proc.pid as number;
    process.kill(skPid, 'SIGSTOP');
    let ejected = false;
    try {
      await docker('kill', names[1] as string);
      ejected =
        (await waitFor(
          'backend ejected',
          async () => {
            const t = await table(b);
            return t.services
              .find((s) => s.name === service)
              ?.backends.some((x) => x.instance.includes(names[1] as string) && x.state === 'ejected');
          },
          5000,
          20,
        ).catch(() => false)) === true;
      await delay(1500);
    } finally {
      process.kill(skPid, 'SIGCONT');
    }
    // Phase 2: a second kill with the sidekick running: withdrawn from the registry and the table.
    const t0 = Date.now();
    await docker('kill', names[2] as string);
    const c = await converge(client, b, service, 15_000);
    const withdrawMs = Date.now() - t0;
    await delay(500);
    const result = await load.stop();
    const end = await compare(client, b, service);
    const problems: string[] = [];
    if (result.failures.length > 0) problems.push(`${result.failures.length} failed: ${describeFailures(result)}`);
    if (!ejected) problems.push('killed backend never shown as ejected');
    if (!end.equal) problems.push(`not equal at the end: ${JSON.stringify(end)}`);
    return row(
      '7 backend SIGKILL',
      '0 failed idempotent requests; backend ejected; table == truth',
      {
        sent: result.sent,
        failed: result.failures.length,
        convergeMs: Number.isFinite(c.ms) ? withdrawMs : c.ms,
        stale: end.stale,
      },
      problems,
    );
  });
}

// ---------------------------------------------------------------------------------------------

interface Stub {
  port: number;
  sockets: Set<Socket>;
  requests: number;
  close(): Promise<void>;
}

/** A TCP server that accepts and never answers. */
async function hangServer(): Promise<Stub> {
  const sockets = new Set<Socket>();
  const stub: Stub = { port: 0, sockets, requests: 0, close: async () => undefined };
  const srv: Server = createNetServer((s) => {
    sockets.add(s);
    stub.requests++;
    s.resume(); // read (and drop) the request so the peer's FIN is seen
    s.on('error', () => undefined).on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  stub.port = (srv.address() as { port: number }).port;
  stub.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    });
  return stub;
}

/** An HTTP server that answers after `delayMs` (headers included). */
async function slowServer(delayMs: number, body = 'slow'): Promise<Stub> {
  const sockets = new Set<Socket>();
  const stub: Stub = { port: 0, sockets, requests: 0, close: async () => undefined };
  const srv = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    stub.requests++;
    req.resume();
    const t = setTimeout(() => res.end(body), delayMs);
    res.on('close', () => clearTimeout(t));
  });
  srv.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  stub.port = (srv.address() as { port: number }).port;
  stub.close = () =>
    new Promise<void>((r) => {
      srv.closeAllConnections();
      srv.close(() => r());
    });
  return stub;
}

async function hungBackends(total: number): Promise<Row> {
  return withEtcd(async (etcd) => {
    const timeoutMs = 1000;
    const hang = await hangServer();
    const slow = await slowServer(timeoutMs * 4);
    try {
      const { b } = await standardWorld(etcd, 2, {
        balancerArgs: [
          '--upstream-timeout',
          `${timeoutMs}ms`,
          '--route',
          'hang.test=hang',
          '--route',
          'slow.test=slow',
        ],
      });
      const client = etcd.client();
      await client.put('/services/hang/manual:hang:1').value(JSON.stringify({ host: '127.0.0.1', port: hang.port }));
      await client.put('/services/slow/manual:slow:1').value(JSON.stringify({ host: '127.0.0.1', port: slow.port }));
      await waitFor(
        'hang and slow in the table',
        async () => (await table(b)).services.filter((s) => s.name === 'hang' || s.name === 'slow').length === 2,
        5000,
      );
      // Timing: a single request to each answers 504 at the timeout.
      const timing: number[] = [];
      for (const host of ['hang.test', 'slow.test']) {
        const t0 = Date.now();
        const r = await get(`${b.proxyUrl}/`, { headers: { host } });
        timing.push(Date.now() - t0);
        if (r.status !== 504) throw new Error(`${host} answered ${r.status}, want 504`);
      }
      // Two measured rounds of total/2 (half hung, half slow) after one unmeasured round of the same
      // load, which lets V8 grow the heap to its working size. RSS then wanders by ±8 MiB with the
      // heap's committed size (measured: 111-126 MiB over 8 further rounds of 5,000, no trend), too
      // noisy to show a leak between two samples; the live heap is not: the smallest heap-used
      // value seen during a round (sampled every 250 ms, so some samples follow a GC) grows round
      // after round only if something is retained. RSS keeps a ceiling.
      const round = async (n: number) => {
        const half = Math.floor(n / 2);
        let done = false;
        let liveMiB = Number.POSITIVE_INFINITY;
        const sampler = (async () => {
          for (let k = 0; k < 2400 && !done; k++) {
            // A missed scrape is no sample.
            const used = await metric(b, 'balancer_process_nodejs_heap_size_used_bytes').catch(() => Number.NaN);
            if (used > 0) liveMiB = Math.min(liveMiB, used / 1048576);
            await delay(250);
          }
        })();
        const results = await Promise.all([
          runLoad({
            url: `${b.proxyUrl}/`,
            headers: { host: 'hang.test' },
            concurrency: 100,
            maxRequests: half,
            durationMs: 300_000,
          }),
          runLoad({
            url: `${b.proxyUrl}/`,
            headers: { host: 'slow.test' },
            concurrency: 100,
            maxRequests: n - half,
            durationMs: 300_000,
          }),
        ]);
        done = true;
        await sampler;
        return [...results, liveMiB] as const;
      };
      const [, , live0] = await round(Math.floor(total / 2));
      await delay(1500);
      const pid = b.program.proc.pid as number;
      const before = procStats(pid);
      const other = backgroundLoad(`${b.proxyUrl}/`, {}, 4);
      const [h1, s1, live1] = await round(Math.floor(total / 2));
      await delay(1000);
      const mid = procStats(pid);
      const [h2, s2, live2] = await round(total - Math.floor(total / 2));
      const otherResult = await other.stop();
      await delay(2000);
      const after = procStats(pid);
      const h = { ok: h1.ok + h2.ok, failures: [...h1.failures, ...h2.failures] };
      const s = { ok: s1.ok + s2.ok, failures: [...s1.failures, ...s2.failures] };
      const not504 = [...h.failures, ...s.failures].filter((f) => f.status !== 504).length + h.ok + s.ok;
      const problems: string[] = [];
      if (timing.some((t) => t < timeoutMs - 20 || t > timeoutMs + 500))
        problems.push(`504 after ${timing.join('/')} ms, timeout ${timeoutMs} ms`);
      if (not504 > 0) problems.push(`${not504} of ${total} hung/slow requests did not get 504`);
      if (otherResult.failures.length > 0)
        problems.push(`other service: ${otherResult.failures.length} failed: ${describeFailures(otherResult)}`);
      if (after.fds > before.fds + 10 || after.fds > mid.fds + 5)
        problems.push(`balancer fds ${before.fds} → ${after.fds}`);
      if (after.rssKiB > before.rssKiB + 40 * 1024)
        problems.push(`balancer RSS ${before.rssKiB} → ${mid.rssKiB} → ${after.rssKiB} KiB`);
      if (live2 > live1 + 10 || live2 > live0 + 20)
        problems.push(`balancer live heap ${live0.toFixed(1)} → ${live1.toFixed(1)} → ${live2.toFixed(1)} MiB`);
      if (hang.sockets.size + slow.sockets.size > 10)
        problems.push(`${hang.sockets.size + slow.sockets.size} upstream sockets still open`);
      const rssMiB = [before, mid, after].map((p) => Math.round(p.rssKiB / 1024)).join('→');
      const liveHeapMiB = [live0, live1, live2].map((v) => v.toFixed(0)).join('→');
      const note =
        `504 in ${timing.join('/')} ms; fds ${before.fds}→${mid.fds}→${after.fds}; RSS ${rssMiB} MiB; ` +
        `live heap ${liveHeapMiB} MiB; upstream sockets left ${hang.sockets.size + slow.sockets.size}`;
      const r = row(
        '8 hung + slow backends',
        `504 at ${timeoutMs} ms; others 0 failed; no fd growth, live heap flat and RSS bounded over ${total} ` +
          `after a warm-up of ${Math.floor(total / 2)}`,
        { sent: total + otherResult.sent, failed: otherResult.failures.length + not504, stale: 0 },
        problems,
      );
      if (r.pass) r.note = note;
      else r.note += ` (${note})`;
      return r;
    } finally {
      await hang.close();
      await slow.close();
    }
  });
}

async function balancerSigterm(): Promise<Row> {
  return withEtcd(async (etcd) => {
    const slow = await slowServer(1500, 'finished');
    try {
      const client = etcd.client();
      await client.put('/services/slowterm/manual:s:1').value(JSON.stringify({ host: '127.0.0.1', port: slow.port }));
      const b = await startBalancer(etcd.endpoint, [
        '--default-service',
        'slowterm',
        '--grace',
        '5s',
        '--upstream-timeout',
        '5s',
      ]);
      const n = 40;
      const inflight = Array.from({ length: n }, () =>
        get(`${b.proxyUrl}/`).catch((e: Error) => ({ status: 0, body: e.message, headers: {} })),
      );
      await waitFor('all requests at the backend', () => slow.requests >= n, 5000, 10);
      const exit = b.program.exited();
      const termAt = Date.now();
      b.program.proc.kill('SIGTERM');
      let notReadyAt = 0;
      await waitFor(
        'readyz 503',
        async () => {
          const r = await fetch(`${b.adminUrl}/readyz`).catch(() => undefined);
          if (r === undefined || r.status === 503) notReadyAt = Date.now();
          return notReadyAt > 0;
        },
        3000,
        5,
      ).catch(() => undefined);
      const results = await Promise.all(inflight);
      const firstDone = Date.now();
      const code = await exit;
      const failed = results.filter((r) => r.status !== 200 || r.body.trim() !== 'finished');
      const problems: string[] = [];
      if (failed.length > 0)
        problems.push(
          `${failed.length} in-flight failed: ${failed
            .slice(0, 3)
            .map((f) => `${f.status} ${f.body}`)
            .join(', ')}`,
        );
      if (notReadyAt === 0 || notReadyAt > firstDone)
        problems.push('readiness not dropped before the in-flight requests finished');
      if (code !== 0) problems.push(`exit ${code}`);
      return row(
        '9 balancer SIGTERM',
        'in-flight complete; not ready first; exit 0',
        { sent: n, failed: failed.length, convergeMs: notReadyAt > 0 ? notReadyAt - termAt : undefined, stale: 0 },
        problems,
      );
    } finally {
      await slow.close();
    }
  });
}

export const scenarios: readonly Scenario[] = [
  { id: '1', name: 'etcd stopped 20 s, same data', fast: false, run: () => etcdOutage(false, 20_000) },
  { id: '2', name: 'etcd data lost', fast: true, run: () => etcdOutage(true, 3000) },
  { id: '4', name: 'compaction while watch cut', fast: true, run: compactionWhileCut },
  { id: '5', name: 'sidekick SIGKILL', fast: true, run: sidekickKill },
  { id: '7', name: 'backend SIGKILL', fast: true, run: backendKill },
  { id: '8', name: 'hung and slow backends', fast: false, run: () => hungBackends(10_000) },
  { id: '9', name: 'balancer SIGTERM', fast: true, run: balancerSigterm },
];

export { hangServer, slowServer, withEtcd, standardWorld };
