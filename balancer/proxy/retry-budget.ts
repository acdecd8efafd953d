// A retry budget over a sliding window: retries may not exceed `ratio` of the requests seen in the
// window, but at least `minRetriesPerSecond × window` retries are always allowed so that a quiet
// balancer still retries a refused connection. Same idea as Finagle's RetryBudget (20 %, 10 s,
// a small floor), which is what stops a dead backend pool from turning into a retry storm (vulcand #57).
//
// The window is a ring of `buckets` fixed slots; stale slots are zeroed lazily. O(buckets) per call,
// no timers, clock injected for tests.

export interface RetryBudgetOptions {
  /** Fraction of requests that may be retried. Default 0.2. */
  readonly ratio?: number;
  /** Sliding window length. Default 10 000 ms. */
  readonly windowMs?: number;
  /** Floor, so low traffic still retries. Default 3 per second (30 per 10 s window). */
  readonly minRetriesPerSecond?: number;
  /** Window resolution. Default 10 slots. */
  readonly buckets?: number;
  readonly now?: () => number;
}

export const DEFAULT_RETRY_BUDGET = Object.freeze({
  ratio: 0.2,
  windowMs: 10_000,
  minRetriesPerSecond: 3,
  buckets: 10,
});

export class RetryBudget {
  readonly ratio: number;
  readonly windowMs: number;
  readonly minRetries: number;
  private readonly bucketMs: number;
  private readonly now: () => number;
  private readonly requests: Float64Array;
  private readonly retries: Float64Array;
  /** The absolute slot number each ring slot currently holds; -1 = empty. */
  private readonly epochs: Float64Array;

  constructor(opts: RetryBudgetOptions = {}) {
    const { ratio, windowMs, minRetriesPerSecond, buckets } = { ...DEFAULT_RETRY_BUDGET, ...opts };
    if (!(ratio >= 0 && ratio <= 1)) throw new Error(`retry budget ratio must be within 0..1, got ${ratio}`);
    if (!(windowMs > 0)) throw new Error(`retry budget window must be > 0 ms, got ${windowMs}`);
    if (!(minRetriesPerSecond >= 0)) throw new Error(`retry budget floor must be >= 0, got ${minRetriesPerSecond}`);
    if (!(Number.isInteger(buckets) && buckets >= 1 && buckets <= 1000))
      throw new Error(`retry budget buckets must be an integer 1..1000, got ${buckets}`);
    this.ratio = ratio;
    this.windowMs = windowMs;
    this.minRetries = (minRetriesPerSecond * windowMs) / 1000;
    this.bucketMs = windowMs / buckets;
    this.now = opts.now ?? Date.now;
    this.requests = new Float64Array(buckets);
    this.retries = new Float64Array(buckets);
    this.epochs = new Float64Array(buckets).fill(-1);
  }

  /** Counts one client request (not attempts). Call once per request, before any retry. */
  recordRequest(): void {
    this.requests[this.slot()]! += 1;
  }

  /** Consumes one retry if the budget allows it; false means "do not retry". */
  tryRetry(): boolean {
    const slot = this.slot();
    if (this.allowance() < 1) return false;
    this.retries[slot]! += 1;
    return true;
  }

  /** Retries still allowed right now (may be fractional). */
  allowance(): number {
    const { requests, retries } = this.totals();
    return Math.max(this.minRetries, this.ratio * requests) - retries;
  }

  /** Requests and retries inside the current window. */
  totals(): { requests: number; retries: number } {
    const current = Math.floor(this.now() / this.bucketMs);
    const oldest = current - this.epochs.length + 1;
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < this.epochs.length; i++) {
      const e = this.epochs[i]!;
      if (e >= oldest && e <= current) {
        requests += this.requests[i]!;
        retries += this.retries[i]!;
      }
    }
    return { requests, retries };
  }

  private slot(): number {
    const abs = Math.floor(this.now() / this.bucketMs);
    const n = this.epochs.length;
    const i = ((abs % n) + n) % n;
    if (this.epochs[i] !== abs) {
      this.epochs[i] = abs;
      this.requests[i] = 0;
      this.retries[i] = 0;
    }
    return i;
  }
}

/**
 * One budget per service, so a dead service spends only its own retries, never those of the
 * healthy ones. A budget is created on a service's first request and dropped when it leaves.
 */
export class RetryBudgets {
  private readonly byService = new Map<string, RetryBudget>();

  constructor(private readonly opts: RetryBudgetOptions = {}) {}

  for(service: string): RetryBudget {
    let b = this.byService.get(service);
    if (b === undefined) this.byService.set(service, (b = new RetryBudget(this.opts)));
    return b;
  }

  forget(services: Iterable<string>): void {
    for (const s of services) this.byService.delete(s);
  }

  size(): number {
    return this.byService.size;
  }
}
