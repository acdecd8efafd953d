// One lease per sidekick: SIGTERM revokes it (all entries vanish at once), SIGKILL lets it expire,
// and a restarted sidekick adopts or deletes what an earlier run left, never duplicating.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTestContainers, runContainer, uniq } from '../helpers/docker.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startProgram, stopAllPrograms, type Program } from '../helpers/program.js';
import { readEntries, waitForEntries } from '../helpers/registry.js';
import { delay, waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
const TTL_S = 3;

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

function sidekick(node: string): Program {
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
  ]);
}

async function threeContainers(service: string): Promise<string[]> {
  const names = [uniq('a'), uniq('b'), uniq('c')];
  for (const name of names)
    await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
  return names;
}

describe('lease', () => {
  it('SIGTERM revokes the lease: every entry is gone when the sidekick has exited 0', async () => {
    const node = uniq('n');
    const service = uniq('svc');
    const p = sidekick(node);
    await threeContainers(service);
    const client = etcd.client();
    await waitForEntries(client, `/services/${service}/`, 'three entries', (e) => Object.keys(e).length === 3);
    expect(await p.stop('SIGTERM')).toBe(0);
    expect(await readEntries(client, `/services/${service}/`)).toEqual({});
  });

  it('SIGKILL: the entries expire within TTL + 1 s', async () => {
    const node = uniq('n');
    const service = uniq('svc');
    const p = sidekick(node);
    await threeContainers(service);
    const client = etcd.client();
    await waitForEntries(client, `/services/${service}/`, 'three entries', (e) => Object.keys(e).length === 3);
    expect(await p.stop('SIGKILL')).toBe('SIGKILL');
    const killedAt = Date.now();
    expect(Object.keys(await readEntries(client, `/services/${service}/`))).toHaveLength(3);
    await waitForEntries(
      client,
      `/services/${service}/`,
      'entries expired',
      (e) => Object.keys(e).length === 0,
      (TTL_S + 1) * 1000,
    );
    expect(Date.now() - killedAt).toBeLessThanOrEqual((TTL_S + 1) * 1000);
  });

  it('a sidekick restarted after SIGKILL leaves exactly one entry per instance, on its own lease', async () => {
    const node = uniq('n');
    const service = uniq('svc');
    const first = sidekick(node);
    const names = await threeContainers(service);
    const client = etcd.client();
    await waitForEntries(client, `/services/${service}/`, 'three entries', (e) => Object.keys(e).length === 3);
    await first.stop('SIGKILL');
    const second = sidekick(node);
    await waitFor(
      'the restarted sidekick to reconcile',
      () => second.logs().some((l) => l.msg === 'full reconcile corrected the registry'),
      10_000,
    );
    // Past the first lease's expiry: had the keys stayed on it, they would be gone now.
    await delay((TTL_S + 1.5) * 1000);
    const entries = await readEntries(client, `/services/${service}/`);
    expect(Object.keys(entries).sort()).toEqual(names.map((n) => `/services/${service}/${node}:${n}:80`).sort());
    const leases = new Set(
      (await client.getAll().prefix(`/services/${service}/`).exec()).kvs.map((kv) => String(kv.lease)),
    );
    expect(leases.size).toBe(1);
  });

  it('deletes stale entries of its own node from an earlier run and leaves other nodes alone', async () => {
    const node = uniq('n');
    const client = etcd.client();
    const ghost = `/services/ghost/${node}:gone:80`;
    const foreign = `/services/ghost/other-node:gone:80`;
    await client.put(ghost).value(JSON.stringify({ host: '127.0.0.1', port: 1, node }));
    await client.put(foreign).value(JSON.stringify({ host: '127.0.0.1', port: 1, node: 'other-node' }));
    const p = sidekick(node);
    await waitForEntries(client, '/services/ghost/', 'stale entry deleted', (e) => !(ghost in e));
    expect(Object.keys(await readEntries(client, '/services/ghost/'))).toEqual([foreign]);
    await p.stop();
  });
});
