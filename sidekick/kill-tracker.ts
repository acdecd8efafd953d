// Withdraw at the first `kill`: when Docker reports a terminating signal the container is still
// running (inspect says so) but is going away, so its entries must go now. The decision still
// comes from inspect: a kill only suppresses the run (State.StartedAt) that was current when it
// arrived, so a later start publishes again whatever order stop/die/start events come in.
import { constants } from 'node:os';
import type { Container } from './container.js';

const TERMINATING = new Set([constants.signals.SIGINT, constants.signals.SIGQUIT, constants.signals.SIGKILL, constants.signals.SIGTERM]);
/** A container that ignores its stop signal is killed by Docker after the stop timeout; cap the wait. */
const MAX_SUPPRESS_MS = 5 * 60_000;

export function signalNumber(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (/^\d+$/.test(raw)) return Number(raw);
  const name = (raw.toUpperCase().startsWith('SIG') ? raw.toUpperCase() : `SIG${raw.toUpperCase()}`) as keyof typeof constants.signals;
  return constants.signals[name];
}

export class KillTracker {
  private readonly kills = new Map<string, { at: number; signal: number | undefined }>();
  constructor(private readonly now: () => number = Date.now) {}

  /** A `kill` event for a container, with its `signal` attribute. */
  killed(id: string, signal: string | undefined): void {
    this.kills.set(id, { at: this.now(), signal: signalNumber(signal) });
  }

  /** True while the run that was current at the kill is still the container's run. */
  suppresses(c: Container): boolean {
    const k = this.kills.get(c.id);
    if (!k) return false;
    const terminating = k.signal === undefined || TERMINATING.has(k.signal) || k.signal === signalNumber(c.stopSignal);
    const started = Date.parse(c.startedAt);
    const sameRun = Number.isNaN(started) || started <= k.at;
    if (terminating && sameRun && c.running && this.now() - k.at < MAX_SUPPRESS_MS) return true;
    this.kills.delete(c.id); // the run ended or a new one began: the kill no longer says anything
    return false;
  }

  forget(id: string): void {
    this.kills.delete(id);
  }
}
