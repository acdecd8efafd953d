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
  /** An event handler threw: the loop goes on (its next probe is scheduled all the same). */
  onError?(id: string, err: unknown): void;
}

export interface ProberOptions {
  readonly probe?: (target: ProbeTarget, spec: ProbeSpec, signal: AbortSignal) => Promise<ProbeResult>;
  /** [0, 1), for the interval's jitter; defaults to Math.random. */
  readonly random?: () => number;
  /** Probes in flight at once, per balancer; the rest wait for a slot in the order they fell due. */
  readonly maxInFlight?: number;
}

/**
 * A table with thousands of checked backends must not open thousands of sockets in one turn (nor
 * let a slow subnet's timeouts pile up): 128 probes at once, each within its timeout (2 s by
 * default), still get through 10,000 backends in well under one 10 s default interval when they answer.
 */
export const MAX_PROBES_IN_FLIGHT = 128;

interface Loop {
  readonly target: HealthTarget;
  readonly fingerprint: string;
  /** Aborts the running probe (and so closes its socket) when the loop stops. */
  readonly abort: AbortController;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

const fingerprintOf = (t: HealthTarget): string => `${t.host}|${t.port}|${t.intervalMs}|${JSON.stringify(t.spec)}`;

export class HealthProber {
  /** Loops by service, then by backend id: a table swap re-syncs only the services it changed. */
  private readonly loops = new Map<string, Map<string, Loop>>();
  private readonly probe: (target: ProbeTarget, spec: ProbeSpec, signal: AbortSignal) => Promise<ProbeResult>;
  private readonly random: () => number;
  private readonly maxInFlight: number;
  private inFlight = 0;
  /** Loops whose probe is due while every slot is taken, oldest first (a Set: a stopped loop leaves in O(1)). */
  private readonly waiting = new Set<Loop>();
  private closed = false;

  constructor(
    private readonly state: HealthState,
    private readonly events: ProberEvents = {},
    opts: ProberOptions = {},
  ) {
    this.probe = opts.probe ?? realProbe;
    this.random = opts.random ?? Math.random;
    this.maxInFlight = opts.maxInFlight ?? MAX_PROBES_IN_FLIGHT;
  }

  /**
   * Probes exactly `targets` of `service` from now on: new ones at once (or as soon as a slot is
   * free), changed ones afresh, gone ones forgotten (and healthy again, so an instance that returns
   * under the same id starts fresh).
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
      const next: Loop = { target: t, fingerprint, abort: new AbortController(), timer: undefined, stopped: false };
      loops.set(t.id, next);
      this.due(next);
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
    this.waiting.delete(loop);
    loop.abort.abort();
  }

  /** The loop's probe is due: send it now if a slot is free, else queue it. */
  private due(loop: Loop): void {
    loop.timer = undefined;
    if (loop.stopped) return;
    if (this.inFlight >= this.maxInFlight) {
      this.waiting.add(loop);
      return;
    }
    this.inFlight++;
    this.run(loop).catch((err: unknown) => this.events.onError?.(loop.target.id, err));
  }

  private async run(loop: Loop): Promise<void> {
    const { target } = loop;
    let result: ProbeResult;
    try {
      result = await this.probe(target, target.spec, loop.abort.signal);
    } catch (err) {
      // A probe that throws (a socket option Node refuses) is a failed probe, not a dead loop.
      result = { ok: false, reason: err instanceof Error ? err.message : String(err) };
    } finally {
      this.inFlight--;
      this.next();
    }
    try {
      if (loop.stopped) return;
      this.events.onProbe?.(target.id, result.ok);
      if (this.state.set(target.id, result.ok)) this.events.onChange?.(target.id, result.ok, result.reason);
    } finally {
      // Scheduled whatever the handlers did: a throwing one must not end the checks of this backend.
      // ±10 % jitter so that checks started together do not stay in lockstep.
      if (!loop.stopped) {
        loop.timer = setTimeout(() => this.due(loop), target.intervalMs * (0.9 + 0.2 * this.random()));
        loop.timer.unref();
      }
    }
  }

  /** A slot came free: the loop that has waited longest probes now. */
  private next(): void {
    for (const loop of this.waiting) {
      this.waiting.delete(loop);
      this.due(loop);
      return;
    }
  }
}
