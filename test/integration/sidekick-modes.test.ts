// Per-container mode: one sidekick beside each service container, following only that container, so
// its entries leave when the container does (the classic sidekick-per-service deployment).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { docker, removeTestContainers, runContainer, uniq } from '../helpers/docker.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startProgram, stopAllPrograms } from '../helpers/program.js';
import { readEntries, waitForEntries } from '../helpers/registry.js';
import { delay, waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;

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

describe('per-container mode (--container)', () => {
  it('follows its container only, leaves a sibling sidekick’s entry alone, exits 0 on container removal', async () => {
    const node = uniq('n');
    const service = uniq('svc');
    const mine = uniq('mine');
    const sibling = uniq('sib');
    const other = uniq('other');
    // No label needed: naming the container on the command line opts it in (name = image basename
    // unless labelled). The other container is labelled but not followed by anyone here.
    await runContainer({ name: mine, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    await runContainer({ name: sibling, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    await runContainer({ name: other, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    const common = [
      '--etcd-endpoints',
      etcd.endpoint,
      '--node',
      node,
      '--host-ip',
      '127.0.0.1',
      '--metrics',
      'off',
      '--ttl',
      '3s',
    ];
    const p = startProgram('sidekick', [...common, '--container', mine]);
    const q = startProgram('sidekick', [...common, '--container', sibling]);
    const client = etcd.client();
    const key = (n: string): string => `/services/${service}/${node}:${n}:80`;
    await waitForEntries(
      client,
      `/services/${service}/`,
      'both followed containers',
      (e) => key(mine) in e && key(sibling) in e,
    );
    await delay(500);
    expect(Object.keys(await readEntries(client, `/services/${service}/`)).sort()).toEqual(
      [key(mine), key(sibling)].sort(),
    );

    // Lifecycle still applies to the followed container.
    await docker('stop', '-t', '0', mine);
    await waitForEntries(
      client,
      `/services/${service}/`,
      'withdrawn on stop',
      (e) => !(key(mine) in e) && key(sibling) in e,
    );
    await docker('start', mine);
    await waitForEntries(client, `/services/${service}/`, 'back on start', (e) => key(mine) in e);

    await docker('rm', '-f', mine);
    expect(await waitFor('sidekick exit', () => p.exited(), 10_000)).toBe(0);
    const left = await readEntries(client, `/services/${service}/`);
    expect(Object.keys(left)).toEqual([key(sibling)]);
    expect(q.proc.exitCode).toBeNull();
  });

  it('waits for a container that does not exist yet', async () => {
    const node = uniq('n');
    const name = uniq('late');
    const p = startProgram('sidekick', [
      '--etcd-endpoints',
      etcd.endpoint,
      '--node',
      node,
      '--host-ip',
      '127.0.0.1',
      '--metrics',
      'off',
      '--container',
      name,
    ]);
    await delay(1000);
    expect(p.proc.exitCode).toBeNull();
    await runContainer({ name, publish: ['127.0.0.1::80'] });
    // Unlabelled: published under the image basename.
    await waitForEntries(
      etcd.client(),
      '/services/web/',
      'late container published',
      (e) => `/services/web/${node}:${name}:80` in e,
    );
  });
});

describe('--address container', () => {
  it('publishes the container’s own IP with the container port, never a host port', async () => {
    const node = uniq('n');
    const service = uniq('svc');
    const name = uniq('c');
    await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    startProgram('sidekick', [
      '--etcd-endpoints',
      etcd.endpoint,
      '--node',
      node,
      '--host-ip',
      '127.0.0.1',
      '--metrics',
      'off',
      '--address',
      'container',
    ]);
    const key = `/services/${service}/${node}:${name}:80`;
    const e = await waitForEntries(etcd.client(), `/services/${service}/`, 'container address', (x) => key in x);
    const ip = await docker('inspect', '-f', '{{.NetworkSettings.Networks.bridge.IPAddress}}', name);
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(e[key]).toMatchObject({ host: ip, port: 80 });
  });
});
