// Capped exponential backoff with full jitter, plus a retry-forever loop that never throws.

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly random?: () => number;
}

export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions) {}

  /** Next delay: grows ×2 per failure up to maxMs, jittered into [cap/2, cap]. */
  next(): number {
    const cap = Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const r = (this.opts.random ?? Math.random)();
    return Math.round(cap / 2 + (cap / 2) * r);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Resolves after ms, or early (without error) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds or the signal aborts, sleeping with backoff between failures.
 * Returns undefined only when aborted. `onError` sees each failure (for logs and metrics).
 */
export async function retryForever<T>(
  fn: () => Promise<T>,
  opts: BackoffOptions & { signal: AbortSignal; onError: (err: unknown, attempt: number, delayMs: number) => void },
): Promise<T | undefined> {
  const backoff = new Backoff(opts);
  for (let attempt = 1; !opts.signal.aborted; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (opts.signal.aborted) return undefined;
      const delay = backoff.next();
      opts.onError(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
  return undefined;
}
