// The WebSocket load generator (the `websocket` scenario), in its own process. One JSON argument:
//   handshake  `concurrency` loops of open (→ 101) → clean close, for `seconds`
//   echo       `concurrency` WebSockets opened first, then each sends a small message and waits for its
//              echo, again and again, for `seconds` (the opening and closing are not measured)
// The proxy's CPU (`cpuPid` and its direct children, from /proc) is read right at the start and end of
// the measured window, so the opening of the echo sockets is not charged to the messages. Bounded: the
// window ends at `seconds` or `maxOps` operations, every step has a timeout, and the process exits on
// its own if it outlives its deadline. The result goes back over IPC.
import { createHistogram, performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { treeCpuSeconds } from './lib/proc-stats.js';
import { closeCleanly, echo, openWebSocket } from './lib/ws-client.js';

export interface WsLoadParams {
  readonly mode: 'handshake' | 'echo';
  readonly port: number;
  readonly host: string;
  readonly concurrency: number;
  readonly seconds: number;
  readonly maxOps: number;
  /** Whose CPU the operations are charged to (the proxy; the backend for `direct`). */
  readonly cpuPid?: number;
}

export interface WsLoadResult {
  readonly mode: string;
  /** Handshakes (open + clean close) or echoed messages completed in the window. */
  readonly ops: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
  /** Open → 101 (handshake) or send → echo (echo), ms. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly errors: Record<string, number>;
}

const STEP_TIMEOUT_MS = 5000;
const PATH = '/ws';
const p = JSON.parse(process.argv[2] ?? '{}') as WsLoadParams;
const errors: Record<string, number> = {};
const count = (kind: string): void => void (errors[kind] = (errors[kind] ?? 0) + 1);
const hist = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
const record = (t0: number): void => hist.record(Math.max(1, Math.round((performance.now() - t0) * 1000)));
const cpu = (): number => (p.cpuPid === undefined ? Number.NaN : treeCpuSeconds(p.cpuPid));
// Never outlive the harness's patience, whatever a step does.
setTimeout(() => process.exit(3), (p.seconds + 60) * 1000).unref();

let ops = 0;
let deadline = 0;
const going = (): boolean => ops < p.maxOps && performance.now() < deadline;

async function handshakes(): Promise<void> {
  while (going()) {
    const t0 = performance.now();
    const { ws, opened } = openWebSocket(p.port, p.host, PATH, STEP_TIMEOUT_MS, count);
    if (!(await opened)) {
      ws.terminate();
      continue;
    }
    record(t0);
    if (await closeCleanly(ws, STEP_TIMEOUT_MS, count)) ops++;
  }
}

async function echoes(ws: WebSocket, i: number): Promise<void> {
  for (let n = 0; going(); n++) {
    const t0 = performance.now();
    if (!(await echo(ws, `m${i}-${n}`, STEP_TIMEOUT_MS, count))) return;
    record(t0);
    ops++;
  }
}

async function openAll(): Promise<WebSocket[]> {
  const all = Array.from({ length: p.concurrency }, () => openWebSocket(p.port, p.host, PATH, STEP_TIMEOUT_MS, count));
  const ok = await Promise.all(all.map((o) => o.opened));
  if (ok.includes(false)) {
    for (const o of all) o.ws.terminate();
    throw new Error(`could not open ${p.concurrency} WebSockets: ${JSON.stringify(errors)}`);
  }
  return all.map((o) => o.ws);
}

async function main(): Promise<WsLoadResult> {
  const sockets = p.mode === 'echo' ? await openAll() : [];
  const cpu0 = cpu();
  const t0 = performance.now();
  deadline = t0 + p.seconds * 1000;
  await Promise.all(
    p.mode === 'echo' ? sockets.map(echoes) : Array.from({ length: p.concurrency }, () => handshakes()),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpu() - cpu0;
  await Promise.all(
    sockets.filter((ws) => ws.readyState === ws.OPEN).map((ws) => closeCleanly(ws, STEP_TIMEOUT_MS, count)),
  );
  const ms = (q: number): number => (hist.count > 0 ? hist.percentile(q) / 1000 : Number.NaN);
  return { mode: p.mode, ops, seconds, cpuSeconds, p50: ms(50), p90: ms(90), p99: ms(99), errors };
}

main().then(
  (result) => process.send?.({ type: 'result', result }, () => process.exit(0)),
  (err: unknown) => {
    process.stderr.write(`ws-load: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
