// Whole-system fault scenarios from `npm run chaos` that are fast and deterministic enough for CI:
// real etcd, sidekick and balancer processes, real containers, bounded load on loopback.
import { beforeAll, describe, expect, it } from 'vitest';
import { scenarios } from '../../chaos/scenarios.js';
import { WEB_IMAGE } from '../helpers/docker.js';

beforeAll(() => {
  process.env.CHAOS_IMAGE = WEB_IMAGE;
});

const byId = (id: string) => {
  const s = scenarios.find((x) => x.id === id);
  if (!s) throw new Error(`no scenario ${id}`);
  return s;
};

describe('chaos scenarios under load', () => {
  it('etcd data lost: 0 failed (restore grace), sidekicks republish within 5 s, table == containers', async () => {
    const row = await byId('2').run();
    expect(row.note).toBe('');
    expect(row.failed).toBe(0);
    expect(row.convergeMs).toBeLessThanOrEqual(5000);
    expect(row.stale).toBe(0);
    expect(row.pass).toBe(true);
  }, 60_000);

  it('compaction past the balancer’s revision during a watch cut: 0 failed, resync, table == containers', async () => {
    const row = await byId('4').run();
    expect(row.note).toBe('');
    expect(row.failed).toBe(0);
    expect(row.convergeMs).toBeLessThanOrEqual(5000);
    expect(row.stale).toBe(0);
    expect(row.pass).toBe(true);
  }, 60_000);
});
