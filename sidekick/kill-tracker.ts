// Withdraw at the first `kill`: when Docker reports a terminating signal the container is still
// running (inspect says so) but is going away, so its entries must go now. The decision still
// comes from inspect: a kill only suppresses the run (State.StartedAt) that was current when it
// arrived, so a later start publishes again whatever order stop/die/start events come in.
// The withdrawal itself need not wait for another inspect (Docker can hold it while it stops the
// container): `killed` judges the kill against the run the last inspect saw (its StartedAt and
// STOPSIGNAL), which is all the rule needs. Publishing again always takes a fresh inspect.
import { constants } from 'node:os';
import type { Container } from './container.js';

const TERMINATING = new Set([
  constants.signals.SIGINT,
  constants.signals.SIGQUIT,
  constants.signals.SIGKILL,
  constants.signals.SIGTERM,
]);
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

/** A kill with no signal attribute, or a terminating one, or the container's own stop signal, ends the run. */
function terminates(signal: number | undefined, stopSignal: string): boolean {
  return signal === undefined || TERMINATING.has(signal) || signal === signalNumber(stopSignal);
}

/** A kill at `at` concerns the run that started at `startedAt` (unknown start: assume it does). */
function sameRun(startedAt: string, at: number): boolean {
  const started = Date.parse(startedAt);
  return Number.isNaN(started) || started <= at;
}

export class KillTracker {
  /** Per container: the time of the latest kill of each signal, so a later SIGHUP cannot hide an earlier SIGTERM. */
  private readonly kills = new Map<string, Map<number | undefined, number>>();
  /** Per running container: the run its last inspect saw, to judge a kill without inspecting again. */
  private readonly runs = new Map<string, { readonly startedAt: string; readonly stopSignal: string }>();
  constructor(private readonly now: () => number = Date.now) {}

  /**
   * A `kill` event for a container, with its `signal` attribute and the event's own time: stamping
   * it when we read it would mistake a run started right after the kill for the killed run.
   * Returns true when the kill ends the running run the last inspect saw: its entries can be
   * withdrawn now, from what is already known.
   */
  killed(id: string, signal: string | undefined, at: number = this.now()): boolean {
    const n = signalNumber(signal);
    const bySignal = this.kills.get(id) ?? new Map<number | undefined, number>();
    bySignal.set(n, Math.max(bySignal.get(n) ?? 0, at));
    this.kills.set(id, bySignal);
    const run = this.runs.get(id);
    return (
      run !== undefined &&
      terminates(n, run.stopSignal) &&
      sameRun(run.startedAt, at) &&
      this.now() - at < MAX_SUPPRESS_MS
    );
  }

  /** What an inspect saw: remembered while the container runs, so `killed` can judge its next kill. */
  observed(c: Container): void {
    if (c.running) this.runs.set(c.id, { startedAt: c.startedAt, stopSignal: c.stopSignal });
    else this.runs.delete(c.id);
  }

  /**
   * A full reconcile saw exactly these containers: forget the runs of the others (their removal may
   * have gone unseen while the event stream was down). Kills are kept: losing one could republish a
   * dying run, while losing a run only costs the next kill its shortcut.
   */
  retainRuns(ids: ReadonlySet<string>): void {
    for (const id of this.runs.keys()) if (!ids.has(id)) this.runs.delete(id);
  }

  /** True while the run that was current at a terminating kill is still the container's run. */
  suppresses(c: Container): boolean {
    const bySignal = this.kills.get(c.id);
    if (!bySignal) return false;
    const now = this.now();
    for (const [signal, at] of bySignal) {
      if (terminates(signal, c.stopSignal) && sameRun(c.startedAt, at) && c.running && now - at < MAX_SUPPRESS_MS)
        return true;
    }
    this.kills.delete(c.id); // the run ended or a new one began: the kills no longer say anything
    return false;
  }

  forget(id: string): void {
    this.kills.delete(id);
    this.runs.delete(id);
  }
}
