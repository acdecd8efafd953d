// What each worker of --workers N reports to the primary about its proxy (every second, over IPC),
// and the primary's merge of those reports for /api/table and the dashboard: a backend counts as
// ejected while any worker has it ejected (that worker's traffic avoids it), in-flight counts add up.
// Certificates: every worker loads the same files and watches the same etcd prefix; the newest report
// is shown.
import type { CertSummary } from './admin.js';

/** One worker's proxy state; plain arrays so it crosses process.send as JSON. */
export interface WorkerProxyState {
  readonly ejected: readonly string[];
  readonly inflight: ReadonlyArray<readonly [string, number]>;
  /** Responses this worker has sent since it started. */
  readonly served: number;
  /** What its TLS listener serves (absent without --tls-listen). */
  readonly certificates?: readonly CertSummary[];
}

/** How often a worker reports. */
export const WORKER_STATE_INTERVAL_MS = 1000;

export function isWorkerStateMessage(msg: unknown): msg is { type: 'state'; state: WorkerProxyState } {
  const m = msg as { type?: unknown; state?: { ejected?: unknown; inflight?: unknown } } | undefined;
  return m?.type === 'state' && Array.isArray(m.state?.ejected) && Array.isArray(m.state?.inflight);
}

export class WorkerStates {
  private readonly byWorker = new Map<
    number,
    { ejected: ReadonlySet<string>; inflight: Map<string, number>; served: number }
  >();
  private latestCertificates: readonly CertSummary[] = [];

  update(worker: number, state: WorkerProxyState): void {
    const served = typeof state.served === 'number' ? state.served : 0;
    this.byWorker.set(worker, { ejected: new Set(state.ejected), inflight: new Map(state.inflight), served });
    if (Array.isArray(state.certificates)) this.latestCertificates = state.certificates;
  }

  certificates(): readonly CertSummary[] {
    return this.latestCertificates;
  }

  /** Responses served per live worker, for /readyz. */
  served(): Array<{ worker: number; served: number }> {
    return [...this.byWorker].map(([worker, s]) => ({ worker, served: s.served }));
  }

  /** The worker exited: its report no longer holds. */
  drop(worker: number): void {
    this.byWorker.delete(worker);
  }

  isEjected(id: string): boolean {
    for (const w of this.byWorker.values()) if (w.ejected.has(id)) return true;
    return false;
  }

  inflight(id: string): number {
    let n = 0;
    for (const w of this.byWorker.values()) n += w.inflight.get(id) ?? 0;
    return n;
  }

  inflightTotal(): number {
    let n = 0;
    for (const w of this.byWorker.values()) for (const v of w.inflight.values()) n += v;
    return n;
  }
}
