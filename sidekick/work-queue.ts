// Serialises reconciles: one container's reconcile never overlaps another of the same container,
// repeated hints for a busy container coalesce into one more run, and a full reconcile runs alone
// (it reads and writes everything). Failures are the task's business (it logs and retries); a
// rejection is swallowed here only so that it can never become an unhandled rejection.

export interface WorkQueueOptions {
  readonly reconcileOne: (id: string) => Promise<void>;
  readonly reconcileAll: () => Promise<void>;
  /** Container reconciles that may run at once (different containers). */
  readonly concurrency: number;
}

export class WorkQueue {
  private readonly dirty = new Set<string>();
  private readonly running = new Set<string>();
  private fullWanted = false;
  private fullRunning = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: WorkQueueOptions) {}

  /** A hint that this container may have changed. */
  mark(id: string): void {
    if (this.stopped) return;
    this.dirty.add(id);
    this.pump();
  }

  /** Ask for a full reconcile (start, reconnects, lease loss, timer). */
  markAll(): void {
    if (this.stopped) return;
    this.fullWanted = true;
    this.pump();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work; resolves when running work has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.dirty.clear();
    this.fullWanted = false;
    await this.idle();
  }

  private isIdle(): boolean {
    return this.running.size === 0 && !this.fullRunning && this.dirty.size === 0 && !this.fullWanted;
  }

  private pump(): void {
    if (this.fullRunning) return;
    if (this.fullWanted) {
      if (this.running.size > 0) return; // wait for running container reconciles to drain
      this.fullWanted = false;
      this.fullRunning = true;
      // Hints older than the full reconcile are covered by it: it reads every container fresh.
      this.dirty.clear();
      void this.opts
        .reconcileAll()
        .catch(() => undefined)
        .finally(() => {
          this.fullRunning = false;
          this.after();
        });
      return;
    }
    for (const id of this.dirty) {
      if (this.running.size >= this.opts.concurrency) break;
      if (this.running.has(id)) continue; // coalesced: runs again after the current one
      this.dirty.delete(id);
      this.running.add(id);
      void this.opts
        .reconcileOne(id)
        .catch(() => undefined)
        .finally(() => {
          this.running.delete(id);
          this.after();
        });
    }
  }

  private after(): void {
    if (!this.stopped) this.pump();
    if (this.isIdle() || (this.stopped && this.running.size === 0 && !this.fullRunning)) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
