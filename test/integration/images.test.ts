// The container images, built the way operators build them (scripts/build-images.sh, no registry),
// run on the real engine: the sidekick image as a non-root container with /var/run mounted
// read-only publishes a labelled container to a real etcd, and `docker stop` withdraws it at once.
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  docker,
  hostPortOf,
  removeTestContainers,
  runContainer,
  TEST_LABEL,
  testRun,
  uniq,
} from '../helpers/docker.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { readEntries, waitForEntries } from '../helpers/registry.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const SIDEKICK_IMAGE = 'sidekick-local/sidekick:latest';
const BALANCER_IMAGE = 'sidekick-local/balancer:latest';
const MAX_IMAGE_BYTES = 150e6;

let etcd: EtcdServer;
let buildOutput = '';

beforeAll(async () => {
  const { stdout } = await run('bash', [join(root, 'scripts', 'build-images.sh'), 'sidekick', 'balancer'], {
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  buildOutput = stdout;
  etcd = await startEtcd();
}, 300_000);

afterAll(async () => {
  await removeTestContainers();
  await etcd?.destroy();
});

/** The group that may connect to the engine's socket: the non-root sidekick joins it. */
const dockerGid = (): string => String(statSync('/var/run/docker.sock').gid);

describe('images built by scripts/build-images.sh', () => {
  it.each([
    [SIDEKICK_IMAGE, 'sidekick'],
    [BALANCER_IMAGE, 'balancer'],
  ])('%s runs %s as a numeric non-root user and is small', async (image, program) => {
    const user = await docker('image', 'inspect', '-f', '{{.Config.User}}', image);
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(JSON.parse(await docker('image', 'inspect', '-f', '{{json .Config.Entrypoint}}', image))).toEqual([
      '/usr/local/bin/node',
      `/app/dist/${program}/main.js`,
    ]);
    const size = Number(await docker('image', 'inspect', '-f', '{{.Size}}', image));
    expect(size).toBeLessThan(MAX_IMAGE_BYTES);
    // The script reports what it built, with sizes.
    expect(buildOutput).toMatch(new RegExp(`^${image.replace(/[/.]/g, '\\$&')}\\s+[\\d.]+ MB$`, 'm'));
  });

  it('the balancer image answers --help with exit status 0', async () => {
    const out = await docker('run', '--rm', '--label', `${TEST_LABEL}=${testRun()}`, BALANCER_IMAGE, '--help');
    expect(out).toContain('Usage: balancer');
  });

  it('the images carry the package version and the programs report it', async () => {
    const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
    expect(
      await docker(
        'image',
        'inspect',
        '-f',
        '{{index .Config.Labels "org.opencontainers.image.version"}}',
        SIDEKICK_IMAGE,
      ),
    ).toBe(version);
    expect(await docker('run', '--rm', '--label', `${TEST_LABEL}=${testRun()}`, SIDEKICK_IMAGE, '--version')).toBe(
      `sidekick ${version}`,
    );
  });
});

describe('the sidekick image beside a labelled container', () => {
  it('publishes it to etcd as a non-root process with /var/run read-only and withdraws it on docker stop', async () => {
    const node = uniq('img');
    const service = uniq('imgweb');
    const web = uniq('c');
    const sidekick = uniq('sk');
    await runContainer({ name: web, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    // Host networking: etcd listens on 127.0.0.1. A TTL far longer than the waits below, so an
    // entry that vanishes in time was revoked, not expired.
    await runContainer({
      name: sidekick,
      image: SIDEKICK_IMAGE,
      env: { ETCD_ENDPOINTS: etcd.endpoint, SIDEKICK_NODE: node, SIDEKICK_TTL: '60s', SIDEKICK_METRICS: 'off' },
      extra: ['--network', 'host', '-v', '/var/run:/var/run:ro', '--group-add', dockerGid()],
    });
    const client = etcd.client();
    const key = `/services/${service}/${node}:${web}:80`;
    const entries = await waitForEntries(
      client,
      `/services/${service}/`,
      'the sidekick container to publish the web container',
      (e) => key in e,
      20_000,
    );
    expect(entries[key]).toMatchObject({ host: '127.0.0.1', port: await hostPortOf(web), node });

    // Not root: the image's user, and the live process's real uid as the host sees it.
    const user = await docker('inspect', '-f', '{{.Config.User}}', sidekick);
    expect(user).not.toBe('');
    expect(['0', 'root'].includes(user.split(':')[0] as string)).toBe(false);
    const pid = await docker('inspect', '-f', '{{.State.Pid}}', sidekick);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(user.split(':')[0]);
    expect(/^Groups:\s*(.*)$/m.exec(status)?.[1]?.split(/\s+/)).toContain(dockerGid());
    const mounts = JSON.parse(await docker('inspect', '-f', '{{json .Mounts}}', sidekick)) as Array<{
      Source: string;
      Destination: string;
      RW: boolean;
    }>;
    expect(mounts).toEqual([expect.objectContaining({ Source: '/var/run', Destination: '/var/run', RW: false })]);

    // docker stop = SIGTERM to node (PID 1): the lease is revoked, the entry goes at once, exit 0.
    await docker('stop', '-t', '10', sidekick);
    await waitForEntries(
      client,
      `/services/${service}/`,
      'the entry to vanish after docker stop',
      (e) => !(key in e),
      3000,
    );
    expect(await docker('inspect', '-f', '{{.State.ExitCode}}', sidekick)).toBe('0');
    const logs = await waitFor(
      'the revocation log line',
      async () => {
        const { stdout } = await run('docker', ['logs', sidekick]);
        return stdout.includes('lease revoked') ? stdout : undefined;
      },
      5000,
    );
    expect(logs).toContain('"reason":"SIGTERM"');
    expect(await readEntries(client, `/services/${service}/`)).toEqual({});
  });
});
