// Issue 14's ownership cost: the sidekick's periodic check reads its own keys only (O(own entries)),
// not the registry (O(registry)). One sidekick (--resync 1s) publishes a few labelled containers; its
// periodic checks are measured for a window with no other entries in etcd, then again after 10,000
// entries of other nodes were written under the same prefix. Measured from the bench's private etcd
// (nothing else talks to it meanwhile): bytes etcd sent to clients (`etcd_network_client_grpc_sent_bytes_total`)
// and Range calls (`grpc_server_handled_total`) per full reconcile (`sidekick_reconciles_total`), next
// to what one read of the whole prefix costs. Finally: the foreign entries are all still there, unchanged.
import { startSidekick, waitSidekickSynced, type SidekickProc } from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { removeRunContainers, runContainer, WEB_IMAGE } from '../lib/docker.js';
import { currentRevision, putMany, type PutOp } from '../lib/etcd.js';
import { get } from '../lib/http.js';
import { cpuSeconds, sumSeries } from '../lib/proc-stats.js';
import { log, sleep, waitFor } from '../lib/util.js';

const S = '3 sidekick ownership';
const PREFIX = '/own/services';
const OWN_CONTAINERS = 10;
export const FOREIGN = 10_000;

export interface CheckCost {
  foreign: number;
  seconds: number;
  checks: number;
  ownEntries: number;
  bytesPerCheck: number;
  rangesPerCheck: number;
  cpuMsPerCheck: number;
}

export interface OwnershipRaw {
  containers: number;
  without: CheckCost;
  with: CheckCost;
  wholePrefixReadBytes: number;
  foreignIntact: number;
}

async function text(url: string): Promise<string> {
  return (await get(url, undefined, undefined, 10_000)).body;
}

interface Sample {
  bytes: number;
  ranges: number;
  checks: number;
  own: number;
  cpu: number;
  at: number;
}

async function sample(ctx: Context, sk: SidekickProc): Promise<Sample> {
  const [etcd, mine] = await Promise.all([text(`${ctx.etcd.endpoint}/metrics`), text(`${sk.metrics!}/metrics`)]);
  return {
    bytes: sumSeries(etcd, 'etcd_network_client_grpc_sent_bytes_total'),
    ranges: sumSeries(etcd, 'grpc_server_handled_total', 'grpc_method="Range"'),
    checks: sumSeries(mine, 'sidekick_reconciles_total', 'kind="full",result="ok"'),
    own: sumSeries(mine, 'sidekick_entries_published'),
    cpu: cpuSeconds(sk.proc.pid),
    at: performance.now(),
  };
}

async function measure(ctx: Context, sk: SidekickProc, foreign: number): Promise<CheckCost> {
  const a = await sample(ctx, sk);
  await sleep(ctx.params.ownershipSeconds * 1000);
  const b = await sample(ctx, sk);
  const checks = b.checks - a.checks;
  return {
    foreign,
    seconds: (b.at - a.at) / 1000,
    checks,
    ownEntries: b.own,
    bytesPerCheck: (b.bytes - a.bytes) / checks,
    rangesPerCheck: (b.ranges - a.ranges) / checks,
    cpuMsPerCheck: ((b.cpu - a.cpu) * 1000) / checks,
  };
}

function foreignOps(): PutOp[] {
  const ops: PutOp[] = [];
  for (let i = 0; i < FOREIGN; i++) {
    const node = `other-${i % 100}`;
    const value = { host: `10.9.${(i >> 8) & 255}.${i & 255}`, port: 80, node, tags: ['foreign'], weight: 1 };
    ops.push({ key: `${PREFIX}/f${String(i % 1000).padStart(4, '0')}/${node}:c${i}:80`, value: JSON.stringify(value) });
  }
  return ops;
}

export async function ownership(ctx: Context): Promise<OwnershipRaw> {
  const { run, etcd } = ctx;
  let sk: SidekickProc | undefined;
  try {
    log(`ownership: ${OWN_CONTAINERS} containers, a sidekick with --resync 1s`);
    for (let i = 0; i < OWN_CONTAINERS; i++)
      await runContainer(run, `bench-${run}-own${i}`, WEB_IMAGE, { 'sidekick.service': 'benchown' });
    sk = await startSidekick('sidekick-ownership', etcd.endpoint, PREFIX, `bench-own-${run}`, true, ['--resync', '1s']);
    const s = sk;
    await waitSidekickSynced(s);
    await waitFor(
      `${OWN_CONTAINERS} entries published`,
      async () => (await etcd.client.getAll().prefix(`${PREFIX}/benchown/`).count()) >= OWN_CONTAINERS,
      30_000,
      50,
    );
    await sleep(1500);
    log(`ownership: ${ctx.params.ownershipSeconds}s of periodic checks with no foreign entries`);
    const without = await measure(ctx, s, 0);
    log(`ownership: writing ${FOREIGN} entries of other nodes`);
    await putMany(etcd.client, foreignOps());
    const written = await currentRevision(etcd.client);
    await sleep(1500);
    log(`ownership: ${ctx.params.ownershipSeconds}s of periodic checks with ${FOREIGN} foreign entries`);
    const withForeign = await measure(ctx, s, FOREIGN);
    // What reading the whole registry once costs, for scale (the sidekick's checks run meanwhile: noise
    // of a few of them, small next to this).
    const before = sumSeries(await text(`${etcd.endpoint}/metrics`), 'etcd_network_client_grpc_sent_bytes_total');
    const all = await etcd.client.getAll().prefix(`${PREFIX}/`).exec();
    const after = sumSeries(await text(`${etcd.endpoint}/metrics`), 'etcd_network_client_grpc_sent_bytes_total');
    const foreignIntact = all.kvs.filter(
      (kv) => kv.key.toString().includes('/other-') && Number(kv.mod_revision) <= written,
    ).length;
    const raw: OwnershipRaw = {
      containers: OWN_CONTAINERS,
      without,
      with: withForeign,
      wholePrefixReadBytes: after - before,
      foreignIntact,
    };
    report(ctx, raw);
    return raw;
  } finally {
    await sk?.proc.stop('SIGTERM', 10_000);
    // A wedged engine is reported here and retried by the harness's cleanup; the rows stand.
    await removeRunContainers(run).catch((err: unknown) => log(`ownership: ${(err as Error).message}`));
  }
}

function report(ctx: Context, raw: OwnershipRaw): void {
  const row = (c: CheckCost): string =>
    `${c.checks} checks in ${c.seconds.toFixed(0)} s, ${c.ownEntries} own entries, ` +
    `${c.rangesPerCheck.toFixed(1)} Range calls and ${c.cpuMsPerCheck.toFixed(1)} ms sidekick CPU per check`;
  for (const c of [raw.without, raw.with])
    ctx.rows.push({
      scenario: S,
      metric: `etcd bytes read per periodic check, ${c.foreign.toLocaleString('en-US')} foreign entries`,
      value: c.bytesPerCheck,
      unit: 'B',
      note: row(c),
    });
  const ratio = raw.with.bytesPerCheck / raw.without.bytesPerCheck;
  const sameOwn = raw.with.ownEntries === raw.without.ownEntries;
  ctx.rows.push({
    scenario: S,
    metric: `periodic check cost with/without ${raw.with.foreign.toLocaleString('en-US')} foreign entries`,
    value: ratio,
    unit: '×',
    target: '≤ 1.5× (O(own entries))',
    pass: Number.isFinite(ratio) && ratio <= 1.5 && raw.foreignIntact === FOREIGN,
    note:
      `one read of the whole prefix: ${(raw.wholePrefixReadBytes / 1024).toFixed(0)} KiB; ` +
      `${raw.foreignIntact} of ${FOREIGN} foreign entries untouched` +
      (sameOwn ? '' : `; own entries ${raw.without.ownEntries} → ${raw.with.ownEntries} (other users' containers)`),
    goal: 'issue 14',
  });
}
