// Active health checks as the composition root sees them: the verdicts (HealthState) and, in the one
// process per balancer that probes (the single process, or the primary of --workers N), the probe
// loops (HealthProber). A table swap hands over the services it changed; a worker gets the verdicts
// from its primary instead (`follow`). Probing once per balancer keeps the probe rate independent of
// --workers: N workers probing on their own would multiply it and could disagree for an interval.
import { ErrorCode } from '../../../common/errors.js';
import type { Logger } from '../../../common/logger.js';
import type { Backend } from '../../types.js';
import { HealthProber, type HealthTarget, type ProberOptions } from './health-prober.js';
import { HealthState } from './health-state.js';

export interface ActiveChecksOptions {
  /** Probe from this process (true), or only follow verdicts handed to `follow` (a worker). */
  readonly probe: boolean;
  /** The component adds `component: 'health'`. */
  readonly log: Logger;
  /**
   * The unhealthy set changed: called with the whole set (in no order), at most once per event-loop
   * turn however many verdicts flipped in it (the primary tells its workers).
   */
  readonly onChange?: (unhealthy: readonly string[]) => void;
  readonly prober?: ProberOptions;
}

/** What the primary of --workers N sends its workers: after a turn with changes, and to a worker that asks. */
export interface HealthMessage {
  readonly type: 'health';
  readonly unhealthy: readonly string[];
}

export function healthMessage(unhealthy: readonly string[]): HealthMessage {
  return { type: 'health', unhealthy };
}

export function isHealthMessage(msg: unknown): msg is HealthMessage {
  const m = msg as { type?: unknown; unhealthy?: unknown } | undefined;
  return m?.type === 'health' && Array.isArray(m.unhealthy) && m.unhealthy.every((id) => typeof id === 'string');
}

/**
 * What a worker sends its primary as soon as it can take the answer (before it listens): the primary
 * replies with the whole set, so a worker (re)started while backends are unhealthy avoids them from
 * its first request. The reply precedes the answer to the worker's listen on the same IPC channel.
 */
export const HEALTH_SYNC = Object.freeze({ type: 'health-sync' as const });

export function isHealthSyncMessage(msg: unknown): boolean {
  return (msg as { type?: unknown } | undefined)?.type === 'health-sync';
}

/** The probe targets of a service's backends: those whose entry declares a check. */
export function healthTargets(backends: readonly Backend[]): HealthTarget[] {
  const out: HealthTarget[] = [];
  for (const b of backends) {
    const check = b.entry.check;
    if (check === undefined) continue;
    const { timeoutMs } = check;
    out.push({
      id: b.id,
      host: b.entry.host,
      port: b.entry.port,
      intervalMs: check.intervalMs,
      spec: check.type === 'http' ? { type: 'http', path: check.path, timeoutMs } : { type: 'tcp', timeoutMs },
    });
  }
  return out;
}

export class ActiveChecks {
  private readonly state = new HealthState();
  private readonly prober: HealthProber | undefined;
  private readonly onChange: ((unhealthy: readonly string[]) => void) | undefined;
  /** A change waits for the end of this turn: n flips at once cost one message of the set, not n. */
  private pending: NodeJS.Immediate | undefined;

  constructor(opts: ActiveChecksOptions) {
    const log = opts.log.child({ component: 'health' });
    this.onChange = opts.onChange;
    this.prober = !opts.probe
      ? undefined
      : new HealthProber(
          this.state,
          {
            onChange: (id, healthy, reason) => {
              if (healthy) log.info({ backend: id }, 'backend healthy: active check passed');
              else log.warn({ backend: id, reason }, 'backend unhealthy: active check failed, no new requests');
              this.changed();
            },
            onError: (id, err) =>
              log.error({ backend: id, err, code: ErrorCode.healthCheck }, 'active check handler failed'),
          },
          opts.prober,
        );
  }

  /** A table went live with a new view of `service` (`[]`: the service left). */
  serviceChanged(service: string, backends: readonly Backend[]): void {
    const version = this.state.version;
    this.state.track(service, backends);
    this.prober?.syncService(service, healthTargets(backends));
    // A backend that left is forgotten (healthy again, should it return under the same id).
    if (this.state.version !== version) this.changed();
  }

  /** The whole unhealthy set, from the process that probes. */
  follow(unhealthy: Iterable<string>): void {
    this.state.replace(unhealthy);
  }

  isUnhealthy(id: string): boolean {
    return this.state.isUnhealthy(id);
  }

  /** The unhealthy ids, in no order. */
  unhealthy(): string[] {
    return this.state.ids();
  }

  close(): void {
    this.prober?.close();
    if (this.pending !== undefined) clearImmediate(this.pending);
    this.pending = undefined;
  }

  private changed(): void {
    if (this.onChange === undefined || this.pending !== undefined) return;
    // The whole set, not the flips: a receiver that missed one message is right again with the next.
    this.pending = setImmediate(() => {
      this.pending = undefined;
      this.onChange?.(this.state.ids());
    });
  }
}
