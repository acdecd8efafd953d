// Withdraw at the first `kill`: when Docker reports a terminating signal the container is still
// running (inspect says so) but is going away, so its entries must go now. The decision still
// comes from inspect: a kill only suppresses the run (State.StartedAt) that was current when it
// arrived, so a later start publishes again whatever order stop/die/start events come in.
import { constants } from 'node:os';
import type { Container } from './container.js';

const TERMINATING = new Set([constants.signals.SIGINT, constants.signals.SIGQUIT, constants.signals.SIGKILL, constants.signals.SIGTERM]);
/** A container that ignores its stop signal is killed by Docker after the stop timeout; cap the wait. */
const MAX_SUPPRESS_MS = 5 * 60_000;

// Docker's Linux signal table numbers the real-time signals RTMIN = 34 … RTMAX = 64 (systemd images
// stop with SIGRTMIN+3); Node's constants do not list them.
const SIGRTMIN = 34;
const SIGRTMAX = 64;

export function signalNumber(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (/^\d+$/.test(raw)) return Number(raw);
  const upper = raw.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const offset = rt[2] === undefined ? 0 : (rt[2] === '+' ? 1 : -1) * Number(rt[3]);
    const n = (rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX) + offset;
    return n >= SIGRTMIN && n <= SIGRTMAX ? n : undefined;
  }
  return constants.signals[name as keyof typeof constants.signals];
}

export class KillTracker {
  /** Per container: the time of the latest kill of each signal, so a later SIGHUP cannot hide an earlier SIGTERM. */
  private readonly kills = new Map<string, Map<number | undefined, number>>();
  constructor(private readonly now: () => number = Date.now) {}

  /**
   * A `kill` event for a container, with its `signal` attribute and the event's own time: stamping
   * it when we read it would mistake a run started right after the kill for the killed run.
   */
  killed(id: string, signal: string | undefined, at: number = this.now()): void {
    const bySignal = this.kills.get(id) ?? new Map<number | undefined, number>();
    bySignal.set(signalNumber(signal), Math.max(bySignal.get(signalNumber(signal)) ?? 0, at));
    this.kills.set(id, bySignal);
  }

  /** True while the run that was current at a terminating kill is still the container's run. */
  suppresses(c: Container): boolean {
    const bySignal = this.kills.get(c.id);
    if (!bySignal) return false;
    const stopSignal = signalNumber(c.stopSignal);
    const started = Date.parse(c.startedAt);
    const now = this.now();
    for (const [signal, at] of bySignal) {
      const terminating = signal === undefined || TERMINATING.has(signal) || signal === stopSignal;
      const sameRun = Number.isNaN(started) || started <= at;
      if (terminating && sameRun && c.running && now - at < MAX_SUPPRESS_MS) return true;
    }
    this.kills.delete(c.id); // the run ended or a new one began: the kills no longer say anything
    return false;
  }

  forget(id: string): void {
    this.kills.delete(id);
  }
}
