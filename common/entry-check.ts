// The `check` field of a registry entry: how a balancer actively probes that backend.
// JSON: {"path": "/healthz"} | {"tcp": true}, each with optional "interval" (default 10s) and
// "timeout" (default 2s, never above the interval). Part of the registry contract: common/registry.ts
// re-exports it, and both programs validate with this one function.
import { parseDurationMs } from './parsers.js';

export type EntryCheck =
  | { readonly type: 'http'; readonly path: string; readonly intervalMs: number; readonly timeoutMs: number }
  | { readonly type: 'tcp'; readonly intervalMs: number; readonly timeoutMs: number };

type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export const CHECK_DEFAULT_INTERVAL_MS = 10_000;
export const CHECK_DEFAULT_TIMEOUT_MS = 2_000;
export const CHECK_MIN_INTERVAL_MS = 1_000;
export const CHECK_MAX_INTERVAL_MS = 3_600_000;
export const CHECK_MIN_TIMEOUT_MS = 100;
export const CHECK_MAX_TIMEOUT_MS = 60_000;
export const CHECK_MAX_PATH_LENGTH = 1024;

const CHECK_FIELDS = new Set(['path', 'tcp', 'interval', 'timeout']);
// RFC 3986 path and query characters, percent-escapes well formed: the path goes into a request
// line as is, so a space, CR/LF or a non-ASCII character could split or smuggle a request.
const CHECK_PATH = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;

/** The timeout that applies when none is given: the default, capped by the interval. */
export function defaultCheckTimeoutMs(intervalMs: number): number {
  return Math.min(CHECK_DEFAULT_TIMEOUT_MS, intervalMs);
}

function duration(raw: unknown, name: string, min: number, max: number): Decoded<number> {
  const bounds = `a duration string from ${min}ms to ${max / 1000}s such as "10s" or "500ms"`;
  if (typeof raw !== 'string' || raw.length > 32) return { ok: false, error: `check.${name} must be ${bounds}` };
  let ms: number;
  try {
    ms = parseDurationMs(raw);
  } catch {
    return { ok: false, error: `check.${name} must be ${bounds}` };
  }
  if (ms < min || ms > max) return { ok: false, error: `check.${name} must be ${bounds}` };
  return { ok: true, value: ms };
}

/**
 * Strict: unknown fields inside `check` are rejected (a misspelt "intervall" must not silently
 * probe with the defaults), and exactly one of `path` and `tcp: true` is given.
 */
export function validateCheck(input: unknown): Decoded<EntryCheck> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return { ok: false, error: 'check must be {"path": "/…"} or {"tcp": true}' };
  const fields = input as Record<string, unknown>;
  const unknown = Object.keys(fields).find((k) => !CHECK_FIELDS.has(k));
  if (unknown !== undefined) return { ok: false, error: `check has an unknown field ${JSON.stringify(unknown)}` };
  const { path, tcp } = fields;
  if ((path === undefined) === (tcp === undefined))
    return { ok: false, error: 'check needs exactly one of "path" and "tcp"' };
  if (tcp !== undefined && tcp !== true) return { ok: false, error: 'check.tcp must be true' };
  if (
    path !== undefined &&
    (typeof path !== 'string' || path.length > CHECK_MAX_PATH_LENGTH || !CHECK_PATH.test(path))
  ) {
    return {
      ok: false,
      error: `check.path must start with / and be at most ${CHECK_MAX_PATH_LENGTH} URL path characters`,
    };
  }
  let intervalMs = CHECK_DEFAULT_INTERVAL_MS;
  if (fields.interval !== undefined) {
    const d = duration(fields.interval, 'interval', CHECK_MIN_INTERVAL_MS, CHECK_MAX_INTERVAL_MS);
    if (!d.ok) return d;
    intervalMs = d.value;
  }
  let timeoutMs = defaultCheckTimeoutMs(intervalMs);
  if (fields.timeout !== undefined) {
    const d = duration(fields.timeout, 'timeout', CHECK_MIN_TIMEOUT_MS, CHECK_MAX_TIMEOUT_MS);
    if (!d.ok) return d;
    if (d.value > intervalMs) return { ok: false, error: 'check.timeout must not exceed check.interval' };
    timeoutMs = d.value;
  }
  const check: EntryCheck =
    typeof path === 'string' ? { type: 'http', path, intervalMs, timeoutMs } : { type: 'tcp', intervalMs, timeoutMs };
  return { ok: true, value: Object.freeze(check) };
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Canonical JSON form: defaults omitted, so equal checks encode to equal bytes. */
export function encodeCheck(check: EntryCheck): Record<string, unknown> {
  const out: Record<string, unknown> = check.type === 'http' ? { path: check.path } : { tcp: true };
  if (check.intervalMs !== CHECK_DEFAULT_INTERVAL_MS) out.interval = formatDuration(check.intervalMs);
  if (check.timeoutMs !== defaultCheckTimeoutMs(check.intervalMs)) out.timeout = formatDuration(check.timeoutMs);
  return out;
}
