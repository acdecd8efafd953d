// The command line as operators meet it: help, version, and bad configuration (exit 2, flag named).
import { afterAll, describe, expect, it } from 'vitest';
import { docker, hostPortOf, removeTestContainers, runContainer, uniq } from '../helpers/docker.js';
import { runProgram } from '../helpers/program.js';

afterAll(async () => {
  await removeTestContainers();
});

describe('sidekick CLI', () => {
  it.each([
    [['--ttl', 'abc'], {}, '--ttl'],
    [['--ttl', '1s'], {}, '--ttl'],
    [['--ttl', '2500ms'], {}, '--ttl'],
    [['--address', 'nowhere'], {}, '--address'],
    [['--host-ip', '999.1.1.1'], {}, '--host-ip'],
    [['--metrics', 'nope'], {}, '--metrics'],
    [['--prefix', 'no-slash'], {}, '--prefix'],
    [['--bogus'], {}, '--bogus'],
    [['--etcd-cert', '/etc/hostname'], {}, '--etcd-cert and --etcd-key'],
    [['--etcd-endpoints', 'http://x'], {}, '--etcd-endpoints'],
    [[], { SIDEKICK_TTL: 'soon' }, '--ttl (from SIDEKICK_TTL)'],
    [[], { DOCKER_HOST: 'ftp://x' }, '--docker-host (from DOCKER_HOST)'],
  ])('%j %j exits 2 naming %s', async (args, env, flag) => {
    const { code, output } = await runProgram('sidekick', args, env as Record<string, string>);
    expect(code).toBe(2);
    expect(output).toContain(`invalid configuration: ${flag}`);
  });

  it('reports every problem at once', async () => {
    const { code, output } = await runProgram('sidekick', ['--ttl', 'x', '--resync', 'y']);
    expect(code).toBe(2);
    expect(output).toContain('--ttl');
    expect(output).toContain('--resync');
  });

  it('--help lists every option grouped, with defaults and examples, and exits 0', async () => {
    const { code, output } = await runProgram('sidekick', ['--help']);
    expect(code).toBe(0);
    for (const text of [
      'etcd:',
      'registry:',
      '--etcd-endpoints',
      '--ttl',
      '(default 10s)',
      '--resync',
      '(default 30s)',
      '--container',
      '--all',
      '--address',
      '--host-ip',
      'Examples:',
    ]) {
      expect(output).toContain(text);
    }
  });

  it('--version prints the package version', async () => {
    const { code, output } = await runProgram('sidekick', ['--version']);
    expect(code).toBe(0);
    expect(output).toMatch(/^sidekick \d+\.\d+\.\d+/);
  });
});

describe('sidekick --dry-run', () => {
  it('prints the key value lines it would publish without contacting etcd; warns of skipped containers', async () => {
    const service = uniq('dry');
    const name = uniq('c');
    const skipped = uniq('multi');
    await runContainer({ name, labels: { 'sidekick.service': service }, publish: ['127.0.0.1::80'] });
    await runContainer({
      name: skipped,
      labels: { 'sidekick.service': `${service}-x` },
      publish: ['127.0.0.1::80', '127.0.0.1::81'],
      extra: ['--expose', '81'],
    });
    // Nothing listens on port 1: a dry run must not need etcd.
    const { code, output } = await runProgram('sidekick', [
      '--dry-run',
      '--node',
      'n1',
      '--host-ip',
      '127.0.0.1',
      '--etcd-endpoints',
      'http://127.0.0.1:1',
    ]);
    expect(code).toBe(0);
    const id = await docker('inspect', '-f', '{{.Id}}', name);
    const line = output.split('\n').find((l) => l.startsWith(`/services/${service}/n1:${name}:80 `));
    expect(line).toBeDefined();
    expect(JSON.parse(line?.slice(line.indexOf(' ') + 1) ?? '')).toEqual({
      host: '127.0.0.1',
      port: await hostPortOf(name),
      node: 'n1',
      container: { id, name },
    });
    expect(output).toContain(`warning: container ${skipped}: cannot choose a port`);
  });
});
