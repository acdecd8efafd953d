// A load generator that runs in its own process (so its event loop never shares the harness's).
// `rate` mode: open loop at a fixed request rate; latency is measured from each request's *intended*
// send time, so a stall is charged to every request it delays (no coordinated omission).
// `closed` mode: C requests in flight until told to stop; counts every failure and which backend answered.
// Parameters come as one JSON argument; the result goes back over IPC.
import { Agent, request } from 'node:http';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';

export interface LoadgenParams {
  readonly mode: 'rate' | 'closed';
  readonly url: string;
  readonly host?: string;
  /** rate mode: requests per second. */
  readonly rate?: number;
  /** closed mode: requests in flight. */
  readonly concurrency?: number;
  /** rate mode: measured duration; closed mode: upper bound if never told to stop. */
  readonly durationMs: number;
  /** rate mode: unmeasured lead-in at the same rate. */
  readonly warmupMs?: number;
}

export interface LoadgenResult {
  sent: number;
  ok: number;
  failed: number;
  /** status (or error code) → count, for everything that was not a 200. */
  failures: Record<string, number>;
  /** backend identity (first line of the body) → count, closed mode only. */
  bodies: Record<string, number>;
  achievedRate: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
}

const params = JSON.parse(process.argv[2] ?? '{}') as LoadgenParams;
const agent = new Agent({ keepAlive: true, maxSockets: params.mode === 'rate' ? 256 : (params.concurrency ?? 8) });
const headers = params.host ? { host: params.host } : {};
const hist: RecordableHistogram = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
const result: LoadgenResult = {
  sent: 0,
  ok: 0,
  failed: 0,
  failures: {},
  bodies: {},
  achievedRate: 0,
  latencyMs: { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 },
};

function fail(key: string): void {
  result.failed++;
  result.failures[key] = (result.failures[key] ?? 0) + 1;
}

/** One request; resolves when it ended. `from` is the time latency is charged from. */
function once(from: number, measured: boolean, keepBody: boolean): Promise<void> {
  return new Promise((resolve) => {
    if (measured) result.sent++;
    const req = request(params.url, { agent, headers }, (res) => {
      let body = '';
      if (keepBody) res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (keepBody && body.length < 200) body += d;
      });
      res.on('end', () => {
        if (measured) {
          hist.record(Math.max(1, Math.round((performance.now() - from) * 1000)));
          if (res.statusCode === 200) {
            result.ok++;
            if (keepBody) {
              const who = body.split('\n')[0] ?? '';
              result.bodies[who] = (result.bodies[who] ?? 0) + 1;
            }
          } else fail(String(res.statusCode));
        }
        resolve();
      });
      res.on('error', () => {
        if (measured) fail('response-error');
        resolve();
      });
    });
    req.setTimeout(10_000, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (measured) fail(err.code ?? err.message);
      resolve();
    });
    req.end();
  });
}

async function rateMode(): Promise<number> {
  const rate = params.rate ?? 1000;
  const interval = 1000 / rate;
  const warmup = params.warmupMs ?? 500;
  const total = Math.round(((warmup + params.durationMs) / 1000) * rate);
  const warmCount = Math.round((warmup / 1000) * rate);
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (i < total && t0 + i * interval <= now) {
        pending.push(once(t0 + i * interval, i >= warmCount, false));
        i++;
      }
      if (i >= total) return resolve();
      setTimeout(tick, Math.max(0, t0 + i * interval - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  return (performance.now() - t0 - warmup) / 1000;
}

async function closedMode(): Promise<number> {
  let stop = false;
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') stop = true;
  });
  const t0 = performance.now();
  const deadline = t0 + params.durationMs;
  const worker = async (): Promise<void> => {
    while (!stop && performance.now() < deadline) await once(performance.now(), true, true);
  };
  process.send?.({ type: 'started' });
  await Promise.all(Array.from({ length: params.concurrency ?? 8 }, worker));
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const seconds = params.mode === 'rate' ? await rateMode() : await closedMode();
  const ms = (q: number): number => hist.percentile(q) / 1000;
  result.achievedRate = result.sent / seconds;
  result.latencyMs = {
    p50: ms(50),
    p90: ms(90),
    p99: ms(99),
    p999: ms(99.9),
    max: hist.max / 1000,
    mean: hist.mean / 1000,
  };
  agent.destroy();
  process.send?.({ type: 'result', result }, () => process.exit(0));
}

void main();
