// Issue 13's access-log cost: balancer --workers 1 with `--access-log <file>` (JSON lines) against the
// same without, both in front of the fast static backend, interleaved. Target: at most 10 % fewer req/s.
// The file's line count is checked against the requests served, so a log that silently dropped lines
// cannot look cheap.
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { startBenchBalancer, wrk, type BalancerProc } from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { interleave, pairRounds, ratioRow, variantRow, type Interleaved } from '../lib/interleave.js';
import { startNginxStatic } from '../lib/peers.js';
import { log, sleep } from '../lib/util.js';

const S = '1 access log';
const TAG = 'al';

export interface AccessLogRaw extends Interleaved {
  readonly file: string;
  readonly fileBytes: number;
  readonly lines: number;
  /** Requests wrk completed on the logging balancer (warm-up included): each must have its line. */
  readonly requests: number;
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  }
  return n;
}

export async function accessLog(ctx: Context): Promise<AccessLogRaw> {
  const backend = await startNginxStatic(ctx.work, 'nginx-static-al');
  const file = join(ctx.work, 'access.log');
  const started: BalancerProc[] = [];
  try {
    const plain = await startBenchBalancer(ctx.etcd, TAG, backend.port);
    started.push(plain);
    const logging = await startBenchBalancer(ctx.etcd, `${TAG}-log`, backend.port, { extra: ['--access-log', file] });
    started.push(logging);
    let requests = 0;
    const raw = await interleave(
      'access log',
      [
        { name: 'balancer-w1', pid: plain.proc.pid, run: (s) => wrk(`${plain.url}/`, s, 32) },
        {
          name: 'balancer-w1 --access-log',
          pid: logging.proc.pid,
          run: async (s) => {
            const r = await wrk(`${logging.url}/`, s, 32);
            requests += r.requests;
            return r;
          },
        },
      ],
      pairRounds(ctx.params.rounds),
      ctx.params.seconds,
    );
    // Lines are flushed at most a second late (README, Access log).
    await sleep(1500);
    const lines = await countLines(file);
    const fileBytes = statSync(file).size;
    log(`access log: ${lines} lines for ${requests} requests, ${(fileBytes / 2 ** 20).toFixed(0)} MiB`);
    const off = raw.medians['balancer-w1'];
    const on = raw.medians['balancer-w1 --access-log'];
    if (off) ctx.rows.push(variantRow(S, 'balancer-w1, no access log', off));
    if (on) {
      const bytesPerLine = lines > 0 ? `, ${Math.round(fileBytes / lines)} B/line` : '';
      ctx.rows.push(
        variantRow(
          S,
          'balancer-w1 --access-log <file>',
          on,
          `; ${lines} lines for ${requests} requests${bytesPerLine}`,
        ),
      );
    }
    const ratio = ratioRow(
      S,
      'access log on/off req/s (≤ 10 % fewer)',
      raw,
      'balancer-w1 --access-log',
      'balancer-w1',
      {
        min: 0.9,
        goal: 'issue 13',
      },
    );
    if (ratio)
      ctx.rows.push(lines >= requests ? ratio : { ...ratio, pass: false, note: `${ratio.note}, lines missing` });
    return { ...raw, file, fileBytes, lines, requests };
  } finally {
    await Promise.all([...started.map((b) => b.proc.stop()), backend.proc.stop()]);
  }
}
