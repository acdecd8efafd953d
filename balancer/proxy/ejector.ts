// Passive health: a backend that refused or dropped a connection is ejected for a cooldown, so the
// picker skips it (`isEjected`) until the entry expires. node-cache holds the expiry (stdTTL =
// cooldown seconds) and checks it on every read, so an expired ejection never lingers.
import NodeCache from 'node-cache';

export interface EjectorOptions {
  /** How long an ejected backend is skipped. Default 10 000 ms. */
  readonly cooldownMs?: number;
}

export const DEFAULT_EJECT_COOLDOWN_MS = 10_000;

export class Ejector {
  readonly cooldownMs: number;
  private readonly cache: NodeCache;

  constructor(opts: EjectorOptions = {}) {
    const cooldownMs = opts.cooldownMs ?? DEFAULT_EJECT_COOLDOWN_MS;
    if (!(cooldownMs > 0)) throw new Error(`eject cooldown must be > 0 ms, got ${cooldownMs}`);
    this.cooldownMs = cooldownMs;
    // Reads check expiry themselves; the periodic sweep only frees memory of expired ejections.
    this.cache = new NodeCache({
      stdTTL: cooldownMs / 1000,
      checkperiod: Math.max(1, Math.ceil(cooldownMs / 1000)),
      useClones: false,
    });
    // Bound once: the picker calls this for every candidate of every request.
    this.isEjected = this.isEjected.bind(this);
  }

  /** Ejects `id` for the cooldown; returns false (and keeps the running cooldown) if already ejected. */
  eject(id: string): boolean {
    if (this.cache.has(id)) return false;
    this.cache.set(id, Date.now());
    return true;
  }

  isEjected(id: string): boolean {
    return this.cache.has(id);
  }

  /** Ids currently ejected (expired entries excluded), sorted. */
  ejected(): string[] {
    return this.cache
      .keys()
      .filter((k) => this.cache.has(k))
      .sort();
  }

  /** Forgets an ejection early: the backend left the table, or an operator cleared it. */
  restore(id: string): void {
    this.cache.del(id);
  }

  close(): void {
    this.cache.flushAll();
    this.cache.close();
  }
}

/**
 * How an upstream error counts against the backend. `connect`: it could not be reached at all
 * (nothing was sent; safe to retry any request). `reset`: the connection broke before a response
 * (nothing received; retry only if no request body was sent). `other`: not the backend's fault, or
 * not safely retryable.
 */
export type FailureKind = 'connect' | 'reset' | 'other';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ETIMEDOUT',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
// Node reports "socket hang up" (closed before any response byte) with code ECONNRESET.
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export function failureKind(err: unknown): FailureKind {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return 'other';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (RESET_CODES.has(code)) return 'reset';
  return 'other';
}

/** A short reason for error bodies and logs: the errno code, else the message. */
export function failureReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.message === 'string' && e.message !== '' ? e.message.slice(0, 100) : 'upstream error';
}
