// Issue 14's held load: 10,000 idle keep-alive client connections and 1,000 open WebSockets held at
// once against one balancer (--workers 1, in front of the node:http backend, which echoes WebSockets).
// The client (bench/held-load.ts, its own process) opens them in phases; between phases the balancer's
// RSS and open descriptors are read from /proc. After the hold every connection sends one more request
// and every WebSocket one echoed message: 0 errors means all 11,000 were held open and still worked.
// RSS per connection = RSS growth of the phase / connections opened in it.
// File descriptors: the client holds 11,000 sockets, the balancer 12,000 (each WebSocket also has its
// backend socket). Node raises its soft limit to the hard one at start, so `ulimit -Hn` is what counts.
import { join } from 'node:path';
import { DIST, startBenchBalancer } from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { get } from '../lib/http.js';
import { forkNode, type Proc } from '../lib/procs.js';
import { openFds, openFilesLimit, treeRssMiB } from '../lib/proc-stats.js';
import type { Row } from '../lib/report.js';
import { log, sleep } from '../lib/util.js';
import type { HeldParams, PhaseResult } from '../held-load.js';

const S = '3 held load';
const TAG = 'held';
export const CONNECTIONS = 10_000;
export const WEBSOCKETS = 1_000;
/** Descriptors the balancer needs: clients, the WebSockets' backend sockets, and room for the rest. */
export const FDS_NEEDED = CONNECTIONS + 2 * WEBSOCKETS + 1024;
const PHASE_TIMEOUT_MS = 120_000;

export interface HeldRaw {
  connections: number;
  websockets: number;
  holdSeconds: number;
  openFilesLimit: { harness: number; balancer: number; needed: number };
  rssMiB: { base: number; afterHttp: number; afterWs: number; maxHeld: number; afterCheck: number };
  fds: { base: number; afterHttp: number; afterWs: number };
  phases: PhaseResult[];
  errors: Record<string, number>;
  kibPerConnection: number;
  kibPerWebSocket: number;
}

function phase(proc: Proc, cmd: string): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`held-load ${cmd}: no answer`)), PHASE_TIMEOUT_MS + 30_000);
    const onMessage = (m: PhaseResult): void => {
      if (m.type !== 'done' || m.cmd !== cmd) return;
      clearTimeout(timer);
      proc.child.off('message', onMessage);
      resolve(m);
    };
    proc.child.on('message', onMessage);
    void proc.exited.then((c) => {
      clearTimeout(timer);
      reject(new Error(`held-load exited ${c} during ${cmd}: ${proc.tail()}`));
    });
    proc.child.send({ cmd });
  });
}

export async function heldLoad(ctx: Context): Promise<HeldRaw> {
  const harnessLimit = openFilesLimit(process.pid);
  if (!(harnessLimit >= FDS_NEEDED))
    throw new Error(
      `held-load needs ${FDS_NEEDED} open files per process; the limit here is ${harnessLimit} ` +
        `(raise the hard limit: ulimit -Hn ${FDS_NEEDED * 2} as root, or LimitNOFILE= for a service)`,
    );
  const b = await startBenchBalancer(ctx.etcd, TAG, ctx.backendPort);
  let client: Proc | undefined;
  try {
    const balancerLimit = openFilesLimit(b.proc.pid);
    if (!(balancerLimit >= FDS_NEEDED)) throw new Error(`balancer's open-files limit ${balancerLimit} < ${FDS_NEEDED}`);
    for (let i = 0; i < 200; i++) await get(`${b.url}/`, 'held.bench');
    await sleep(500);
    const pid = b.proc.pid;
    const rss = { base: treeRssMiB(pid), afterHttp: 0, afterWs: 0, maxHeld: 0, afterCheck: 0 };
    const fds = { base: openFds(pid), afterHttp: 0, afterWs: 0 };
    const params: HeldParams = {
      port: Number(new URL(b.url).port),
      host: 'held.bench',
      connections: CONNECTIONS,
      websockets: WEBSOCKETS,
      parallel: 128,
      phaseTimeoutMs: PHASE_TIMEOUT_MS,
    };
    client = forkNode('held-load', join(DIST, 'bench', 'held-load.js'), [JSON.stringify(params)]);
    const proc = client;
    await new Promise<void>((resolve, reject) => {
      proc.child.once('message', () => resolve());
      void proc.exited.then((c) => reject(new Error(`held-load exited ${c}: ${proc.tail()}`)));
    });
    const phases: PhaseResult[] = [];
    const run = async (cmd: string): Promise<PhaseResult> => {
      const r = await phase(proc, cmd);
      phases.push(r);
      log(`held load: ${cmd} ${r.ok} ok in ${(r.ms / 1000).toFixed(1)} s, errors ${JSON.stringify(r.errors)}`);
      return r;
    };
    log(
      `held load: ${CONNECTIONS} keep-alive connections, then ${WEBSOCKETS} WebSockets, ` +
        `held ${ctx.params.holdSeconds}s`,
    );
    await run('http');
    await sleep(500);
    rss.afterHttp = treeRssMiB(pid);
    fds.afterHttp = openFds(pid);
    await run('ws');
    await sleep(500);
    rss.afterWs = treeRssMiB(pid);
    fds.afterWs = openFds(pid);
    rss.maxHeld = rss.afterWs;
    const until = performance.now() + ctx.params.holdSeconds * 1000;
    while (performance.now() < until) {
      await sleep(250);
      rss.maxHeld = Math.max(rss.maxHeld, treeRssMiB(pid));
    }
    const check = await run('check');
    rss.afterCheck = treeRssMiB(pid);
    await run('close');
    await proc.exited;
    const raw: HeldRaw = {
      connections: CONNECTIONS,
      websockets: WEBSOCKETS,
      holdSeconds: ctx.params.holdSeconds,
      openFilesLimit: { harness: harnessLimit, balancer: balancerLimit, needed: FDS_NEEDED },
      rssMiB: rss,
      fds,
      phases,
      errors: check.errors,
      kibPerConnection: ((rss.afterHttp - rss.base) * 1024) / CONNECTIONS,
      kibPerWebSocket: ((rss.afterWs - rss.afterHttp) * 1024) / WEBSOCKETS,
    };
    report(ctx, raw, check.ok);
    return raw;
  } finally {
    await client?.stop();
    await b.proc.stop();
  }
}

function report(ctx: Context, raw: HeldRaw, checkedOk: number): void {
  const errors = Object.values(raw.errors).reduce((a, n) => a + n, 0);
  const opened = raw.phases.filter((p) => p.cmd === 'http' || p.cmd === 'ws').reduce((a, p) => a + p.ok, 0);
  const total = raw.connections + raw.websockets;
  const n = (v: number): string => v.toLocaleString('en-US');
  const perConn = ((raw.rssMiB.maxHeld - raw.rssMiB.base) * 1024) / total;
  const rows: Row[] = [
    {
      scenario: S,
      metric: `${n(raw.connections)} idle keep-alive + ${n(raw.websockets)} WebSockets held, errors`,
      value: errors + (total - opened) + (total - checkedOk),
      unit: '',
      target: '0',
      pass: errors === 0 && opened === total && checkedOk === total,
      note:
        `held ${raw.holdSeconds} s; ${opened} opened, ${checkedOk} answered after the hold` +
        (errors > 0 ? `; ${JSON.stringify(raw.errors)}` : '') +
        `; balancer fds ${raw.fds.base} → ${raw.fds.afterWs}`,
      goal: 'issue 14',
    },
    {
      scenario: S,
      metric: 'RSS per idle keep-alive connection',
      value: raw.kibPerConnection,
      unit: 'KiB',
      note: `RSS ${raw.rssMiB.base.toFixed(0)} → ${raw.rssMiB.afterHttp.toFixed(0)} MiB`,
    },
    {
      scenario: S,
      metric: 'RSS per open WebSocket (client + backend socket)',
      value: raw.kibPerWebSocket,
      unit: 'KiB',
      note: `RSS ${raw.rssMiB.afterHttp.toFixed(0)} → ${raw.rssMiB.afterWs.toFixed(0)} MiB`,
    },
    {
      scenario: S,
      metric: 'balancer RSS with everything held (max)',
      value: raw.rssMiB.maxHeld,
      unit: 'MiB',
      note:
        `${perConn.toFixed(1)} KiB per connection overall; ` +
        `open-files limit ${raw.openFilesLimit.balancer}, needs ${raw.openFilesLimit.needed}`,
    },
  ];
  ctx.rows.push(...rows);
}
