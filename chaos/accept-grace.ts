// Row 12: balancer SIGTERM with --accept-grace while a client keeps sending. An upstream load balancer
// learns that a balancer is going away from its /readyz, one health-check interval later at best; the
// accept grace is that window. The client here keeps sending through most of the grace, on keep-alive
// connections and on a fresh connection per request, and none of its requests may fail. The same
// client against the same shutdown without the grace is measured too, to show what the grace buys.
import { Agent } from 'node:http';
import { get, runLoad, type LoadResult } from '../test/helpers/load.js';
import { stopAllPrograms } from '../test/helpers/program.js';
import { delay, waitFor } from '../test/helpers/wait.js';
import { describeFailures, startBalancer, type Row } from './lib.js';
import { slowServer, withEtcd } from './scenarios.js';

const ACCEPT_GRACE_MS = 3000;
/** The client stops this long before the accept grace ends: a new connection racing the close is refused. */
const MARGIN_MS = 500;

interface Shutdown {
  /** Requests sent after the signal, by the keep-alive and the fresh-connection clients. */
  readonly after: LoadResult;
  readonly notReadyMs: number | undefined;
  /** When a new connection was first refused, after the signal. */
  readonly refusedMs: number | undefined;
  readonly exit: number | string;
}

/** A fresh TCP connection per request, until `signal`; same accounting as runLoad. */
async function freshConnections(url: string, concurrency: number, signal: AbortSignal): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: false });
  const r: LoadResult = { sent: 0, ok: 0, failures: [], bodies: new Map() };
  const worker = async (): Promise<void> => {
    for (let i = 0; i < 100_000 && !signal.aborted; i++) {
      r.sent++;
      const res = await get(url, { agent }).catch((e: Error & { code?: string }) => ({
        status: e.code ?? e.message,
        body: '',
      }));
      if (res.status === 200) r.ok++;
      else r.failures.push({ status: res.status, body: res.body.slice(0, 200) });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return r;
}

function merge(a: LoadResult, b: LoadResult): LoadResult {
  return { sent: a.sent + b.sent, ok: a.ok + b.ok, failures: [...a.failures, ...b.failures], bodies: new Map() };
}

/** Starts a balancer with `args`, sends load, signals it, keeps the load on for `sendMs` after the signal. */
async function shutdownUnderLoad(endpoint: string, args: string[], sendMs: number): Promise<Shutdown> {
  const b = await startBalancer(endpoint, ['--default-service', 'grace', '--grace', '5s', ...args]);
  const url = `${b.proxyUrl}/`;
  const stopLoad = new AbortController();
  const warm = new AbortController();
  // Warm-up before the signal, so keep-alive connections exist when it comes; only what is sent after counts.
  const warmup = runLoad({ url, concurrency: 4, durationMs: 60_000, signal: warm.signal });
  await delay(500);
  warm.abort();
  await warmup;
  const exit = b.program.exited();
  b.program.proc.kill('SIGTERM');
  const signalled = Date.now();
  const keepAlive = runLoad({ url, concurrency: 4, durationMs: 60_000, signal: stopLoad.signal });
  const fresh = freshConnections(url, 4, stopLoad.signal);
  let notReadyMs: number | undefined;
  const readyz = waitFor(
    'readyz 503',
    async () => {
      const r = await fetch(`${b.adminUrl}/readyz`).catch(() => undefined);
      if (r?.status === 503) notReadyMs = Date.now() - signalled;
      return notReadyMs !== undefined;
    },
    3000,
    10,
  ).catch(() => undefined);
  await delay(sendMs);
  stopLoad.abort();
  const after = merge(await keepAlive, await fresh);
  await readyz;
  let refusedMs: number | undefined;
  await waitFor(
    'a new connection refused',
    async () => {
      const r = await get(url, { agent: new Agent({ keepAlive: false }) }).catch((e: Error & { code?: string }) => e);
      if (r instanceof Error && r.code === 'ECONNREFUSED') refusedMs = Date.now() - signalled;
      return refusedMs !== undefined;
    },
    ACCEPT_GRACE_MS + 5000,
    50,
  ).catch(() => undefined);
  return { after, notReadyMs, refusedMs, exit: await exit };
}

export async function acceptGrace(): Promise<Row> {
  return withEtcd(async (etcd) => {
    const backend = await slowServer(20, 'ok');
    try {
      const client = etcd.client();
      await client.put('/services/grace/manual:g:1').value(JSON.stringify({ host: '127.0.0.1', port: backend.port }));
      const sendMs = ACCEPT_GRACE_MS - MARGIN_MS;
      const graced = await shutdownUnderLoad(etcd.endpoint, ['--accept-grace', `${ACCEPT_GRACE_MS / 1000}s`], sendMs);
      await stopAllPrograms();
      // The control: the same client for the same time, without the grace.
      const bare = await shutdownUnderLoad(etcd.endpoint, [], sendMs);
      const { after, notReadyMs, refusedMs } = graced;
      const problems: string[] = [];
      if (after.failures.length > 0) problems.push(`failed: ${describeFailures(after)}`);
      if (after.ok < 100) problems.push(`only ${after.ok} requests served after the signal`);
      if (notReadyMs === undefined || notReadyMs > 500) problems.push(`readyz 503 after ${notReadyMs ?? '∞'} ms`);
      if (refusedMs === undefined || refusedMs < ACCEPT_GRACE_MS)
        problems.push(`new connections refused after ${refusedMs ?? '∞'} ms, not after the grace`);
      if (graced.exit !== 0) problems.push(`exit ${graced.exit}`);
      const control = `without the grace ${bare.after.failures.length}/${bare.after.sent} failed`;
      return {
        scenario: `12 balancer SIGTERM, --accept-grace 3 s, client sending ${sendMs / 1000} s into it`,
        sent: after.sent,
        failed: after.failures.length,
        convergeMs: notReadyMs,
        stale: 0,
        target: '0 failed through the grace; readyz 503 at once; refused only after the grace; exit 0',
        pass: problems.length === 0,
        note: [`readyz 503 in ${notReadyMs} ms; refused at ${refusedMs} ms; ${control}`, ...problems].join('; '),
      };
    } finally {
      await backend.close();
    }
  });
}
