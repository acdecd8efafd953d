// The upstream engine's knobs and their defaults, in one place.
import { DEFAULT_PARSER_LIMITS, type ParserLimits } from './response-parser.js';

export interface EngineOptions {
  /** Sockets (connecting, busy and idle) per backend. Default 256. */
  readonly maxSocketsPerBackend?: number;
  /** Requests waiting for a socket per backend; one more fails with `pool-full`. Default 1024. */
  readonly maxWaitersPerBackend?: number;
  /** An idle pooled socket is closed after this; keep it below the backends' keep-alive (Node: 5 s). Default 4000. */
  readonly idleTimeoutMs?: number;
  /** A connect that has not completed after this fails as `connect`. Default 3000. */
  readonly connectTimeoutMs?: number;
  /** No byte from the backend for this long after the response head fails as `timeout`. Default 60 000. */
  readonly upstreamIdleTimeoutMs?: number;
  /** Response header section limits. */
  readonly parserLimits?: Partial<ParserLimits>;
}

export interface ResolvedEngineOptions {
  readonly maxSocketsPerBackend: number;
  readonly maxWaitersPerBackend: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly parserLimits: ParserLimits;
  /** How often idle sockets and stalled bodies are checked. */
  readonly sweepMs: number;
  /** Sweeps after which an idle socket closes / a silent body fails: at least the timeout, at most one sweep more. */
  readonly idleTicks: number;
  readonly upstreamIdleTicks: number;
}

export const ENGINE_DEFAULTS = Object.freeze({
  maxSocketsPerBackend: 256,
  maxWaitersPerBackend: 1024,
  idleTimeoutMs: 4_000,
  connectTimeoutMs: 3_000,
  upstreamIdleTimeoutMs: 60_000,
});

function positive(name: string, v: number, min: number): number {
  if (!Number.isFinite(v) || v < min) throw new RangeError(`${name} must be a number ≥ ${min}, got ${v}`);
  return v;
}

export function resolveEngineOptions(o: EngineOptions = {}): ResolvedEngineOptions {
  const idle = positive('idleTimeoutMs', o.idleTimeoutMs ?? ENGINE_DEFAULTS.idleTimeoutMs, 1);
  const upstreamIdle = positive(
    'upstreamIdleTimeoutMs',
    o.upstreamIdleTimeoutMs ?? ENGINE_DEFAULTS.upstreamIdleTimeoutMs,
    1,
  );
  // An idle socket lives idleTimeoutMs to idleTimeoutMs + sweepMs (4–4.5 s by default, under Node's 5 s).
  const sweepMs = Math.max(5, Math.min(1_000, Math.floor(Math.min(idle, upstreamIdle) / 8)));
  return Object.freeze({
    maxSocketsPerBackend: positive(
      'maxSocketsPerBackend',
      o.maxSocketsPerBackend ?? ENGINE_DEFAULTS.maxSocketsPerBackend,
      1,
    ),
    maxWaitersPerBackend: positive(
      'maxWaitersPerBackend',
      o.maxWaitersPerBackend ?? ENGINE_DEFAULTS.maxWaitersPerBackend,
      0,
    ),
    idleTimeoutMs: idle,
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs ?? ENGINE_DEFAULTS.connectTimeoutMs, 1),
    upstreamIdleTimeoutMs: upstreamIdle,
    parserLimits: Object.freeze({ ...DEFAULT_PARSER_LIMITS, ...o.parserLimits }),
    sweepMs,
    // The first sweep after a byte may come at once: one more than ceil(timeout / sweep) guarantees the full timeout.
    idleTicks: Math.ceil(idle / sweepMs) + 1,
    upstreamIdleTicks: Math.ceil(upstreamIdle / sweepMs) + 1,
  });
}
