// Balancer configuration: the defaults and names the issue promises, precedence, and errors that
// name their flag (all of them at once).
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadBalancerConfig } from '../../../balancer/config.js';
import { ConfigError } from '../../../common/errors.js';

function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    loadBalancerConfig(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(argv)}`);
}

describe('loadBalancerConfig', () => {
  it('has the promised defaults', () => {
    const { config } = loadBalancerConfig([], {});
    expect(config).toMatchObject({
      etcdEndpoints: ['http://127.0.0.1:2379'],
      prefix: '/services',
      routesPrefix: '/routes',
      resync: 60_000,
      lb: 'round-robin',
      retries: 2,
      workers: 1,
      admin: { host: '127.0.0.1', port: 9090 },
      route: [],
      backendsAllow: undefined,
      trustedProxies: [],
      defaultService: undefined,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['flag beats env', ['--lb', 'least-request'], { BALANCER_LB: 'round-robin' }, 'lb', 'least-request'],
    ['env beats default', [], { BALANCER_RETRIES: '5' }, 'retries', 5],
    [
      'ETCD_ENDPOINTS is honoured',
      [],
      { ETCD_ENDPOINTS: '10.0.0.1:2379,10.0.0.2:2379' },
      'etcdEndpoints',
      ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
    ],
    [
      'BALANCER_ETCD_ENDPOINTS beats ETCD_ENDPOINTS',
      [],
      { BALANCER_ETCD_ENDPOINTS: 'a:1', ETCD_ENDPOINTS: 'b:2' },
      'etcdEndpoints',
      ['http://a:1'],
    ],
    ['--upstream-timeout takes a duration', ['--upstream-timeout', '1500ms'], {}, 'upstreamTimeout', 1500],
    ['--workers auto is the core count', ['--workers', 'auto'], {}, 'workers', availableParallelism()],
    ['--listen :8080 is all interfaces', ['--listen', ':8080'], {}, 'listen', { host: '0.0.0.0', port: 8080 }],
    ['--default-service', ['--default-service', 'web'], {}, 'defaultService', 'web'],
  ] as const)('%s', (_t, argv, env, key, want) => {
    expect(loadBalancerConfig([...argv], env).config[key]).toEqual(want);
  });

  it('collects repeated --route flags in order, each parsed', () => {
    const { config } = loadBalancerConfig(
      ['--route', 'api.example.com/v1=api', '--route', '*.example.com=web', '--route=/static=assets'],
      {},
    );
    expect(config.route.map((r) => [r.host, r.pathPrefix, r.service])).toEqual([
      ['api.example.com', '/v1', 'api'],
      ['*.example.com', '/', 'web'],
      [undefined, '/static', 'assets'],
    ]);
  });

  it('parses CIDR lists for --trusted-proxies and --backends-allow', () => {
    const { config } = loadBalancerConfig(
      ['--trusted-proxies', '10.0.0.0/8,::1/128', '--backends-allow', '172.16.0.0/12'],
      {},
    );
    expect(config.trustedProxies).toHaveLength(2);
    expect(config.backendsAllow).toHaveLength(1);
  });

  it.each([
    [['--lb', 'random'], '--lb'],
    [['--retries', '11'], '--retries'],
    [['--admin', '127.0.0.1:8080', '--listen', '127.0.0.1:8080'], '--admin'],
    [['--routes-prefix', '/services/routes'], '--routes-prefix'],
    [['--default-service', 'bad name'], '--default-service'],
    [['--resync', '10ms'], '--resync'],
    [['--etcd-user', 'u'], '--etcd-user'],
    [['--route', 'a.example.com'], '--route'],
  ])('%j is rejected naming %s', (argv, flag) => {
    expect(problems(argv).some((p) => p.startsWith(flag))).toBe(true);
  });

  it('reports every problem at once, cross-checks included', () => {
    const found = problems(['--lb', 'x', '--retries', 'y', '--etcd-user', 'u']);
    expect(found.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['--lb', '--retries', '--etcd-user and --etcd-password']),
    );
  });
});
