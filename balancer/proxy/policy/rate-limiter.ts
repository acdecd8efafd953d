// `rateLimit`: a token bucket per client address, per route and per process. With `--workers N`
// each worker keeps its own buckets (nothing is shared over IPC on the hot path), so a client whose
// connections land on several workers can get up to N times the limit; one keep-alive connection
// stays on one worker. Memory is bounded: at most `maxKeys` buckets, least recently used dropped
// first, and buckets that have refilled (indistinguishable from a new one) are dropped as we go.
import type { RateLimitRule } from '../../../common/route-policy.js';
import { formatIp, parseIp } from '../../../common/cidr.js';

export interface RateLimiterOptions {
  /** Milliseconds on a monotonic clock; default performance.now. */
  readonly now?: () => number;
  /** Most buckets kept; default DEFAULT_MAX_KEYS. */
  readonly maxKeys?: number;
}

export const DEFAULT_MAX_KEYS = 10_000;
/** Refilled buckets examined (and dropped) per call: amortised cleanup without a timer. */
const SWEEP_PER_CALL = 2;
/** Float noise allowance: 1.0000000002 s must not add a whole second, 0.9999999999 tokens is one. */
const EPSILON = 1e-9;

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
}

const MASK_64 = ~((1n << 64n) - 1n) & ((1n << 128n) - 1n);

/**
 * The bucket key of a client address: IPv4 as is (an IPv4-mapped IPv6 address counts as its IPv4
 * address), IPv6 by its /64, the smallest block a single site is normally given; keying by the full
 * address would let one client rotate through 2^64 addresses, each with a fresh bucket.
 */
export function clientKey(address: string): string {
  if (!address.includes(':')) return address;
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  const ip = parseIp(address);
  if (ip === undefined) return address;
  return ip.family === 4 ? formatIp(4, ip.value) : `${formatIp(6, ip.value & MASK_64)}/64`;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Tokens per millisecond. */
  private readonly rate: number;
  private readonly burst: number;
  private readonly msPerToken: number;
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(rule: RateLimitRule, opts: RateLimiterOptions = {}) {
    this.rate = rule.average / rule.periodMs;
    this.burst = rule.burst;
    this.msPerToken = rule.periodMs / rule.average;
    this.now = opts.now ?? (() => performance.now());
    this.maxKeys = Math.max(1, opts.maxKeys ?? DEFAULT_MAX_KEYS);
  }

  /** Buckets held now. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes one token for `key` (see clientKey). 0 when the request may go on; otherwise the
   * Retry-After in whole seconds (rounded up, at least 1) until a token is there. A refused request
   * takes nothing.
   */
  take(key: string): number {
    const now = this.now();
    this.sweep(now);
    const buckets = this.buckets;
    const b = buckets.get(key);
    if (b === undefined) {
      if (buckets.size >= this.maxKeys) {
        const oldest = buckets.keys().next();
        if (oldest.done !== true) buckets.delete(oldest.value);
      }
      buckets.set(key, { tokens: this.burst - 1, at: now });
      return 0;
    }
    // Move to the back: the Map's order is least recently used first.
    buckets.delete(key);
    buckets.set(key, b);
    const tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.rate);
    // A refusal leaves the bucket as it was: the refill is always computed from the last take, so
    // many small refusal intervals do not accumulate float error (0.1 × 10 < 1).
    if (tokens < 1 - EPSILON) return Math.max(1, Math.ceil(((1 - tokens) * this.msPerToken) / 1000 - EPSILON));
    b.tokens = Math.max(0, tokens - 1);
    b.at = now;
    return 0;
  }

  /** Drops least recently used buckets that have refilled by now. */
  private sweep(now: number): void {
    let n = 0;
    for (const [key, b] of this.buckets) {
      if (n++ >= SWEEP_PER_CALL || b.tokens + (now - b.at) * this.rate < this.burst) return;
      this.buckets.delete(key);
    }
  }
}
