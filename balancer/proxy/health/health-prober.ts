// Active health checks: one probe loop per backend that declares a check, started and stopped as the
// table changes. A failed probe marks the backend unhealthy (no new requests) until one passes. One
// prober per balancer: the single process, or the primary of --workers N (see primary.ts).
import type { HealthState } from './health-state.js';
import { probe as realProbe, type ProbeResult, type ProbeSpec, type ProbeTarget } from './probe.js';

export interface HealthTarget extends ProbeTarget {
  /** Backend id. */
  readonly id: string;
  readonly spec: ProbeSpec;
  readonly intervalMs: number;
}

export interface ProberEvents {
  /** A backend's verdict flipped (not called for the first passing probe of a new backend, nor when one leaves). */
  onChange?(id: string, healthy: boolean, reason: string): void;
  onProbe?(id: string, ok: boolean): void;
}

export interface ProberOptions {
  readonly probe?: (target: ProbeTarget, spec: ProbeSpec) => Promise<ProbeResult>;
  /** [0, 1), for the interval's jitter; defaults to Math.random. */
  readonly random?: () => number;
}

interface Loop {
  readonly target: HealthTarget;
  readonly fingerprint: string;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

const fingerprintOf = (t: HealthTarget): string => `${t.host}|${t.port}|${t.intervalMs}|${JSON.stringify(t.spec)}`;

export class HealthProber {
  /** Loops by service, then by backend id: a table swap re-syncs only the services it changed. */
  private readonly loops = new Map<string, Map<string, Loop>>();
  private readonly probe: (target: ProbeTarget, spec: ProbeSpec) => Promise<ProbeResult>;
  private readonly random: () => number;
  private closed = false;

  constructor(
    private readonly state: HealthState,
    private readonly events: ProberEvents = {},
    opts: ProberOptions = {},
  ) {
    this.probe = opts.probe ?? realProbe;
    this.random = opts.random ?? Math.random;
  }

  /**
   * Probes exactly `targets` of `service` from now on: new ones at once, changed ones afresh, gone
   * ones forgotten (and healthy again, so an instance that returns under the same id starts fresh).
   */
  syncService(service: string, targets: readonly HealthTarget[]): void {
    if (this.closed) return;
    const loops = this.loops.get(service) ?? new Map<string, Loop>();
    const seen = new Set<string>();
    for (const t of targets) {
      seen.add(t.id);
      const fingerprint = fingerprintOf(t);
      const loop = loops.get(t.id);
      if (loop?.fingerprint === fingerprint) continue;
      if (loop !== undefined) this.stop(loop);
      const next: Loop = { target: t, fingerprint, timer: undefined, stopped: false };
      loops.set(t.id, next);
      void this.run(next);
    }
    for (const [id, loop] of loops) {
      if (seen.has(id)) continue;
      this.stop(loop);
      loops.delete(id);
      this.state.set(id, true);
    }
    if (loops.size === 0) this.loops.delete(service);
    else this.loops.set(service, loops);
  }

  /** Backends being probed now. */
  size(): number {
    let n = 0;
    for (const loops of this.loops.values()) n += loops.size;
    return n;
  }

  close(): void {
    this.closed = true;
    for (const loops of this.loops.values()) for (const loop of loops.values()) this.stop(loop);
    this.loops.clear();
  }

  private stop(loop: Loop): void {
    loop.stopped = true;
    if (loop.timer !== undefined) clearTimeout(loop.timer);
  }

  private async run(loop: Loop): Promise<void> {
    const { target } = loop;
    // A probe that throws (a socket option Node refuses) is a failed probe, not a dead loop.
    const result = await this.probe(target, target.spec).catch((err: unknown): ProbeResult => ({
      ok: false,
      reason: (err as Error).message ?? String(err),
    }));
    if (loop.stopped) return;
    this.events.onProbe?.(target.id, result.ok);
    if (this.state.set(target.id, result.ok)) this.events.onChange?.(target.id, result.ok, result.reason);
    // ±10 % jitter so that checks started together do not stay in lockstep.
    const delay = target.intervalMs * (0.9 + 0.2 * this.random());
    loop.timer = setTimeout(() => void this.run(loop), delay);
    loop.timer.unref();
  }
}
