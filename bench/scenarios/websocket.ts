// Issue 12 item 4: WebSocket upgrades through the balancer (http-proxy's ws(), then two piped sockets)
// against nginx, bare http-proxy and the backend itself, all in front of the node:http backend, which
// echoes WebSockets with `ws`. Two loads, each from its own process (bench/ws-load.ts), interleaved with
// the competitors round by round:
//   handshake  LOOPS loops of open → 101 → clean close: what an upgrade costs, the only part the
//              two designs (http-proxy's ws() or our engine) could differ in
//   echo       SOCKETS open WebSockets, each sending a small message and waiting for its echo: the
//              piped sockets, the same in both designs
// Every row: the median rate, p99 (open → 101, or send → echo) and CPU µs per handshake or echo of the
// competitor's processes (the backend's, for `direct`), read by the load process over its measured
// window only. Errors (failed opens, non-101 answers, unclean closes, missed echoes) must be 0.
import { forkLoad } from '../lib/components.js';
import {
  type CompetitorName,
  DESCRIPTIONS,
  selected,
  startCompetitors,
  stopCompetitors,
  type Competitor,
} from '../lib/competitors.js';
import type { Context } from '../lib/context.js';
import { interleave, ratioRow, variantRow, type Interleaved, type Units, type Variant } from '../lib/interleave.js';
import type { Row } from '../lib/report.js';
import type { WsLoadParams, WsLoadResult } from '../ws-load.js';
import { GOAL } from './throughput-report.js';

const S = '1 websocket';
const TAG = 'ws';
const LOOPS = 16;
const SOCKETS = 32;
/** Far above what a run reaches: the bound in count beside the bound in time. */
const MAX_OPS = 5_000_000;
const HANDSHAKES: Units = { rate: 'handshakes/s', per: 'handshake' };
const ECHOES: Units = { rate: 'echoes/s', per: 'echo' };
const MODES = [
  { mode: 'handshake', units: HANDSHAKES, how: `${LOOPS} loops of open → 101 → close` },
  { mode: 'echo', units: ECHOES, how: `${SOCKETS} open WebSockets, one small message each in flight` },
] as const;

export const WS_SET: readonly CompetitorName[] = ['direct', 'nginx', 'plain-http-proxy', 'balancer-w1'];

export interface WebSocketRaw extends Interleaved {
  readonly competitors: string[];
  readonly describe: Record<string, string>;
  readonly listening: Record<string, readonly string[]>;
  readonly loops: number;
  readonly sockets: number;
  readonly errors: Record<string, Record<string, number>>;
}

export async function websocket(ctx: Context): Promise<WebSocketRaw | undefined> {
  const names = selected(ctx, WS_SET);
  if (names.length === 0) return undefined;
  const ref = { port: ctx.backendPort, proc: ctx.backendProc };
  const competitors = await startCompetitors(ctx, ref, names, TAG);
  try {
    const errors: Record<string, Record<string, number>> = {};
    const variants = competitors.flatMap((c) => MODES.map((m) => variant(c, m.mode, errors)));
    const raw = await interleave('websocket', variants, ctx.params.rounds, ctx.params.seconds);
    report(ctx, raw, names, errors);
    return {
      ...raw,
      competitors: names,
      describe: Object.fromEntries(names.map((n) => [n, DESCRIPTIONS[n]])),
      listening: Object.fromEntries(competitors.map((c) => [c.name, c.listening])),
      loops: LOOPS,
      sockets: SOCKETS,
      errors,
    };
  } finally {
    await stopCompetitors(competitors);
  }
}

/** One load run through competitor `c`; its errors by kind are added to `errors[<variant>]`. */
function variant(c: Competitor, mode: WsLoadParams['mode'], errors: Record<string, Record<string, number>>): Variant {
  const name = `${c.name} ${mode}`;
  return {
    name,
    run: async (seconds) => {
      const p: WsLoadParams = {
        mode,
        port: Number(new URL(c.url).port),
        host: 'ws.bench',
        concurrency: mode === 'echo' ? SOCKETS : LOOPS,
        seconds,
        maxOps: MAX_OPS,
        ...(c.proc ? { cpuPid: c.proc.pid } : {}),
      };
      const { proc, result } = forkLoad<WsLoadParams, WsLoadResult>(`ws-load-${TAG}`, 'ws-load', p);
      const r = await result;
      await proc.exited;
      const mine = (errors[name] ??= {});
      for (const [k, n] of Object.entries(r.errors)) mine[k] = (mine[k] ?? 0) + n;
      const failed = Object.values(r.errors).reduce((a, n) => a + n, 0);
      return {
        rps: r.ops / r.seconds,
        requests: r.ops,
        p50: r.p50,
        p90: r.p90,
        p99: r.p99,
        errors: failed,
        non2xx: 0,
        cpuSeconds: r.cpuSeconds,
      };
    },
  };
}

const fixed = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '?');

function report(
  ctx: Context,
  raw: Interleaved,
  names: readonly CompetitorName[],
  errors: Record<string, Record<string, number>>,
): void {
  const m = raw.medians;
  const rows: Row[] = [];
  for (const { mode, units, how } of MODES) {
    for (const c of names) {
      const v = m[`${c} ${mode}`];
      if (v) rows.push(variantRow(S, `${c} WebSocket`, v, `; ${how}`, units));
    }
    for (const c of names.filter((n) => n !== 'direct' && n !== 'nginx')) {
      const ratio = ratioRow(
        S,
        `${c}/nginx WebSocket ${units.rate}`,
        raw,
        `${c} ${mode}`,
        `nginx ${mode}`,
        undefined,
        units,
      );
      if (ratio) rows.push(ratio);
      const a = m[`${c} ${mode}`]?.cpuUsPerReq;
      const b = m[`nginx ${mode}`]?.cpuUsPerReq;
      if (a !== undefined && b !== undefined)
        rows.push({
          scenario: S,
          metric: `CPU per ${units.per} ${c}/nginx`,
          value: a / b,
          unit: '×',
          note: `medians ${fixed(a, 0)} vs ${fixed(b, 0)} µs/${units.per}`,
        });
    }
  }
  // Errors over every measured run (the unmeasured warm-up runs included: a failure there is one too).
  const total = Object.values(errors).reduce((a, e) => a + Object.values(e).reduce((x, n) => x + n, 0), 0);
  const failing = Object.entries(errors).filter(([, e]) => Object.keys(e).length > 0);
  rows.push({
    scenario: S,
    metric: 'WebSocket errors, all competitors',
    value: total,
    unit: '',
    target: '0',
    pass: total === 0,
    note: failing.length > 0 ? JSON.stringify(Object.fromEntries(failing)).slice(0, 300) : `${names.join(', ')}`,
    goal: GOAL,
  });
  ctx.rows.push(...rows);
}
