import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../common/errors.js';
import { detectHostIp, loadSidekickConfig, sidekickOptions, type HostFacts } from '../../../sidekick/config.js';

function iface(address: string, family: 'IPv4' | 'IPv6' = 'IPv4', internal = false): NetworkInterfaceInfo {
  const common = {
    address,
    netmask: family === 'IPv4' ? '255.255.255.0' : 'ffff:ffff:ffff:ffff::',
    mac: '02:42:ac:11:00:02',
    internal,
    cidr: null,
  };
  return family === 'IPv4' ? { ...common, family } : { ...common, family, scopeid: 0 };
}

const facts: HostFacts = {
  hostname: 'node-a.example',
  interfaces: {
    lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)],
    docker0: [iface('172.17.0.1')],
    eth0: [iface('fe80::1', 'IPv6'), iface('10.1.2.3')],
  },
};

const load = (argv: string[], env: Record<string, string> = {}, f: HostFacts = facts) =>
  loadSidekickConfig(argv, env, f);

function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    load(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(argv)} ${JSON.stringify(env)}`);
}

describe('loadSidekickConfig defaults', () => {
  it('has the promised defaults', () => {
    const { config } = load([]);
    expect(config).toMatchObject({
      prefix: '/services',
      ttl: 10_000,
      resync: 30_000,
      address: 'host',
      network: '',
      container: '',
      all: false,
      dockerHost: 'unix:///var/run/docker.sock',
      metrics: { host: '127.0.0.1', port: 9091 },
      logLevel: 'info',
      etcdEndpoints: ['http://127.0.0.1:2379'],
      etcdTimeout: 3000,
    });
  });

  it('takes the node name from the hostname and the host IP from the interfaces, with a note', () => {
    const { config, notes } = load([]);
    expect(config.node).toBe('node-a.example');
    expect(config.hostIp).toBe('10.1.2.3');
    expect(notes.some((n) => n.includes('--host-ip') && n.includes('10.1.2.3'))).toBe(true);
  });

  it('makes a hostname with odd characters into a valid node name', () => {
    const { config } = load([], {}, { ...facts, hostname: 'my host_1' });
    expect(config.node).toBe('my-host_1');
  });

  it('falls back to 127.0.0.1 when no interface qualifies', () => {
    const { config, notes } = load([], {}, { hostname: 'h', interfaces: { lo: [iface('127.0.0.1', 'IPv4', true)] } });
    expect(config.hostIp).toBe('127.0.0.1');
    expect(notes.join(' ')).toContain('127.0.0.1');
  });

  it('adds no host-ip note when --host-ip is given', () => {
    const { config, notes } = load(['--host-ip', '192.0.2.7']);
    expect(config.hostIp).toBe('192.0.2.7');
    expect(notes.filter((n) => n.includes('--host-ip'))).toEqual([]);
  });

  it('returns a frozen config', () => {
    const { config } = load(['--etcd-endpoints', 'e1:2379']);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.etcdEndpoints)).toBe(true);
    expect(() => {
      (config as { ttl: number }).ttl = 1;
    }).toThrow(TypeError);
  });
});

describe('loadSidekickConfig sources: flags > env > defaults', () => {
  it.each([
    ['--ttl 5s', ['--ttl', '5s'], {}, { ttl: 5000 }],
    ['--ttl=5s', ['--ttl=5s'], {}, { ttl: 5000 }],
    ['SIDEKICK_TTL', [], { SIDEKICK_TTL: '20s' }, { ttl: 20_000 }],
    ['flag beats SIDEKICK_TTL', ['--ttl', '4s'], { SIDEKICK_TTL: '20s' }, { ttl: 4000 }],
    ['--resync', ['--resync', '1m'], {}, { resync: 60_000 }],
    ['SIDEKICK_RESYNC', [], { SIDEKICK_RESYNC: '5s' }, { resync: 5000 }],
    [
      'ETCD_ENDPOINTS',
      [],
      { ETCD_ENDPOINTS: 'http://e1:2379,http://e2:2379' },
      { etcdEndpoints: ['http://e1:2379', 'http://e2:2379'] },
    ],
    [
      'SIDEKICK_ETCD_ENDPOINTS beats ETCD_ENDPOINTS',
      [],
      { ETCD_ENDPOINTS: 'e1:2379', SIDEKICK_ETCD_ENDPOINTS: 'e2:2379' },
      { etcdEndpoints: ['http://e2:2379'] },
    ],
    ['DOCKER_HOST', [], { DOCKER_HOST: 'tcp://docker:2375' }, { dockerHost: 'tcp://docker:2375' }],
    [
      'SIDEKICK_DOCKER_HOST beats DOCKER_HOST',
      [],
      { DOCKER_HOST: 'tcp://a:1', SIDEKICK_DOCKER_HOST: 'unix:///run/d.sock' },
      { dockerHost: 'unix:///run/d.sock' },
    ],
    [
      '--docker-host beats env',
      ['--docker-host', '/var/run/docker.sock'],
      { DOCKER_HOST: 'tcp://a:1' },
      { dockerHost: '/var/run/docker.sock' },
    ],
    ['bare --all', ['--all'], {}, { all: true }],
    ['--all=false beats SIDEKICK_ALL', ['--all=false'], { SIDEKICK_ALL: 'true' }, { all: false }],
    ['SIDEKICK_ALL', [], { SIDEKICK_ALL: '1' }, { all: true }],
    [
      '--address container',
      ['--address', 'container', '--network', 'backend'],
      {},
      { address: 'container', network: 'backend' },
    ],
    ['--prefix', ['--prefix', '/reg/'], {}, { prefix: '/reg' }],
    ['--node', ['--node', 'n-7'], {}, { node: 'n-7' }],
    ['SIDEKICK_NODE', [], { SIDEKICK_NODE: 'n-8' }, { node: 'n-8' }],
    ['--host-ip v6', ['--host-ip', 'fd00::7'], {}, { hostIp: 'fd00::7' }],
    ['--container', ['--container', 'web-1'], {}, { container: 'web-1' }],
    ['--metrics off', ['--metrics', 'off'], {}, { metrics: 'off' }],
    ['--metrics address', ['--metrics=:9999'], {}, { metrics: { host: '0.0.0.0', port: 9999 } }],
    ['LOG_LEVEL', [], { LOG_LEVEL: 'debug' }, { logLevel: 'debug' }],
    ['--ttl 2s is the minimum', ['--ttl', '2s'], {}, { ttl: 2000 }],
    ['--ttl 2000ms is whole seconds', ['--ttl', '2000ms'], {}, { ttl: 2000 }],
  ])('%s', (_label, argv, env, expected) => {
    expect(load(argv, env).config).toMatchObject(expected);
  });

  it('passes --help and --version through', () => {
    expect(load(['--help']).help).toBe(true);
    expect(load(['--version']).version).toBe(true);
    expect(load([]).help).toBe(false);
  });

  it('every option has an environment variable and a description', () => {
    for (const [key, def] of Object.entries(sidekickOptions)) {
      expect(def.env.length, key).toBeGreaterThan(0);
      expect(def.describe.length, key).toBeGreaterThan(0);
    }
  });
});

describe('loadSidekickConfig errors', () => {
  it.each([
    ['--ttl below 2s', ['--ttl', '1s'], {}, '--ttl'],
    ['--ttl not whole seconds', ['--ttl', '2500ms'], {}, '--ttl'],
    ['--ttl fractional seconds', ['--ttl=2.5s'], {}, '--ttl'],
    ['--ttl garbage', ['--ttl', 'ten'], {}, '--ttl'],
    ['SIDEKICK_TTL garbage', [], { SIDEKICK_TTL: 'ten' }, '--ttl'],
    ['--resync below 1s', ['--resync', '500ms'], {}, '--resync'],
    ['--address bad', ['--address', 'bridge'], {}, '--address'],
    ['--host-ip not an IP', ['--host-ip', 'myhost'], {}, '--host-ip'],
    ['--node bad', ['--node', '-x'], {}, '--node'],
    ['--prefix bad', ['--prefix', 'services'], {}, '--prefix'],
    ['--docker-host bad', ['--docker-host', 'docker:2375'], {}, '--docker-host'],
    ['DOCKER_HOST bad', [], { DOCKER_HOST: 'docker:2375' }, '--docker-host'],
    ['--etcd-endpoints bad', ['--etcd-endpoints', 'e1'], {}, '--etcd-endpoints'],
    ['--etcd-cert without --etcd-key', ['--etcd-cert', '/nonexistent/c.pem'], {}, '--etcd-key'],
    ['--etcd-user without password', ['--etcd-user', 'root'], {}, '--etcd-password'],
    ['--log-level bad', ['--log-level', 'loud'], {}, '--log-level'],
    ['--metrics bad', ['--metrics', 'on'], {}, '--metrics'],
    ['--all bad', ['--all=maybe'], {}, '--all'],
    ['unknown flag', ['--tll', '5s'], {}, '--tll'],
  ])('%s → a ConfigError naming the flag', (_label, argv, env, flag) => {
    const ps = problems(argv, env);
    expect(ps.length).toBeGreaterThan(0);
    expect(ps.some((p) => p.includes(flag))).toBe(true);
  });

  it('every problem names its flag, all reported at once', () => {
    const ps = problems(['--ttl', 'x', '--resync', 'y', '--address', 'z', '--bogus'], { SIDEKICK_HOST_IP: 'nope' });
    for (const flag of ['--ttl', '--resync', '--address', '--bogus', '--host-ip']) {
      expect(
        ps.filter((p) => p.startsWith(flag)),
        flag,
      ).toHaveLength(1);
    }
    expect(ps).toHaveLength(5);
  });

  it('reports a non-whole-second --ttl together with other bad values', () => {
    const ps = problems(['--ttl', '2500ms', '--resync', 'y']);
    expect(ps.some((p) => p.startsWith('--ttl'))).toBe(true);
    expect(ps.some((p) => p.startsWith('--resync'))).toBe(true);
  });

  it('reports --etcd-cert without --etcd-key together with other bad values', () => {
    const ps = problems(['--etcd-cert', '/nonexistent/c.pem', '--resync', 'y']);
    expect(ps.some((p) => p.includes('--etcd-cert') && p.includes('--etcd-key'))).toBe(true);
    expect(ps.some((p) => p.startsWith('--resync'))).toBe(true);
  });
});

describe('detectHostIp', () => {
  it.each([
    ['eth0 past loopback and docker0', facts.interfaces, '10.1.2.3'],
    ['first interface by name', { wlan0: [iface('192.168.1.5')], enp3s0: [iface('10.9.9.9')] }, '10.9.9.9'],
    [
      'skips bridges and veths',
      {
        'br-abc': [iface('172.18.0.1')],
        veth12: [iface('169.254.1.1')],
        virbr0: [iface('192.168.122.1')],
        cni0: [iface('10.88.0.1')],
        ens5: [iface('10.0.0.9')],
      },
      '10.0.0.9',
    ],
    [
      'skips internal and IPv6-only',
      { lo: [iface('127.0.0.1', 'IPv4', true)], eth0: [iface('2001:db8::1', 'IPv6')], eth1: [iface('10.2.2.2')] },
      '10.2.2.2',
    ],
    ['none', { lo: [iface('127.0.0.1', 'IPv4', true)], docker0: [iface('172.17.0.1')] }, undefined],
    ['empty', {}, undefined],
  ])('%s', (_label, interfaces, expected) => {
    expect(detectHostIp(interfaces)).toBe(expected);
  });
});
