// End to end, as a user would see it: the periodic resync repairs a registry edited behind the
// sidekick's back; a host-networking container is published with the host IP and its own port; an
// oom-killed container is withdrawn.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { docker, removeTestContainers, runContainer, uniq } from '../helpers/docker.js';
import { etcdctl, startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { startProgram, stopAllPrograms } from '../helpers/program.js';
import { readEntries, waitForEntries } from '../helpers/registry.js';
import { waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
const RESYNC_MS = 2000;

// Checked once: an engine that cannot enforce memory limits cannot oom-kill a container.
const memoryLimits = (await docker('info', '--format', '{{.MemoryLimit}}').catch(() => 'false')) === 'true';
if (!memoryLimits)
  console.warn(
    'SKIPPING the oom test: this Docker engine cannot enforce memory limits (docker info MemoryLimit=false)',
  );

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

const sidekick = (node: string, extra: string[] = []) =>
  startProgram('sidekick', [
    '--etcd-endpoints',
    etcd.endpoint,
    '--node',
    node,
    '--host-ip',
    '127.0.0.1',
    '--metrics',
    'off',
    '--ttl',
    '5s',
    '--resync',
    `${RESYNC_MS}ms`,
    ...extra,
  ]);

describe('periodic resync', () => {
  it('restores within one resync a key deleted, one re-put without a lease, one changed on its lease', async () => {
    const node = uniq('n');
    const service = uniq('svc');
    const prefix = `/services/${service}/`;
    const names = [uniq('a'), uniq('b'), uniq('c')];
    const key = (n: string): string => `${prefix}${node}:${n}:80`;
    for (const name of names)
      await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    const p = sidekick(node);
    const client = etcd.client();
    const good = await waitForEntries(client, prefix, 'three entries', (e) => Object.keys(e).length === 3);
    const [a = '', b = '', c = ''] = names;
    const before = await client.getAll().prefix(prefix).exec();
    const lease = String(before.kvs[0]?.lease);
    const forged = JSON.stringify({ host: '10.6.6.6', port: 6666, node });

    await etcdctl(etcd, ['del', key(a)]);
    await etcdctl(etcd, ['put', key(b), forged]); // no --lease: detached from the sidekick's lease
    await etcdctl(etcd, ['put', `--lease=${BigInt(lease).toString(16)}`, key(c), forged]); // still on its lease
    const edited = Date.now();
    const now = await readEntries(client, prefix);
    expect(Object.keys(now).sort()).toEqual([key(b), key(c)].sort());
    expect(now[key(b)]).toMatchObject({ host: '10.6.6.6' });

    const restored = await waitForEntries(
      client,
      prefix,
      'every entry as the sidekick published it',
      (e) => JSON.stringify(e) === JSON.stringify(good),
      RESYNC_MS + 3000,
    );
    const tookMs = Date.now() - edited;
    expect(tookMs).toBeLessThanOrEqual(RESYNC_MS + 1000);
    expect(restored).toEqual(good);
    const after = await client.getAll().prefix(prefix).exec();
    expect(after.kvs.map((kv) => String(kv.lease))).toEqual([lease, lease, lease]);
    // Logged after the writes it reports: allow it a moment to follow them.
    await waitFor(
      'the correction logged',
      () => p.logs().some((l) => l.msg === 'full reconcile corrected the registry'),
      1000,
    );
  });
});

describe('host networking', () => {
  it('publishes --host-ip with the container port (no port mapping exists); the backend answers there', async () => {
    const node = uniq('n');
    const service = uniq('svc');
    const name = uniq('h');
    const port = await freePort();
    await runContainer({
      name,
      network: 'host',
      env: { PORT: String(port) },
      labels: { 'sidekick.service': service, 'sidekick.port': String(port) },
    });
    sidekick(node);
    const key = `/services/${service}/${node}:${name}:${port}`;
    const e = await waitForEntries(etcd.client(), `/services/${service}/`, 'host-network entry', (x) => key in x);
    expect(e[key]).toMatchObject({ host: '127.0.0.1', port });
    const body = await waitFor('the backend on the published address', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      return res.ok ? res.text() : undefined;
    });
    expect(body).toContain('served by');
    await docker('kill', name);
    await waitForEntries(etcd.client(), `/services/${service}/`, 'withdrawn', (x) => !(key in x), 5000);
  });
});

describe('oom', () => {
  it.skipIf(!memoryLimits)('a container killed by the OOM killer is withdrawn', async () => {
    const node = uniq('n');
    const service = uniq('svc');
    const name = uniq('oom');
    // PID 1 is the shell: it serves, waits for the signal file, then doubles a string until the
    // 8 MiB limit (no swap) makes the kernel kill it, and with it the container.
    await runContainer({
      name,
      labels: { 'sidekick.service': service },
      publish: ['127.0.0.1::80'],
      extra: ['--memory', '8m', '--memory-swap', '8m'],
      command: ['sh', '-c', '/bin/serve & while [ ! -e /tmp/go ]; do sleep 0.1; done; x=a; while :; do x=$x$x; done'],
    });
    const p = sidekick(node, ['--log-level', 'debug']);
    const key = `/services/${service}/${node}:${name}:80`;
    await waitForEntries(etcd.client(), `/services/${service}/`, 'published', (x) => key in x);
    await docker('exec', name, 'touch', '/tmp/go');
    await waitForEntries(
      etcd.client(),
      `/services/${service}/`,
      'withdrawn after the OOM kill',
      (x) => !(key in x),
      10_000,
    );
    await waitFor(
      'the container to exit',
      async () => (await docker('inspect', '-f', '{{.State.Running}}', name)) === 'false',
    );
    expect(await docker('inspect', '-f', '{{.State.OOMKilled}}', name)).toBe('true');
    await waitFor(
      'the oom event logged',
      () => p.logs().some((l) => l.msg === 'docker event' && l.action === 'oom'),
      1000,
    );
  });
});
