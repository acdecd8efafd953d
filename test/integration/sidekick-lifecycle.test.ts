// A host-wide sidekick against real etcd and the real Docker engine: what appears in the registry
// as containers start, stop, die, pause, turn (un)healthy and go away.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, HEALTH_IMAGE, hostPortOf, removeTestContainers, runContainer, uniq } from '../helpers/docker.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { listenUrl, startProgram, stopAllPrograms, type Program } from '../helpers/program.js';
import { readEntries, waitForEntries } from '../helpers/registry.js';
import { delay, waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
let sidekick: Program;
const node = uniq('node');
const prefix = `/services`;

beforeAll(async () => {
  etcd = await startEtcd();
  sidekick = startProgram('sidekick', [
    '--etcd-endpoints',
    etcd.endpoint,
    '--node',
    node,
    '--host-ip',
    '10.9.8.7',
    '--metrics',
    '127.0.0.1:0',
    '--ttl',
    '5s',
    '--all',
  ]);
  await waitForEntries(etcd.client(), prefix, 'sidekick ready', () =>
    sidekick.logs().some((l) => l.msg === 'Docker event stream connected; full reconcile'),
  );
});

afterAll(async () => {
  await stopAllPrograms();
  await removeTestContainers();
  await etcd?.destroy();
});

const keyOf = (service: string, name: string, port = 80): string => `${prefix}/${service}/${node}:${name}:${port}`;

describe('host-wide sidekick lifecycle', () => {
  it('publishes a labelled container with the advertised host IP and published port within 1 s', async () => {
    const service = uniq('web');
    const name = uniq('c');
    await runContainer({
      name,
      labels: { 'sidekick.service': service, 'sidekick.tags': 'a,b', 'sidekick.weight': '3' },
      publish: ['0.0.0.0::80'],
    });
    const started = Date.now();
    const entries = await waitForEntries(
      etcd.client(),
      `${prefix}/${service}/`,
      'entry to appear',
      (e) => keyOf(service, name) in e,
      1000,
    );
    expect(Date.now() - started).toBeLessThan(1000);
    const id = await docker('inspect', '-f', '{{.Id}}', name);
    expect(entries[keyOf(service, name)]).toEqual({
      host: '10.9.8.7',
      port: await hostPortOf(name),
      weight: 3,
      tags: ['a', 'b'],
      node,
      container: { id, name },
    });
  });

  it.each([
    ['docker stop', ['stop', '-t', '1'], ['start']],
    ['docker kill', ['kill'], ['start']],
    ['docker pause', ['pause'], ['unpause']],
  ])('%s withdraws the entry and the reverse brings it back', async (_title, down, up) => {
    const service = uniq('web');
    const name = uniq('c');
    await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    const client = etcd.client();
    await waitForEntries(client, `${prefix}/${service}/`, 'published', (e) => keyOf(service, name) in e);
    await docker(down[0] as string, ...down.slice(1), name);
    await waitForEntries(
      client,
      `${prefix}/${service}/`,
      `withdrawn after ${down.join(' ')}`,
      (e) => Object.keys(e).length === 0,
    );
    await docker(up[0] as string, name);
    const back = await waitForEntries(
      client,
      `${prefix}/${service}/`,
      `back after ${up[0]}`,
      (e) => keyOf(service, name) in e,
    );
    // The host port can change across a restart: the entry must carry the current one.
    expect(back[keyOf(service, name)]?.port).toBe(await hostPortOf(name));
    expect(back[keyOf(service, name)]?.host).toBe('127.0.0.1');
  });

  it('withdraws at the first kill, before a slow-stopping container has died', async () => {
    const service = uniq('slow');
    const name = uniq('c');
    // busybox httpd runs as PID 1 without a SIGTERM handler, so the kernel ignores SIGTERM and
    // `docker stop -t 5` leaves it running ~5 s after the kill event, until SIGKILL.
    await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    const client = etcd.client();
    await waitForEntries(client, `${prefix}/${service}/`, 'published', (e) => keyOf(service, name) in e);
    const stopping = docker('stop', '-t', '5', name);
    await waitForEntries(
      client,
      `${prefix}/${service}/`,
      'withdrawn while still running',
      (e) => Object.keys(e).length === 0,
      2000,
    );
    expect(await docker('inspect', '-f', '{{.State.Running}}', name)).toBe('true');
    await stopping;
  });

  it('withdraws at the kill from what it already knows (no inspect), and republishes the restarted run', async () => {
    const service = uniq('restart');
    const name = uniq('c');
    await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    const client = etcd.client();
    const key = keyOf(service, name);
    await waitForEntries(client, `${prefix}/${service}/`, 'published', (e) => key in e);
    const id = await docker('inspect', '-f', '{{.Id}}', name);
    const from = sidekick.logs().length;
    await docker('restart', '-t', '1', name);
    const port = await hostPortOf(name);
    await waitForEntries(client, `${prefix}/${service}/`, 'the new run published', (e) => e[key]?.port === port);
    const updates = sidekick
      .logs()
      .slice(from)
      .filter((l) => l.msg === 'registry updated' && (l.container === name || l.container === id.slice(0, 12)));
    // First the withdrawal decided from the kill event alone, then a put after a fresh inspect.
    expect(updates[0]).toMatchObject({ on: 'kill', deleted: [key], put: [] });
    expect(updates.at(-1)).toMatchObject({ put: [key], deleted: [] });
    expect(updates.at(-1)?.on).toBeUndefined();
  });

  it('a non-terminating kill (SIGHUP) keeps the entry', async () => {
    const service = uniq('hup');
    const name = uniq('c');
    await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    const client = etcd.client();
    await waitForEntries(client, `${prefix}/${service}/`, 'published', (e) => keyOf(service, name) in e);
    // The publish's own log line can follow the etcd write: count from after it.
    const published = (l: Record<string, unknown>): boolean => l.msg === 'registry updated' && l.container === name;
    await waitFor('publish logged', () => sidekick.logs().some(published), 5_000);
    const from = sidekick.logs().length;
    await docker('kill', '-s', 'HUP', name);
    await delay(1000); // the sidekick reconciles on every event: give it time to (wrongly) withdraw
    expect(Object.keys(await readEntries(client, `${prefix}/${service}/`))).toEqual([keyOf(service, name)]);
    expect(sidekick.logs().slice(from).filter(published)).toEqual([]);
  });

  it('docker rm -f withdraws the entry', async () => {
    const service = uniq('web');
    const name = uniq('c');
    await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    const client = etcd.client();
    await waitForEntries(client, `${prefix}/${service}/`, 'published', (e) => keyOf(service, name) in e);
    await docker('rm', '-f', name);
    await waitForEntries(client, `${prefix}/${service}/`, 'withdrawn after rm -f', (e) => Object.keys(e).length === 0);
  });

  it('publishes a container with a HEALTHCHECK only while healthy', async () => {
    const service = uniq('health');
    const name = uniq('c');
    await runContainer({
      name,
      image: HEALTH_IMAGE,
      labels: { 'sidekick.service': service },
      publish: ['127.0.0.1::80'],
    });
    const client = etcd.client();
    // Starting (probe fails: /tmp/healthy missing) → unhealthy after one retry: never published.
    await delay(2500);
    expect(await docker('inspect', '-f', '{{.State.Health.Status}}', name)).toBe('unhealthy');
    expect(await readEntries(client, `${prefix}/${service}/`)).toEqual({});
    await docker('exec', name, 'touch', '/tmp/healthy');
    await waitForEntries(client, `${prefix}/${service}/`, 'published once healthy', (e) => keyOf(service, name) in e);
    await docker('exec', name, 'rm', '/tmp/healthy');
    await waitForEntries(
      client,
      `${prefix}/${service}/`,
      'withdrawn once unhealthy',
      (e) => Object.keys(e).length === 0,
    );
  });

  it('does not publish a container still in its health "starting" phase', async () => {
    const service = uniq('starting');
    const name = uniq('c');
    // A long start period keeps the container in "starting" although the probe passes from the start.
    await runContainer({
      name,
      image: HEALTH_IMAGE,
      labels: { 'sidekick.service': service },
      publish: ['127.0.0.1::80'],
      extra: ['--health-interval', '30s', '--health-start-period', '30s'],
    });
    await delay(1500);
    expect(await docker('inspect', '-f', '{{.State.Health.Status}}', name)).toBe('starting');
    expect(await readEntries(etcd.client(), `${prefix}/${service}/`)).toEqual({});
  });
});

describe('registrator compatibility and --all', () => {
  it('honours SERVICE_NAME, SERVICE_TAGS and SERVICE_ID from the environment, label beating env', async () => {
    const service = uniq('reg');
    const name = uniq('c');
    await runContainer({
      name,
      env: { SERVICE_NAME: 'ignored-by-label', SERVICE_TAGS: 'x,y', SERVICE_ID: `${name}-custom` },
      labels: { SERVICE_NAME: service },
      publish: ['127.0.0.1::80'],
    });
    const e = await waitForEntries(
      etcd.client(),
      `${prefix}/${service}/`,
      'registrator-style entry',
      (x) => `${prefix}/${service}/${name}-custom` in x,
    );
    expect(e[`${prefix}/${service}/${name}-custom`]?.tags).toEqual(['x', 'y']);
    expect(await readEntries(etcd.client(), `${prefix}/ignored-by-label/`)).toEqual({});
  });

  it('honours SERVICE_<port>_NAME per port and SERVICE_IGNORE', async () => {
    const a = uniq('porta');
    const name = uniq('c');
    await runContainer({ name, env: { SERVICE_80_NAME: a }, publish: ['127.0.0.1::80'] });
    await waitForEntries(etcd.client(), `${prefix}/${a}/`, 'per-port name', (x) => keyOf(a, name) in x);
    const ignored = uniq('ign');
    const name2 = uniq('c');
    await runContainer({
      name: name2,
      env: { SERVICE_NAME: ignored, SERVICE_IGNORE: 'true' },
      publish: ['127.0.0.1::80'],
    });
    await delay(1000);
    expect(await readEntries(etcd.client(), `${prefix}/${ignored}/`)).toEqual({});
  });

  it('--all publishes an unlabelled container with a published port under its image basename', async () => {
    const name = uniq('c');
    await runContainer({ name, publish: ['127.0.0.1::80'] });
    // sidekick-test/web:latest → "web"
    await waitForEntries(etcd.client(), `${prefix}/web/`, '--all entry', (x) => keyOf('web', name) in x);
    const unpublished = uniq('c');
    await runContainer({ name: unpublished });
    await delay(800);
    expect(Object.keys(await readEntries(etcd.client(), `${prefix}/web/`)).some((k) => k.includes(unpublished))).toBe(
      false,
    );
  });
});

describe('sidekick metrics listener', () => {
  it('serves /healthz and /metrics with the documented series', async () => {
    const base = await listenUrl(sidekick, 'metrics listening');
    const health = (await (await fetch(`${base}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', dockerConnected: true, etcdOk: true });
    expect(Number(health.entries)).toBeGreaterThan(0);
    const text = await (await fetch(`${base}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    expect(value('sidekick_entries_published')).toBe(health.entries);
    expect(value('sidekick_docker_connected')).toBe(1);
    expect(value('sidekick_etcd_connected')).toBe(1);
    expect(value('sidekick_last_reconcile_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 120);
    for (const series of [
      'sidekick_reconciles_total{kind="full",result="ok"}',
      'sidekick_docker_events_total{action="start"}',
      'sidekick_etcd_errors_total',
      'sidekick_lease_losses_total',
    ]) {
      expect(text).toContain(series);
    }
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
