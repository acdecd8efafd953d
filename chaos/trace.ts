// Failure evidence for a scenario: a timeline of the scenario's own events, and for each failed
// request its timing against them, whether the client reused a keep-alive socket, and the
// balancer's log lines around it (run the balancer with CHAOS_LOG_LEVEL=debug for the proxy's).
// Written to $CHAOS_TRACE_DIR/<scenario>-<time>.json when that is set; summarised in the row note.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Failure, LoadResult } from '../test/helpers/load.js';

export class Timeline {
  private readonly events: Array<{ at: number; what: string }> = [];

  mark(what: string): void {
    this.events.push({ at: Date.now(), what });
  }

  /** `what` relative to the nearest earlier event, e.g. "+212 ms after stop names[1] begun". */
  place(at: number): string {
    let prev: { at: number; what: string } | undefined;
    for (const e of this.events) if (e.at <= at) prev = e;
    return prev === undefined ? 'before the first event' : `+${at - prev.at} ms after "${prev.what}"`;
  }

  list(): ReadonlyArray<{ at: number; what: string }> {
    return this.events;
  }
}

type LogLine = Record<string, unknown>;

/** The failure as one line: status/code, reuse, headers, timing. */
export function describeFailure(f: Failure, tl: Timeline): string {
  const took = f.at !== undefined && f.startedAt !== undefined ? `${f.at - f.startedAt} ms` : '?';
  const code = f.code ? ` (${f.code})` : '';
  const place = f.at === undefined ? '' : tl.place(f.at);
  return `${String(f.status)}${code} reused=${String(f.reused)} headers=${String(f.gotHeaders)} took ${took}, ${place}`;
}

/** Balancer log lines within `windowMs` of the failure (proxy and watch lines; not the per-request noise). */
export function logsAround(logs: readonly LogLine[], f: Failure, windowMs = 300): LogLine[] {
  if (f.at === undefined) return [];
  const from = (f.startedAt ?? f.at) - windowMs;
  const to = f.at + windowMs;
  return logs.filter((l) => {
    const t = typeof l.time === 'number' ? l.time : Date.parse(String(l.time));
    return t >= from && t <= to;
  });
}

/**
 * Writes the evidence file (if CHAOS_TRACE_DIR is set; passing runs too, with the proxy's failed
 * upstream attempts placed on the timeline, to show how close a run came to a client failure) and
 * returns a short note on the client failures for the row.
 */
export function traceFailures(
  scenario: string,
  result: LoadResult,
  tl: Timeline,
  balancerLogs: readonly LogLine[],
): string {
  const details = result.failures
    .slice(0, 20)
    .map((f) => ({ failure: f, summary: describeFailure(f, tl), balancer: logsAround(balancerLogs, f) }));
  const dir = process.env.CHAOS_TRACE_DIR;
  if (dir) {
    const attempts = balancerLogs
      .filter((l) => l.msg === 'upstream attempt failed')
      .map((l) => {
        const at = tl.place(Date.parse(String(l.time)));
        return `${at}: ${String(l.backend)} ${String(l.reason)} reused=${String(l.reused)}`;
      });
    mkdirSync(dir, { recursive: true });
    const file = join(
      dir,
      `${scenario.replace(/\W+/g, '-')}-${result.failures.length > 0 ? 'FAIL' : 'pass'}-${Date.now()}.json`,
    );
    writeFileSync(
      file,
      JSON.stringify(
        { timeline: tl.list(), sent: result.sent, failures: details, upstreamAttemptsFailed: attempts },
        null,
        1,
      ),
    );
  }
  return details
    .slice(0, 3)
    .map((d) => d.summary)
    .join(' | ');
}
