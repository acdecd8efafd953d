// Requests in flight per backend id: read by the least-request picker (`get`), by graceful shutdown
// (`total`, `whenIdle`) and by metrics. The proxy increments at dispatch and decrements exactly once
// when that attempt ends, so the counts cannot drift.

export class Inflight {
  private readonly counts = new Map<string, number>();
  private sum = 0;
  private waiters: Array<() => void> = [];
  private checkQueued = false;

  constructor() {
    // Bound once: the picker calls this for every candidate of every request.
    this.get = this.get.bind(this);
  }

  get(id: string): number {
    return this.counts.get(id) ?? 0;
  }

  total(): number {
    return this.sum;
  }

  /** Non-zero counts by backend id (for the workers' reports to the primary). */
  entries(): Array<[string, number]> {
    return [...this.counts];
  }

  inc(id: string): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    this.sum++;
  }

  dec(id: string): void {
    const n = this.counts.get(id);
    if (n === undefined) return; // never below zero, even on a caller bug
    if (n <= 1) this.counts.delete(id);
    else this.counts.set(id, n - 1);
    this.sum--;
    if (this.sum === 0 && this.waiters.length > 0 && !this.checkQueued) {
      // Re-check after the current call stack: a retry decrements one backend and increments the
      // next in the same tick, and must not look like "idle" in between.
      this.checkQueued = true;
      queueMicrotask(() => this.wakeIfIdle());
    }
  }

  /** Resolves true once nothing is in flight, or false after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.sum === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
    });
  }

  private wakeIfIdle(): void {
    this.checkQueued = false;
    if (this.sum !== 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
