// HTTP/2 load with h2load (Debian nghttp2-client): C connections × M concurrent streams each, for a
// duration. h2load prints no percentiles, so each request's duration comes from its --log-file
// (tab-separated: start µs since epoch, status, µs to the end of the response) and p50/p90/p99 are
// computed from it. Same result shape as wrk's, so the rows and medians are shared.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { WrkResult } from './components.js';
import { runCommand } from './procs.js';
import { quantile } from './util.js';

export interface H2loadOptions {
  readonly clients: number;
  readonly streams: number;
  /** Where the per-request log goes (removed after parsing). */
  readonly workDir: string;
}

let seq = 0;

export function parseH2load(out: string, log: string): WrkResult {
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 'NaN');
  const durations: number[] = [];
  let non2xx = 0;
  for (const line of log.split('\n')) {
    const [, status, us] = line.split('\t');
    if (us === undefined) continue;
    if (!/^2\d\d$/.test(status ?? '')) non2xx++;
    durations.push(Number(us) / 1000);
  }
  return {
    rps: num(/finished in [\d.]+\w*, ([\d.]+) req\/s/),
    requests: num(/requests: \d+ total, \d+ started, (\d+) done/),
    p50: quantile(durations, 0.5),
    p90: quantile(durations, 0.9),
    p99: quantile(durations, 0.99),
    // failed = transport errors; errored and timeout are counted within or beside it by h2load
    errors: num(/(\d+) errored/) + num(/(\d+) timeout/),
    non2xx,
  };
}

export async function h2load(url: string, seconds: number, o: H2loadOptions): Promise<WrkResult> {
  const logFile = join(o.workDir, `h2load-${process.pid}-${++seq}.tsv`);
  const args = ['-t1', `-c${o.clients}`, `-m${o.streams}`, '-D', String(seconds), '--log-file', logFile, url];
  try {
    const r = await runCommand('h2load', args, (seconds + 30) * 1000);
    if (r.code !== 0) throw new Error(`h2load ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    const res = parseH2load(r.stdout, readFileSync(logFile, 'utf8'));
    if (!Number.isFinite(res.rps) || !Number.isFinite(res.requests))
      throw new Error(`cannot parse h2load output: ${r.stdout}`);
    if (!/^Application protocol: h2$/m.test(r.stdout)) throw new Error(`h2load did not negotiate h2: ${r.stdout}`);
    return res;
  } finally {
    rmSync(logFile, { force: true });
  }
}
