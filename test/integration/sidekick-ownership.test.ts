// Two live sidekicks with the same --node (cloned VMs; a host-wide plus a per-container sidekick)
// against one etcd: the second one notices (ERR_DUPLICATE_NODE), leaves the other's entries alone,
// and over many resync periods neither deletes nor re-puts anything. When the holder dies, the
// survivor takes the entries over.
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTestContainers, runContainer, uniq } from '../helpers/docker.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startProgram, stopAllPrograms, type Program } from '../helpers/program.js';
import { waitForEntries } from '../helpers/registry.js';
import { delay, waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
const TTL_S = 3;
const RESYNC_MS = 1000;

beforeAll(async () => {
  etcd = await startEtcd();
});
afterEach(async () => {
  await stopAllPrograms();
  await removeTestContainers();
});
afterAll(async () => {
  await etcd?.destroy();
});

function sidekick(node: string, extra: string[] = []): Program {
  return startProgram('sidekick', [
    '--etcd-endpoints',
    etcd.endpoint,
    '--node',
    node,
    '--host-ip',
    '127.0.0.1',
    '--metrics',
    'off',
    '--ttl',
    `${TTL_S}s`,
    '--resync',
    `${RESYNC_MS}ms`,
    ...extra,
  ]);
}

/** key → lease of every key under the prefix. */
async function leases(client: Etcd3, prefix: string): Promise<Record<string, string>> {
  const res = await client.getAll().prefix(prefix).exec();
  return Object.fromEntries(res.kvs.map((kv) => [kv.key.toString(), String(kv.lease)]));
}

async function revision(client: Etcd3): Promise<string> {
  return String((await client.get('/no-such-key').exec()).header.revision);
}

describe('two sidekicks with the same --node', () => {
  it.each([
    ['two host-wide sidekicks', false],
    ['a host-wide and a per-container sidekick', true],
  ])('%s: detected, no flapping over many resyncs, survivor takes over', async (_label, perContainer) => {
    const node = uniq('n');
    const service = uniq('svc');
    const prefix = `/services/${service}/`;
    const names = [uniq('a'), uniq('b'), uniq('c')];
    for (const name of names)
      await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    const client = etcd.client();
    const want = names.map((n) => `${prefix}${node}:${n}:80`).sort();

    const first = sidekick(node);
    await waitForEntries(client, prefix, 'three entries', (e) => Object.keys(e).length === 3);
    const second = sidekick(node, perContainer ? ['--container', names[0] ?? ''] : []);
    const dup = await waitFor(
      'ERR_DUPLICATE_NODE from the second sidekick',
      () => second.logs().find((l) => l.code === 'ERR_DUPLICATE_NODE'),
      15_000,
    );
    expect(dup.node).toBe(node);
    // Let both pass a few resyncs after the verdict, then watch.
    await delay(2 * RESYNC_MS);
    const before = await leases(client, prefix);
    expect(Object.keys(before).sort()).toEqual(want);
    expect(new Set(Object.values(before)).size).toBe(1);
    const rev0 = await revision(client);
    await delay(6 * RESYNC_MS + 500); // six resync periods of each sidekick, two lease TTLs
    // Not a single put or delete anywhere in etcd (lease keepalives do not change the revision).
    const logs = `first:\n${first.output()}\nsecond:\n${second.output()}`;
    expect(await revision(client), `etcd was written to meanwhile; ${logs}`).toBe(rev0);
    expect(await leases(client, prefix)).toEqual(before);
    expect(first.proc.exitCode).toBeNull();
    expect(second.proc.exitCode).toBeNull();
    expect(first.logs().some((l) => l.msg === 'reconcile failed; will retry')).toBe(false);

    // The holder dies without revoking: once its lease is gone the survivor publishes its share.
    await first.stop('SIGKILL');
    const oldLease = Object.values(before)[0];
    const survivorWants = perContainer ? [`${prefix}${node}:${names[0]}:80`] : want;
    const after = await waitFor(
      'the survivor to take the entries over',
      async () => {
        const now = await leases(client, prefix);
        const keys = Object.keys(now).sort();
        const onNewLease = Object.values(now).every((l) => l !== oldLease);
        return JSON.stringify(keys) === JSON.stringify(survivorWants) && onNewLease ? now : undefined;
      },
      (TTL_S + 6) * 1000,
    );
    expect(new Set(Object.values(after)).size).toBe(1);
  });
});
