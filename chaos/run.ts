// `npm run chaos`: runs every scenario (or those named in CHAOS_ONLY=1,4,… / the fast set with
// CHAOS_FAST=1), prints the table, exits 1 if any row misses its target.
import { writeFileSync } from 'node:fs';
import { removeTestContainers } from '../test/helpers/docker.js';
import { destroyAllEtcd } from '../test/helpers/etcd.js';
import { stopAllPrograms } from '../test/helpers/program.js';
import { printTable, runCleanups, type Row } from './lib.js';
import { scenarios } from './scenarios.js';
import { extraScenarios } from './more.js';
import { activeCheckScenarios } from './active-checks.js';

process.env.SIDEKICK_TEST_RUN ??= `chaos-${process.pid}-${Date.now().toString(36)}`;

async function cleanup(): Promise<void> {
  await runCleanups();
  await stopAllPrograms().catch(() => undefined);
  await removeTestContainers().catch(() => undefined);
  await destroyAllEtcd().catch(() => undefined);
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`chaos: ${sig}, cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const only = process.env.CHAOS_ONLY?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const fast = process.env.CHAOS_FAST === '1';
  const all = [...scenarios, ...extraScenarios, ...activeCheckScenarios].sort((a, b) =>
    a.id.localeCompare(b.id, 'en', { numeric: true }),
  );
  const chosen = all.filter((s) => (only ? only.includes(s.id) : !fast || s.fast));
  const rows: Row[] = [];
  for (const s of chosen) {
    if (interrupted) break;
    const t0 = Date.now();
    console.error(`chaos: ${s.id} ${s.name} …`);
    let r: Row;
    try {
      r = await s.run();
    } catch (err) {
      r = {
        scenario: `${s.id} ${s.name}`,
        sent: 0,
        failed: 0,
        stale: 0,
        target: '—',
        pass: false,
        note: `error: ${(err as Error).message.slice(0, 400)}`,
      };
    } finally {
      await cleanup();
    }
    const tookS = ((Date.now() - t0) / 1000).toFixed(1);
    console.error(`chaos: ${s.id} ${r.pass ? 'PASS' : 'FAIL'} in ${tookS} s${r.note ? ` — ${r.note}` : ''}`);
    rows.push(r);
  }
  const out = printTable(rows);
  console.log(out);
  const file = process.env.CHAOS_REPORT;
  if (file) writeFileSync(file, `${out}\n`);
  return rows.every((r) => r.pass) && rows.length === chosen.length ? 0 : 1;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err: unknown) => {
    console.error(err);
    await cleanup();
    process.exit(1);
  },
);
