// Docker calls have a deadline (--docker-timeout): a hung engine costs a timed-out call, not the
// work queue; a kill withdrawal never waits for Docker; the open event stream is not cut by the
// deadline. Network connect/disconnect events reconcile the container they concern.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { docker, removeTestContainers, runContainer, TEST_LABEL, testRun, uniq } from '../helpers/docker.js';
import { startDockerProxy } from '../helpers/docker-proxy.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { listenUrl, startProgram, stopAllPrograms } from '../helpers/program.js';
import { readEntries, waitForEntries } from '../helpers/registry.js';
import { waitFor } from '../helpers/wait.js';

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

const args = (node: string, extra: string[]): string[] => [
  '--etcd-endpoints',
  etcd.endpoint,
  '--node',
  node,
  '--host-ip',
  '127.0.0.1',
  '--ttl',
  '5s',
  ...extra,
];

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

describe('--docker-timeout', () => {
  it('a stalled engine: calls time out as Docker errors, the queue moves on, kills still withdraw', async () => {
    const proxy = await startDockerProxy();
    try {
      const node = uniq('n');
      const service = uniq('svc');
      const p = startProgram(
        'sidekick',
        args(node, [
          '--docker-host',
          proxy.url,
          '--docker-timeout',
          '1s',
          '--resync',
          '2s',
          '--metrics',
          '127.0.0.1:0',
        ]),
      );
      const base = await listenUrl(p, 'metrics listening');
      const client = etcd.client();
      const a = uniq('a');
      const b = uniq('b');
      const key = (n: string): string => `/services/${service}/${node}:${n}:80`;
      await runContainer({ name: a, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
      await waitForEntries(client, `/services/${service}/`, 'a published', (e) => key(a) in e);
      const errorsBefore = await metric(base, 'sidekick_docker_errors_total');

      proxy.stall(true);
      // b's start event arrives on the (still flowing) stream; its inspect hangs in the engine.
      await runContainer({ name: b, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
      const timedOut = await waitFor(
        'a timed-out Docker call in the log',
        () =>
          p
            .logs()
            .find((l) => l.code === 'ERR_DOCKER_UNAVAILABLE' && String(l.err).includes('timed out after 1000 ms')),
        8000,
      );
      expect(timedOut.msg).toBe('reconcile failed; will retry');
      expect(await metric(base, 'sidekick_docker_errors_total')).toBeGreaterThan(errorsBefore);

      // Still stalled: docker stop sends SIGTERM (the web image's PID 1 ignores it, so the
      // container lives on for the 6 s grace). The withdrawal must not wait for the engine.
      const heldBefore = proxy.held();
      const stopping = docker('stop', '-t', '6', a);
      const t0 = Date.now();
      await waitForEntries(client, `/services/${service}/`, 'a withdrawn at the kill', (e) => !(key(a) in e), 3000);
      const withdrawnMs = Date.now() - t0;
      expect(withdrawnMs).toBeLessThan(3000);
      // The withdrawal's log line can follow its etcd write by a moment.
      await waitFor(
        'the kill withdrawal logged',
        () => p.logs().some((l) => l.msg === 'registry updated' && l.on === 'kill'),
        1000,
      );
      // Docker was still stalled meanwhile: the resync kept asking it and being held.
      await waitFor('another held request', () => proxy.held() > heldBefore, 5000);
      // The deadline never cut the idle event stream.
      expect(p.logs().some((l) => l.msg === 'Docker event stream lost; reconnecting')).toBe(false);

      proxy.stall(false);
      await waitForEntries(
        client,
        `/services/${service}/`,
        'b published once Docker answers',
        (e) => key(b) in e,
        10_000,
      );
      expect(Object.keys(await readEntries(client, `/services/${service}/`))).toEqual([key(b)]);
      expect(p.proc.exitCode).toBeNull();
      await stopping;
    } finally {
      await proxy.close();
    }
  });
});

describe('network events', () => {
  it.each([
    ['host-wide', false],
    ['per-container', true],
  ])('%s: connect and disconnect reconcile the container (no resync needed)', async (_mode, follow) => {
    const net = uniq('net');
    await docker('network', 'create', '--label', `${TEST_LABEL}=${testRun()}`, net);
    try {
      const node = uniq('n');
      const service = uniq('svc');
      const name = uniq('c');
      await runContainer({ name, labels: { 'sidekick.service': service, 'sidekick.network': net } });
      const p = startProgram(
        'sidekick',
        args(node, [
          '--address',
          'container',
          '--resync',
          '10m',
          '--metrics',
          'off',
          ...(follow ? ['--container', name] : []),
        ]),
      );
      await waitFor(
        'the sidekick to skip the container (not on its network yet)',
        () => p.logs().some((l) => String(l.msg).includes(`not attached to network "${net}"`)),
        10_000,
      );
      const client = etcd.client();
      const key = `/services/${service}/${node}:${name}:80`;
      expect(await readEntries(client, `/services/${service}/`)).toEqual({});

      await docker('network', 'connect', net, name);
      const ip = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name);
      const e = await waitForEntries(client, `/services/${service}/`, 'published on connect', (x) => key in x, 5000);
      expect(e[key]).toMatchObject({ host: ip, port: 80 });

      await docker('network', 'disconnect', net, name);
      await waitForEntries(client, `/services/${service}/`, 'withdrawn on disconnect', (x) => !(key in x), 5000);
    } finally {
      await removeTestContainers();
      await docker('network', 'rm', net).catch(() => undefined);
    }
  });
});
