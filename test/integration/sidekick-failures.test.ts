// The sidekick never crashes on etcd or Docker trouble: it retries forever and republishes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { docker, removeTestContainers, runContainer, uniq } from '../helpers/docker.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startProgram, stopAllPrograms } from '../helpers/program.js';
import { readEntries, waitForEntries } from '../helpers/registry.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { delay } from '../helpers/wait.js';

let etcd: EtcdServer;

beforeAll(async () => {
  etcd = await startEtcd();
});
afterEach(async () => {
  await stopAllPrograms();
  await removeTestContainers();
  await etcd.start().catch(() => undefined); // a test may leave it stopped
});
afterAll(async () => {
  await etcd?.destroy();
});

const args = (node: string, extra: string[] = []): string[] => [
  '--etcd-endpoints',
  etcd.endpoint,
  '--node',
  node,
  '--host-ip',
  '127.0.0.1',
  '--metrics',
  'off',
  '--ttl',
  '2s',
  ...extra,
];

describe('etcd outages', () => {
  it.each([
    ['same data dir', false],
    ['a fresh data dir (data lost)', true],
  ])(
    'etcd stopped past the lease TTL and restarted with %s: entries come back, changes made meanwhile included',
    async (_t, fresh) => {
      const node = uniq('n');
      const service = uniq('svc');
      const p = startProgram('sidekick', args(node));
      const kept = uniq('kept');
      const stopped = uniq('stopped');
      for (const name of [kept, stopped])
        await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
      await waitForEntries(etcd.client(), `/services/${service}/`, 'two entries', (e) => Object.keys(e).length === 2);

      await etcd.stop();
      const added = uniq('added');
      await runContainer({ name: added, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
      await docker('stop', '-t', '0', stopped);
      await delay(5000); // > 2 × TTL: the client gives the lease up
      await etcd.start({ fresh });

      const want = [kept, added].map((n) => `/services/${service}/${node}:${n}:80`).sort();
      await waitForEntries(
        etcd.client(),
        `/services/${service}/`,
        'registry == running containers',
        (e) => JSON.stringify(Object.keys(e).sort()) === JSON.stringify(want),
        10_000,
      );
      // Still there after the old lease's TTL: they hang on a live lease, not the lost one.
      await delay(3500);
      expect(Object.keys(await readEntries(etcd.client(), `/services/${service}/`)).sort()).toEqual(want);
      expect(p.proc.exitCode).toBeNull();
    },
  );

  it('a sidekick started before etcd is reachable publishes once etcd is up', async () => {
    await etcd.stop();
    const node = uniq('n');
    const service = uniq('svc');
    const p = startProgram('sidekick', args(node));
    const name = uniq('c');
    await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    await delay(2500);
    expect(p.proc.exitCode).toBeNull();
    await etcd.start();
    await waitForEntries(
      etcd.client(),
      `/services/${service}/`,
      'entry after etcd came up',
      (e) => `/services/${service}/${node}:${name}:80` in e,
      10_000,
    );
  });
});

describe('Docker outages', () => {
  it('a sidekick started before Docker is up publishes once it is and reconciles after the stream is cut', async () => {
    const proxy = await startTcpProxy({ path: '/var/run/docker.sock' });
    try {
      proxy.block(true);
      const node = uniq('n');
      const service = uniq('svc');
      const p = startProgram('sidekick', args(node, ['--docker-host', `tcp://127.0.0.1:${proxy.port}`]));
      const name = uniq('c');
      await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
      await delay(1500);
      expect(await readEntries(etcd.client(), `/services/${service}/`)).toEqual({});
      proxy.block(false);
      await waitForEntries(
        etcd.client(),
        `/services/${service}/`,
        'entry once Docker is reachable',
        (e) => `/services/${service}/${node}:${name}:80` in e,
        10_000,
      );

      // Cut the event stream and stop the container while it is down: the reconnect's full
      // reconcile must notice, since Docker does not replay what we missed reliably.
      proxy.block(true);
      await docker('stop', '-t', '0', name);
      await delay(500);
      proxy.block(false);
      await waitForEntries(
        etcd.client(),
        `/services/${service}/`,
        'withdrawn after reconnect',
        (e) => Object.keys(e).length === 0,
        10_000,
      );
      expect(p.proc.exitCode).toBeNull();
    } finally {
      await proxy.close();
    }
  });
});
